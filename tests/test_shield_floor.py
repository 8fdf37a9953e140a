"""``floor`` and ``grant_left`` in every shield (docs/policies.md, "Waste on uniform random:
what opens the last windows"): guarded, ``shield64``, ``guarded0``, the default bandit and the
PPO/DQN shield ship the same values; each reaches the learning shield, the frozen policy, its
artifact and the table the module runs; an artifact saved without them loads floor 0 and
grant_left 2 (the rules before them) and decides as saved; the frozen policy decides in its
compiled program as in the prototype and as the learning shield; bad values are one-line errors
naming the field.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from omegaconf import OmegaConf
from reckless import Reckless
from shieldpaths import bandit_forms, four_paths_agree

from cowrl.errors import ConfigError
from cowrl.policies.bandits import BanditPolicy
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options
from cowrl.policies.shield import GuardView, guard_constants
from cowrl.registry import CONF_DIR, make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace
from cowrl.training.sb3 import SB3Spec

KEYS = ("floor", "grant_left")
SHIELDS = ("guarded", "shield64", "guarded0", "bandit", "ppo", "dqn")
# struct cowrl_guarded_table: floor is the 5th u32, grant_left the first u16 after the 7 u32
OFFSET = {"floor": (16, "<I"), "grant_left": (28, "<H")}
BEFORE = {"floor": 0, "grant_left": 2}  # the rules before the keys (an old artifact's)


def _yaml(name: str) -> dict[str, Any]:
    spec = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "policy" / f"{name}.yaml"))
    assert isinstance(spec, dict)
    return {str(k): v for k, v in spec.items()}


SHIPPED = {k: _yaml("guarded")[k] for k in KEYS}
SHIELD = {"proof": 1, "proof_ttl": 16, "proof_backoff": 1, "read_credit": 1, "proof_look": 1,
          "proof_span": 1}



def _bandit(opts: dict[str, int], **kw: Any) -> BanditPolicy:
    return BanditPolicy(Reckless(), context="guarded", shield=True, **SHIELD, **opts, **kw)


def _random() -> list[Trace]:
    """Uniform random writes (development draws, seed 2000..) where the shield with the keys
    before them copies pages that are never written."""
    return [g.randomized(2000 + d, 0, families="random") for d in (1, 3)]


def test_every_shield_ships_the_same_floor_and_grant_left() -> None:
    assert SHIPPED == {"floor": 128, "grant_left": 3}  # docs/policies.md, as shipped
    for name in SHIELDS:
        spec = _yaml(name)
        assert {k: spec[k] for k in KEYS} == SHIPPED, name
    assert {k: shipped_options()[k] for k in KEYS} == SHIPPED


def test_default_configs_compose_to_the_shipped_keys(compose_cfg) -> None:
    from hydra.utils import instantiate

    pol = instantiate(compose_cfg("train", ["policy=bandit"]).policy)
    assert isinstance(pol, BanditPolicy)
    assert {k: getattr(pol, k) for k in KEYS} == SHIPPED
    frozen = pol.freeze()
    assert isinstance(frozen, GuardedPolicy) and {k: getattr(frozen, k) for k in KEYS} == SHIPPED
    for algo in ("ppo", "dqn"):
        spec = instantiate(compose_cfg("train", [f"policy={algo}"]).policy)
        assert isinstance(spec, SB3Spec) and {k: spec.proof_options[k] for k in KEYS} == SHIPPED


@pytest.mark.parametrize("costmodel", ["auto", "host"])
def test_keys_reach_the_shield_the_artifact_and_the_module_table(costmodel: str) -> None:
    cost = make_costmodel("seed_table1")
    learning, specs, run, payload = bandit_forms(_bandit(SHIPPED, costmodel=costmodel),
                                                 _random()[0], cost)
    assert {k: getattr(learning, k) for k in KEYS} == SHIPPED  # the shield it learns in
    assert [{k: s[k] for k in KEYS} for s in specs] == [SHIPPED] * len(specs)
    assert {k: getattr(run, k) for k in KEYS} == SHIPPED
    for k, (off, fmt) in OFFSET.items():
        assert struct.unpack_from(fmt, payload, off)[0] == SHIPPED[k], k
    # the SB3 shield: spec -> env -> deployed constants (and its artifact's guard dict)
    sb3 = SB3Spec(features="guarded", shield=True, reward="saving", **SHIELD, **SHIPPED)
    env = sb3.make_env([{"generator": "sequential", "n_pages": 512}], cost, 1.0)
    assert {k: getattr(env.view.guard, k) for k in KEYS} == SHIPPED
    consts = guard_constants(cost, 1.0, **sb3.proof_options)
    assert {k: consts[k] for k in KEYS} == SHIPPED


def test_artifacts_saved_without_the_keys_decide_as_saved() -> None:
    """A frozen bandit (guarded artifact) and a PPO/DQN shield's constants saved before the
    keys load floor 0 and grant_left 2, and decide as the shield did then; with the keys
    they decide otherwise here (the test fails if a key is dropped on the way)."""
    cost = make_costmodel("seed_table1")
    new = guard_constants(cost, **SHIELD, **SHIPPED)
    old = {k: v for k, v in new.items() if k not in KEYS}
    assert {k: getattr(GuardView(old).guard, k) for k in KEYS} == BEFORE
    differ = 0
    for costmodel in ("auto", "seed_table1"):
        spec = _bandit(SHIPPED, costmodel=costmodel).freeze().artifact_spec()
        for k in KEYS:
            spec.pop(k)
            if costmodel == "auto":
                spec["auto_options"].pop(k)
        loaded = GuardedPolicy.from_artifact(spec, "bandit", None)
        assert {k: getattr(loaded, k) for k in KEYS} == BEFORE
        for t in _random():
            ks = [simulate(t, p.for_trace(t, cost), cost, record_events=True)[1].k
                  for p in (loaded, _bandit(BEFORE, costmodel=costmodel).freeze(),
                            _bandit(SHIPPED, costmodel=costmodel).freeze())]
            assert np.array_equal(ks[0], ks[1]), (t.name, costmodel)
            differ += len(ks[0]) != len(ks[2]) or not np.array_equal(ks[0], ks[2])
    assert differ > 0


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_every_shield_decides_alike_and_copies_no_wasted_page_on_these_draws(cm: str) -> None:
    """The shield asking k = 64 at every fault decides, fault for fault, as guarded with a
    table of 64s and the same keys (its prototype and its compiled program, what the module
    runs), in the bandit's learning shield and the SB3 training env; on these random draws
    the keys before them copied pages never written, the shipped keys none."""
    cost = make_costmodel(cm)
    wasted_before = 0
    for t in _random():
        rec, _ = four_paths_agree(t, cost, {**SHIELD, **SHIPPED})
        assert rec.wasted == 0, t.name
        before = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, **SHIELD, **BEFORE)
        wasted_before += simulate(t, before, cost).wasted
    assert wasted_before > 0


@pytest.mark.parametrize(("key", "bad", "match"), [
    ("floor", 257, "policy.floor must be in 0..256"),
    ("floor", -1, "policy.floor must be in 0..256"),
    ("floor", True, "policy.floor must be in 0..256"),
    ("floor", "128", "policy.floor must be in 0..256"),
    ("grant_left", 5, "policy.grant_left must be in 0..4"),
    ("grant_left", True, "policy.grant_left must be in 0..4"),
    ("grant_left", 2.5, "policy.grant_left must be in 0..4"),
])
def test_bad_keys_are_one_line_errors_naming_the_field(key: str, bad: object,
                                                       match: str) -> None:
    for make in (lambda: _bandit({key: bad}), lambda: SB3Spec(**SHIELD, **{key: bad}),
                 lambda: GuardedPolicy(**{key: bad})):
        with pytest.raises(ConfigError, match=match) as e:
            make()
        assert "\n" not in str(e.value)
