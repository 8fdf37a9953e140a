"""What the risk budget alone allows: ``guarded`` with a reckless table (``k = 64`` in every
cell) under design options, on fresh draws of every generator family.

    python experiments/guarded_options.py --costmodel host \
        --options '{}' '{"scan": 8, "grant_left": 2}'

With every cell asking for 64 pages only the budget (its allowance and its sentinel proofs)
decides, so an option's effect is measured without the noise of a learned table. Prints per
option the geometric-mean gain over baseline and the worst trace over all families, then
per family ``gain/worst``. Options are :class:`cowrl.policies.guarded.GuardedPolicy`
keywords (``grant_left``, ``scan``, ``merge``, ``budget_per_mille``, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.errors import ConfigError  # noqa: E402
from cowrl.generalization import check_targets, measure, test_traces  # noqa: E402
from cowrl.policies.guarded import N_CELLS, GuardedPolicy  # noqa: E402
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.traces.generators import FAMILIES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodel", default="seed_table1")
    ap.add_argument("--draws", type=int, default=3, help="fresh draws per family")
    ap.add_argument("--options", nargs="+", default=["{}"],
                    help="one JSON object of GuardedPolicy keywords per variant")
    args = ap.parse_args()
    cost = make_costmodel(args.costmodel)
    traces = {fam: test_traces(fam, args.draws, None, None) for fam in FAMILIES}
    for text in args.options:
        try:
            kw = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"--options: {text!r} is not JSON ({e})") from e
        pol = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, **kw)
        rows, per = [], []
        for fam, ts in traces.items():
            got = [r for r in measure([pol], ts, cost) if r["policy"] == pol.name]
            rows += got
            t = check_targets(got)
            per.append(f"{fam} {100 * t['gain']:+.1f}%/{t['safety']:.3f}")
        t = check_targets(rows)
        print(f"{text}: gain {100 * t['gain']:+.2f}%, worst {t['safety']:.3f} "
              f"({t['safety_trace']})")
        print("   " + ", ".join(per), flush=True)


if __name__ == "__main__":
    main()
