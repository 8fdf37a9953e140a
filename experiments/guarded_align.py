"""Choosing a ``guarded`` table with align values on the development draws.

    python experiments/guarded_align.py --tables DIR/guarded_seed_table1.json \
        [--costmodels seed_table1 host] [--draws 2] [--options '{"use_proof": 1}'] \
        [--baseline guarded] [--per-family]

Compares the shipped table (conf/policy/guarded.yaml) with each table of ``--tables`` (a JSON
list of 320 values, as ``experiments/generalization_study.py --save-tables`` writes it), all
with the shipped options (proof 1, 8 reads, proof_ttl 16), on the development draws of
experiments/guarded_ttl.py and guarded_start.py: ``--draws`` fresh draws of every generator
family from seeds 2000.. (never the protocol's held-out sets, the recorded applications nor
the validation traces). ``--options`` (guarded keywords as JSON) apply to the tables of
``--tables``, over the shipped options (the shipped table keeps the shipped ones). Prints
per cost model and table: the gain (1 - geometric-mean objective / baseline) over the 16
legacy families and over all 17 (with ``alloc_pool``),
the worst draw (objective / baseline) and its family, the gain on ``alloc_pool`` alone, the
cells holding align values, and copied / wasted pages. A table is shipped only if its worst
draw stays <= 1.010 and it loses no gain on the legacy families.

``--baseline`` names the conf/policy file whose table and options are the reference row
(default ``guarded``, the shipped one). With ``--options``, a row ``<baseline>+options`` runs
the reference table with the ``--options`` too (e.g. ``'{"stride_window": 1}'``: the shipped
table with strided windows, not re-learned). ``random/sparse`` counts the pages copied / wasted
on the ``random`` and ``sparse`` draws alone; ``--per-family`` adds each table's gain per family.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import check_draws  # noqa: E402
from cowrl.errors import ConfigError, parse_json, read_json  # noqa: E402
from cowrl.metrics import geomean_gain as gm_gain  # noqa: E402
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.guarded import GuardedPolicy, is_align, shipped_options  # noqa: E402
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--draws", type=int, default=2, help="fresh draws per family")
    ap.add_argument("--tables", type=Path, nargs="*", default=[])
    ap.add_argument("--options", default="{}",
                    help="JSON: guarded keywords for the --tables, over the shipped options")
    ap.add_argument("--baseline", default="guarded",
                    help="the conf/policy file (a guarded policy) of the reference row")
    ap.add_argument("--per-family", action="store_true", help="each table's gain per family")
    args = ap.parse_args()
    check_draws(args.draws)
    shipped = make_policy(args.baseline)
    if not isinstance(shipped, GuardedPolicy):
        raise ConfigError(f"baseline: conf/policy/{args.baseline}.yaml is not a guarded policy")
    kw = shipped_options(args.baseline)
    opts = parse_json(args.options, "--options")
    kw_new = {**kw, **opts}
    # (name, table, options)
    rows: list[tuple[str, list[int], dict]] = [(args.baseline, list(shipped.table), kw)]
    if opts:
        rows.append((f"{args.baseline}+options", list(shipped.table), kw_new))
    for p in args.tables:
        rows.append((str(p), [int(v) for v in read_json(p, "--tables")], kw_new))
    draws = [g.randomized(2000 + d, 0, families=f) for f in g.FAMILIES
             for d in range(args.draws)]
    for name in args.costmodels:
        cost = make_costmodel(name)
        bases = [objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
                 for t in draws]
        print(f"== {name}: {len(draws)} draws ({args.draws} per family, seeds 2000..)",
              flush=True)
        print(f"{'table':<40} {'align':>5} {'gain16':>7} {'gain17':>7} {'alloc_pool':>10} "
              f"{'worst':>6} {'worst family':<14} {'copied':>7} {'wasted':>7} "
              f"{'random/sparse':>13}")
        per_family: dict[str, dict[str, list[float]]] = {}
        for tname, table, tkw in rows:
            rel: dict[str, list[float]] = {}
            copied = wasted = rs_copied = rs_wasted = 0
            worst, worst_f = 0.0, ""
            for t, base in zip(draws, bases, strict=True):
                pol = GuardedPolicy.for_cost(cost, table=table, **tkw)
                rec = simulate(t, pol, cost)
                r = objective(rec, 1.0, cost.page_cost_ns) / base
                fam = str(t.meta.get("family"))
                rel.setdefault(fam, []).append(r)
                copied += rec.precopied
                wasted += rec.wasted
                if fam in ("random", "sparse"):
                    rs_copied += rec.precopied
                    rs_wasted += rec.wasted
                if r > worst:
                    worst, worst_f = r, fam
            per_family[tname] = rel
            legacy = [r for f, v in rel.items() if f in g.LEGACY_FAMILIES for r in v]
            every = [r for v in rel.values() for r in v]
            n_align = sum(is_align(v) for v in table)
            print(f"{tname[-40:]:<40} {n_align:>5} {gm_gain(legacy):>+6.2f}% "
                  f"{gm_gain(every):>+6.2f}% {gm_gain(rel.get('alloc_pool', [1.0])):>+9.2f}% "
                  f"{worst:>6.4f} {worst_f:<14} {copied:>7} {wasted:>7} "
                  f"{f'{rs_copied} / {rs_wasted}':>13}", flush=True)
        if args.per_family:
            print("| table | " + " | ".join(g.FAMILIES) + " |")
            print("|---" * (len(g.FAMILIES) + 1) + "|")
            for tname, rel in per_family.items():
                print(f"| {tname[-40:]} | "
                      + " | ".join(f"{gm_gain(rel[f]):+.2f}" for f in g.FAMILIES) + " |",
                      flush=True)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
