"""``GuardView``: ``guarded``'s context and risk budget around another chooser of ``k``.

A learned network (PPO, DQN) sees only the engine's 7 fault-history features
(:mod:`cowrl.sim.context`); the ``guarded`` policy decides from a richer context
(stream/stride kind, run, the neighbourhood's density, the sentinel hit rate) and caps
every window by a risk budget financed by sentinel hits. ``GuardView`` gives both to any
chooser without writing them twice: it drives a :class:`~cowrl.policies.guarded.GuardedPolicy`
whose table is unused (``observe`` -> the features of its cell, through
:meth:`GuardedPolicy.fault_cell`; ``act(want)`` -> the
largest degree ``<= want`` the budget allows, committed to the same state).

With ``shield=True`` that cap is a *shield* in the safe-RL sense (a post-posed shield,
Alshiekh et al., AAAI 2018): the learner proposes, the budget disposes, in training and
in deployment alike, so the agent learns in the shielded MDP it is deployed in. With
``shield=False`` the budget's prices are zero: every ``want`` passes and only the features
remain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cowrl.errors import ConfigError
from cowrl.policies.base import FaultContext
from cowrl.policies.guarded import (
    KINDS,
    LEFT_BUCKETS,
    USE_BUCKETS,
    USE_ONE,
    GuardedPolicy,
    check_stride_window,
    whole_constant,
)
from cowrl.sim.costmodel import CostModel
from cowrl.sim.programs import RUN_BUCKETS, walk_prices

GUARD_FEATURE_NAMES = (
    "kind_miss", "kind_exact", "kind_near", "kind_stride",  # one-hot of guarded's kind
    "run_bucket",   # guarded's run bucket / 4
    "left",         # private pages among p-3..p-1, / 3 (neighbourhood density)
    "use",          # sentinel hit rate of the fault's class (stream / other), 0..1
    "budget_log",   # pages the risk budget can afford: log2(1 + budget / loss) / 7, <= 1
)
N_GUARD_FEATURES = len(GUARD_FEATURE_NAMES)
GUARD = "policy.guard"  # where a guard constant is named in an error (whole_constant)
CONSTANT_KEYS = ("gain_ns", "loss_ns", "setup_ns", "demand_ns", "skip_ns")
# Optional, with the value an artifact saved before it existed gets: the allowance follows the
# cost model (none under tcg, GuardedPolicy.for_cost), so the shield must carry it too.
# Version 4's interior proofs likewise (an artifact saved before them: sentinel credit), and
# their proof_ttl (saved before it: 0, the ring as it then was: it decides as saved), and
# proof_backoff (saved before it: 0, the reads as they then were), and walk_ns (the budget pays
# the look's walk, GuardedPolicy.for_cost; saved before it: 0, the walk unpaid). walk_empty_ns
# (an empty ring slot's price) saved before it: walk_ns as loaded, the one price it then paid.
# read_credit and read_ns (a proof credits the reserved reads its copy did not use) saved
# before them: 0, no such credit, the decisions as saved. proof_look (a look counts down its
# region's bucket only) saved before it: 0, the look as then; proof_span (a look walks the
# ring's span only, and none before its bucket is due) likewise. floor and grant_left (k = 0
# while the class's sentinel hit rate is below floor; the allowance at a fault with at least
# grant_left private left neighbours; docs/policies.md, "Waste on uniform random") saved
# before them: 0 and 2, the rules then. floor_slow (the floor also reads a slow EWMA of the
# sentinel outcomes; docs/policies.md, "The last window on `random_0`") saved before it: 0.
# proof_skipmap (a look jumps from an empty ring slot to the next live one) likewise, and
# proof_duemap (it also jumps over the entries not yet due) with its two prices walk_due_ns
# and walk_scan_ns (saved before them: 0, no due map). stride_window (a granted window is
# strided, page+s, .., page+k*s, where the region's stride detector sees a constant stride
# s >= 2 continuing; docs/policies.md, "Shipped: strided windows") with its price stride_ns
# per strided page walked (saved before them: 0, adjacent windows, as then).
OPTIONAL_KEYS = {"budget_per_mille": 10, "proof": 0, "proof_reads": 8, "proof_ttl": 0,
                 "proof_backoff": 0, "walk_ns": 0, "read_credit": 0, "read_ns": 0,
                 "proof_look": 0, "proof_span": 0, "floor": 0, "grant_left": 2,
                 "floor_slow": 0, "proof_skipmap": 0, "proof_duemap": 0,
                 "walk_due_ns": 0, "walk_scan_ns": 0, "stride_window": 0, "stride_ns": 0}
# A guard without the shield (shield: false) prices no window: every want passes, the budget
# never binds (GuardView; the frozen unshielded bandit, BanditPolicy); no floor either.
FREE_PRICES = {"loss_ns": 0, "setup_ns": 0, "skip_ns": 0, "walk_ns": 0, "walk_empty_ns": 0,
               "read_ns": 0, "walk_due_ns": 0, "walk_scan_ns": 0, "stride_ns": 0, "floor": 0,
               "floor_slow": 0}


def guard_constants(cost: CostModel, lam: float = 1.0, proof: int = 0,
                    proof_reads: int = 8, proof_ttl: int = 0,
                    proof_backoff: int = 0, read_credit: int = 0,
                    proof_look: int = 0, proof_span: int = 0, floor: int = 0,
                    grant_left: int = 2, floor_slow: int = 0,
                    proof_skipmap: int = 0, proof_duemap: int = 0,
                    stride_window: int = 0) -> dict[str, int]:
    """The budget's prices and allowance under ``cost`` (as :meth:`GuardedPolicy.for_cost`
    sets them: with ``proof_ttl`` the loss reserves its unproven reads), and whether its
    credit comes from interior proofs (``proof``), read with backoff (``proof_backoff``),
    crediting the reserved reads a proven copy did not use (``read_credit``, ``read_ns``), by
    looks that count down their region's bucket only (``proof_look``) and walk the ring's span
    only, none before their bucket is due (``proof_span``), jumping from an empty slot to the
    next live one (``proof_skipmap``) and over the entries not yet due (``proof_duemap``, its
    jumps and refreshes priced ``walk_due_ns`` and ``walk_scan_ns``), with strided windows
    where the region's stride detector sees a constant stride continuing (``stride_window``,
    each strided page walked priced ``stride_ns``, as guarded's); ``k = 0`` while the
    fault's class has a sentinel hit rate below ``floor`` (with ``floor_slow = s``, or a slow
    EWMA of weight ``1 / 2 ** s`` of the same outcomes is), and the allowance at faults with
    at least ``grant_left`` private left neighbours (or a sentinel hit)."""
    g = GuardedPolicy.for_cost(cost, lam, proof=proof, proof_reads=proof_reads,
                               proof_ttl=proof_ttl, proof_backoff=proof_backoff,
                               read_credit=read_credit, proof_look=proof_look,
                               proof_span=proof_span, floor=floor, grant_left=grant_left,
                               floor_slow=floor_slow, proof_skipmap=proof_skipmap,
                               proof_duemap=proof_duemap,
                               stride_window=check_stride_window(stride_window, False))
    return {"gain_ns": g.gain, "loss_ns": g.loss, "setup_ns": g.setup, "demand_ns": g.demand,
            "skip_ns": g.skip, "budget_per_mille": g.budget_per_mille, "proof": g.proof,
            "proof_reads": g.proof_reads, "proof_ttl": g.proof_ttl,
            "proof_backoff": g.proof_backoff, "walk_ns": g.walk, "walk_empty_ns": g.walk_empty,
            "read_credit": g.read_credit, "read_ns": g.read_ns, "proof_look": g.proof_look,
            "proof_span": g.proof_span, "floor": g.floor, "grant_left": g.grant_left,
            "floor_slow": g.ctx.slow_shift, "proof_skipmap": g.proof_skipmap,
            "proof_duemap": g.proof_duemap, "walk_due_ns": g.walk_due,
            "walk_scan_ns": g.walk_scan, "stride_window": g.stride_window,
            "stride_ns": g.stride_ns}


GUARD_OPTIONS = ("proof", "proof_reads", "proof_ttl", "proof_backoff", "read_credit",
                 "proof_look", "proof_span", "floor", "grant_left", "floor_slow",
                 "proof_skipmap", "proof_duemap", "stride_window")
"""The shield's options among its constants (:func:`guard_constants`' keywords): what stays when
the prices change."""


def repriced(constants: Mapping[str, int], cost: CostModel, lam: float) -> dict[str, int]:
    """The same shield (its options as in ``constants``) with ``cost``'s prices and
    allowance: what a frozen shield deployed under another cost model runs with, as
    :meth:`GuardedPolicy.deployed_under` does for ``guarded``'s table."""
    return guard_constants(cost, lam, **{k: int(constants[k]) for k in GUARD_OPTIONS})


class GuardView:
    """Guarded's per-region context and (optionally) its risk budget for a chooser of ``k``.

    Call :meth:`reset` per run, then at every fault :meth:`observe` (features) and
    :meth:`act` (the degree actually applied), in that order.
    """

    def __init__(self, constants: Mapping[str, int], shield: bool = True,
                 degrees: Sequence[int] = (0, 1, 2, 4, 8, 16, 32, 64)) -> None:
        missing = [k for k in CONSTANT_KEYS if k not in constants]
        if missing:
            raise ConfigError(f"policy.guard: missing {', '.join(missing)}")
        if shield and 0 not in degrees:
            raise ConfigError("policy.degrees: a shielded policy needs degree 0 (the shield's "
                              "fallback)")
        self.constants = {k: whole_constant(k, constants[k], GUARD) for k in CONSTANT_KEYS}
        self.constants.update({k: whole_constant(k, constants.get(k, v), GUARD)
                               for k, v in OPTIONAL_KEYS.items()})
        # walk_empty_ns saved before it: walk_ns, the one price then (as a guarded program)
        self.constants["walk_ns"], self.constants["walk_empty_ns"] = walk_prices(
            {k: whole_constant(k, v, GUARD) for k, v in constants.items()
             if k in ("walk_ns", "walk_empty_ns")})
        self.shield = bool(shield)
        kw: dict[str, Any] = dict(self.constants)
        if not self.shield:  # free windows: the budget never binds, every want passes
            kw.update(FREE_PRICES)
        self.guard = GuardedPolicy(degrees=list(degrees), **kw)
        self._loss = max(self.constants["loss_ns"], 1)
        self._cell: Any = None
        self._ctx: FaultContext | None = None
        # When a list: (cell, want, open) of every act: the chooser's proposal before the shield,
        # and whether the shield would let any window open there (else every proposal gives
        # k = 0). cowrl.policies.distill records a network's proposals per guarded cell with it.
        self.proposals: list[tuple[int, int, int]] | None = None

    def reset(self, n_pages: int) -> None:
        self.guard.reset(n_pages)
        self._cell = self._ctx = None

    def observe(self, ctx: FaultContext) -> np.ndarray:
        """The :data:`GUARD_FEATURE_NAMES` of this fault (updates the context: once per fault)."""
        c = self.guard.fault_cell(ctx)
        self._cell, self._ctx = c, ctx
        left = (c.cell // USE_BUCKETS) % LEFT_BUCKETS
        run_b = (c.cell // (USE_BUCKETS * LEFT_BUCKETS)) % RUN_BUCKETS
        kind = c.cell // (USE_BUCKETS * LEFT_BUCKETS * RUN_BUCKETS)
        out = np.zeros(N_GUARD_FEATURES, dtype=np.float32)
        out[kind] = 1.0
        out[len(KINDS)] = run_b / (RUN_BUCKETS - 1)
        out[len(KINDS) + 1] = left / (LEFT_BUCKETS - 1)
        out[len(KINDS) + 2] = self.guard.ctx.use[c.cls] / USE_ONE  # finer than its bucket
        if self.shield:
            pages = max(self.guard.budget, 0) / self._loss
            out[len(KINDS) + 3] = min(1.0, math.log2(1.0 + pages) / 7.0)
        return out

    def act(self, want: int) -> int:
        """The degree applied for ``want`` at the fault just observed (shielded if on)."""
        if self._cell is None or self._ctx is None:
            raise RuntimeError("GuardView.act: call observe() at this fault first")
        if self.proposals is not None:
            g, ctx = self.guard, self._ctx
            off = ctx.coord_offset  # the decision's pages (GuardedPolicy.act)
            limit = (ctx.region_end if ctx.region_end > 0 else ctx.n_pages) + off
            top = g.degree(self._cell, ctx.page + off, limit, max(g.degrees),
                           ctx.region_start + off, ctx.page + ctx.vpn_offset)[0]
            # (pure: the budget as it stands)
            self.proposals.append((int(self._cell.cell), int(want), int(top > 0)))
        k = self.guard.act(self._cell, self._ctx, int(want))
        self._cell = self._ctx = None
        return k

