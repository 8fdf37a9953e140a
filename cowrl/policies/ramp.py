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
from cowrl.policies.guarded import MAX_K, PROOFS, GuardedPolicy


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


class ProofSizePolicy(RampPolicy):
    """``want = w[region][class]``, sized by the interior proofs of the class's copies (not by
    its sentinels): docs/policies.md, "Windows sized from the interior proofs".

    Every page a window copies enters the shield's proof ring (``proof: 1``); here each entry
    also remembers its window (region, class, offset from the faulting page). An entry leaves
    the ring proven (its page was written: :meth:`GuardedPolicy.prove`), expired
    (``proof_ttl`` unproven reads) or overwritten unproven (the ring wrapped); the last two
    are *unproven*. Two rules (``mode``):

    * ``"window"`` (``w`` starts at ``MAX_K``): once every page a window copied has left the
      ring, its class's ``w`` becomes twice the window's degree (cap ``MAX_K``) if its last
      copied page was proven, the furthest proven offset if some other page was, else half
      of ``w`` (floor 1);
    * ``"entry"`` (``w`` starts at 1): each proof sets ``w`` to at least twice the pages its
      window copied (cap ``MAX_K``), each unproven entry halves ``w`` (floor 1).
    * ``"prompt"`` (``w`` starts at ``MAX_K``; meant with a ``horizon``): once every page a
      window copied has left the ring, with ``p`` its furthest proven offset, ``w`` becomes
      ``p + 1`` (cap ``MAX_K``) if ``p`` is its last copied page, ``p`` if it is an earlier
      one, else half of ``w`` (floor 1): the furthest prompt proof, grown one page at a time
      (``proofprompt``, docs/policies.md "Windows sized from the furthest prompt proof").

    With ``horizon = h > 0`` a page proven more than ``h`` faults after its copy counts as
    unproven for the sizing (``proofsoon``; the shield's budget still gets the proof). A window
    that copied nothing (a probe, or a degree the shield cut to 0) moves nothing.
    The shield (floor, budget, ``use`` from the sentinels) is the shipped one, unchanged.
    """

    def __init__(self, *a: Any, mode: str = "window", horizon: int = 0,
                 name: str = "proofsize", **kw: Any) -> None:
        if mode not in ("window", "entry", "prompt"):
            raise ConfigError(f"policy.mode must be 'window', 'entry' or 'prompt', got {mode!r}")
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 0:
            raise ConfigError(f"policy.horizon must be an integer >= 0, got {horizon!r}")
        super().__init__(*a, name=name, **kw)
        if not self.proof:
            raise ConfigError("the proof-sized proposer needs proof: 1 (it reads the ring)")
        self.mode = mode
        self.horizon = horizon
        self.start = 1 if mode == "entry" else MAX_K
        # ring index -> (window, offset); a window is [region, cls, pages left in the ring,
        # furthest proven offset, last copied offset, pages copied, degree, fault number]
        self.entries: dict[int, tuple[list[int], int]] = {}
        self.diagnostics()

    def diagnostics(self) -> None:
        """Zero the counters ``--mechanism`` prints: resolved windows by outcome (last copied
        page proven, an earlier one only, none), and per offset (1, 2 or more) the proofs and
        the faults from copy to proof summed."""
        self.resolved = [0, 0, 0]
        self.proofs = [0, 0]
        self.proof_age = [0, 0]

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        super().reset(n_pages, seed)
        self.entries = {}
        self.diagnostics()

    def proposal(self, region: int, cls: int) -> int:
        return self.windows.get(region, [self.start, self.start])[cls]

    def left_ring(self, win: list[int], offset: int, proven: bool) -> None:
        """One of ``win``'s copied pages (at ``offset`` past its fault) left the ring."""
        region, cls = win[0], win[1]
        w = self.windows.setdefault(region, [self.start, self.start])
        win[2] -= 1
        if proven:
            age = self.ctx.n_faults - win[7]
            self.proofs[offset > 1] += 1
            self.proof_age[offset > 1] += age
            proven = not self.horizon or age <= self.horizon  # a late proof sizes as none
        if proven:
            win[3] = max(win[3], offset)
        if self.mode == "entry":
            copied = win[5]
            w[cls] = min(max(w[cls], 2 * copied), MAX_K) if proven else max(w[cls] // 2, 1)
            return
        if win[2]:
            return  # the window is not resolved yet
        if win[3] == win[4]:
            w[cls] = min(win[3] + 1 if self.mode == "prompt" else 2 * win[6], MAX_K)
        elif win[3]:
            w[cls] = win[3]
        else:
            w[cls] = max(w[cls] // 2, 1)
        self.resolved[0 if win[3] == win[4] else 1 if win[3] else 2] += 1

    def decide(self, ctx: FaultContext) -> int:
        g, region = self.ctx, ctx.region_start
        proven, expired = g.proven, g.expired
        c = self.fault_cell(ctx)  # the proofs of this fault's look are taken here
        if (g.proven, g.expired) != (proven, expired):
            for i, (win, off) in list(self.entries.items()):
                if not g.proof_page[i]:  # left the ring: proven unless its reads ran out
                    del self.entries[i]
                    self.left_ring(win, off, not self.proof_ttl
                                   or g.proof_miss[i] < self.proof_ttl)
        head = g.proof_head
        k = self.act(c, ctx, self.proposal(region, c.cls))
        n = (g.proof_head - head) & (PROOFS - 1)
        if n:
            idx = [(head + j) & (PROOFS - 1) for j in range(n)]
            offs = [g.proof_page[i] - 1 - (ctx.page + ctx.coord_offset) for i in idx]
            win = [region, c.cls, n, 0, max(offs), n, k, g.n_faults]
            for i, off in zip(idx, offs, strict=True):
                old = self.entries.get(i)
                if old is not None:  # overwritten before it was proven or expired
                    self.left_ring(old[0], old[1], False)
                self.entries[i] = (win, off)
        return k
