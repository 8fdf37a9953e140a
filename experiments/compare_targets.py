"""How far one target agrees with another: the simulator against the kernel, say.

    python experiments/compare_targets.py outputs/demo/real_sim outputs/demo/real_kernel
    python experiments/compare_targets.py --run sim kernel [--workloads seq random]
        [--policies baseline precopy fault_around] [--costmodel tcg] [--n-pages 1024]

The first form pairs the rows of two ``eval.py`` output directories; the second
builds both targets from ``conf/target`` (:func:`cowrl.targets.make_target`),
runs the same plan (policies x workloads, priced by one cost model) on each and
pairs those rows. Either way it prints, by (policy, workload): event counts
equal or not, the relative error of ``cow_ns``, and the Kendall tau of the
policy ranking by objective per workload and overall
(``cowrl.calibration.fidelity``). Both sides should use the same cost model
(``make demo`` uses ``tcg`` for both), or the objectives are in different units.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cowrl.calibration.fidelity import compare, pair_rows, rank_agreement, summary
from cowrl.errors import CowrlError


def _rows(path: Path) -> tuple[list[dict], dict]:
    f = path / "results.json" if path.is_dir() else path
    if not f.is_file():
        raise CowrlError(f"{f}: no results.json (run eval.py with out={path})")
    data = json.loads(f.read_text())
    return data["rows"], data.get("meta", {})


def run_both(a: Any, b: Any, workloads: list[str], policies: list[str], costmodel: str | None,
             n_pages: int | None, lam: float = 1.0, seed: int = 0
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Rows of the same plan on targets ``a`` and ``b`` (names or :class:`Target`s).

    Policies one of them cannot run are left out of both. Returns (rows a,
    rows b, cost model name).
    """
    from cowrl.metrics import summarize
    from cowrl.registry import make_costmodel, make_policy, make_workload
    from cowrl.targets import Plan, Target, make_target

    ta, tb = (make_target(t) if isinstance(t, str) else t for t in (a, b))
    for t in (ta, tb):
        if not isinstance(t, Target):
            raise CowrlError(f"target {t.name!r} runs no traces (calibrate.py only)")
    cost = make_costmodel(costmodel or ta.costmodel or "seed_table1")
    params = {"n_pages": n_pages} if n_pages else {}
    traces = [make_workload(w, seed=seed, **params) for w in workloads]
    pols = [p for p in (make_policy(n, lam=lam) for n in policies)
            if not ta.unsupported(p) and not tb.unsupported(p)]
    if not pols:
        raise CowrlError(f"policies: none of {policies} runs on both {ta.name} and {tb.name}")
    runs = [(p, t) for t in traces for p in pols]
    rows = []
    for t in (ta, tb):
        recs = t.run(Plan(runs, cost, seed=seed, progress=True))
        rows.append([summarize(r, lam, cost.page_cost_ns) for r in recs])
    return rows[0], rows[1], cost.name


def report(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]],
           names: tuple[str, str] = ("sim", "kernel")) -> dict[str, Any]:
    """Print the agreement of two sets of rows (``a`` predicts ``b``); returns the figures."""
    rows = compare(pair_rows(rows_a, rows_b))
    if not rows:
        raise CowrlError("no (policy, workload) pair is in both runs")
    s = summary(rows)
    ranks = rank_agreement(rows)
    print(f"pairs {s['pairs']}, event counts equal in {s['counts_equal']}")
    print(f"cow_ns |rel err|: median {s['median_abs_cow_rel_err']:.1%}, "
          f"max {s['max_abs_cow_rel_err']:.1%}")
    print(f"Kendall tau of the ranking by objective: overall {ranks['overall']:.2f}, "
          f"mean per workload {ranks['mean_per_workload']:.2f}")
    width = max(len(n) for n in names) + len(" order:")
    for n, key in zip(names, ("sim", "kernel"), strict=True):
        print(f"  {n + ' order:':<{width}} {' < '.join(ranks[f'overall_policy_order_{key}'])}")
    for w, t in sorted(ranks["per_workload"].items()):
        worst = max((r for r in rows if r["workload"] == w), key=lambda r: abs(r["cow_rel_err"]))
        print(f"  {w:24s} tau {t:5.2f}   worst cow err {worst['cow_rel_err']:+.1%} "
              f"({worst['policy']})")
    for r in rows:
        if not r["counts_equal"]:
            print(f"  counts differ: {r['policy']}/{r['workload']}: {r['counts_note']}")
    return {"summary": s, "kendall_tau": ranks, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="eval.py output directory of the predicting side (sim), or "
                              "with --run a conf/target name")
    ap.add_argument("b", help="eval.py output directory of the measured side (kernel), or "
                              "with --run a conf/target name")
    ap.add_argument("--run", action="store_true",
                    help="a and b are targets: run the same plan on both")
    ap.add_argument("--workloads", nargs="+", default=["seq", "random"])
    ap.add_argument("--policies", nargs="+", default=["baseline", "precopy", "fault_around"])
    ap.add_argument("--costmodel", default=None,
                    help="conf/costmodel name for both (default: target a's own)")
    ap.add_argument("--n-pages", type=int, default=None, help="resize the workloads")
    args = ap.parse_args(argv)
    try:
        if args.run:
            rows_a, rows_b, cm = run_both(args.a, args.b, args.workloads, args.policies,
                                          args.costmodel, args.n_pages)
            print(f"{args.a} vs {args.b}, costmodel {cm}")
            names = (args.a, args.b)
        else:
            rows_a, meta_a = _rows(Path(args.a))
            rows_b, meta_b = _rows(Path(args.b))
            if meta_a.get("costmodel") != meta_b.get("costmodel"):
                print(f"warning: cost models differ ({meta_a.get('target')} "
                      f"{meta_a.get('costmodel')}, {meta_b.get('target')} "
                      f"{meta_b.get('costmodel')}): objectives are not comparable",
                      file=sys.stderr)
            names = (str(meta_a.get("target", "a")), str(meta_b.get("target", "b")))
        report(rows_a, rows_b, names)
    except CowrlError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
