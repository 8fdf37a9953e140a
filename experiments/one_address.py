"""Forked copies at one address: ``guarded`` and ``shield64`` in both layouts of the simulator.

    python experiments/one_address.py --costmodels seed_table1 host

A fork's children hold their copies of a parent buffer at one virtual address. The module
keys a decision's stream slots, sentinels, stride detector and proof ring by the faulting
virtual page, so there the children meet in that state; the simulator's default layout
(``distinct``) keeps every region at pages of its own. ``simulate(shared=True)`` (the
``one_address`` layout, ``eval.py layout=one_address``) decides other processes' copies of a
region at its pages, each child keeping its own page state (docs/semantics.md, "Copies at
one address"). This prints, per trace and layout, objective / baseline of each policy, and
per set (geometric mean and worst): objective, critical-path COW time (``cow_ns``) and the
mean per-write latency (faults' latencies plus ``write_ns`` per write that took none), each /
baseline's, and the pages wasted (% of the pages the policy copied).

Sets: ``corpus``, the recorded programs of data/traces/ (a trace without another process's
copy of a region runs the same in both layouts: marked ``no copies``); ``forked``, the
development draws (seeds 2000 +, every family, ``--draws`` each) grouped 4 at a time as
forked children (experiments/guarded_ttl.py ``region_draws``, layout ``forked``) in turns
of ``--chunks`` writes. Never the held-out sets nor the validation traces.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import check_draws  # noqa: E402
from cowrl.metrics import RunRecord, geomean, objective  # noqa: E402
from cowrl.paths import project_path  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.costmodel import CostModel  # noqa: E402
from cowrl.sim.engine import copy_origins  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402
from cowrl.traces.io import Trace, load_trace  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guarded_ttl import region_draws  # noqa: E402

LAYOUTS = {"distinct": False, "one_address": True}


def has_copies(t: Trace) -> bool:
    """Whether another process's copy of a region is written (the layouts then differ)."""
    o = copy_origins(t)
    region = np.searchsorted(t.region_ends, t.pages, side="right")
    return bool((o[region] != region).any())


def write_mean(rec: RunRecord, cost: CostModel) -> float:
    """Mean latency per write: the faults' latencies, ``write_ns`` for each other write."""
    return (float(np.sum(rec.fault_ns)) + (rec.writes - rec.faults) * cost.write_ns) \
        / rec.writes


def measure(traces: Sequence[Trace], cost: CostModel, policies: Sequence[str]
            ) -> dict[tuple[str, str], list[dict[str, float]]]:
    """Per (policy, layout): one row per trace (objective, cow and per-write mean / baseline's,
    pages copied and wasted)."""
    out: dict[tuple[str, str], list[dict[str, float]]] = {}
    for t in traces:
        base = simulate(t, make_policy("baseline"), cost)  # k = 0 everywhere: one layout
        assert isinstance(base, RunRecord)
        b_obj, b_w = objective(base, 1.0, cost.page_cost_ns), write_mean(base, cost)
        for layout, shared in LAYOUTS.items():
            for p in policies:
                r = simulate(t, make_policy(p), cost, shared=shared)
                assert isinstance(r, RunRecord)
                out.setdefault((p, layout), []).append({
                    "obj": objective(r, 1.0, cost.page_cost_ns) / b_obj,
                    "cow": float(np.sum(r.fault_ns)) / float(np.sum(base.fault_ns)),
                    "write": write_mean(r, cost) / b_w, "write_ns": write_mean(r, cost),
                    "faults": r.faults, "precopied": r.precopied, "wasted": r.wasted})
    return out


def report(name: str, traces: Sequence[Trace], cost: CostModel, policies: Sequence[str]
           ) -> None:
    rows = measure(traces, cost, policies)
    for p in policies:
        for layout in LAYOUTS:
            v = rows[(p, layout)]
            per = " ".join(f"{x['obj']:.3f}" for x in v)
            print(f"{cost.name} {name} {p} {layout}: per-trace {per}", flush=True)
    print(f"{'set':<8} {'policy':<9} {'layout':<12} {'traces':>6} {'obj geo':>8} "
          f"{'worst':>7} {'cow geo':>8} {'write geo':>9} {'write ns':>9} {'copied':>8} "
          f"{'wasted':>7}")
    for p in policies:
        for layout in LAYOUTS:
            v = rows[(p, layout)]
            obj = [x["obj"] for x in v]
            copied = sum(x["precopied"] for x in v)
            wasted = sum(x["wasted"] for x in v)
            print(f"{name:<8} {p:<9} {layout:<12} {len(v):>6} {geomean(obj):>8.4f} "
                  f"{max(obj):>7.4f} {geomean([x['cow'] for x in v]):>8.4f} "
                  f"{geomean([x['write'] for x in v]):>9.4f} "
                  f"{np.mean([x['write_ns'] for x in v]):>9.1f} {copied:>8} "
                  f"{100 * wasted / max(copied, 1):>6.2f}%", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--policies", nargs="+", default=["guarded", "shield64"])
    ap.add_argument("--sets", nargs="+", default=["corpus", "forked"],
                    choices=["corpus", "forked"])
    ap.add_argument("--draws", type=int, default=3, help="fresh draws per family (forked)")
    ap.add_argument("--chunks", type=int, nargs="+", default=[256, 32],
                    help="forked: writes per turn (one set per value)")
    args = ap.parse_args()
    check_draws(args.draws)
    sets: list[tuple[str, list[Trace]]] = []
    if "corpus" in args.sets:
        corpus = [load_trace(f) for f in sorted(project_path("data/traces").glob("*.npz"))]
        for t in corpus:
            print(f"corpus {t.name}: {t.writes} writes, {t.region_ends.size} regions"
                  f"{'' if has_copies(t) else ', no copies'}", flush=True)
        sets.append(("corpus", corpus))
    if "forked" in args.sets:
        draws = [g.randomized(2000 + d, 0, families=f) for f in g.FAMILIES
                 for d in range(args.draws)]
        for c in args.chunks:
            sets.append((f"fork{c}", region_draws(draws, 4, "forked", c)))
    for cm in args.costmodels:
        cost = make_costmodel(cm)
        for name, traces in sets:
            report(name, traces, cost, args.policies)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
