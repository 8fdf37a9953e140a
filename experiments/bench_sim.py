"""Benchmark the simulator and the environments against the goals of the simulation-core issue.

Prints one table: (a) simulated writes/s for static policies, (b) env steps/s
for one env and for a batched vector of 64, (c) peak memory per page of region.
Numba compilation is excluded: every measured function is warmed up first.

    python experiments/bench_sim.py            # the issue's sizes (2,000,000 writes)
    python experiments/bench_sim.py --quick    # small sizes, a few seconds
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cowrl.envs.precopy_env import PrecopyEnv, make_cost
from cowrl.envs.vector import PrecopyVectorEnv
from cowrl.policies.static import Baseline, FaultAround, HugePage, StaticPrecopy
from cowrl.sim.simulator import simulate
from cowrl.traces.generators import sequential, uniform

COST = make_cost(None)  # the project default, conf/costmodel/seed_table1.yaml
POLICIES = {"baseline": Baseline, "precopy k=1": lambda: StaticPrecopy(1),
            "fault_around": FaultAround, "hugepage": HugePage}


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Fastest of ``repeat`` runs, in seconds (the machine's cores are shared)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_sim(writes: int, repeat: int) -> list[tuple[str, float, float]]:
    for make in POLICIES.values():  # warm-up: compile (or load the numba cache)
        simulate(uniform(n_pages=1024, writes=4096), make(), COST)
    traces = {f"sequential over {writes:,} pages": sequential(n_pages=writes, writes=writes),
              f"uniform over {65536:,} pages": uniform(n_pages=65536, writes=writes, seed=1)}
    rows = []
    for tname, t in traces.items():
        for pname, make in POLICIES.items():
            dt = best_of(lambda t=t, make=make: simulate(t, make(), COST), repeat)
            rows.append((f"sim {pname}, {tname}", writes / dt, 2_000_000))
    return rows


def bench_env(steps: int, vec_steps: int, n_envs: int) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(0)
    env = PrecopyEnv(cost=COST)  # default workloads: every generator, fresh seed per episode
    env.reset(seed=0)
    acts = rng.integers(0, env.action_space.n, size=steps)

    def run_single() -> None:
        for a in acts:
            _, _, te, tr, _ = env.step(a)
            if te or tr:
                env.reset()

    venv = PrecopyVectorEnv(n_envs, cost=COST)
    venv.reset(seed=0)
    vacts = rng.integers(0, env.action_space.n, size=(vec_steps, n_envs))

    def run_vec() -> None:
        for a in vacts:
            venv.step(a)

    run_single()  # warm-up (compiles the kernels, fills the vector env's buffers)
    run_vec()
    return [("env steps/s, one PrecopyEnv", steps / best_of(run_single, 3), 20_000),
            (f"env steps/s, PrecopyVectorEnv x{n_envs} (aggregate)",
             vec_steps * n_envs / best_of(run_vec, 3), 500_000)]


_MEM_CHILD = """
import json, sys, numpy as np
from cowrl.policies.static import Baseline, HugePage, StaticPrecopy
from cowrl.sim.simulator import simulate
from cowrl.traces.generators import sequential
from cowrl.envs.precopy_env import make_cost
COST = make_cost(None)
n, policy = int(sys.argv[1]), sys.argv[2]
make = {"baseline": Baseline, "precopy k=1": lambda: StaticPrecopy(1), "hugepage": HugePage}[policy]
simulate(sequential(n_pages=4096), make(), COST)  # warm-up outside the measurement
t = sequential(n_pages=n, writes=n)
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
with open("/proc/self/clear_refs", "w") as f:  # reset the peak-RSS mark (VmHWM)
    f.write("5")
before = status("VmRSS:")
rec = simulate(t, make(), COST)
print(json.dumps({"peak_bytes": status("VmHWM:") - before}))
"""


def bench_memory(n_pages: int) -> list[tuple[str, float, float]]:
    """Peak RSS growth while simulating, per page, measured in a fresh process (VmHWM)."""
    rows = []
    here = Path(__file__).resolve().parent
    for policy in ("baseline", "precopy k=1", "hugepage"):
        out = subprocess.run([sys.executable, "-c", _MEM_CHILD, str(n_pages), policy], cwd=here,
                             capture_output=True, text=True)
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["?"])[-1]
            rows.append((f"peak bytes/page, {policy} (failed: {last})", float("nan"), 64))
            continue
        peak = json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"]
        rows.append((f"peak bytes/page of region, {policy}, sequential {n_pages:,} pages",
                     peak / n_pages, 64))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    ap.add_argument("--writes", type=int, default=None, help="trace length (default 2,000,000)")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats, best kept")
    args = ap.parse_args(argv)
    writes = args.writes or (200_000 if args.quick else 2_000_000)
    steps, vec_steps = (20_000, 1_000) if args.quick else (100_000, 5_000)

    print(f"cost model {COST.name}; numpy {np.__version__}; numba compile excluded "
          f"(warm-up runs first); best of {args.repeat} timed runs; writes/trace = {writes:,}")
    rows = bench_sim(writes, args.repeat) + bench_env(steps, vec_steps, 64)
    rows += bench_memory(writes)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'value':>14}  {'goal':>12}  result")
    print("-" * (width + 40))
    for name, value, goal in rows:
        is_mem = name.startswith("peak")
        ok = value <= goal if is_mem else value >= goal
        result = "PASS" if ok else "MISS"
        cmp = "<=" if is_mem else ">="
        print(f"{name:<{width}}  {value:>14,.1f}  {cmp}{goal:>10,}  {result}")
    print("\nmemory: peak resident-set growth (Linux VmHWM after resetting it through "
          "/proc/self/clear_refs) while simulate() runs, in a fresh process; it includes the "
          "per-fault event arrays and the result record, not the trace itself.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
