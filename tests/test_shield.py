"""guarded's context and shield around PPO/DQN: the training env and the deployed policy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cowrl.envs.guarded_env import GuardedPrecopyEnv
from cowrl.envs.precopy_env import PrecopyEnv
from cowrl.errors import ConfigError
from cowrl.metrics import objective
from cowrl.policies.artifacts import load_policy, read_artifact
from cowrl.policies.guarded import N_CELLS, GuardedPolicy
from cowrl.policies.shield import N_GUARD_FEATURES, GuardView, guard_constants
from cowrl.policies.static import Baseline
from cowrl.registry import make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.training import train

# The bandit's shipped shield keys (conf/policy/bandit.yaml); PPO/DQN's yamls ship them too.
SHIELD_ON = {"proof_backoff": 1, "read_credit": 1, "proof_look": 1, "proof_span": 1}
# Keys ppo.yaml ships at 1 since session 40 (docs/results/learner-shields-s40.md), set to 0 where
# a test trains the shield as it was before them
LATER_KEYS = ("proof_skipmap", "proof_duemap", "stride_window")

def _episode(env: GuardedPrecopyEnv, trace, action: int) -> tuple[float, dict, list[int]]:
    env.reset(seed=0, options={"trace": trace})
    total, ks = 0.0, []
    while True:
        _, r, term, trunc, info = env.step(action)
        total += r
        ks.append(info["k"])
        if term or trunc:
            return total, info["run"], ks


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_saving_reward_sums_to_the_gain_over_baseline(cm: str) -> None:
    """Credited at the decision, the savings of an episode add up to baseline - objective."""
    cost = make_costmodel(cm)
    env = GuardedPrecopyEnv(PrecopyEnv(cost=cost), features="guarded", shield=False,
                            reward="saving")
    for t in (g.sequential(n_pages=1024), g.uniform(n_pages=1024, writes=1024, seed=3)):
        ret, run, _ = _episode(env, t, 4)  # k = 8 at every fault
        base = len(np.unique(t.pages)) * (cost.demand_ns + cost.decide_ns)
        assert ret == pytest.approx((base - run["objective"]) / cost.demand_ns, rel=1e-6)
    gain_env = GuardedPrecopyEnv(PrecopyEnv(cost=cost), shield=False, reward="gain")
    t = g.sequential(n_pages=1024)
    ret, run, _ = _episode(gain_env, t, 4)
    base = 1024 * (cost.demand_ns + cost.decide_ns)
    assert ret == pytest.approx(100 * (base - run["objective"]) / base, rel=1e-6)


def test_shield_caps_a_reckless_learner_as_the_guarded_budget_does() -> None:
    """Asking for k = 64 at every fault through the shield is exactly guarded with a table of
    64s: the same degrees, fault for fault, and within the 1% allowance on random writes."""
    cost = make_costmodel("seed_table1")
    env = GuardedPrecopyEnv(PrecopyEnv(cost=cost), features="guarded", shield=True)
    assert env.observation_space.shape == (7 + N_GUARD_FEATURES,)
    for t in (g.uniform(n_pages=2048, writes=2048, seed=1), g.sequential(n_pages=2048)):
        _, run, ks = _episode(env, t, 7)
        reckless = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS)
        rec, ev = simulate(t, reckless, cost, record_events=True)
        assert ks == ev.k.tolist(), t.name
        assert run["objective"] == pytest.approx(objective(rec, 1.0, cost.page_cost_ns))
        if t.name.startswith("uniform"):
            base = objective(simulate(t, Baseline(), cost), 1.0, cost.page_cost_ns)
            assert run["objective"] <= 1.01 * base


def test_guard_view_checks_its_arguments() -> None:
    consts = guard_constants(make_costmodel("seed_table1"))
    with pytest.raises(ConfigError, match="needs degree 0"):
        GuardView(consts, shield=True, degrees=[1, 2])
    with pytest.raises(ConfigError, match="policy.guard: missing loss_ns"):
        GuardView({k: v for k, v in consts.items() if k != "loss_ns"})
    with pytest.raises(RuntimeError, match="observe"):
        GuardView(consts).act(4)
    with pytest.raises(ConfigError, match="policy.reward"):
        GuardedPrecopyEnv(PrecopyEnv(), reward="return")


@pytest.mark.parametrize(("key", "bad"), [
    ("floor_slow", 5.5), ("proof_ttl", 1.5), ("floor_slow", True), ("proof", True),
    ("loss_ns", 24132.5), ("walk_empty_ns", 12.5), ("walk_ns", float("nan")),
    ("floor_slow", "5"), ("proof_ttl", None)])
def test_guard_view_refuses_what_it_would_truncate_naming_the_key(key: str, bad: object) -> None:
    """A guard constant that is not a whole number (a fraction, a bool, a string) was read
    with int(): floor_slow 5.5 ran as 5, proof_ttl 1.5 as 1. Now a one-line error naming it;
    a float with no fraction (5.0, as a YAML or JSON round trip may give) is still read."""
    consts = guard_constants(make_costmodel("seed_table1"), proof=1, proof_ttl=16,
                             floor_slow=5)
    with pytest.raises(ConfigError, match=f"policy.guard.{key} must be an integer") as e:
        GuardView({**consts, key: bad})
    assert "\n" not in str(e.value)
    view = GuardView({**consts, key: float(consts[key])})
    assert view.constants == GuardView(consts).constants
    assert all(type(v) is int for v in view.constants.values())


def _env_decisions(policy, t, cost, proof: int, proof_ttl: int = 0, **opts: int
                   ) -> tuple[list[int], float]:
    """The degrees ``policy``'s network gets in the training env (shield with ``proof``,
    ``proof_ttl`` and the other proof ``opts``) on ``t``, and that episode's objective
    (priced as the env prices it)."""
    env = GuardedPrecopyEnv(PrecopyEnv(cost=cost, prev_action_obs=True), features="guarded",
                            shield=True, reward="saving", proof=proof, proof_ttl=proof_ttl,
                            **opts)
    obs, _ = env.reset(seed=0, options={"trace": t})
    ks = []
    while True:
        a, _ = policy.model.predict(obs, deterministic=True)
        obs, _, term, trunc, info = env.step(int(a))
        ks.append(info["k"])
        if term or trunc:
            return ks, info["run"]["objective"]


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_default_ppo_dqn_configs_shield_with_interior_proofs(compose_cfg, algo: str) -> None:
    """conf/policy/{ppo,dqn}.yaml train behind guarded's version-4 shield (proof: 1), as
    guarded ships: the sentinel-credited shield (proof: 0) is spoofed by stride-2 writers."""
    from hydra.utils import instantiate

    spec = instantiate(compose_cfg("train", [f"policy={algo}"]).policy)
    assert (spec.proof, spec.shield, spec.features) == (1, True, "guarded")
    assert spec.proof_ttl == 16  # as guarded ships it: the budget reserves the proof reads
    # the bandit's shield keys, shipped since r10-ppodqn (docs/policies.md)
    assert {k: getattr(spec, k) for k in SHIELD_ON} == SHIELD_ON


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_shielded_sb3_policy_deploys_what_it_trained_in(compose_cfg, tmp_path: Path,
                                                        algo: str) -> None:
    """The saved policy (today's defaults: shield with proof 1) rebuilds guarded's context and
    shield from its artifact and, replayed by the simulator, makes the decisions its network
    makes in the training env, priced alike: every copied page pays the clean
    (``Policy.priced``), as guarded with proof 1 pays it."""
    steps = ["policy.kwargs.n_steps=64", "policy.kwargs.batch_size=64"] if algo == "ppo" \
        else ["policy.kwargs.learning_starts=64"]
    out = tmp_path / algo
    cfg = compose_cfg("train", [f"policy={algo}", "timesteps=512", "workloads=[seq,random]",
                                f"out={out}", "latest_dir=null", "progress=false", *steps])
    train(cfg)
    spec = read_artifact(out)["policy"]
    assert spec["features"] == "guarded" and spec["shield"] is True
    assert spec["guard"]["proof"] == 1 and spec["guard"]["proof_ttl"] == 16
    policy = load_policy(out / "policy.json", name=algo)
    cost = make_costmodel("seed_table1")
    assert cost.proof_clean_ns > 0
    assert policy.priced(cost) == cost.with_clean() != cost
    # The budget's prices include the clean and the reads' reserve, as
    # GuardedPolicy.for_cost(proof=1, proof_ttl=16) sets them.
    opts = {k: spec["guard"][k] for k in SHIELD_ON}  # as the yaml ships them
    ref = GuardedPolicy.for_cost(cost, proof=1, proof_ttl=16, **opts)
    g_ = policy.view.guard
    assert (g_.proof, g_.proof_ttl, g_.loss, g_.gain) == (1, 16, ref.loss, ref.gain)
    assert {k: getattr(g_, k) for k in opts} == opts
    t = g.randomized(seed=5, draw=2)
    ks, env_obj = _env_decisions(policy, t, cost, proof=1, proof_ttl=16, **opts)
    rec, ev = simulate(t, policy, cost, record_events=True)
    assert ks == ev.k.tolist()
    assert objective(rec, 1.0, cost.page_cost_ns) == pytest.approx(env_obj)
    # The clean is charged per copied page: a network asking k = 64 everywhere, replayed
    # priced and (the method shadowed) unpriced, makes the same windows and pays the
    # difference. The network stub makes sure windows open.
    policy.model.predict = lambda obs, deterministic=True: (7, None)
    seq = g.sequential(n_pages=2048)
    priced = simulate(seq, policy, cost)
    policy.priced = lambda c: c
    unpriced = simulate(seq, policy, cost)
    assert priced.precopied == unpriced.precopied > 0
    assert objective(priced, 1.0, cost.page_cost_ns) - objective(
        unpriced, 1.0, cost.page_cost_ns) == pytest.approx(priced.precopied *
                                                           cost.proof_clean_ns)


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_sb3_artifact_keeps_the_shield_keys_and_loads_without_them_as_0(
        compose_cfg, tmp_path: Path, algo: str) -> None:
    """Trained with the bandit's shield keys on, the saved policy keeps them and, replayed by
    the simulator, decides and costs as its training env; saved without them (as before
    they existed) it loads each as 0 and decides as a training env without them, which here
    decides otherwise."""
    import json

    steps = ["policy.kwargs.n_steps=64", "policy.kwargs.batch_size=64"] if algo == "ppo" \
        else ["policy.kwargs.learning_starts=64"]
    out = tmp_path / algo
    # the maps and strided windows (ppo.yaml ships them since session 40) off: this is the
    # shield before them; their own load-as-0 is tests/test_bandit_maps.py's and
    # tests/test_learner_stride.py's
    train(compose_cfg("train", [f"policy={algo}", "timesteps=512", "workloads=[seq,random]",
                                f"out={out}", "latest_dir=null", "progress=false", *steps,
                                *[f"policy.{k}={v}" for k, v in SHIELD_ON.items()],
                                *[f"policy.{k}=0" for k in LATER_KEYS]]))
    art = json.loads((out / "policy.json").read_text())
    assert {k: art["policy"]["guard"][k] for k in SHIELD_ON} == SHIELD_ON
    # floor and grant_left as the yaml ships them (saved before them: 0 and 2,
    # tests/test_shield_floor.py)
    later = {k: art["policy"]["guard"][k] for k in ("floor", "grant_left")}
    cost = make_costmodel("seed_table1")
    t = g.randomized(seed=2000, draw=0, families="mixture")
    runs = {}
    for saved in (SHIELD_ON, {}):
        if not saved:  # as saved before the keys (read_ns goes with read_credit)
            for k in (*SHIELD_ON, "read_ns", *later):
                art["policy"]["guard"].pop(k)
            (out / "policy.json").write_text(json.dumps(art))
        policy = load_policy(out / "policy.json", name=algo)
        assert {k: getattr(policy.view.guard, k) for k in SHIELD_ON} == \
            {k: saved.get(k, 0) for k in SHIELD_ON}
        ks, env_obj = _env_decisions(policy, t, cost, proof=1, proof_ttl=16, **saved,
                                     **(later if saved else {}))
        rec, ev = simulate(t, policy, cost, record_events=True)
        assert ks == ev.k.tolist(), saved
        assert objective(rec, 1.0, cost.page_cost_ns) == pytest.approx(env_obj)
        runs[bool(saved)] = ks
    assert runs[True] != runs[False]


def test_sb3_artifacts_saved_before_proof_1_load_and_behave_as_saved(compose_cfg,
                                                                     tmp_path: Path) -> None:
    """An artifact whose shield was saved with proof 0, or before the key existed, keeps its
    sentinel-credited shield and the unpriced cost model: it decides as a proof-0 training
    env and is priced without the clean."""
    import json

    out = tmp_path / "ppo"
    train(compose_cfg("train", ["policy=ppo", "policy.proof=0", "policy.proof_ttl=0",
                                *[f"policy.{k}=0" for k in (*SHIELD_ON, *LATER_KEYS)],
                                "timesteps=256",
                                "policy.kwargs.n_steps=32", "policy.kwargs.batch_size=64",
                                "workloads=[seq]", f"out={out}", "latest_dir=null",
                                "progress=false"]))
    art = json.loads((out / "policy.json").read_text())
    assert art["policy"]["guard"]["proof"] == 0
    cost = make_costmodel("seed_table1")
    t = g.randomized(seed=0, draw=0, families="multi_stream")
    for drop in (False, True):
        if drop:  # as saved before version 4: no proof/proof_reads in the guard
            for k in ("proof", "proof_reads", "proof_ttl"):
                art["policy"]["guard"].pop(k)
            (out / "policy.json").write_text(json.dumps(art))
        policy = load_policy(out / "policy.json", name="ppo")
        assert policy.view.guard.proof == 0 and policy.priced(cost) is cost
        ks, env_obj = _env_decisions(policy, t, cost, proof=0)
        rec, ev = simulate(t, policy, cost, record_events=True)
        assert ks == ev.k.tolist()
        assert objective(rec, 1.0, cost.page_cost_ns) == pytest.approx(env_obj)


def test_shield_allowance_follows_the_cost_model() -> None:
    """Under tcg a copied page costs more than the fault it saves: GuardedPolicy.for_cost
    grants no allowance, and the shield of PPO/DQN must not either (k = 64 asked at every
    fault copies nothing there, and something under seed_table1). Older artifacts without
    the key keep the 1% they were trained with."""
    tcg = make_costmodel("tcg")
    assert guard_constants(tcg)["budget_per_mille"] == 0
    assert guard_constants(make_costmodel("seed_table1"))["budget_per_mille"] == 10
    t = g.sequential(n_pages=2048)
    for cm, copies in (("tcg", False), ("seed_table1", True)):
        env = GuardedPrecopyEnv(PrecopyEnv(cost=make_costmodel(cm)), features="guarded",
                                shield=True)
        _, run, ks = _episode(env, t, 7)
        assert any(ks) is copies, cm
    old = {k: v for k, v in guard_constants(tcg).items() if k != "budget_per_mille"}
    assert GuardView(old).guard.allowance == int(tcg.demand_ns) * 10 // 1000


def test_shield_walk_prices_and_old_artifacts() -> None:
    """The shield pays the look's walk at guarded's two prices (for_cost: an empty slot
    ceil(proof_step_ns), a live entry walk_ns); constants saved before walk_empty_ns load
    with walk_ns for an empty slot (one price, as they decided when saved), saved before
    walk_ns with 0 for both; shield: false pays nothing."""
    cost = make_costmodel("seed_table1")
    new = guard_constants(cost, proof=1, proof_ttl=16, proof_backoff=1)
    assert (new["walk_ns"], new["walk_empty_ns"]) == (68, 43)
    guard = GuardView(new).guard
    assert (guard.walk, guard.walk_empty) == (68, 43)
    assert GuardView(new).constants["walk_empty_ns"] == 43  # what an artifact saves
    # with proof_skipmap an empty slot is jumped from, at ceil(proof_jump_ns)
    jump = guard_constants(cost, proof=1, proof_ttl=16, proof_backoff=1, proof_skipmap=1)
    assert (jump["walk_ns"], jump["walk_empty_ns"], jump["proof_skipmap"]) == (
        68, math.ceil(cost.proof_jump_ns), 1)
    assert GuardView(jump).guard.proof_skipmap == 1
    assert GuardView({k: v for k, v in jump.items() if k != "proof_skipmap"}) \
        .guard.proof_skipmap == 0
    old = {k: v for k, v in new.items() if k != "walk_empty_ns"}
    guard = GuardView(old).guard
    assert (guard.walk, guard.walk_empty) == (68, 68)
    older = {k: v for k, v in old.items() if k != "walk_ns"}
    guard = GuardView(older).guard
    assert (guard.walk, guard.walk_empty) == (0, 0)
    guard = GuardView(new, shield=False).guard
    assert (guard.walk, guard.walk_empty) == (0, 0)
    assert guard_constants(cost)["walk_empty_ns"] == 0  # proof: 0


def test_shield_proof_look_and_old_artifacts() -> None:
    """The shield looks as guarded with proof_look; constants saved before it load 0."""
    cost = make_costmodel("seed_table1")
    new = guard_constants(cost, proof=1, proof_ttl=16, proof_backoff=1, proof_look=1)
    assert new["proof_look"] == 1 and GuardView(new).guard.proof_look == 1
    old = {k: v for k, v in new.items() if k != "proof_look"}
    assert GuardView(old).guard.proof_look == 0
    assert guard_constants(cost)["proof_look"] == 0  # proof: 0


def test_shield_read_credit_and_old_artifacts() -> None:
    """The shield credits the reserved reads a proven copy did not use as guarded does
    (read_credit, read_ns = floor(proof_read_ns) from for_cost); constants saved before
    read_credit load with 0 for both (no such credit: they decide as saved); shield: false
    prices nothing. A shielded env with read_credit decides as guarded with it, fault for
    fault, and otherwise than without it."""
    cost = make_costmodel("seed_table1")
    new = guard_constants(cost, proof=1, proof_ttl=16, proof_backoff=1, read_credit=1)
    assert (new["read_credit"], new["read_ns"]) == (1, 107)
    guard = GuardView(new).guard
    assert (guard.read_credit, guard.read_ns) == (1, 107)
    assert GuardView(new).constants["read_ns"] == 107  # what an artifact saves
    old = {k: v for k, v in new.items() if k not in ("read_credit", "read_ns")}
    guard = GuardView(old).guard
    assert (guard.read_credit, guard.read_ns) == (0, 0)
    assert GuardView(new, shield=False).guard.read_ns == 0
    plain = guard_constants(cost, proof=1, proof_ttl=16, proof_backoff=1)
    assert (plain["read_credit"], plain["read_ns"]) == (0, 0)
    t = g.randomized(seed=2000, draw=0, families="mixture")
    ks = {}
    for rc in (1, 0):
        env = GuardedPrecopyEnv(PrecopyEnv(cost=cost), features="guarded", shield=True,
                                proof=1, proof_ttl=16, proof_backoff=1, read_credit=rc)
        assert env.view.guard.read_ns == 107 * rc
        _, _, ks[rc] = _episode(env, t, 7)
        ref = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, proof=1, proof_ttl=16,
                                     proof_backoff=1, read_credit=rc)
        assert ks[rc] == simulate(t, ref, cost, record_events=True, fast=False)[1].k.tolist()
    assert ks[1] != ks[0]


@pytest.mark.parametrize("want", [1, 7])  # k = 1 and k = 64 asked at every fault
def test_shield_with_proof_is_guarded_version_4(want: int) -> None:
    """The shield with interior proofs (proof = 1) reads the engine's page state through the
    env's FaultContext: a fixed proposer gets exactly guarded's version-4 degrees, and on a
    multi_stream / mixture draw its loss stays within the allowances (the sentinel spoof
    that put the shield at 1.06 x baseline gives no credit)."""
    cost = make_costmodel("seed_table1")
    env = GuardedPrecopyEnv(PrecopyEnv(cost=cost), features="guarded", shield=True,
                            proof=1)
    for t in (g.randomized(seed=0, draw=0, families="multi_stream"),
              g.randomized(seed=1, draw=2, families="mixture"), g.sequential(n_pages=2048)):
        _, run, ks = _episode(env, t, want)
        table = [(1, 64)[want == 7]] * N_CELLS
        ref = GuardedPolicy.for_cost(cost, table=table, proof=1)
        rec, ev = simulate(t, ref, cost, record_events=True, fast=False)
        assert ks == ev.k.tolist(), t.name
        assert run["objective"] == pytest.approx(objective(rec, 1.0, cost.page_cost_ns))
        zeros = GuardedPolicy.for_cost(cost, table=[0] * N_CELLS, proof=1)
        base = objective(simulate(t, zeros, cost), 1.0, cost.page_cost_ns)
        # the unproven reads are charged (simulate, the env alike) but proof_ttl = 0 does
        # not reserve them, nor does any budget the looks' walk: the bound covers the copies
        # and cleans (test_guarded_proof.py)
        c = ref.ctx
        unreserved = c.unproven_reads * cost.proof_read_ns + c.proof_empty \
            * cost.proof_step_ns + (c.proof_skips + c.proof_other) * cost.proof_skip_ns
        assert run["objective"] - unreserved - base <= ref.granted + t.n_pages, t.name
