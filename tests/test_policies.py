"""Adaptive policies: bandit learners, the stream context, readahead, precopy_best."""

from __future__ import annotations

import numpy as np
import pytest

from cowrl.errors import ConfigError
from cowrl.policies.bandits import UCB1, BanditPolicy, DiscountedUCB, ThompsonSampling
from cowrl.policies.best_static import BestStatic
from cowrl.policies.context import ContextSpec, StreamContext
from cowrl.policies.linucb import LinUCB
from cowrl.policies.readahead import Readahead
from cowrl.registry import make_costmodel, make_policy, make_workload
from cowrl.sim.simulator import simulate

COST = make_costmodel("seed_table1")


def _train(policy: BanditPolicy, workloads: list[str], rounds: int) -> None:
    for r in range(rounds):
        for w in workloads:
            trace = make_workload(w, seed=100 + r)
            policy.begin_episode(trace, COST, 1.0)
            simulate(trace, policy, COST)
            policy.end_episode()


@pytest.mark.parametrize("learner_cls", [DiscountedUCB, UCB1, ThompsonSampling, LinUCB])
def test_learner_api_finds_best_arm(learner_cls) -> None:
    arms = [0, 1, 2, 4]
    means = {0: 0.0, 1: 0.1, 2: 0.4, 4: -0.5}
    rng = np.random.default_rng(0)
    learner = learner_cls(arms=arms, n_contexts=1, seed=0)
    for _ in range(300):
        a = learner.predict([0])[0]
        learner.partial_fit([a], [means[a] + 0.05 * rng.normal()], [0])
    assert learner.greedy([0]) == [2]
    assert learner.predict_expectations([0]).shape == (1, 4)
    learner.fit([0, 4], [0.0, 1.0], [0, 0])  # fit restarts from scratch
    assert learner.predict_expectations([0])[0, 3] > 0


def test_ducb_follows_a_phase_change() -> None:
    learner = DiscountedUCB(arms=[0, 64], n_contexts=1, gamma=0.9, c=0.1)
    for _ in range(100):
        a = learner.predict([0])[0]
        learner.partial_fit([a], [0.3 if a == 64 else 0.0], [0])
    assert learner.greedy([0]) == [64]
    for _ in range(100):
        a = learner.predict([0])[0]
        learner.partial_fit([a], [-1.0 if a == 64 else 0.0], [0])
    assert learner.greedy([0]) == [0]


def test_bandit_learns_large_degree_on_sequential() -> None:
    policy = make_policy("bandit_stream")  # the round-1 bandit: no shield
    assert isinstance(policy, BanditPolicy)
    _train(policy, ["seq"], rounds=4)
    rec = simulate(make_workload("seq"), policy.freeze(), COST)
    base = simulate(make_workload("seq"), make_policy("baseline"), COST)
    # k=64 after a short ramp: ~64 faults instead of 4096, no waste.
    assert rec.faults < 100 and rec.wasted == 0
    assert rec.fault_ns.sum() < 0.72 * base.fault_ns.sum()


def test_bandit_precopies_little_on_random() -> None:
    policy = make_policy("bandit_stream")
    _train(policy, ["seq", "random", "sparse"], rounds=6)
    for w in ("random", "sparse", "heldout_random_sparse"):
        rec = simulate(make_workload(w), policy.freeze(), COST)
        base = simulate(make_workload(w), make_policy("baseline"), COST)
        # A few accidental continuations at most: waste under 1% of faults, cost ~baseline.
        assert rec.wasted <= 0.01 * rec.faults, w
        assert rec.fault_ns.sum() + rec.wasted * COST.page_cost_ns \
            <= 1.02 * base.fault_ns.sum(), w


def test_bandit_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="gamma"):
        DiscountedUCB(gamma=1.5)
    with pytest.raises(ConfigError, match="epoch_faults"):
        BanditPolicy(DiscountedUCB(), epoch_faults=0)
    with pytest.raises(ConfigError, match="context.slots"):
        ContextSpec(slots=0)
    with pytest.raises(ConfigError, match="degrees"):
        DiscountedUCB(arms=[1, 2])


def test_stream_context_tracks_interleaved_streams() -> None:
    ctx = StreamContext(ContextSpec(slots=4, near=16))
    # Two sequential writers at 0.. and 1000..; each continues its own stream exactly.
    seen = []
    for i in range(6):
        for base in (0, 1000):
            f = ctx.observe_fault(base + i)
            ctx.commit(f, base + i, 4096, 0)
            seen.append((f.matched, f.gap, f.run))
    assert seen[0] == (False, 0, 0) and seen[1] == (False, 0, 0)
    assert all(m and g == 1 for m, g, _ in seen[2:])
    assert seen[-1][2] == 5


def test_readahead_doubles_then_resets() -> None:
    policy = Readahead(max_k=16)
    rec, ev = simulate(make_workload("seq", seed=0), policy, COST, record_events=True)
    assert ev.k[:7].tolist() == [0, 1, 2, 4, 8, 16, 16]
    _, ev = simulate(make_workload("random"), policy, COST, record_events=True)
    assert np.count_nonzero(ev.k) <= 5  # only accidental exact continuations


def test_precopy_best_picks_the_best_static_degree() -> None:
    best = BestStatic()
    assert best.best_k(make_workload("seq"), COST) == 64
    assert best.best_k(make_workload("random"), COST) == 0


def test_bandit_rewards_sum_to_the_objective_saving() -> None:
    """Hindsight rewards (percent of the baseline objective) add up to exactly
    objective(k=0 table) - objective(policy), with every cost term switched on."""
    from cowrl.metrics import summarize
    from cowrl.policies.bandits import BanditPolicy, DiscountedUCB
    from cowrl.policies.context import N_CELLS
    from cowrl.policies.table import TablePolicy
    from cowrl.sim.costmodel import CostModel
    from cowrl.sim.simulator import simulate
    from cowrl.traces.generators import phased

    cost = CostModel(fault_ns=2000, copy_ns=9000, precopy_ns=8000, precopy_setup_ns=900,
                     precopy_skip_ns=700, decide_ns=300)
    trace = phased(n_pages=1024, writes=3000, phase_writes=200, seed=3)
    lam = 0.5
    policy = BanditPolicy(DiscountedUCB(seed=0), epoch_faults=16)
    policy.begin_episode(trace, cost, lam)
    rec = simulate(trace, policy, cost)
    reward = policy.episode_reward
    policy.end_episode()
    base = simulate(trace, TablePolicy([0] * N_CELLS), cost)
    obj = summarize(rec, lam, cost.page_cost_ns)["objective"]
    obj0 = summarize(base, lam, cost.page_cost_ns)["objective"]
    scale = len(set(trace.pages.tolist())) * cost.demand_ns / 100.0
    assert rec.precopied > 0
    assert reward * scale == pytest.approx(obj0 - obj, rel=1e-9)
