"""``proof_backoff``, ``proof_look`` and ``proof_span`` in the shield of the default bandit
(and, with ``read_credit``, in PPO/DQN's, which ship them too; guarded's options,
docs/policies.md, "Backoff of proof reads", "Own-bucket proof looks, built", "Column sweeps
held out: where the windows go"): each reaches the learning shield, the frozen ``guarded``
policy, its artifact and the table the module runs; an artifact saved without it loads as 0
(decides as saved); the frozen policy with it decides in its compiled program as in the
prototype and as the learning shield, and otherwise than without it; bad values are one-line
errors naming the field.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from conftest import load_experiment
from omegaconf import OmegaConf
from shieldpaths import env_run

from cowrl.errors import ConfigError
from cowrl.kernel.table import pack_guarded
from cowrl.metrics import objective
from cowrl.policies.bandits import BanditPolicy, DiscountedUCB
from cowrl.policies.guarded import ALIGN_ARMS, N_CELLS, GuardedPolicy
from cowrl.policies.shield import GuardView, guard_constants
from cowrl.registry import CONF_DIR, make_costmodel, make_policy
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace
from cowrl.training.sb3 import SB3Spec

# What conf/policy/bandit.yaml ships (docs/policies.md, "The default bandit, shielded").
SHIPPED = {"proof_backoff": 1, "proof_look": 1, "proof_span": 1}
ARMS = (0, 1, 2, 4, 8, 16, 32, 64, *ALIGN_ARMS)
# struct cowrl_guarded_table: proof_backoff (u16, the former pad[0]), proof_look (u16),
# proof_span (u16, the last pad)
OFFSET = {"proof_backoff": 740, "proof_look": 748, "proof_span": 750}


class _Fixed(DiscountedUCB):
    """A learner that proposes a fixed table (learning and greedy alike)."""

    def __init__(self, table: Sequence[int]) -> None:
        super().__init__(arms=sorted(set(ARMS) | set(table)))
        self.table = list(table)

    def _select(self, c: int) -> int:
        return self._index[self.table[c]]

    def greedy(self, contexts: object = None) -> list[int]:
        return list(self.table)


def _table() -> list[int]:
    return list(make_policy("guarded").table)  # a learned table that opens windows


def _bandit(key: str, value: int, **kw: Any) -> BanditPolicy:
    """The shield with ``key`` set to ``value`` (proof_look over backoff's reads, proof_span
    over both, as shipped)."""
    base = {"proof_look": {"proof_backoff": 1},
            "proof_span": {"proof_backoff": 1, "proof_look": 1}}.get(key, {})
    opts = {**base, key: value}
    return BanditPolicy(_Fixed(_table()), context="guarded", shield=True, proof=1,
                        proof_ttl=16, **opts, **kw)


def _backoff_traces() -> list[Trace]:
    """Copies written late (a mixture and a tiled2d draw: backoff proves what ttl 16 expires),
    three interleaved streams, and a multi_stream draw."""
    return [g.randomized(seed=2000, draw=0, families="mixture"),
            g.randomized(seed=2000, draw=0, families="tiled2d"),
            g.interleaved(n_pages=4096, streams=3, seed=2),
            g.randomized(seed=5, draw=1, families="multi_stream")]


def _look_traces() -> list[Trace]:
    """Regions whose copies outlive their writers (experiments/guarded_ttl.py's multi-region
    development traces): a region written sequentially to half, then others, one after the
    other and in turns."""
    ttl = load_experiment("guarded_ttl")
    parts = [g.sequential(n_pages=1024, writes=500),
             g.randomized(seed=2000, draw=0, families="tiled2d"), g.sequential(n_pages=4096)]
    return [ttl.multi_region(parts, "phases"), ttl.multi_region(parts, "interleaved", 64)]


def _span_traces() -> list[Trace]:
    """Column sweeps, where a copy waits a column for its write (a stride-13 sweep, a tiled2d
    and a mixture draw: the looks walked empty slots and not-yet-due entries), and regions in
    turns."""
    return [g.stride(n_pages=8192, stride=13),
            g.randomized(seed=2000, draw=0, families="tiled2d"),
            g.randomized(seed=2000, draw=0, families="mixture"), _look_traces()[1]]


TRACES: dict[str, Callable[[], list[Trace]]] = {"proof_backoff": _backoff_traces,
                                                "proof_look": _look_traces,
                                                "proof_span": _span_traces}
KEYS = tuple(SHIPPED)


@pytest.mark.parametrize("key", KEYS)
def test_default_config_composes_to_the_shipped_option(compose_cfg, key: str) -> None:
    cfg = compose_cfg("train", ["policy=bandit"])
    assert cfg.policy[key] == SHIPPED[key]
    pol = make_policy(cfg.policy)
    assert isinstance(pol, BanditPolicy) and getattr(pol, key) == SHIPPED[key]
    frozen = pol.freeze()
    assert isinstance(frozen, GuardedPolicy) and getattr(frozen, key) == SHIPPED[key]
    # proof_span and proof_duemap read backoff's due faults: backoff 0 takes them off too
    also = (["policy.proof_span=0", "policy.proof_duemap=0"] if key == "proof_backoff"
            else [])
    off = compose_cfg("train", ["policy=bandit", f"policy.{key}=0", *also])
    assert getattr(make_policy(off.policy).freeze(), key) == 0
    for name in ("ppo", "dqn"):  # their shield ships it too (r10-ppodqn, docs/policies.md)
        spec = OmegaConf.load(CONF_DIR / "policy" / f"{name}.yaml")
        assert spec[key] == SHIPPED[key] and spec.read_credit == 1, name


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("costmodel", ["auto", "host"])
def test_option_reaches_the_shield_the_artifact_and_the_module_table(costmodel: str,
                                                                     key: str) -> None:
    cost = make_costmodel("seed_table1")
    pol = _bandit(key, 1, costmodel=costmodel)
    pol.begin_episode(g.randomized(seed=5, draw=1), cost, 1.0)
    assert getattr(pol.view.guard, key) == 1  # the shield it learns under
    pol.end_episode()
    frozen = pol.freeze()
    assert getattr(frozen, key) == 1
    spec = frozen.artifact_spec()
    assert spec[key] == 1
    if costmodel == "auto":
        assert spec["auto_options"][key] == 1
    loaded = GuardedPolicy.from_artifact(spec, "bandit", None)
    run = loaded.for_trace(g.randomized(seed=5, draw=1), cost)
    assert getattr(run, key) == 1
    payload = pack_guarded(run.kernel_program())
    assert struct.unpack_from("<H", payload, OFFSET[key])[0] == 1
    off = pack_guarded(_bandit(key, 0, costmodel=costmodel).freeze()
                       .for_trace(g.randomized(seed=5, draw=1), cost).kernel_program())
    assert struct.unpack_from("<H", off, OFFSET[key])[0] == 0


@pytest.mark.parametrize("key", KEYS)
def test_artifacts_saved_without_the_key_load_as_0(key: str) -> None:
    """A frozen bandit (guarded artifact, its own prices or ``costmodel: auto``) and a
    PPO/DQN shield's constants saved before the option decide as saved: without it."""
    cost = make_costmodel("seed_table1")
    new = guard_constants(cost, proof=1, proof_ttl=16, proof_backoff=1,
                          proof_look=int(key in ("proof_look", "proof_span")),
                          proof_span=int(key == "proof_span"))
    assert new[key] == 1 and getattr(GuardView(new).guard, key) == 1
    old = {k: v for k, v in new.items() if k != key}
    assert getattr(GuardView(old).guard, key) == 0
    t = _look_traces()[1]  # where each option decides otherwise (pinned below)
    for costmodel in ("auto", "seed_table1"):
        spec = _bandit(key, 1, costmodel=costmodel).freeze().artifact_spec()
        assert spec.pop(key) == 1
        if costmodel == "auto":
            assert spec["auto_options"].pop(key) == 1
        loaded = GuardedPolicy.from_artifact(spec, "bandit", None)
        assert getattr(loaded, key) == 0 and loaded.proof_ttl == 16
        assert loaded.table == _table()
        ks = [simulate(t, p.for_trace(t, cost), cost, record_events=True)[1].k
              for p in (loaded, _bandit(key, 0, costmodel=costmodel).freeze(),
                        _bandit(key, 1, costmodel=costmodel).freeze())]
        assert np.array_equal(ks[0], ks[1]), (key, costmodel)  # decides as saved
        assert len(ks[0]) != len(ks[2]) or not np.array_equal(ks[0], ks[2]), key


@pytest.mark.parametrize("key", KEYS)
def test_frozen_bandit_with_the_option_decides_as_its_program_and_its_shield(key: str) -> None:
    """Frozen with the option on: the compiled program (the engine's replay, what the module
    runs) decides as the prototype, fault for fault, and both as the learning shield
    proposing the same table; and the option changes decisions here (the test can fail if
    it is dropped anywhere on the way)."""
    cost = make_costmodel("seed_table1")
    skips = differ = precopied = 0
    for t in TRACES[key]():
        frozen = _bandit(key, 1).freeze().for_trace(t, cost)
        ref, ev_ref = simulate(t, frozen, cost, record_events=True, fast=False)
        skips += frozen.ctx.proof_skips
        got, ev_got = simulate(t, frozen, cost, record_events=True, fast=True)
        assert np.array_equal(ev_ref.k, ev_got.k) and np.array_equal(ev_ref.page, ev_got.page)
        assert (ref.precopied, ref.wasted) == (got.precopied, got.wasted), t.name
        assert np.allclose(ref.fault_ns, got.fault_ns), t.name
        learner = _bandit(key, 1)
        learner.begin_episode(t, cost, 1.0)
        _, ev_live = simulate(t, learner, cost, record_events=True, fast=False)
        learner.end_episode()
        assert np.array_equal(ev_ref.k, ev_live.k), t.name
        _, ev0 = simulate(t, _bandit(key, 0).freeze().for_trace(t, cost), cost,
                          record_events=True)
        differ += len(ev0.k) != len(ev_ref.k) or not np.array_equal(ev0.k, ev_ref.k)
        precopied += got.precopied
    assert skips > 0 and differ > 0 and precopied > 0


@pytest.mark.parametrize("bad", [2, -1, "1", True, 0.5])
def test_bad_proof_backoff_is_a_one_line_error_naming_the_field(bad: object) -> None:
    for make in (lambda: BanditPolicy(DiscountedUCB(), context="guarded", shield=True,
                                      proof=1, proof_backoff=bad),
                 lambda: SB3Spec(proof=1, proof_backoff=bad)):
        with pytest.raises(ConfigError, match="policy.proof_backoff") as e:
            make()
        assert "\n" not in str(e.value)
    for make in (lambda: BanditPolicy(DiscountedUCB(), context="guarded", shield=True,
                                      proof=0, proof_backoff=1),
                 lambda: SB3Spec(proof=0, proof_backoff=1)):
        with pytest.raises(ConfigError, match="policy.proof_backoff"):
            make()


@pytest.mark.parametrize(("kw", "match"), [
    ({"proof_backoff": 1, "proof_span": 2}, "policy.proof_span must be 0 or 1"),
    ({"proof_backoff": 1, "proof_span": True}, "policy.proof_span must be 0 or 1"),
    ({"proof_backoff": 0, "proof_span": 1}, "policy.proof_span needs proof_backoff"),
])
def test_bad_proof_span_is_a_one_line_error_naming_the_field(kw: dict[str, Any],
                                                            match: str) -> None:
    with pytest.raises(ConfigError, match=match) as e:
        BanditPolicy(DiscountedUCB(), context="guarded", shield=True, proof=1, proof_ttl=16,
                     **kw)
    assert "\n" not in str(e.value)


# The PPO/DQN shield (cowrl.training.sb3.SB3Spec -> GuardedPrecopyEnv, and the deployed
# SB3Policy's GuardView): the same options, read_credit too, through the spec's one
# proof_options. "On" is the bandit's shipped shield; "off" is it with the key 0 (and
# proof_span 0 with proof_backoff 0: the span reads backoff's due faults).
SB3_KEYS = ("proof_backoff", "read_credit", "proof_look", "proof_span")
SB3_ON = {k: 1 for k in SB3_KEYS}


def _sb3_options(key: str, value: int) -> dict[str, int]:
    opts = {**SB3_ON, key: value}
    if not opts["proof_backoff"]:
        opts["proof_span"] = 0
    return opts


def _sb3_spec(key: str, value: int) -> SB3Spec:
    return SB3Spec(features="guarded", shield=True, reward="saving", proof=1, proof_ttl=16,
                   **_sb3_options(key, value))


def _sb3_env(key: str, value: int, cost: Any) -> Any:
    """The training env ``train.py policy=ppo|dqn`` builds (SB3Spec.make_env)."""
    return _sb3_spec(key, value).make_env([{"generator": "sequential", "n_pages": 512}],
                                          cost, 1.0)


SB3_TRACES: dict[str, Callable[[], list[Trace]]] = {
    **TRACES, "read_credit": lambda: [g.randomized(seed=2000, draw=0, families="mixture"),
                                      *_span_traces()[:2]]}


@pytest.mark.parametrize("key", SB3_KEYS)
def test_sb3_spec_carries_the_option_to_its_env_and_its_deployed_shield(compose_cfg,
                                                                        key: str) -> None:
    """policy=ppo|dqn with the option set reaches the spec, the training env's shield and
    the constants the deployed policy (and its artifact) is built from."""
    from hydra.utils import instantiate

    cost = make_costmodel("seed_table1")
    for value in (1, 0):
        for algo in ("ppo", "dqn"):
            over = [f"policy.{k}={v}" for k, v in _sb3_options(key, value).items()]
            if not _sb3_options(key, value)["proof_backoff"]:  # ppo.yaml ships proof_duemap
                over.append("policy.proof_duemap=0")  # 1 (session 40), which needs backoff
            spec = instantiate(compose_cfg("train", [f"policy={algo}", *over]).policy)
            assert isinstance(spec, SB3Spec) and getattr(spec, key) == value, algo
            proof = {k: v for k, v in spec.proof_options.items()  # test_shield_floor*.py,
                     if k not in ("floor", "grant_left", "floor_slow",  # test_bandit_maps.py,
                                  "proof_skipmap", "proof_duemap",  # test_learner_stride.py
                                  "stride_window")}
            assert proof == {"proof": 1, "proof_ttl": 16, **_sb3_options(key, value)}
        env = _sb3_env(key, value, cost)
        assert getattr(env.view.guard, key) == value
        consts = guard_constants(cost, 1.0, **_sb3_spec(key, value).proof_options)
        assert consts[key] == value and getattr(GuardView(consts).guard, key) == value


@pytest.mark.parametrize("key", SB3_KEYS)
def test_sb3_shield_with_the_option_decides_as_guarded_prototype_and_program(key: str
                                                                             ) -> None:
    """A network asking ``k = 64`` at every fault through the training env's shield gets,
    fault for fault and at the same cost, the degrees of guarded with a table of 64s and the
    same options, in its prototype and in its compiled program (what the module runs); and
    the option changes decisions here (dropped on the way, the test fails)."""
    cost = make_costmodel("seed_table1")
    differ = 0
    for t in SB3_TRACES[key]():
        ks, env_obj = env_run(_sb3_env(key, 1, cost), t, 7)
        ref = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, proof=1, proof_ttl=16,
                                     **SB3_ON)
        for fast in (False, True):
            rec, ev = simulate(t, ref, cost, record_events=True, fast=fast)
            assert ks == ev.k.tolist(), (t.name, fast)
            assert env_obj == pytest.approx(objective(rec, 1.0, cost.page_cost_ns)), t.name
        off, _ = env_run(_sb3_env(key, 0, cost), t, 7)
        differ += off != ks
    assert differ > 0, key


@pytest.mark.parametrize(("key", "bad", "match"), [
    ("read_credit", 2, "policy.read_credit must be 0 or 1"),
    ("proof_look", True, "policy.proof_look must be 0 or 1"),
    ("proof_look", "1", "policy.proof_look must be 0 or 1"),
    ("proof_span", 2, "policy.proof_span must be 0 or 1"),
    ("proof_span", 0.5, "policy.proof_span must be 0 or 1"),
])
def test_bad_sb3_shield_options_are_one_line_errors_naming_the_field(key: str, bad: object,
                                                                     match: str) -> None:
    with pytest.raises(ConfigError, match=match) as e:
        SB3Spec(proof=1, proof_ttl=16, **{**SB3_ON, key: bad})
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="policy.proof_span needs proof_backoff") as e:
        SB3Spec(proof=1, proof_ttl=16, proof_backoff=0, proof_span=1)
    assert "\n" not in str(e.value)
