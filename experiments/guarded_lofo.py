"""Leave one family (or recorded application) out with *learned* ``guarded`` tables, per
design option: the quick form of the protocol for choosing an option (1 training seed).

    python experiments/guarded_lofo.py --costmodel host \
        --options '{"protect": false, "merge": false, "floor": 0}' '{}'

For every held-out set (a family, or ``app:NAME``) and option: learn the table on 48
randomized training traces without that family plus the recorded corpus without that
application (as ``experiments/generalization.py`` does, ``train_corpus: true``), with the
option's budget, 2 passes; test on 3 fresh draws of the family (or the app's recordings).
``--train-draws``, ``--passes``, ``--test-draws`` and ``--no-corpus`` (the randomized traces
alone: learning on the recordings takes minutes) shrink that, for the CI's small setting; the
protocol's figures are from the defaults.
Prints one line per (set, option), then per option the pooled figures over the families
(gain, share of the oracle's gain, worst vs baseline, worst vs best fixed k, waste on
random/sparse, families within 1.10 x of the best fixed k). Options are
:class:`cowrl.policies.guarded.GuardedPolicy` keywords over its constructor's defaults: ``{}``
is those defaults (version 2's decisions, no proofs), *not* the shipped options; for those pass
``cowrl.policies.guarded.shipped_options()`` (conf/policy/guarded.yaml's) as JSON, as
docs/traces.md ("Leave one application out") does.

An option with ``proof: 1`` (version 4) is learned and measured with the cost model's
``proof_clean_ns`` added to every copied page (``GuardedPolicy.priced``, as ``simulate``
prices it everywhere; the budget's gain and loss follow), while baseline, the best fixed k
and the oracle keep the plain cost model (they clean nothing). ``--clean-ns X`` overrides
the cost model's ``proof_clean_ns`` (0: the clean unpriced).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.errors import ConfigError, parse_json  # noqa: E402
from cowrl.generalization import (  # noqa: E402
    APP_PREFIX,
    VALIDATION,
    app_traces,
    check_targets,
    corpus_train_files,
    holdout_names,
    measure,
    test_traces,
    train_traces,
)
from cowrl.policies.guarded import GuardedPolicy, learn_table  # noqa: E402
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.traces.generators import FAMILIES, LEGACY_FAMILIES  # noqa: E402
from cowrl.traces.io import load_trace  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guarded_options import CORPUS, summary  # noqa: E402

# Every application of the recorded corpus (data/traces: app = file stem up to its first "_").
APPS = tuple(f"{APP_PREFIX}{app}" for app in app_traces(CORPUS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--costmodel", default="seed_table1")
    ap.add_argument("--holdouts", default=",".join([*FAMILIES, *APPS]))
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--train-draws", type=int, default=48,
                    help="randomized training traces per held-out set")
    ap.add_argument("--passes", type=int, default=2, help="learn_table's passes")
    ap.add_argument("--test-draws", type=int, default=3, help="fresh draws of a held-out family")
    ap.add_argument("--no-corpus", action="store_true",
                    help="learn on the randomized traces alone (not the protocol: a smoke test)")
    ap.add_argument("--options", nargs="+", default=["{}"])
    ap.add_argument("--validation-dir", type=Path, default=None,
                    help="with --holdouts validation: measure (never choose) on these traces")
    ap.add_argument("--clean-ns", type=float, default=None,
                    help="override the cost model's proof_clean_ns (ns per page a proof: 1 "
                         "window copies)")
    ap.add_argument("--shipped-table", action="store_true",
                    help="with --holdouts validation: measure conf/policy/guarded.yaml's table "
                         "(learned on every family and the whole corpus) instead of learning")
    args = ap.parse_args()
    for name in ("train_draws", "passes", "test_draws"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')}: must be at least 1")
    holdouts = holdout_names(args.holdouts, "--holdouts", CORPUS)
    shipped = None
    if args.shipped_table:
        if args.holdouts != VALIDATION:
            ap.error("--shipped-table: only with --holdouts validation (the shipped table was "
                     "learned on every family and application)")
        from omegaconf import OmegaConf

        from cowrl.registry import CONF_DIR

        shipped = list(OmegaConf.load(CONF_DIR / "policy" / "guarded.yaml")["table"])
    cost = make_costmodel(args.costmodel)
    if args.clean_ns is not None:
        cost = dataclasses.replace(cost, proof_clean_ns=args.clean_ns)
    print(f"costmodel {cost.name}: proof_clean_ns {cost.proof_clean_ns:g}", flush=True)
    opts = [parse_json(o, "--options") for o in args.options]
    rows: dict[str, list[tuple[str, dict]]] = {o: [] for o in args.options}
    for ho in holdouts:
        app = ho.startswith(APP_PREFIX) or ho == VALIDATION
        train = train_traces([] if app else [ho], args.seed, args.train_draws)
        if not args.no_corpus:
            train += [load_trace(f) for f in corpus_train_files(ho, CORPUS)]
        test = test_traces(ho, args.test_draws, args.validation_dir, CORPUS if app else None)
        for text, kw in zip(args.options, opts, strict=True):
            # learn_table and simulate price a proof: 1 policy with its clean
            table = shipped or learn_table(train, [cost], seed=args.seed,
                                           passes=args.passes, **kw)["table"]
            pol = GuardedPolicy.for_cost(cost, table=table, **kw)
            got = [r for r in measure([pol], test, cost) if r["policy"] == pol.name]
            rows[text] += [(ho, r) for r in got]
            t = check_targets(got)
            if ho == VALIDATION:
                print(f"{ho} {text}: {summary(got)}")
            print(f"{ho} {text} gain {100 * t['gain']:+.1f}% oracle "
                  f"{100 * t['oracle_gain']:+.1f}% worst {t['safety']:.3f} vsbest "
                  f"{t['near_best']:.3f} pre {sum(r['precopied'] for r in got)} wasted "
                  f"{sum(r['wasted'] for r in got)}", flush=True)
    for text, rr in rows.items():
        fam = [r for ho, r in rr if not ho.startswith(APP_PREFIX) and ho != VALIDATION]
        if not fam:
            continue
        sets = sorted({ho for ho, _ in rr if not ho.startswith(APP_PREFIX) and ho != VALIDATION})
        near = sum(check_targets([r for h, r in rr if h == s])["near_best"] <= 1.10
                   for s in sets)
        print(f"TOTAL {text}: {summary(fam)}, within 1.10 of best k {near}/{len(sets)}")
        legacy = [r for ho, r in rr if ho in LEGACY_FAMILIES]
        if legacy and len(legacy) < len(fam):  # comparable with the 16-family figures
            print(f"TOTAL16 {text}: {summary(legacy)}")

if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
