"""Leave one family out on development draws only: which table learner (or none) to use.

    python experiments/guarded_dev_lofo.py --costmodel host --out host.json [--no-corpus]
        [--train-draws 48] [--test-draws 3] [--families F,...] [--variants shipped,prior64,...]
    python experiments/guarded_dev_lofo.py --report seed_table1.json host.json

For every family F of ``--families`` (default all 17): learn a ``guarded`` table with the
shipped options (``shipped_options('guarded')``, strided windows included), 2 passes, on
``--train-draws`` randomized development traces without F
(``randomized(train_first + d // 8, d % 8, exclude=[F])``, seeds from ``--train-first``, 3000)
plus the recorded corpus (``data/traces``, as the protocol's ``train_corpus: true``;
``--no-corpus`` leaves it out), once per learner variant (``learn_tables``: a pass is replayed
once for the variants it is the same for); test each on ``--test-draws`` fresh development
draws of F (``randomized(first + i, 0, families=F)``, seeds from ``--first``, 2000; the two
seed ranges must not meet). Never the protocol's held-out test traces, the validation traces
nor the unseen programs: unlike experiments/guarded_lofo.py (an evaluation), this is for
choosing.

Variants (:data:`VARIANTS`): the shipped learner (prior 0, margin 0.02), prior 64, prior 64
with margin 0.05 / 0.1, margin 0.05 with prior 0, ``shield64`` (64 in every cell: nothing
learned), and (session 32) the learner with arms priced in the budget's currency
(``learn_table``'s ``charge``: ``charge_budget`` / ``charge_ring`` with prior 0,
``p64_budget`` / ``p64_ring`` with prior 64). ``--against`` names the variant the rule
compares with (default the shipped learner). Prints one line per (family, variant) and,
per variant, the pooled figures over the held-out families (gain, share of the oracle's
gain, worst draw vs baseline, families within 1.10 x the best fixed k, pages copied and
wasted on random/sparse) and the per-family gain difference against the shipped learner.
``--out`` saves the rows; ``--report`` prints the same from saved files (one per cost
model) and applies :func:`rule`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import DEV_FIRST, add_draw_arguments, check_first, development_draws  # noqa: E402
from cowrl.errors import ConfigError  # noqa: E402
from cowrl.generalization import (  # noqa: E402
    UNIFORM_OR_SPARSE,
    check_targets,
    corpus_train_files,
    holdout_names,
    measure,
)
from cowrl.policies.guarded import (  # noqa: E402
    N_CELLS,
    GuardedPolicy,
    learn_tables,
    shipped_options,
)
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.traces.generators import FAMILIES, randomized  # noqa: E402
from cowrl.traces.io import Trace, load_trace  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "data" / "traces"

SHIPPED = "shipped"
VARIANTS: dict[str, tuple[int, float] | tuple[int, float, str] | None] = {
    # name: (learn_table's prior, margin[, charge]); None = no learning, 64 in every cell
    # (shield64)
    SHIPPED: (0, 0.02),
    "prior64": (64, 0.02),
    "prior64_m05": (64, 0.05),
    "prior64_m10": (64, 0.10),
    "m05": (0, 0.05),
    "shield64": None,
    # session 32 (docs/results/charge-learner-s32.md): arms priced in the budget's currency
    "charge_budget": (0, 0.02, "budget"),
    "charge_ring": (0, 0.02, "ring"),
    "p64_budget": (64, 0.02, "budget"),
    "p64_ring": (64, 0.02, "ring"),
}

RULE = {"gain_over_shipped": 0.003, "worst": 1.010, "wasted_random_sparse": 10}
"""Declared before the first comparison (docs/results/dev-lofo-s31.md): a variant replaces
the shipped learner only if, under every cost model, its pooled gain over the held-out
families is at least the shipped learner's + 0.3 point, its worst draw is at most 1.010 x
baseline and it wastes at most 10 pages over the random and sparse draws; among the passing
variants, the largest gain (mean over the cost models)."""


def train_draws(family: str, draws: int, first: int) -> list[Trace]:
    """``draws`` randomized development traces without ``family``: seeds ``first + d // 8``,
    draw ``d % 8`` (as the protocol's ``train_traces`` spreads them)."""
    check_first(first)
    return [randomized(first + d // 8, d % 8, exclude=[family]) for d in range(draws)]


def check_disjoint(first: int, test_draws: int, train_first: int, train_draws: int) -> None:
    """The test seeds ``first..`` and the training seeds ``train_first..`` must not meet."""
    check_first(train_first)
    test = range(first, first + test_draws)
    train = range(train_first, train_first + (train_draws + 7) // 8)
    if set(test) & set(train):
        raise ConfigError(f"--train-first: training seeds {train.start}..{train.stop - 1} meet "
                          f"the test seeds {test.start}..{test.stop - 1}")


def run(cost_name: str, families: list[str], variants: list[str], n_train: int, n_test: int,
        first: int, train_first: int, passes: int, corpus: bool, seed: int = 0,
        progress: bool = True, save: Callable[[list[dict]], None] | None = None
        ) -> list[dict]:
    """One row per (held-out family, variant, test draw), with ``holdout`` and ``variant``;
    ``save`` is given the rows so far after each family."""
    from tqdm import tqdm

    cost = make_costmodel(cost_name)
    kw = shipped_options("guarded")
    learned = [v for v in variants if VARIANTS[v] is not None]
    extra = [load_trace(f) for f in corpus_train_files("", CORPUS)] if corpus else []
    rows: list[dict] = []
    bar = tqdm(families, desc=cost.name, disable=not progress)
    for fam in bar:
        bar.set_postfix_str(fam)
        train = train_draws(fam, n_train, train_first) + extra
        res = learn_tables(train, [cost], [VARIANTS[v] for v in learned], passes=passes,
                           seed=seed, **kw) if learned else []
        tables = {v: r["table"] for v, r in zip(learned, res, strict=True)}
        test = development_draws(fam, n_test, first)
        for v in variants:
            pol = GuardedPolicy.for_cost(cost, table=tables.get(v, [64] * N_CELLS), **kw)
            got = [r for r in measure([pol], test, cost) if r["policy"] == pol.name]
            for r in got:
                r.update(holdout=fam, variant=v, costmodel=cost.name)
            rows += got
            t = check_targets(got)
            tqdm.write(f"{cost.name} {fam} {v}: gain {100 * t['gain']:+.2f}% oracle "
                       f"{100 * t['oracle_gain']:+.1f}% worst {t['safety']:.3f} vsbest "
                       f"{t['near_best']:.3f} pre {sum(r['precopied'] for r in got)} wasted "
                       f"{sum(r['wasted'] for r in got)}"
                       + (f" cells!=prior {sum(x != VARIANTS[v][0] for x in tables[v])}"
                          if v in tables else ""), file=sys.stdout)
        if save:
            save(rows)
    return rows


def pooled(rows: list[dict]) -> dict:
    """A variant's figures over its held-out families (rows of one cost model)."""
    t = check_targets(rows)
    fams = sorted({r["holdout"] for r in rows})
    per = {f: check_targets([r for r in rows if r["holdout"] == f]) for f in fams}
    us = [r for r in rows if r["family"] in UNIFORM_OR_SPARSE]
    return {"gain": t["gain"], "oracle_gain": t["oracle_gain"], "share": t["gain_share"],
            "worst": t["safety"], "worst_trace": t["safety_trace"],
            "near": sum(p["near_best"] <= 1.10 for p in per.values()), "families": len(fams),
            "us_pre": sum(max(r["precopied"], 0) for r in us),
            "us_wasted": sum(max(r["wasted"], 0) for r in us),
            "per": {f: p["gain"] for f, p in per.items()}}


def report(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """Print the pooled figures per cost model and variant, the per-family differences
    against the shipped learner; return ``{costmodel: {variant: pooled}}``."""
    out: dict[str, dict[str, dict]] = {}
    for cm in dict.fromkeys(r["costmodel"] for r in rows):
        got = {v: pooled([r for r in rows if r["costmodel"] == cm and r["variant"] == v])
               for v in dict.fromkeys(r["variant"] for r in rows if r["costmodel"] == cm)}
        out[cm] = got
        print(f"\n## {cm}: pooled over the held-out families")
        print("| variant | gain | share of oracle | worst draw | within 1.10 of best k | "
              "random/sparse copied / wasted |")
        print("|---|---|---|---|---|---|")
        for v, p in got.items():
            share = "-" if p["share"] is None else f"{p['share']:.2f}"
            print(f"| {v} | {100 * p['gain']:+.2f}% (oracle {100 * p['oracle_gain']:+.1f}%) | "
                  f"{share} | {p['worst']:.4f} ({p['worst_trace']}) | "
                  f"{p['near']}/{p['families']} | {p['us_pre']} / {p['us_wasted']} |")
        if SHIPPED in got:
            others = [v for v in got if v != SHIPPED]
            print(f"\n{cm}: per-family gain, points against {SHIPPED}")
            print(f"| family | {SHIPPED} gain | " + " | ".join(others) + " |")
            print("|---|---|" + "---|" * len(others))
            for f, g0 in got[SHIPPED]["per"].items():
                print(f"| {f} | {100 * g0:+.2f}% | " + " | ".join(
                    f"{100 * (got[v]['per'].get(f, float('nan')) - g0):+.2f}" for v in others)
                      + " |")
    return out


def rule(figs: dict[str, dict[str, dict]], against: str = SHIPPED
         ) -> tuple[str, dict[str, list[str]]]:
    """:data:`RULE` over ``{costmodel: {variant: pooled}}``, each variant against
    ``against`` (default the shipped learner): the winner (``against`` if no variant passes)
    and, per variant, the clauses it failed."""
    fails: dict[str, list[str]] = {}
    variants = [v for v in next(iter(figs.values())) if v != against]
    for v in variants:
        bad = []
        for cm, got in figs.items():
            p, s = got[v], got[against]
            if p["gain"] < s["gain"] + RULE["gain_over_shipped"]:
                bad.append(f"{cm} gain {100 * (p['gain'] - s['gain']):+.2f} point < +0.30")
            if p["worst"] > RULE["worst"]:
                bad.append(f"{cm} worst {p['worst']:.4f} > {RULE['worst']}")
            if p["us_wasted"] > RULE["wasted_random_sparse"]:
                bad.append(f"{cm} random/sparse wasted {p['us_wasted']} > "
                           f"{RULE['wasted_random_sparse']}")
        fails[v] = bad
    passing = [v for v in variants if not fails[v]]
    win = max(passing, key=lambda v: sum(got[v]["gain"] for got in figs.values()),
              default=against)
    return win, fails


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodel", default="seed_table1")
    ap.add_argument("--families", default=",".join(FAMILIES), help="held out, comma-separated")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--train-draws", type=int, default=48,
                    help="randomized training traces per held-out family")
    ap.add_argument("--train-first", type=int, default=3000,
                    help="first training seed (2000+, away from the test seeds)")
    ap.add_argument("--test-draws", type=int, default=3, help="development draws per family")
    add_draw_arguments(ap, heldout=False, first=DEV_FIRST,
                       first_note="the held-out family's test draws")
    ap.add_argument("--passes", type=int, default=2, help="learn_table's passes")
    ap.add_argument("--no-corpus", action="store_true", help="learn without data/traces")
    ap.add_argument("--out", type=Path, default=None, help="save the rows (JSON)")
    ap.add_argument("--report", type=Path, nargs="+", default=None,
                    help="only print the figures and the rule's verdict from saved rows")
    ap.add_argument("--against", default=SHIPPED,
                    help="--report: the variant the rule compares every other with")
    args = ap.parse_args()
    if args.against not in VARIANTS:
        raise ConfigError(f"--against: {args.against!r} is not one of {', '.join(VARIANTS)}")
    if args.report:
        rows = []
        for f in args.report:
            try:
                rows += json.loads(f.read_text())["rows"]
            except (OSError, ValueError, KeyError) as e:
                raise ConfigError(f"--report: {f}: {type(e).__name__}: {e}") from None
        figs = report(rows)
        if all(args.against in got for got in figs.values()) and len(figs) > 0:
            win, fails = rule(figs, args.against)
            against = "" if args.against == SHIPPED else f"; against {args.against}"
            print(f"\nrule ({', '.join(figs)}{against}): " + "; ".join(
                f"{v} {'passes' if not bad else 'fails: ' + ', '.join(bad)}"
                for v, bad in fails.items()))
            print(f"winner: {win}")
        return
    for name in ("train_draws", "test_draws", "passes"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')}: must be at least 1")
    check_first(args.first)
    check_disjoint(args.first, args.test_draws, args.train_first, args.train_draws)
    fams = holdout_names(args.families, "--families", families_only=True)
    variants = [v for v in args.variants.split(",") if v]
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not variants:
        raise ConfigError(f"--variants: {bad[0] if bad else args.variants!r} is not one of "
                          f"{', '.join(VARIANTS)}")
    def save(rows: list[dict]) -> None:
        if args.out:
            args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                            "rows": rows}, default=lambda o: o.item()))

    rows = run(args.costmodel, fams, variants, args.train_draws, args.test_draws, args.first,
               args.train_first, args.passes, not args.no_corpus, save=save)
    report(rows)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
