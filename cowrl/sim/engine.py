"""The replay engine: the COW rules, written once, compiled, for every caller.

A session in the shape of CompilerGym's backend session::

    eng = ReplayEngine(cost, thp=False, decided=True)
    ctx = eng.reset(trace)              # the first demand fault's FaultContext (None: none)
    while ctx is not None:
        event = eng.apply(k)            # FaultEvent: precopied, window, skipped, cost terms
        ctx = eng.context               # the next demand fault

:meth:`ReplayEngine.run_program` replays a whole trace under a decision
program (static degree, context table, readahead) without leaving compiled
code. ``simulate()``, both envs (the vector env calls :func:`replay` per
sub-env), bandit rewards (through the events), the oracle and calibration
all replay through here. The semantics are in ``docs/semantics.md``; the
state per run is one uint8 per page (private: 0 shared, 1 private, 2 private and
written since, the dirty bit a precopied page's proof reads), one per page (written), one
per huge page (THP first fault) and a few integers (:data:`N_STATE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from cowrl.sim.context import FaultContext, FaultEvent, history_step
from cowrl.sim.costmodel import HUGE_PAGES, CostModel, fault_ns
from cowrl.sim.programs import (
    G_PROCS,
    G_UNPROVEN,
    G_WALK_DUE,
    G_WALK_EMPTY,
    G_WALK_JUMP,
    G_WALK_LIVE,
    G_WALK_SCAN,
    G_WIN_BELOW,
    G_WIN_SIB,
    G_WIN_STRIDE,
    GUARDED,
    N_CELLS,
    STATIC,
    guarded_tallies,
    new_stream_state,
    program_args,
    program_decide,
)
from cowrl.traces.io import Trace

# Columns of the int64 run state (one row per run; the vector env keeps one per sub-env).
# READS: unproven proof reads of the current fault that a Python policy made
# (FaultContext.unproven_reads), charged and zeroed when the fault is applied.
# VOFF: the current region's vpn offset (Trace.region_vpn_offsets): vpn = page + VOFF.
# PROC: the current region's process ordinal (Trace.region_procs, at most G_PROCS - 1):
# part of guarded's ring bucket key (region_bucket).
# WEMPTY, WLIVE: ring slots of the current fault's proof look that a Python policy stepped
# over unread (FaultContext.proof_walk: empty; live, not due or another region's), charged
# and zeroed as READS. WJUMP: its jumps from an empty slot to the next live one
# (proof_skipmap; FaultContext.proof_walk[2]), charged proof_jump_ns. WDUE, WSCAN: its jumps
# to the next slot not waiting and the waiting entries its refresh looked at (proof_duemap;
# proof_walk[3], [4]), charged proof_duejump_ns, proof_duescan_ns.
# COFF: the current region's coordinate offset (:func:`coordinate_offsets`): the decision
# sees page + COFF (0 but in the one-address layout).
# STRIDE: the stride of the current fault's precopy window that a Python policy chose
# (FaultContext.window_stride; guarded's stride_window, in the module since ABI 15): 0 or 1 = the
# adjacent window page+1..page+k, s >= 2 = the strided window page+s, page+2s, ..., page+ks
# (within the region), each of its pages walked charged precopy_stride_ns; zeroed as READS.
# A compiled GUARDED program's strided window comes in its state instead (programs.G_WIN_STRIDE).
# BELOW: the pages below the current fault that a Python policy's window also walks
# (FaultContext.window_below; guarded's group_below, a simulator study, session 34): b >= 1 =
# the pages page-b .. page-1 (within the region, decided by the policy), each shared one
# copied and priced as a window page, each private one skipped; zeroed as READS. A compiled
# GUARDED program's comes in its state (programs.G_WIN_BELOW).
# SIB: the last page, as an offset from the current fault, of the sibling window a Python
# policy chose (FaultContext.window_sib; guarded's sibling_window, a simulator study, session
# 35): the pages past the adjacent window up to page + SIB whose family bit is set (a process
# of the trace demand-faulted that page of the decision's pages) are walked, each shared one
# copied and priced as a window page, each private one skipped; zeroed as READS. A compiled
# GUARDED program's comes in its state (programs.G_WIN_SIB).
POS, PAGE, REND, RSTART, PREV_PAGE, PREV_K, SEQ, RUN, HIT, NPRIV, FAULTS, PRECOPIED, \
    WASTED, READS, VOFF, WEMPTY, WLIVE, WJUMP, WDUE, WSCAN, PROC, COFF, STRIDE, BELOW, \
    SIB = range(25)
N_STATE = 25


@njit(cache=True, nogil=True)
def written_mask(pages: np.ndarray, n_pages: int) -> np.ndarray:
    """Pages the trace ever writes, one uint8 per page."""
    m = np.zeros(n_pages, dtype=np.uint8)
    for i in range(pages.shape[0]):
        m[pages[i]] = 1
    return m


# Columns of a layout row: where one run's arrays lie in the (possibly shared) buffers.
P_OFF, N_WRITES, E_OFF, N_ENDS, S_OFF, N_PAGES, H_OFF, N_HUGE, Z_OFF, N_NOISE = range(10)
N_LAYOUT = 10


@njit(cache=True, nogil=True, forceinline=True)
def take_page(private: np.ndarray, written: np.ndarray, q: int) -> int:
    """A window walks page ``q`` (an index into the run's page arrays): 0 if it is already
    private (skipped), else it is made private (copied ahead) and 1 is returned, 2 if the
    trace never writes it (wasted)."""
    if private[q] != 0:
        return 0
    private[q] = 1
    return 1 if written[q] != 0 else 2


@njit(cache=True, nogil=True, forceinline=True)
def replay(pages: np.ndarray, ends: np.ndarray, voffs: np.ndarray, procs: np.ndarray,
           coffs: np.ndarray, private: np.ndarray, family: np.ndarray, touched: np.ndarray,
           written: np.ndarray, noise: np.ndarray, lay: np.ndarray, st: np.ndarray, i: int,
           thp: bool, extra_private: int, coef: np.ndarray, decided: int, code: int,
           static_k: int, cells: np.ndarray, max_k: int, slots: int, near: int, ss: np.ndarray,
           limit: int, out_ns: np.ndarray, record: bool, ev: np.ndarray, total: np.ndarray,
           trim: bool) -> int:
    """The replay loop: from run ``i``'s state ``st[i]``, apply up to ``limit`` demand faults
    under a program (``code``, see :mod:`cowrl.sim.programs`; ``STATIC`` with ``static_k``
    applies one given degree), each priced, and stop at the next fault's context.

    Run ``i``'s arrays lie in the buffers at the offsets of ``lay[i]`` (columns
    ``P_OFF`` ...; one run: all offsets 0). Per applied fault it writes ``out_ns``
    (unless it is empty: then only ``total[0]``, the sum, is kept) and, with ``record``,
    the :data:`EVENT_COLUMNS` into ``ev``; it returns the number applied; ``total[0]``
    accumulates the latencies. ``st[i, POS] = -1`` (a fresh run) first looks for the
    first demand fault. ``procs`` (laid out as ``ends``; empty: every ordinal 0) is each
    region's process ordinal, what a ``GUARDED`` program's ring bucket reads. ``coffs``
    (laid out as ``ends``; empty: every offset 0) is each region's coordinate offset
    (:func:`coordinate_offsets`): the program decides at page ``page + coffs[r]`` of the
    region ``[start, end) + coffs[r]`` (its stream slots, sentinels, stride detector and
    ring entries keyed by it, as the module keys them by the harness's pages) and reads the
    page state of the region's own pages. ``family`` (laid out as ``private``; empty: not
    kept) is the family bitmap at the decision's pages: each demand fault sets the bit of
    its page + ``coffs[r]`` (only a demand fault: a page written without one, precopied, is
    invisible to the module too); guarded's ``sibling_window`` reads it. With ``trim``
    (a run the module runs in GUARDED mode; the program ``GUARDED`` always) the precopy walk
    stops after the window's last page that was shared at the decision, as the module's
    does: the private pages after it are not walked (not ``skipped``, not priced); what the
    window copies is the same. This is the only loop over a trace, and the only place where
    pages change state (written out below, as in ``docs/semantics.md``). The state lives in
    local variables and the buffers are indexed with offsets, not sliced: numba keeps locals
    in registers, while a view or a state array written per fault costs tens of ns.
    """
    pos, page, rend, rstart, prev_page, prev_k = st[i, 0], st[i, 1], st[i, 2], st[i, 3], \
        st[i, 4], st[i, 5]
    seq, run, hit, npriv, faults, precopied, wasted = st[i, 6], st[i, 7], st[i, 8], \
        st[i, 9], st[i, 10], st[i, 11], st[i, 12]
    voff, proc, coff = st[i, VOFF], st[i, PROC], st[i, COFF]
    p0, n_w, e0, n_e = lay[i, P_OFF], lay[i, N_WRITES], lay[i, E_OFF], lay[i, N_ENDS]
    s0, h0, z0, n_z = lay[i, S_OFF], lay[i, H_OFF], lay[i, Z_OFF], lay[i, N_NOISE]
    c0, c1, c2, c3, c4, c5, c6 = coef[0], coef[1], coef[2], coef[3], coef[4], coef[5], \
        coef[6]
    c7, c8, c9, c10, c11, c12 = coef[7], coef[8], coef[9], coef[10], coef[11], coef[12]
    store = out_ns.shape[0] > 0
    acc = 0.0
    nf = 0
    adv = pos < 0
    while True:
        if adv:  # to the next write to a shared page, and that fault's context
            j = pos + 1
            # A write to a private page takes no fault; it sets the page's dirty state
            # (PAGE_WRITTEN = 2: what guarded's interior proofs read, as the module reads
            # the D bit of a precopied page).
            while j < n_w and private[s0 + pages[p0 + j]]:
                private[s0 + pages[p0 + j]] = 2
                j += 1
            pos = j
            if j < n_w:
                page = pages[p0 + j]
                if page >= rend or page < rstart:  # another region: binary search the ends
                    lo, hi = 0, n_e - 1
                    while lo < hi:
                        mid = (lo + hi) // 2
                        if ends[e0 + mid] > page:
                            hi = mid
                        else:
                            lo = mid + 1
                    rstart = ends[e0 + lo - 1] if lo > 0 else 0
                    rend = ends[e0 + lo]
                    voff = voffs[e0 + lo]
                    proc = procs[e0 + lo] if procs.shape[0] > 0 else 0
                    coff = coffs[e0 + lo] if coffs.shape[0] > 0 else 0
                seq, run, hit = history_step(prev_page, prev_k, page, run, hit)
            adv = False
        if pos >= n_w or nf >= limit:
            break
        # the decision's pages: page + coff (the page state of its own pages: s0 - coff)
        k = static_k if code == STATIC else program_decide(code, static_k, cells, max_k, ss,
                                                           slots, near, page + coff,
                                                           rend + coff, rstart + coff,
                                                           private, s0 - coff, page + voff,
                                                           proc, family, s0)
        # --- the page-state update (docs/semantics.md): the faulting page, the huge
        # page's first fault, the precopy window clipped at the region end ---
        stride = st[i, STRIDE]  # a Python policy's strided window (0: adjacent)
        st[i, STRIDE] = 0
        if code == GUARDED and ss[G_WIN_STRIDE] != 0:  # the compiled program's (stride_window)
            stride = ss[G_WIN_STRIDE]
            ss[G_WIN_STRIDE] = 0
        below = st[i, BELOW]  # group_below: the pages page-below .. page-1 walked too
        st[i, BELOW] = 0
        if code == GUARDED and ss[G_WIN_BELOW] != 0:
            below = ss[G_WIN_BELOW]
            ss[G_WIN_BELOW] = 0
        sib = st[i, SIB]  # sibling_window: family pages past the window, up to page + sib
        st[i, SIB] = 0
        if code == GUARDED and ss[G_WIN_SIB] != 0:
            sib = ss[G_WIN_SIB]
            ss[G_WIN_SIB] = 0
        if stride >= 2:  # page + j * stride, j = 1..hi (within the region), walked to top
            hi = min(k, (rend - 1 - page) // stride)
            top = hi
            if k > 0 and (trim or code == GUARDED):
                while top > 0 and private[s0 + page + top * stride] != 0:
                    top -= 1
        else:
            hi = min(page + k, rend - 1)  # the window's last page
            top = hi  # the walk's last page
            if k > 0 and (trim or code == GUARDED):  # GUARDED: the last the decision saw shared
                while top > page and private[s0 + top] != 0:
                    top -= 1
        private[s0 + page] = 1
        n = h = win = skip = waste = 0
        if thp:
            # The huge page: the 2 MiB-aligned group of virtual pages around page + voff,
            # THP-backed only if it lies wholly inside the region (as a VMA must hold it).
            # hp0 is its first page in trace indices; distinct groups lie >= 512 apart,
            # so hp0 // HUGE_PAGES indexes touched compactly.
            hp0 = (page + voff) // HUGE_PAGES * HUGE_PAGES - voff
            if hp0 >= rstart and hp0 + HUGE_PAGES <= rend \
                    and touched[h0 + hp0 // HUGE_PAGES] == 0:
                touched[h0 + hp0 // HUGE_PAGES] = 1
                h = 1
                if extra_private > 0:  # CopyWholeHuge: the rest of the huge page
                    for j in range(hp0, hp0 + HUGE_PAGES):
                        t = take_page(private, written, s0 + j)
                        n += t != 0
                        waste += t == 2
        strided = 0
        if k > 0 and below > 0:  # group_below: below the fault first, priced as window pages
            for q in range(page - below, page):
                t = take_page(private, written, s0 + q)
                n += t != 0
                waste += t == 2
                skip += t == 0
        if k > 0 and stride >= 2:
            win = hi
            for j in range(1, top + 1):
                strided += 1
                t = take_page(private, written, s0 + page + j * stride)
                n += t != 0
                waste += t == 2
                skip += t == 0
        elif k > 0:
            if hi > page:
                win = hi - page
                for j in range(page + 1, top + 1):
                    t = take_page(private, written, s0 + j)
                    n += t != 0
                    waste += t == 2
                    skip += t == 0
        if sib > 0 and family.shape[0] > 0:  # past the adjacent window (k = 0: the fault)
            for j in range((hi if k > 0 else page) + 1, page + sib + 1):
                if family[s0 + j + coff] & 1:  # a page without the bit is not walked
                    t = take_page(private, written, s0 + j)
                    n += t != 0
                    waste += t == 2
                    skip += t == 0
            win = max(win, sib)
        if family.shape[0] > 0:  # this demand fault's bit, at the decision's page
            family[s0 + page + coff] |= 1  # (the high bits: guarded's sibling_gate)
        f = fault_ns(c0, c1, c2, c3, c4, c5, decided, 1 if k > 0 or sib > 0 else 0, n, skip,
                     h)
        if strided:  # each strided page walked: its own PTE lookup (precopy_stride_ns)
            f += strided * c12
        # The proof reads of this fault that found their page unwritten, each as it happens
        # (guarded proof: 1, compiled or in Python; a proving read is in the clean's price).
        # The look's walk too: each empty slot stepped over (proof_step_ns), each live entry
        # stepped over unread (not yet due, or another region's: proof_skip_ns), each jump
        # to the next live slot (proof_skipmap: proof_jump_ns).
        reads, wempty, wlive = st[i, READS], st[i, WEMPTY], st[i, WLIVE]
        wjump, wdue, wscan = st[i, WJUMP], st[i, WDUE], st[i, WSCAN]
        st[i, READS] = st[i, WEMPTY] = st[i, WLIVE] = st[i, WJUMP] = 0
        st[i, WDUE] = st[i, WSCAN] = 0
        if code == GUARDED:
            reads += ss[G_UNPROVEN]
            wempty += ss[G_WALK_EMPTY]
            wlive += ss[G_WALK_LIVE]
            wjump += ss[G_WALK_JUMP]
            wdue += ss[G_WALK_DUE]
            wscan += ss[G_WALK_SCAN]
            ss[G_UNPROVEN] = ss[G_WALK_EMPTY] = ss[G_WALK_LIVE] = ss[G_WALK_JUMP] = 0
            ss[G_WALK_DUE] = ss[G_WALK_SCAN] = 0
        if reads or wempty or wlive or wjump:
            f += reads * c6 + wempty * c7 + wlive * c8 + wjump * c9
        if wdue or wscan:  # proof_duemap: jumps to a due slot, waiting entries refreshed
            f += wdue * c10 + wscan * c11
        if n_z > 0:
            f = f * noise[z0 + faults]
        acc += f
        if store:
            out_ns[nf] = f
        if record:
            ev[nf, 0] = pos
            ev[nf, 1] = page
            ev[nf, 2] = k
            ev[nf, 3] = n
            ev[nf, 4] = h
            ev[nf, 5] = win
            ev[nf, 6] = skip
            ev[nf, 7] = run
            ev[nf, 8] = hit
            ev[nf, 9] = waste
        npriv += 1 + n
        faults += 1
        precopied += n
        wasted += waste
        prev_page, prev_k = page, k
        nf += 1
        adv = True
    st[i, 0], st[i, 1], st[i, 2], st[i, 3], st[i, 4], st[i, 5] = pos, page, rend, rstart, \
        prev_page, prev_k
    st[i, 6], st[i, 7], st[i, 8], st[i, 9], st[i, 10], st[i, 11], st[i, 12] = seq, run, hit, \
        npriv, faults, precopied, wasted
    st[i, VOFF], st[i, PROC], st[i, COFF] = voff, proc, coff
    total[0] += acc
    return nf


@njit(cache=True, nogil=True)
def lookahead_k(written: np.ndarray, private: np.ndarray, page: int, limit: int, max_k: int,
                gain_useful: float, loss_waste: float) -> int:
    """The oracle's greedy look-ahead at a fault on ``page``: of the windows ``page + 1 ..
    page + j`` (``j <= max_k``, below ``limit``, the region end), the one with the largest
    known net gain, each shared page in it counted ``+gain_useful`` if the trace writes it
    and ``-loss_waste`` if not; its ``j`` (0 if none gains)."""
    hi = min(page + max_k, limit - 1)
    best, best_j, acc = 0.0, 0, 0.0
    for j in range(page + 1, hi + 1):
        if private[j] == 0:
            acc += gain_useful if written[j] else -loss_waste
        if acc > best:
            best, best_j = acc, j - page
    return best_j


@njit(cache=True, nogil=True)
def replay_degrees(pages: np.ndarray, ends: np.ndarray, voffs: np.ndarray, procs: np.ndarray,
                   coffs: np.ndarray, private: np.ndarray, family: np.ndarray,
                   touched: np.ndarray, written: np.ndarray,
                   noise: np.ndarray, lay: np.ndarray, st: np.ndarray, thp: bool,
                   extra_private: int, coef: np.ndarray, decided: int, cells: np.ndarray,
                   ss: np.ndarray, degrees: np.ndarray, lookahead: bool, max_k: int,
                   gain: float, loss: float, out_ns: np.ndarray, record: bool,
                   ev: np.ndarray, total: np.ndarray, trim: bool) -> int:
    """Apply one degree at each demand fault from here on, one :func:`replay` of one fault
    each (as :meth:`ReplayEngine.apply` does from Python), until the trace ends or
    ``degrees`` is full; returns the number applied.

    The degree of the ``f``-th fault comes from one of two sources, chosen by ``lookahead``:

    - ``False``: ``degrees[f]``, given (a degree sequence; ``max_k``, ``gain`` and ``loss``
      are not read);
    - ``True``: :func:`lookahead_k` with ``max_k``, ``gain`` and ``loss``, computed from the
      page state at that fault (the oracle's greedy look-ahead), and written to
      ``degrees[f]``: ``degrees`` then needs a slot per fault left (one per written page).

    ``out_ns`` (empty: not kept) and ``ev`` (with ``record``) take one row per fault
    applied; ``total[0]`` accumulates the latencies either way. ``trim``: as
    :func:`replay`'s (the degrees of a GUARDED run)."""
    store = out_ns.shape[0] > 0
    nf = 0
    while st[0, POS] < pages.shape[0] and nf < degrees.shape[0]:
        if lookahead:
            degrees[nf] = lookahead_k(written, private, st[0, PAGE], st[0, REND], max_k, gain,
                                      loss)
        replay(pages, ends, voffs, procs, coffs, private, family, touched, written, noise, lay,
               st, 0,
               thp, extra_private, coef, decided, STATIC, degrees[nf], cells, 0, 1, 1, ss, 1,
               out_ns[nf:nf + 1] if store else out_ns, record,
               ev[nf:nf + 1] if record else ev, total, trim)
        nf += 1
    return nf


def copy_origins(trace: Trace) -> np.ndarray:
    """Per region, the region whose pages it shares in the one-address layout (itself if
    none): a region at the same virtual page and of the same size as an earlier one, of
    another process (:attr:`Trace.region_procs`, at most ``G_PROCS - 1``) than every region
    already sharing it, is another process's copy of the earliest one, as a fork's children
    hold their copies of a parent buffer. The kernel harness puts such copies at the
    earliest one's slots (:func:`cowrl.kernel.jobs.harness_slots` ``shared``)."""
    begins = trace.region_begins
    sizes = trace.region_ends - begins
    vpn0 = begins + trace.region_vpn_offsets
    procs = np.minimum(trace.region_procs, G_PROCS - 1)
    origin = np.arange(begins.size, dtype=np.int64)
    held: dict[tuple[int, int], tuple[int, set[int]]] = {}  # (vpn, size): region, processes
    for r in range(begins.size):
        key = (int(vpn0[r]), int(sizes[r]))
        if key in held and int(procs[r]) not in held[key][1]:
            origin[r] = held[key][0]
            held[key][1].add(int(procs[r]))
        elif key not in held:
            held[key] = (r, {int(procs[r])})
    return origin


def coordinate_offsets(trace: Trace, shared: bool) -> np.ndarray:
    """Per region, what the engine adds to a page index to get the page a decision sees
    (:func:`replay`'s ``coffs``). ``shared`` False: 0 everywhere (each region at pages of its
    own: the layout the simulator always had). True, the one-address layout: a copy
    (:func:`copy_origins`) sees its pages as the region it copies, so the processes' faults
    on their copies of one buffer meet in the decision's stream slots, sentinels, stride
    detector and ring (as the module, keyed by the faulting virtual page, sees them), while
    each keeps its own page state. An empty array when every offset is 0."""
    if not shared:
        return np.zeros(0, dtype=np.int64)
    begins = trace.region_begins
    off = begins[copy_origins(trace)] - begins
    return off if off.any() else np.zeros(0, dtype=np.int64)


def layout(trace_writes: int, n_ends: int, n_pages: int, n_huge: int, n_noise: int
           ) -> np.ndarray:
    """The layout row of a run that has its arrays to itself (every offset 0)."""
    lay = np.zeros((1, N_LAYOUT), dtype=np.int64)
    lay[0, N_WRITES], lay[0, N_ENDS], lay[0, N_PAGES] = trace_writes, n_ends, n_pages
    lay[0, N_HUGE], lay[0, N_NOISE] = n_huge, n_noise
    return lay


def fresh_state(st: np.ndarray) -> None:
    """A run (a row of state) that has not looked for its first fault yet (:func:`replay`
    does)."""
    st[:N_STATE] = 0
    st[POS] = st[PREV_PAGE] = -1


EVENT_COLUMNS = ("write_index", "page", "k", "precopied", "thp_first", "window", "skipped",
                 "run", "hit_rate_fp", "wasted")


@dataclass
class RunResult:
    """What a replay produced: per-fault latencies, totals and (optionally) the events."""

    fault_ns: np.ndarray
    faults: int
    precopied: int
    wasted: int
    events: np.ndarray | None = None
    """``(faults, len(EVENT_COLUMNS))`` int64, when recorded."""
    tallies: dict[str, int] | None = None
    """A GUARDED program's decision tallies (:func:`cowrl.sim.programs.guarded_tallies`,
    the module's ``guard_*`` counters); None for other programs."""


class ReplayEngine:
    """One replay of a trace under the COW rules (see the module docstring).

    ``thp`` backs the region with huge pages (the cost model's THP part prices
    each huge page's first fault); ``decided`` charges the decision cost of
    ``program`` (:meth:`CostModel.decide_cost`) at every fault (a policy that decides at
    run time); ``noise_rng`` draws the cost
    model's per-fault noise at :meth:`reset` (``None``: noise must be off). ``trim``: the
    degrees :meth:`apply` is given are a GUARDED program's (the module's GUARDED mode), whose
    precopy walk stops after the last window page its decision read shared (:func:`replay`;
    so do :meth:`run_degrees` and :meth:`run_lookahead`, and :meth:`run_program` for a
    ``GUARDED`` program whatever ``trim`` says). ``shared``: the one-address layout
    (:func:`coordinate_offsets`): other processes' copies of a region are decided at its
    pages (False, the default: every region at its own pages).
    """

    def __init__(self, cost: CostModel, thp: bool = False, decided: bool = True,
                 program: str = "table", trim: bool = False, shared: bool = False) -> None:
        self.cost = cost
        self.shared = bool(shared)
        self.trim = bool(trim)
        self.thp = bool(thp)
        self.decided = 1 if decided else 0
        self.extra_private = cost.thp_model.first_fault_private_pages() if self.thp else 0
        self.coef = cost.coefficients(program)
        self._st = np.zeros((1, N_STATE), dtype=np.int64)
        self.trace: Trace | None = None
        self.done = True
        # One-fault buffers for apply(); the static program with a given k applies it.
        self._ns1 = np.zeros(1, dtype=np.float64)
        self._ev1 = np.zeros((1, len(EVENT_COLUMNS)), dtype=np.int64)
        self._cells0 = np.zeros(N_CELLS, dtype=np.int64)
        self._ss0 = new_stream_state()
        self.total_ns = np.zeros(1, dtype=np.float64)
        """Sum of the fault latencies applied so far in this run (``cow_ns``)."""
        self.tallies: dict[str, int] | None = None
        """The last :meth:`run_program`'s GUARDED decision tallies (:attr:`RunResult.tallies`)."""

    def reset(self, trace: Trace, written: np.ndarray | None = None,
              noise_rng: np.random.Generator | None = None) -> FaultContext | None:
        """Start a replay of ``trace`` (``written``: its written-page mask, if known)."""
        self.trace = trace
        self.pages = trace.pages
        self.n_pages = trace.n_pages
        self.ends = trace.region_ends
        self.voffs = trace.region_vpn_offsets
        self.procs = np.minimum(trace.region_procs, G_PROCS - 1)
        self.coffs = coordinate_offsets(trace, self.shared)
        self.written = written_mask(trace.pages, trace.n_pages) if written is None else written
        self.private = np.zeros(trace.n_pages, dtype=np.uint8)
        self.family = np.zeros(trace.n_pages, dtype=np.uint8)  # sibling_window's bitmap
        self.touched = np.zeros((trace.n_pages + HUGE_PAGES - 1) // HUGE_PAGES
                                if self.thp else 1, dtype=np.uint8)
        n_max = int(np.count_nonzero(self.written))  # a page faults at most once
        noise = self.cost.noise.factors(noise_rng, n_max)
        self.noise = np.zeros(0) if noise is None else noise
        self._lay = layout(self.pages.shape[0], self.ends.shape[0], self.n_pages,
                           self.touched.shape[0], self.noise.shape[0])
        fresh_state(self.st)
        self.total_ns[0] = 0.0
        self.tallies = None
        self._replay(STATIC, 0, self._cells0, 0, 1, 1, self._ss0, 0, self._ns1, False,
                     self._ev1)  # finds the first demand fault
        return self.context

    @property
    def st(self) -> np.ndarray:
        """The run state: one int64 per column (``POS``, ``PAGE``, ...)."""
        return self._st[0]

    def _replay(self, code: int, static_k: int, cells: np.ndarray, max_k: int, slots: int,
                near: int, ss: np.ndarray, limit: int, out: np.ndarray, record: bool,
                ev: np.ndarray) -> int:
        nf = replay(self.pages, self.ends, self.voffs, self.procs, self.coffs, self.private,
                    self.family, self.touched,
                    self.written, self.noise, self._lay, self._st, 0, self.thp,
                    self.extra_private, self.coef, self.decided, code, static_k, cells, max_k,
                    slots, near, ss, limit, out, record, ev, self.total_ns, self.trim)
        self.done = bool(self.st[POS] >= self.pages.shape[0])
        return int(nf)

    @property
    def context(self) -> FaultContext | None:
        """The current demand fault, or None when the trace has no write left to a shared page."""
        if self.done:
            return None
        st = self.st
        return FaultContext(page=int(st[PAGE]), n_pages=self.n_pages,
                            fault_index=int(st[FAULTS]), prev_page=int(st[PREV_PAGE]),
                            prev_k=int(st[PREV_K]), private_pages=int(st[NPRIV]),
                            write_index=int(st[POS]), region_end=int(st[REND]),
                            region_start=int(st[RSTART]), vpn_offset=int(st[VOFF]),
                            proc=int(st[PROC]), coord_offset=int(st[COFF]),
                            seq_hit=int(st[SEQ]), run=int(st[RUN]), hit_rate_fp=int(st[HIT]),
                            page_state=self.private,
                            unproven_reads=self._st[0, READS:READS + 1],
                            window_stride=self._st[0, STRIDE:STRIDE + 1],
                            window_below=self._st[0, BELOW:BELOW + 1],
                            window_sib=self._st[0, SIB:SIB + 1],
                            proof_walk=self._st[0, WEMPTY:WSCAN + 1])

    def apply(self, k: int) -> FaultEvent:
        """Apply degree ``k`` at the current fault and move to the next one."""
        if self.done:
            raise RuntimeError("ReplayEngine: no demand fault left; call reset()")
        k = int(k)
        if k < 0:
            raise ValueError(f"negative precopy degree {k}")
        self._replay(STATIC, k, self._cells0, 0, 1, 1, self._ss0, 1, self._ns1, True,
                     self._ev1)
        e = self._ev1[0].tolist()
        work = 1 if k > 0 else 0
        c = self.coef
        with_k = fault_ns(c[0], c[1], c[2], c[3], c[4], c[5], self.decided, work, e[3], e[6],
                          e[4])
        without = fault_ns(c[0], c[1], c[2], c[3], c[4], c[5], self.decided, 0, 0, 0, e[4])
        return FaultEvent(page=e[1], k=k, write_index=e[0], precopied=e[3], window=e[5],
                          skipped=e[6], thp_first=e[4], work=work, decided=self.decided,
                          wasted=e[9], fault_ns=float(self._ns1[0]),
                          precopy_ns=float(with_k - without))

    def run_program(self, program: Any, record: bool = False, latencies: bool = True
                    ) -> RunResult:
        """Replay the rest of the trace under a ``KernelProgram`` in compiled code.

        ``latencies=False`` keeps only their sum (:attr:`total_ns`): what an objective
        needs, without an array of one float per fault.
        """
        code, static_k, cells, max_k, slots, near = program_args(program)
        n_max = self._faults_left()
        # Pages of the bound that are never written are never touched: no memory is used.
        out = np.empty(n_max if latencies else 0, dtype=np.float64)
        ev = np.zeros((n_max if record else 0, len(EVENT_COLUMNS)), dtype=np.int64)
        ss = new_stream_state()
        nf = self._replay(code, static_k, cells, max_k, slots, near, ss, n_max, out, record,
                          ev)
        self.tallies = guarded_tallies(ss) if code == GUARDED else None
        return RunResult(fault_ns=out[:nf] if latencies else out, faults=int(self.st[FAULTS]),
                         precopied=int(self.st[PRECOPIED]), wasted=int(self.st[WASTED]),
                         events=ev[:nf].copy() if record else None, tallies=self.tallies)

    def run_degrees(self, degrees: np.ndarray, record: bool = False, latencies: bool = True
                    ) -> RunResult:
        """Apply ``degrees[f]`` at the ``f``-th demand fault from here on, in compiled code:
        what :meth:`apply` called once per fault does (the oracle's degree sequence). A
        negative degree is a ValueError, and so are too few degrees for the faults left."""
        d = np.ascontiguousarray(degrees, dtype=np.int64)
        if d.size and int(d.min()) < 0:
            raise ValueError(f"negative precopy degree {int(d.min())}")
        n = min(self._faults_left(), int(d.size))
        out = np.empty(n if latencies else 0, dtype=np.float64)
        ev = np.zeros((n if record else 0, len(EVENT_COLUMNS)), dtype=np.int64)
        nf = self._replay_degrees(d[:n], False, 0, 0.0, 0.0, out, record, ev)
        if not self.done:
            raise ValueError(f"{d.size} degrees for more demand faults than that")
        return RunResult(fault_ns=out[:nf] if latencies else out, faults=int(self.st[FAULTS]),
                         precopied=int(self.st[PRECOPIED]), wasted=int(self.st[WASTED]),
                         events=ev[:nf].copy() if record else None)

    def run_lookahead(self, max_k: int, gain: float, loss: float) -> np.ndarray:
        """Replay the rest of the trace under the greedy look-ahead (:func:`lookahead_k` with
        ``max_k``, ``gain`` and ``loss`` at each demand fault, from the page state there), in
        compiled code; returns the degrees applied, one per fault. Only the latencies' sum
        is kept (:attr:`total_ns`; the counts in :meth:`totals`)."""
        d = np.zeros(self._faults_left(), dtype=np.int64)
        nf = self._replay_degrees(d, True, int(max_k), float(gain), float(loss),
                                  np.empty(0, dtype=np.float64), False, self._ev1)
        return d[:nf].copy()

    def _faults_left(self) -> int:
        # Each fault makes one written page private: the written pages left bound the faults.
        return max(int(np.count_nonzero(self.written)) - int(self.st[FAULTS]), 0)

    def _replay_degrees(self, degrees: np.ndarray, lookahead: bool, max_k: int, gain: float,
                        loss: float, out: np.ndarray, record: bool, ev: np.ndarray) -> int:
        nf = replay_degrees(self.pages, self.ends, self.voffs, self.procs, self.coffs,
                            self.private, self.family, self.touched,
                            self.written, self.noise, self._lay, self._st, self.thp,
                            self.extra_private, self.coef, self.decided, self._cells0,
                            self._ss0, degrees, lookahead, max_k, gain, loss, out, record, ev,
                            self.total_ns, self.trim)
        self.done = bool(self.st[POS] >= self.pages.shape[0])
        return int(nf)

    @property
    def faults(self) -> int:
        """Demand faults applied so far in this run."""
        return int(self.st[FAULTS])

    def totals(self) -> dict[str, int]:
        """Faults, pages precopied and pages wasted so far in this run."""
        return {"faults": int(self.st[FAULTS]), "precopied": int(self.st[PRECOPIED]),
                "wasted": int(self.st[WASTED])}
