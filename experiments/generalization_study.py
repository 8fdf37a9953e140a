"""Design study: today's policies and ``guarded`` on traces they never trained on.

    python experiments/generalization_study.py --artifacts DIR [--costmodels seed_table1,host]

Prints, per cost model, one row per policy: the geometric-mean objective / baseline and
the worst trace on (a) the public validation traces (``../shared/validation``, read in
place; skipped when absent) and (b) fresh draws of every generator family, then the
issue's targets on the validation traces. Trained policies come from ``--artifacts``:
``DIR/<policy>_<costmodel>/policy.json`` as written by
``python train.py policy=<policy> costmodel=<costmodel> out=DIR/<policy>_<costmodel>``
(bandit, ppo, dqn; ``bandit_suite`` = the bandit trained on the old fixed suite only).
``guarded`` is learned here on the randomized distribution (all families; never on
the validation traces) unless ``--no-guarded``, with the budget options of ``--policy``
(default ``guarded``: ``shipped_options()``, conf/policy/guarded.yaml's; ``guarded_adjacent``
for the adjacent one) and ``--options`` (guarded keywords as JSON, e.g.
``'{"floor_slow": 5}'``) over them, and ``--corpus`` (the recorded corpus ``data/traces``
joins training, as ``experiments/guarded_lofo.py --holdouts validation`` learns it). The
table is saved (``--save-tables``) and loaded (``--tables``) as ``<policy>_<costmodel>.json``
and measured with the same options. So ``--save-tables DIR --costmodels seed_table1
--no-families --validation-dir /nonexistent --corpus`` re-learns the table that
conf/policy/guarded.yaml ships.

``--from-defaults`` applies ``--options`` over ``GuardedPolicy``'s constructor defaults
(version 2: floor 0, grant_left 2, proof 0, no backoff, no walk, adjacent windows) instead,
as this script did before session 30: the commands documented before then (e.g.
``--options '{"proof": 1, "proof_ttl": 16}'``, which learned the table of
conf/policy/guarded_adjacent.yaml; docs/policies.md's ``--options`` studies of sessions
before 30) need it to learn what they learned then, with the cost models of their time
(conf/policy/guarded_adjacent.yaml: with today's seed_table1 proof prices 31 cells differ).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.errors import ConfigError, parse_json, read_json  # noqa: E402
from cowrl.generalization import (  # noqa: E402
    VALIDATION,
    check_targets,
    measure,
    test_traces,
    train_traces,
)
from cowrl.policies.artifacts import load_policy  # noqa: E402
from cowrl.registry import CONF_DIR, group_config, make_costmodel, make_policy  # noqa: E402
from cowrl.traces.generators import FAMILIES  # noqa: E402

LEARNED = ("bandit_suite", "bandit", "ppo", "dqn")
CORPUS = Path(__file__).resolve().parent.parent / "data" / "traces"


def learner_options(text: str, policy: str = "guarded",
                    from_defaults: bool = False) -> dict[str, Any]:
    """The ``GuardedPolicy`` keywords the table is learned and measured with: ``text`` (the
    JSON of ``--options``) over the options of conf/policy/``<policy>``.yaml
    (``shipped_options(policy)``), or over the constructor defaults with ``from_defaults``;
    a one-line ConfigError naming ``--options`` (or ``--policy``) for a bad one."""
    from cowrl.policies.guarded import GuardedPolicy, budget_option_names, shipped_options

    opts = parse_json(text, "--options")
    if not isinstance(opts, dict):
        raise ConfigError(f"--options: must be a JSON object of guarded options, e.g. "
                          f"'{{\"floor_slow\": 5}}', got {text!r}")
    allowed = budget_option_names()
    for key in opts:
        if key not in allowed:
            raise ConfigError(f"--options: {key!r} is not a budget option of guarded "
                              f"({', '.join(sorted(allowed))})")
    base: dict[str, Any] = {}
    if not from_defaults:
        if group_config("policy", policy, "--policy").get("_target_") != (
                "cowrl.policies.guarded.make_guarded"):
            raise ConfigError(f"--policy: conf/policy/{policy}.yaml is not a guarded policy")
        base = shipped_options(policy)
    kw = {**base, **opts}
    try:
        GuardedPolicy(**kw)
    except ConfigError as e:
        raise ConfigError(f"--options: {str(e).splitlines()[0]}") from None
    return kw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", type=Path, default=None)
    ap.add_argument("--costmodels", default="seed_table1,host")
    ap.add_argument("--validation-dir", type=Path,
                    default=Path(os.environ.get("COWRL_VALIDATION_DIR", "")
                                 or CONF_DIR.parent.parent / "shared" / "validation"),
                    help="default: $COWRL_VALIDATION_DIR, else ../shared/validation from the "
                         "project root")
    ap.add_argument("--family-draws", type=int, default=2)
    ap.add_argument("--train-draws", type=int, default=48)
    ap.add_argument("--no-guarded", action="store_true")
    ap.add_argument("--no-families", action="store_true")
    ap.add_argument("--tables", type=Path, default=None,
                    help="load <policy>_<costmodel>.json from here instead of learning")
    ap.add_argument("--save-tables", type=Path, default=None,
                    help="write the learned table per cost model here, as "
                         "<policy>_<costmodel>.json")
    ap.add_argument("--policy", default="guarded",
                    help="the guarded policy file (conf/policy/<policy>.yaml) whose budget "
                         "options the table is learned and measured with (default: guarded, "
                         "the shipped one; guarded_adjacent: its adjacent windows)")
    ap.add_argument("--options", default="{}",
                    help="JSON: GuardedPolicy keywords over --policy's options (e.g. "
                         "'{\"floor_slow\": 5}'; '{}' = the options --policy ships)")
    ap.add_argument("--from-defaults", action="store_true",
                    help="--options over GuardedPolicy's constructor defaults (version 2), "
                         "not over --policy's options: how the commands documented before "
                         "session 30 learned")
    ap.add_argument("--corpus", action="store_true",
                    help="the recorded corpus (data/traces) joins the guarded training traces")
    ap.add_argument("--passes", type=int, default=2, help="learn_table's passes")
    ap.add_argument("--train-seed", type=int, default=0,
                    help="training seed: the randomized training draws and the exploration")
    args = ap.parse_args()
    opts = learner_options(args.options, args.policy, args.from_defaults)
    for cm in args.costmodels.split(","):
        cost = make_costmodel(cm)
        policies = [make_policy(n) for n in ("readahead", "precopy")]
        for name in LEARNED:
            path = args.artifacts / f"{name}_{cm}" / "policy.json" if args.artifacts else None
            if path is not None and path.is_file():
                policies.append(load_policy(path, name=name))
        if args.tables is not None:
            from cowrl.policies.guarded import GuardedPolicy

            g = GuardedPolicy.for_cost(cost, name=args.policy, **opts)
            g.table = read_json(args.tables / f"{args.policy}_{cm}.json", "--tables")
            policies.append(g)
        elif not args.no_guarded:
            from cowrl.policies.guarded import GuardedPolicy, learn_table

            t0 = time.time()
            train = train_traces([], args.train_seed, args.train_draws)
            if args.corpus:
                from cowrl.generalization import corpus_train_files
                from cowrl.traces.io import load_trace

                train += [load_trace(f) for f in corpus_train_files(VALIDATION, CORPUS)]
            res = learn_table(train, [cost], passes=args.passes, seed=args.train_seed,
                              **opts)
            g = GuardedPolicy.for_cost(cost, name=args.policy, **opts)
            g.table = res["table"]
            policies.append(g)
            if args.save_tables:
                args.save_tables.mkdir(parents=True, exist_ok=True)
                (args.save_tables / f"{args.policy}_{cm}.json").write_text(
                    json.dumps(res["table"]))
            print(f"[{cm}] {args.policy} learned on {args.train_draws} randomized traces "
                  f"{'+ the corpus ' if args.corpus else ''}in {time.time() - t0:.0f} s")
        groups = {}
        if args.validation_dir.is_dir():
            groups[VALIDATION] = test_traces(VALIDATION, 0, args.validation_dir, None)
        if not args.no_families:
            groups["families"] = [t for f in FAMILIES
                                  for t in test_traces(f, args.family_draws, None, None)]
        for gname, traces in groups.items():
            rows = measure(policies, traces, cost)
            print(f"\n## {cm}: {gname} ({len(traces)} traces)\n")
            print("| policy | geomean vs baseline | gain | share of oracle | worst vs baseline "
                  "| worst vs best k | waste (random/sparse) | targets met |")
            print("|---|---|---|---|---|---|---|---|")
            names = [p.name for p in policies] + ["precopy_best", "oracle"]
            for name in names:
                pr = [r for r in rows if r["policy"] == name]
                if not pr:
                    continue
                t = check_targets(pr)
                gm = float(np.exp(np.mean(np.log([r["ratio"] for r in pr]))))
                keys = ("safety", "near_best", "gain_share", "waste")
                met = [k for k in keys if t[f"ok_{k}"]]
                missed = [k for k in keys if t[f"ok_{k}"] is False]
                waste = "-" if t["waste"] is None else f"{100 * t['waste']:.1f}%"
                share = "-" if t["gain_share"] is None else f"{t['gain_share']:.2f}"
                print(f"| {name} | {gm:.3f} | {100 * t['gain']:+.1f}% | {share} | "
                      f"{t['safety']:.3f} ({t['safety_trace']}) | {t['near_best']:.3f} "
                      f"({t['near_best_trace']}) | {waste} | {len(met)}/{len(met) + len(missed)}"
                      f"{' missed ' + ','.join(missed) if missed else ''} |")
            if gname == VALIDATION:
                print("\nper trace (objective / baseline):\n")
                traces_n = [t.name for t in traces]
                print("| policy | " + " | ".join(traces_n) + " |")
                print("|---|" + "---|" * len(traces_n))
                for name in names:
                    by = {r["trace"]: r["ratio"] for r in rows if r["policy"] == name}
                    if by:
                        print(f"| {name} | " + " | ".join(f"{by[t]:.3f}" for t in traces_n)
                              + " |")


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
