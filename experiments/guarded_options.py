"""What the risk budget alone allows: ``guarded`` with a reckless table (``k = 64`` in every
cell) under design options, on development draws of every generator family.

    python experiments/guarded_options.py --costmodel host \
        --options '{}' '{"scan": 8, "grant_left": 2}' [--draws 3] [--first 2000]

Draws: ``g.randomized(first + i, 0, families=F)``, i < ``--draws``, development seeds 2000+
(as experiments/ramp_proposer.py). ``--heldout-eval`` draws the protocol's held-out test
traces instead (``test_traces``: seeds 100000+), for an evaluation-only report of a finished
option; never use it to choose or tune one. (Before session 29 the held-out draws were the
default; the guarded_options tables in docs/policies.md were printed that way.)

With every cell asking for 64 pages only the budget (its allowance and its sentinel proofs)
decides, so an option's effect is measured without the noise of a learned table. Prints per
option the geometric-mean gain over baseline, its share of the oracle's gain, the worst
trace against baseline and against the best fixed k, the waste on uniform-random and sparse
traces and how many families are within 1.10 x of the best fixed k; then per family
``gain/share/worst/vs-best``. ``--apps`` adds the recorded corpus (``data/traces``) as one
more group. Options are :class:`cowrl.policies.guarded.GuardedPolicy` keywords
(``grant_left``, ``scan``, ``merge``, ``budget_per_mille``, ...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import add_draw_arguments, check_draws, check_first, draw_groups  # noqa: E402
from cowrl.errors import parse_json  # noqa: E402
from cowrl.generalization import check_targets, holdout_names, measure  # noqa: E402
from cowrl.policies.guarded import N_CELLS, GuardedPolicy  # noqa: E402
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.traces.generators import FAMILIES  # noqa: E402
from cowrl.traces.io import load_trace  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "data" / "traces"


def summary(rows: list[dict]) -> str:
    t = check_targets(rows)
    share = "-" if t["gain_share"] is None else f"{t['gain_share']:.2f}"
    waste = "-" if t["waste"] is None else f"{100 * t['waste']:.0f}%"
    return (f"gain {100 * t['gain']:+.2f}% (oracle {100 * t['oracle_gain']:+.1f}%, share "
            f"{share}), worst {t['safety']:.3f} ({t['safety_trace']}), vs best k "
            f"{t['near_best']:.3f} ({t['near_best_trace']}), waste random/sparse {waste}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--costmodel", default="seed_table1")
    ap.add_argument("--draws", type=int, default=3, help="development draws per family")
    add_draw_arguments(ap, never="an option")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
    ap.add_argument("--apps", action="store_true", help="also the recorded corpus")
    ap.add_argument("--options", nargs="+", default=["{}"],
                    help="one JSON object of GuardedPolicy keywords per variant")
    args = ap.parse_args()
    check_draws(args.draws)
    check_first(args.first)
    cost = make_costmodel(args.costmodel)
    fams = holdout_names(args.families, "--families", families_only=True)
    traces = draw_groups(fams, args.draws, args.first, heldout_eval=args.heldout_eval)
    if args.apps:
        traces["apps"] = [load_trace(f) for f in sorted(CORPUS.glob("*.npz"))]
    cache: dict[str, list[dict]] = {}
    for text in args.options:
        kw = parse_json(text, "--options")
        pol = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, **kw)
        rows, per, near = [], [], 0
        for fam, ts in traces.items():
            if fam not in cache:  # the references do not depend on the option
                cache[fam] = [r for r in measure([], ts, cost)]
            got = [r for r in measure([pol], ts, cost) if r["policy"] == pol.name]
            t = check_targets(got)
            if fam != "apps":
                rows += got
                near += t["near_best"] <= 1.10
            share = "-" if t["gain_share"] is None else f"{t['gain_share']:.2f}"
            per.append(f"{fam} {100 * t['gain']:+.1f}%/{share}/{t['safety']:.3f}/"
                       f"{t['near_best']:.3f}")
        print(f"{text}: {summary(rows)}, within 1.10 of best k {near}/"
              f"{len([f for f in traces if f != 'apps'])}")
        print("   " + ", ".join(per), flush=True)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
