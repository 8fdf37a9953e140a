"""Cost of the module's hook on Linux 6.1 and 6.12: observe-only overhead and decision costs.

    python experiments/bench_kernel_hook.py                 # both kernels, 8192 pages, 5 reps
    python experiments/bench_kernel_hook.py --releases 6.1 --pages 4096 --repeats 3

One boot per kernel under TCG with the deterministic clock (``icount 0``: 1 ns = one guest
instruction, so the figures are instruction counts, not wall latency). A sequential trace is
replayed, interleaved ``--repeats`` times, (a) without the module, (b) with it loaded and
the process registered but no precopy (observe-only: every COW fault passes the probe
and is recorded), (c) under a TABLE policy with ``time_decisions=1`` (the module times each
decision with ktime and an empty ktime interval just before it), (d) under a GUARDED policy
whose table is all 0 (a decision at every fault: stream and sentinel state, the 3 neighbours'
PTEs and the sentinel's, no window), and (e) under a GUARDED policy that wants k = 64
everywhere with a budget that always fits (every decision also reads a 64-page window).
``--proof`` adds (d') the GUARDED table of zeros with interior proofs on (``proof = 1``, 8
reads, as shipped): no window opens, so the proof ring stays empty and (d') - (d) is what
``cowrl_guarded_prove`` costs a decision on an empty ring.

Prints per kernel: the mean demand-fault time (harness: trap + copy, per write fault),
observe-only overhead = (b - a) / a (goal < 3%), and the net decision cost =
decide_ns - decide_clock_ns per decision (goal < 100 instruction-ns), also as a share of
the fault, plus per-write latency and total COW time of each configuration. For TABLE and
GUARDED also the decision cost as the harness sees it: the mean fault time of (c) or (d)
minus that of (b), the quantity ``decide_ns`` of the cost model stands for (``calibrate.py``
identifies it the same way for TABLE); the ``tcg`` cost model's ``decide_program_ns.guarded``
comes from this figure. A second boot per kernel repeats (a) and (b) with the module
parameter ``latency=0`` (one clock read per copy instead of two: records keep ``start_ns``
but no in-kernel latency; the harness still times every write); ``--no-latency-off`` skips it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from cowrl.cli import KERNEL_RELEASES, kernel_releases  # noqa: E402
from cowrl.kernel.backend import run_session  # noqa: E402
from cowrl.kernel.jobs import RunRequest  # noqa: E402
from cowrl.policies.guarded import N_CELLS, GuardedPolicy  # noqa: E402
from cowrl.policies.static import Baseline  # noqa: E402
from cowrl.policies.table import TablePolicy  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", default="6.1,6.12")
    ap.add_argument("--pages", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-latency-off", dest="latency_off", action="store_false",
                    help="skip the second boot with latency=0")
    ap.add_argument("--proof", action="store_true",
                    help="also time the GUARDED table of zeros with proof = 1 (guarded0p)")
    args = ap.parse_args()
    releases = kernel_releases(args.releases)
    n = args.pages
    seq = Trace(np.arange(n), n, name="seq")
    # A table with k=0 everywhere: a decision at every fault, no precopy, so every write
    # faults exactly as in (a) and (b) and the decision is the only difference.
    table = TablePolicy([0] * 60, context={"slots": 16, "near": 8}, name="table0")
    # guarded0 here is the calibration's (cowrl/calibration/kernel.py): the GUARDED program's
    # default options, no proofs; conf/policy/guarded0.yaml runs the shipped keys instead.
    guarded0 = GuardedPolicy(table=[0] * N_CELLS, name="guarded0")
    guarded64 = GuardedPolicy(table=[64] * N_CELLS, budget_per_mille=1000, demand_ns=10**9,
                              name="guarded64")
    guarded0p = GuardedPolicy(table=[0] * N_CELLS, proof=1, proof_reads=8, name="guarded0p")
    for rel in releases:
        reqs = [RunRequest(seq, Baseline(), module=False, label="warmup")]
        for _ in range(args.repeats):
            reqs += [RunRequest(seq, Baseline(), module=False, label="nomodule"),
                     RunRequest(seq, Baseline(), label="observe"),
                     RunRequest(seq, table, label="table0"),
                     RunRequest(seq, guarded0, label="guarded0"),
                     RunRequest(seq, guarded64, label="guarded64")]
            if args.proof:
                reqs.append(RunRequest(seq, guarded0p, label="guarded0p"))
        s = run_session(reqs, {"kernel_release": KERNEL_RELEASES[rel], "icount": 0,
                               "module_params": "time_decisions=1"}, progress=True)
        by: dict[str, list] = {}
        for r in s.records[1:]:
            by.setdefault(r.policy, []).append(r)
        print(f"== Linux {s.info['kernel_release']} (TCG, icount 0: instruction-ns), "
              f"{n}-page sequential trace, {args.repeats} interleaved repeats, median")
        fault = {}
        for label, recs in by.items():
            f = statistics.median(float(np.mean(r.fault_ns)) for r in recs)
            w = statistics.median(float(np.mean(r.write_ns)) for r in recs)
            cow = statistics.median(float(np.sum(r.fault_ns)) for r in recs)
            fault[label] = f
            print(f"  {label:9s} faults {recs[0].faults:6d}  fault {f:9.0f} ns  write avg "
                  f"{w:8.0f} ns  cow_ns {cow / 1e6:8.2f} ms  wasted {recs[0].wasted}")
        over = (fault["observe"] - fault["nomodule"]) / fault["nomodule"]
        print(f"  observe-only overhead per demand fault: {100 * over:+.2f}% (goal < 3%)")
        for label in ("table0", "guarded0", "guarded64", "guarded0p")[:4 if args.proof else 3]:
            t = by[label]
            net = statistics.median(r.extra["decide_avg_ns"] - r.extra["decide_clock_avg_ns"]
                                    for r in t)
            raw = statistics.median(r.extra["decide_avg_ns"] for r in t)
            line = (f"  {label} decision: {net:.0f} instruction-ns net ({raw:.0f} with one clock "
                    f"read), {100 * net / fault['nomodule']:.2f}% of a fault; decisions per run "
                    f"{t[0].extra['decisions']}")
            if label != "guarded64":  # same faults as observe: the difference is the decision
                clock = statistics.median(r.extra["decide_clock_avg_ns"] for r in t)
                line += (f"; harness fault - observe = {fault[label] - fault['observe']:.0f} "
                         f"ns, {fault[label] - fault['observe'] - 3 * clock:.0f} without "
                         "time_decisions' 3 clock reads")
            print(line)
        if args.latency_off:
            observe_latency_off(rel, seq, args.repeats)
    return 0


def observe_latency_off(rel: str, seq: Trace, repeats: int) -> None:
    """Observe-only overhead with ``latency=0`` (one boot: no module vs observe, interleaved)."""
    reqs = [RunRequest(seq, Baseline(), module=False, label="warmup")]
    for _ in range(repeats):
        reqs += [RunRequest(seq, Baseline(), module=False, label="nomodule"),
                 RunRequest(seq, Baseline(), label="observe")]
    s = run_session(reqs, {"kernel_release": KERNEL_RELEASES[rel], "icount": 0,
                           "module_params": "latency=0"}, progress=True)
    fault: dict[str, float] = {}
    for label in ("nomodule", "observe"):
        recs = [r for r in s.records[1:] if r.policy == label]
        fault[label] = statistics.median(float(np.mean(r.fault_ns)) for r in recs)
    over = (fault["observe"] - fault["nomodule"]) / fault["nomodule"]
    print(f"  latency=0: nomodule {fault['nomodule']:.0f} ns, observe {fault['observe']:.0f} ns, "
          f"observe-only overhead {100 * over:+.2f}% (goal < 3%)")


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
