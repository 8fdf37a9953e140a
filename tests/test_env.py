"""The gymnasium front end: API conformance, determinism, and exactness against the simulator."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import cowrl  # noqa: F401  (registers cowrl/Precopy-v0)
from cowrl.envs.precopy_env import DEFAULT_DEGREES, PrecopyEnv
from cowrl.envs.vector import PrecopyVectorEnv
from cowrl.errors import ConfigError, CowrlError, TraceError
from cowrl.metrics import summarize
from cowrl.policies.static import Baseline, HugePage, StaticPrecopy
from cowrl.sim.costmodel import CopyWholeHuge, CostModel
from cowrl.sim.simulator import simulate
from cowrl.traces.generators import GENERATORS

ENV_ID = "cowrl/Precopy-v0"
LAM = 0.5


def cost(**kw) -> CostModel:
    base = dict(fault_ns=1000.0, copy_ns=700.0, precopy_ns=150.0, thp_split_ns=5000.0,
                write_ns=3.0)
    base.update(kw)
    return CostModel(**base)


def small_suite(n_pages: int = 700, writes: int = 1500) -> list[dict]:
    """Every generator, small; n_pages > 512 so huge pages and region ends both matter."""
    specs = []
    for g in GENERATORS:
        spec = {"generator": g, "n_pages": n_pages, "writes": writes}
        if g == "sparse":
            spec = {"generator": g, "n_pages": n_pages, "touched": 40, "writes": 200}
        specs.append(spec)
    return specs


def rollout(env: gym.Env, actions: np.ndarray, seed: int) -> list[tuple]:
    """Step through ``actions``, resetting at episode ends; record everything."""
    out = []
    obs, info = env.reset(seed=seed)
    out.append((obs, info))
    for a in actions:
        obs, r, te, tr, info = env.step(a)
        out.append((obs, r, te, tr, info))
        if te or tr:
            obs, info = env.reset()
            out.append((obs, info))
    return out


def assert_same(a, b) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b), (a, b)
    else:
        assert type(a) is type(b) and a == b, (a, b)


# --- API conformance ----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {},
    {"prev_action_obs": True, "thp": True, "max_faults": 50},
    {"cost": {"fault_ns": 1.0, "copy_ns": 1.0, "precopy_ns": 0.5,
              "noise": {"kind": "lognormal", "sigma": 0.3}}},
])
def test_check_env_without_warnings(kwargs: dict) -> None:
    env = PrecopyEnv(workloads=small_suite(), **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)


def test_gymnasium_make_and_help_manual() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(ENV_ID, workloads=small_suite(), cost=cost())
        obs, info = env.reset(seed=3)
        assert env.observation_space.contains(obs)
        obs, r, te, tr, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
    assert isinstance(env.unwrapped, PrecopyEnv)
    assert {"page", "k", "precopied", "wasted", "fault_ns"} <= info.keys()
    doc = PrecopyEnv.__doc__
    for section in ("Action space", "Observation space", "Reward", "Episode end", "Arguments"):
        assert section in doc


def test_same_seed_envs_agree_exactly() -> None:
    kw = dict(workloads=small_suite(), cost=cost(noise={"kind": "lognormal", "sigma": 0.2}),
              prev_action_obs=True)
    acts = np.random.default_rng(0).integers(0, len(DEFAULT_DEGREES), 3000)
    a, b = rollout(PrecopyEnv(**kw), acts, seed=11), rollout(PrecopyEnv(**kw), acts, seed=11)
    assert_same(a, b)
    c = rollout(PrecopyEnv(**kw), acts, seed=12)
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c, strict=True))


def test_pickled_env_behaves_like_original() -> None:
    env = PrecopyEnv(workloads=small_suite(), cost=cost(), thp=True)
    env.reset(seed=5)
    acts = np.random.default_rng(1).integers(0, len(DEFAULT_DEGREES), 2000)
    rollout_continue(env, acts[:100])
    clone = pickle.loads(pickle.dumps(env))
    assert_same(rollout_continue(env, acts[100:]), rollout_continue(clone, acts[100:]))


def rollout_continue(env: PrecopyEnv, actions: np.ndarray) -> list[tuple]:
    out = []
    for a in actions:
        obs, r, te, tr, info = env.step(a)
        out.append((obs, r, te, tr, info))
        if te or tr:
            out.append(env.reset())
    return out


def test_reset_options_trace_and_truncation() -> None:
    t = GENERATORS["sequential"](n_pages=300)
    env = PrecopyEnv(workloads=small_suite(), cost=cost(), max_faults=7)
    obs, info = env.reset(seed=0, options={"trace": t})
    assert info["workload"] == "seq" and info["page"] == 0
    for _ in range(7):
        obs, r, te, tr, info = env.step(0)
    assert tr and not te and info["run"]["faults"] == 7 and info["run"]["writes"] == 7
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    # without truncation the last fault terminates with an all-zero observation
    env = PrecopyEnv(workloads=[t], cost=cost())
    env.reset(seed=0)
    steps = 0
    while True:
        obs, r, te, tr, info = env.step(len(DEFAULT_DEGREES) - 1)  # k = 64
        steps += 1
        if te:
            break
    assert steps == int(np.ceil(300 / 65)) and not obs.any()
    assert info["run"]["writes"] == 300


def test_default_and_named_cost_models() -> None:
    env = PrecopyEnv(workloads=small_suite())
    assert env.cost.name == "seed_table1"
    assert PrecopyEnv(workloads=small_suite(), cost="seed_table1").cost.name == "seed_table1"


def test_conf_workload_dicts_with_hydra_targets() -> None:
    spec = {"_target_": "cowrl.traces.generators.phased", "name": "ph", "n_pages": 600,
            "writes": 900, "phase_writes": 100}
    env = PrecopyEnv(workloads=[spec], cost=cost())
    _, info = env.reset(seed=1)
    assert info["workload"] == "ph"


def test_seeded_workload_params_are_drawn_from_np_random() -> None:
    spec = {"generator": "uniform", "n_pages": [256, 512, 1024], "writes": 300}
    env = PrecopyEnv(workloads=[spec], cost=cost())
    seen = set()
    for s in range(12):
        env.reset(seed=s)
        seen.add((env.trace.n_pages, int(env.trace.meta["seed"])))
    assert len({n for n, _ in seen}) > 1 and len(seen) == 12
    env.reset(seed=3)
    first = env.trace.pages.copy()
    env.reset(seed=3)
    assert np.array_equal(first, env.trace.pages)


def test_trace_files_as_workloads(tmp_path) -> None:
    from cowrl.traces.io import save_trace

    t = GENERATORS["stride"](n_pages=128, stride=4)
    path = save_trace(t, tmp_path / "strided.npy")
    env = PrecopyEnv(workloads=[str(path)], cost=cost())
    _, info = env.reset(seed=0)
    assert info["workload"] == "strided"


# --- bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, field", [
    ({"degrees": []}, "degrees"),
    ({"degrees": [0, -1]}, "degrees"),
    ({"degrees": [0, 1.5]}, "degrees"),
    ({"degrees": [1, 1]}, "degrees"),
    ({"lam": -1.0}, "lam"),
    ({"max_faults": 0}, "max_faults"),
    ({"workloads": []}, "workloads"),
    ({"workloads": [{"generator": "nope"}]}, "workloads[0].generator"),
    ({"workloads": [{"n_pages": 4}]}, "workloads[0]"),
    ({"workloads": [{"generator": "uniform", "n_pagez": 3}]}, "workloads[0].n_pagez"),
    ({"workloads": [{"generator": "uniform"}, {"generator": "uniform", "n_pages": -5}]},
     "n_pages"),
    ({"workloads": [{"generator": "uniform", "n_pages": [64, 0]}]}, "n_pages"),
    ({"workloads": [3]}, "workloads[0]"),
    ({"cost": {"fault_ns": 1.0, "copy_ns": 1.0}}, "cost.precopy_ns"),
    ({"cost": {"fault_ns": 1.0, "copy_ns": 1.0, "precopy_ns": 1.0, "bogus": 2}}, "cost.bogus"),
    ({"cost": {"fault_ns": -1.0, "copy_ns": 1.0, "precopy_ns": 1.0}}, "fault_ns"),
    ({"cost": "fast"}, "cost"),
    ({"cost": 3}, "cost"),
    ({"render_mode": "human"}, "render_mode"),
])
def test_bad_kwargs_give_one_line_config_error(kwargs: dict, field: str) -> None:
    kwargs = {"cost": cost(), **kwargs}
    for make in (lambda: PrecopyEnv(**kwargs), lambda: gym.make(ENV_ID, **kwargs),
                 lambda: PrecopyVectorEnv(2, **kwargs)):
        with pytest.raises(ConfigError) as e, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gym.make warns about render_mode first
            make()
        msg = str(e.value)
        assert field in msg and "\n" not in msg, msg


def test_missing_trace_file_names_the_file(tmp_path) -> None:
    missing = tmp_path / "nope.npy"
    with pytest.raises(TraceError, match=r"workloads\[0\]: .*nope.npy: no such trace file"):
        PrecopyEnv(workloads=[str(missing)], cost=cost())
    with pytest.raises(CowrlError, match="num_envs"):
        PrecopyVectorEnv(0)


def test_bad_action_is_rejected() -> None:
    env = PrecopyEnv(workloads=small_suite(), cost=cost())
    env.reset(seed=0)
    with pytest.raises(ValueError, match="Discrete"):
        env.step(len(DEFAULT_DEGREES))
    venv = PrecopyVectorEnv(3, workloads=small_suite(), cost=cost())
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="sub-env 1"):
        venv.step(np.array([0, -1, 0]))


# --- exactness: return == -objective / demand_ns ---------------------------------------------


class ThpPrecopy(StaticPrecopy):
    thp = True


POLICIES = [
    (Baseline(), False), (StaticPrecopy(1), False), (StaticPrecopy(16), False),
    (StaticPrecopy(64), False), (HugePage(), True), (ThpPrecopy(8), True),
]


TERMS = {"precopy_setup_ns": 90.0, "precopy_skip_ns": 11.0, "decide_ns": 37.0}


@pytest.mark.parametrize("gen", sorted(GENERATORS))
@pytest.mark.parametrize("thp_model", ["split", "whole"])
@pytest.mark.parametrize("with_terms", [False, True], ids=["per_page", "setup_skip_decide"])
def test_episode_return_equals_minus_objective(gen: str, thp_model: str,
                                               with_terms: bool) -> None:
    extra = TERMS if with_terms else {}
    cm = cost(**extra) if thp_model == "split" else cost(thp_model=CopyWholeHuge(), **extra)
    spec = next(s for s in small_suite() if s["generator"] == gen)
    trace = GENERATORS[gen](**{k: v for k, v in spec.items() if k != "generator"}, seed=4)
    for policy, thp in POLICIES:
        k = int(policy.static_k)
        # a static policy decides nothing at run time: decided=False (no decide_ns)
        env = PrecopyEnv(workloads=[trace], cost=cm, lam=LAM, thp=thp, degrees=(0, 1, 8, 16, 64),
                         decided=False)
        env.reset(seed=0)
        a = env._degree_list.index(k)
        ret, steps = 0.0, 0
        while True:
            _, r, te, tr, info = env.step(a)
            ret += r
            steps += 1
            if te:
                break
        rec = simulate(trace, policy, cm)
        row = summarize(rec, LAM, cm.page_cost_ns)
        assert ret == pytest.approx(-row["objective"] / cm.demand_ns, rel=1e-12, abs=1e-9)
        run = info["run"]
        assert (steps, run["faults"], run["precopied"], run["wasted"]) == \
            (rec.faults, rec.faults, rec.precopied, rec.wasted), policy
        assert run["cow_ns"] == pytest.approx(row["cow_ns"], rel=1e-12)
        assert run["objective"] == pytest.approx(row["objective"], rel=1e-12)


def test_env_fault_costs_equal_simulator_costs_with_setup_and_skip() -> None:
    """Per fault and bit for bit, the env prices like CostModel.fault_cost (mixed degrees,
    decided at run time: every step pays decide_ns, as an adaptive policy in simulate)."""
    from cowrl.policies.base import FaultContext, Policy

    degrees = (0, 1, 2, 8, 64)
    acts = np.random.default_rng(5).integers(0, len(degrees), 100_000)

    class Replay(Policy):
        name = "replay"

        def decide(self, ctx: FaultContext) -> int:
            return degrees[acts[ctx.fault_index]]

    cm = cost(**TERMS)
    trace = GENERATORS["uniform"](n_pages=700, writes=3000, seed=6)
    rec, ev = simulate(trace, Replay(), cm, record_events=True)
    assert ev.skipped.sum() > 0 and (ev.work == 0).any() and (ev.window == 0).any()
    env = PrecopyEnv(workloads=[trace], cost=cm, lam=LAM, degrees=degrees)
    env.reset(seed=0)
    got = []
    i = 0
    while True:
        _, _, te, _, info = env.step(acts[i])
        got.append(info["fault_ns"])
        i += 1
        if te:
            break
    assert got == rec.fault_ns.tolist()
    venv = PrecopyVectorEnv(2, workloads=[trace], cost=cm, lam=LAM, degrees=degrees)
    venv.reset(seed=0)
    vgot = []
    for i in range(len(got)):
        _, _, _, _, info = venv.step(np.full(2, acts[i]))
        vgot.append(info["fault_ns"][0])
    assert vgot == got
    # decided=False: the same faults priced without decide_ns, bit for bit
    env = PrecopyEnv(workloads=[trace], cost=cm, lam=LAM, degrees=degrees, decided=False)
    env.reset(seed=0)
    ngot = [env.step(a)[4]["fault_ns"] for a in acts[:len(got)]]
    want = cm.fault_cost(ev.precopied, ev.thp_first, ev.work, ev.skipped)
    assert ngot == want.tolist() and ngot != got
    venv = PrecopyVectorEnv(2, workloads=[trace], cost=cm, lam=LAM, degrees=degrees,
                            decided=False)
    venv.reset(seed=0)
    assert [venv.step(np.full(2, a))[4]["fault_ns"][0] for a in acts[:len(got)]] == ngot


@pytest.mark.parametrize("gen", ["sequential", "interleaved", "phased", "uniform"])
def test_decided_env_return_equals_adaptive_policy_objective(gen: str) -> None:
    """decided=True (default): replaying an adaptive policy's degrees (readahead, a table),
    the return is -objective / demand_ns of simulate with that policy, decide_ns included."""
    from cowrl.policies.context import N_CELLS
    from cowrl.policies.readahead import Readahead
    from cowrl.policies.table import TablePolicy

    cm = cost(**TERMS)
    trace = GENERATORS[gen](n_pages=700, writes=1500, seed=3)
    table = np.random.default_rng(2).choice(DEFAULT_DEGREES, N_CELLS).tolist()
    for policy in (Readahead(max_k=64), TablePolicy(table, name="t")):
        rec, ev = simulate(trace, policy, cm, record_events=True)
        row = summarize(rec, LAM, cm.page_cost_ns)
        acts = [DEFAULT_DEGREES.index(int(k)) for k in ev.k]
        env = PrecopyEnv(workloads=[trace], cost=cm, lam=LAM)
        venv = PrecopyVectorEnv(1, workloads=[trace], cost=cm, lam=LAM)
        env.reset(seed=0)
        venv.reset(seed=0)
        ret = vret = 0.0
        for a in acts:
            _, r, te, _, info = env.step(a)
            _, vr, vte, _, vinfo = venv.step(np.array([a]))
            ret += r
            vret += float(vr[0])
        assert te and vte[0]
        assert ret == pytest.approx(-row["objective"] / cm.demand_ns, rel=1e-12)
        assert vret == pytest.approx(ret, rel=1e-12)
        assert info["run"]["cow_ns"] == pytest.approx(float(rec.fault_ns.sum()), rel=1e-12)
        assert vinfo["run"]["wasted"][0] == rec.wasted == info["run"]["wasted"]
        # the decision cost is in there: without it the return is higher by faults * decide
        static_row = summarize(simulate(trace, policy, cost(**{**TERMS, "decide_ns": 0.0})),
                               LAM, cm.page_cost_ns)
        assert row["objective"] - static_row["objective"] == pytest.approx(
            rec.faults * TERMS["decide_ns"], rel=1e-9)


def test_decided_must_be_bool() -> None:
    with pytest.raises(ConfigError, match="decided"):
        PrecopyEnv(decided="yes")
    with pytest.raises(ConfigError, match="decided"):
        PrecopyVectorEnv(1, decided=1)


def test_env_events_match_simulator_events() -> None:
    """Per fault, the env's page/k/precopied equal the simulator's recorded events."""
    cm = cost(thp_model=CopyWholeHuge())
    trace = GENERATORS["phased"](n_pages=1500, writes=4000, phase_writes=300, seed=2)
    rec, ev = simulate(trace, HugePage(), cm, record_events=True, fast=False)
    env = PrecopyEnv(workloads=[trace], cost=cm, thp=True)
    env.reset(seed=0)
    got = []
    while True:
        _, _, te, _, info = env.step(0)
        got.append((info["write_index"], info["page"], info["precopied"], info["thp_first"]))
        if te:
            break
    want = list(zip(ev.write_index.tolist(), ev.page.tolist(), ev.precopied.tolist(),
                    ev.thp_first.tolist(), strict=True))
    assert got == want


# --- vector envs ----------------------------------------------------------------------------


def vec_rollout(venv, actions: np.ndarray, seed: int) -> list[tuple]:
    out = [venv.reset(seed=seed)]
    for a in actions:
        out.append(venv.step(a))
    return out


@pytest.mark.parametrize("kw", [
    {},
    {"prev_action_obs": True, "max_faults": 40, "lam": 2.0},
    {"thp": True, "cost": cost(thp_model=CopyWholeHuge(),
                               noise={"kind": "lognormal", "sigma": 0.25})},
    {"thp": True, "cost": cost(precopy_setup_ns=90.0, precopy_skip_ns=11.0,
                               noise={"kind": "lognormal", "sigma": 0.25})},
])
def test_batched_env_equals_sync_vector_of_single_envs(kw: dict) -> None:
    kw = {"workloads": small_suite(n_pages=600, writes=800), "cost": cost(), **kw}
    n = 5
    acts = np.random.default_rng(7).integers(0, len(DEFAULT_DEGREES), (700, n))
    fast = gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="vector_entry_point", **kw)
    assert isinstance(fast.unwrapped, PrecopyVectorEnv)
    assert fast.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    sync = gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="sync", **kw)
    a, b = vec_rollout(fast, acts, seed=21), vec_rollout(sync, acts, seed=21)
    ends = sum(int(np.sum(step[2] | step[3])) for step in a[1:])
    assert ends >= n  # autoreset was exercised
    for x, y in zip(a, b, strict=True):
        assert_same(tuple(x), tuple(y))


def test_batched_env_equals_single_envs_on_given_traces() -> None:
    """Same traces and actions as N independent PrecopyEnvs (no vector wrapper in between)."""
    cm = cost()
    traces = [GENERATORS[g](n_pages=900, writes=2000, seed=i) for i, g in
              enumerate(["uniform", "sequential", "zipf", "interleaved"])]
    venv = PrecopyVectorEnv(len(traces), workloads=small_suite(), cost=cm, max_faults=10_000)
    singles = [PrecopyEnv(workloads=small_suite(), cost=cm) for _ in traces]
    venv.reset(seed=0, options={"trace": traces[0]})
    for i, t in enumerate(traces):
        venv.reset(options={"trace": t, "reset_mask": np.arange(len(traces)) == i})
        singles[i].reset(seed=0, options={"trace": t})
    acts = np.random.default_rng(3).integers(0, len(DEFAULT_DEGREES), (400, len(traces)))
    for row in acts:
        obs, rew, te, tr, info = venv.step(row)
        for i, env in enumerate(singles):
            o, r, t1, t2, inf = env.step(row[i])
            assert np.array_equal(obs[i], o) and rew[i] == r and te[i] == t1
            assert info["precopied"][i] == inf["precopied"] and info["page"][i] == inf["page"]
        if te.any():
            break


def test_vector_env_large_trace_growth_and_identity() -> None:
    """Slots grow when a bigger trace arrives; the run totals still match the simulator."""
    cm = cost(**TERMS)
    small = GENERATORS["uniform"](n_pages=100, writes=100, seed=1)
    big = GENERATORS["sequential"](n_pages=5000, writes=9000)
    venv = PrecopyVectorEnv(3, workloads=[small], cost=cm, lam=LAM, decided=False)
    venv.reset(seed=0)
    venv.reset(options={"trace": big, "reset_mask": [False, True, False]})
    a = DEFAULT_DEGREES.index(4)
    ret = 0.0
    while True:
        _, r, te, _, info = venv.step(np.full(3, a))
        ret += r[1]
        if te[1]:
            break
    row = summarize(simulate(big, StaticPrecopy(4), cm), LAM, cm.page_cost_ns)
    assert ret == pytest.approx(-row["objective"] / cm.demand_ns, rel=1e-12)
    assert info["run"]["wasted"][1] == row["wasted"] and info["_run"][1]


def test_sync_vector_env_works() -> None:
    envs = gym.vector.SyncVectorEnv([lambda: PrecopyEnv(workloads=small_suite(), cost=cost())
                                     for _ in range(3)])
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (3, 7)
    obs, r, te, tr, info = envs.step(envs.action_space.sample())
    assert r.shape == (3,) and (r < 0).all()
