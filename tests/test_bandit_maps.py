"""``proof_skipmap`` and ``proof_duemap`` in the shield of the default bandit and of PPO/DQN
(guarded's options, docs/policies.md, "The ring's holes jumped, not walked" and "Entries not
yet due jumped, not walked"): each reaches the learning shield, the frozen ``guarded`` policy,
its artifact and the table the module runs; an artifact (or a network's shield constants)
saved without them loads as 0 and decides as saved; the frozen bandit with them decides alike
in its prototype, its compiled program and the module's header compiled for user space, as
the learning shield proposing the same table, and otherwise than without them; bad values are
one-line errors naming the field.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from shieldpaths import env_run
from test_bandit_backoff import _Fixed, _look_traces, _span_traces, _table
from test_guarded_skipmap import assert_forms_agree

from cowrl.errors import ConfigError
from cowrl.kernel.table import pack_guarded
from cowrl.metrics import objective
from cowrl.policies.bandits import BanditPolicy, DiscountedUCB
from cowrl.policies.guarded import N_CELLS, GuardedPolicy
from cowrl.policies.shield import GuardView, guard_constants, repriced
from cowrl.registry import make_costmodel, make_policy
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace
from cowrl.training.sb3 import SB3Spec

# The bandit's other shield keys as conf/policy/bandit.yaml ships them.
KEYS_ON = {"proof_backoff": 1, "read_credit": 1, "proof_look": 1, "proof_span": 1,
           "floor": 128, "grant_left": 3}
# The two maps, one after the other (proof_duemap over proof_skipmap, as guarded ships them).
MAPS = {"skipmap": {"proof_skipmap": 1, "proof_duemap": 0},
        "both": {"proof_skipmap": 1, "proof_duemap": 1},
        "duemap": {"proof_skipmap": 0, "proof_duemap": 1}}
OFF = {"proof_skipmap": 0, "proof_duemap": 0}
# struct cowrl_guarded_table: proof_skipmap (u16 at 754), proof_duemap (u16 at 756), its
# walk_due_ns and walk_scan_ns (u8s at 758, 759)
OFFSET = {"proof_skipmap": 754, "proof_duemap": 756}


@pytest.fixture(scope="module")
def cguarded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from cowrl.kernel.table import CGuarded

    return CGuarded(tmp_path_factory.mktemp("cguarded_bandit_maps"))


def _bandit(maps: dict[str, int], **kw: Any) -> BanditPolicy:
    """The bandit's shield as shipped, with ``maps``, proposing guarded's learned table."""
    return BanditPolicy(_Fixed(_table()), context="guarded", shield=True, proof=1,
                        proof_ttl=16, **KEYS_ON, **maps, **kw)


def _traces() -> list[Trace]:
    """Column sweeps and regions (where the looks walk empty slots and entries not yet due),
    and a multi-stream draw."""
    return [*_span_traces(), _look_traces()[0],
            g.randomized(seed=2000, draw=1, families="multi_stream")]


def _ks(pol: Any, t: Trace, cost: Any) -> np.ndarray:
    return simulate(t, pol.for_trace(t, cost), cost, record_events=True)[1].k


@pytest.mark.parametrize("which", list(MAPS))
@pytest.mark.parametrize("costmodel", ["auto", "host"])
def test_maps_reach_the_shield_the_artifact_and_the_module_table(costmodel: str,
                                                                 which: str) -> None:
    cost = make_costmodel("seed_table1")
    maps = MAPS[which]
    pol = _bandit(maps, costmodel=costmodel)
    pol.begin_episode(g.randomized(seed=5, draw=1), cost, 1.0)
    guard = pol.view.guard  # the shield it learns under
    assert (guard.proof_skipmap, guard.proof_duemap) == tuple(maps.values())
    assert (guard.walk_due > 0) == bool(maps["proof_duemap"])  # priced by the cost model
    pol.end_episode()
    frozen = pol.freeze()
    spec = frozen.artifact_spec()
    for key, value in maps.items():
        assert getattr(frozen, key) == value and spec[key] == value
        if costmodel == "auto":
            assert spec["auto_options"][key] == value
    t = g.randomized(seed=5, draw=1)
    run = GuardedPolicy.from_artifact(spec, "bandit", None).for_trace(t, cost)
    payload = pack_guarded(run.kernel_program())
    for key, value in maps.items():
        assert getattr(run, key) == value
        assert struct.unpack_from("<H", payload, OFFSET[key])[0] == value
    due, scan = struct.unpack_from("<2B", payload, 758)
    if maps["proof_duemap"]:  # the due map's prices, from the cost model each run is priced by
        priced = cost if costmodel == "auto" else make_costmodel("host")
        want = guard_constants(priced, proof=1, proof_ttl=16, proof_backoff=1, proof_duemap=1)
        assert (due, scan) == (want["walk_due_ns"], want["walk_scan_ns"]) != (0, 0)
    else:
        assert (due, scan) == (0, 0)
    off = pack_guarded(_bandit(OFF, costmodel=costmodel).freeze().for_trace(t, cost)
                       .kernel_program())
    assert struct.unpack_from("<HH2B", off, 754) == (0, 0, 0, 0)


@pytest.mark.parametrize("costmodel", ["auto", "seed_table1"])
def test_a_bandit_artifact_saved_without_the_maps_loads_as_0(costmodel: str) -> None:
    """A frozen bandit saved before the maps (its own prices or ``costmodel: auto``) loads
    with both 0 and decides as saved: as the frozen bandit without them, otherwise than with
    them."""
    cost = make_costmodel("seed_table1")
    # what such an artifact holds: the shield's other keys and prices, no map keys
    spec = _bandit(OFF, costmodel=costmodel).freeze().artifact_spec()
    for key in ("proof_skipmap", "proof_duemap"):
        assert spec.pop(key) == 0
        if costmodel == "auto":
            assert spec["auto_options"].pop(key) == 0
    assert spec.pop("walk_due_ns") == spec.pop("walk_scan_ns") == 0
    loaded = GuardedPolicy.from_artifact(spec, "bandit", None)
    assert (loaded.proof_skipmap, loaded.proof_duemap, loaded.walk_due) == (0, 0, 0)
    assert loaded.proof_span == 1 and loaded.table == _table()
    differ = 0
    for t in _traces()[:3]:
        ks = [_ks(p, t, cost) for p in (loaded, _bandit(OFF, costmodel=costmodel).freeze(),
                                        _bandit(MAPS["both"], costmodel=costmodel).freeze())]
        assert np.array_equal(ks[0], ks[1]), t.name  # decides as saved
        differ += len(ks[0]) != len(ks[2]) or not np.array_equal(ks[0], ks[2])
    assert differ > 0


def test_shield_constants_saved_without_the_maps_load_as_0() -> None:
    """A PPO/DQN shield's constants saved before the maps (and their prices): 0, no map;
    re-priced under another cost model they stay 0; saved with them they stay on."""
    cost = make_costmodel("seed_table1")
    new = guard_constants(cost, proof=1, proof_ttl=16, **KEYS_ON, **MAPS["both"])
    view = GuardView(new)
    assert (view.guard.proof_skipmap, view.guard.proof_duemap) == (1, 1)
    assert view.guard.walk_due == new["walk_due_ns"] > 0
    old = {k: v for k, v in new.items()
           if k not in ("proof_skipmap", "proof_duemap", "walk_due_ns", "walk_scan_ns")}
    view = GuardView(old)
    assert (view.guard.proof_skipmap, view.guard.proof_duemap, view.guard.walk_due,
            view.guard.walk_scan) == (0, 0, 0, 0)
    host = make_costmodel("host")
    assert repriced(view.constants, host, 1.0)["proof_duemap"] == 0
    again = repriced(GuardView(new).constants, host, 1.0)
    assert (again["proof_skipmap"], again["proof_duemap"]) == (1, 1)
    assert again["walk_due_ns"] == guard_constants(host, proof=1, proof_ttl=16,
                                                   proof_backoff=1,
                                                   proof_duemap=1)["walk_due_ns"]


@pytest.mark.parametrize("which", list(MAPS))
def test_frozen_bandit_with_the_maps_decides_alike_in_its_three_forms(cguarded,  # noqa: ANN001
                                                                      which: str) -> None:
    """Frozen with the maps: the prototype, the compiled program (the engine's replay) and
    ``cowrl_guarded.h`` compiled for user space (what the module runs) decide alike, fault for
    fault, and as the learning shield proposing the same table; the maps jump here and change
    decisions (dropped anywhere on the way, the test fails)."""
    cost = make_costmodel("seed_table1")
    maps = MAPS[which]
    jumps = duejumps = differ = precopied = 0
    for t in _traces():
        frozen = _bandit(maps).freeze().for_trace(t, cost)
        payload = pack_guarded(frozen.kernel_program())
        assert cguarded.check(payload) == 0
        ref, ev = simulate(t, frozen, cost, record_events=True, fast=False)
        jumps += frozen.ctx.proof_jumps
        duejumps += frozen.ctx.proof_duejumps
        assert_forms_agree(cguarded, payload, frozen, t, cost, ref, ev)
        learner = _bandit(maps)
        learner.begin_episode(t, cost, 1.0)
        _, ev_live = simulate(t, learner, cost, record_events=True, fast=False)
        learner.end_episode()
        assert np.array_equal(ev.k, ev_live.k), t.name
        k0 = _ks(_bandit(OFF).freeze(), t, cost)
        differ += len(k0) != len(ev.k) or not np.array_equal(k0, ev.k)
        precopied += ref.precopied
    assert precopied > 0 and differ > 0
    if maps["proof_duemap"]:  # its jumps take the place of the skip map's
        assert duejumps > 0
    else:
        assert jumps > 0 and duejumps == 0


@pytest.mark.parametrize(("kw", "match"), [
    ({"proof_skipmap": 2}, "policy.proof_skipmap must be 0 or 1"),
    ({"proof_skipmap": True}, "policy.proof_skipmap must be 0 or 1"),
    ({"proof_duemap": "1"}, "policy.proof_duemap must be 0 or 1"),
    ({"proof_duemap": 0.5}, "policy.proof_duemap must be 0 or 1"),
    ({"proof_backoff": 0, "proof_span": 0, "proof_duemap": 1},
     "policy.proof_duemap needs proof_backoff"),
])
def test_bad_maps_are_one_line_errors_naming_the_field(kw: dict[str, Any], match: str) -> None:
    for make in (lambda: BanditPolicy(DiscountedUCB(), context="guarded", shield=True, proof=1,
                                      proof_ttl=16, **{**KEYS_ON, **kw}),
                 lambda: SB3Spec(proof=1, proof_ttl=16, **{**KEYS_ON, **kw})):
        with pytest.raises(ConfigError, match=match) as e:
            make()
        assert "\n" not in str(e.value)
    for make in (lambda: BanditPolicy(DiscountedUCB(), context="guarded", shield=True, proof=0,
                                      proof_skipmap=1),
                 lambda: SB3Spec(proof=0, proof_skipmap=1)):
        with pytest.raises(ConfigError, match="policy.proof_skipmap needs proof"):
            make()


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_sb3_spec_carries_the_maps_to_its_env_and_its_deployed_shield(compose_cfg,
                                                                      algo: str) -> None:
    from hydra.utils import instantiate

    cost = make_costmodel("seed_table1")
    for maps in (*MAPS.values(), OFF):
        over = [f"policy.{k}={v}" for k, v in maps.items()]
        spec = instantiate(compose_cfg("train", [f"policy={algo}", *over]).policy)
        assert isinstance(spec, SB3Spec)
        assert {k: spec.proof_options[k] for k in maps} == maps
        env = spec.make_env([{"generator": "sequential", "n_pages": 512}], cost, 1.0)
        assert (env.view.guard.proof_skipmap, env.view.guard.proof_duemap) == tuple(
            maps.values())
        consts = guard_constants(cost, 1.0, **spec.proof_options)
        assert {k: consts[k] for k in maps} == maps


def test_sb3_shield_with_the_maps_decides_as_guarded_prototype_and_program() -> None:
    """A network asking ``k = 64`` at every fault through the training env's shield with the
    maps gets, fault for fault and at the same cost, the degrees of guarded with a table of 64s
    and the same options, prototype and compiled program; and otherwise than without them."""
    cost = make_costmodel("seed_table1")
    differ = 0

    def env(maps: dict[str, int]) -> Any:
        return SB3Spec(features="guarded", shield=True, reward="saving", proof=1, proof_ttl=16,
                       **KEYS_ON, **maps).make_env(
            [{"generator": "sequential", "n_pages": 512}], cost, 1.0)

    for t in _traces()[:3]:
        ks, env_obj = env_run(env(MAPS["both"]), t, 7)
        ref = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, proof=1, proof_ttl=16,
                                     **KEYS_ON, **MAPS["both"])
        for fast in (False, True):
            rec, ev = simulate(t, ref, cost, record_events=True, fast=fast)
            assert ks == ev.k.tolist(), (t.name, fast)
            assert env_obj == pytest.approx(objective(rec, 1.0, cost.page_cost_ns)), t.name
        off, _ = env_run(env(OFF), t, 7)
        differ += off != ks
    assert differ > 0



def test_default_config_composes_to_the_shipped_maps(compose_cfg) -> None:
    """conf/policy/bandit.yaml ships both maps (r26-bandit26, docs/policies.md, "The default
    bandit, shielded"): in its shield while learning and in its frozen policy; off by
    override."""
    cfg = compose_cfg("train", ["policy=bandit"])
    assert (cfg.policy.proof_skipmap, cfg.policy.proof_duemap) == (1, 1)
    pol = make_policy(cfg.policy)
    assert isinstance(pol, BanditPolicy)
    pol.begin_episode(g.randomized(seed=5, draw=1), make_costmodel("host"), 1.0)
    assert (pol.view.guard.proof_skipmap, pol.view.guard.proof_duemap) == (1, 1)
    pol.end_episode()
    frozen = pol.freeze()
    assert (frozen.proof_skipmap, frozen.proof_duemap) == (1, 1)
    off = compose_cfg("train", ["policy=bandit", "policy.proof_skipmap=0",
                                "policy.proof_duemap=0"])
    frozen = make_policy(off.policy).freeze()
    assert (frozen.proof_skipmap, frozen.proof_duemap) == (0, 0)
