"""Distil a shielded PPO/DQN into a guarded table that runs on both targets (its kernel form).

    python experiments/distill.py --checkpoint DIR/policy.json --out DIR2 \
        [--costmodel seed_table1] [--rounds 2] [--name ppo_table]

Runs the network (``python train.py policy=ppo|dqn``, ``shield: true``) in the simulator over
its training distribution: the workloads it was trained on (the artifact's config, default the
generator suite) and the randomized draws rand0..rand7, each drawn ``--rounds`` times at the
training seeds (:func:`cowrl.training.core.workload_seed` of the artifact's seed), plus the
recorded corpus (data/traces). Never the validation traces, the never-seen set or held-out
results.
At every demand fault it records the guarded cell, the network's proposed ``k`` (before the
shield) and whether the shield was open (would let any window open); the table keeps per cell
the ``k`` proposed most often where it was open (``--faults every``: at every fault;
:mod:`cowrl.policies.distill`).

``DIR2/policy.json`` is a ``guarded`` artifact under the network's own shield (its options;
its prices from each run's cost model, as ``guarded``'s ``costmodel: auto``):
``python eval.py checkpoints=[DIR2/policy.json]`` runs it, ``target=kernel`` included. The
script prints the agreement (share of faults where the table's ``k`` is the network's
proposal) on the distillation traces and on guarded's development draws (2 fresh draws of
every generator family from seed 2000), which it was not distilled on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.errors import ConfigError  # noqa: E402

RANDOMIZED = [f"rand{i}" for i in range(8)]


def main() -> int:
    from tqdm import tqdm

    from cowrl.cli import output_dir
    from cowrl.paths import require
    from cowrl.policies.artifacts import (
        ARTIFACT_NAME,
        policy_from_artifact,
        read_artifact,
        save_artifact,
    )
    from cowrl.policies.distill import agreement, check_shielded, distill, proposals
    from cowrl.registry import make_costmodel, make_workload
    from cowrl.traces import generators as g
    from cowrl.traces.io import corpus_trace
    from cowrl.training.core import workload_seed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, help="a PPO/DQN policy.json (train.py)")
    ap.add_argument("--out", required=True, help="directory of the guarded artifact")
    ap.add_argument("--costmodel", default=None,
                    help="cost model the network runs under (default: its training one)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="draws of each training workload (training seeds of rounds 0..)")
    ap.add_argument("--name", default=None, help="the table's name (default <network>_table)")
    ap.add_argument("--faults", default="open", choices=["open", "every"],
                    help="faults whose proposals count: where the shield was open (default; "
                         "elsewhere every proposal gives k = 0), or every fault")
    ap.add_argument("--dev-draws", type=int, default=2,
                    help="development draws per family for the agreement off the traces")
    args = ap.parse_args()
    if args.rounds < 1:
        raise ConfigError(f"--rounds: at least 1, got {args.rounds}")
    art = read_artifact(args.checkpoint, "--checkpoint")
    if art["kind"] != "sb3":
        raise ConfigError(f"--checkpoint: {art['_path']} holds a {art['kind']!r} policy, not "
                          "a PPO/DQN (sb3) network")
    net = check_shielded(policy_from_artifact(art), f"--checkpoint: {art['_path']}")
    out = output_dir(args.out, "--out")
    config = art.get("config") or {}
    cm_spec = args.costmodel or config.get("costmodel") or "seed_table1"
    cost = make_costmodel(cm_spec, "--costmodel")
    seed = int(config.get("seed", 0))
    names = list(dict.fromkeys([*(config.get("workloads") or []), *RANDOMIZED]))
    corpus = sorted((require("data") / "traces").glob("*.npz"))
    traces = [make_workload(n, seed=workload_seed(seed, r)) for r in range(args.rounds)
              for n in names if n not in {f.stem for f in corpus}]  # corpus: once, below
    traces += [corpus_trace(str(f)) for f in corpus]
    res = distill(net, tqdm(traces, desc="distilling", unit="trace", leave=False),
                  cost, args.name, args.faults)
    dev = [g.randomized(2000 + d, 0, families=f) for f in g.FAMILIES
           for d in range(args.dev_draws)]
    dev_props = proposals(net, tqdm(dev, desc="development draws", unit="trace",
                                    leave=False), cost)
    dev_agree = agreement(res.policy.table, dev_props)
    dev_open = agreement(res.policy.table, dev_props, open_only=True)
    visited = int((res.counts.sum(axis=1) > 0).sum())
    cm_name = cm_spec if isinstance(cm_spec, str) else cm_spec.get("name", "?")
    path = save_artifact(
        out / ARTIFACT_NAME, res.policy.name, res.policy.artifact_kind or "guarded",
        res.policy.artifact_spec(),
        {"distilled_from": art["_path"], "costmodel": cm_name, "seed": seed,
         "rounds": args.rounds, "faults": args.faults, "workloads": names,
         "corpus": [f.name for f in corpus]},
        training={"faults": res.faults, "agreement": res.agreement,
                  "open_agreement": res.open_agreement, "dev_agreement": dev_agree,
                  "dev_open_agreement": dev_open, "cells_visited": visited,
                  "cells_nonzero": sum(1 for k in res.policy.table if k)})
    print(f"{net.name} -> {res.policy.name}: {len(traces)} traces, {res.faults} faults, "
          f"{visited} of {len(res.policy.table)} cells visited, "
          f"{sum(1 for k in res.policy.table if k)} with k > 0 (costmodel {cm_name})")
    print(f"agreement (table k == network proposal), all faults / where the shield was open: "
          f"{100 * res.agreement:.1f}% / {100 * res.open_agreement:.1f}% on the distillation "
          f"traces, {100 * dev_agree:.1f}% / {100 * dev_open:.1f}% on {len(dev)} development "
          "draws (seed 2000)")
    print(f"artifact: {path}")
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
