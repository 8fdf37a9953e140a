"""``cowrl/Precopy-v0``: choose the precopy degree at every COW demand fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from cowrl.envs.workloads import WorkloadSpec, parse_one, parse_workloads, sample_trace
from cowrl.errors import ConfigError
from cowrl.sim.context import FEATURE_NAMES, N_FEATURES, FaultContext, features
from cowrl.sim.costmodel import CostModel
from cowrl.sim.engine import POS, ReplayEngine
from cowrl.traces.io import Trace

DEFAULT_DEGREES: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 32, 64)

# The cost model used when none is given: conf/costmodel/<DEFAULT_COSTMODEL>.yaml, the
# same default as conf/eval.yaml and conf/train.yaml (numbers live in the YAML only).
DEFAULT_COSTMODEL = "seed_table1"


def make_cost(cost: CostModel | Mapping[str, Any] | str | None, field_name: str = "cost"
              ) -> CostModel:
    """A :class:`CostModel` from an instance, a dict of its fields, a ``conf/costmodel`` name,
    or ``None`` (:data:`DEFAULT_COSTMODEL`)."""
    if isinstance(cost, CostModel):
        return cost
    if cost is None or isinstance(cost, str):
        from cowrl.registry import make_costmodel  # loads conf/costmodel/<name>.yaml

        try:
            return make_costmodel(DEFAULT_COSTMODEL if cost is None else cost)
        except ConfigError as e:
            raise ConfigError(f"{field_name}: {e}") from None
    if isinstance(cost, Mapping):
        known = CostModel.__dataclass_fields__
        for key in cost:
            if key not in known:
                raise ConfigError(f"{field_name}.{key}: not a cost model field "
                                  f"(fields: {', '.join(known)})")
        for key in ("fault_ns", "copy_ns", "precopy_ns"):
            if key not in cost:
                raise ConfigError(f"{field_name}.{key}: missing")
        return CostModel(**cost)
    raise ConfigError(f"{field_name}: expected a CostModel, a dict of its fields or a "
                      f"conf/costmodel name, got {type(cost).__name__}")


def check_degrees(degrees: Sequence[int], field_name: str = "degrees") -> np.ndarray:
    try:
        vals = list(degrees)
    except TypeError:
        raise ConfigError(f"{field_name}: expected a list of integers, got {degrees!r}") from None
    if not vals:
        raise ConfigError(f"{field_name}: must not be empty")
    for d in vals:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0:
            raise ConfigError(f"{field_name}: every degree must be an integer >= 0, got {d!r}")
    if len(set(vals)) != len(vals):
        raise ConfigError(f"{field_name}: degrees must be distinct, got {vals}")
    return np.asarray(vals, dtype=np.int64)


def check_decided(decided: bool) -> None:
    if not isinstance(decided, (bool, np.bool_)):
        raise ConfigError(f"decided: must be true or false, got {decided!r}")


def check_scalars(lam: float, max_faults: int | None) -> None:
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0 \
            or not np.isfinite(lam):
        raise ConfigError(f"lam: must be a finite number >= 0, got {lam!r}")
    if max_faults is not None and (isinstance(max_faults, bool)
                                   or not isinstance(max_faults, (int, np.integer))
                                   or max_faults <= 0):
        raise ConfigError(f"max_faults: must be a positive integer or None, got {max_faults!r}")


def init_settings(env: Any, workloads: Sequence[WorkloadSpec] | WorkloadSpec | None,
                  degrees: Sequence[int], cost: CostModel | Mapping[str, Any] | str | None,
                  lam: float, thp: bool, max_faults: int | None, prev_action_obs: bool,
                  render_mode: str | None, decided: bool) -> spaces.Box:
    """Validate the arguments both envs share, set them on ``env`` (with the derived cost
    constants) and return the observation space of one env."""
    if render_mode is not None:
        raise ConfigError(f"render_mode: this env does not render, got {render_mode!r}")
    check_decided(decided)
    check_scalars(lam, max_faults)
    env.decided = bool(decided)
    env.degrees = check_degrees(degrees)
    env.cost = make_cost(cost)
    env.lam = float(lam)
    env.thp = bool(thp)
    env.max_faults = None if max_faults is None else int(max_faults)
    env.prev_action_obs = bool(prev_action_obs)
    env.sources = parse_workloads(workloads)
    env.render_mode = None
    env._lam_page_ns = env.lam * env.cost.page_cost_ns
    dim = N_FEATURES + (len(env.degrees) if env.prev_action_obs else 0)
    low = np.zeros(dim, dtype=np.float32)
    low[FEATURE_NAMES.index("delta_log")] = -1.0
    return spaces.Box(low=low, high=np.ones(dim, dtype=np.float32), dtype=np.float32)


class PrecopyEnv(gym.Env[np.ndarray, np.int64]):
    """Pick the precopy degree at each copy-on-write demand fault of a replayed write trace.

    The env is a front end of the replay engine (:mod:`cowrl.sim.engine`, the
    simulator's own rules and :class:`~cowrl.sim.costmodel.CostModel`). Writes
    to private pages cost nothing and are skipped; every write to a shared
    page is a demand fault, and one ``step`` is one demand fault.

    **Action space** ``Discrete(len(degrees))``: action ``a`` precopies
    ``degrees[a]`` pages after the faulting page (the window
    ``p+1 .. min(p+k, region_end-1)``; already-private pages count toward ``k``).

    **Observation space** ``Box(float32)`` of 7 features of the engine's fault
    context (:func:`cowrl.sim.context.features`; ``delta_log`` in [-1, 1],
    the rest in [0, 1]; see :data:`cowrl.sim.context.FEATURE_NAMES`),
    all computable in the kernel module. With ``prev_action_obs=True`` a
    one-hot of the previous action follows (``len(degrees)`` more dims, all 0
    at the first fault). The observation after the last fault is all zeros.

    **Reward** ``-(fault_ns + lam * page_cost_ns * wasted) / demand_ns`` where
    ``fault_ns`` is this fault's cost (:meth:`CostModel.fault_cost`: trap, copy,
    the decision cost ``decide_ns`` if ``decided``, the precopy work's fixed cost
    if ``k > 0``, pages precopied, window pages
    found already private, THP extra; times the noise factor), ``wasted``
    the pages precopied at this step that the trace never writes, and
    ``demand_ns = fault_ns + copy_ns`` of the cost model (one plain fault
    costs -1). An episode's return is
    exactly ``-objective / demand_ns`` of :func:`cowrl.metrics.summarize`.

    **Episode end** ``terminated`` when the trace has no write left to a
    shared page; ``truncated`` after ``max_faults`` faults if set. The info
    of the last step carries ``run``: the run's ``faults``, ``precopied``,
    ``wasted``, ``cow_ns``, ``objective`` and ``writes`` (writes replayed).

    **Info** every step: ``page``, ``k``, ``precopied``, ``wasted``,
    ``thp_first``, ``fault_ns``, ``write_index`` of the fault just handled.
    ``reset`` gives the first fault's ``page`` and ``write_index`` and the
    episode's ``workload`` name.

    **Arguments**

    * ``workloads``: list of generator dicts (``{"generator": "uniform",
      "n_pages": 4096}``; list values are per-episode choices; the seed is
      drawn per episode unless given), trace file paths and/or
      :class:`~cowrl.traces.io.Trace` objects (see :mod:`cowrl.envs.workloads`).
      ``reset`` draws one with ``np_random``; ``options={"trace": t}`` forces
      one. Default: every generator with its default parameters.
    * ``degrees``: the degrees the actions choose from, default
      ``(0, 1, 2, 4, 8, 16, 32, 64)``.
    * ``cost``: a :class:`~cowrl.sim.costmodel.CostModel`, a dict of its
      fields, or a ``conf/costmodel`` name (default ``"seed_table1"``,
      uncalibrated). With lognormal noise, one factor per fault is drawn from
      ``np_random`` at reset.
    * ``lam``: weight of the waste penalty (the objective's lambda), default 1.
    * ``thp``: back the region with 2 MiB THP (the cost model's THP model
      prices each huge page's first fault), default False.
    * ``max_faults``: truncate episodes after this many faults (None: never).
    * ``prev_action_obs``: append a one-hot of the previous action.
    * ``decided``: every step is an agent decision made at run time (in the
      kernel: a pushed table), so each fault pays the cost model's
      ``decide_ns`` (default True). ``False`` prices the faults as a static
      policy's (no decision cost), e.g. to replay a static policy's actions.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
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
        self.observation_space = init_settings(self, workloads, degrees, cost, lam, thp,
                                               max_faults, prev_action_obs, render_mode,
                                               decided)
        self.action_space = spaces.Discrete(len(self.degrees))
        self._degree_list = [int(d) for d in self.degrees]
        self.reprice(self.cost)
        self._done = True

    def reprice(self, cost: CostModel) -> None:
        """Price this env's faults by ``cost`` from the next reset on (e.g. a policy's own
        cost model, ``Policy.priced``): the one place the env builds its engine."""
        self.cost = cost
        self._engine = ReplayEngine(cost, thp=self.thp, decided=self.decided)

    # --- episode state -------------------------------------------------------------------

    @property
    def trace(self) -> Trace | None:
        """The trace of the current episode (None before the first reset)."""
        return self._engine.trace

    @property
    def context(self) -> FaultContext | None:
        """The current demand fault (None before the first reset and after the last fault)."""
        return None if self._done else self._engine.context

    def _observe(self, ctx: FaultContext | None) -> np.ndarray:
        obs = np.zeros(self.observation_space.shape, dtype=np.float32)
        if ctx is None:  # after the last fault
            return obs
        obs[:N_FEATURES] = features(ctx)
        if self.prev_action_obs and self._prev_a >= 0:
            obs[N_FEATURES + self._prev_a] = 1.0
        return obs

    def _run_info(self) -> dict[str, Any]:
        tot = self._engine.totals()
        return {**tot, "cow_ns": self._cow_ns,
                "objective": self._cow_ns + self.lam * tot["wasted"] * self.cost.page_cost_ns,
                "writes": min(int(self._engine.st[POS]), self._engine.pages.shape[0])}

    # --- gymnasium API -------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if options and options.get("trace") is not None:
            trace, written = parse_one(options["trace"], "options.trace").draw(self.np_random)
        else:
            trace, written = sample_trace(self.np_random, self.sources)
        ctx = self._engine.reset(trace, written, noise_rng=self.np_random)
        assert ctx is not None  # a trace has at least one write, and every page starts shared
        self._cow_ns = 0.0
        self._prev_a = -1
        self._done = False
        return self._observe(ctx), {"page": ctx.page, "write_index": ctx.write_index,
                                    "workload": trace.name}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("PrecopyEnv: the episode has ended; call reset()")
        a = int(action)
        if not 0 <= a < len(self._degree_list):
            raise ValueError(f"PrecopyEnv: action {action!r} is outside Discrete("
                             f"{len(self._degree_list)})")
        ev = self._engine.apply(self._degree_list[a])
        reward = -(ev.fault_ns + self._lam_page_ns * ev.wasted) / self.cost.demand_ns
        info: dict[str, Any] = {"page": ev.page, "k": ev.k, "precopied": ev.precopied,
                                "wasted": ev.wasted, "thp_first": ev.thp_first,
                                "fault_ns": ev.fault_ns, "write_index": ev.write_index}
        self._cow_ns += ev.fault_ns
        self._prev_a = a
        ctx = self._engine.context
        terminated = ctx is None
        truncated = not terminated and self.max_faults is not None \
            and self._engine.faults >= self.max_faults
        obs = self._observe(ctx)
        if terminated or truncated:
            self._done = True
            info["run"] = self._run_info()
        return obs, reward, terminated, truncated, info
