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
``p64_budget`` / ``p64_ring`` with prior 64), and (session 34) ``shield64_below4`` /
``shield64_below16`` (``shield64`` with ``group_below: 4`` / ``16``: :data:`OPTIONS`), and
(session 40) ``shield64_runcap`` (``shield64`` with ``run_cap: 1``), and (session 41)
``shield64_depthcap`` (``shield64`` with ``depth_cap: 1``) and ``shipped_depthcap`` (the
shipped learner's table, learned as ``shipped``, run with ``depth_cap: 1``), and (session 42)
``shield64_slots8`` / ``shield64_slots16`` (``shield64`` with ``slots: 8`` / ``16`` stream
slots instead of 4; docs/results/stream-slots-s42.md), and ``shipped_slots8`` (the shipped
learner with 8 slots, its table learned with them: :data:`LEARN_WITH_OPTIONS`; a report), and
(session 43) ``shield64_lastlook`` / ``shipped_lastlook`` (``last_look: 1``;
docs/results/last-look-s43.md), and (session 44) ``shield64_regionlook`` /
``shield64_regionlook2`` / ``shield64_regionlook3`` (``region_look: 1`` / ``2`` / ``3``;
docs/results/region-look-s44.md).
``--against`` names the variant the rule compares with (default the shipped learner), and
the per-family differences are printed against it; ``--max-family-drop P`` adds the clause
that no held-out family's gain falls by more than P points against it (session 34's rule).
``--on-corpus`` measures variants that learn nothing on the recorded corpus (``data/traces``,
in-sample for the learners) instead, per trace, and applies no rule.
Prints one line per (family, variant) and, per variant, the pooled figures over the held-out
families (gain, share of the oracle's gain, worst draw vs baseline, families within 1.10 x
the best fixed k, pages copied and wasted on random/sparse) and the per-family gain
difference against ``--against``.
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
    # session 34 (docs/results/group-below-s34.md): shield64 whose windows also copy the
    # fault's aligned group below it (GuardedPolicy's group_below, a simulator study)
    "shield64_below4": None,
    "shield64_below16": None,
    # session 40 (docs/results/region-sentinels-s40.md): shield64 with the sentinel index
    # salted by the region (GuardedPolicy's sentinel_salt)
    "shield64_salt": None,
    # session 40 (docs/results/run-cap-s40.md): shield64 whose windows at a stream fault stop
    # where the stream's previous run's length ends (GuardedPolicy's run_cap, a simulator study)
    "shield64_runcap": None,
    # session 41 (docs/results/depth-cap-s41.md): shield64 whose windows stop before the
    # shallowest depth whose copies were proven below the budget's break-even precision
    # (GuardedPolicy's depth_cap, a simulator study)
    "shield64_depthcap": None,
    # ... and the shipped learner's table (learned without it: learn_table refuses it) run
    # with depth_cap: 1 (a report, not a rule's candidate)
    "shipped_depthcap": (0, 0.02),
    # session 42 (docs/results/stream-slots-s42.md): shield64 with 8 / 16 stream slots per
    # region instead of 4 (GuardedPolicy's slots; the module's table field, up to
    # COWRL_POLICY_MAX_SLOTS; a simulator study)
    "shield64_slots8": None,
    "shield64_slots16": None,
    # ... and the shipped learner with 8 slots, its table learned with them too
    # (:data:`LEARN_WITH_OPTIONS`; a report, not a rule's candidate)
    "shipped_slots8": (0, 0.02),
    # session 43 (docs/results/last-look-s43.md): shield64 whose ring entries about to be
    # overwritten are read once first (GuardedPolicy's last_look, a simulator study), and the
    # shipped learner's table (learned as shipped) run with it (a report)
    "shield64_lastlook": None,
    "shipped_lastlook": (0, 0.02),
    # session 44 (docs/results/region-look-s44.md): shield64 whose last looks' credit goes to
    # a late reserve only its row's windows in its region may draw on (GuardedPolicy's
    # region_look 1; 2: a bounded release, at most what the budget holds)
    "shield64_regionlook": None,
    "shield64_regionlook2": None,
    # ... and region_look 3: the windows a late reserve financed keep their proofs' credit in
    # it (the doc's section 5)
    "shield64_regionlook3": None,
}
OPTIONS: dict[str, dict[str, int]] = {
    "shield64_below4": {"group_below": 4},
    "shield64_below16": {"group_below": 16},
    "shield64_salt": {"sentinel_salt": 1},
    "shield64_runcap": {"run_cap": 1},
    "shield64_depthcap": {"depth_cap": 1},
    "shipped_depthcap": {"depth_cap": 1},
    "shield64_slots8": {"slots": 8},
    "shield64_slots16": {"slots": 16},
    "shipped_slots8": {"slots": 8},
    "shield64_lastlook": {"last_look": 1},
    "shipped_lastlook": {"last_look": 1},
    "shield64_regionlook": {"region_look": 1},
    "shield64_regionlook2": {"region_look": 2},
    "shield64_regionlook3": {"region_look": 3},
}
"""Options a variant sets over the shipped ones (``shipped_options('guarded')``)."""

LEARN_WITH_OPTIONS = frozenset({"shipped_slots8"})
"""Learned variants whose table is learned with their :data:`OPTIONS` too (the others are
learned with the shipped options alone and run with theirs, as ``shipped_depthcap``)."""

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
        tables: dict[str, list[int]] = {}
        groups: dict[str, list[str]] = {}  # learned alike: the options they learn with
        for v in learned:
            groups.setdefault(json.dumps(OPTIONS.get(v, {}) if v in LEARN_WITH_OPTIONS
                                         else {}, sort_keys=True), []).append(v)
        for opts, vs in groups.items():
            res = learn_tables(train, [cost], [VARIANTS[v] for v in vs], passes=passes,
                               seed=seed, **{**kw, **json.loads(opts)})
            tables.update({v: r["table"] for v, r in zip(vs, res, strict=True)})
        test = development_draws(fam, n_test, first)
        for v in variants:
            pol = GuardedPolicy.for_cost(cost, table=tables.get(v, [64] * N_CELLS),
                                         **{**kw, **OPTIONS.get(v, {})})
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


def corpus_run(cost_name: str, variants: list[str], against: str) -> list[dict]:
    """``--on-corpus``: variants that learn nothing (``VARIANTS[v] is None``) measured on
    every recorded trace of ``data/traces`` (in-sample for the learners, which train on it);
    prints each trace's gain and the difference against ``against`` (points), applies no
    rule; returns the rows."""
    learned = [v for v in variants if VARIANTS[v] is not None]
    if learned:
        raise ConfigError(f"--on-corpus: {learned[0]} learns on the corpus; only variants "
                          "that learn nothing are measured there")
    cost = make_costmodel(cost_name)
    kw = shipped_options("guarded")
    traces = [load_trace(f) for f in corpus_train_files("", CORPUS)]
    rows: list[dict] = []
    for v in variants:
        pol = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS,
                                     **{**kw, **OPTIONS.get(v, {})})
        got = [r for r in measure([pol], traces, cost) if r["policy"] == pol.name]
        for r in got:
            r.update(holdout=r["trace"], variant=v, costmodel=cost.name)
        rows += got
    gains = {(r["variant"], r["trace"]): 1 - r["ratio"] for r in rows}
    names = list(dict.fromkeys(r["trace"] for r in rows))
    others = [v for v in variants if v != against]
    print(f"\n{cost.name}: recorded corpus (in-sample), gain, points against {against}")
    print(f"| trace | {against} gain | " + " | ".join(others) + " |")
    print("|---|---|" + "---|" * len(others))
    for n in names:
        g0 = gains.get((against, n), float("nan"))
        print(f"| {n} | {100 * g0:+.2f}% | " + " | ".join(
            f"{100 * (gains[(v, n)] - g0):+.2f}" for v in others) + " |")
    return rows


def report(rows: list[dict], against: str = SHIPPED) -> dict[str, dict[str, dict]]:
    """Print the pooled figures per cost model and variant, the per-family differences
    against ``against`` (the shipped learner unless given; if it is not among the rows, the
    shipped learner); return ``{costmodel: {variant: pooled}}``."""
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
        ref = against if against in got else SHIPPED
        if ref in got:
            others = [v for v in got if v != ref]
            print(f"\n{cm}: per-family gain, points against {ref}")
            print(f"| family | {ref} gain | " + " | ".join(others) + " |")
            print("|---|---|" + "---|" * len(others))
            for f, g0 in got[ref]["per"].items():
                print(f"| {f} | {100 * g0:+.2f}% | " + " | ".join(
                    f"{100 * (got[v]['per'].get(f, float('nan')) - g0):+.2f}" for v in others)
                      + " |")
    return out


def rule(figs: dict[str, dict[str, dict]], against: str = SHIPPED,
         max_family_drop: float | None = None) -> tuple[str, dict[str, list[str]]]:
    """:data:`RULE` over ``{costmodel: {variant: pooled}}``, each variant against
    ``against`` (default the shipped learner): the winner (``against`` if no variant passes)
    and, per variant, the clauses it failed. ``max_family_drop`` (a fraction, 0.005 = 0.5
    point; session 34's rule): also fail a variant where a held-out family's gain falls by
    more than that against ``against``, under any cost model."""
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
            if max_family_drop is not None:
                for f, g0 in s["per"].items():
                    drop = g0 - p["per"].get(f, float("-inf"))
                    if drop > max_family_drop + 1e-12:
                        bad.append(f"{cm} {f} gain {-100 * drop:+.2f} point < "
                                   f"-{100 * max_family_drop:.2f}")
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
    ap.add_argument("--max-family-drop", type=float, default=None,
                    help="--report: also fail a variant where a family's gain falls by more "
                         "than this many points against --against (session 34: 0.5)")
    ap.add_argument("--on-corpus", action="store_true",
                    help="measure variants that learn nothing on data/traces (in-sample), "
                         "per trace; no rule")
    args = ap.parse_args()
    if args.against not in VARIANTS:
        raise ConfigError(f"--against: {args.against!r} is not one of {', '.join(VARIANTS)}")
    if args.max_family_drop is not None and not args.max_family_drop >= 0:
        raise ConfigError(f"--max-family-drop: must be >= 0 points, got {args.max_family_drop}")
    drop = None if args.max_family_drop is None else args.max_family_drop / 100
    if args.report:
        rows = []
        for f in args.report:
            try:
                rows += json.loads(f.read_text())["rows"]
            except (OSError, ValueError, KeyError) as e:
                raise ConfigError(f"--report: {f}: {type(e).__name__}: {e}") from None
        figs = report(rows, args.against)
        if all(args.against in got for got in figs.values()) and len(figs) > 0:
            win, fails = rule(figs, args.against, drop)
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
    if args.on_corpus:
        rows = corpus_run(args.costmodel, variants, args.against)
        if args.out:
            args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                            "rows": rows}, default=lambda o: o.item()))
        return

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
