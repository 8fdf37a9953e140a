"""``floor_slow`` in every shield (docs/policies.md, "The last window on `random_0`"): guarded,
``shield64``, ``guarded0``, the default bandit and the PPO/DQN shield name the same value; a
value set reaches the bandit's learning shield, its frozen policy, its artifact and the table
the module runs (at offset 752, ABI 10), and the SB3 spec, its training env and its deployed
constants; the shield with it decides otherwise than without, and alike in every form; an
artifact saved without it loads 0 and decides as saved; bad values are one-line errors naming
the field.
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
from cowrl.kernel.table import pack_guarded
from cowrl.policies.bandits import BanditPolicy
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options
from cowrl.policies.shield import GuardView, guard_constants
from cowrl.registry import CONF_DIR, make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace
from cowrl.training.sb3 import SB3Spec

SHIELDS = ("guarded", "shield64", "guarded0", "bandit", "ppo", "dqn")
OFFSET = 752  # struct cowrl_guarded_table: floor_slow, the u16 after proof_span (ABI 10)
SLOW = {"floor_slow": 5}  # the candidate (docs/policies.md)
OFF = {"floor_slow": 0}  # the decisions before it (an old artifact's)


def _yaml(name: str) -> dict[str, Any]:
    spec = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "policy" / f"{name}.yaml"))
    assert isinstance(spec, dict)
    return {str(k): v for k, v in spec.items()}


# the shipped shield keys of the bandit (floor 128, grant_left 3 and the proof options)
KEYS = {k: _yaml("bandit")[k] for k in ("proof", "proof_ttl", "proof_backoff", "read_credit",
                                        "proof_look", "proof_span", "floor", "grant_left")}


def _bandit(opts: dict[str, int], **kw: Any) -> BanditPolicy:
    return BanditPolicy(Reckless(), context="guarded", shield=True, **KEYS, **opts, **kw)


def _traces() -> list[Trace]:
    """Development draws (seed 2000..) where floor_slow 5 holds windows the shipped shield
    opens with k = 64 asked at every fault (stride, mixture)."""
    return [g.randomized(2006, 0), g.randomized(2009, 0)]


def test_every_shield_names_the_same_floor_slow() -> None:
    shipped = _yaml("guarded")["floor_slow"]
    assert shipped_options()["floor_slow"] == shipped
    for name in SHIELDS:
        assert _yaml(name)["floor_slow"] == shipped, name


def test_default_configs_compose_to_the_shipped_floor_slow(compose_cfg) -> None:
    from hydra.utils import instantiate

    shipped = _yaml("guarded")["floor_slow"]
    pol = instantiate(compose_cfg("train", ["policy=bandit"]).policy)
    assert isinstance(pol, BanditPolicy) and pol.floor_slow == shipped
    frozen = pol.freeze()
    assert isinstance(frozen, GuardedPolicy) and frozen.ctx.slow_shift == shipped
    for algo in ("ppo", "dqn"):
        spec = instantiate(compose_cfg("train", [f"policy={algo}"]).policy)
        assert isinstance(spec, SB3Spec) and spec.proof_options["floor_slow"] == shipped
    for s in (0, 5):  # and an override reaches it
        pol = instantiate(compose_cfg("train", ["policy=bandit", f"policy.floor_slow={s}"])
                          .policy)
        assert pol.floor_slow == s


@pytest.mark.parametrize("costmodel", ["auto", "host"])
def test_floor_slow_reaches_the_shield_the_artifact_and_the_module_table(costmodel: str) -> None:
    cost = make_costmodel("seed_table1")
    t = _traces()[0]
    learning, specs, run, payload = bandit_forms(_bandit(SLOW, costmodel=costmodel), t, cost)
    assert learning.ctx.slow_shift == 5  # the shield it learns in
    assert [s["floor_slow"] for s in specs] == [5] * len(specs)
    assert run.ctx.slow_shift == 5
    assert struct.unpack_from("<4H", payload, OFFSET) == (5, 0, 0, 0)
    # the shielded bandit without it packs 0 there (the module decides as before)
    off = GuardedPolicy.from_artifact(_bandit(OFF, costmodel=costmodel).freeze().artifact_spec(),
                                      "bandit", None).for_trace(t, cost)
    assert struct.unpack_from("<H", pack_guarded(off.kernel_program()), OFFSET) == (0,)
    # the SB3 shield: spec -> env -> deployed constants
    sb3 = SB3Spec(features="guarded", shield=True, reward="saving", **KEYS, **SLOW)
    assert sb3.proof_options["floor_slow"] == 5
    env = sb3.make_env([{"generator": "sequential", "n_pages": 512}], cost, 1.0)
    assert env.view.guard.ctx.slow_shift == 5
    consts = guard_constants(cost, 1.0, **sb3.proof_options)
    assert consts["floor_slow"] == 5 and GuardView(consts).guard.ctx.slow_shift == 5


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_the_shield_with_floor_slow_decides_otherwise_and_alike_in_every_form(cm: str) -> None:
    """k = 64 asked at every fault with the shipped keys and floor_slow 5: guarded with a table
    of 64s (prototype and compiled program, what the module runs), the bandit's learning shield
    and the SB3 training env decide alike, fault for fault; without floor_slow the same shield
    decides otherwise on these draws (the test fails if the key is dropped on the way)."""
    cost = make_costmodel(cm)
    differ = 0
    for t in _traces():
        _, k = four_paths_agree(t, cost, {**KEYS, **SLOW})
        before = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, **KEYS, **OFF)
        _, ev0 = simulate(t, before, cost, record_events=True)
        differ += len(ev0.k) != len(k) or not np.array_equal(ev0.k, k)
    assert differ > 0


def test_artifacts_saved_without_floor_slow_load_0_and_decide_as_saved() -> None:
    cost = make_costmodel("seed_table1")
    new = guard_constants(cost, **KEYS, **SLOW)
    old = {k: v for k, v in new.items() if k != "floor_slow"}
    assert GuardView(old).guard.ctx.slow_shift == 0
    t = _traces()[1]
    spec = _bandit(SLOW, costmodel="seed_table1").freeze().artifact_spec()
    spec.pop("floor_slow")
    loaded = GuardedPolicy.from_artifact(spec, "bandit", None)
    assert loaded.ctx.slow_shift == 0
    ks = [simulate(t, p.for_trace(t, cost), cost, record_events=True)[1].k
          for p in (loaded, _bandit(OFF, costmodel="seed_table1").freeze(),
                    _bandit(SLOW, costmodel="seed_table1").freeze())]
    assert np.array_equal(ks[0], ks[1])
    assert len(ks[0]) != len(ks[2]) or not np.array_equal(ks[0], ks[2])


@pytest.mark.parametrize("bad", [4, 13, -1, True, 5.5, "5"])
def test_bad_floor_slow_is_one_line_naming_the_field(bad: object) -> None:
    makers = [lambda: _bandit({"floor_slow": bad}), lambda: SB3Spec(**KEYS, floor_slow=bad),
              lambda: GuardedPolicy(floor_slow=bad)]
    for make in makers:
        with pytest.raises(ConfigError, match="policy.floor_slow must be 0 or in 5..12") as e:
            make()
        assert "\n" not in str(e.value)
    # GuardView (an SB3 artifact's guard constants): a whole number out of range as above,
    # anything else (5.5, True, "5") refused before it could be truncated
    whole = isinstance(bad, int) and not isinstance(bad, bool)
    with pytest.raises(ConfigError, match="policy.floor_slow must be 0 or in 5..12" if whole
                       else "policy.guard.floor_slow must be an integer") as e:
        GuardView({**guard_constants(make_costmodel("host")), "floor_slow": bad})
    assert "\n" not in str(e.value)
