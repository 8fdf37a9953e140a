"""The PPO/DQN shield with and without interior proofs, under a fixed proposer.

    python experiments/shield_proof.py --costmodel seed_table1 --draws 10 [--first 2000]

A learner behind the shield (``GuardedPrecopyEnv``, ``shield=True``) asks for a degree at
every fault; the shield applies the largest one guarded's risk budget allows. Here the
learner is replaced by a fixed proposer (``k = 1`` or ``k = 64`` at every fault: no
training, no network), on development draws of the families where the shielded networks
reached 1.06 x baseline (``multi_stream``, ``mixture``: ``g.randomized(first + i, 0,
families=F)``, seeds 2000+). ``--heldout-eval`` draws the protocol's held-out test traces
instead (``cowrl.generalization.test_traces``, seeds 100000+), for an evaluation-only report;
never to choose or tune anything (before session 29 they were the default, and
docs/policies.md's shield table was printed on them). Prints per (proposer, proof) the worst and the
geometric-mean objective / baseline, and the worst excess over the allowances granted
(``objective - objective of k = 0 - allowances``, in demand faults; <= 0 where the bound
holds).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import add_draw_arguments, check_draws, check_first, family_draws  # noqa: E402
from cowrl.envs.guarded_env import GuardedPrecopyEnv  # noqa: E402
from cowrl.envs.precopy_env import PrecopyEnv  # noqa: E402
from cowrl.generalization import holdout_names  # noqa: E402
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.guarded import N_CELLS, GuardedPolicy  # noqa: E402
from cowrl.policies.static import Baseline  # noqa: E402
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodel", default="seed_table1")
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--families", default="multi_stream,mixture")
    add_draw_arguments(ap)
    args = ap.parse_args()
    check_draws(args.draws)
    check_first(args.first)
    cost = make_costmodel(args.costmodel)
    families = holdout_names(args.families, "--families", families_only=True)
    traces = [t for fam in families
              for t in family_draws(fam, args.draws, args.first, heldout_eval=args.heldout_eval)]
    base = {t.name: objective(simulate(t, Baseline(), cost), 1.0, cost.page_cost_ns)
            for t in traces}
    for want in (1, 64):
        for proof in (0, 1):
            env = GuardedPrecopyEnv(PrecopyEnv(cost=cost), features="guarded", shield=True,
                                    proof=proof)
            action = env.degree_list.index(want)
            zeros = GuardedPolicy.for_cost(cost, table=[0] * N_CELLS, proof=proof)
            ratios, excess, worst = [], -math.inf, ""
            for t in traces:
                env.reset(seed=0, options={"trace": t})
                while True:
                    _, _, term, trunc, info = env.step(action)
                    if term or trunc:
                        break
                obj = info["run"]["objective"]
                ratios.append(obj / base[t.name])
                k0 = objective(simulate(t, zeros, cost), 1.0, cost.page_cost_ns)
                e = (obj - k0 - env.view.guard.granted) / cost.demand_ns
                if e > excess:
                    excess, worst = e, t.name
            gm = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
            print(f"k={want} proof={proof}: worst {max(ratios):.3f} "
                  f"({traces[ratios.index(max(ratios))].name}), geomean {gm:.4f}, "
                  f"worst excess over the allowances {excess:+.1f} demand faults ({worst})",
                  flush=True)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
