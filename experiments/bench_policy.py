"""Module-side cost of the learned policies: memory (bytes) and ns per decision.

Compiles kernel_module/cowrl_policy.h for user space (gcc -O2) and times
cowrl_policy_fault on the fault streams the simulator records, as a proxy for
the in-kernel cost on the fault path. Usage:

    python experiments/bench_policy.py [--artifact DIR] [--reps 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from cowrl.kernel.table import CPolicy, pack_table
from cowrl.policies.artifacts import find_latest, load_policy
from cowrl.policies.context import STATE_BYTES, TABLE_BYTES
from cowrl.registry import make_costmodel, make_policy, make_workload
from cowrl.sim.simulator import simulate

WORKLOADS = ["seq", "random", "zipf", "interleaved", "phased", "heldout_random_sparse"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", default=None,
                    help="trained TABLE policy (default: latest bandit_stream)")
    ap.add_argument("--latest-dir", default="outputs/latest")
    ap.add_argument("--reps", type=int, default=200)
    args = ap.parse_args()
    # A TABLE program (the round-1 bandit's); the default bandit is a GUARDED program since
    # 2026-12-02, benchmarked by experiments/bench_kernel_hook.py.
    path = args.artifact or find_latest(args.latest_dir, "bandit_stream")
    policies = [make_policy("readahead")]
    if path:
        pol = load_policy(path)
        if pol.kernel_program().table.get("decide") == "table":
            policies.insert(0, pol)
        else:
            print(f"{path}: not a TABLE program, skipped")
    cost = make_costmodel("seed_table1")
    with tempfile.TemporaryDirectory() as d:
        c = CPolicy(d)
        print(f"memory: table (ioctl payload, per policy) {TABLE_BYTES} B, "
              f"state per watched region {STATE_BYTES} B, total {TABLE_BYTES + STATE_BYTES} B")
        for pol in policies:
            payload = pack_table(pol.kernel_program())
            for w in WORKLOADS:
                trace = make_workload(w)
                rec, ev = simulate(trace, pol, cost, record_events=True)
                reps = max(1, args.reps * 1000 // max(ev.page.size, 1))
                ns = min(c.bench_ns(payload, ev.page, trace.n_pages, reps) for _ in range(5))
                t0 = time.perf_counter()
                simulate(trace, pol, cost)
                py_us = (time.perf_counter() - t0) / max(rec.faults, 1) * 1e6
                share = ns / cost.demand_ns * 100
                print(f"{pol.name:10s} {w:22s} faults={rec.faults:6d}  C {ns:6.1f} ns/decision "
                      f"({share:.3f}% of a {cost.demand_ns:.0f} ns fault)  "
                      f"simulate() {py_us:6.2f} us/fault")
        same = np.array_equal(c.replay(pack_table(pol.kernel_program()), ev.page,
                                       trace.n_pages), ev.k)
        print(f"C decisions equal Python on the last stream: {same}")


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
