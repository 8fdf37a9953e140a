"""One policy held out with and without an option: the leave-one-out jobs of two sweeps
compared job for job (same held-out set, seed and cost model), and a decision rule applied.

    python experiments/heldout_option.py --before DIR --after DIR2 \
        --seeds 0 [--policy guarded] [--reference shield64]

(DIR, DIR2: the sweep directories of experiments/generalization.py without and with the option.)

Per cost model: the pooled gain (1 - geometric mean of objective / baseline over the held-out
traces) of the 17 families, of the validation traces and of the applications (``app:*``),
before, after and the change in points; the worst held-out trace after; the pages copied and
wasted on the ``random`` and ``sparse`` held-out traces. The reference policy (unchanged
between the sweeps) must have identical rows, or the two sweeps differ in more than the
option. The rule (docs/policies.md, "`floor_slow: 5` held out"): every pooled change >=
``--min-change`` points, no held-out trace above ``--max-ratio`` x baseline, waste on
random/sparse not higher. Exit status 0 whether it passes or not; the verdict is printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.errors import ConfigError  # noqa: E402
from cowrl.generalization import APP_PREFIX, VALIDATION, gather  # noqa: E402
from cowrl.metrics import geomean  # noqa: E402
from cowrl.traces.generators import FAMILIES  # noqa: E402

WASTE_FAMILIES = ("random", "sparse")


def _key(job: dict[str, Any]) -> tuple[str, int, str]:
    return (str(job["holdout"]), int(job["seed"]), str(job["costmodel"]))


def _jobs(path: Path, seeds: Sequence[int]) -> dict[tuple[str, int, str], dict[str, Any]]:
    jobs = {_key(j): j for j in gather(path) if "rows" in j and int(j["seed"]) in seeds}
    if not jobs:
        raise ConfigError(f"{path}: no job.json with rows for seeds {list(seeds)}")
    return jobs


def _set_of(holdout: str) -> str | None:
    if holdout in FAMILIES:
        return "families"
    if holdout == VALIDATION:
        return "validation"
    if holdout.startswith(APP_PREFIX):
        return "apps"
    return None


def compare(before: dict, after: dict, policy: str, reference: str | None,
            min_change: float = -0.1, max_ratio: float = 1.01) -> dict[str, Any]:
    """Per cost model, the pooled gains before/after, the worst trace after, the waste on
    random/sparse, whether the reference's rows are identical, and the rule's verdict."""
    missing = sorted(set(before) ^ set(after))
    if missing:
        raise ConfigError(f"jobs in one sweep only: {missing[:4]}")
    out: dict[str, Any] = {}
    for cm in sorted({k[2] for k in after}):
        ratios: dict[str, dict[str, list[float]]] = {s: {"before": [], "after": []}
                                                      for s in ("families", "validation",
                                                                "apps")}
        waste = {"before": [0, 0], "after": [0, 0]}  # precopied, wasted
        worst = (0.0, "")
        ref_same = True
        for k in sorted(k for k in after if k[2] == cm):
            s = _set_of(k[0])
            for side, job in (("before", before[k]), ("after", after[k])):
                rows = [r for r in job["rows"] if r["policy"] == policy]
                if not rows:
                    raise ConfigError(f"{k}: no rows of {policy} ({side})")
                if s is not None:
                    ratios[s][side] += [r["ratio"] for r in rows]
                if k[0] in WASTE_FAMILIES:
                    waste[side][0] += sum(max(r["precopied"], 0) for r in rows)
                    waste[side][1] += sum(max(r["wasted"], 0) for r in rows)
                if side == "after":
                    w = max(rows, key=lambda r: r["ratio"])
                    worst = max(worst, (w["ratio"], f"{w['trace']} ({k[0]})"))
            if reference is not None:
                a, b = ([(r["trace"], r["ratio"], r["precopied"], r["wasted"])
                         for r in j["rows"] if r["policy"] == reference]
                        for j in (before[k], after[k]))
                ref_same &= bool(a) and a == b
        sets = {}
        for s, sides in ratios.items():
            if not sides["after"]:
                continue
            g0, g1 = (100 * (1 - geomean(sides[x])) for x in ("before", "after"))
            sets[s] = {"before": g0, "after": g1, "change": g1 - g0, "traces": len(sides["after"])}
        ok = {"gain": all(v["change"] >= min_change for v in sets.values()),
              "worst": worst[0] <= max_ratio,
              "waste": waste["after"][1] <= waste["before"][1]}
        out[cm] = {"sets": sets, "worst": worst, "waste": waste, "reference_same": ref_same,
                   "ok": ok, "pass": all(ok.values())}
    return out


def per_holdout(before: dict, after: dict, policy: str) -> list[str]:
    """Markdown lines: per cost model and held-out set, the gain before and after."""
    lines = ["| cost model | held out | before | after | change (points) |",
             "|---|---|---|---|---|"]
    for k in sorted(after, key=lambda k: (k[2], k[0], k[1])):
        g0, g1 = (100 * (1 - geomean([r["ratio"] for r in j["rows"] if r["policy"] == policy]))
                  for j in (before[k], after[k]))
        lines.append(f"| {k[2]} | {k[0]} | {g0:+.2f}% | {g1:+.2f}% | {g1 - g0:+.2f} |")
    return lines


def render(res: dict[str, Any], policy: str, reference: str | None) -> str:
    lines = [f"| cost model | set | traces | {policy} before | after | change (points) |",
             "|---|---|---|---|---|---|"]
    for cm, r in res.items():
        for s, v in r["sets"].items():
            lines.append(f"| {cm} | {s} | {v['traces']} | {v['before']:+.2f}% | "
                         f"{v['after']:+.2f}% | {v['change']:+.2f} |")
    lines.append("")
    for cm, r in res.items():
        (p0, w0), (p1, w1) = r["waste"]["before"], r["waste"]["after"]
        lines.append(f"{cm}: worst held-out trace after {r['worst'][0]:.4f} x baseline "
                     f"({r['worst'][1]}); random/sparse copied/wasted before {p0}/{w0}, after "
                     f"{p1}/{w1}" + (f"; {reference} rows identical: {r['reference_same']}"
                                     if reference else ""))
        lines.append(f"{cm}: rule {'PASSES' if r['pass'] else 'FAILS'} ({r['ok']})")
    verdict = all(r["pass"] for r in res.values())
    lines.append(f"verdict: {'ship' if verdict else 'keep as an option'}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--policy", default="guarded")
    ap.add_argument("--reference", default="shield64")
    ap.add_argument("--min-change", type=float, default=-0.1)
    ap.add_argument("--max-ratio", type=float, default=1.01)
    ap.add_argument("--per-holdout", action="store_true",
                    help="also print the gain per held-out set and cost model")
    args = ap.parse_args(argv)
    before, after = _jobs(args.before, args.seeds), _jobs(args.after, args.seeds)
    before = {k: v for k, v in before.items() if k in after}  # the jobs run after
    res = compare(before, after, args.policy, args.reference or None, args.min_change,
                  args.max_ratio)
    print(f"jobs compared: {len(after)} (seeds {args.seeds})")
    print(render(res, args.policy, args.reference or None))
    if args.per_holdout:
        print("\n".join(["", *per_holdout(before, after, args.policy)]))


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
