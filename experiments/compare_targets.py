"""How far the kernel agrees with the simulator, from two ``eval.py`` output directories.

    python experiments/compare_targets.py outputs/demo/sim outputs/demo/kernel

Pairs the rows by (policy, workload) and prints: event counts equal or not,
the relative error of ``cow_ns``, and the Kendall tau of the policy ranking by
objective per workload and overall (``cowrl.calibration.fidelity``). Both runs
should use the same cost model (``make demo`` uses ``tcg`` for both), or the
objectives are in different units.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cowrl.calibration.fidelity import compare, pair_rows, rank_agreement, summary


def _rows(path: Path) -> tuple[list[dict], dict]:
    f = path / "results.json" if path.is_dir() else path
    if not f.is_file():
        sys.exit(f"error: {f}: no results.json (run eval.py with out={path})")
    data = json.loads(f.read_text())
    return data["rows"], data.get("meta", {})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sim", type=Path, help="eval.py target=sim output directory")
    ap.add_argument("kernel", type=Path, help="eval.py target=kernel output directory")
    args = ap.parse_args(argv)
    sim_rows, sim_meta = _rows(args.sim)
    k_rows, k_meta = _rows(args.kernel)
    if sim_meta.get("costmodel") != k_meta.get("costmodel"):
        print(f"warning: cost models differ (sim {sim_meta.get('costmodel')}, "
              f"kernel {k_meta.get('costmodel')}): objectives are not comparable",
              file=sys.stderr)
    rows = compare(pair_rows(sim_rows, k_rows))
    if not rows:
        sys.exit("error: no (policy, workload) pair is in both runs")
    s = summary(rows)
    ranks = rank_agreement(rows)
    print(f"pairs {s['pairs']}, event counts equal in {s['counts_equal']}")
    print(f"cow_ns |rel err|: median {s['median_abs_cow_rel_err']:.1%}, "
          f"max {s['max_abs_cow_rel_err']:.1%}")
    print(f"Kendall tau of the ranking by objective: overall {ranks['overall']:.2f}, "
          f"mean per workload {ranks['mean_per_workload']:.2f}")
    print(f"  sim order:    {' < '.join(ranks['overall_policy_order_sim'])}")
    print(f"  kernel order: {' < '.join(ranks['overall_policy_order_kernel'])}")
    for w, t in sorted(ranks["per_workload"].items()):
        worst = max((r for r in rows if r["workload"] == w), key=lambda r: abs(r["cow_rel_err"]))
        print(f"  {w:24s} tau {t:5.2f}   worst cow err {worst['cow_rel_err']:+.1%} "
              f"({worst['policy']})")
    for r in rows:
        if not r["counts_equal"]:
            print(f"  counts differ: {r['policy']}/{r['workload']}: {r['counts_note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
