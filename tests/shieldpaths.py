"""The shield asking ``k = 64`` at every fault, decided in its four forms, compared fault for
fault: guarded with a table of 64s replayed slow (the prototype) and fast (its compiled
program, what the module runs), the bandit's learning shield live, and the SB3 training env.

Shared by the shield tests (tests/test_shield_floor.py, tests/test_shield_floor_slow.py;
``env_run`` also tests/test_bandit_backoff.py); ``bandit_forms``: the forms a shielded
bandit's keys pass through on their way to the module (the same two tests).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from reckless import Reckless

from cowrl.envs.guarded_env import GuardedPrecopyEnv
from cowrl.envs.precopy_env import PrecopyEnv
from cowrl.kernel.table import pack_guarded
from cowrl.metrics import RunRecord
from cowrl.policies.bandits import BanditPolicy
from cowrl.policies.guarded import N_CELLS, GuardedPolicy
from cowrl.sim.costmodel import CostModel
from cowrl.sim.simulator import simulate
from cowrl.traces.io import Trace

K64 = 7  # the env's action for k = 64 (degrees 0, 1, 2, 4, 8, 16, 32, 64)


def env_run(env: Any, trace: Trace, action: int) -> tuple[list[int], float]:
    """One episode of ``env`` on ``trace`` taking ``action`` at every step: the k's it applied
    and the run's objective."""
    env.reset(seed=0, options={"trace": trace})
    ks = []
    while True:
        _, _, term, trunc, info = env.step(action)
        ks.append(info["k"])
        if term or trunc:
            return ks, info["run"]["objective"]


def four_paths_agree(trace: Trace, cost: CostModel, keys: dict[str, int]
                     ) -> tuple[RunRecord, np.ndarray]:
    """Assert that the four forms of the shield with ``keys`` (its options, passed alike to
    each) decide alike on ``trace`` under ``cost``; each assertion names the trace and the
    form. Returns the reference run (slow replay) and its k's."""
    ref = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, **keys)
    rec, ev = simulate(trace, ref, cost, record_events=True, fast=False)
    got, ev_fast = simulate(trace, ref, cost, record_events=True, fast=True)
    assert np.array_equal(ev.k, ev_fast.k) and (rec.precopied, rec.wasted) == (
        got.precopied, got.wasted), f"{trace.name}: fast replay"
    learner = BanditPolicy(Reckless(), context="guarded", shield=True, **keys)
    learner.begin_episode(trace, cost, 1.0)
    _, ev_live = simulate(trace, learner, cost, record_events=True, fast=False)
    learner.end_episode()
    assert np.array_equal(ev.k, ev_live.k), f"{trace.name}: the bandit's learning shield"
    env = GuardedPrecopyEnv(PrecopyEnv(cost=cost), features="guarded", shield=True, **keys)
    ks, _ = env_run(env, trace, K64)
    assert ks == ev.k.tolist(), f"{trace.name}: the SB3 training env"
    return rec, ev.k


def bandit_forms(pol: BanditPolicy, trace: Trace, cost: CostModel
                 ) -> tuple[GuardedPolicy, list[dict[str, Any]], GuardedPolicy, bytes]:
    """A shielded bandit ``pol``'s keys on their way to the module: the shield it learns in
    (one episode on ``trace`` under ``cost``), its frozen artifact's spec (with ``costmodel:
    auto`` also the options it is rebuilt with: each of these dicts should hold the keys),
    the policy that artifact deploys as under ``cost``, and the table the module gets."""
    pol.begin_episode(trace, cost, 1.0)
    assert pol.view is not None
    learning = pol.view.guard
    pol.end_episode()
    spec = pol.freeze().artifact_spec()
    specs = [spec, spec["auto_options"]] if spec.get("costmodel") == "auto" else [spec]
    run = GuardedPolicy.from_artifact(spec, "bandit", None).for_trace(trace, cost)
    assert isinstance(run, GuardedPolicy)
    return learning, specs, run, pack_guarded(run.kernel_program())
