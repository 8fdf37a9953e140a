"""Choose the shielded bandit's options on a development set, never on a protocol's held-out sets.

Trains ``policy=bandit`` through ``train(cfg)`` (as ``python train.py`` does) once per variant
(``--variants 'credit=proposed' 'credit=applied,rounds=10'``: comma-separated train.py
overrides, ``policy.`` added to the policy's keys) and scores each frozen policy with the
protocol's measure on ``--draws`` fresh randomized draws from ``--dev-seed`` (no protocol run
uses it: training draws use ``seed * 7919 + 17 + d // 8``, held-out families ``100_000 + i``).

    python experiments/bandit_dev.py --costmodel seed_table1 --variants credit=proposed \
        credit=applied --refs guarded,bandit_stream

``--family-draws N`` scores on guarded's development draws instead (``N`` fresh draws of every
generator family from seed 2000, as experiments/guarded_ttl.py and guarded_align.py).
``--regions R`` groups the development draws ``R`` at a time into traces of ``R`` regions
(experiments/guarded_ttl.py's ``region_draws``: shuffled by seed 2000, written one region after
the other, ``--layout phases``, or in turns of ``--chunk`` writes, ``interleaved``, or so by
forked children each writing its copy of one buffer, ``forked``): the
multi-region development set (``--family-draws 4 --regions 4``, as guarded_ttl.py's
``--draws 4 --regions 4``).
A variant may train another learner through the same shield (``policy=ppo``, ``policy=dqn``:
``--variants 'policy=ppo,workloads=[rand0,rand1],timesteps=20000,proof_span=1'``; a comma
inside brackets belongs to its list); it is named ``<policy>[<variant>]``.
``--refs`` takes policy names, ``bandit_stream`` (trained) and ``shield64`` / ``shield64_v4``
(the shield alone, ``k = 64`` asked at every fault, with and without the shipped shield keys).
``--artifacts DIR ...`` scores saved artifacts (``train.py out=DIR``, or the ``bandit_dev_*``
directories a run leaves) besides the trained variants.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import tempfile
from pathlib import Path

POLICY_KEYS = ("credit", "context", "shield", "proof", "proof_reads", "proof_ttl", "floor",
               "grant_left", "proof_backoff", "read_credit", "proof_look", "proof_span",
               "proof_skipmap", "proof_duemap", "stride_window",
               "epoch_faults", "costmodel", "learner.gamma", "learner.c")
# --refs shield64: the shield alone (guarded's budget, proof 1, proof_ttl 16, a table of 64s:
# what a learner behind it adds is the rest) with these keys on, as bandit.yaml and
# guarded.yaml ship them; shield64_v4: with them off (the version-4 shield before them).
SHIELD_KEYS = ("proof_backoff", "read_credit", "proof_look", "proof_span")


def train_variant(overrides: list[str], costmodel: str, seed: int, out: Path) -> object:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from cowrl.policies.artifacts import load_policy
    from cowrl.registry import CONF_DIR
    from cowrl.training import train

    over = [f"policy.{o}" if o.split("=")[0] in POLICY_KEYS else o for o in overrides]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", [f"costmodel={costmodel}", f"seed={seed}", f"out={out}",
                                "latest_dir=null", "progress=false", "resume=false", *over])
    GlobalHydra.instance().clear()
    res = train(cfg)
    return load_policy(res["artifact"])


def main() -> None:
    from guarded_ttl import add_region_args, region_draws  # this script's directory is on sys.path

    import cowrl.generalization as G
    from cowrl.devdraws import check_draws
    from cowrl.policies.artifacts import load_policy
    from cowrl.registry import group_config, make_costmodel, make_policy
    from cowrl.traces.generators import FAMILIES, randomized

    ap = argparse.ArgumentParser()
    ap.add_argument("--costmodel", default="seed_table1")
    ap.add_argument("--variants", nargs="*", default=["credit=proposed"])
    ap.add_argument("--refs", default="guarded,readahead")
    ap.add_argument("--draws", type=int, default=24)
    ap.add_argument("--dev-seed", type=int, default=424_242)
    ap.add_argument("--family-draws", type=int, default=0,
                    help="N > 0: N draws of every family from seed 2000 (guarded_ttl.py's)")
    add_region_args(ap)  # guarded_ttl.py's region_draws
    ap.add_argument("--artifacts", nargs="*", default=[],
                    help="saved artifacts to score (besides --variants)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    check_draws(a.draws)
    cost = make_costmodel(a.costmodel)
    # --refs and --artifacts are checked before any variant trains (minutes each)
    refs = [x for x in a.refs.split(",") if x]
    for r in refs:
        if r not in ("bandit_stream", "shield64", "shield64_v4"):
            group_config("policy", r, "--refs")
    artifacts = [(d, load_policy(d)) for d in a.artifacts]
    if a.family_draws > 0:
        dev = [randomized(2000 + d, 0, families=f) for f in FAMILIES
               for d in range(a.family_draws)]
        where = f"{a.family_draws} per family, seed 2000"
    else:
        dev = [randomized(seed=a.dev_seed + d // 8, draw=d % 8) for d in range(a.draws)]
        where = f"seed {a.dev_seed}"
    if a.regions > 1:
        dev = region_draws(dev, a.regions, a.layout, a.chunk)
        where += f", {a.regions} regions each, {a.layout}" + (
            f" in turns of {a.chunk} writes" if a.layout != "phases" else "")
    dev = [dataclasses.replace(t, name=f"dev{i}_{G.family_of(t)}") for i, t in enumerate(dev)]
    out: dict[str, dict] = {}
    policies = []
    for v in a.variants:
        tmp = Path(tempfile.mkdtemp(prefix="bandit_dev_"))
        over = [o for o in re.split(r",(?![^\[]*\])", v) if o]  # not the commas of a list
        learner = ([o.split("=", 1)[1] for o in over if o.startswith("policy=")] or
                   ["bandit"])[-1]
        p = train_variant(over, a.costmodel, a.seed, tmp)
        p.name = f"{learner}[{v}]"
        print(f"trained {p.name}: {tmp}", flush=True)  # an artifact --artifacts can score
        policies.append(p)
    for d, p in artifacts:
        p.name = f"{p.name}[{d}]"  # the artifact's policy (bandit, ppo, dqn)
        policies.append(p)
    for r in refs:
        if r == "bandit_stream":  # the round-1 bandit as a user trains it (the suite)
            p = train_variant(["policy=bandit_stream"], a.costmodel, a.seed,
                              Path(tempfile.mkdtemp(prefix="bandit_dev_")))
            p.name = "bandit_stream"
        elif r in ("shield64", "shield64_v4"):  # the shield alone: k = 64 asked everywhere
            from cowrl.policies.guarded import N_CELLS, GuardedPolicy

            keys = {k: int(r == "shield64") for k in SHIELD_KEYS}
            p = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, proof=1, proof_ttl=16,
                                       name=r, **keys)
        else:
            p = make_policy(r)
        policies.append(p)
    rows = G.measure(policies, dev, cost)
    names = [p.name for p in policies] + ["precopy_best", "oracle"]
    print(f"development set: {len(dev)} randomized draws, {where}, {a.costmodel}")
    print("| policy | gain | share | worst vs baseline | worst vs best k | waste random/sparse "
          "| wasted / precopied |")
    print("|---|---|---|---|---|---|---|")
    for n in names:
        t = G.check_targets([r for r in rows if r["policy"] == n])
        pre = sum(max(r["precopied"], 0) for r in rows if r["policy"] == n)
        share = "-" if t["gain_share"] is None else f"{t['gain_share']:.2f}"
        waste = "-" if t["waste"] is None else f"{100 * t['waste']:.0f}%"
        print(f"| {n} | {100 * t['gain']:+.2f}% | {share} | {t['safety']:.3f} "
              f"({t['safety_trace']}) | {t['near_best']:.3f} | {waste} | "
              f"{t['wasted_all']} / {pre} |")
        out[n] = t
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "targets": out}, default=float))


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
