"""``PrecopyVectorEnv``: N precopy envs stepped together by one compiled loop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numba import njit
from numba.typed import List

from cowrl.envs.precopy_env import DEFAULT_DEGREES, init_settings
from cowrl.envs.workloads import WorkloadSpec, parse_one, sample_trace
from cowrl.errors import ConfigError
from cowrl.sim.context import N_FEATURES, fill_features
from cowrl.sim.costmodel import HUGE_PAGES, CostModel
from cowrl.sim.engine import (
    FAULTS,
    HIT,
    N_STATE,
    NPRIV,
    PAGE,
    POS,
    PRECOPIED,
    PREV_K,
    PREV_PAGE,
    RUN,
    SEQ,
    WASTED,
    fault_step,
    start_run,
)
from cowrl.traces.io import Trace

_STEP_KEYS = ("page", "k", "precopied", "wasted", "thp_first", "fault_ns", "write_index")
_INT_KEYS = ("page", "k", "precopied", "wasted", "thp_first", "write_index")
_RUN_KEYS = ("faults", "precopied", "wasted", "cow_ns", "objective", "writes")
PREV_A = N_STATE  # the vector env's own column after the engine's: the previous action


@njit(cache=True, nogil=True)
def _observe(obs: np.ndarray, st: np.ndarray, n_pages: int, prev_action_obs: bool) -> None:
    """The observation of sub-env state ``st`` at its current fault (the env's, row by row)."""
    obs[:] = 0.0
    fill_features(obs, st[PAGE], n_pages, st[PREV_PAGE], st[PREV_K], st[NPRIV], st[SEQ],
                  st[RUN], st[HIT])
    if prev_action_obs and st[PREV_A] >= 0:
        obs[N_FEATURES + st[PREV_A]] = 1.0


@njit(cache=True, nogil=True)
def _first_obs(pages: np.ndarray, ends: np.ndarray, private: np.ndarray, st: np.ndarray,
               n_pages: int, obs: np.ndarray) -> None:
    start_run(pages, ends, private, st)
    st[PREV_A] = -1
    _observe(obs, st, n_pages, False)


@njit(cache=True, nogil=True)
def _vec_step(active: np.ndarray, actions: np.ndarray, degrees: np.ndarray, pages: List,
              ends: List, private: List, touched: List, written: List, noise: List,
              st: np.ndarray, cow_ns: np.ndarray, thp: bool, extra_private: int,
              coef: np.ndarray, decided: int, lam_page_ns: float, demand_ns: float,
              max_faults: int, prev_action_obs: bool, obs: np.ndarray, reward: np.ndarray,
              terminated: np.ndarray, truncated: np.ndarray, out: np.ndarray,
              out_fault_ns: np.ndarray) -> int:
    """One demand fault for every active sub-env, each through the engine's ``fault_step``.

    Returns the index of the first active sub-env whose action is out of range
    (nothing is changed then), else ``-1 - (sub-envs whose episode ended)``.
    ``out`` gets the integer info columns of :data:`_INT_KEYS`; inactive rows are 0.
    """
    n_ended = 0
    n_deg = degrees.shape[0]
    for i in range(active.shape[0]):
        if active[i] and (actions[i] < 0 or actions[i] >= n_deg):
            return i
    for i in range(active.shape[0]):
        reward[i] = 0.0
        terminated[i] = False
        truncated[i] = False
        out[:, i] = 0
        out_fault_ns[i] = 0.0
        if not active[i]:
            continue
        a = actions[i]
        k = degrees[a]
        row = st[i]
        p, widx = row[PAGE], row[POS]
        n, h, win, skip, waste, f = fault_step(pages[i], ends[i], private[i], touched[i],
                                               written[i], noise[i], row, k, thp,
                                               extra_private, coef, decided)
        reward[i] = -(f + lam_page_ns * waste) / demand_ns
        out[0, i] = p
        out[1, i] = k
        out[2, i] = n
        out[3, i] = waste
        out[4, i] = h
        out[5, i] = widx
        out_fault_ns[i] = f
        cow_ns[i] += f
        row[PREV_A] = a
        if row[POS] >= pages[i].shape[0]:
            terminated[i] = True
            obs[i, :] = 0.0
            n_ended += 1
            continue
        _observe(obs[i], row, private[i].shape[0], prev_action_obs)
        if max_faults > 0 and row[FAULTS] >= max_faults:
            truncated[i] = True
            n_ended += 1
    return -1 - n_ended


class PrecopyVectorEnv(VectorEnv):
    """``num_envs`` copies of :class:`~cowrl.envs.precopy_env.PrecopyEnv` in one numba loop.

    Same arguments, spaces (batched), rewards and info keys as ``PrecopyEnv``
    (see ``help(PrecopyEnv)``), plus ``num_envs``. Autoreset is
    ``AutoresetMode.NEXT_STEP`` (as ``SyncVectorEnv``): the step after an
    episode ends resets that sub-env, ignores its action and returns reward 0.

    Sub-env ``i`` has its own ``np_random``; ``reset(seed=s)`` seeds it with
    ``s + i`` (a list of seeds sets each one), as ``SyncVectorEnv`` does, so
    ``make_vec(..., vectorization_mode="sync")`` and this class produce
    identical trajectories for the same seed and actions. ``reset`` also
    accepts ``options={"trace": t, "reset_mask": mask}``.

    Each sub-env is one replay-engine state (a row of an int64 matrix and its
    page arrays, held in numba typed lists), so a step is one call into compiled
    code that applies :func:`cowrl.sim.engine.fault_step` per sub-env: the same
    rules as ``PrecopyEnv`` and ``simulate``.

    **Vectorized environment**::

        envs = gymnasium.make_vec("cowrl/Precopy-v0", num_envs=64,
                                  vectorization_mode="vector_entry_point")
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 1,
        workloads: Sequence[WorkloadSpec] | WorkloadSpec | None = None,
        degrees: Sequence[int] = DEFAULT_DEGREES,
        cost: CostModel | Mapping[str, Any] | str | None = None,
        lam: float = 1.0,
        thp: bool = False,
        max_faults: int | None = None,
        prev_action_obs: bool = False,
        render_mode: str | None = None,
        decided: bool = True,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) \
                or num_envs <= 0:
            raise ConfigError(f"num_envs: must be a positive integer, got {num_envs!r}")
        self.num_envs = int(num_envs)
        self.single_observation_space = init_settings(self, workloads, degrees, cost, lam, thp,
                                                      max_faults, prev_action_obs,
                                                      render_mode, decided)
        self.single_action_space = spaces.Discrete(len(self.degrees))
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._coef = self.cost.coefficients()
        self._decided = 1 if self.decided else 0
        self._extra_private = (self.cost.thp_model.first_fault_private_pages()
                               if self.thp else 0)

        n = self.num_envs
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._traces: list[Trace | None] = [None] * n
        self._st = np.zeros((n, N_STATE + 1), dtype=np.int64)
        self._cow = np.zeros(n, dtype=np.float64)
        empty_i, empty_u = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.uint8)
        empty_i.setflags(write=False)  # traces' pages are read-only: type the lists so
        self._pages, self._ends = List([empty_i] * n), List([empty_i] * n)
        self._private, self._written = List([empty_u] * n), List([empty_u] * n)
        self._touched = List([empty_u] * n)
        self._noise = List([np.zeros(0, dtype=np.float64)] * n)
        self._obs = np.zeros((n, self.single_observation_space.shape[0]), dtype=np.float32)
        self._needs_reset = np.ones(n, dtype=bool)
        self._n_needs_reset = n
        self._started = False

    # --- sub-env state ---------------------------------------------------------------

    def _reset_one(self, i: int, seed: int | None, trace_spec: Any) -> str:
        if seed is not None or self._rngs[i] is None:
            self._rngs[i], _ = seeding.np_random(seed)
        rng = self._rngs[i]
        if trace_spec is not None:
            trace, written = parse_one(trace_spec, "options.trace").draw(rng)
        else:
            trace, written = sample_trace(rng, self.sources)
        noise = self.cost.noise.factors(rng, int(written.sum()))
        ends = trace.region_ends
        ends.setflags(write=False)
        self._pages[i], self._ends[i], self._written[i] = trace.pages, ends, written
        self._private[i] = np.zeros(trace.n_pages, dtype=np.uint8)
        self._touched[i] = np.zeros((trace.n_pages + HUGE_PAGES - 1) // HUGE_PAGES
                                    if self.thp else 1, dtype=np.uint8)
        self._noise[i] = np.zeros(0, dtype=np.float64) if noise is None else noise
        self._traces[i] = trace
        self._cow[i] = 0.0
        _first_obs(trace.pages, self._ends[i], self._private[i], self._st[i], trace.n_pages,
                   self._obs[i])
        self._needs_reset[i] = False
        return trace.name

    def _reset_info(self, infos: dict[str, Any], idx: np.ndarray, names: list[str]) -> None:
        mask = np.zeros(self.num_envs, dtype=bool)
        mask[idx] = True
        page = infos.get("page", np.zeros(self.num_envs, dtype=np.int64))
        widx = infos.get("write_index", np.zeros(self.num_envs, dtype=np.int64))
        page[idx] = self._st[idx, PAGE]
        widx[idx] = self._st[idx, POS]
        workload = np.full(self.num_envs, None, dtype=object)
        workload[idx] = names
        infos["page"], infos["write_index"], infos["workload"] = page, widx, workload
        infos["_page"] = infos.get("_page", np.zeros(self.num_envs, dtype=bool)) | mask
        infos["_write_index"] = infos.get("_write_index",
                                          np.zeros(self.num_envs, dtype=bool)) | mask
        infos["_workload"] = mask

    # --- gymnasium API -------------------------------------------------------------------

    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(n)]
            self._np_random, self._np_random_seed = seeding.np_random(int(seed))
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ConfigError(f"seed: expected {n} seeds, got {len(seeds)}")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        trace_spec = options.pop("trace", None)
        idx = np.arange(n) if mask is None else np.flatnonzero(np.asarray(mask, dtype=bool))
        names = [self._reset_one(int(i), seeds[int(i)], trace_spec) for i in idx]
        self._n_needs_reset = int(self._needs_reset.sum())
        self._started = True
        infos: dict[str, Any] = {}
        self._reset_info(infos, idx, names)
        return self._obs.copy(), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                          dict[str, Any]]:
        if not self._started:
            raise RuntimeError("PrecopyVectorEnv: call reset() before step()")
        a = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        resetting = self._needs_reset
        n_resetting = self._n_needs_reset
        active = ~resetting
        n = self.num_envs
        reward = np.empty(n, dtype=np.float64)
        terminated = np.empty(n, dtype=bool)
        truncated = np.empty(n, dtype=bool)
        ints = np.empty((len(_INT_KEYS), n), dtype=np.int64)
        fault_ns = np.empty(n, dtype=np.float64)
        code = _vec_step(active, a, self.degrees, self._pages, self._ends, self._private,
                         self._touched, self._written, self._noise, self._st, self._cow,
                         self.thp, self._extra_private, self._coef, self._decided,
                         self._lam_page_ns, self.cost.demand_ns, self.max_faults or 0,
                         self.prev_action_obs, self._obs, reward, terminated, truncated, ints,
                         fault_ns)
        out = dict(zip(_INT_KEYS, ints, strict=True))
        out["fault_ns"] = fault_ns
        if code >= 0:
            raise ValueError(f"PrecopyVectorEnv: action {int(a[code])} of sub-env {code} is "
                             f"outside Discrete({len(self.degrees)})")
        n_ended = -1 - code
        infos: dict[str, Any] = {}
        if n_resetting < n:
            for key in _STEP_KEYS:
                infos[key] = out[key]
                infos["_" + key] = active
        ended = terminated | truncated if n_ended else np.zeros(n, dtype=bool)
        if n_ended:
            self._add_run_info(infos, ended)
        if n_resetting:
            idx = np.flatnonzero(resetting)
            names = [self._reset_one(int(i), None, None) for i in idx]
            self._reset_info(infos, idx, names)
        self._needs_reset = ended
        self._n_needs_reset = n_ended
        return self._obs.copy(), reward, terminated, truncated, infos

    def _add_run_info(self, infos: dict[str, Any], ended: np.ndarray) -> None:
        st = self._st
        run: dict[str, Any] = {
            "faults": np.where(ended, st[:, FAULTS], 0),
            "precopied": np.where(ended, st[:, PRECOPIED], 0),
            "wasted": np.where(ended, st[:, WASTED], 0),
            "cow_ns": np.where(ended, self._cow, 0.0),
            "objective": np.where(ended, self._cow + self.lam * st[:, WASTED]
                                   * self.cost.page_cost_ns, 0.0),
            "writes": np.where(ended, st[:, POS], 0),
        }
        for key in _RUN_KEYS:
            run["_" + key] = ended.copy()
        infos["run"] = run
        infos["_run"] = ended.copy()

    def close_extras(self, **kwargs: Any) -> None:
        self._traces = [None] * self.num_envs


__all__ = ["PrecopyVectorEnv"]
