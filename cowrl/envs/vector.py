"""``PrecopyVectorEnv``: N precopy envs stepped together by one compiled loop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from cowrl.envs import _kernels as K
from cowrl.envs.precopy_env import DEFAULT_DEGREES, init_settings
from cowrl.envs.workloads import WorkloadSpec, parse_one, sample_trace
from cowrl.errors import ConfigError
from cowrl.sim.costmodel import HUGE_PAGES, CostModel
from cowrl.traces.io import Trace

_STEP_KEYS = ("page", "k", "precopied", "wasted", "thp_first", "fault_ns", "write_index")
_INT_KEYS = tuple(k for k in _STEP_KEYS if k != "fault_ns")
_RUN_KEYS = ("faults", "precopied", "wasted", "cow_ns", "objective", "writes")


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

    All sub-envs' traces and page states live in flat buffers (one slot per
    sub-env, grown on demand), so a step is one call into compiled code.
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
        self._base_ns = self.cost.fault_ns + self.cost.copy_ns
        self._decide_ns = (1 if self.decided else 0) * self.cost.decide_ns
        self._noise_on = self.cost.noise.kind != "none" and self.cost.noise.sigma > 0

        n = self.num_envs
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._traces: list[Trace | None] = [None] * n
        self._st = np.zeros((n, K.N_STATE), dtype=np.int64)
        self._cow = np.zeros(n, dtype=np.float64)
        self._cap = np.zeros((n, 3), dtype=np.int64)  # writes, pages, noise factors per slot
        self._pages = np.zeros(0, dtype=np.int64)
        self._private = np.zeros(0, dtype=np.uint8)
        self._written = np.zeros(0, dtype=np.uint8)
        self._touched = np.zeros(0, dtype=np.uint8)
        self._noise = np.zeros(0, dtype=np.float64)
        self._obs = np.zeros((n, self.single_observation_space.shape[0]), dtype=np.float32)
        self._needs_reset = np.ones(n, dtype=bool)
        self._n_needs_reset = n
        self._started = False

    # --- buffers -------------------------------------------------------------------------

    def _layout(self, cap: np.ndarray) -> None:
        """Re-slot every sub-env into buffers of capacities ``cap``, keeping live state."""
        st = self._st

        def sizes(c: np.ndarray) -> list[np.ndarray]:  # per buffer: slot sizes
            return [c[:, 0], c[:, 1], c[:, 1], (c[:, 1] + HUGE_PAGES - 1) // HUGE_PAGES, c[:, 2]]

        cols = [K.POFF, K.SOFF, K.SOFF, K.HOFF, K.ZOFF]
        bufs = [self._pages, self._private, self._written, self._touched, self._noise]
        old_sizes, new_sizes = sizes(self._cap), sizes(cap)
        new_offs = []
        for b, buf in enumerate(bufs):
            offs = np.concatenate([[0], np.cumsum(new_sizes[b])[:-1]]).astype(np.int64)
            nb = np.zeros(int(new_sizes[b].sum()), dtype=buf.dtype)
            for i in range(self.num_envs):
                m, o = int(old_sizes[b][i]), int(st[i, cols[b]])
                nb[offs[i]:offs[i] + m] = buf[o:o + m]
            bufs[b] = nb
            new_offs.append(offs)
        self._pages, self._private, self._written, self._touched, self._noise = bufs
        for b in (0, 1, 3, 4):
            st[:, cols[b]] = new_offs[b]
        self._cap = cap

    def _load(self, i: int, trace: Trace, written: np.ndarray, noise: np.ndarray | None) -> None:
        need = np.array([trace.writes, trace.n_pages, 0 if noise is None else noise.size])
        if np.any(need > self._cap[i]):
            # Grow every slot to fit the largest trace seen (+25%): few re-layouts.
            big = np.maximum(self._cap.max(axis=0), need + need // 4)
            self._layout(np.maximum(self._cap, big))
        st = self._st
        po, s, ho, zo = st[i, K.POFF], st[i, K.SOFF], st[i, K.HOFF], st[i, K.ZOFF]
        self._pages[po:po + trace.writes] = trace.pages
        self._private[s:s + self._cap[i, 1]] = 0
        self._written[s:s + trace.n_pages] = written
        self._touched[ho:ho + (self._cap[i, 1] + HUGE_PAGES - 1) // HUGE_PAGES] = 0
        if noise is not None:
            self._noise[zo:zo + noise.size] = noise
        st[i, K.NPAGES] = trace.n_pages
        st[i, K.WRITES] = trace.writes
        self._cow[i] = 0.0
        self._traces[i] = trace

    def _reset_one(self, i: int, seed: int | None, trace_spec: Any) -> str:
        if seed is not None or self._rngs[i] is None:
            self._rngs[i], _ = seeding.np_random(seed)
        rng = self._rngs[i]
        if trace_spec is not None:
            trace, written = parse_one(trace_spec, "options.trace").draw(rng)
        else:
            trace, written = sample_trace(rng, self.sources)
        noise = self.cost.noise.factors(rng, int(written.sum()))
        self._load(i, trace, written, noise)
        K.vec_first_obs(i, self._st, self._pages, self._obs)
        self._needs_reset[i] = False
        return trace.name

    def _reset_info(self, infos: dict[str, Any], idx: np.ndarray, names: list[str]) -> None:
        mask = np.zeros(self.num_envs, dtype=bool)
        mask[idx] = True
        page = infos.get("page", np.zeros(self.num_envs, dtype=np.int64))
        widx = infos.get("write_index", np.zeros(self.num_envs, dtype=np.int64))
        page[idx] = self._st[idx, K.PAGE]
        widx[idx] = self._st[idx, K.POS]
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
        ints = np.empty((len(_STEP_KEYS) - 1, n), dtype=np.int64)
        out = dict(zip(_INT_KEYS, ints, strict=True))
        out["fault_ns"] = np.empty(n, dtype=np.float64)
        code = K.vec_step(active, a, self.degrees, self._pages, self._private, self._written,
                          self._touched, self._noise, self._st, self._cow, self.thp,
                          self._extra_private, self._base_ns, self._decide_ns,
                          self.cost.precopy_setup_ns,
                          self.cost.precopy_ns, self.cost.precopy_skip_ns, self._thp_extra_ns,
                          self._lam_page_ns, self.cost.demand_ns,
                          self._noise_on, self.max_faults or 0, self.prev_action_obs, self._obs,
                          reward, terminated, truncated, out["page"], out["k"],
                          out["precopied"], out["wasted"], out["thp_first"], out["fault_ns"],
                          out["write_index"])
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
            "faults": np.where(ended, st[:, K.FAULTS], 0),
            "precopied": np.where(ended, st[:, K.PRECOPIED], 0),
            "wasted": np.where(ended, st[:, K.WASTED], 0),
            "cow_ns": np.where(ended, self._cow, 0.0),
            "objective": np.where(ended, self._cow + self.lam * st[:, K.WASTED]
                                   * self.cost.page_cost_ns, 0.0),
            "writes": np.where(ended, np.minimum(st[:, K.POS], st[:, K.WRITES]), 0),
        }
        for key in _RUN_KEYS:
            run["_" + key] = ended.copy()
        infos["run"] = run
        infos["_run"] = ended.copy()

    def close_extras(self, **kwargs: Any) -> None:
        self._pages = self._private = self._written = self._touched = np.zeros(0, np.uint8)


__all__ = ["PrecopyVectorEnv"]
