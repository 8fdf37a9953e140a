"""What the engine tells a policy at a demand fault, and what it reports back after it.

:class:`FaultContext` holds only what the kernel module can also observe at a
fault (plus the write's position in the trace, simulator only), so a policy
that decides from it can be deployed in the module. :class:`FaultEvent` is
what applying a degree did: pages precopied, the window, the skipped pages
and each cost term; it feeds ``policy.observe``.

**Fault-history features** (computed once, here, by :func:`history_step`
and :func:`fill_features`; the engine calls them for every replay path, the
module computes the same integers in ``kernel_module/cowrl_policy.h``). A
*sequential hit* is a fault that lands on the page right after the previous
fault's precopy window (``page == prev_page + prev_k + 1``): the stream used
the whole window and asked for more. Its exponentially weighted rate
(weight 1/8, a shift in the module) stands in for the hit rate of recent
precopies, which the kernel cannot observe directly (a precopied page that
is later written takes no fault).

A new context feature (stride, gap structure, neighbourhood density,
usefulness of recent windows) or run-time feedback signal (a sentinel page
left shared in a precopy window, whose later demand fault says the window was
used, like readahead's ``PG_readahead``) is added in one place: a field here
(and in :class:`FaultEvent` for feedback), its state in the engine's run state
(``cowrl.sim.engine``: a column of ``N_STATE``), its update in
``engine.replay``'s one loop (compiled, shared by ``simulate``, both envs and
every policy) and, if it is an observation, a column in :func:`fill_features`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

N_FEATURES = 7
FEATURE_NAMES = (
    "delta_log",      # sign(delta) * log2(1 + |delta|) / log2(n_pages), delta = page - prev_page
    "seq_hit",        # 1 if page == prev_page + prev_k + 1
    "run_log",        # log2(1 + consecutive sequential hits) / 8, clipped to 1
    "hit_rate",       # EWMA of seq_hit, weight 1/8
    "to_end",         # (n_pages - 1 - page) / n_pages
    "private_frac",   # private pages / n_pages
    "prev_k_log",     # log2(1 + prev_k) / 7, clipped to 1
)
HIT_RATE_ONE = 256  # fixed-point 1.0 of the hit-rate EWMA, as in the module


@dataclass(frozen=True)
class FaultContext:
    """What is observable at one demand fault (in the simulator and in the module)."""

    page: int
    """Faulting page index within the trace's page space."""
    n_pages: int
    """Pages of the trace (all regions)."""
    fault_index: int
    """Demand faults seen before this one in this run."""
    prev_page: int
    """Page of the previous demand fault, or -1."""
    prev_k: int
    """Degree applied at the previous demand fault (0 if none)."""
    private_pages: int
    """Pages already private (demand-copied plus precopied) before this fault."""
    write_index: int = -1
    """Position of the faulting write in the trace (simulator only; -1 in the kernel)."""
    region_end: int = -1
    """Exclusive end page of the faulting page's region (-1: ``n_pages``); the window
    clips there."""
    region_start: int = 0
    """First page of the faulting page's region."""
    vpn_offset: int = 0
    """The faulting page's virtual page number is ``page + vpn_offset``
    (:attr:`Trace.region_vpn_offsets` of its region): what guarded's align values read."""
    proc: int = 0
    """The ordinal of the faulting region's process (:attr:`Trace.region_procs`, at most
    ``G_PROCS - 1``; 0 for a trace of one process; the module: ``cowrl_guarded_proc``):
    part of guarded's proof-ring bucket key (:func:`cowrl.sim.programs.region_bucket`)."""
    coord_offset: int = 0
    """The page a decision sees is ``page + coord_offset``, of the region ``[region_start,
    region_end) + coord_offset`` (stream slots, sentinels, stride detector, ring entries);
    the page state is still read at the region's own pages. 0 but in the one-address layout
    (:func:`cowrl.sim.engine.coordinate_offsets`), where another process's copy of a region is
    decided at that region's pages, as the module decides at the faulting virtual page."""
    seq_hit: int = 0
    """1 if ``page == prev_page + prev_k + 1`` (the previous window was used up)."""
    run: int = 0
    """Consecutive sequential hits up to this fault."""
    hit_rate_fp: int = 0
    """EWMA (weight 1/8) of ``seq_hit``, fixed point (:data:`HIT_RATE_ONE` is 1.0)."""
    page_state: np.ndarray | None = field(default=None, compare=False, repr=False)
    """The engine's live page state, read-only (None outside the engine): 0 shared, 1
    private, 2 private and written since it became private. The last is the dirty bit of a
    precopied page, which the module reads for guarded's interior proofs (version 4): the
    page was written after its copy and before this fault."""
    unproven_reads: np.ndarray | None = field(default=None, compare=False, repr=False)
    """The engine's counter of this fault's proof reads that found the page unwritten (one
    int64; None outside the engine). A policy that reads proofs in Python adds to it
    (``GuardedPolicy.prove``); the engine charges ``proof_read_ns`` for each when it applies
    the fault (``engine.replay``, the compiled programs count their own)."""
    proof_walk: np.ndarray | None = field(default=None, compare=False, repr=False)
    """The engine's counters of this fault's ring slots that a look stepped over without a
    read (three int64; None outside the engine): ``[0]`` empty slots (charged
    ``proof_step_ns``), ``[1]`` live entries not yet due or of another region
    (``proof_skip_ns``), ``[2]`` jumps from an empty slot to the next live one
    (``proof_skipmap``: ``proof_jump_ns``). ``GuardedPolicy.prove`` adds to them, as to
    ``unproven_reads``."""
    window_stride: np.ndarray | None = field(default=None, compare=False, repr=False)
    """The engine's stride of this fault's precopy window (one int64; None outside the
    engine): 0 or 1 = the adjacent window ``page+1 .. page+k``; a policy that sets ``s >= 2``
    (guarded's ``stride_window``, in the module since ABI 15) gets the strided window ``page+s,
    page+2s, .., page+k*s`` within the region, each page walked charged
    ``precopy_stride_ns``. The engine zeroes it when it applies the fault."""
    window_below: np.ndarray | None = field(default=None, compare=False, repr=False)
    """The engine's count ``b`` of pages below this fault that its precopy window also walks
    (one int64; None outside the engine): 0 = none; a policy that sets ``b >= 1`` with a
    window ``k >= 1`` (guarded's ``group_below``, a simulator study, session 34) gets the pages
    ``page-b .. page-1`` too (the policy keeps them within the region), each shared one
    copied and priced as a window page, each private one skipped. The engine zeroes it when
    it applies the fault."""
    window_sib: np.ndarray | None = field(default=None, compare=False, repr=False)
    """The engine's sibling window of this fault (one int64; None outside the engine): 0 =
    none; a policy that sets ``w >= 1`` (guarded's ``sibling_window``, a simulator study,
    session 35) gets, past its adjacent window (or the fault), the pages up to ``page + w``
    (the policy keeps them within the region) whose family bit is set (some process of the
    trace demand-faulted that page of the decision's pages), each shared one copied and
    priced as a window page, each private one skipped; it pays the setup even with ``k = 0``.
    The engine zeroes it when it applies the fault."""


@dataclass(frozen=True)
class FaultEvent:
    """What applying degree ``k`` at one demand fault did (the engine's answer to ``apply``)."""

    page: int
    k: int
    write_index: int
    precopied: int
    """Pages made private besides the faulting one (window copies plus a
    ``CopyWholeHuge`` huge page's other pages)."""
    window: int
    """Window pages walked: ``k`` clipped at the end of the page's region."""
    skipped: int
    """Window pages walked that were already private."""
    thp_first: int
    """1 for the first demand fault in its huge page (THP runs)."""
    work: int
    """1 when the fault queued precopy work (``k > 0``)."""
    decided: int
    """1 when the policy decided ``k`` at run time (pays ``decide_ns``)."""
    wasted: int
    """Pages this fault made private that the trace never writes."""
    fault_ns: float
    """This fault's latency: :func:`cowrl.sim.costmodel.fault_ns` times the noise factor."""
    precopy_ns: float = 0.0
    """What the precopy added to this fault (work, pages copied, window pages skipped):
    the fault's cost minus the same fault's with ``k = 0``, noise-free."""

    @property
    def useful(self) -> int:
        """Pages this fault made private that the trace writes later (each saves a fault)."""
        return self.precopied - self.wasted


@njit(cache=True, nogil=True, forceinline=True)
def history_step(prev_page: int, prev_k: int, page: int, run: int, hit_fp: int
                 ) -> tuple[int, int, int]:
    """The fault history at ``page``: ``(seq_hit, run, hit_rate_fp)`` from the previous ones.

    ``>> 3`` is floor division by 8 on int64, as the module spells it out.
    """
    seq_hit = 1 if (prev_page >= 0 and page == prev_page + prev_k + 1) else 0
    run = run + 1 if seq_hit else 0
    hit_fp += (seq_hit * HIT_RATE_ONE - hit_fp) >> 3
    return seq_hit, run, hit_fp


@njit(cache=True, nogil=True, forceinline=True)
def fill_features(obs: np.ndarray, i: int, page: int, n_pages: int, prev_page: int,
                  prev_k: int, private_pages: int, seq_hit: int, run: int, hit_fp: int) -> None:
    """Write the :data:`FEATURE_NAMES` observation of one fault into ``obs[i, :7]``."""
    n = max(n_pages, 2)
    delta = page - prev_page if prev_page >= 0 else 0
    obs[i, 0] = math.copysign(math.log2(float(1 + abs(delta))), float(delta)) \
        / math.log2(float(n))
    obs[i, 1] = float(seq_hit)
    obs[i, 2] = min(1.0, math.log2(float(1 + run)) / 8.0)
    obs[i, 3] = hit_fp / HIT_RATE_ONE
    obs[i, 4] = (n_pages - 1 - page) / n
    obs[i, 5] = private_pages / n
    obs[i, 6] = min(1.0, math.log2(float(1 + prev_k)) / 7.0)


def features(ctx: FaultContext) -> np.ndarray:
    """The float32 observation vector of ``ctx`` (what the envs and SB3 policies see)."""
    obs = np.zeros((1, N_FEATURES), dtype=np.float32)
    fill_features(obs, 0, ctx.page, ctx.n_pages, ctx.prev_page, ctx.prev_k, ctx.private_pages,
                  ctx.seq_hit, ctx.run, ctx.hit_rate_fp)
    return obs[0]
