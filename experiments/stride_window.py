"""Strided precopy windows (``guarded``'s ``stride_window``): a simulator study.

    python experiments/stride_window.py [--costmodels seed_table1 host] [--draws 3]
        [--policies shield64 guarded] [--families F ...] [--heldout] [--test-draws 3]
        [--stride-share X] [--per-trace] [--variants gate clip gate+clip]

Where the guarded context's stride detector (``prev_page``, ``prev_delta``, ``stride_run``)
sees a constant stride ``s >= 2`` continuing (and the fault is not an exact stream
continuation), ``stride_window: 1`` copies the pages the sweep writes next in the same column,
``page+s, page+2s, .., page+k*s`` (within the region), instead of ``page+1 .. page+k``; the
detector goes on from the window's last page, the sentinel is the next page of the column,
and ``page-s, page-2s, page-3s`` private is evidence for the allowance (docs/policies.md,
"Strided windows (session 28, simulator study)"). Each strided page walked costs
``precopy_stride_ns`` more (its own page-table walk): the runs are priced with it at 0 and at
``--stride-share`` (default: tcg's ``precopy_setup_ns / precopy_ns``, a window setup's price
per strided page, scaled to each model's ``precopy_ns``), and the budget reserves it.

For each cost model and policy (``shield64``: a table of 64s, the budget alone deciding;
``guarded``: the table of session 28's study, conf/policy/guarded_adjacent.yaml's, the
shipped one until session 30), three configurations, each with the shipped budget options:
``off`` (``stride_window: 0``: the adjacent decisions),
``on/0`` (strided windows, surcharge 0) and ``on/P`` (surcharge P ns). Printed per family:
the gain (1 - geometric mean of objective / baseline) and the worst draw (objective /
baseline), the best fixed k of guarded's degrees on the family's draws (hindsight); and over
all draws: the gain, the worst draw, the COW time on the critical path (sum of fault
latencies) and the mean per-write latency against baseline, pages copied and wasted.

Default: development draws only (``randomized(2000 + d, 0, families=F)``, d < ``--draws``,
the draws of experiments/guarded_ttl.py). ``--heldout``: the evaluation sets instead, the
held-out test traces of every family as the generalization protocol makes them
(``cowrl.generalization.test_traces``: ``family_trace(F, seed=100000 + i)``, i <
``--test-draws``; they do not depend on the training seed) and the validation traces
(``COWRL_VALIDATION_DIR``, skipped if absent); with them also the worst objective /
``precopy_best`` (the best fixed k per trace) and the waste on random / sparse. Nothing is
chosen on ``--heldout``. ``--variants``: instead of ``on/0``, each variant at the price P:
``gate`` (``stride_gate: 1``: a strided window stays adjacent where ``page - s + 1`` is
written, a 2-D tile's row went on), ``clip`` (``stride_clip: 1``: it stops before the first
page of the column whose left neighbour is not private as the fault's is, a tile's bottom
row) or both (docs/results/stride-window-tiled2d-s28.md). ``--per-trace`` adds, per
trace of the column families (and v_transpose), the windows each configuration opened and
what became of their copies (a diagnosis: every run is then asked at each fault, the off runs
too).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import check_draws, development_draws  # noqa: E402
from cowrl.generalization import UNIFORM_OR_SPARSE, VALIDATION, test_traces  # noqa: E402
from cowrl.metrics import geomean_gain, objective  # noqa: E402
from cowrl.policies.guarded import DEGREES, N_CELLS, GuardedPolicy, shipped_options  # noqa: E402
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.costmodel import CostModel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402

COLUMNS = ("stride", "long_stride", "block_stride")
"""The column-sweep families (docs/policies.md, "Column sweeps held out")."""


def setup_share() -> float:
    """tcg's window setup over its ``precopy_ns``: the conservative guess of a strided page's
    surcharge, as a share of a model's ``precopy_ns``."""
    tcg = make_costmodel("tcg")
    return tcg.precopy_setup_ns / tcg.precopy_ns


def dev_draws(draws: int, families: Sequence[str]) -> list[Trace]:
    """``draws`` development draws of each family (seeds 2000 + d)."""
    return [t for f in families for t in development_draws(f, draws, named=False)]


def heldout_sets(test_draws: int, families: Sequence[str]) -> list[Trace]:
    """The protocol's held-out test traces of ``families`` and, if present, the validation
    traces (evaluation only)."""
    ts: list[Trace] = []
    for f in families:
        ts += test_traces(f, test_draws, None, None)
    vdir = os.environ.get("COWRL_VALIDATION_DIR")
    if vdir and Path(vdir).is_dir():
        for t in test_traces(VALIDATION, 0, Path(vdir), None):
            t.meta["family"] = t.name  # each validation trace on its own line
            ts.append(t)
    return ts


def family(t: Trace) -> str:
    return str(t.meta.get("family", t.name))


def run(t: Trace, pol: Any, cost: CostModel, windows: bool = False) -> dict[str, float]:
    """Objective, COW time, per-write latency, copies and waste of one run; with
    ``windows`` (a guarded policy, asked at every fault) also the windows opened, their mean
    degree, the share at 64 and the copies proven during the run."""
    out: Any = simulate(t, pol, cost, record_events=windows, fast=not windows)
    rec, ev = out if windows else (out, None)
    cow = float(np.sum(rec.fault_ns))
    row = {"obj": objective(rec, 1.0, cost.page_cost_ns), "cow": cow,
           "write": (cow + (rec.writes - rec.faults) * cost.write_ns) / max(rec.writes, 1),
           "copied": rec.precopied, "wasted": rec.wasted}
    if ev is not None:
        ks = ev.k[ev.k > 0]
        row.update(opened=ks.size, mean_k=float(ks.mean()) if ks.size else 0.0,
                   at64=float((ks == 64).mean()) if ks.size else 0.0,
                   proven=pol.ctx.proven, faults=rec.faults)
    return row


VARIANTS = {"gate": {"stride_gate": 1}, "clip": {"stride_clip": 1},
            "gate+clip": {"stride_gate": 1, "stride_clip": 1}}
"""``--variants``: the options each adds to ``stride_window: 1``."""


def configs(policies: Sequence[str], share: float, cost: CostModel,
            variants: Sequence[str] = ()) -> list[tuple[str, list[int], dict[str, Any], float]]:
    """(name, table, options, precopy_stride_ns) of each run (``variants``: each at the
    price, :data:`VARIANTS`, instead of ``on/0``)."""
    shipped = make_policy("guarded_adjacent")  # the study's table (shipped until session 30)
    assert isinstance(shipped, GuardedPolicy)
    price = share * cost.precopy_ns
    tables = {"shield64": [64] * N_CELLS, "guarded": list(shipped.table)}
    out = []
    for p in policies:
        out.append((f"{p} off", tables[p], {"stride_window": 0}, 0.0))
        out += [(f"{p} {v}/{price:.0f}", tables[p], {"stride_window": 1, **VARIANTS[v]}, price)
                for v in variants] or [(f"{p} on/0", tables[p], {"stride_window": 1}, 0.0)]
        out.append((f"{p} on/{price:.0f}", tables[p], {"stride_window": 1}, price))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--draws", type=int, default=3, help="development draws per family")
    ap.add_argument("--families", nargs="+", default=list(g.FAMILIES))
    ap.add_argument("--policies", nargs="+", default=["shield64", "guarded"],
                    choices=["shield64", "guarded"])
    ap.add_argument("--stride-share", type=float, default=None,
                    help="the surcharge per strided page, a share of precopy_ns (default: "
                         "tcg's precopy_setup_ns / precopy_ns)")
    ap.add_argument("--heldout", action="store_true",
                    help="evaluate on the held-out test traces and validation (nothing chosen)")
    ap.add_argument("--test-draws", type=int, default=3, help="with --heldout: per family")
    ap.add_argument("--per-trace", action="store_true",
                    help="also per trace of the column families and v_transpose: x baseline, "
                         "x precopy_best, windows opened, mean k, share at 64, copied, "
                         "wasted, proven (every run asked at each fault)")
    ap.add_argument("--variants", nargs="+", default=[], choices=list(VARIANTS),
                    help="instead of on/0, these variants of stride_window at the price")
    args = ap.parse_args()
    check_draws(args.draws)
    bad = [f for f in args.families if f not in g.FAMILIES]
    if bad:
        ap.error(f"--families: unknown {bad[0]!r}")
    share = setup_share() if args.stride_share is None else args.stride_share
    traces = heldout_sets(args.test_draws, args.families) if args.heldout \
        else dev_draws(args.draws, args.families)
    opts = shipped_options()
    print(f"{'held-out test traces and validation' if args.heldout else 'development draws'}:"
          f" {len(traces)} traces; surcharge share {share:.4f} of precopy_ns", flush=True)
    for name in args.costmodels:
        cost0 = make_costmodel(name)
        base = [run(t, StaticPrecopy(0), cost0) for t in traces]
        fixed = {k: [run(t, StaticPrecopy(k), cost0)["obj"] / b["obj"]
                     for t, b in zip(traces, base, strict=True)] for k in DEGREES[1:]}
        # precopy_best: the best fixed k per trace, k = 0 included (the protocol's BestStatic)
        best_t = [min([1.0, *(fixed[k][i] for k in fixed)]) for i in range(len(traces))]
        fams = list(dict.fromkeys(family(t) for t in traces))
        print(f"== {name}: baseline, best fixed k per family (hindsight), {len(traces)} traces",
              flush=True)
        results: dict[str, list[dict[str, float]]] = {}
        for cname, table, o, price in configs(args.policies, share, cost0, args.variants):
            cost = dataclasses.replace(cost0, precopy_stride_ns=price)
            pol = GuardedPolicy.for_cost(cost, table=table, **{**opts, **o}, name=cname)
            results[cname] = [run(t, pol, cost, args.per_trace and (
                family(t) in COLUMNS or t.name == "v_transpose")) for t in traces]
        print(f"{'family':<16}" + "".join(f"{c:>22}" for c in results)
              + f"{'best fixed k':>18}")
        for fam in fams:
            idx = [i for i, t in enumerate(traces) if family(t) == fam]
            cells = []
            for rs in results.values():
                rel = [rs[i]["obj"] / base[i]["obj"] for i in idx]
                cells.append(f"{geomean_gain(rel):>+8.2f}% ({max(rel):.3f})")
            k_best = max(fixed, key=lambda k: geomean_gain([fixed[k][i] for i in idx]))
            print(f"{fam:<16}" + "".join(f"{c:>22}" for c in cells)
                  + f"{geomean_gain([fixed[k_best][i] for i in idx]):>+11.2f}% k={k_best}",
                  flush=True)
        cells = []
        for rs in results.values():
            rel = [r["obj"] / b["obj"] for r, b in zip(rs, base, strict=True)]
            cells.append(f"{geomean_gain(rel):>+8.2f}% ({max(rel):.3f})")
        col = [i for i, t in enumerate(traces) if family(t) in COLUMNS]
        if col:
            print(f"{'columns':<16}" + "".join(f"{c:>22}" for c in [
                f"{geomean_gain([rs[i]['obj'] / base[i]['obj'] for i in col]):>+8.2f}% "
                f"({max(rs[i]['obj'] / base[i]['obj'] for i in col):.3f})"
                for rs in results.values()]))
        print(f"{'all':<16}" + "".join(f"{c:>22}" for c in cells), flush=True)
        if args.heldout:  # the protocol's near_best: per set, the worst x precopy_best
            print(f"-- {name}: per held-out set, the worst trace x precopy_best (the target: "
                  "<= 1.10)")
            print(f"{'set':<16}" + "".join(f"{c:>22}" for c in results))
            within = dict.fromkeys(results, 0)
            for fam in fams:
                idx = [i for i, t in enumerate(traces) if family(t) == fam]
                cells = []
                for c, rs in results.items():
                    far = max((rs[i]["obj"] / base[i]["obj"]) / best_t[i] for i in idx)
                    within[c] += far <= 1.10
                    cells.append(f"{far:.3f}")
                print(f"{fam:<16}" + "".join(f"{c:>22}" for c in cells))
            print(f"{'within 1.10':<16}" + "".join(f"{f'{n} / {len(fams)}':>22}"
                                                   for n in within.values()), flush=True)
        if args.per_trace:
            print(f"-- {name}: per trace of the column families and v_transpose: x baseline "
                  "(x precopy_best) windows opened / faults, mean k, share at 64, copied, "
                  "wasted, proven")
            for i, t in enumerate(traces):
                if not (family(t) in COLUMNS or t.name == "v_transpose"):
                    continue
                meta = ",".join(f"{k}={v}" for k, v in t.meta.items()
                                if k in ("stride", "columns", "block", "gap", "passes"))
                print(f"{t.name} ({family(t)}, {t.n_pages} pages, {meta}) best fixed "
                      f"{best_t[i]:.3f}")
                for c, rs in results.items():
                    r = rs[i]
                    rel = r["obj"] / base[i]["obj"]
                    print(f"  {c:<20} {rel:.3f} ({rel / best_t[i]:.3f}) {r['opened']:>5} / "
                          f"{r['faults']:<5} k {r['mean_k']:5.1f} at64 {r['at64']:.2f} "
                          f"copied {r['copied']:>6} wasted {r['wasted']:>4} proven "
                          f"{r['proven']:>6}", flush=True)
        print(f"-- {name}: over all traces: critical-path COW time and mean per-write latency "
              "(sums, x baseline), pages copied / wasted"
              + ("; worst x precopy_best; waste on random/sparse (wasted / copied)"
                 if args.heldout else ""))
        for cname, rs in results.items():
            cow = sum(r["cow"] for r in rs) / sum(b["cow"] for b in base)
            wr = sum(r["write"] for r in rs) / sum(b["write"] for b in base)
            line = (f"{cname:<20} cow {cow:.4f}  write {wr:.4f}  copied "
                    f"{sum(r['copied'] for r in rs):>8.0f}  wasted "
                    f"{sum(r['wasted'] for r in rs):>7.0f}")
            if args.heldout:
                vs_best = max((r["obj"] / b["obj"]) / bt
                              for r, b, bt in zip(rs, base, best_t, strict=True))
                worst = max(range(len(traces)), key=lambda i: (rs[i]["obj"] / base[i]["obj"])
                            / best_t[i])
                sparse = [i for i, t in enumerate(traces) if family(t) in UNIFORM_OR_SPARSE
                          or t.name in UNIFORM_OR_SPARSE]
                cp = sum(rs[i]["copied"] for i in sparse)
                wa = sum(rs[i]["wasted"] for i in sparse)
                line += (f"  vs best {vs_best:.3f} ({traces[worst].name})  random/sparse "
                         f"{wa:.0f}/{cp:.0f}")
            print(line, flush=True)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
