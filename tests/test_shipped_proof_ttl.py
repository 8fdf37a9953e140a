"""The shipped proof budgets (``proof_ttl: 16`` since 2026-12-02) bound the loss with every
proof read charged.

Since ``simulate`` (and the env) charge ``proof_read_ns`` for each proof read that finds its
page unwritten, the bound "loss over ``k = 0`` <= the allowances granted" holds only if the
budget reserves those reads: ``proof_ttl = t`` caps them at ``t`` per copied page and
:meth:`GuardedPolicy.for_cost` reserves ``t x proof_read_ns`` per copy. Here each policy that
reads proofs is built with the options its shipped yaml sets (guarded, the shielded bandit,
the PPO/DQN shield) and the bound is checked with every read charged, on the writers that
spoof or starve a budget. Old artifacts (saved without ``proof_ttl``) load as 0.

Since 2026-12-03 ``simulate`` also charges the look's walk over ring slots
(``proof_step_ns`` per empty slot, ``proof_skip_ns`` per live entry). The budget pays it
where the guard prices it (``walk_empty_ns``, ``walk_ns``: ``for_cost`` with ``proof: 1``,
so the shipped guarded, the shielded bandit and the PPO/DQN shield): it stays in the bound
here; a kind of slot priced 0 is not paid and is taken out (:func:`_unpaid_walk_ns`; the
miss is pinned by ``tests/test_guarded_proof.py::test_the_budget_pays_the_walk``).
"""

from __future__ import annotations

from typing import Any

import pytest
from omegaconf import OmegaConf
from reckless import Reckless

from cowrl.envs.guarded_env import GuardedPrecopyEnv
from cowrl.errors import ConfigError
from cowrl.metrics import objective
from cowrl.policies.bandits import BanditPolicy
from cowrl.policies.guarded import ALIGN, N_CELLS, GuardedPolicy, shipped_options
from cowrl.policies.shield import GuardView, guard_constants
from cowrl.registry import CONF_DIR, make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace

COSTS = ("seed_table1", "host")
PROOF_KEYS = ("proof", "proof_reads", "proof_ttl", "proof_backoff", "read_credit", "proof_look",
              "proof_span")


def _yaml(name: str) -> dict[str, Any]:
    spec = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "policy" / f"{name}.yaml"))
    assert isinstance(spec, dict)
    return {str(k): v for k, v in spec.items()}


def _traces() -> list[Trace]:
    """Stride 2 (the sentinel spoof), uniform random, a half-covered random-order fill, and
    multi_stream draws (where the reads outran the ttl-0 budget)."""
    return [g.stride(n_pages=4096, stride=2, writes=2048),
            g.uniform(n_pages=4096, writes=4096, seed=1),
            g.dense_chunks(n_pages=4096, chunk=64, coverage=0.5, seed=3),
            g.randomized(seed=0, draw=0, families="multi_stream"),
            g.randomized(seed=5, draw=1, families="multi_stream"),
            g.alloc_pool(n_pages=4096, sizes=(2, 6), density=0.6, whole=0.5, streams=2,
                         seed=4)]


def _unpaid_walk_ns(pol: GuardedPolicy, cost: Any) -> float:
    """What ``simulate`` charged a run of the guard ``pol`` for its looks' walk over the
    kinds of slot its budget does not pay (price 0): empty slots, live entries."""
    g = pol.ctx
    return (0.0 if pol.walk_empty else g.proof_empty * cost.proof_step_ns) \
        + (0.0 if pol.walk else (g.proof_skips + g.proof_other) * cost.proof_skip_ns)


def _zeros(t: Trace, cost: Any, **kw: Any) -> float:
    zeros = GuardedPolicy.for_cost(cost, table=[0] * N_CELLS, **kw)
    return objective(simulate(t, zeros, cost), 1.0, cost.page_cost_ns)


@pytest.mark.parametrize("name", ["guarded", "guarded0", "bandit", "ucb1", "thompson", "ppo",
                                  "dqn"])
def test_every_policy_that_reads_proofs_ships_proof_ttl_16(name: str) -> None:
    spec = _yaml(name)
    assert spec["proof"] == 1 and spec["proof_ttl"] == 16, name


@pytest.mark.parametrize("cm", COSTS)
def test_shipped_guarded_bounds_the_loss_with_the_reads_charged(cm: str) -> None:
    cost = make_costmodel(cm)
    kw = shipped_options()
    assert kw["proof_ttl"] == 16
    shipped = _yaml("guarded")["table"]
    for t in _traces():
        base = _zeros(t, cost, **kw)
        for table in (shipped, [64] * N_CELLS, [1] * N_CELLS, [ALIGN | 64] * N_CELLS,
                      [ALIGN | 4] * N_CELLS):
            pol = GuardedPolicy.for_cost(cost, table=table, **kw)
            run = objective(simulate(t, pol, cost, fast=False), 1.0, cost.page_cost_ns)
            assert pol.walk > 0 and pol.walk_empty > 0  # paid: the walk stays in
            run -= _unpaid_walk_ns(pol, cost)
            # 1 ns per page of slack: the budget's integer loss_ns rounds the loss down
            assert run - base <= pol.granted + t.n_pages, (t.name, table[:1])



@pytest.mark.parametrize("cm", COSTS)
def test_shipped_bandit_shield_bounds_the_loss_with_the_reads_charged(cm: str) -> None:
    cost = make_costmodel(cm)
    spec = _yaml("bandit")
    opts = {k: spec[k] for k in ("shield", "costmodel", *PROOF_KEYS)}
    for t in _traces():
        base = _zeros(t, cost, **{k: spec[k] for k in PROOF_KEYS})
        for want in (1, 64, ALIGN | 16):
            pol = BanditPolicy(Reckless(want), context="guarded", **opts)
            pol.begin_episode(t, cost, 1.0)
            view = pol.view
            run = objective(simulate(t, pol, cost), 1.0, cost.page_cost_ns)
            pol.end_episode()
            run -= _unpaid_walk_ns(view.guard, cost)
            assert view.guard.proof_ttl == 16 and view.guard.read_ns == int(cost.proof_read_ns)
            assert run - base <= view.guard.granted + t.n_pages, ("learning", t.name, want)
            frozen = pol.freeze().for_trace(t, cost)
            assert isinstance(frozen, GuardedPolicy) and frozen.proof_ttl == 16
            assert frozen.read_ns == int(cost.proof_read_ns)  # read_credit: 1, shipped
            run = objective(simulate(t, frozen, cost, fast=False), 1.0, cost.page_cost_ns)
            run -= _unpaid_walk_ns(frozen, cost)
            assert run - base <= frozen.granted + t.n_pages, ("frozen", t.name, want)


def _episode(env: GuardedPrecopyEnv, t: Trace, action: int) -> dict[str, Any]:
    env.reset(seed=0, options={"trace": t})
    while True:
        _, _, term, trunc, info = env.step(action)
        if term or trunc:
            return info["run"]


# The bandit's shipped shield keys (conf/policy/bandit.yaml), which the PPO/DQN shield takes too.
SHIELD_ON = {"proof_backoff": 1, "read_credit": 1, "proof_look": 1, "proof_span": 1}


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
@pytest.mark.parametrize("cm", COSTS)
@pytest.mark.parametrize("keys", ["shipped", "on"])
def test_shipped_ppo_dqn_shield_bounds_the_loss_with_the_reads_charged(algo: str, cm: str,
                                                                        keys: str) -> None:
    """The training env ``train.py policy=ppo|dqn`` builds (SB3Spec.make_env), with its
    yaml's proof options (``shipped``) and with the bandit's shield keys on (``on``)."""
    from cowrl.training.sb3 import SB3Spec

    cost = make_costmodel(cm)
    fields = {k: v for k, v in _yaml(algo).items() if k != "_target_"}
    spec = SB3Spec(**{**fields, **(SHIELD_ON if keys == "on" else {})})
    opts = spec.proof_options
    env = spec.make_env([{"generator": "sequential", "n_pages": 512}], cost, 1.0)
    assert {k: getattr(env.view.guard, k) for k in opts} == opts
    assert env.view.guard.proof_ttl == 16 and env.view.guard.proof == 1
    for t in _traces()[:4] + [g.stride(n_pages=8192, stride=13, writes=2048)]:
        base = _zeros(t, cost, **opts)
        for action in (1, 7):  # k = 1 and k = 64 asked at every fault
            run = _episode(env, t, action)
            walk = _unpaid_walk_ns(env.view.guard, cost)
            assert run["objective"] - walk - base <= env.view.guard.granted + t.n_pages, \
                (t.name, action)


def test_old_artifacts_without_proof_ttl_load_as_0() -> None:
    """A shield's constants saved before proof_ttl (PPO/DQN artifacts) and a guarded
    artifact saved before it (the frozen shielded bandit's) decide as saved: ttl 0."""
    cost = make_costmodel("seed_table1")
    new = guard_constants(cost, proof=1, proof_ttl=16)
    assert new["proof_ttl"] == 16 and GuardView(new).guard.proof_ttl == 16
    old = {k: v for k, v in guard_constants(cost, proof=1).items() if k != "proof_ttl"}
    assert GuardView(old).guard.proof_ttl == 0
    for auto in (False, True):
        pol = BanditPolicy(Reckless(8), context="guarded", shield=True, proof=1,
                           proof_ttl=16, costmodel="auto" if auto else "seed_table1")
        spec = pol.freeze().artifact_spec()
        assert spec["proof_ttl"] == 16
        spec.pop("proof_ttl")
        if auto:
            assert spec["auto_options"].pop("proof_ttl") == 16
        loaded = GuardedPolicy.from_artifact(spec, "bandit", None)
        assert loaded.proof_ttl == 0 and loaded.table == [8] * N_CELLS


@pytest.mark.parametrize("bad", [-1, 256, True, 1.5, "16"])
def test_bad_proof_ttl_is_a_one_line_error_naming_the_field(bad: object) -> None:
    from cowrl.training.sb3 import SB3Spec

    for build in (lambda: BanditPolicy(Reckless(1), context="guarded", shield=True,
                                       proof=1, proof_ttl=bad),
                  lambda: SB3Spec(proof=1, proof_ttl=bad)):
        with pytest.raises(ConfigError, match=r"^policy\.proof_ttl must be in 0\.\.255"):
            build()
    with pytest.raises(ConfigError, match=r"^policy\.proof_ttl must be 0 with proof: 0"):
        BanditPolicy(Reckless(1), context="guarded", shield=True, proof=0, proof_ttl=16)
