"""What gives PPO/DQN a fair chance: one switch at a time, judged on a development set.

    python experiments/learner_ablation.py --algo ppo --costmodel seed_table1 [--variants ...]

Each variant is a set of ``train.py`` overrides (``VARIANTS``). It is trained as the
generalization protocol trains it (``train.py`` on rand0..rand7, every family,
:func:`cowrl.generalization.train_learner`) and scored, with the references (readahead,
precopy k=1, ``precopy_best``, the oracle), on a *development set*: fresh randomized draws
of every family from seeds no training run uses. The held-out sets of the protocol
(families, validation traces, applications) are never looked at here, so choosing the
defaults from this table does not tune them to the test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.errors import ConfigError  # noqa: E402
from cowrl.generalization import check_targets, measure, train_learner, train_traces  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402


def _variant(features: str, shield: bool, reward: str, gamma: float, proof: int = 0
             ) -> list[str]:
    # proof 0 has no ring: its options are 0 (the yamls ship proof_ttl 16 and the shield keys)
    ring = [] if proof else [f"policy.{k}=0" for k in ("proof_ttl", "proof_backoff",
                                                          "read_credit", "proof_look",
                                                          "proof_span")]
    return [f"policy.features={features}", f"policy.shield={str(shield).lower()}",
            f"policy.reward={reward}", f"policy.kwargs.gamma={gamma}",
            f"policy.proof={proof}", *ring]


# Every switch pinned, so that a variant means the same whatever the defaults say.
VARIANTS: dict[str, list[str]] = {
    "plain": _variant("engine", False, "cost", 0.99),  # the defaults before issue #10
    "saving": _variant("engine", False, "saving", 0.99),
    "features": _variant("guarded", False, "saving", 0.99),
    "shield": _variant("guarded", True, "saving", 0.99),
    "shield_gain": _variant("guarded", True, "gain", 0.99),
    "shield_g09": _variant("guarded", True, "saving", 0.9),  # the defaults until proof: 1
    "features_g09": _variant("guarded", False, "saving", 0.9),
    # today's defaults: the shield credited by interior proofs, the clean priced
    "shield_g09_proof": _variant("guarded", True, "saving", 0.9, proof=1),
}
DEV_SEED = 424_242  # randomized draws from this seed on: never a training seed


def shield_capped(policy: Any, traces: list[Any], cost: Any) -> float:
    """Share of a shielded SB3 policy's faults where the shield applied less than it asked."""
    from cowrl.sim.simulator import simulate

    view, act = policy.view, policy.view.act
    counts = [0, 0]

    def spy(want: int) -> int:
        k = act(want)
        counts[0] += k < want
        counts[1] += 1
        return k

    view.act = spy
    try:
        for t in traces:
            simulate(t, policy, cost)
    finally:
        view.act = act
    return counts[0] / max(counts[1], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--algo", default="ppo", choices=("ppo", "dqn"))
    ap.add_argument("--costmodel", default="seed_table1")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timesteps", type=int, default=60000)
    ap.add_argument("--dev-draws", type=int, default=24)
    ap.add_argument("--overrides", nargs="*", default=[],
                    help="more train.py overrides for every variant, after its own (e.g. "
                         "'workloads=[rand0]' for a quick run, as the tests do)")
    ap.add_argument("--guarded", action="store_true",
                    help="also learn guarded's table (48 randomized draws, 2 passes) and show "
                         "the shield alone (k = 64 asked at every fault), with sentinel "
                         "credit (proof 0) and with interior proofs (proof 1)")
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:  # all checked before the first one trains
        if v not in VARIANTS:
            raise ConfigError(f"--variants: unknown variant {v!r} (known: {', '.join(VARIANTS)})")
    cost = make_costmodel(args.costmodel)
    dev = train_traces([], DEV_SEED, args.dev_draws)
    policies = []
    for v in variants:
        t0 = time.perf_counter()
        p = train_learner(args.algo, [], cost, 1.0, args.seed,
                          train_overrides=VARIANTS[v] + [f"timesteps={args.timesteps}",
                                                         *args.overrides])
        p.name = f"{args.algo}_{v}"
        print(f"trained {p.name} in {time.perf_counter() - t0:.0f} s", flush=True)
        policies.append(p)
    if args.guarded:
        from cowrl.policies.guarded import N_CELLS, GuardedPolicy

        policies.append(train_learner("guarded", train_traces([], args.seed, 48), cost, 1.0,
                                      args.seed))
        # The shield alone: asking for k = 64 at every fault (what a learner adds is the rest),
        # as a proof-0 shield and as a proof-1 one (priced with its clean, Policy.priced).
        policies.append(GuardedPolicy.for_cost(cost, table=[64] * N_CELLS,
                                               name="shield_only_k64"))
        policies.append(GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, proof=1,
                                               name="shield_only_k64_proof"))
    refs = [make_policy(n, lam=1.0) for n in ("readahead", "precopy")]
    rows = measure(policies + refs, dev, cost)
    capped = {p.name: shield_capped(p, dev, cost) for p in policies
              if getattr(p, "shield", False)}
    print(f"\n{args.algo}, {args.costmodel}, training seed {args.seed}, {args.timesteps} steps; "
          f"dev set: {len(dev)} fresh randomized draws (seed {DEV_SEED})\n")
    print("| policy | gain | share | worst vs baseline | worst vs best k | wasted / precopied |")
    print("|---|---|---|---|---|---|")
    for name, share in capped.items():
        print(f"{name}: the shield cut the network's degree at {100 * share:.0f}% of its faults")
    for name in [p.name for p in policies] + ["readahead", "precopy", "precopy_best", "oracle"]:
        t = check_targets([r for r in rows if r["policy"] == name])
        share = "-" if t["gain_share"] is None else f"{t['gain_share']:.2f}"
        print(f"| {name} | {100 * t['gain']:+.1f}% | {share} | {t['safety']:.3f} "
              f"({t['safety_trace']}) | {t['near_best']:.3f} ({t['near_best_trace']}) | "
              f"{100 * t['waste_all']:.0f}% ({t['wasted_all']} pages wasted) |")


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
