"""Region-salted sentinels (session 40): ``sentinel_salt`` 0 vs 1 on development draws.

    python experiments/region_sentinels.py [--costmodels seed_table1,host] [--lockstep 24]
        [--forked 8] [--first 2000] [--out rows.json]

For each cost model: ``shield64`` and ``guarded`` (their conf files' options and tables, priced
by the cost model) with ``sentinel_salt`` 0 and 1, on ``--lockstep`` development draws of
:func:`cowrl.traces.generators.lockstep_draw` (several arrays in their own regions, written in
lockstep) and ``--forked`` of ``multi_writer_draw("forked_workers", ...)``, seeds from
``--first`` (2000: test seeds). Prints per set and policy the gain (1 - geometric mean of
objective / baseline), the share of the oracle's, the worst draw, the sentinels hit / missed,
and per draw the gain of each policy with the salt against without (points); the rule of
docs/results/region-sentinels-s40.md reads these figures. Development draws only: never the
held-out patterns, the validation traces nor the unseen programs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import check_first  # noqa: E402
from cowrl.generalization import check_targets, measure  # noqa: E402
from cowrl.policies.guarded import GuardedPolicy, shipped_options  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces.generators import lockstep_draw, multi_writer_draw  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402

BASES = ("shield64", "guarded")


def policies(cost_name: str) -> list[GuardedPolicy]:
    """``shield64`` and ``guarded`` with ``sentinel_salt`` 0 and 1 (named ``<base>_salt<s>``)."""
    cost = make_costmodel(cost_name)
    out = []
    for base in BASES:
        table = list(make_policy(base).table)  # the conf's table as eval.py resolves it
        kw = shipped_options(base)
        for salt in (0, 1):
            out.append(GuardedPolicy.for_cost(cost, table=table,
                                              **{**kw, "sentinel_salt": salt,
                                                 "name": f"{base}_salt{salt}"}))
    return out


def sets(n_lock: int, n_fork: int, first: int) -> dict[str, list[Trace]]:
    check_first(first)
    return {"lockstep": [lockstep_draw(first + i) for i in range(n_lock)],
            "forked": [multi_writer_draw("forked_workers", first + i) for i in range(n_fork)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodels", default="seed_table1,host")
    ap.add_argument("--lockstep", type=int, default=24)
    ap.add_argument("--forked", type=int, default=8)
    ap.add_argument("--first", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    rows: list[dict] = []
    for cm in a.costmodels.split(","):
        cost = make_costmodel(cm)
        pols = policies(cm)
        for set_name, traces in sets(a.lockstep, a.forked, a.first).items():
            got = measure(pols, traces, cost)
            for r in got:
                r.update(costmodel=cm, set=set_name)
            for p in pols:  # the sentinels resolved (compiled program's tallies)
                for t in traces:
                    _, ev = simulate(t, p, cost, record_events=True)
                    for r in got:
                        if r["policy"] == p.name and r["trace"] == t.name:
                            r.update(hits=ev.tallies["hits"], misses=ev.tallies["misses"])
            rows += got
            print(f"\n## {cm}, {set_name} ({len(traces)} development draws)")
            print("| policy | gain | share of oracle | worst | hits / misses |")
            print("|---|---|---|---|---|")
            for name in [p.name for p in pols] + ["precopy_best", "oracle"]:
                mine = [r for r in got if r["policy"] == name]
                t = check_targets(mine)
                share = "-" if t["gain_share"] is None else f"{t['gain_share']:.2f}"
                hm = (f"{sum(r['hits'] for r in mine)} / {sum(r['misses'] for r in mine)}"
                      if "hits" in mine[0] else "")
                print(f"| {name} | {100 * t['gain']:+.2f}% | {share} | {t['safety']:.4f} "
                      f"({t['safety_trace']}) | {hm} |")
            print("\nper draw: gain of each base without the salt, and with it minus without "
                  "(points)")
            print("| draw | " + " | ".join(f"{b} | +salt" for b in BASES) + " |")
            print("|---|" + "---|---|" * len(BASES))
            for t in traces:
                cells = []
                for b in BASES:
                    r0, r1 = (next(r for r in got if r["policy"] == f"{b}_salt{s}"
                                   and r["trace"] == t.name) for s in (0, 1))
                    cells += [f"{100 * (1 - r0['ratio']):+.2f}%",
                              f"{100 * (r0['ratio'] - r1['ratio']):+.2f}"]
                print(f"| {t.name} | " + " | ".join(cells) + " |")
    if a.out:
        a.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
