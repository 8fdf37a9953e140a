"""The default bandit: Discounted UCB over guarded's cells, shielded by guarded's proof budget.

The bound (loss over k = 0 <= the allowances granted) must hold while it learns, with any
learner, and for any table it freezes to; the frozen policy and its artifact decide as the
live one, fault for fault; bad options are one-line errors naming the field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cowrl.errors import ConfigError
from cowrl.metrics import objective
from cowrl.policies.artifacts import load_policy, read_artifact
from cowrl.policies.bandits import BanditPolicy, DiscountedUCB, ThompsonSampling
from cowrl.policies.guarded import N_CELLS, GuardedPolicy
from cowrl.policies.linucb import LinUCB
from cowrl.policies.static import Baseline
from cowrl.registry import make_costmodel, make_policy, make_workload
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace


class _Reckless(DiscountedUCB):
    """An adversarial learner: always proposes ``want`` (the shield alone decides)."""

    def __init__(self, want: int, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.want = want

    def _select(self, c: int) -> int:
        return self._index[self.want]

    def greedy(self, contexts: object = None) -> list[int]:
        return [self.want] * N_CELLS


def _traces() -> list[Trace]:
    return [g.stride(n_pages=4096, stride=2, writes=2048),  # the sentinel spoof
            g.uniform(n_pages=4096, writes=4096, seed=1),
            g.sparse(n_pages=4096, touched=64, seed=2),
            g.dense_chunks(n_pages=4096, chunk=64, coverage=0.5, seed=3),
            g.randomized(seed=5, draw=1, families="multi_stream")]


def _zeros_objective(t: Trace, cost_name: str) -> float:
    cost = make_costmodel(cost_name)
    zeros = GuardedPolicy.for_cost(cost, table=[0] * N_CELLS, proof=1)
    return objective(simulate(t, zeros, cost), 1.0, cost.page_cost_ns)


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
@pytest.mark.parametrize("want", [1, 64])
def test_shield_bounds_the_loss_while_learning_and_frozen(cm: str, want: int) -> None:
    cost = make_costmodel(cm)
    for t in _traces():
        base = _zeros_objective(t, cm)
        pol = BanditPolicy(_Reckless(want), context="guarded", shield=True, proof=1)
        pol.begin_episode(t, cost, 1.0)
        view = pol.view
        run = objective(simulate(t, pol, cost), 1.0, cost.page_cost_ns)
        pol.end_episode()
        granted = view.guard.granted
        # simulate charges the unproven proof reads, which proof_ttl = 0 does not reserve,
        # and the looks' walk, which no budget reserves: the bound covers the copies and
        # their cleans (tests/test_guarded_proof.py)
        gc = view.guard.ctx
        run -= gc.unproven_reads * cost.proof_read_ns + gc.proof_empty * cost.proof_step_ns \
            + (gc.proof_skips + gc.proof_other) * cost.proof_skip_ns
        # 1 ns per page of slack: the budget's integer loss_ns rounds the loss down
        assert run - base <= granted + t.n_pages, ("learning", t.name)
        frozen = pol.freeze()
        assert isinstance(frozen, GuardedPolicy) and frozen.table == [want] * N_CELLS
        fz = frozen.for_trace(t, cost)
        run = objective(simulate(t, fz, cost, fast=False), 1.0, cost.page_cost_ns)
        gc = fz.ctx
        run -= gc.unproven_reads * cost.proof_read_ns + gc.proof_empty * cost.proof_step_ns \
            + (gc.proof_skips + gc.proof_other) * cost.proof_skip_ns
        assert run - base <= fz.granted + t.n_pages, ("frozen", t.name)


def test_the_bound_test_can_fail_without_the_shield() -> None:
    """The same reckless learner unshielded (guarded's cells, free windows) loses far more
    than the allowances on the stride-2 writer."""
    cost = make_costmodel("seed_table1")
    t = g.stride(n_pages=4096, stride=2, writes=2048)
    pol = BanditPolicy(_Reckless(1), context="guarded", shield=False, proof=1)
    pol.begin_episode(t, cost, 1.0)
    run = objective(simulate(t, pol, cost), 1.0, cost.page_cost_ns)
    pol.end_episode()
    assert run - _zeros_objective(t, "seed_table1") > 20 * cost.demand_ns


def test_artifact_round_trip_decides_as_the_live_frozen_policy(compose_cfg, tmp_path: Path
                                                                ) -> None:
    from cowrl.training import train

    cfg = compose_cfg("train", ["policy=bandit", "rounds=2", "workloads=[seq,rand1,rand3]",
                                f"out={tmp_path}", "latest_dir=null", "progress=false"])
    res = train(cfg)
    art = read_artifact(tmp_path)
    assert art["kind"] == "guarded" and art["policy"]["costmodel"] == "auto"
    assert art["policy"]["proof"] == 1
    loaded = load_policy(tmp_path)
    assert isinstance(loaded, GuardedPolicy) and loaded.name == "bandit"
    assert loaded.table == res["table"] and any(res["table"])
    live = make_policy(cfg.policy)
    live.learner.set_state(art["learner"]["state"])
    for cm in ("seed_table1", "host", "tcg"):
        cost = make_costmodel(cm)
        for t in (make_workload("seq"), make_workload("interleaved"),
                  g.randomized(seed=9, draw=2), g.randomized(seed=9, draw=5)):
            _, ev_a = simulate(t, loaded, cost, record_events=True)
            _, ev_b = simulate(t, live.freeze(), cost, record_events=True)
            _, ev_c = simulate(t, live, cost, record_events=True, fast=False)
            for ev in (ev_b, ev_c):
                assert np.array_equal(ev_a.k, ev.k) and np.array_equal(ev_a.page, ev.page)
            # priced like guarded: the GUARDED decision and the clean of proof: 1
            rec = simulate(t, loaded, cost)
            assert rec.fault_ns.sum() == simulate(t, live, cost).fault_ns.sum()
    # the budget follows the evaluated cost model (costmodel: auto): none under tcg, where
    # the frozen bandit is inert: STATIC k = 0, priced as baseline (no GUARDED decision)
    tcg = make_costmodel("tcg")
    run = loaded.for_trace(make_workload("seq"), tcg)
    assert run.allowance == 0 and run.inert and run.kernel_program().mode == "static"
    assert live.for_trace(make_workload("seq"), tcg).kernel_program() == run.kernel_program()
    for pol in (loaded, live):
        rec = simulate(g.randomized(seed=9, draw=2), pol, tcg)
        base = simulate(g.randomized(seed=9, draw=2), Baseline(), tcg)
        assert rec.precopied == 0 and rec.fault_ns.sum() == base.fault_ns.sum()


def test_a_named_budget_cost_model_is_frozen_into_the_artifact() -> None:
    pol = BanditPolicy(DiscountedUCB(), context="guarded", shield=True, proof=1,
                       costmodel="host")
    frozen = pol.freeze()
    ref = GuardedPolicy.for_cost(make_costmodel("host"), proof=1)
    assert (frozen.gain, frozen.loss, frozen.allowance) == (ref.gain, ref.loss, ref.allowance)
    spec = frozen.artifact_spec()
    again = GuardedPolicy.from_artifact(spec, "bandit", Path("."))
    assert again.program() == frozen.program()


def test_round_1_bandit_stays_available() -> None:
    from cowrl.policies.table import TablePolicy

    pol = make_policy("bandit_stream")
    assert pol.context_kind == "stream" and not pol.shield and pol.n_cells == 60
    assert isinstance(pol.freeze(), TablePolicy)
    for name in ("bandit", "ucb1", "thompson"):
        p = make_policy(name)
        assert p.context_kind == "guarded" and p.shield and p.proof == 1, name


@pytest.mark.parametrize("kw,field", [
    ({"context": "streams"}, "policy.context"),
    ({"context": "stream", "shield": True}, "policy.shield"),
    ({"context": "guarded", "shield": "yes"}, "policy.shield"),
    ({"context": "guarded", "shield": True, "proof": 2}, "policy.proof"),
    ({"context": "guarded", "shield": True, "proof_reads": 0}, "policy.proof_reads"),
    ({"context": "guarded", "shield": True, "credit": "both"}, "policy.credit"),
    ({"context": "guarded", "shield": True, "proof": 1, "proof_look": 2}, "policy.proof_look"),
    ({"context": "guarded", "shield": True, "proof_look": 1}, "policy.proof_look needs proof"),
    ({"context": "guarded", "shield": True, "proof": 1, "proof_ttl": 16, "read_credit": 2},
     "policy.read_credit"),
    ({"context": "guarded", "shield": True, "proof": 0, "read_credit": 1},
     "policy.read_credit must be 0 with proof: 0"),
    ({"context": "guarded", "shield": True, "costmodel": "nope"}, "policy.costmodel"),
])
def test_bad_options_are_one_line_errors_naming_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field) as e:
        BanditPolicy(DiscountedUCB(), **kw)
    assert "\n" not in str(e.value)


def test_guarded_context_needs_a_per_cell_learner() -> None:
    with pytest.raises(ConfigError, match="policy.context"):
        BanditPolicy(LinUCB(), context="guarded", shield=True)
    pol = BanditPolicy(ThompsonSampling(), context="guarded", shield=True)
    assert pol.learner.N.shape[0] == N_CELLS


def test_train_cli_names_a_bad_option(compose_cfg, tmp_path: Path) -> None:
    from cowrl.training import train

    with pytest.raises(ConfigError, match="policy.credit"):
        train(compose_cfg("train", ["policy.credit=nope", "rounds=1", "workloads=[seq]",
                                    f"out={tmp_path}", "latest_dir=null", "progress=false"]))


@pytest.mark.parametrize("name", ["bandit", "ucb1", "thompson"])
def test_default_training_set_has_every_corpus_recording(name: str) -> None:
    """A recording added to data/traces must join the shielded bandits' training set (their
    yaml lists it by name): fails when one is left out."""
    from omegaconf import OmegaConf

    from cowrl.registry import CONF_DIR

    corpus = {p.stem for p in (CONF_DIR.parent / "data" / "traces").glob("*.npz")}
    assert corpus, "no recorded corpus in data/traces"
    listed = set(OmegaConf.load(CONF_DIR / "policy" / f"{name}.yaml").train_workloads)
    assert corpus <= listed, f"{name}.yaml train_workloads lacks {sorted(corpus - listed)}"


def test_align_arms_are_proposals_not_degrees() -> None:
    """The default bandit proposes guarded's align values (256 + G) too; its degree set (what
    the budget shrinks to) stays the plain degrees, and align arms need the guarded context."""
    from cowrl.policies.bandits import DEFAULT_DEGREES
    from cowrl.policies.guarded import ALIGN_ARMS, is_align

    cfg = make_policy("bandit")
    assert set(ALIGN_ARMS) <= set(cfg.learner.arms) and cfg.degrees == DEFAULT_DEGREES
    pol = BanditPolicy(DiscountedUCB(arms=(*DEFAULT_DEGREES, *ALIGN_ARMS), n_contexts=N_CELLS),
                       context="guarded", shield=True, proof=1, proof_ttl=16,
                       costmodel="seed_table1")
    cost = make_costmodel("seed_table1")
    t = g.alloc_pool(n_pages=2048, sizes=(2,), seed=1)
    for _ in range(2):
        pol.begin_episode(t, cost, 1.0)
        simulate(t, pol, cost)
        pol.end_episode()
    frozen = pol.freeze()
    assert isinstance(frozen, GuardedPolicy) and frozen.degrees == DEFAULT_DEGREES
    assert any(is_align(v) for v in frozen.table)
    with pytest.raises(ConfigError, match="policy.learner.arms"):
        BanditPolicy(DiscountedUCB(arms=(0, 1, *ALIGN_ARMS)), context="stream")
