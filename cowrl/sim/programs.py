"""Decision programs: what the kernel module runs at a demand fault, compiled for replay.

A policy that the module can run is a *program* (``Policy.kernel_program()``):
``static`` (one degree at every fault), or ``table`` mode with a decide kind,
``table`` (``k = cells[cell(context)]``) or ``readahead``. The engine runs a
program's whole replay in compiled code; a Python policy object calls the same
functions one fault at a time. Both are the Python form of
``kernel_module/cowrl_policy.h``: every operation is integer arithmetic that
the header repeats line for line, and ``tests/test_policy_equivalence.py``
checks decision for decision.

**Streams.** Linux readahead keeps state per open file; a COW region written
by several sequential writers (interleaved streams) needs the same, or each
writer's faults look random to the next. The context keeps ``slots`` stream
slots (default 4). Each slot remembers the end of the last precopy window it
issued (``end = min(page + k, limit - 1)``, ``limit`` the end of the page's
region) and its run of matched faults. A fault at ``page`` *matches* the slot
whose window end lies just behind it in the same region, ``start <= end`` and
``1 <= page - end <= near``, the smallest such gap winning (lowest slot on a
tie): a stream never crosses a region (VMA) boundary, since regions laid end to
end here lie elsewhere in a process. ``gap == 1`` is an exact
sequential continuation (the whole window was used and the stream asked for
more); ``2..near`` is a strided or sparse forward stream. A fault that matches
no slot starts a new stream in the least recently used slot.

**Cell.** The decision table is indexed by three small buckets:

* ``gap_b``: 0 no stream matched, 1 exact continuation, 2 near-forward gap;
* ``run_b``: the stream's consecutive matches, log2-bucketed
  (0, 1, 2-3, 4-7, >= 8);
* ``rate_b``: the fraction of recent faults that matched a stream, an EWMA
  with weight 1/8 in fixed point (``MATCH_ONE = 256``), split in quarters.

``cell = (gap_b * RUN_BUCKETS + run_b) * RATE_BUCKETS + rate_b`` (60 cells).

**Guarded** (``decide = "guarded"``): the compiled form of
:class:`cowrl.policies.guarded.GuardedPolicy` (its readable reference; the order of
operations is ``docs/policies.md``, "Module specification"): its own stream slots, a
stride detector, the private neighbours ``p-3 .. p-1`` read from the page state (a page
outside the faulting page's region counts as not private), a direct-mapped sentinel table,
per-class sentinel hit rates and the risk budget, and (version 4, ``proof``) a ring of
copied pages proven by the page state (:data:`PAGE_WRITTEN`: written after its copy).
``cells`` carries the 320-entry table then the budget constants (:func:`guarded_cells`);
its state follows the stream state in ``ss``. ``tests/test_guarded_program.py`` checks it
against the prototype, fault for fault. The decision reads every page of the window it
chooses; the module's precopy walk stops after the last one it read shared
(``cowrl_guarded_obs.last``), and the engine's walk of a GUARDED window likewise, from the
same page state (:func:`cowrl.sim.engine.replay`'s ``trim``): nothing here returns it. A
window that would copy nothing (every page it read private) is returned as ``k = 0`` (ABI 20:
no work; the tally ``empty``), its state and charge those of the window decided. With
``stride_window`` (``C_STRIDEW``) a window may be strided, ``page+s, .., page+k*s`` where the
stride detector sees a constant stride ``s`` continuing; the decision leaves ``s`` in
``ss[G_WIN_STRIDE]``, which the engine applies and zeroes. With ``group_below`` G (a simulator
study, session 34; ``C_BELOW``, not in the module) a granted adjacent window also walks the
pages of the fault's aligned group of G virtual pages below it, from the lowest one still
shared; the decision leaves their count in ``ss[G_WIN_BELOW]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numba import njit

GAP_BUCKETS = 3
RUN_BUCKETS = 5
RATE_BUCKETS = 4
N_CELLS = GAP_BUCKETS * RUN_BUCKETS * RATE_BUCKETS
MATCH_ONE = 256  # fixed-point 1.0 of the stream-match EWMA
RUN_CAP = 255  # runs saturate (a u8 in the module)
MAX_SLOTS = 16
STATE_BYTES = 64 + 24 * MAX_SLOTS  # sizeof(struct cowrl_policy_state)
TABLE_BYTES = 24 + 2 * N_CELLS  # sizeof(struct cowrl_policy_table), the ioctl payload

# Program codes (the engine's fast loop branches on these).
STATIC, TABLE, READAHEAD, GUARDED = 0, 1, 2, 3
DECIDE_CODES = {"table": TABLE, "readahead": READAHEAD, "guarded": GUARDED}

# Layout of the stream state vector (int64): five per-slot arrays, then two counters.
_VALID, _END, _RUN, _K, _STAMP = (i * MAX_SLOTS for i in range(5))
_NFAULTS = 5 * MAX_SLOTS
_RATE = _NFAULTS + 1
# Guarded state (after the stream state; slots reuse _VALID/_END/_RUN/_STAMP/_NFAULTS).
G_SENTINELS = 256  # direct-mapped sentinel table entries (guarded.SENTINELS)
G_USE_ONE = 256  # fixed-point 1.0 of the sentinel hit rate (guarded.USE_ONE)
G_KINDS, G_LEFT_BUCKETS, G_USE_BUCKETS = 4, 4, 4
G_CELLS = G_KINDS * RUN_BUCKETS * G_LEFT_BUCKETS * G_USE_BUCKETS  # 320
_GINIT = _RATE + 1
_GHASPREV, _GPREV, _GDELTA, _GSTRIDE = _GINIT + 1, _GINIT + 2, _GINIT + 3, _GINIT + 4
_GUSE, _GHITS, _GMISS = _GINIT + 5, _GINIT + 7, _GINIT + 9  # two each (stream, other)
_GBUDGET = _GINIT + 11
_GTAGS = _GINIT + 12
_GTPAGES = _GTAGS + G_SENTINELS
_GTRES = _GTPAGES + G_SENTINELS
# Version 4: the ring of copied pages awaiting a proof (page + 1, 0 = empty), its cursors.
G_PROOFS = 128  # ring entries (COWRL_GUARDED_PROOFS)
_GPROOF = _GTRES + G_SENTINELS
_GPHEAD, _GPCURSOR = _GPROOF + G_PROOFS, _GPROOF + G_PROOFS + 1
_GPLIVE = _GPCURSOR + 1  # ring entries != 0 (proof_live)
_GPMISS = _GPLIVE + 1  # unproven reads of each ring entry (proof_ttl), G_PROOFS of them
# The class (0 stream, 1 other) of the window that copied each ring entry (use_proof).
_GPCLS = _GPMISS + G_PROOFS
# The fault number (mod 2 ** 32) at which each ring entry is next due (proof_backoff).
_GPDUE = _GPCLS + G_PROOFS
# proof_look: each ring entry's region bucket (region_bucket; the low 4 bits) and the ordinal of
# the process that copied it (the high 4 bits: a look reads only its own process's entries,
# whatever the table), and the live entries per bucket.
G_BUCKETS = 16  # (guarded.BUCKETS, COWRL_GUARDED_BUCKETS)
G_PROCS = 16  # process ordinals told apart in the bucket key (COWRL_GUARDED_PROCS)
_GPBUCKET = _GPDUE + G_PROOFS
_GPBLIVE = _GPBUCKET + G_PROOFS
# proof_span: the ring's oldest possibly live slot (every slot outside [tail, head) is empty),
# and per bucket the fault number (mod 2 ** 32) before which no entry its look counts is due.
_GPTAIL = _GPBLIVE + G_BUCKETS
_GPBDUE = _GPTAIL + 1
G_BACKOFF_MAX_SHIFT = 16  # an entry read unwritten m times waits 2 ** min(m, 16) faults
G_BACKOFF_STEPS = 4  # ... and a look walks at most 4 x proof_reads ring slots
G_DUE_MASK = 0xFFFFFFFF
# Unproven reads of the fault being decided (the engine charges and zeroes them).
G_UNPROVEN = _GPBDUE + G_BUCKETS
# Ring slots of the fault's look read by no read: empty (charged proof_step_ns), and live
# entries stepped over unread, not yet due or another region's (proof_skip_ns); the engine
# charges and zeroes them as it does the reads.
G_WALK_EMPTY, G_WALK_LIVE = G_UNPROVEN + 1, G_UNPROVEN + 2
# proof_skipmap: the look's jumps from an empty slot to the next live one (proof_jump_ns).
G_WALK_JUMP = G_UNPROVEN + 3
# floor_slow's EWMA of the sentinel outcomes per class (fixed point G_SLOW_ONE).
_GSLOW = G_UNPROVEN + 4
G_SLOW_ONE = G_USE_ONE << 8
# proof_duemap: the look's jumps to the next slot not waiting (proof_duejump_ns), and the
# waiting entries its refreshes looked at (proof_duescan_ns); charged as the walk.
G_WALK_DUE, G_WALK_SCAN = G_UNPROVEN + 6, G_UNPROVEN + 7
# proof_duemap: 1 per ring slot whose entry waits (read unwritten, put off), how many wait (all,
# then per bucket), and a fault number (mod 2 ** 32) none of them is due before.
_GPWAIT = G_UNPROVEN + 8
_GWLIVE = _GPWAIT + G_PROOFS
_GWDUE = _GWLIVE + 1
_GBWAIT = _GWDUE + 1
# proof_cutback: per bucket, the looks cut by the budget since its last proof (at most
# proof_cutback); a look puts the bucket's next one off 2 ** that many faults while it is not 0.
_GBCUTS = _GBWAIT + G_BUCKETS
# stride_window: the stride s >= 2 of the window this fault decided (0: adjacent, or k = 0);
# the engine applies the window page+s, .., page+k*s from it and zeroes it.
G_WIN_STRIDE = _GBCUTS + G_BUCKETS
# group_below (a simulator study, session 34): the pages page-b .. page-1 below the fault the
# window this fault decided also walks (0: none); the engine applies them and zeroes it.
G_WIN_BELOW = G_WIN_STRIDE + 1
# sibling_window (a simulator study, session 35): the last page (as an offset from the fault)
# of the sibling window this fault decided (0: none): the engine copies the pages past the
# adjacent window up to it that a process of the trace demand-faulted (the family bitmap) and
# zeroes it.
G_WIN_SIB = G_WIN_BELOW + 1
# sibling_stake 1: the sibling pages' proof rate (an EWMA, G_USE_ONE = 1.0, from 1/2), and
# per ring entry the stake its proof returns (0: a window page's, loss_ns; > 0: a sibling
# page staked at its expected loss)
_GSIBUSE = G_WIN_SIB + 1
_GPSTAKE = _GSIBUSE + 1
# sibling_gate (a simulator study, session 35): the gate's evidence, sibling pages marked
# (a ghost window's, which copies nothing, or a sibling window's, copied) and those a mark
# turned out to save (a later demand fault of the marking process on a ghost page, or the
# proof of a copied one); both halved when the marks reach G_GATE_DECAY, and the halvings
# counted mod 4 (the epoch a ghost mark carries: a mark of an older epoch, its weight halved,
# neither hits nor is taken back)
_GGMARK = _GPSTAKE + G_PROOFS
_GGHIT = _GGMARK + 1
_GGEPOCH = _GGHIT + 1
G_GATE_DECAY = 1024
G_GATE_MIN = 64  # the gate stays shut before this many marks
# The decision tallies (ABI 17, 18; cowrl_guarded.h's st->tally[], COWRL_GUARDED_T_*, in this
# order): counts of the branches the decision took, never read by it. ``asked``: faults whose
# table cell wanted a window; ``floor``: of them, held to k = 0 by the floor; ``refused``: past
# the floor, k = 0 (``refused_setup + refused_protect + refused_fit``); ``windows``: k > 0;
# ``short``: of them, k < want; ``pages``: their pages read shared (the copies the budget
# reserved for); ``strided``: strided windows granted;
# ``sib_windows`` / ``sib_pages``: sibling windows that copy a page, and their pages;
# ``gate_open`` / ``gate_shut``: sibling_gate's verdict at each sibling window.
# ABI 18: why a window was refused, one of three: ``refused_setup``, the budget below setup_ns
# (no window pays its setup); ``refused_protect``, protect's cap at or below want and no
# candidate degree below it (none tried); ``refused_fit``, no candidate's worst case fit (also:
# no degree <= want). And the budget's flow in ns wherever it moves (never clipped): added,
# ``add_allow_ns`` (the allowances) and ``add_credit_ns`` (a sentinel hit's reserve and gain
# without proof, a proof's reserve, gain and unused reads); spent, ``spend_window_ns`` (the
# windows' reserves and fixed costs), ``spend_walk_ns`` (the looks' walk prices) and
# ``spend_sib_ns`` (the sibling stakes; sibling_stake 2: the rest of a missed page's loss).
# From budget 0: budget_ns = add_allow + add_credit - spend_window - spend_walk - spend_sib.
# ABI 20: ``empty``, windows granted whose pages the decision read are all private (or past
# the region's end): dropped, k = 0 returned (no work queued), their fixed cost still paid
# (docs/policies.md, "Module specification", step 5); asked = floor + refused + windows + empty.
G_TALLY_NAMES = ("asked", "floor", "refused", "windows", "short", "pages", "strided",
                 "sib_windows", "sib_pages", "gate_open", "gate_shut", "refused_setup",
                 "refused_protect", "refused_fit", "add_allow_ns", "add_credit_ns",
                 "spend_window_ns", "spend_walk_ns", "spend_sib_ns", "empty")
(T_ASKED, T_FLOOR, T_REFUSED, T_WINDOWS, T_SHORT, T_PAGES, T_STRIDED, T_SIB_WINDOWS,
 T_SIB_PAGES, T_GATE_OPEN, T_GATE_SHUT, T_REFUSED_SETUP, T_REFUSED_PROTECT, T_REFUSED_FIT,
 T_ADD_ALLOW, T_ADD_CREDIT, T_SPEND_WINDOW, T_SPEND_WALK, T_SPEND_SIB,
 T_EMPTY) = range(len(G_TALLY_NAMES))
GUARD_TALLY_KEYS = (*G_TALLY_NAMES, "hits", "misses", "budget_ns")
"""The keys of :func:`guarded_tallies`: the tallies, then the sentinels hit and missed (the
state's hits and misses, both classes), then the budget left (ns, may be < 0 with
sibling_stake 2); the module's counters are ``guard_<key>``."""
G_TALLY = _GGEPOCH + 1
# run_cap (a simulator study, session 40): per slot, the first page of its current ascending
# run, the page count of its previous run (0: none known; at most G_RUN_LEN_MAX) and its last
# fault's page (GuardedContext.rstart / rlen / rlast)
G_RUN_LEN_MAX = 4096
_GRSTART = G_TALLY + len(G_TALLY_NAMES)
_GRLEN = _GRSTART + MAX_SLOTS
_GRLAST = _GRLEN + MAX_SLOTS
# depth_cap (a simulator study, session 41): per ring entry its depth bucket + 1, + 8 for a
# strided window's (0: not a window's own page, or its outcome counted), then per row (2 x the
# class, stream 0 or other 1, + 1 for strided windows) and depth bucket the EWMA of the
# outcomes of its copies (fixed point G_DEPTH_ONE, weight 1 / 2 ** G_DEPTH_SHIFT, from
# G_DEPTH_ONE; a miss at the G_DEPTH_MISSES-th unproven read; GuardedContext.proof_depth /
# depth; the constants are guarded.DEPTH_*)
G_DEPTH_BUCKETS = 7
G_DEPTH_ONE = 1 << 12
G_DEPTH_SHIFT = 4
G_DEPTH_RELAX = 8
G_DEPTH_MISSES = 5
_GPDEPTH = _GRLAST + MAX_SLOTS
_GDEPTH = _GPDEPTH + G_PROOFS
# region_look (a simulator study, session 44): per ring entry its row (2 x the class of the
# window that copied it + 1 if strided; + 4 with region_look 3 if that window drew on a late
# reserve: its proof goes to the reserve), per row the late reserve (ns) and its key (the ring
# key + 1, bucket | process << 4; 0: none) (GuardedContext.proof_row / late / late_key)
_GPROW = _GDEPTH + 4 * G_DEPTH_BUCKETS
_GLATE = _GPROW + G_PROOFS
_GLKEY = _GLATE + 4
STREAM_STATE = _GLKEY + 4
# The engine's page state (``private``): 0 shared, 1 private, 2 private and written since it
# became private (a precopied page's dirty bit, which version 4's proofs read).
PAGE_WRITTEN = 2
# Layout of a guarded program's ``cells``: the table, then the constants, then the degrees.
C_GAIN, C_LOSS, C_SETUP, C_SKIP, C_ALLOW, C_FLOOR, C_EXPECTED, C_NDEG = \
    (G_CELLS + i for i in range(8))
C_GRANT, C_SCAN, C_MERGE = G_CELLS + 8, G_CELLS + 9, G_CELLS + 10
C_PROTECT, C_HITSCALE = G_CELLS + 11, G_CELLS + 12  # version 3
C_PROOF, C_PREADS, C_PTTL = G_CELLS + 13, G_CELLS + 14, G_CELLS + 15  # version 4
C_USEPROOF = G_CELLS + 16  # use from proofs (0: sentinels; 1: proofs and probes; 2: proofs)
C_PBACKOFF = G_CELLS + 17  # proof_backoff
C_WALK = G_CELLS + 18  # walk_ns: the budget pays each live ring entry a look steps over unread
C_WALKEMPTY = G_CELLS + 19  # walk_empty_ns: ... and each empty ring slot it steps over
C_READ = G_CELLS + 20  # read_ns: a proof credits it per reserved read (proof_ttl) left unused
C_PLOOK = G_CELLS + 21  # proof_look: 1 = a look counts down its region's bucket only
C_PSPAN = G_CELLS + 22  # proof_span: 1 = a look walks [tail, head) only, and not before due
C_FTOTAL = G_CELLS + 23  # floor_total: 1 = the floor also reads the lifetime hit rate
C_FSLOW = G_CELLS + 24  # floor_slow: s = ... and an EWMA of weight 1 / 2 ** s (8 more bits)
C_PSKIPMAP = G_CELLS + 25  # proof_skipmap: 1 = a look jumps from an empty slot to a live one
C_PDUEMAP = G_CELLS + 26  # proof_duemap: 1 = ... and over the entries not yet due
C_WALKDUE = G_CELLS + 27  # walk_due_ns: the budget pays it per jump to a slot not waiting
C_WALKSCAN = G_CELLS + 28  # walk_scan_ns: ... and per waiting entry a refresh looks at
C_PCUTBACK = G_CELLS + 29  # proof_cutback: s = a cut look puts off the next 2 ** (<= s) faults
C_STRIDEW = G_CELLS + 30  # stride_window: 1 = a window may follow the stride detector
C_STRIDENS = G_CELLS + 31  # stride_ns: the budget reserves it per strided page walked
C_BELOW = G_CELLS + 32  # group_below: G = a window also copies its aligned group below the fault
C_SIB = G_CELLS + 33  # sibling_window: W = a fault also copies pages a sibling faulted, <= W on
C_SIBSTAKE = G_CELLS + 34  # sibling_stake: 1|2 = a sibling page stakes its expected loss
C_SIBGATE = G_CELLS + 35  # sibling_gate: m = the window opens above break-even + m/8 of the rest
C_SALT = G_CELLS + 36  # sentinel_salt: 1 = the sentinel index adds the region's salt
C_RUNCAP = G_CELLS + 37  # run_cap: 1 = a stream's window stops where its previous run's length ends
C_DEPTHCAP = G_CELLS + 38  # depth_cap: 1 = a window stops before a depth proven below break-even
C_LASTLOOK = G_CELLS + 39  # last_look: 1 = an entry about to be overwritten is read once first
C_REGIONLOOK = G_CELLS + 40  # region_look: 1|2|3 = a last look whose credit is kept per row/region
C_DEG = G_CELLS + 41
# The options the compiled program carries and the module's table does not (simulator
# studies): pack_guarded, GuardedPolicy.kernel_program and the kernel target refuse each.
SIM_STUDY_OPTIONS = ("group_below", "run_cap", "depth_cap", "last_look", "region_look")
# A table value ALIGN | G (G a power of two in 2..64): "copy to the end of the fault's aligned
# group of G pages", the degree (G - 1) - (vpn mod G) at virtual page vpn (version 4 + align).
ALIGN = 0x100
MAX_ALIGN = 64


def new_stream_state() -> np.ndarray:
    return np.zeros(STREAM_STATE, dtype=np.int64)


def guarded_tallies(ss: np.ndarray) -> dict[str, int]:
    """A GUARDED program's decision tallies from its state ``ss`` after a run: the counts of
    :data:`G_TALLY_NAMES`, then ``hits`` and ``misses``, its sentinels resolved (a fault on
    one; one evicted unreached), both classes, and ``budget_ns``, the budget left. The
    module's ``guard_<name>`` counters (cowrl_uapi.h, ABI 18) for the same trace."""
    out = {n: int(ss[G_TALLY + i]) for i, n in enumerate(G_TALLY_NAMES)}
    out["hits"] = int(ss[_GHITS] + ss[_GHITS + 1])
    out["misses"] = int(ss[_GMISS] + ss[_GMISS + 1])
    out["budget_ns"] = int(ss[_GBUDGET])
    return out


def budget_flow(tallies: Mapping[str, int]) -> tuple[int, int]:
    """``(added, spent)``: the budget's flow (ns) in :func:`guarded_tallies` (or the module's
    counters by those keys): from budget 0, ``budget_ns == added - spent`` exactly."""
    added = tallies["add_allow_ns"] + tallies["add_credit_ns"]
    return added, (tallies["spend_window_ns"] + tallies["spend_walk_ns"]
                   + tallies["spend_sib_ns"])


def guard_counter(key: str, raw: int) -> int:
    """The value of the module's ``guard_<key>`` counter from its u64 ``raw``: ``budget_ns`` is an
    s64 (two's complement), the others counts."""
    raw = int(raw)
    return raw - (1 << 64) if key == "budget_ns" and raw >= 1 << 63 else raw


@njit(cache=True, nogil=True, forceinline=True)
def g_earn(ss: np.ndarray, t: int, ns: int) -> None:
    """The budget moves only through these two (cowrl_guarded_earn / _pay): ``ns`` >= 0 added
    or spent, tallied under ``t``."""
    ss[_GBUDGET] += ns
    ss[G_TALLY + t] += ns


@njit(cache=True, nogil=True, forceinline=True)
def g_pay(ss: np.ndarray, t: int, ns: int) -> None:
    ss[_GBUDGET] -= ns
    ss[G_TALLY + t] += ns


@njit(cache=True, nogil=True)
def run_bucket(run: int) -> int:
    if run <= 0:
        return 0
    if run == 1:
        return 1
    if run < 4:
        return 2
    if run < 8:
        return 3
    return 4


@njit(cache=True, nogil=True)
def cell_of(gap_b: int, run_b: int, rate_b: int) -> int:
    return (gap_b * RUN_BUCKETS + run_b) * RATE_BUCKETS + rate_b


@njit(cache=True, nogil=True, forceinline=True)
def sentinel_feeds_use(cells: np.ndarray, ss: np.ndarray, t: int) -> bool:
    """Whether sentinel-table entry ``t``'s hit or miss moves ``use`` (use_proof 0: always;
    1: only for a window that copied nothing; 2: never), as
    ``GuardedContext.sentinel_feeds_use``."""
    up = cells[C_USEPROOF]
    return up != 2 and not (up != 0 and ss[_GTPAGES + t] != 0)


@njit(cache=True, nogil=True, forceinline=True)
def lru_victim(ss: np.ndarray, slots: int) -> int:
    """The stream slot a new stream takes: an empty slot, else the least recently used."""
    slot = 0
    for i in range(slots):
        if not ss[_VALID + i]:
            return i
        if ss[_STAMP + i] < ss[_STAMP + slot]:
            slot = i
    return slot


@njit(cache=True, nogil=True, forceinline=True)
def stream_observe(ss: np.ndarray, slots: int, near: int, page: int, start: int
                   ) -> tuple[int, int, int, int, int, int]:
    """First half of a fault at ``page`` of the region starting at ``start``: match a
    stream (of that region) and compute the cell.

    Returns ``(cell, slot, matched, gap, run, slot_k)``: ``slot`` is where this
    fault's stream lives (matched, or the LRU victim), ``slot_k`` the degree last
    applied in the matched stream (0 for a new one). Updates only the match rate.
    """
    best, best_gap = -1, near + 1
    for i in range(slots):
        # A stream never continues into another region (VMA): regions are laid end to
        # end here, at other addresses (or behind a guard page) in a process.
        if ss[_VALID + i] and ss[_END + i] >= start:
            gap = page - ss[_END + i]
            if 1 <= gap < best_gap:
                best, best_gap = i, gap
    if best >= 0:
        matched = 1
        run = min(ss[_RUN + best] + 1, RUN_CAP)
        slot, gap, slot_k = best, best_gap, ss[_K + best]
        gap_b = 1 if gap == 1 else 2
    else:
        matched, run, gap, slot_k, gap_b = 0, 0, 0, 0, 0
        slot = lru_victim(ss, slots)
    ss[_RATE] += (matched * MATCH_ONE - ss[_RATE]) >> 3
    rate_b = min(ss[_RATE] >> 6, RATE_BUCKETS - 1)
    return cell_of(gap_b, run_bucket(run), rate_b), slot, matched, gap, run, slot_k


@njit(cache=True, nogil=True, forceinline=True)
def stream_commit(ss: np.ndarray, slot: int, run: int, page: int, limit: int, k: int) -> None:
    """Second half: record degree ``k`` applied at ``page`` (``limit``: its region's end)."""
    ss[_NFAULTS] += 1
    ss[_VALID + slot] = 1
    ss[_END + slot] = max(min(page + k, limit - 1), page)
    ss[_RUN + slot] = run
    ss[_K + slot] = k
    ss[_STAMP + slot] = ss[_NFAULTS]


@njit(cache=True, nogil=True)
def readahead_k(matched: int, gap: int, slot_k: int, max_k: int) -> int:
    """Double ``k`` on a sequential hit (from 1 up to ``max_k``), 0 on a miss."""
    if not matched or gap != 1:
        return 0
    return min(max(1, 2 * slot_k), max_k)


@njit(cache=True, nogil=True)
def guarded_shared(private: np.ndarray, s0: int, page: int, k: int, limit: int) -> int:
    """Shared pages among ``page+1 .. min(page+k, limit-1)``: what a window would copy."""
    hi = min(page + k, limit - 1)
    n = 0
    for j in range(page + 1, hi + 1):
        if private[s0 + j] == 0:
            n += 1
    return n


@njit(cache=True, nogil=True)
def guarded_strided(private: np.ndarray, s0: int, page: int, k: int, limit: int,
                    stride: int) -> tuple[int, int]:
    """``(walked, shared)`` of the strided window ``page+s, .., page+k*s`` (``s =
    stride``, clipped at ``limit``): its pages, and those a window would copy."""
    hi = min(k, (limit - 1 - page) // stride)
    n = 0
    for j in range(1, hi + 1):
        if private[s0 + page + j * stride] == 0:
            n += 1
    return hi, n


@njit(cache=True, nogil=True)
def guarded_below(private: np.ndarray, s0: int, page: int, start: int, vpn: int,
                  group: int) -> tuple[int, int]:
    """``group_below``: ``(walked, shared)`` of the pages below ``page`` in its aligned group
    of ``group`` virtual pages (``vpn`` the page's virtual page; from ``max(vpn & ~(group-1),
    start)`` in page terms): the walk starts at the lowest of them that is shared (none
    shared: ``(0, 0)``), as a forward walk stops after the last shared page."""
    lo = max(page - (vpn & (group - 1)), start)
    b0 = page
    n = 0
    for j in range(lo, page):
        if private[s0 + j] == 0:
            if b0 == page:
                b0 = j
            n += 1
    return page - b0, n


@njit(cache=True, nogil=True)
def region_bucket(start_vpn: int, size: int, proc: int = 0) -> int:
    """The proof ring's bucket (0..:data:`G_BUCKETS` - 1) of the region whose first page is
    at virtual page ``start_vpn``, ``size`` pages long, of the process of ordinal ``proc``
    (``proof_look``; :attr:`Trace.region_procs`, 0 for a trace of one process): a u32 key,
    the low 9 bits of ``start_vpn`` (the kernel harness maps each region at a slot congruent
    to it modulo 512, so the simulator and the module agree on them) with ``size`` above
    them, mixed by two xor-shift-multiply rounds (all mod 2 ** 32; the product of a u32 and
    the multiplier fits an int64), its low 4 bits plus ``proc``, mod 16
    (``cowrl_guarded_bucket`` in cowrl_guarded.h). The children of a fork hold their copies
    of a region at the same address and size: ``proc`` puts up to 16 of them in distinct
    buckets, and ``proc = 0`` is the key before it."""
    x = ((start_vpn & 511) | (size << 9)) & G_DUE_MASK
    x = (((x >> 16) ^ x) * 0x045D9F3B) & G_DUE_MASK
    x = (((x >> 16) ^ x) * 0x045D9F3B) & G_DUE_MASK
    return (((x >> 16) ^ x) + proc) & (G_BUCKETS - 1)


@njit(cache=True, nogil=True)
def region_salt(start_vpn: int, size: int, proc: int = 0) -> int:
    """``sentinel_salt``: what the sentinel table's index adds to a page's offset in its region
    (0..:data:`G_SENTINELS` - 1), from the key :func:`region_bucket` mixes (the low 9 bits of
    the region's first virtual page ``start_vpn``, its ``size`` in pages): bits 8..15 of the
    mixed key (the bucket takes bits 0..3), plus 16 x ``proc``, mod 256 (the children of a fork
    hold their copies of a region at one address and size). Equal-sized regions written in
    lockstep put their sentinels at equal offsets; with distinct salts they no longer evict
    each other's (``cowrl_guarded_salt`` in cowrl_guarded.h)."""
    x = ((start_vpn & 511) | (size << 9)) & G_DUE_MASK
    x = (((x >> 16) ^ x) * 0x045D9F3B) & G_DUE_MASK
    x = (((x >> 16) ^ x) * 0x045D9F3B) & G_DUE_MASK
    return ((((x >> 16) ^ x) >> 8) + (proc << 4)) & (G_SENTINELS - 1)


@njit(cache=True, nogil=True, forceinline=True)
def g_before(a: int, b: int) -> bool:
    """Whether fault number ``a`` comes before ``b`` (mod 2 ** 32: ``(s32)(a - b) < 0``)."""
    return ((a - b) & G_DUE_MASK) > (G_DUE_MASK >> 1)


@njit(cache=True, nogil=True, forceinline=True)
def g_wait(ss: np.ndarray, i: int) -> None:
    """``proof_duemap``: live entry ``i`` was put off to its due fault: it waits."""
    ss[_GPWAIT + i] = 1
    ss[_GWLIVE] += 1
    ss[_GBWAIT + (ss[_GPBUCKET + i] & (G_BUCKETS - 1))] += 1
    if ss[_GWLIVE] == 1 or g_before(ss[_GPDUE + i], ss[_GWDUE]):
        ss[_GWDUE] = ss[_GPDUE + i]


@njit(cache=True, nogil=True, forceinline=True)
def g_unwait(ss: np.ndarray, i: int) -> None:
    """Entry ``i`` no longer waits (due, left the ring, or overwritten)."""
    if ss[_GPWAIT + i]:
        ss[_GPWAIT + i] = 0
        ss[_GWLIVE] -= 1
        ss[_GBWAIT + (ss[_GPBUCKET + i] & (G_BUCKETS - 1))] -= 1


@njit(cache=True, nogil=True)
def g_refresh(ss: np.ndarray, now: int) -> None:
    """``proof_duemap``: every waiting entry due at ``now`` waits no longer; the due fault of
    the soonest still waiting kept."""
    first = True
    for j in range(G_PROOFS):
        if ss[_GPWAIT + j]:
            if not g_before(now, ss[_GPDUE + j]):
                g_unwait(ss, j)
            elif first or g_before(ss[_GPDUE + j], ss[_GWDUE]):
                ss[_GWDUE] = ss[_GPDUE + j]
                first = False


@njit(cache=True, nogil=True, forceinline=True)
def g_next_due(ss: np.ndarray, i: int) -> int:
    """The first live ring slot at or after ``i``, cyclic, that does not wait
    (``proof_duemap``); ``i`` if none."""
    for d in range(G_PROOFS):
        j = (i + d) & (G_PROOFS - 1)
        if ss[_GPROOF + j] != 0 and ss[_GPWAIT + j] == 0:
            return j
    return i


@njit(cache=True, nogil=True, forceinline=True)
def g_drop(ss: np.ndarray, i: int) -> None:
    """Ring entry ``i`` leaves the ring (proven or expired)."""
    g_unwait(ss, i)
    ss[_GPROOF + i] = 0
    ss[_GPLIVE] -= 1
    ss[_GPBLIVE + (ss[_GPBUCKET + i] & (G_BUCKETS - 1))] -= 1


@njit(cache=True, nogil=True, forceinline=True)
def g_in_span(ss: np.ndarray, i: int) -> bool:
    """Whether ring slot ``i`` lies in ``[tail, head)`` (``proof_span``; the whole ring when
    they are equal and an entry is live)."""
    span = (ss[_GPHEAD] - ss[_GPTAIL]) & (G_PROOFS - 1)
    return (ss[_GPLIVE] > 0 and span == 0) or ((i - ss[_GPTAIL]) & (G_PROOFS - 1)) < span


@njit(cache=True, nogil=True, forceinline=True)
def g_put_off(cells: np.ndarray, ss: np.ndarray, db: int, cut: bool, proved: bool) -> int:
    """``proof_cutback`` (``GuardedPolicy.put_off``): a proof clears bucket ``db``'s count of
    cut looks, a cut adds one (at most ``proof_cutback``); the faults by which the look puts
    off the bucket's next one, at least: ``2 ** count``, or 0 while the count is 0."""
    if cells[C_PCUTBACK] == 0:
        return 0
    if proved:
        ss[_GBCUTS + db] = 0
    elif cut:
        ss[_GBCUTS + db] = min(ss[_GBCUTS + db] + 1, cells[C_PCUTBACK])
    return (1 << ss[_GBCUTS + db]) if ss[_GBCUTS + db] else 0


@njit(cache=True, nogil=True, forceinline=True)
def g_next_live(ss: np.ndarray, i: int) -> int:
    """The first live ring slot at or after ``i``, cyclic (``proof_skipmap``; the module
    reads its bitmap of live slots); ``i`` if none is live."""
    for d in range(G_PROOFS):
        if ss[_GPROOF + ((i + d) & (G_PROOFS - 1))] != 0:
            return (i + d) & (G_PROOFS - 1)
    return i


@njit(cache=True, nogil=True)
def g_gate_add(ss: np.ndarray, marks: int, hits: int) -> None:
    """``sibling_gate``: ``marks`` sibling pages marked and ``hits`` of them that a mark saved
    (both halved once the marks reach :data:`G_GATE_DECAY`)."""
    ss[_GGMARK] += marks
    ss[_GGHIT] += hits
    if ss[_GGMARK] >= G_GATE_DECAY:
        ss[_GGMARK] >>= 1
        ss[_GGHIT] >>= 1
        ss[_GGEPOCH] = (ss[_GGEPOCH] + 1) & 3


@njit(cache=True, nogil=True)
def g_gate_open(cells: np.ndarray, ss: np.ndarray) -> bool:
    """``sibling_gate`` m: whether the sibling window opens, its pages' saved rate (hits /
    marks, at least :data:`G_GATE_MIN` marks) at least the cost model's break-even precision
    ``loss / (gain + loss)`` plus m/8 of what lies above it."""
    m = ss[_GGMARK]
    return m >= G_GATE_MIN and ss[_GGHIT] * 8 * (cells[C_GAIN] + cells[C_LOSS]) \
        >= m * (8 * cells[C_LOSS] + cells[C_SIBGATE] * cells[C_GAIN])


@njit(cache=True, nogil=True)
def guarded_sibling(private: np.ndarray, s0: int, family: np.ndarray, f0: int, lo: int,
                    hi: int, per: int, skip: int, fixed: int, budget: int) -> tuple[int, int]:
    """``sibling_window``: of the pages ``lo .. hi`` (the decision's pages) whose family bit
    is set, the longest run from ``lo`` whose stake fits ``budget``: ``per`` for each shared
    one (copied), ``skip`` for each private one walked before the last shared one taken, and
    ``fixed`` (the setup, or 0); ``(last, stake)``, its last shared page (0: none) and its
    stake. A page without the bit is not walked (the bitmap says so)."""
    last = stake = 0
    acc = fixed
    for q in range(lo, hi + 1):
        if family[f0 + q] & 1:
            if private[s0 + q] != 0:
                acc += skip
            else:
                acc += per
                if acc > budget:
                    break
                last, stake = q, acc
    return last, stake


@njit(cache=True, nogil=True, forceinline=True)
def g_depth_outcome(cells: np.ndarray, ss: np.ndarray, i: int, written: bool) -> None:
    """``depth_cap``: ring entry ``i``'s outcome, proven (``written``) or not (its
    G_DEPTH_MISSES-th unproven read, or expired): its row and depth bucket's EWMA moves
    (``GuardedContext.depth_outcome``)."""
    d = ss[_GPDEPTH + i]
    if cells[C_DEPTHCAP] == 0 or d == 0:
        return
    x = _GDEPTH + (2 * ss[_GPCLS + i] + (d >> 3)) * G_DEPTH_BUCKETS + (d & 7) - 1
    if written:
        ss[x] += (G_DEPTH_ONE - ss[x]) >> G_DEPTH_SHIFT
    else:
        ss[x] -= ss[x] >> G_DEPTH_SHIFT


@njit(cache=True, nogil=True)
def g_depth_limit(cells: np.ndarray, ss: np.ndarray, row: int) -> int:
    """``depth_cap``: ``2 ** b - 1`` for the shallowest depth bucket ``b >= 1`` of row
    ``row`` (2 x class + strided) whose EWMA is below the break-even precision ``loss / (gain
    + loss)``, else MAX_ALIGN (no cap) (``GuardedPolicy.depth_limit``)."""
    for b in range(1, G_DEPTH_BUCKETS):
        if ss[_GDEPTH + row * G_DEPTH_BUCKETS + b] * (cells[C_GAIN] + cells[C_LOSS]) \
                < G_DEPTH_ONE * cells[C_LOSS]:
            return (1 << b) - 1
    return MAX_ALIGN


@njit(cache=True, nogil=True, forceinline=True)
def g_depth_bucket(j: int) -> int:
    """``depth_cap``: the depth bucket of position ``j >= 1`` in a window, min(log2 j, 6)."""
    b = 0
    while b < G_DEPTH_BUCKETS - 1 and (j >> (b + 1)) != 0:
        b += 1
    return b


@njit(cache=True, nogil=True, forceinline=True)
def g_prove_entry(cells: np.ndarray, ss: np.ndarray, i: int, late: bool = False) -> None:
    """Ring entry ``i``'s copy was read and found written: its credit (a window page's
    reserve and gain, read_credit: and the reserved reads it did not use; a sibling page's
    stake and gain), it leaves the ring, use / the sibling rate / depth_cap see a proof
    (``GuardedPolicy.prove_entry``; a look's proving read and a last look's)."""
    if ss[_GPSTAKE + i] > 0:  # a sibling page: its stake and gain
        credit = ss[_GPSTAKE + i] + cells[C_GAIN]
        ss[_GSIBUSE] += (G_USE_ONE - ss[_GSIBUSE]) >> 4
        # sibling_gate: a hit (at most the marks: a proof may come
        # after a halving its mark's weight went through)
        if cells[C_SIBGATE] and ss[_GGHIT] < ss[_GGMARK]:
            g_gate_add(ss, 0, 1)
    else:
        credit = cells[C_LOSS] + cells[C_GAIN] \
            + (cells[C_PTTL] - ss[_GPMISS + i]) * cells[C_READ]
    if late or ss[_GPROW + i] >= 4:  # region_look: to the late reserve of its row and key
        r = ss[_GPROW + i] & 3  # (+ 4: region_look 3, a copy a late reserve financed)
        key = ss[_GPBUCKET + i] + 1
        if ss[_GLKEY + r] != key:  # another key's reserve: forfeited
            ss[_GLATE + r] = 0
            ss[_GLKEY + r] = key
        ss[_GLATE + r] += credit
    else:
        g_earn(ss, T_ADD_CREDIT, credit)
    g_drop(ss, i)
    g_depth_outcome(cells, ss, i, True)
    if cells[C_USEPROOF]:  # a use for the class that copied it
        c = ss[_GPCLS + i]
        ss[_GUSE + c] += (G_USE_ONE - ss[_GUSE + c]) >> 4


@njit(cache=True, nogil=True, forceinline=True)
def g_last_look(cells: np.ndarray, ss: np.ndarray, private: np.ndarray, s0: int, start: int,
                limit: int, own: int) -> None:
    """``last_look``: the ring's head is about to take a new entry; a live entry there of
    the faulting region ``[start, limit)`` and process ordinal ``own`` is read once first:
    written, proven (:func:`g_prove_entry`, the slot then empty); not, an unproven read
    (``G_UNPROVEN``, charged proof_read_ns by the engine), overwritten as without it
    (``GuardedPolicy.last_look_at``)."""
    h = ss[_GPHEAD]
    v = ss[_GPROOF + h]
    if v == 0 or not start <= v - 1 < limit or (ss[_GPBUCKET + h] >> 4) != own:
        return
    if private[s0 + v - 1] == PAGE_WRITTEN:
        g_prove_entry(cells, ss, h, cells[C_REGIONLOOK] != 0)
    else:
        ss[G_UNPROVEN] += 1


@njit(cache=True, nogil=True)
def g_ring_put(cells: np.ndarray, ss: np.ndarray, bucket: int, own: int, cls: int,
               j: int, stake: int, depth: int = 0) -> None:
    """Version 4: page ``j``, copied by a window of class ``cls`` of process ``own`` in the
    region of ring bucket ``bucket``, awaits its proof at the ring's head (overwriting the
    oldest entry, unproven, when the ring is full); ``stake`` what its proof returns (0: the
    loss, a window page's; sibling_stake: a sibling page's expected loss); ``depth`` its depth
    bucket + 1 (depth_cap; 0: not a window's own page or its outcome already counted)."""
    h = ss[_GPHEAD]
    g_unwait(ss, h)  # (before its bucket changes)
    if cells[C_PSPAN]:  # an empty ring starts its span here; a full one moves on
        if ss[_GPLIVE] == 0:
            ss[_GPTAIL] = h
        elif ss[_GPTAIL] == h:
            ss[_GPTAIL] = (h + 1) & (G_PROOFS - 1)
        ss[_GPBDUE + (bucket if cells[C_PLOOK] else 0)] = ss[_NFAULTS] & G_DUE_MASK
    if ss[_GPROOF + h] == 0:
        ss[_GPLIVE] += 1
    else:  # it overwrites the oldest, unproven
        ss[_GPBLIVE + (ss[_GPBUCKET + h] & (G_BUCKETS - 1))] -= 1
        if cells[C_USEPROOF]:  # a miss for its class
            oc = ss[_GPCLS + h]
            ss[_GUSE + oc] -= ss[_GUSE + oc] >> 4
        if ss[_GPSTAKE + h] > 0:  # a sibling page overwritten unproven: a miss
            ss[_GSIBUSE] -= ss[_GSIBUSE] >> 4
            if cells[C_SIBSTAKE] == 2:  # ... and the rest of its loss (the budget may owe)
                g_pay(ss, T_SPEND_SIB, cells[C_LOSS] - ss[_GPSTAKE + h])
    ss[_GPSTAKE + h] = stake
    ss[_GPBLIVE + bucket] += 1
    ss[_GPBUCKET + h] = bucket | (own << 4)  # and the copying process
    ss[_GPROOF + h] = j + 1
    ss[_GPMISS + h] = 0
    ss[_GPCLS + h] = cls
    ss[_GPDEPTH + h] = depth
    ss[_GPDUE + h] = ss[_NFAULTS] & G_DUE_MASK  # due at once
    ss[_GPHEAD] = (ss[_GPHEAD] + 1) & (G_PROOFS - 1)


@njit(cache=True, nogil=True)
def guarded_decide(cells: np.ndarray, ss: np.ndarray, slots: int, near: int, page: int,
                   start: int, limit: int, private: np.ndarray, s0: int, vpn: int,
                   proc: int, family: np.ndarray, f0: int) -> int:
    """``GuardedPolicy.decide`` at ``page`` of the region ``[start, limit)``; ``private``
    (from offset ``s0``) is the page state before this fault (:data:`PAGE_WRITTEN`: written
    since it became private); ``vpn`` is the page's virtual page number (align values);
    ``proc`` the ordinal of the region's process (its ring bucket, :func:`region_bucket`);
    ``family`` (from offset ``f0``, at the decision's pages; empty: none) the family bitmap,
    1 where a process of the trace demand-faulted (``sibling_window`` reads it)."""
    if ss[_GINIT] == 0:
        ss[_GINIT] = 1
        ss[_GUSE] = ss[_GUSE + 1] = G_USE_ONE // 2
        ss[_GSLOW] = ss[_GSLOW + 1] = G_SLOW_ONE // 2
        ss[_GSIBUSE] = G_USE_ONE // 2
        for x in range(4 * G_DEPTH_BUCKETS):  # depth_cap: no outcome yet, not capped
            ss[_GDEPTH + x] = G_DEPTH_ONE
    # 0. version 4: interior proofs, round robin over the ring's pages of this region
    proof = cells[C_PROOF]
    look = cells[C_PLOOK]
    bucket = region_bucket(vpn - (page - start), limit - start, proc)
    own = proc & (G_PROCS - 1)  # a look reads only the entries this process copied
    # live entries not yet looked at: of every region, or (proof_look) of its bucket
    left = ss[_GPBLIVE + bucket] if look else ss[_GPLIVE]
    span = cells[C_PSPAN]
    db = bucket if look else 0  # proof_span's due index
    now = ss[_NFAULTS] & G_DUE_MASK
    # nothing to look at (or, with proof_span, nothing due before its bucket's due): the
    # cursor stays, no slot walked
    go = proof and left != 0 and not (
        span and g_before(now, ss[_GPBDUE + db]))
    duemap = cells[C_PDUEMAP]
    if go and duemap:
        if ss[_GWLIVE] and not g_before(now, ss[_GWDUE]):
            # a refresh: each waiting entry looked at, those due wait no longer
            wk = ss[_GWLIVE] * cells[C_WALKSCAN]
            if wk != 0 and ss[_GBUDGET] < wk:  # paid before it is taken
                go = False
                if span:  # the next fault looks again (proof_cutback: later)
                    ss[_GPBDUE + db] = (now + g_put_off(cells, ss, db, True, False)) \
                        & G_DUE_MASK
            else:
                g_pay(ss, T_SPEND_WALK, wk)
                ss[G_WALK_SCAN] += ss[_GWLIVE]  # charged proof_duescan_ns by the engine
                g_refresh(ss, now)
        if go:  # the look counts only the entries not waiting (none of those is due)
            left -= ss[_GBWAIT + bucket] if look else ss[_GWLIVE]
            if left == 0:
                go = False
                if span:  # none it counts is due before the soonest waiting one
                    ss[_GPBDUE + db] = ss[_GWDUE]
    if go:
        i0 = ss[_GPCURSOR]
        i = i0
        n = 0
        soon = G_DUE_MASK >> 1  # proof_span: faults until the soonest counted entry is due
        proved = False  # a read of this look found its page written
        steps = G_PROOFS
        if cells[C_PBACKOFF]:
            steps = min(G_BACKOFF_STEPS * cells[C_PREADS], G_PROOFS)
        cut = False
        for _ in range(steps):
            if n >= cells[C_PREADS] or left == 0:
                break
            if span and not g_in_span(ss, i):
                i = ss[_GPTAIL]  # past the newest entry: on from the oldest (no slot walked)
            due = duemap and (ss[_GPROOF + i] == 0 or ss[_GPWAIT + i] != 0)
            if due or (cells[C_PSKIPMAP] and ss[_GPROOF + i] == 0):
                # one jump to the next live slot (with the due map, the next one not waiting):
                # walk_due_ns, else paid as one empty slot (walk_empty_ns)
                wk = cells[C_WALKDUE] if due else cells[C_WALKEMPTY]
                if wk != 0 and ss[_GBUDGET] < wk:
                    cut = True
                    break
                g_pay(ss, T_SPEND_WALK, wk)
                # charged proof_duejump_ns / proof_jump_ns by the engine
                ss[G_WALK_DUE if due else G_WALK_JUMP] += 1
                j = g_next_live(ss, i)
                if span and i == ss[_GPTAIL] and ss[_GPROOF + i] == 0:
                    ss[_GPTAIL] = j  # the slots before the next live one are empty
                i = g_next_due(ss, i) if due else j
            v = ss[_GPROOF + i]
            # the budget pays a step before it is taken, at the price of the slot it steps to:
            # an empty one walk_empty_ns, a live one stepped over unread walk_ns, one it reads
            # nothing (its reads are in the copy's reserve): the gate is what is charged
            if v == 0:
                wk = cells[C_WALKEMPTY]
            elif start <= v - 1 < limit and (ss[_GPBUCKET + i] >> 4) == own and not (
                    cells[C_PBACKOFF] and g_before(now, ss[_GPDUE + i])):
                wk = 0
            else:
                wk = cells[C_WALK]
            if wk != 0 and ss[_GBUDGET] < wk:
                cut = True
                break
            over = -1  # stepped over unread: G_WALK_EMPTY + 0 an empty slot, + 1 a live entry
            if v == 0:
                over = 0  # an empty slot stepped over: proof_step_ns
            else:
                counted = not look or (ss[_GPBUCKET + i] & (G_BUCKETS - 1)) == bucket
                if counted:
                    left -= 1
                if not start <= v - 1 < limit or (ss[_GPBUCKET + i] >> 4) != own:
                    # another region's or process's (its faults read it): proof_skip_ns
                    over = 1
                    if counted:  # due for its own region's looks: look again at once
                        soon = 0
                elif cells[C_PBACKOFF] and g_before(now, ss[_GPDUE + i]):
                    over = 1  # not due yet: not read, not counted; proof_skip_ns
                    if counted:
                        soon = min(soon, (ss[_GPDUE + i] - now) & G_DUE_MASK)
                else:
                    n += 1
                    if private[s0 + v - 1] == PAGE_WRITTEN:  # written after its copy
                        proved = True
                        g_prove_entry(cells, ss, i)
                    else:
                        ss[G_UNPROVEN] += 1  # charged proof_read_ns by the engine
                        if cells[C_PTTL] != 0 or cells[C_PBACKOFF]:
                            ss[_GPMISS + i] += 1
                            if ss[_GPMISS + i] >= G_DEPTH_MISSES:  # depth_cap: counted once
                                g_depth_outcome(cells, ss, i, False)
                                ss[_GPDEPTH + i] = 0
                        if cells[C_PTTL] != 0 and ss[_GPMISS + i] >= cells[C_PTTL]:
                            g_drop(ss, i)  # leaves the ring, its reserve spent
                            g_depth_outcome(cells, ss, i, False)
                            if ss[_GPSTAKE + i] > 0:  # a sibling page expired: a miss
                                ss[_GSIBUSE] -= ss[_GSIBUSE] >> 4
                                if cells[C_SIBSTAKE] == 2:  # ... and the rest of its loss
                                    g_pay(ss, T_SPEND_SIB, cells[C_LOSS] - ss[_GPSTAKE + i])
                            if cells[C_USEPROOF]:  # expired unproven: a miss
                                c = ss[_GPCLS + i]
                                ss[_GUSE + c] -= ss[_GUSE + c] >> 4
                        elif cells[C_PBACKOFF]:  # read again 2^m faults later
                            shift = min(ss[_GPMISS + i], G_BACKOFF_MAX_SHIFT)
                            ss[_GPDUE + i] = (now + (1 << shift)) & G_DUE_MASK
                            if counted:
                                soon = min(soon, 1 << shift)
                            if duemap:  # jumped over until a refresh finds it due
                                g_wait(ss, i)
            if over >= 0:  # paid from the budget, charged by the engine
                ss[G_WALK_EMPTY + over] += 1
                g_pay(ss, T_SPEND_WALK, wk)
            if span and i == ss[_GPTAIL] and ss[_GPROOF + i] == 0:
                # the oldest slot is empty now: the span starts after it
                ss[_GPTAIL] = (i + 1) & (G_PROOFS - 1) if ss[_GPLIVE] else ss[_GPHEAD]
            i = (i + 1) & (G_PROOFS - 1)
        # fewer than proof_reads reads: every live entry seen (or, with backoff, the steps
        # spent); the full round ends at i0 (with proof_ttl or backoff the cursor stays where
        # the look ended: holes are not walked again, and a backoff look moves on; a look cut
        # by the budget too)
        ss[_GPCURSOR] = i if n >= cells[C_PREADS] or cells[C_PTTL] != 0 \
            or cells[C_PBACKOFF] != 0 or cut else i0
        if duemap and (ss[_GBWAIT + bucket] if look else ss[_GWLIVE]):
            wait = 0 if g_before(ss[_GWDUE], now) else (ss[_GWDUE] - now) & G_DUE_MASK
            soon = min(soon, wait)
        if span:  # all counted entries seen: none is due before the soonest of them
            soon = soon if left == 0 and not cut else 0
            ss[_GPBDUE + db] = (now + max(soon, g_put_off(cells, ss, db, cut, proved))) \
                & G_DUE_MASK
    # 1. sentinel check, and the allowance
    # region-relative: regions move in a process (sentinel_salt: plus the region's salt)
    salt = region_salt(vpn - (page - start), limit - start, proc) if cells[C_SALT] else 0
    t = (page - start + salt) & (G_SENTINELS - 1)
    tag = ss[_GTAGS + t]
    hit = tag != 0 and (tag >> 1) == page + 1
    if hit:
        c = tag & 1
        if sentinel_feeds_use(cells, ss, t):
            ss[_GUSE + c] += (G_USE_ONE - ss[_GUSE + c]) >> 4
            if cells[C_FSLOW]:
                ss[_GSLOW + c] += (G_SLOW_ONE - ss[_GSLOW + c]) >> cells[C_FSLOW]
        ss[_GHITS + c] += 1
        if not proof:  # version 4 credits only interior proofs
            g_earn(ss, T_ADD_CREDIT, ss[_GTRES + t] + ss[_GTPAGES + t] * cells[C_GAIN])
        ss[_GTAGS + t] = 0
    # 2. stream match, stride detector
    best, best_gap = -1, near + 1
    for i in range(slots):
        if ss[_VALID + i] and ss[_END + i] >= start:  # streams stay in the region
            gap = page - ss[_END + i]
            if 1 <= gap < best_gap:
                best, best_gap = i, gap
    prev = ss[_GPREV]
    delta = page - prev if ss[_GHASPREV] and start <= prev < limit else 0
    stride_hit = delta >= 2 and delta == ss[_GDELTA]
    ss[_GSTRIDE] = min(ss[_GSTRIDE] + 1, RUN_CAP) if stride_hit else 0
    ss[_GDELTA] = delta
    ss[_GPREV] = page
    ss[_GHASPREV] = 1
    if best >= 0:
        kind = 1 if best_gap == 1 else 2
        run = min(ss[_RUN + best] + 1, RUN_CAP)
        slot = best
    else:
        kind = 3 if stride_hit else 0
        run = ss[_GSTRIDE] if stride_hit else 0
        slot = lru_victim(ss, slots)
    cls = 0 if kind == 1 or kind == 2 else 1
    # run_cap: an exact continuation goes on with the slot's run; a near one starts a new run
    # here; the ended run's length is the previous one, kept, if its last window ended at that
    # length's last page, else its pages through its last fault
    if best >= 0 and best_gap == 1:
        rstart, rlen = ss[_GRSTART + best], ss[_GRLEN + best]
    elif best >= 0:
        rl, rs = ss[_GRLEN + best], ss[_GRSTART + best]
        rstart = page
        rlen = rl if rl > 0 and ss[_END + best] == rs + rl - 1 else ss[_GRLAST + best] - rs + 1
    else:
        rstart, rlen = page, 0
    rlen = min(rlen, G_RUN_LEN_MAX)
    # stride_window: a constant stride continuing (the detector), not an exact stream
    # continuation (a sequential writer's windows of constant k look like a stride k + 1)
    ws = delta if cells[C_STRIDEW] and stride_hit and kind != 1 else 0
    # 3. the cell: private neighbours p-3 .. p-1 within the region, sentinel hit rate
    left = 0
    for j in range(max(page - 3, start), page):
        if private[s0 + j]:
            left += 1
    left_s = 0  # stride_window: page-s, page-2s, page-3s private (the strided evidence)
    if ws:
        for j in range(1, 4):
            if page - j * ws >= start and private[s0 + page - j * ws]:
                left_s += 1
    # the allowance: hit_scale of it at a sentinel hit; else at every fault, or only where
    # there is evidence (at least grant private neighbours, or strided ones)
    if hit:
        g_earn(ss, T_ADD_ALLOW, cells[C_ALLOW] * cells[C_HITSCALE])
    elif cells[C_GRANT] == 0 or left >= cells[C_GRANT] or (ws and left_s >= cells[C_GRANT]):
        g_earn(ss, T_ADD_ALLOW, cells[C_ALLOW])
    use_b = min(ss[_GUSE + cls] >> 6, G_USE_BUCKETS - 1)
    cell = ((kind * RUN_BUCKETS + run_bucket(run)) * G_LEFT_BUCKETS + left) * G_USE_BUCKETS \
        + use_b
    # 4. the decision: the largest degree <= want whose worst case fits the budget
    want = cells[cell]
    align = want > MAX_ALIGN  # ALIGN | G: to the end of the aligned group, that degree too
    if align:
        g = want - ALIGN
        want = (g - 1) - (vpn & (g - 1))
    # run_cap: no further than the last page of a run as long as the previous one (a run
    # already longer: no cap); that degree tried first, as an align value's
    if cells[C_RUNCAP] and cls == 0 and rlen != 0 and not ws:
        rem = rstart + rlen - 1 - page
        if 0 <= rem < want:
            want = rem
            align = True
    # depth_cap: no deeper than the shallowest depth proven below break-even (depth 1 never
    # capped); a shortened decision relaxes that bucket towards 1.0; that degree tried first
    if cells[C_DEPTHCAP] and want > 1:
        row = 2 * cls + (1 if ws else 0)  # (class, strided window)
        dc = g_depth_limit(cells, ss, row)
        if dc < want:
            x = _GDEPTH + row * G_DEPTH_BUCKETS + g_depth_bucket(dc + 1)
            ss[x] += (G_DEPTH_ONE - ss[x]) >> G_DEPTH_RELAX
            want = dc
            align = True
    k = copied = reserved = 0
    empty = False  # k > 0 decided over pages all private: the window is dropped (issued 0)
    n_out = ss[_GHITS + cls] + ss[_GMISS + cls]  # floor_total: the lifetime hit rate too
    floored = ss[_GUSE + cls] < cells[C_FLOOR] or (
        cells[C_FTOTAL] != 0 and n_out > 0
        and ss[_GHITS + cls] * G_USE_ONE < cells[C_FLOOR] * n_out) or (
        cells[C_FSLOW] != 0 and ss[_GSLOW + cls] < cells[C_FLOOR] << 8)
    if want > 0:  # the tallies: asked, and held by the floor
        ss[G_TALLY + T_ASKED] += 1
        if floored:
            ss[G_TALLY + T_FLOOR] += 1
    row = 2 * cls + (1 if ws else 0)  # region_look: the fault's row, and what it may draw
    avail = take = 0
    if cells[C_REGIONLOOK] and ss[_GLKEY + row] == (bucket | (own << 4)) + 1:
        avail = ss[_GLATE + row]
        if cells[C_REGIONLOOK] == 2:  # a bounded release: at most what the budget holds
            avail = min(avail, max(ss[_GBUDGET], 0))
    if want > 0 and not floored:
        per = cells[C_LOSS]
        if cells[C_EXPECTED]:
            miss = max(G_USE_ONE - ss[_GUSE + cls], G_USE_ONE // 8)
            per = cells[C_LOSS] * miss // G_USE_ONE
        cap = want + 1  # protect: no window covers the live sentinel of a window that copied
        if cells[C_PROTECT]:
            for j in range(1, min(want, limit - 1 - page) + 1):
                tq = (page + j - start + salt) & (G_SENTINELS - 1)
                if (ss[_GTAGS + tq] >> 1) == page + j + 1 and ss[_GTPAGES + tq] > 0:
                    cap = j
                    break
        bw = bn = 0  # group_below: the pages below walked and copied (adjacent windows only)
        if cells[C_BELOW] and not ws:
            bw, bn = guarded_below(private, s0, page, start, vpn, cells[C_BELOW])
        tried = False  # a candidate degree below the cap (protect) was tried
        for di in range(cells[C_NDEG], -1, -1):  # want itself first when align
            if di == cells[C_NDEG]:
                if not align:
                    continue
                d = want
            else:
                d = cells[C_DEG + di]
                if align and d >= want:
                    continue
            if d > want or d == 0 or d >= cap:
                continue
            tried = True
            if ws:  # strided: and stride_ns per page walked
                walked, cp = guarded_strided(private, s0, page, d, limit, ws)
                fixed = cells[C_SETUP] + (walked - cp) * cells[C_SKIP] \
                    + walked * cells[C_STRIDENS]
            else:
                cp = guarded_shared(private, s0, page, d, limit) + bn
                walked = max(min(page + d, limit - 1) - page, 0) + bw
                fixed = cells[C_SETUP] + (walked - cp) * cells[C_SKIP]
            if cp * per + fixed <= ss[_GBUDGET] + avail:
                k, copied, reserved = d, cp, cp * per
                take = min(reserved + fixed, avail)  # region_look: the late reserve first
                ss[_GLATE + row] -= take
                g_pay(ss, T_SPEND_WINDOW, reserved + fixed - take)
                # a window that copies nothing (every page it read private, or none: the
                # region's end) is dropped: k = 0 issued, no work (its reserve stays paid;
                # sibling_window: kept)
                empty = copied == 0 and cells[C_SIB] == 0
                break
        if k > 0 and empty:  # the tallies: an empty window dropped
            ss[G_TALLY + T_EMPTY] += 1
        elif k > 0:  # a window granted (smaller than asked?), its pages
            ss[G_TALLY + T_WINDOWS] += 1
            ss[G_TALLY + T_SHORT] += k < want
            ss[G_TALLY + T_PAGES] += copied
            ss[G_TALLY + T_STRIDED] += ws != 0
        else:  # refused: the budget (or protect's cap) held every candidate; and why
            ss[G_TALLY + T_REFUSED] += 1
            if ss[_GBUDGET] < cells[C_SETUP]:  # (the budget is as before the candidates)
                ss[G_TALLY + T_REFUSED_SETUP] += 1
            elif not tried and cap <= want:
                ss[G_TALLY + T_REFUSED_PROTECT] += 1
            else:
                ss[G_TALLY + T_REFUSED_FIT] += 1
    step = ws if ws else 1  # the window's pages: page + step, page + 2 step, ..
    # its last page (clipped at the region; a strided window may hold none: page)
    if ws:
        end = page + (min(k, (limit - 1 - page) // ws) * ws if k > 0 else 0)
    else:
        end = max(min(page + k, limit - 1), page)
    kq = 0 if empty else k  # the window issued: the decision's state keeps k (its end)
    ss[G_WIN_STRIDE] = ws if kq > 0 else 0  # the engine applies the strided window
    below = bw if kq > 0 else 0
    ss[G_WIN_BELOW] = below  # ... and the pages below it (group_below)
    # sibling_window W: past the adjacent window (not after a strided one), the pages up to
    # page + W that a process of the trace demand-faulted (family bit) and that are still
    # shared here, staked as window pages (a skipped family page costs skip_ns, the setup is
    # paid when no adjacent window paid it), as many from the first as the budget holds,
    # whatever the table wants
    sib = 0
    # each sibling page's stake: its loss, or (sibling_stake) its expected loss at the
    # sibling pages' proof rate (at least 1/8 of it); 0 in the ring: the loss
    per = cells[C_LOSS]
    if cells[C_SIBSTAKE]:
        per = cells[C_LOSS] * max(G_USE_ONE - ss[_GSIBUSE], G_USE_ONE // 8) // G_USE_ONE
    # sibling_gate m: the window opens only while the sibling pages' saved rate is above
    # break-even by the margin; shut, a ghost window marks the pages it would copy (the high
    # bits of the family byte: the marking process's ordinal + 1, bits 1..5, and the epoch,
    # bits 6..7), and a later demand fault of that process on a page marked in this epoch
    # is a hit; its own adjacent window taking such a page takes the mark back (neither hit
    # nor miss); a mark of an older epoch is only cleared
    gate = True
    mine = own + 1
    if cells[C_SIBGATE] and family.shape[0] > 0:
        tag = mine | (ss[_GGEPOCH] << 5)
        if (family[f0 + page] >> 1) & 31 == mine:
            if family[f0 + page] >> 1 == tag:
                g_gate_add(ss, 0, 1)
            family[f0 + page] &= 1
        if not ws:
            for j in range(page + 1, end + 1):
                if (family[f0 + j] >> 1) & 31 == mine:
                    if family[f0 + j] >> 1 == tag:
                        ss[_GGMARK] = max(ss[_GGMARK] - 1, 0)
                    family[f0 + j] &= 1
        gate = g_gate_open(cells, ss)
    if cells[C_SIB] and family.shape[0] > 0 and not (ws and k > 0):
        if cells[C_SIBGATE]:  # the tallies: the gate's verdict
            ss[G_TALLY + (T_GATE_OPEN if gate else T_GATE_SHUT)] += 1
        if gate:
            sib, stake = guarded_sibling(private, s0, family, f0, end + 1,
                                         min(page + cells[C_SIB], limit - 1), per,
                                         cells[C_SKIP], cells[C_SETUP] if k == 0 else 0,
                                         ss[_GBUDGET])
            g_pay(ss, T_SPEND_SIB, stake)
            if sib:  # the tallies: a sibling window, and its pages
                ss[G_TALLY + T_SIB_WINDOWS] += 1
                for j in range(end + 1, sib + 1):
                    if family[f0 + j] & 1 and private[s0 + j] == 0:
                        ss[G_TALLY + T_SIB_PAGES] += 1
        else:  # the ghost window: marks, copies nothing, costs nothing
            for j in range(end + 1, min(page + cells[C_SIB], limit - 1) + 1):
                tag = mine | (ss[_GGEPOCH] << 5)
                if family[f0 + j] & 1 and private[s0 + j] == 0 and family[f0 + j] >> 1 != tag:
                    family[f0 + j] = 1 | (tag << 1)
                    g_gate_add(ss, 1, 0)
    ss[G_WIN_SIB] = sib - page if sib else 0  # the engine applies it
    # region_look 3: a window that drew on a late reserve keeps its copies' credit there
    rowq = row + (4 if cells[C_REGIONLOOK] == 3 and take > 0 else 0)
    if proof and kq > 0:  # version 4: the copied pages await their proofs (below ones first)
        for jj in range(-below, (end - page) // step + 1):
            j = page + jj if jj < 0 else page + jj * step
            if jj != 0 and private[s0 + j] == 0:
                if cells[C_LASTLOOK] or cells[C_REGIONLOOK]:
                    g_last_look(cells, ss, private, s0, start, limit, own)
                ss[_GPROW + ss[_GPHEAD]] = rowq  # (region_look)
                g_ring_put(cells, ss, bucket, own, cls, j, 0,
                           g_depth_bucket(jj) + 1 + (8 if ws else 0) if jj > 0 else 0)
    if proof and sib:  # ... and the sibling window's
        for j in range(end + 1, sib + 1):
            if family[f0 + j] & 1 and private[s0 + j] == 0:
                if cells[C_LASTLOOK] or cells[C_REGIONLOOK]:
                    g_last_look(cells, ss, private, s0, start, limit, own)
                ss[_GPROW + ss[_GPHEAD]] = rowq  # (region_look)
                g_ring_put(cells, ss, bucket, own, cls, j, per if cells[C_SIBSTAKE] else 0)
                if cells[C_SIBGATE]:  # sibling_gate: a copied sibling page is a mark
                    g_gate_add(ss, 1, 0)
    # 5. commit: the slot, and the sentinel just past the window (if it is still shared)
    ss[_NFAULTS] += 1
    ss[_VALID + slot] = 1
    ss[_END + slot] = end
    ss[_RUN + slot] = run if cls == 0 else 0
    ss[_STAMP + slot] = ss[_NFAULTS]
    ss[_GRSTART + slot] = rstart
    ss[_GRLEN + slot] = rlen
    ss[_GRLAST + slot] = page
    if ws:  # the detector goes on from a strided window's last page (the next fault, at
        ss[_GPREV] = end  # end + s, continues the stride)
    s = end + step
    # The window is not applied yet: its pages are private-to-be, and s is past it. The
    # sentinel is the first shared page within scan pages (strided: scan strides) past the
    # window's end, in its column.
    # (sibling_window: the sibling window's pages are private-to-be too)
    while s < limit and (private[s0 + s] != 0 or (s <= sib and family[f0 + s] & 1)) \
            and s <= end + cells[C_SCAN] * step:
        s += step
    if s < limit and private[s0 + s] == 0 and not (s <= sib and family[f0 + s] & 1):
        t = (s - start + salt) & (G_SENTINELS - 1)
        old = ss[_GTAGS + t]
        if cells[C_MERGE] and (old >> 1) == s + 1:
            # an earlier window has the same sentinel: one hit proves both ends
            copied += ss[_GTPAGES + t]
            reserved += ss[_GTRES + t]
        elif cells[C_PROTECT] and copied == 0 and old != 0 and ss[_GTPAGES + t] > 0:
            return kq  # protect: a window that copied nothing does not evict a proof
        elif old != 0:  # an unresolved sentinel leaves the table: its window's end was not reached
            oc = old & 1
            if sentinel_feeds_use(cells, ss, t):
                ss[_GUSE + oc] -= ss[_GUSE + oc] >> 4
                if cells[C_FSLOW]:
                    ss[_GSLOW + oc] -= ss[_GSLOW + oc] >> cells[C_FSLOW]
            ss[_GMISS + oc] += 1
        ss[_GTAGS + t] = ((s + 1) << 1) | cls
        ss[_GTPAGES + t] = copied
        ss[_GTRES + t] = reserved
    return kq


@njit(cache=True, nogil=True, forceinline=True)
def program_decide(code: int, static_k: int, cells: np.ndarray, max_k: int, ss: np.ndarray,
                   slots: int, near: int, page: int, limit: int, start: int,
                   private: np.ndarray, s0: int, vpn: int, proc: int, family: np.ndarray,
                   f0: int) -> int:
    """The degree a program picks at ``page`` of the region ``[start, limit)`` (and its
    state update); ``private`` from offset ``s0`` is the page state (guarded reads it), ``vpn``
    the page's virtual page number (guarded's align values read it), ``proc`` the ordinal of
    the region's process (guarded's ring bucket), ``family`` from ``f0`` the family bitmap
    (guarded's ``sibling_window``)."""
    if code == STATIC:
        return static_k
    if code == GUARDED:
        return guarded_decide(cells, ss, slots, near, page, start, limit, private, s0, vpn,
                              proc, family, f0)
    cell, slot, matched, gap, run, slot_k = stream_observe(ss, slots, near, page, start)
    if code == TABLE:
        k = cells[cell]
    else:
        k = readahead_k(matched, gap, slot_k, max_k)
    stream_commit(ss, slot, run, page, limit, k)
    return k


def program_args(program: Any) -> tuple[int, int, np.ndarray, int, int, int]:
    """``(code, static_k, cells, max_k, slots, near)`` of a ``KernelProgram``."""
    if program.mode == "static":
        return STATIC, int(program.k), np.zeros(N_CELLS, dtype=np.int64), 0, 1, 1
    t = program.table
    if t["decide"] == "guarded":
        for field in ("stride_gate", "stride_clip"):  # prototype-only simulator studies
            if int(t.get(field, 0)):
                raise ValueError(f"guarded {field}: 1 has no compiled simulator form "
                                 "(GuardedPolicy decides it in Python)")
        return GUARDED, 0, guarded_cells(t), 0, int(t["slots"]), int(t["near"])
    cells = np.asarray(t.get("cells") or [0] * N_CELLS, dtype=np.int64)
    return (DECIDE_CODES[t["decide"]], 0, cells, int(t.get("max_k", 0)), int(t["slots"]),
            int(t["near"]))


def walk_prices(t: dict[str, Any]) -> tuple[int, int]:
    """``(walk_ns, walk_empty_ns)`` of a guarded program: what the budget pays per live entry
    and per empty ring slot a look steps over unread. A program without ``walk_empty_ns``
    (built before it) has one price, ``walk_ns`` for both, and decides as it did."""
    walk = int(t.get("walk_ns", 0))
    return walk, int(t.get("walk_empty_ns", walk))


def guarded_cells(t: dict[str, Any]) -> np.ndarray:
    """A guarded program's ``cells`` array: its table, then its constants and degrees."""
    degrees = sorted(int(d) for d in t["degrees"])
    out = np.zeros(C_DEG + len(degrees), dtype=np.int64)
    out[:G_CELLS] = np.asarray(t["cells"], dtype=np.int64)
    for col, key in ((C_GAIN, "gain_ns"), (C_LOSS, "loss_ns"), (C_SETUP, "setup_ns"),
                     (C_SKIP, "skip_ns"), (C_ALLOW, "allowance_ns"), (C_FLOOR, "floor"),
                     (C_EXPECTED, "expected_loss")):
        out[col] = int(t[key])
    for col, key in ((C_GRANT, "grant_left"), (C_SCAN, "scan"), (C_MERGE, "merge"),
                     (C_PROTECT, "protect")):
        out[col] = int(t.get(key, 0))
    out[C_HITSCALE] = int(t.get("hit_scale", 1))
    out[C_PROOF] = int(t.get("proof", 0))
    out[C_PREADS] = int(t.get("proof_reads", 0))
    out[C_PTTL] = int(t.get("proof_ttl", 0))
    out[C_USEPROOF] = int(t.get("use_proof", 0))
    out[C_PBACKOFF] = int(t.get("proof_backoff", 0))
    out[C_WALK], out[C_WALKEMPTY] = walk_prices(t)
    out[C_PLOOK] = int(t.get("proof_look", 0))
    out[C_PSPAN] = int(t.get("proof_span", 0))
    out[C_FTOTAL] = int(t.get("floor_total", 0))
    out[C_FSLOW] = int(t.get("floor_slow", 0))
    out[C_PSKIPMAP] = int(t.get("proof_skipmap", 0))
    out[C_PDUEMAP] = int(t.get("proof_duemap", 0))
    out[C_WALKDUE] = int(t.get("walk_due_ns", 0))
    out[C_WALKSCAN] = int(t.get("walk_scan_ns", 0))
    out[C_PCUTBACK] = int(t.get("proof_cutback", 0))
    out[C_READ] = int(t.get("read_ns", 0))
    out[C_STRIDEW] = int(t.get("stride_window", 0))
    out[C_STRIDENS] = int(t.get("stride_ns", 0))
    out[C_BELOW] = int(t.get("group_below", 0))
    out[C_SIB] = int(t.get("sibling_window", 0))
    out[C_SIBSTAKE] = int(t.get("sibling_stake", 0))
    out[C_SIBGATE] = int(t.get("sibling_gate", 0))
    out[C_SALT] = int(t.get("sentinel_salt", 0))
    out[C_RUNCAP] = int(t.get("run_cap", 0))
    out[C_DEPTHCAP] = int(t.get("depth_cap", 0))
    out[C_LASTLOOK] = int(t.get("last_look", 0))
    out[C_REGIONLOOK] = int(t.get("region_look", 0))
    out[C_NDEG] = len(degrees)
    out[C_DEG:] = degrees
    return out
