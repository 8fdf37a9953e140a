"""The start-up price of ``guarded``'s bound: faults before its first window, and how the
gap to the best fixed k closes as a run gets longer.

    python experiments/guarded_start.py --costmodels seed_table1 host

The budget starts at 0 in every process and grows by the allowance (``budget_per_mille`` of
a demand fault) at each fault that shows evidence of use, so the first 1-page window opens
only after about ``loss / allowance`` such faults; after that a window pays back
``loss + gain`` per copied page proven written, so the affordable window grows by a factor
of about ``1 + gain / loss`` per proven window. Per cost model this prints those constants,
then, for sequential, interleaved and tiled 2-D writers of growing length (pages written
once each), the objective / baseline of the best fixed k, of ``guarded`` as shipped
(conf/policy/guarded.yaml) and of ``guarded`` with a table of 64s (the budget alone
deciding), the fault index of the first window and guarded / best k.

``--reads`` then asks what the proof reads per fault (``proof_reads``, 8 shipped; the module
takes at most 16) cost and buy: a window's reserve comes back only as its pages are read and
found written, so at most ``proof_reads * (1 + gain / loss)`` pages per fault are financed
in steady state. For each value (beyond 16 in simulation only: the module's
``COWRL_GUARDED_MAX_PROOF_READS`` is 16) it prints, on long sequential and interleaved
writers, the objective / baseline and the share of faults at ``k = 64``, and over 2 draws of
every family the ring entries read per fault that were not (yet) written: reads the cost
model does not price (the clean price covers one read per proven page).

``--per-mille`` finally asks whether a larger allowance would help: over the same family
draws, with a table of 64s (the budget alone deciding), the geometric-mean objective /
baseline and the worst trace for each ``budget_per_mille`` (10 shipped; 20 spends the whole
margin of the 1.02 x safety target).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.metrics import objective  # noqa: E402
from cowrl.policies import guarded  # noqa: E402
from cowrl.policies.guarded import (  # noqa: E402
    N_CELLS,
    GuardedPolicy,
    shipped_options,
)
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.costmodel import CostModel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402

DEGREES = (0, 1, 2, 4, 8, 16, 32, 64)


def first_window(policy: GuardedPolicy, trace: Trace, cost: CostModel) -> tuple[float, int]:
    """The run's objective and the index of its first demand fault whose window holds a page
    (-1: none). Not the first ``k > 0``: a strided window (``stride_window: 1``) whose first
    page lies past the region's end holds no page and reserves nothing, whatever its k."""
    rec, ev = simulate(trace, policy, policy.priced(cost), fast=False, record_events=True)
    nz = np.flatnonzero(ev.window > 0)
    return objective(rec, 1.0, cost.page_cost_ns), int(nz[0]) if nz.size else -1


def run_logged(policy: GuardedPolicy, trace: Trace, cost: CostModel) -> tuple[float, list[int]]:
    """The run's objective and the degree applied at each demand fault."""
    ks: list[int] = []
    act = policy.act

    def logged(*a: object, **kw: object) -> int:
        k = act(*a, **kw)  # type: ignore[arg-type]
        ks.append(k)
        return k

    policy.act = logged  # type: ignore[method-assign]
    rec = simulate(trace, policy, policy.priced(cost), fast=False)
    return objective(rec, 1.0, cost.page_cost_ns), ks


def reads_study(cost: CostModel, table: list[int], kw: dict, reads: list[int]) -> None:
    """Objective and k = 64 share on long streams; unproven reads per fault on the families."""
    longs = [g.sequential(n_pages=32768, writes=32768),
             g.interleaved(n_pages=16384, writes=16384, streams=4, seed=1)]
    draws = [g.randomized(2000 + d, 0, families=f) for f in g.FAMILIES for d in range(2)]
    bases = [objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
             for t in draws]
    print(f"{'reads':>5} " + " ".join(f"{t.name + ' obj / k64%':>22}" for t in longs)
          + f" {'families: gain, worst':>22} {'unproven reads/fault (mean, worst)':>36}")
    for r in reads:
        cells = []
        for t in longs:
            base = objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
            pol = GuardedPolicy.for_cost(cost, table=table, **{**kw, "proof_reads": r})
            obj, ks = run_logged(pol, t, cost)
            cells.append(f"{obj / base:.3f} / {100 * ks.count(64) / max(len(ks), 1):4.1f}%")
        tot = [0, 0]
        worst = 0.0
        rel = []
        for t, base in zip(draws, bases, strict=True):
            pol = GuardedPolicy.for_cost(cost, table=table, **{**kw, "proof_reads": r})
            rec = simulate(t, pol, pol.priced(cost), fast=False)
            rel.append(objective(rec, 1.0, cost.page_cost_ns) / base)
            unproven = pol.ctx.unproven_reads  # reads that found the page unwritten
            tot[0] += unproven
            tot[1] += rec.faults
            worst = max(worst, unproven / max(rec.faults, 1))
        gm = math.exp(sum(map(math.log, rel)) / len(rel))
        print(f"{r:>5} " + " ".join(f"{c:>22}" for c in cells)
              + f" {100 * (1 - gm):>+13.2f}% {max(rel):>7.3f} {tot[0] / max(tot[1], 1):>20.2f}"
              f" {worst:>15.2f}", flush=True)


def allowance_study(cost: CostModel, kw: dict, per_mille: list[int]) -> None:
    """Table of 64s, every family's 2 draws: geometric-mean objective / baseline and worst."""
    draws = [g.randomized(2000 + d, 0, families=f) for f in g.FAMILIES for d in range(2)]
    bases = [objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
             for t in draws]
    for pm in per_mille:
        rel = []
        for t, base in zip(draws, bases, strict=True):
            pol = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS,
                                         **{**kw, "budget_per_mille": pm})
            rel.append(objective(simulate(t, pol, pol.priced(cost)), 1.0,
                                 cost.page_cost_ns) / base)
        gm = math.exp(sum(map(math.log, rel)) / len(rel))
        print(f"budget_per_mille {pm:>3}: gain {100 * (1 - gm):+.2f}%, worst {max(rel):.3f}",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--lengths", type=int, nargs="*", default=[512, 2048, 8192, 32768])
    ap.add_argument("--reads", type=int, nargs="*", default=[8, 16, 32, 128],
                    help="proof_reads values to study (empty: skip)")
    ap.add_argument("--per-mille", type=int, nargs="*", default=[10, 20],
                    help="allowances to study with a table of 64s (empty: skip)")
    args = ap.parse_args()
    if args.reads:
        # simulation only: let the policy read more than the module's 16 entries per fault
        guarded.MAX_PROOF_READS = max(guarded.MAX_PROOF_READS, *args.reads)
    for name in args.costmodels:
        cost = make_costmodel(name)
        shipped = make_policy("guarded")
        assert isinstance(shipped, GuardedPolicy)
        kw = shipped_options()
        ref = GuardedPolicy.for_cost(cost, **kw)
        start = math.ceil(ref.loss / ref.allowance) if ref.allowance else -1
        print(f"== {name}: loss {ref.loss} ns, gain {ref.gain} ns, allowance "
              f"{ref.allowance} ns per evidence fault -> first 1-page window after about "
              f"{start} evidence faults; growth about x{1 + ref.gain / max(ref.loss, 1):.2f} "
              f"per proven window", flush=True)
        print(f"{'trace':<12} {'writes':>6} {'faults':>6} {'best k':>10} {'guarded':>8} "
              f"{'1st win':>7} {'vs best':>7} {'table 64':>8} {'1st win':>7} {'vs best':>7}")
        for length in args.lengths:
            n = max(length, 64)
            for trace in (g.sequential(n_pages=n, writes=length),
                          g.interleaved(n_pages=n, writes=length, streams=4, seed=1),
                          g.tiled2d(n_pages=n, row_pages=64, writes=length)):
                base = objective(simulate(trace, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
                best = min(objective(simulate(trace, StaticPrecopy(k), cost), 1.0,
                                     cost.page_cost_ns) for k in DEGREES)
                faults = simulate(trace, StaticPrecopy(0), cost).faults
                pol = GuardedPolicy.for_cost(cost, table=shipped.table, **kw)
                obj, first = first_window(pol, trace, cost)
                pol64 = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, **kw)
                obj64, first64 = first_window(pol64, trace, cost)
                print(f"{trace.name:<12} {length:>6} {faults:>6} {best / base:>10.3f} "
                      f"{obj / base:>8.3f} {first:>7} {obj / best:>7.3f} {obj64 / base:>8.3f} "
                      f"{first64:>7} {obj64 / best:>7.3f}", flush=True)
        if args.reads:
            print(f"-- {name}: proof reads per fault (shipped table)")
            reads_study(cost, shipped.table, kw, args.reads)
        if args.per_mille:
            print(f"-- {name}: the allowance, table of 64s, 2 draws per family")
            allowance_study(cost, kw, args.per_mille)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
