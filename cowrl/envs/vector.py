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

from cowrl.envs.precopy_env import DEFAULT_DEGREES, init_settings
from cowrl.envs.workloads import WorkloadSpec, parse_one, sample_trace
from cowrl.errors import ConfigError
from cowrl.sim.context import N_FEATURES, fill_features
from cowrl.sim.costmodel import HUGE_PAGES, CostModel
from cowrl.sim.engine import (
    E_OFF,
    EVENT_COLUMNS,
    FAULTS,
    H_OFF,
    HIT,
    N_ENDS,
    N_HUGE,
    N_LAYOUT,
    N_NOISE,
    N_PAGES,
    N_STATE,
    N_WRITES,
    NPRIV,
    P_OFF,
    PAGE,
    POS,
    PRECOPIED,
    PREV_K,
    PREV_PAGE,
    RUN,
    S_OFF,
    SEQ,
    WASTED,
    Z_OFF,
    fresh_state,
    replay,
)
from cowrl.sim.programs import STATIC
from cowrl.traces.io import Trace

_STEP_KEYS = ("page", "k", "precopied", "wasted", "thp_first", "fault_ns", "write_index")
_INT_KEYS = ("page", "k", "precopied", "wasted", "thp_first", "write_index")
_RUN_KEYS = ("faults", "precopied", "wasted", "cow_ns", "objective", "writes")
PREV_A = N_STATE  # the vector env's own column after the engine's: the previous action
# Which buffer fills which (offset, length) columns of the layout (written shares private's).
_LAYOUT_COLS = {"pages": (P_OFF, N_WRITES), "ends": (E_OFF, N_ENDS),
                "private": (S_OFF, N_PAGES), "touched": (H_OFF, N_HUGE),
                "noise": (Z_OFF, N_NOISE)}


@njit(cache=True, nogil=True, forceinline=True)
def _observe(obs: np.ndarray, st: np.ndarray, i: int, n_pages: int, prev_action_obs: bool
             ) -> None:
    """Sub-env ``i``'s observation at its current fault (the env's, row by row)."""
    fill_features(obs, i, st[i, PAGE], n_pages, st[i, PREV_PAGE], st[i, PREV_K], st[i, NPRIV],
                  st[i, SEQ], st[i, RUN], st[i, HIT])
    if prev_action_obs and st[i, PREV_A] >= 0:
        obs[i, N_FEATURES + st[i, PREV_A]] = 1.0


@njit(cache=True, nogil=True)
def _vec_step(active: np.ndarray, actions: np.ndarray, degrees: np.ndarray, limit: int,
              pages: np.ndarray, ends: np.ndarray, voffs: np.ndarray, private: np.ndarray,
              touched: np.ndarray,
              written: np.ndarray, noise: np.ndarray, lay: np.ndarray, st: np.ndarray,
              cow_ns: np.ndarray, thp: bool, extra_private: int, coef: np.ndarray,
              decided: int, lam_page_ns: float, demand_ns: float, max_faults: int,
              prev_action_obs: bool, obs: np.ndarray, reward: np.ndarray,
              terminated: np.ndarray, truncated: np.ndarray, out: np.ndarray,
              out_fault_ns: np.ndarray) -> int:
    """One demand fault for every active sub-env, each through the engine's ``replay``
    (``limit`` = 0: only find the first fault of the active sub-envs, fresh runs).

    Returns the index of the first active sub-env whose action is out of range
    (nothing is changed then), else ``-1 - (sub-envs whose episode ended)``.
    ``out`` gets the integer info columns of :data:`_INT_KEYS`; inactive rows are 0.
    Sub-env ``i``'s arrays lie in the flat buffers at the offsets of ``lay[i]``.
    """
    n_ended = 0
    n_deg = degrees.shape[0]
    for i in range(active.shape[0]):
        if limit and active[i] and (actions[i] < 0 or actions[i] >= n_deg):
            return i
    ns1 = np.zeros(1, dtype=np.float64)
    ev1 = np.zeros((1, len(EVENT_COLUMNS)), dtype=np.int64)
    unused = np.zeros(1, dtype=np.int64)
    tot1 = np.zeros(1, dtype=np.float64)
    obs_dim = obs.shape[1]
    for i in range(active.shape[0]):
        reward[i] = 0.0
        terminated[i] = False
        truncated[i] = False
        for c in range(out.shape[0]):
            out[c, i] = 0
        out_fault_ns[i] = 0.0
        if not active[i]:
            continue
        a = actions[i] if limit else -1
        k = degrees[a] if limit else 0
        # a network's degrees: no GUARDED program (no kernel form), so no process ordinals
        # and no coordinate offsets
        replay(pages, ends, voffs, unused[:0], unused[:0], private, private[:0], touched,
               written, noise,
               lay, st, i, thp, extra_private, coef, decided, STATIC, k, unused, 0, 1, 1, unused,
               limit, ns1, True, ev1, tot1, False)
        for c in range(obs_dim):
            obs[i, c] = 0.0
        st[i, PREV_A] = a
        if limit:
            f, waste = ns1[0], ev1[0, 9]
            reward[i] = -(f + lam_page_ns * waste) / demand_ns
            out[0, i] = ev1[0, 1]
            out[1, i] = k
            out[2, i] = ev1[0, 3]
            out[3, i] = waste
            out[4, i] = ev1[0, 4]
            out[5, i] = ev1[0, 0]
            out_fault_ns[i] = f
            cow_ns[i] += f
        if st[i, POS] >= lay[i, N_WRITES]:
            terminated[i] = True
            n_ended += 1
            continue
        _observe(obs, st, i, lay[i, N_PAGES], prev_action_obs)
        if limit and max_faults > 0 and st[i, FAULTS] >= max_faults:
            truncated[i] = True
            n_ended += 1
    return -1 - n_ended


class _Slots:
    """One flat buffer holding a variable-length array per sub-env (grown on demand)."""

    def __init__(self, n: int, dtype: Any) -> None:
        self.buf = np.zeros(0, dtype=dtype)
        self.off = np.zeros(n, dtype=np.int64)
        self.len = np.zeros(n, dtype=np.int64)
        self.cap = np.zeros(n, dtype=np.int64)

    def put(self, i: int, arr: np.ndarray) -> None:
        m = int(arr.shape[0])
        if m > self.cap[i]:
            # Re-slot with room for 25% more in slot i (a slot grows a few times at most).
            cap = self.cap.copy()
            cap[i] = m + m // 4
            off = np.concatenate([[0], np.cumsum(cap)[:-1]]).astype(np.int64)
            buf = np.zeros(int(cap.sum()), dtype=self.buf.dtype)
            for j in range(cap.size):
                buf[off[j]:off[j] + self.len[j]] = self.buf[self.off[j]:self.off[j]
                                                            + self.len[j]]
            self.buf, self.off, self.cap = buf, off, cap
        o = int(self.off[i])
        self.buf[o:o + m] = arr
        self.len[i] = m

    def view(self, i: int) -> np.ndarray:
        o = int(self.off[i])
        return self.buf[o:o + int(self.len[i])]


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

    Each sub-env is one replay-engine state (a row of an int64 matrix, its page
    arrays in flat buffers with one slot per sub-env), so a step is one call into
    compiled code that applies :func:`cowrl.sim.engine.replay` per sub-env: the same
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
        # Flat buffers, one slot per sub-env (columns of self._lay: offset, length).
        self._bufs = {"pages": _Slots(n, np.int64), "ends": _Slots(n, np.int64),
                      "voffs": _Slots(n, np.int64),
                      "private": _Slots(n, np.uint8), "written": _Slots(n, np.uint8),
                      "touched": _Slots(n, np.uint8), "noise": _Slots(n, np.float64)}
        self._lay = np.zeros((n, N_LAYOUT), dtype=np.int64)
        self._fresh = np.zeros(n, dtype=bool)  # reset, first fault not looked for yet
        self._obs = np.zeros((n, self.single_observation_space.shape[0]), dtype=np.float32)
        self._needs_reset = np.ones(n, dtype=bool)
        self._n_needs_reset = n
        self._started = False

    # --- sub-env state ---------------------------------------------------------------

    def _run(self, active: np.ndarray, actions: np.ndarray, limit: int, reward: np.ndarray,
             terminated: np.ndarray, truncated: np.ndarray, ints: np.ndarray,
             fault_ns: np.ndarray) -> int:
        b, lay = self._bufs, self._lay
        if self._fresh.any():  # slots were (re)filled since the last call
            assert np.array_equal(b["written"].off, b["private"].off)  # same sizes, same slots
            assert np.array_equal(b["voffs"].off, b["ends"].off)
            for key, (off, length) in _LAYOUT_COLS.items():
                lay[:, off], lay[:, length] = b[key].off, b[key].len
        return _vec_step(active, actions, self.degrees, limit, b["pages"].buf, b["ends"].buf,
                         b["voffs"].buf,
                         b["private"].buf, b["touched"].buf, b["written"].buf, b["noise"].buf,
                         lay, self._st, self._cow, self.thp, self._extra_private, self._coef,
                         self._decided, self._lam_page_ns, self.cost.demand_ns,
                         self.max_faults or 0, self.prev_action_obs, self._obs, reward,
                         terminated, truncated, ints, fault_ns)

    def _first_faults(self) -> None:
        """Find the first demand fault (and observation) of every freshly reset sub-env."""
        n = self.num_envs
        if self._fresh.any():
            self._run(self._fresh, np.zeros(n, dtype=np.int64), 0, np.zeros(n),
                      np.zeros(n, dtype=bool), np.zeros(n, dtype=bool),
                      np.zeros((len(_INT_KEYS), n), dtype=np.int64), np.zeros(n))
            self._fresh[:] = False

    def _reset_one(self, i: int, seed: int | None, trace_spec: Any) -> str:
        if seed is not None or self._rngs[i] is None:
            self._rngs[i], _ = seeding.np_random(seed)
        rng = self._rngs[i]
        if trace_spec is not None:
            trace, written = parse_one(trace_spec, "options.trace").draw(rng)
        else:
            trace, written = sample_trace(rng, self.sources)
        noise = self.cost.noise.factors(rng, int(written.sum()))
        b = self._bufs
        b["pages"].put(i, trace.pages)
        b["ends"].put(i, trace.region_ends)
        b["voffs"].put(i, trace.region_vpn_offsets)  # same sizes: laid out as ends
        b["written"].put(i, written)
        b["private"].put(i, np.zeros(trace.n_pages, dtype=np.uint8))
        b["touched"].put(i, np.zeros((trace.n_pages + HUGE_PAGES - 1) // HUGE_PAGES
                                     if self.thp else 1, dtype=np.uint8))
        b["noise"].put(i, np.zeros(0) if noise is None else noise)
        self._traces[i] = trace
        self._cow[i] = 0.0
        fresh_state(self._st[i])
        self._fresh[i] = True
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
        self._first_faults()
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
        code = self._run(active, a, 1, reward, terminated, truncated, ints, fault_ns)
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
            self._first_faults()
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
        self._bufs = {k: _Slots(self.num_envs, v.buf.dtype) for k, v in self._bufs.items()}


__all__ = ["PrecopyVectorEnv"]
