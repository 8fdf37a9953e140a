"""Bandits over precopy degrees: learners (MABWiser-style) and the policy that trains them.

**Learners** look like MABWiser: ``fit(decisions, rewards, contexts)``,
``partial_fit(...)``, ``predict(contexts)`` (the exploring choice) and
``predict_expectations(contexts)``, plus ``greedy(contexts)`` for the frozen
form. ``contexts`` are context-cell indices (:mod:`cowrl.policies.context`):
the non-contextual learners keep one independent bandit per cell.

* :class:`DiscountedUCB` (Garivier & Moulines; the Micro-Armed Bandit,
  MICRO 2023, uses it for prefetch degree): old rewards fade by ``gamma`` per
  pull, so an arm's estimate follows a phase change.
* :class:`UCB1` (Auer et al.): no discount.
* :class:`ThompsonSampling`: Gaussian posterior sampling, optional discount.
* :class:`~cowrl.policies.linucb.LinUCB`: one ridge regression per arm over
  features of the cell, so cells share what they learn.

**Reward.** A decision's reward is its saving relative to ``k = 0`` at the
same fault, known in hindsight from the trace and read off the engine's
:class:`~cowrl.sim.context.FaultEvent`: every page the precopy made private
that the trace writes later saves a whole decided demand fault; the fault
pays what the precopy added to it (``event.precopy_ns``: work, pages copied,
pages skipped, from the cost model's one formula); every precopied page the
trace never writes costs the waste penalty ``lambda * page_cost_ns``. Rewards
are in percent of the run's baseline objective (every written page faulting
once). Since ``k = 0`` always earns exactly 0, a phase that makes every fault
cheaper or dearer does not shift one arm's estimate against another's.

**Epochs.** As in the Micro-Armed Bandit, an arm is held for an epoch
(``epoch_faults`` faults): each cell draws its arm when it is first seen in
an epoch and keeps it; at the epoch's end each cell's learner gets one pull
with the mean reward of its decisions.

**Deployment.** The kernel cannot see waste online (a precopied page that is
later written takes no fault, and one never written is invisible), and a
forked child that writes 64 pages has no budget for exploration: one
exploratory ``k = 64`` on such a workload doubles its cost. So learning
happens in the simulator and the module gets the frozen greedy table
(:class:`~cowrl.policies.table.TablePolicy`); see ``docs/policies.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cowrl.errors import ConfigError
from cowrl.policies.base import FaultContext, FaultEvent, KernelProgram, Policy
from cowrl.policies.context import N_CELLS, ContextSpec, StreamContext
from cowrl.policies.table import TablePolicy
from cowrl.sim.costmodel import CostModel
from cowrl.sim.engine import written_mask
from cowrl.traces.io import Trace

DEFAULT_DEGREES: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 32, 64)


def check_degrees(degrees: Sequence[int], field: str = "policy.degrees") -> tuple[int, ...]:
    try:
        vals = [int(d) for d in degrees]
    except (TypeError, ValueError):
        raise ConfigError(f"{field}: expected a list of integers, got {degrees!r}") from None
    if not vals or any(d < 0 for d in vals) or len(set(vals)) != len(vals):
        raise ConfigError(f"{field}: need distinct integers >= 0, got {vals}")
    if 0 not in vals:
        raise ConfigError(f"{field}: must include 0 (the kernel's own behaviour), got {vals}")
    return tuple(sorted(vals))


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
                          f"number, got {value!r}")
    return float(value)


class Learner:
    """MABWiser-style bandit learner over ``arms`` (degrees), one bandit per context cell."""

    def __init__(self, arms: Sequence[int], n_contexts: int = N_CELLS, seed: int = 0) -> None:
        self.arms = check_degrees(arms)
        self.n_contexts = int(n_contexts)
        self.seed = int(seed)
        self._index = {a: i for i, a in enumerate(self.arms)}

    # --- MABWiser-like API -------------------------------------------------------------
    def fit(self, decisions: Sequence[int], rewards: Sequence[float],
            contexts: Sequence[int] | None = None) -> Learner:
        self.reset()
        return self.partial_fit(decisions, rewards, contexts)

    def partial_fit(self, decisions: Sequence[int], rewards: Sequence[float],
                    contexts: Sequence[int] | None = None) -> Learner:
        ctxs = [0] * len(decisions) if contexts is None else list(contexts)
        for d, r, c in zip(decisions, rewards, ctxs, strict=True):
            self._update(int(c), self._index[int(d)], float(r))
        return self

    def predict(self, contexts: Sequence[int] | None = None) -> list[int]:
        """The exploring choice (UCB bound or posterior sample) per context."""
        return [self.arms[self._select(int(c))] for c in (contexts or [0])]

    def predict_expectations(self, contexts: Sequence[int] | None = None) -> np.ndarray:
        """Estimated mean reward of every arm, shape ``(len(contexts), n_arms)``."""
        return np.stack([self._means(int(c)) for c in (contexts or [0])])

    def greedy(self, contexts: Sequence[int] | None = None) -> list[int]:
        """The exploiting choice; ties (and cells never seen) go to the smallest degree."""
        exp = self.predict_expectations(contexts)
        return [self.arms[int(np.argmax(row))] for row in exp]

    # --- to implement ------------------------------------------------------------------
    def reset(self) -> None:
        raise NotImplementedError

    def _update(self, c: int, a: int, r: float) -> None:
        raise NotImplementedError

    def _select(self, c: int) -> int:
        raise NotImplementedError

    def _means(self, c: int) -> np.ndarray:
        raise NotImplementedError

    def get_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def set_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        raise NotImplementedError


class _CountLearner(Learner):
    """Discounted counts ``N`` and reward sums ``S`` per (cell, arm)."""

    gamma = 1.0

    def reset(self) -> None:
        self.N = np.zeros((self.n_contexts, len(self.arms)))
        self.S = np.zeros((self.n_contexts, len(self.arms)))

    def _update(self, c: int, a: int, r: float) -> None:
        if self.gamma != 1.0:
            self.N[c] *= self.gamma
            self.S[c] *= self.gamma
        self.N[c, a] += 1.0
        self.S[c, a] += r

    def _means(self, c: int) -> np.ndarray:
        # Shrunk toward 0, the reward k=0 always earns: an arm must earn its lead.
        return self.S[c] / (self.N[c] + 1.0)

    def get_state(self) -> dict[str, Any]:
        return {"N": self.N.tolist(), "S": self.S.tolist()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.N = np.asarray(state["N"], dtype=np.float64)
        self.S = np.asarray(state["S"], dtype=np.float64)


class _UCBLearner(_CountLearner):
    """Plays every arm of a cell once, then the highest ``S/N + bonus(N)``."""

    def _bonus(self, n: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _select(self, c: int) -> int:
        n = self.N[c]
        unplayed = np.flatnonzero(n == 0)
        if unplayed.size:
            return int(unplayed[0])
        return int(np.argmax(self.S[c] / n + self._bonus(n)))


def _discount(value: float) -> float:
    """``policy.learner.gamma`` in (0, 1]."""
    g = _positive("policy.learner.gamma", value)
    if g > 1:
        raise ConfigError(f"policy.learner.gamma must be in (0, 1], got {value!r}")
    return g


@dataclass(frozen=True)
class DUCBParams:
    gamma: float = 0.98
    """Discount per pull of the cell (1.0 is UCB1 with the DUCB bonus)."""
    c: float = 0.3
    """Exploration scale (``2B`` in Garivier & Moulines), in the rewards' units: percent of
    the run's baseline objective."""
    xi: float = 0.5


class DiscountedUCB(_UCBLearner):
    """Discounted UCB: ``S/N + c * sqrt(xi * log(sum N) / N)`` on discounted statistics."""

    def __init__(self, arms: Sequence[int] = DEFAULT_DEGREES, n_contexts: int = N_CELLS,
                 seed: int = 0, gamma: float = DUCBParams.gamma, c: float = DUCBParams.c,
                 xi: float = DUCBParams.xi) -> None:
        super().__init__(arms, n_contexts, seed)
        self.hp = DUCBParams(gamma=_discount(gamma),
                             c=_positive("policy.learner.c", c, allow_zero=True),
                             xi=_positive("policy.learner.xi", xi))
        self.gamma = self.hp.gamma
        self.reset()

    def _bonus(self, n: np.ndarray) -> np.ndarray:
        return self.hp.c * np.sqrt(self.hp.xi * math.log(max(n.sum(), 1.0 + 1e-9)) / n)

    def params(self) -> dict[str, Any]:
        return asdict(self.hp)


class UCB1(_UCBLearner):
    """UCB1: ``mean + c * sqrt(2 log n / N)``, no discount."""

    def __init__(self, arms: Sequence[int] = DEFAULT_DEGREES, n_contexts: int = N_CELLS,
                 seed: int = 0, c: float = 0.3) -> None:
        super().__init__(arms, n_contexts, seed)
        self.c = _positive("policy.learner.c", c, allow_zero=True)
        self.reset()

    def _bonus(self, n: np.ndarray) -> np.ndarray:
        return self.c * np.sqrt(2.0 * math.log(n.sum()) / n)

    def params(self) -> dict[str, Any]:
        return {"c": self.c}


class ThompsonSampling(_CountLearner):
    """Gaussian Thompson sampling: draw ``N(S/(N+1), sigma^2/(N+1))`` per arm, play the best."""

    def __init__(self, arms: Sequence[int] = DEFAULT_DEGREES, n_contexts: int = N_CELLS,
                 seed: int = 0, sigma: float = 0.3, gamma: float = 1.0) -> None:
        super().__init__(arms, n_contexts, seed)
        self.sigma = _positive("policy.learner.sigma", sigma)
        self.gamma = _discount(gamma)
        self.rng = np.random.default_rng(self.seed)
        self.reset()

    def _select(self, c: int) -> int:
        mean = self.S[c] / (self.N[c] + 1.0)
        draw = self.rng.normal(mean, self.sigma / np.sqrt(self.N[c] + 1.0))
        return int(np.argmax(draw))

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "rng": self.rng.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.rng.bit_generator.state = state["rng"]

    def params(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "gamma": self.gamma}


CONTEXTS = ("guarded", "stream")
CREDITS = ("proposed", "applied")


class BanditPolicy(Policy):
    """A contextual bandit over degrees that learns in the simulator and freezes to a table.

    ``decide`` plays the learner's exploring choice while :attr:`learning`
    (after :meth:`begin_episode` gave it the trace, for hindsight rewards) and
    the greedy table otherwise.

    **Context.** ``context: stream`` (or ``{slots, near}``): the 60 stream cells of
    :mod:`cowrl.policies.context`; frozen, a :class:`~cowrl.policies.table.TablePolicy` (the
    round-1 bandit). ``context: guarded``: the 320 cells of ``guarded``
    (:mod:`cowrl.policies.guarded`), computed by a :class:`GuardedPolicy` itself through
    :class:`~cowrl.policies.shield.GuardView` (``fault_cell``, ``act(want)``: no second
    copy); frozen, a :class:`GuardedPolicy` whose table is the greedy table.

    **Shield** (``shield: true``, guarded context only): the learner proposes a degree and
    guarded's risk budget disposes (the largest degree ``<=`` the proposal whose worst case
    fits the budget), in training and in the frozen policy alike; ``proof: 1`` credits the
    budget by interior proofs only, so the loss over ``k = 0`` stays within the allowance
    for any table the learner ends with (with ``proof_ttl``, as guarded's, its unproven
    proof reads too; ``proof_backoff`` as guarded's: an entry read unwritten ``m`` times is
    read again ``2^m`` faults later; ``read_credit`` as guarded's: a proof also credits the
    reserved reads its copy did not use; ``proof_look`` as guarded's: a look counts down the
    live entries of its region's bucket only; ``proof_span`` as guarded's: a look walks the
    ring's span only, and none before its bucket is due; ``floor`` and ``grant_left`` as
    guarded's: ``k = 0`` while the fault's class has a sentinel hit rate below ``floor``, the
    allowance at faults with ``grant_left`` private left neighbours; ``floor_slow`` as
    guarded's: the floor also reads a slow EWMA of the sentinel outcomes; ``proof_skipmap`` as
    guarded's: a look jumps from an empty ring slot to the next live one; ``proof_duemap`` as
    guarded's: it also jumps over the entries not yet due; ``stride_window`` as guarded's: a
    granted window is strided, ``page+s, .., page+k*s``, where the region's stride detector
    sees a constant stride ``s >= 2`` continuing, each strided page priced ``stride_ns`` by
    the budget). The budget's prices
    come from ``costmodel`` (``auto``: the cost model each run is priced by, as
    ``conf/policy/guarded.yaml``).
    ``shield: false`` with the guarded context frees every window (the budget's prices are
    0: an ablation). ``credit``: which arm a fault's reward goes to when the shield cut the
    proposal: ``proposed`` (the arm the learner chose: it learns the value of a proposal
    in the shielded MDP it is deployed in) or ``applied`` (the degree the budget allowed).

    ``train_workloads`` and ``train_rounds`` are not used here: ``conf/train.yaml`` trains
    on them by default (``workloads``, ``rounds``).
    """

    def __init__(self, learner: Learner, name: str = "bandit",
                 context: ContextSpec | dict[str, Any] | str | None = None,
                 epoch_faults: int = 64, shield: bool = False, proof: int = 0,
                 proof_reads: int = 8, proof_ttl: int = 0, proof_backoff: int = 0,
                 read_credit: int = 0, proof_look: int = 0, proof_span: int = 0,
                 floor: int = 0, grant_left: int = 2, floor_slow: int = 0,
                 proof_skipmap: int = 0, proof_duemap: int = 0, stride_window: int = 0,
                 costmodel: str = "auto",
                 lam: float | None = None,
                 credit: str = "proposed", train_workloads: Sequence[str] | None = None,
                 train_rounds: int | None = None) -> None:
        if not isinstance(learner, Learner):
            raise ConfigError(f"policy.learner: expected a bandit learner, got "
                              f"{type(learner).__name__}")
        if isinstance(epoch_faults, bool) or not isinstance(epoch_faults, int) \
                or epoch_faults <= 0:
            raise ConfigError(f"policy.epoch_faults must be a positive integer, "
                              f"got {epoch_faults!r}")
        if isinstance(context, str):
            if context not in CONTEXTS:
                raise ConfigError(f"policy.context must be one of {', '.join(CONTEXTS)} or "
                                  f"{{slots, near}}, got {context!r}")
            self.context_kind = context
        else:
            self.context_kind = "stream"
        if not isinstance(shield, bool):
            raise ConfigError(f"policy.shield must be true or false, got {shield!r}")
        if shield and self.context_kind != "guarded":
            raise ConfigError("policy.shield: the shield is guarded's risk budget, it needs "
                              "context: guarded")
        if isinstance(proof, bool) or proof not in (0, 1):
            raise ConfigError(f"policy.proof must be 0 or 1, got {proof!r}")
        from cowrl.policies.guarded import (
            check_proof_reads,
            check_shield_options,
            check_stride_window,
        )

        check_proof_reads(proof_reads)
        self.stride_window = check_stride_window(stride_window, False)
        if self.stride_window and context != "guarded":
            raise ConfigError("policy.stride_window: strided windows are guarded's (its "
                              "stride detector), they need context: guarded")
        # self.floor, self.grant_left, ... (SHIELD_OPTIONS), checked as guarded checks them
        vars(self).update(check_shield_options(
            proof, floor=floor, grant_left=grant_left, floor_slow=floor_slow,
            proof_ttl=proof_ttl, proof_backoff=proof_backoff, read_credit=read_credit,
            proof_look=proof_look, proof_span=proof_span, proof_skipmap=proof_skipmap,
            proof_duemap=proof_duemap))
        if credit not in CREDITS:
            raise ConfigError(f"policy.credit must be one of {', '.join(CREDITS)}, "
                              f"got {credit!r}")
        if not isinstance(costmodel, str):
            raise ConfigError(f"policy.costmodel must be auto or a cost model name, "
                              f"got {costmodel!r}")
        if costmodel != "auto":
            from cowrl.registry import group_config

            group_config("costmodel", costmodel, "policy.costmodel")  # one-line if unknown
        from cowrl.policies.guarded import is_align

        self.name = name
        self.learner = learner
        # Arms ALIGN | G (guarded's align values: to the end of the fault's aligned group)
        # are proposals, not degrees: the degree set is the others.
        if any(is_align(a) for a in learner.arms) and context != "guarded":
            raise ConfigError("policy.learner.arms: align values (256 + G) need "
                              "context: guarded")
        self.degrees = tuple(a for a in learner.arms if not is_align(a))
        self.epoch_faults = epoch_faults
        self.shield, self.proof, self.proof_reads = shield, int(proof), int(proof_reads)
        self.costmodel, self.credit = costmodel, credit
        self.lam = 1.0 if lam is None else _positive("policy.lam", lam, allow_zero=True)
        self.train_workloads = None if train_workloads is None else list(train_workloads)
        self.train_rounds = train_rounds
        if self.context_kind == "guarded":
            from cowrl.policies import guarded

            self.n_cells = guarded.N_CELLS
            self.decide_program = guarded.GuardedPolicy.decide_program  # priced like guarded
            self.spec = ContextSpec()
        else:
            self.n_cells = N_CELLS
            self.spec = ContextSpec.from_any(None if isinstance(context, str) else context)
        if learner.n_contexts != self.n_cells:
            if not isinstance(learner, _CountLearner):
                raise ConfigError(f"policy.context: {self.context_kind} has {self.n_cells} "
                                  f"cells; {type(learner).__name__} is built for "
                                  f"{learner.n_contexts} (use a per-cell learner)")
            learner.n_contexts = self.n_cells
            learner.reset()
        self.ctx = StreamContext(self.spec)
        self.view: Any = None  # GuardView of the guarded context, per learning run
        self.learning = False
        self._table = [0] * self.n_cells
        self._frozen: Any = None
        self._reset_epoch()

    trainer = "bandit"
    """Trained by ``cowrl.training`` (``TRAINERS``); built from its config it is untrained,
    so ``eval.py`` loads its artifact instead."""

    # --- training hooks (called by cowrl.training) ----------------------------------------
    def begin_episode(self, trace: Trace, cost: CostModel, lam: float) -> None:
        """Learn during the next run over ``trace`` (its future gives hindsight rewards)."""
        self.learning = True
        # Percent of this run's baseline objective (every written page faults once).
        self._scale = int(np.count_nonzero(written_mask(trace.pages, trace.n_pages))) \
            * cost.demand_ns / 100.0
        # A decided fault, no precopy (its decision priced as the deployed program's).
        self._saved_ns = float(cost.fault_cost(0, decided=1, program=self.decide_program))
        self._waste_ns = lam * cost.page_cost_ns
        self.episode_reward = 0.0
        if self.context_kind == "guarded":
            from cowrl.policies.shield import GuardView, guard_constants

            budget_cost = cost if self.costmodel == "auto" else self._named_cost()
            self.view = GuardView(guard_constants(budget_cost, lam, proof=self.proof,
                                                  proof_reads=self.proof_reads,
                                                  proof_ttl=self.proof_ttl,
                                                  proof_backoff=self.proof_backoff,
                                                  read_credit=self.read_credit,
                                                  proof_look=self.proof_look,
                                                  proof_span=self.proof_span,
                                                  floor=self.floor,
                                                  grant_left=self.grant_left,
                                                  floor_slow=self.floor_slow,
                                                  proof_skipmap=self.proof_skipmap,
                                                  proof_duemap=self.proof_duemap,
                                                  stride_window=self.stride_window),
                                  shield=self.shield, degrees=self.degrees)

    def _named_cost(self) -> CostModel:
        from cowrl.registry import make_costmodel

        return make_costmodel(self.costmodel)

    def end_episode(self) -> None:
        self._flush_epoch()
        self.learning = False
        self.view = None

    def freeze(self) -> Policy:
        """What the module runs: the greedy table (a :class:`TablePolicy`), or with the
        guarded context a :class:`GuardedPolicy` with that table and the budget."""
        table = self.learner.greedy(list(range(self.n_cells)))
        if self.context_kind == "stream":
            return TablePolicy(table, context=self.spec, name=self.name)
        from cowrl.policies.guarded import GuardedPolicy, make_guarded

        kw: dict[str, Any] = {"proof": self.proof, "proof_reads": self.proof_reads,
                              "proof_ttl": self.proof_ttl,
                              "proof_backoff": self.proof_backoff,
                              "read_credit": self.read_credit,
                              "proof_look": self.proof_look,
                              "proof_span": self.proof_span,
                              "floor": self.floor, "grant_left": self.grant_left,
                              "floor_slow": self.floor_slow,
                              "proof_skipmap": self.proof_skipmap,
                              "proof_duemap": self.proof_duemap,
                              "stride_window": self.stride_window,
                              "degrees": list(self.degrees), "name": self.name}
        if not self.shield:  # free windows, as GuardView(shield=False) trained it
            from cowrl.policies.shield import FREE_PRICES, guard_constants

            cost = self._named_cost() if self.costmodel != "auto" else None
            if cost is None:
                from cowrl.registry import make_costmodel

                cost = make_costmodel("seed_table1")
            c = guard_constants(cost, self.lam, proof=self.proof, proof_reads=self.proof_reads,
                                proof_ttl=self.proof_ttl, proof_backoff=self.proof_backoff,
                                read_credit=self.read_credit, proof_look=self.proof_look,
                                proof_span=self.proof_span, grant_left=self.grant_left,
                                proof_skipmap=self.proof_skipmap,
                                proof_duemap=self.proof_duemap,
                                stride_window=self.stride_window)
            c.update(FREE_PRICES)
            return GuardedPolicy(table=table, **c, **{k: v for k, v in kw.items()
                                                      if k not in c})
        if self.costmodel == "auto":
            return make_guarded(table=table, costmodel="auto", lam=self.lam, **kw)
        return GuardedPolicy.for_cost(self._named_cost(), self.lam, table=table, **kw)

    # --- Policy ---------------------------------------------------------------------------
    def deployed_under(self, cost: CostModel) -> Policy:
        """Learning (or the stream context): itself; otherwise the frozen policy under
        ``cost``."""
        if self.learning or self.context_kind == "stream":
            return self
        return self.freeze().deployed_under(cost)

    def priced(self, cost: CostModel) -> CostModel:
        """A shield with interior proofs pays the module's clean per copied page, as
        guarded ``proof: 1`` (:meth:`CostModel.with_clean`)."""
        return cost.with_clean() if self.shield and self.proof else cost

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        self.ctx.reset()
        self._reset_epoch()
        if self.view is not None:
            self.view.reset(n_pages)
        if not self.learning:
            self._table = self.learner.greedy(list(range(self.n_cells)))
            if self.context_kind == "guarded":
                self._frozen = self.freeze()
                self._frozen.reset(n_pages, seed)

    def decide(self, ctx: FaultContext) -> int:
        if self.context_kind == "guarded":
            return self._decide_guarded(ctx)
        off = ctx.coord_offset  # the decision's pages (0 but in the one-address layout)
        f = self.ctx.observe_fault(ctx.page + off, ctx.region_start + off)
        if self.learning:
            k = self._epoch_arm.get(f.cell)
            if k is None:
                k = self._epoch_arm[f.cell] = self.learner.predict([f.cell])[0]
        else:
            k = self._table[f.cell]
        self.ctx.commit(f, ctx.page + off,
                        (ctx.region_end if ctx.region_end >= 0 else ctx.n_pages) + off, k)
        self._last_cell = f.cell
        self._last_arm = k
        return k

    def _decide_guarded(self, ctx: FaultContext) -> int:
        if not self.learning:
            if self._frozen is None:
                raise RuntimeError("BanditPolicy: reset() before decide()")
            return int(self._frozen.decide(ctx))
        if self.view is None:
            raise RuntimeError("BanditPolicy: begin_episode() before a learning run")
        guard = self.view.guard
        c = guard.fault_cell(ctx)  # guarded's steps 0-4: proofs, sentinel, allowance, cell
        want = self._epoch_arm.get(c.cell)
        if want is None:
            want = self._epoch_arm[c.cell] = self.learner.predict([c.cell])[0]
        k = guard.act(c, ctx, want)  # the budget disposes
        self._last_cell = c.cell
        self._last_arm = want if self.credit == "proposed" else k
        return k

    def replay_program(self) -> KernelProgram | None:
        # Frozen, it is its greedy table (compiled replay); learning, it decides in Python.
        return None if self.learning else self.kernel_program()

    def observe(self, ctx: FaultContext, event: FaultEvent) -> None:
        if not self.learning:
            return
        # Saving vs k = 0 at this fault: the faults its useful pages will not take, minus
        # what the precopy cost here and the waste penalty (the event's terms, cost model's).
        r = (event.useful * self._saved_ns - event.precopy_ns
             - event.wasted * self._waste_ns) / self._scale
        self.episode_reward += r
        acc = self._epoch_sum.setdefault((self._last_cell, self._last_arm), [0.0, 0])
        acc[0] += r
        acc[1] += 1
        self._epoch_n += 1
        if self._epoch_n >= self.epoch_faults:
            self._flush_epoch()

    def _reset_epoch(self) -> None:
        self._epoch_arm: dict[int, int] = {}
        self._epoch_sum: dict[tuple[int, int], list[float]] = {}
        self._epoch_n = 0
        self._last_cell = 0
        self._last_arm = 0

    def _flush_epoch(self) -> None:
        if self._epoch_sum:
            keys = sorted(self._epoch_sum)
            self.learner.partial_fit([a for _, a in keys],
                                     [self._epoch_sum[key][0] / self._epoch_sum[key][1]
                                      for key in keys], [c for c, _ in keys])
        self._epoch_arm, self._epoch_sum, self._epoch_n = {}, {}, 0

    def kernel_program(self) -> KernelProgram:
        return self.freeze().kernel_program()
