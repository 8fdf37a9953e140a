"""``GuardedPrecopyEnv``: ``PrecopyEnv`` with guarded's context, its shield and a savings reward.

What a fair RL set-up for PPO/DQN adds to the plain env (docs/policies.md, "PPO and DQN
through the protocol"), each a switch so that its effect can be measured alone.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from cowrl.envs.precopy_env import PrecopyEnv
from cowrl.errors import ConfigError
from cowrl.policies.shield import N_GUARD_FEATURES, GuardView, guard_constants
from cowrl.sim.context import FaultContext
from cowrl.sim.costmodel import fault_ns

REWARDS = ("cost", "saving", "gain")
FEATURES = ("engine", "guarded")


class GuardedPrecopyEnv(gym.Wrapper):
    """A :class:`PrecopyEnv` seen through :class:`~cowrl.policies.shield.GuardView`.

    **Observation** the env's (7 engine features, plus the previous action's one-hot if
    ``prev_action_obs``) followed, with ``features="guarded"``, by the 8
    :data:`~cowrl.policies.shield.GUARD_FEATURE_NAMES` of guarded's context (stream/stride
    kind, run, neighbourhood density, sentinel hit rate, affordable pages).

    **Action** the degree the agent asks for; with ``shield=True`` the env applies the
    largest degree ``<=`` it that guarded's risk budget allows (``info["want"]`` keeps the
    request, ``info["k"]`` what was applied). ``proof = 1``: the budget's credit comes
    from interior proofs (guarded version 4; the engine's page state tells them);
    ``proof_ttl`` as guarded's (an entry read unwritten that often leaves the ring), and
    ``proof_backoff`` (an entry read unwritten ``m`` times is read again ``2^m`` faults later),
    ``read_credit`` (a proof also credits the reserved reads its copy did not use),
    ``proof_look`` (a look counts down the live entries of its region's bucket only) and
    ``proof_span`` (a look walks the ring's span only, and none before its bucket is due);
    ``floor`` and ``grant_left`` as guarded's (``k = 0`` while the class's sentinel hit rate is
    below ``floor``; the allowance at faults with ``grant_left`` private left neighbours) and
    ``floor_slow`` (the floor also reads a slow EWMA of the sentinel outcomes);
    ``proof_skipmap`` (a look jumps from an empty ring slot to the next live one) and
    ``proof_duemap`` (and over the entries not yet due), as guarded's; ``stride_window`` as
    guarded's (a granted window is strided, ``page+s, .., page+k*s``, where the region's
    stride detector sees a constant stride ``s >= 2`` continuing; the engine applies it). The
    ``"saving"`` and ``"gain"`` rewards price a strided window's walk as an adjacent one's
    (``precopy_stride_ns`` per strided page is not in them, as the bandits' rewards, which
    take the event's ``precopy_ns``, leave it out too): the budget pays it, the reward is
    the learner's estimate only.

    **Reward** ``"cost"``: the env's (minus the fault's cost; one plain fault = -1).
    ``"saving"``: what this fault's window saved against ``k = 0``, in demand faults:
    ``(useful * g - precopy_ns - lambda * page_cost_ns * wasted) / demand_ns`` with ``g``
    the cost of the (decided) fault a useful page avoids. Pages written later take no fault,
    so under ``"cost"`` a window's benefit shows only as *fewer later steps*, which a
    per-step discount hides; ``"saving"`` credits it at the decision (from the simulator's
    hindsight, as the env's waste term already does), and an episode's savings sum to
    ``(baseline - objective) / demand_ns`` (noise-free, without THP). ``"gain"``: the
    saving as a percentage of this trace's baseline cost, so that every trace weighs
    alike, as the bandits normalise by the baseline (an episode returns its gain in %).
    """

    def __init__(self, env: PrecopyEnv, features: str = "guarded", shield: bool = True,
                 reward: str = "saving", proof: int = 0, proof_reads: int = 8,
                 proof_ttl: int = 0, proof_backoff: int = 0, read_credit: int = 0,
                 proof_look: int = 0, proof_span: int = 0, floor: int = 0,
                 grant_left: int = 2, floor_slow: int = 0, proof_skipmap: int = 0,
                 proof_duemap: int = 0, stride_window: int = 0) -> None:
        super().__init__(env)
        if features not in FEATURES:
            raise ConfigError(f"policy.features must be one of {', '.join(FEATURES)}, "
                              f"got {features!r}")
        if reward not in REWARDS:
            raise ConfigError(f"policy.reward must be one of {', '.join(REWARDS)}, "
                              f"got {reward!r}")
        base: PrecopyEnv = env.unwrapped  # type: ignore[assignment]
        self.base = base
        if proof and base.cost.proof_clean_ns:  # every copy pays its clean (Policy.priced)
            base.reprice(base.cost.with_clean())
        self.features, self.shield, self.reward_mode = features, bool(shield), reward
        self.degree_list = [int(d) for d in base.degrees]
        self._index = {d: i for i, d in enumerate(self.degree_list)}
        self.view = GuardView(guard_constants(base.cost, base.lam, proof, proof_reads, proof_ttl,
                                              proof_backoff, read_credit, proof_look,
                                              proof_span, floor, grant_left, floor_slow,
                                              proof_skipmap, proof_duemap, stride_window),
                              shield=self.shield, degrees=self.degree_list)
        box = base.observation_space
        assert isinstance(box, spaces.Box)
        extra = N_GUARD_FEATURES if features == "guarded" else 0
        self.observation_space = spaces.Box(
            low=np.concatenate([box.low, np.zeros(extra, dtype=np.float32)]),
            high=np.concatenate([box.high, np.ones(extra, dtype=np.float32)]),
            dtype=np.float32)
        if base.thp:  # a huge page's first fault copies more than its window
            raise ConfigError("thp: GuardedPrecopyEnv prices windows of 4 KiB pages only")
        self._coef = base.cost.coefficients()
        c = base.cost
        self._saved_ns = c.fault_ns + c.copy_ns + (c.decide_ns if base.decided else 0.0)
        self._lam_page_ns = base.lam * c.page_cost_ns
        self._baseline_ns = 1.0

    def _precopy_ns(self, ctx: FaultContext, k: int, copied: int) -> float:
        """What the window added to the fault (noise-free), priced as the engine prices it."""
        limit = ctx.region_end if ctx.region_end > 0 else ctx.n_pages
        walked = max(min(ctx.page + k, limit - 1) - ctx.page, 0)
        c, d = self._coef, int(self.base.decided)
        return fault_ns(c[0], c[1], c[2], c[3], c[4], c[5], d, int(k > 0), copied,
                        walked - copied, 0) - fault_ns(c[0], c[1], c[2], c[3], c[4], c[5], d,
                                                       0, 0, 0, 0)

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        ctx = self.base.context
        g = self.view.observe(ctx) if ctx is not None else np.zeros(N_GUARD_FEATURES,
                                                                    dtype=np.float32)
        return np.concatenate([obs, g]) if self.features == "guarded" else obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        trace = self.base.trace
        assert trace is not None
        self.view.reset(trace.n_pages)
        self._baseline_ns = max(np.unique(trace.pages).size * self._saved_ns, 1.0)
        return self._obs(obs), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = int(action)
        if not 0 <= a < len(self.degree_list):
            raise ValueError(f"GuardedPrecopyEnv: action {action!r} is outside Discrete("
                             f"{len(self.degree_list)})")
        want = self.degree_list[a]
        ctx = self.base.context
        assert ctx is not None
        k = self.view.act(want)
        obs, reward, terminated, truncated, info = self.env.step(self._index[k])
        info["want"] = want
        if self.reward_mode != "cost":
            useful = info["precopied"] - info["wasted"]
            saving = useful * self._saved_ns - self._precopy_ns(ctx, k, info["precopied"]) \
                - self._lam_page_ns * info["wasted"]
            reward = saving / (self.base.cost.demand_ns if self.reward_mode == "saving"
                               else self._baseline_ns / 100.0)
        if terminated or truncated:
            g = np.zeros(N_GUARD_FEATURES, dtype=np.float32)
            return (np.concatenate([obs, g]) if self.features == "guarded" else obs,
                    float(reward), terminated, truncated, info)
        return self._obs(obs), float(reward), terminated, truncated, info
