"""``RampPolicy``: a readahead-style ramp proposer under ``guarded``'s unchanged shield.

A simulator study (docs/policies.md, "A ramp proposer (session 21, simulator study)"), not a
shipped policy: it has no kernel program and no config. Per region and per class (stream,
other) it keeps a window size ``w`` that starts at 1, doubles (cap :data:`MAX_K`) at each hit
of a sentinel of that class (the writes reached the end of a window) and halves (floor 1) at
each miss (a sentinel evicted unhit), as Linux readahead ramps its window on a hit of its
async marker (``mm/readahead.c``). With ``zero_after = m > 0`` a class that missed ``m``
times in a row proposes 0 until its next hit (which sets ``w`` back to 1).

At each fault the class's ``w`` is the proposal (the ``want`` of :meth:`GuardedPolicy.act`);
the shield caps it as it caps any table value: the floor, then the largest degree ``<= w``
whose worst case fits the budget. The sentinel outcomes are the shield's own
(``GuardedContext.hits`` / ``misses``, per class): a hit is seen when the fault is observed,
a miss when a new sentinel evicts an unhit one. The loss over ``k = 0`` stays bounded by the
allowances granted, as for any table (``tests/test_ramp_proposer.py``).
"""

from __future__ import annotations

from typing import Any

from cowrl.errors import ConfigError
from cowrl.policies.base import FaultContext, KernelProgram
from cowrl.policies.guarded import MAX_K, GuardedPolicy


class RampPolicy(GuardedPolicy):
    """``want = w[region][class]``, ramped by the class's sentinel outcomes (module docstring)."""

    def __init__(self, *a: Any, zero_after: int = 0, relative: bool = False,
                 name: str = "ramp", **kw: Any) -> None:
        super().__init__(*a, name=name, **kw)
        if isinstance(zero_after, bool) or not isinstance(zero_after, int) or zero_after < 0:
            raise ConfigError(f"policy.zero_after must be an integer >= 0, got {zero_after!r}")
        self.zero_after = zero_after
        self.relative = bool(relative)
        self.windows: dict[int, list[int]] = {}  # region start -> w per class
        self.missed: dict[int, list[int]] = {}  # region start -> misses in a row per class

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        super().reset(n_pages, seed)
        self.windows, self.missed = {}, {}

    def outcome(self, region: int, cls: int, hit: bool, copied: int = 0) -> None:
        """One sentinel outcome of class ``cls`` in ``region``: double ``w`` (``relative``:
        twice the ``copied`` pages of the window whose sentinel was hit, at least 1) or halve
        it."""
        w = self.windows.setdefault(region, [1, 1])
        m = self.missed.setdefault(region, [0, 0])
        if hit:
            w[cls] = min(max(2 * (copied if self.relative else w[cls]), 1), MAX_K)
            m[cls] = 0
            return
        m[cls] += 1
        w[cls] = 0 if self.zero_after and m[cls] >= self.zero_after else max(w[cls] // 2, 1)

    def proposal(self, region: int, cls: int) -> int:
        """What the ramp asks for at a fault of class ``cls`` in ``region``."""
        return self.windows.get(region, [1, 1])[cls]

    def _outcomes(self, region: int, before: tuple[list[int], list[int]]) -> None:
        g = self.ctx
        for cls in (0, 1):
            for _ in range(g.hits[cls] - before[0][cls]):  # at most one, at observe_fault
                self.outcome(region, cls, True, g.refund_pages)
            for _ in range(g.misses[cls] - before[1][cls]):
                self.outcome(region, cls, False)

    def decide(self, ctx: FaultContext) -> int:
        g, region = self.ctx, ctx.region_start
        before = (list(g.hits), list(g.misses))
        c = self.fault_cell(ctx)  # a hit is counted here
        self._outcomes(region, before)
        before = (list(g.hits), list(g.misses))
        k = self.act(c, ctx, self.proposal(region, c.cls))  # a miss is counted at the commit
        self._outcomes(region, before)
        return k

    def replay_program(self) -> KernelProgram | None:
        # the ramp is not a table: decide() at every fault (inert: k = 0, as guarded)
        return KernelProgram(mode="static", k=0) if self.inert else None

    def kernel_program(self) -> KernelProgram:
        if self.inert:
            return KernelProgram(mode="static", k=0)
        raise NotImplementedError("the ramp proposer is a simulator study: no kernel program")
