"""``guarded``: a table over a richer context, with sentinel feedback and a run-time back-off.

Everything here is integer state the kernel module can keep per region, updated only from
what it sees at its own demand faults; nothing reads the trace's future.

**Context** (one cell per fault, :data:`N_CELLS` cells):

* ``kind``: how the fault relates to recent faults. Stream slots as in
  :mod:`cowrl.policies.context` (each remembers its last window's end): ``exact`` = the
  fault is the page right after a stream's window (the window was used to its end),
  ``near`` = 2..``near`` pages after it (a strided or gapped stream); otherwise
  ``stride`` = the same distance from the previous fault as that fault had from the one
  before (a column sweep, any stride), else ``miss``.
* ``run``: the matched stream's consecutive matches (or the stride's repeats), bucketed.
* ``left``: how many of the 3 pages just below the faulting page, within its region, are
  already private (written or precopied; a page outside the region counts as shared): the
  density of the neighbourhood, which tells dense fills in random order (arenas, a column
  sweep's later passes) from scattered writes. The module reads 3 PTEs.
* ``use``: the sentinel hit rate of this fault's class (stream faults, other faults),
  bucketed in quarters.

**Sentinels.** After deciding ``k`` at page ``p``, the page right after the window,
``s = p + k + 1``, stays shared; it is recorded in a direct-mapped table of
:data:`SENTINELS` entries (tag = ``s + 1`` with the class bit). A later demand fault on
``s`` is a *hit*: the writes reached the end of the window (for ``k = 0``: the neighbour was
written, so a window of 1 would have paid). A sentinel overwritten in the table before
being hit is a *miss*. Each class keeps the hit rate as an EWMA (weight 1/16, fixed point
``USE_ONE = 256``). This is the feedback the module lacked: a precopied page that is later
written takes no fault, but the sentinel just past it does. When the page right after the
window is already private, the sentinel is the first shared page at most ``scan`` pages
further (a column sweep's later passes), so that such windows can be proven too.

*Version 3 options* (off by default: measured, not adopted; docs/policies.md) keep proofs
from being lost where writes come in random order (object arenas): with ``protect``, no
window covers the live sentinel of a window that copied pages (a covered sentinel turns
private without a fault and is never hit), and a window that copied nothing (a ``k = 0``
probe) does not evict such a sentinel from the table; with ``merge``,
two windows whose sentinels fall on the same page share its proof. Neither adds credit:
the loss bound below is unchanged. ``hit_scale`` (1 by default) lets a sentinel hit add
several allowances (a faster ramp, at the price of a looser bound); ``floor`` keeps
``k = 0`` while the fault's class has a sentinel hit rate below it.

``floor_total`` (0 by default = the decisions above; measured, not adopted: docs/policies.md,
"Waste on uniform random", "The last window on `random_0`"; not in the module's table, which
refuses it): with 1 the floor also holds ``k = 0`` while the class's *lifetime* sentinel hit
rate, ``hits / (hits + misses)`` (every sentinel outcome of the region so far; none yet
passes, as ``use`` starts at 1/2), is below ``floor / USE_ONE``. The EWMA ``use`` (weight
1/16) remembers about 16 outcomes and wanders about 0.1 around a rate near 1/2: a class whose
writes are uniform random crosses the floor now and then. It only takes windows away: the
bound is unchanged. ``floor_slow`` (0 by default; ``s`` in :data:`FLOOR_SLOW` needs
``use_proof: 0``; measured on the development draws, a candidate, same section; in the
module's table at offset 752 since the 760-byte payload, ABI 10) does the same with a
second EWMA of the same sentinel outcomes, of weight ``1 / 2 ** s``, kept with 8 more bits
(:data:`SLOW_ONE`) so that its steps are not lost to truncation: a longer memory than
``use``'s that still forgets.

**Decision.** ``want = table[cell]``. The run-time safety net is a *risk budget* ``B``
(ns, per region): a demand fault with evidence of use (it hits a sentinel, or at least
``grant_left`` of its 3 left neighbours are private; every fault when ``grant_left = 0``)
adds ``budget_per_mille`` of a demand fault's cost;
a window reserves its worst case, ``copied * loss + setup + skipped * skip`` (every page
it copies wasted; setup and already-private window pages are spent whatever happens);
a hit on its sentinel gives the reserve back plus ``copied * gain`` (its pages were
written: they saved their faults). ``k`` is the largest degree ``<= want`` whose reserve
fits in ``B``, else 0. While sentinels are honest (a hit window was used), the loss over
``k = 0`` therefore never exceeds the allowance (1% of the demand-fault cost by default):
precopy is financed only by gains already proven. A sentinel proves the end of its
window, not its interior: a strided stream whose window ends on a written page can fool
it (measured in docs/policies.md).

**Inert** (:attr:`GuardedPolicy.inert`). Every credit of the budget is an allowance (per
fault, or ``hit_scale`` of it at a sentinel hit), a sentinel's refund of a window that copied
pages, or an interior proof of a copied page; the last two need a window first, and every
window (``k > 0``) costs at least ``setup_ns``. A policy whose allowance is 0 (no
``budget_per_mille``, or :meth:`GuardedPolicy.for_cost` under a cost model where precopy
cannot pay: ``tcg``) and whose ``setup_ns > 0`` therefore decides ``k = 0`` at every fault,
whatever its table. It is deployed as what it is: the module's STATIC mode with ``k = 0``
(no run-time decision, priced so by the simulator), decided once when it is built.

**Align values** (since 2026-12-02). A table value ``ALIGN | G`` (256 + G, G a power of
two in 2..64) asks for the rest of the fault's aligned group of G pages: the degree
``(G - 1) - (vpn mod G)`` at virtual page number ``vpn`` (:attr:`FaultContext.vpn_offset`;
the module reads ``addr >> PAGE_SHIFT``), what allocators align pools, slabs and arenas to.
The budget decides as for any window: that degree if it fits, else the largest smaller
degree of ``degrees`` that does, else 0.

**Version 4: interior proofs** (``proof = 1``; off by default until the module's side is
proven). Every page a window copies (shared in the window) enters a ring of
:data:`PROOFS` entries. At each demand fault, before the rest, at most ``proof_reads``
ring entries of the faulting region are looked at, round robin: an entry whose page was
written after its copy (the module reads the dirty bit of the copy; the simulator the
engine's page state, :attr:`FaultContext.page_state`) is *proven*: it returns its reserve
(``loss``) plus ``gain`` to the budget and leaves the ring. An entry overwritten when the
ring wraps keeps its reserve spent. Sentinel hits then add no credit (they still feed
``use`` and the hit allowance). A credit thus needs a real write to a copied page, which no
pattern of writes can fake, so the loss over ``k = 0`` never exceeds the allowances
granted, for any table (``expected_loss`` is excluded: a proof returns the whole loss).

``use_proof`` (off by default; measured, not adopted: docs/policies.md, "``use`` from
interior proofs"; not in the module's table, which refuses it) feeds ``use`` from the ring
instead of the sentinels of windows that copied pages: a proven page is a hit for the class
of the window that copied it (each ring entry keeps that class), an entry that expires
(``proof_ttl``) or is overwritten unproven a miss. With 1 the sentinels of windows that
copied nothing (``k = 0`` probes) still count, with 2 no sentinel does. It needs ``proof =
1``; it moves only the cell, never the budget, so the loss bound is unchanged.

``proof_backoff`` (0 by default = the decisions above; 1 needs ``proof = 1``;
docs/policies.md, "Backoff of proof reads"): an entry read and found unwritten ``m`` times
is not read again until ``2 ** min(m, BACKOFF_MAX_SHIFT)`` demand faults (of the state, all
its regions) have passed since that read: each entry keeps the fault number at which it is
next due (32 bits, compared modulo 2 ** 32). The look steps over an entry not yet due
without reading its page; such an entry does not count against ``proof_reads``, and the
look ends after at most ``BACKOFF_STEPS x proof_reads`` ring slots (32 at 8 reads, instead
of :data:`PROOFS`): stepping over entries is not free (about 12 instruction-ns a slot).
``proof_ttl`` still bounds the unproven reads per copy (the budget's reserve and the bound
are unchanged; with ``proof_ttl = 0`` they stay unbounded and unreserved, only spaced), but
those reads now span up to about ``2 ** proof_ttl`` faults instead of ``proof_ttl x
occupancy / proof_reads``: a copy written late (a column sweep, a tile's next column,
another stream's turn) is still proven.

``walk_ns`` and ``walk_empty_ns`` (0 by default = the decisions above; need ``proof = 1``;
:meth:`GuardedPolicy.for_cost` sets them from the cost model, :func:`walk_price` and
:func:`walk_empty_price`; docs/policies.md, "The walk and the re-measured read, charged" and
"Two walk prices"): the budget pays the look's walk, at two prices: ``walk_empty_ns`` per empty
ring slot, ``walk_ns`` per live entry stepped over unread. Before each ring slot it steps
to, the look needs ``budget >=`` what that slot will be charged (``walk_empty_ns`` if it is
empty, ``walk_ns`` if it is another region's or not yet due, nothing if it is read), else it
ends there (the cursor stays, the next look goes on); each slot stepped over unread (empty,
another region's, not yet due) takes its price from the budget. A read's step is not
debited, nor gated (since session 26: before, a read was gated on ``walk_ns``): its cost is
in the clean and the ``proof_ttl`` reads each copy reserves. The budget
never goes negative and each price is at least what the engine charges for its slot
(``proof_step_ns``, ``proof_skip_ns``), so the loss over ``k = 0``, the walk included, never
exceeds the allowances granted. ``walk_empty_ns`` not given = ``walk_ns`` (one price, the
decisions before 2026-12-03 07:00 UTC; ``walk_ns: 0`` alone = the walk not paid at all).

``read_credit`` (0 by default = the decisions above; 1 needs ``proof = 1``, and credits nothing
with ``proof_ttl = 0``, which reserves no read; docs/policies.md, "Crediting the unused proof
reads"): a proven copy also gets back the reads it did not use. Each copy reserves ``t``
unproven reads in its loss, but a copy proven after ``m < t`` unproven reads (its entry's
``proof_miss``; the proving read is in the clean's price) cost only ``m``: its proof credits
``loss + gain + (t - m) * read_ns``, where :meth:`GuardedPolicy.for_cost` sets ``read_ns =
floor(proof_read_ns)`` (0 without ``read_credit``). Its gain is already net of all ``t`` reads,
so the credit is at most what the copy really saved (``int`` and ``floor`` round both down) and
the bound is unchanged.

``proof_look`` (0 by default = the look above; 1 needs ``proof = 1``; docs/policies.md,
"Own-bucket proof looks"): which live entries a look counts down before it ends. With 0 it
keeps walking while the ring holds live entries it has not looked at, of *any* region
(``proof_live``), though it reads only its own region's: an entry no look of the faulting
region can read (a finished region's copies) keeps every look walking, and paying the walk,
until the budget is drained. With 1 every ring entry keeps its region's bucket
(:func:`region_bucket`: a hash of the region's first virtual page number mod 512 and its
size in pages, what the module reads from the VMA, plus the ordinal of the region's process
(:attr:`FaultContext.proc`), mod 16: the children of a fork hold their copies of a region at
the same address and size and share the module's state), the state counts the live entries per
bucket (:data:`BUCKETS`), and a look starts from its bucket's count and counts down only the
live entries of its bucket it steps over or reads: it ends once it saw them. Regions that
share a bucket walk over each other's entries as with 0. The walk stays paid as above, so
the bound is unchanged.

Whatever the table, every ring entry keeps the ordinal of the process whose fault copied it
(:attr:`FaultContext.proc`), and a look takes an entry of another ordinal as another region's:
stepped over unread (``walk_ns``), its page state not read, its ``proof_miss`` not aged. The
children of a fork hold their copies of a region at the same pages in the module, where a
look read its siblings' entries and checked its own page table (an unproven read). With one
process, or processes whose regions lie at distinct pages (the simulator's layout: another
process's entry is another region's anyway), nothing changes.

``proof_span`` (0 by default = the look above; 1 needs ``proof_backoff = 1``;
docs/policies.md, "Column sweeps held out: where the windows go"): every slot outside the
ring's span ``[proof_tail, proof_head)`` (the whole ring when they are equal and an entry is
live) is empty; a look never walks there: past the newest entry it goes on from the oldest
slot (no slot walked in between), and an oldest slot it finds empty moves ``proof_tail`` on.
A new entry in an empty ring starts the span, one over a full span moves it. And per bucket
(with ``proof_look`` 0, one for the state) the fault number before which no entry the
bucket's looks count is due: a look is skipped (no slot walked) before it; a look that saw
every entry it counts, not cut, sets it to their soonest due fault, any other look to now; a
new entry to now. Only slots are skipped, each slot walked is still paid, so the bound is
unchanged.

``proof_cutback`` (0 by default = the look above; s in 1..16 needs ``proof_span = 1``;
docs/policies.md, "A starved look put off"): per bucket the count ``c`` of looks cut by the
budget since the bucket's last proof (at most ``s``; a proof clears it); while ``c > 0`` a
look sets the bucket's due fault at least ``2 ** c`` faults on (a cut one after counting
itself), so a budget too low for the walk gathers allowances instead of paying every
fault's to the walk. Looks are only put off, each step still paid: the bound is unchanged.

``proof_skipmap`` (0 by default = the look above; 1 needs ``proof = 1``; docs/policies.md,
"The ring's holes jumped, not walked"): a look that comes to an empty slot jumps to the next
live one (cyclic; the module scans its bitmap of live slots, :meth:`GuardedContext.next_live`
here) and pays ``walk_empty_ns`` once for the jump (:func:`walk_empty_price`: the cost model's
``proof_jump_ns``, which the engine charges per jump), instead of that price per empty slot.
Every pass of the look then visits one live entry: the backoff bound counts entries, not
slots. A jump from ``proof_tail`` moves it to the slot it lands on. The budget still pays
every jump before it is taken, so the bound is unchanged.

``last_look`` (0 by default = the decisions above; 1 needs ``proof = 1``; a simulator study,
session 43, docs/results/last-look-s43.md; not in the module's table, which refuses it): when
a window's copy is about to take a ring slot that holds a live entry (the ring has wrapped:
today that entry leaves unproven, its reserve spent), that entry's page is read once first,
with a look's reading rule (an entry of the faulting region and of the faulting process's
ordinal; any other is overwritten unread, as without the option). Found written after its
copy, it is proven exactly as a look's read proves it (:meth:`GuardedPolicy.prove_entry`: the
same credit, ``read_credit`` included, the same ``use_proof``, sibling and ``depth_cap``
bookkeeping) and the slot is taken as an empty one; found unwritten, it is overwritten as
without the option and the read is an unproven proof read, which the engine charges
``proof_read_ns`` as a look's (:attr:`FaultContext.unproven_reads`, the compiled program's
``G_UNPROVEN``). *The bound.* Each copy is overwritten at most once, so a copy gets at most
one last look. A live entry has had ``m`` unproven reads with ``m < proof_ttl``: an entry whose
``m`` reached ``proof_ttl`` has expired (left the ring) and cannot be overwritten, so the
case ``m == proof_ttl`` never arises. The last look is then the copy's ``(m + 1)``-th unproven
read, ``m + 1 <= proof_ttl``: within the ``proof_ttl`` reads the copy's reserve ``loss``
already holds, so an unproven last look spends nothing outside the reserve. A proving last look
credits what a proving look would (its read, like a look's proving read, is in the clean's
price; with ``read_credit`` the ``proof_ttl - m`` reads it did not use, ``m`` its unproven
reads, the last look not being one of them), which needs a real write to the copied page.
So the loss over ``k = 0`` still never exceeds the allowances granted. (With ``proof_ttl = 0``
reads are unreserved, a look's as a last look's, as said under ``proof_backoff``.)

``region_look`` (0 by default = the decisions above; 1 or 2 need ``proof = 1`` and exclude
``last_look = 1``, whose last look it contains; a simulator study, session 44,
docs/results/region-look-s44.md; not in the module's table, which refuses it): the last look
of ``last_look``, unchanged, but the credit of an entry it proves does not go to the budget:
it goes to a *late reserve* of the entry's row, ``2 x class + strided`` of the window that
copied it (four rows, :attr:`GuardedContext.late`), kept for the entry's ring key (its region
bucket and process ordinal, :attr:`GuardedContext.late_key`); credit of another key forfeits
what the row held and takes the row. A fault's window may use, beyond the budget, the
reserve of its own row (its class; strided or not) when the reserve's key is the fault's
region: ``avail`` is that reserve with 1, and ``min(reserve, max(budget, 0))`` with 2 (a
bounded release: the late credit at most doubles what the budget itself finances). The
degree test is ``worst case <= budget + avail``; a granted window pays ``min(cost, avail)``
from the reserve and the rest from the budget. Walk prices, sibling stakes, the floor and
the allowances use the budget alone. *The bound.* Every credit a late reserve receives is
one ``last_look`` would add to the budget for a copy found written (its bound, above); a
window is granted only if its worst case fits in the budget plus one reserve, and it takes
neither below zero (the budget pays ``cost - min(cost, avail) <= budget``); a forfeited
reserve is credit never spent. The spending therefore never exceeds the allowances plus
the proven credits, and the loss over ``k = 0`` still never exceeds the allowances granted:
the option only restricts where (and with 2 how fast) the last look's credit is spent.
With 3 (as 1; section 5 of the doc) a window that drew on a late reserve marks its copies'
ring entries (:attr:`GuardedContext.proof_latefin`): their proofs, by a look or a last look,
credit that reserve too, not the budget, so that what the late credit buys and earns stays
with its row and region; a proof still needs a real write, and a credit moved from the
budget's reach to a reserve's is only further restricted: the bound is unchanged.

**Learning.** The table is learned offline in the simulator (:func:`learn_table`) with
full information: at every fault the hindsight reward of every candidate degree is known
from the trace, so each cell sums the reward of every arm (a contextual bandit with full
feedback) and the table is the argmax, iterated a few passes under its own behaviour (with
the budget and epsilon exploration). Train it on the randomized distribution only
(:func:`cowrl.traces.generators.randomized`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cowrl.errors import ConfigError
from cowrl.policies.base import FaultContext, KernelProgram, Policy
from cowrl.sim.costmodel import CostModel
from cowrl.sim.programs import (
    ALIGN,
    G_BUCKETS,
    G_GATE_DECAY,
    G_GATE_MIN,
    G_PROCS,
    RUN_BUCKETS,
    SIM_STUDY_OPTIONS,
    region_bucket,
    region_salt,
    run_bucket,
)
from cowrl.traces.io import Trace

KINDS = ("miss", "exact", "near", "stride")
LEFT_BUCKETS = 4  # 0..3 private pages among p-3..p-1
USE_BUCKETS = 4
N_CELLS = len(KINDS) * RUN_BUCKETS * LEFT_BUCKETS * USE_BUCKETS
USE_ONE = 256
SLOW_ONE = USE_ONE << 8  # fixed-point 1.0 of floor_slow's EWMA (8 more bits than use)
FLOOR_SLOW = range(5, 13)  # floor_slow's weights 1 / 2 ** s (0: off)
SENTINELS = 256  # direct-mapped sentinel table entries per region
DEGREES: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 32, 64)
STREAM, OTHER = 0, 1
RUN_LEN_MAX = 4096
"""run_cap: a previous run's length is kept up to this many pages (a u16 in a module)."""
# depth_cap (a simulator study, session 41; docs/results/depth-cap-s41.md): per row (the
# window's class, STREAM or OTHER, x adjacent or strided: 2 * cls + strided) and per depth
# bucket of a window page's position j in its window (1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+:
# min(log2 j, 6)), an EWMA of its copies' outcomes: 1 when a proof finds the copy written; 0 at
# its DEPTH_MISSES-th unproven read (with proof_backoff about 2 ** DEPTH_MISSES faults after
# the copy; counted once) or when it expires (proof_ttl) before; an entry overwritten before
# either counts nothing. Fixed point DEPTH_ONE, weight 1 / 2 ** DEPTH_SHIFT, from DEPTH_ONE
# (no outcome yet: above any break-even, not capped). A decision the cap shortens relaxes the
# failing bucket by 1 / 2 ** DEPTH_RELAX towards DEPTH_ONE (a capped depth gets no outcomes:
# without it the cap could never lift).
DEPTH_BUCKETS = 7
DEPTH_ONE = 1 << 12
DEPTH_SHIFT = 4
DEPTH_RELAX = 8
DEPTH_MISSES = 5
MAX_SCAN = 64  # pages read past a window for its sentinel (COWRL_GUARDED_MAX_SCAN)
MAX_HIT_SCALE = 16  # allowances a sentinel hit may add (COWRL_GUARDED_MAX_HIT_SCALE)
PROOFS = 128  # ring of copied pages awaiting a proof (COWRL_GUARDED_PROOFS)
MAX_PROOF_READS = 16  # ring entries read per fault (COWRL_GUARDED_MAX_PROOF_READS)
MAX_PROOF_TTL = 255  # unproven reads before an entry leaves the ring (COWRL_GUARDED_MAX_PROOF_TTL)
# proof_backoff: an entry read unwritten m times waits 2 ** min(m, BACKOFF_MAX_SHIFT) faults
# before its next read (COWRL_GUARDED_BACKOFF_MAX_SHIFT); due fault numbers are kept mod 2 ** 32.
BACKOFF_MAX_SHIFT = 16
# ... and a look then walks at most BACKOFF_STEPS x proof_reads ring slots (empty, of another
# region, not yet due, or read): skipped entries must not make every fault walk the whole ring
# (COWRL_GUARDED_BACKOFF_STEPS).
BACKOFF_STEPS = 4
DUE_MASK = 0xFFFFFFFF

MAX_WALK_NS = 0xFFFF  # walk_ns, walk_empty_ns: u16s in the module (struct cowrl_guarded_table)
MAX_CUTBACK = 16  # proof_cutback: a u8 in the module (the high byte of proof_span's u16)
MAX_DUE_NS = 0xFF  # walk_due_ns, walk_scan_ns: u8s in the module (the table's last u16)
MAX_READ_NS = 0xFFFF  # read_ns: a u16 in the module (struct cowrl_guarded_table.read_ns)
# proof_look 1: each ring entry keeps its region's bucket (region_bucket), the state counts the
# live entries per bucket, and a look ends once it saw its bucket's (COWRL_GUARDED_BUCKETS)
BUCKETS = G_BUCKETS
PAGE_WRITTEN = 2  # FaultContext.page_state: private and written since (a copy's dirty bit)
# The largest break-even hit rate loss / (gain + loss) at which the budget still grants an
# allowance (GuardedPolicy.for_cost): 1 - 1/32. Above it a copy that is written gains under
# 1/31 of what a wasted one loses; the allowance stays off there, as it does where no copy can
# gain (gain <= 0): the kernel target's prices without interior proofs (tcg, proof: 0: 0.979)
# and with them (gain 0). Was 1 - 1/16 until 2026-12-05, argued from the resolution of the
# sentinel EWMA (weight 1/16); since interior proofs (version 4) each copy is judged by its own
# dirty bit, not by that EWMA, and the re-measured proof prices put host's shield at 0.944
# (seed_table1 0.889), which the old cap made inert although it gains there (docs/policies.md,
# "The allowance follows the cost model").
MAX_BREAK_EVEN = 1 - 1 / 32
MAX_K = 64  # the largest degree a table value asks for (COWRL_GUARDED_MAX_K)
# A table value ALIGN | G (G a power of two, 2..64): "copy to the end of the fault's aligned
# group of G pages": at virtual page vpn the degree (G - 1) - (vpn mod G), or, where the budget
# cannot pay it, the largest smaller degree of the degree set that it can (COWRL_GUARDED_ALIGN).
ALIGN_GROUPS: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
ALIGN_GROUPS_LEARNED: tuple[int, ...] = (4, 8, 16, 64)
ALIGN_ARMS: tuple[int, ...] = tuple(ALIGN | g for g in ALIGN_GROUPS_LEARNED)
"""The align values the learners try (learn_table's ``aligns``, the bandit's arms)."""


def is_align(v: int) -> bool:
    """Whether table value ``v`` means "to the end of the aligned group" (ALIGN | G)."""
    return v - ALIGN in ALIGN_GROUPS


def whole_constant(key: str, value: Any, scope: str = "policy") -> int:
    """A constant ``key`` as an int: an int, or a float with no fraction (``5.0``); a
    fraction, a bool or anything else is a one-line :class:`ConfigError` naming
    ``scope.key`` (it would have been truncated: ``gain_ns: 5668.5`` read as 5668,
    ``proof_ttl: True`` as 1). GuardedPolicy's prices and sizes and GuardView's guard
    constants (``scope`` ``policy.guard``) are read through it."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise ConfigError(f"{scope}.{key} must be an integer, got {value!r}")


def check_table_value(v: Any) -> bool:
    """A valid table value: a degree 0..MAX_K, or ALIGN | G with G in :data:`ALIGN_GROUPS`."""
    return not isinstance(v, bool) and isinstance(v, (int, np.integer)) \
        and (0 <= v <= MAX_K or is_align(int(v)))


def align_degree(v: int, vpn: int) -> int:
    """The degree align value ``v = ALIGN | G`` asks for at virtual page ``vpn``: the rest of
    its aligned group of G pages."""
    g = v - ALIGN
    return (g - 1) - (vpn & (g - 1))


def describe_value(v: int) -> str | int:
    """``align16`` for ALIGN | 16, else the degree."""
    return f"align{v - ALIGN}" if is_align(v) else v


def depth_bucket(j: int) -> int:
    """``depth_cap``: the depth bucket (0..:data:`DEPTH_BUCKETS` - 1) of position ``j >= 1``
    of a page in its window: ``min(floor(log2 j), 6)``."""
    return min(j.bit_length() - 1, DEPTH_BUCKETS - 1)


def break_even(gain_ns: float, loss_ns: float) -> float:
    """The fraction of a window's copied pages that must be written later for it to pay:
    ``loss / (gain + loss)``; 1.0 when a used page gains nothing (``gain <= 0``)."""
    return 1.0 if gain_ns <= 0 else loss_ns / (gain_ns + loss_ns)


def cell_of(kind: int, run_b: int, left: int, use_b: int) -> int:
    return ((kind * RUN_BUCKETS + run_b) * LEFT_BUCKETS + left) * USE_BUCKETS + use_b


def describe_cell(cell: int) -> str:
    use_b = cell % USE_BUCKETS
    left = (cell // USE_BUCKETS) % LEFT_BUCKETS
    run_b = (cell // (USE_BUCKETS * LEFT_BUCKETS)) % RUN_BUCKETS
    kind = cell // (USE_BUCKETS * LEFT_BUCKETS * RUN_BUCKETS)
    run = ("run0", "run1", "run2-3", "run4-7", "run8+")[run_b]
    return f"{KINDS[kind]}/{run}/left{left}/use{use_b}"


@dataclass
class Cell:
    """What :meth:`GuardedContext.observe_fault` found."""

    cell: int
    cls: int  # STREAM or OTHER: which hit rate this fault reads and its sentinel feeds
    slot: int
    run: int
    # run_cap (a simulator study, session 40): the first page of this fault's ascending run
    # and the page count of its slot's previous run (0: none known), as the commit keeps them
    rstart: int = 0
    rlen: int = 0


def due_before(a: int, b: int) -> bool:
    """Whether fault number ``a`` comes before ``b`` (mod 2 ** 32, as the module's
    ``(s32)(a - b) < 0``)."""
    return (a - b) & DUE_MASK > DUE_MASK >> 1


class GuardedContext:
    """Per-region integer state: stream slots, stride, private mirror, sentinel table."""

    def __init__(self, slots: int = 4, near: int = 16) -> None:
        slots, near = whole_constant("slots", slots), whole_constant("near", near)
        if not 1 <= slots <= 16:
            raise ConfigError(f"policy.slots must be in 1..16, got {slots!r}")
        if not 1 <= near <= 4096:
            raise ConfigError(f"policy.near must be in 1..4096, got {near!r}")
        self.slots, self.near = slots, near
        self.scan = 0
        self.merge = False
        self.protect = False
        self.use_proof = 0
        self.slow_shift = 0  # floor_slow (0: off)
        self.stride_window = 0  # stride_window (0: off; GuardedPolicy's option)
        self.run_cap = 0  # run_cap (0: off; GuardedPolicy's option)
        self.depth_cap = 0  # depth_cap (0: off; GuardedPolicy's option)
        self.reset(1)

    def reset(self, n_pages: int) -> None:
        s = self.slots
        self.n_pages = n_pages
        self.valid = [0] * s
        self.end = [0] * s
        self.run = [0] * s
        self.stamp = [0] * s
        # run_cap (a simulator study, session 40): per slot, the first page of its current
        # ascending run, the page count of its previous run (0: none) and its last fault
        self.rstart = [0] * s
        self.rlen = [0] * s
        self.rlast = [0] * s
        self.n_faults = 0
        self.prev_page = -1
        self.prev_delta = 0
        self.stride_run = 0
        # stride_window 1: the stride s >= 2 of this fault's window (0: adjacent), and how
        # many of page-s, page-2s, page-3s are private (the strided left neighbours)
        self.win_stride = 0
        self.left_s = 0
        # group_below (a simulator study, session 34): the pages page-b .. page-1 below the
        # fault that this fault's window also walks (0: none)
        self.win_below = 0
        # sibling_window (a simulator study, session 35): the family bitmap at the decision's
        # pages (1: a process of the trace demand-faulted it; set at every fault's commit),
        # and this fault's sibling window, its last page (0: none)
        self.family = bytearray(n_pages)
        self.win_sib = 0
        # sibling_stake 1: the sibling pages' proof rate (an EWMA, USE_ONE = 1.0, from 1/2)
        self.sib_use = USE_ONE // 2
        # sibling_gate: the ghost window's marks at the decision's pages (the marking
        # process's ordinal + 1, | the epoch << 5; 0 none), and the gate's evidence, sibling
        # pages marked and saved (programs._GGMARK, _GGHIT, _GGEPOCH)
        self.ghost = bytearray(n_pages)
        self.gate_mark = 0
        self.gate_hit = 0
        self.gate_epoch = 0  # the halvings, mod 4 (a ghost mark's tag carries it)
        # The module reads PTEs; the simulator policy mirrors them from its own decisions.
        self.private = bytearray(n_pages)
        # The fault's coordinate offset (FaultContext.coord_offset): the pages given to the
        # methods are the decision's, page + off; the mirror is kept at the trace's pages.
        self.off = 0
        self.tags = [0] * SENTINELS
        # sentinel_salt: the faulting region's salt (region_salt; 0 without the option), added
        # to every sentinel index of this fault (GuardedPolicy.fault_cell sets it)
        self.salt = 0
        self.tag_pages = [0] * SENTINELS  # pages the sentinel's window precopied
        self.tag_reserved = [0] * SENTINELS  # budget the window reserved
        self.use = [USE_ONE // 2, USE_ONE // 2]  # hit rate per class, start undecided
        self.slow = [SLOW_ONE // 2, SLOW_ONE // 2]  # floor_slow's EWMA of the same outcomes
        self.hits = [0, 0]
        self.misses = [0, 0]
        self.refund_pages = 0  # precopied pages of windows whose sentinel was hit (this fault)
        self.refund_reserved = 0
        self.hit = False
        # Version 4: copied pages awaiting a proof (page + 1; 0 = empty), and the cursors.
        self.proof_page = [0] * PROOFS
        self.proof_head = 0
        self.proof_cursor = 0
        self.proof_live = 0  # entries != 0: the look at the ring stops once it saw them all
        self.proof_miss = [0] * PROOFS  # unproven reads of each entry (proof_ttl)
        # what each entry's proof returns (0: the loss, a window page's; > 0: a sibling
        # page's stake, sibling_stake)
        self.proof_stake = [0] * PROOFS
        self.proof_due = [0] * PROOFS  # fault number (mod 2 ** 32) of its next read (backoff)
        self.proof_bucket = [0] * PROOFS  # its region's bucket (region_bucket; proof_look)
        # the ordinal of the process whose fault copied it (FaultContext.proc): a look reads
        # only its own process's entries, whatever the table
        self.proof_proc = [0] * PROOFS
        self.bucket_live = [0] * BUCKETS  # live entries per bucket (proof_look 1 counts down)
        # proof_span 1: every slot outside [proof_tail, proof_head) (cyclic; the whole ring
        # when they are equal and an entry is live) is empty, and a look never steps there;
        # and the fault number (mod 2 ** 32) before which no entry a look of the bucket counts
        # (with proof_look 0: index 0, every entry) is due, so such a look would read nothing
        self.proof_tail = 0
        self.bucket_due = [0] * BUCKETS
        # proof_cutback: per bucket, the looks cut by the budget since its last proof (at most
        # proof_cutback): such a look puts the bucket's next look off 2 ** bucket_cuts faults
        self.bucket_cuts = [0] * BUCKETS
        self.proof_steps = 0  # ring slots the looks stepped over or read (diagnostics)
        self.proof_skips = 0  # live entries stepped over, not yet due (charged proof_skip_ns)
        self.proof_other = 0  # another region's live entries stepped over (proof_skip_ns)
        # ... of them, entries in the faulting region's pages copied by another process (0
        # unless processes' regions share pages: never in the simulator's layouts)
        self.proof_foreign = 0
        self.proof_empty = 0  # empty slots stepped over (charged proof_step_ns)
        self.proof_jumps = 0  # proof_skipmap: jumps to the next live slot (proof_jump_ns)
        # proof_duemap: the live entries a backoff read found unwritten and put off (its bit
        # set until a refresh finds it due, it leaves the ring or is overwritten), how many
        # (all, per bucket), and a fault number (mod 2 ** 32) none of them is due before
        self.proof_wait = [False] * PROOFS
        self.wait_live = 0
        self.bucket_wait = [0] * BUCKETS
        self.wait_due = 0
        self.proof_duejumps = 0  # proof_duemap: jumps to the next due slot (proof_duejump_ns)
        self.proof_scans = 0  # ... waiting entries its refreshes looked at (proof_duescan_ns)
        self.proof_cuts = 0  # looks ended because the budget held less than walk_ns
        self.proof_cls = [0] * PROOFS  # the class of the window that copied it (use_proof)
        # depth_cap: each entry's depth bucket + 1, + 8 for a strided window's (0: not a window
        # page's: below, sibling; or its outcome counted), and per row (2 * class + strided)
        # and depth bucket the EWMA of its copies' outcomes
        self.proof_depth = [0] * PROOFS
        self.depth = [[DEPTH_ONE] * DEPTH_BUCKETS for _ in range(4)]
        self.depth_capped = 0  # decisions the cap shortened (diagnostics)
        self.unproven_reads = 0  # reads that found the page unwritten (diagnostics)
        self.expired = 0  # entries that left the ring by proof_ttl (diagnostics)
        self.proven = 0  # pages proven so far (diagnostics)
        self.overwritten = 0  # entries overwritten unproven when the ring wrapped (diagnostics)
        # last_look: entries about to be overwritten read once, found written (proven) or not
        self.last_proven = 0
        self.last_unproven = 0
        # region_look: per ring entry its row (2 * class + strided, the copying window's);
        # per row the late reserve (ns) and its key (ring key + 1: bucket | process << 4; 0
        # none); ns forfeited when another key took a row, ns the windows drew from reserves
        self.proof_row = [0] * PROOFS
        # region_look 3: the entry's copy was made by a window that drew on a late reserve:
        # its proof (a look's or a last look's) goes to the reserve of its row and key
        self.proof_latefin = [False] * PROOFS
        self.late_looked = 0  # ... such entries a look (not a last look) proved (diagnostics)
        self.late = [0] * 4
        self.late_key = [0] * 4
        self.late_forfeit = 0
        self.late_spent = 0
        self.late_avail = 0  # region_look: what the deciding fault's window may draw (act)
        self.unused_reads = 0  # reserved reads the proven pages did not use (read_credit)

    def in_span(self, i: int) -> bool:
        """Whether ring slot ``i`` lies in ``[proof_tail, proof_head)`` (proof_span)."""
        span = (self.proof_head - self.proof_tail) & (PROOFS - 1)
        return (self.proof_live > 0 and span == 0) or (i - self.proof_tail) & (PROOFS - 1) < span

    def next_live(self, i: int) -> int:
        """The first live ring slot at or after ``i``, cyclic (``proof_skipmap``; the module
        finds it in its bitmap of live slots); ``i`` if none is live."""
        for d in range(PROOFS):
            if self.proof_page[(i + d) & (PROOFS - 1)]:
                return (i + d) & (PROOFS - 1)
        return i

    def next_due(self, i: int) -> int:
        """The first live ring slot at or after ``i``, cyclic, that is not waiting
        (``proof_duemap``: the module scans its live map less its waiting map); ``i`` if
        none."""
        for d in range(PROOFS):
            j = (i + d) & (PROOFS - 1)
            if self.proof_page[j] and not self.proof_wait[j]:
                return j
        return i

    def wait(self, i: int) -> None:
        """``proof_duemap``: live entry ``i`` was put off to ``proof_due[i]``: it waits."""
        self.proof_wait[i] = True
        self.wait_live += 1
        self.bucket_wait[self.proof_bucket[i]] += 1
        if self.wait_live == 1 or due_before(self.proof_due[i], self.wait_due):
            self.wait_due = self.proof_due[i]

    def unwait(self, i: int) -> None:
        """Entry ``i`` no longer waits (due, left the ring, or overwritten)."""
        if self.proof_wait[i]:
            self.proof_wait[i] = False
            self.wait_live -= 1
            self.bucket_wait[self.proof_bucket[i]] -= 1

    def refresh(self, now: int) -> None:
        """``proof_duemap``: every waiting entry due at ``now`` waits no longer;
        ``wait_due`` the soonest due fault of those still waiting."""
        first = True
        for j in range(PROOFS):
            if self.proof_wait[j]:
                if not due_before(now, self.proof_due[j]):
                    self.unwait(j)
                elif first or due_before(self.proof_due[j], self.wait_due):
                    self.wait_due = self.proof_due[j]
                    first = False

    def drop(self, i: int) -> None:
        """Ring entry ``i`` leaves the ring (proven or expired)."""
        self.unwait(i)
        self.proof_page[i] = 0
        self.proof_live -= 1
        self.bucket_live[self.proof_bucket[i]] -= 1

    def observe_fault(self, page: int, start: int = 0, limit: int = -1) -> Cell:
        # 1. sentinel: a fault on a recorded sentinel is a hit for its class.
        # The table index is region-relative (regions lie at other offsets in a process).
        slot_t = (page - start + self.salt) & (SENTINELS - 1)
        tag = self.tags[slot_t]
        self.refund_pages = self.refund_reserved = 0
        self.hit = False
        if tag and (tag >> 1) == page + 1:
            c = tag & 1
            if self.sentinel_feeds_use(slot_t):
                self.use_up(c)
            self.hits[c] += 1
            self.refund_pages = self.tag_pages[slot_t]
            self.refund_reserved = self.tag_reserved[slot_t]
            self.tags[slot_t] = 0
            self.hit = True
        # 2. streams: the slot whose window end lies just behind the page.
        best, best_gap = -1, self.near + 1
        for i in range(self.slots):
            # Streams and strides stay inside the faulting page's region (its VMA):
            # regions are laid out differently in the simulator and in a process.
            if self.valid[i] and self.end[i] >= start:
                gap = page - self.end[i]
                if 1 <= gap < best_gap:
                    best, best_gap = i, gap
        lim = self.n_pages if limit < 0 else limit
        delta = page - self.prev_page if start <= self.prev_page < lim else 0
        stride_hit = delta >= 2 and delta == self.prev_delta
        self.stride_run = min(self.stride_run + 1, 255) if stride_hit else 0
        self.prev_delta = delta
        self.prev_page = page
        if best >= 0:
            kind = 1 if best_gap == 1 else 2
            run = min(self.run[best] + 1, 255)
            slot = best
        else:
            kind = 3 if stride_hit else 0
            run = self.stride_run if stride_hit else 0
            slot = 0
            for i in range(self.slots):  # LRU victim: an empty slot, else the oldest
                if not self.valid[i]:
                    slot = i
                    break
                if self.stamp[i] < self.stamp[slot]:
                    slot = i
        cls = STREAM if kind in (1, 2) else OTHER
        # run_cap: a run goes on at an exact continuation (the page right after the slot's
        # window); a near one (2..near pages after it) starts a new run at this page. The
        # ended run's length: the previous length, kept, if its last window ended at that
        # length's last page (as run_cap's cap stops it: nothing contradicted it); else its
        # pages through its last fault (its last window unproven: not counted)
        if best >= 0 and best_gap == 1:
            rstart, rlen = self.rstart[best], self.rlen[best]
        elif best >= 0:
            rl, rs = self.rlen[best], self.rstart[best]
            rstart = page
            rlen = rl if rl > 0 and self.end[best] == rs + rl - 1 else self.rlast[best] - rs + 1
        else:
            rstart, rlen = page, 0
        lo = max(page - 3, start)
        left = sum(self.private[lo - self.off:page - self.off])
        self.left = left
        # stride_window: a constant stride continuing (the detector), not an exact stream
        # continuation (a sequential writer's windows of constant k look like a stride k + 1)
        self.win_stride = delta if self.stride_window and stride_hit and kind != 1 else 0
        self.left_s = sum(self.private[page - j * delta - self.off] for j in (1, 2, 3)
                          if page - j * delta >= start) if self.win_stride else 0
        use_b = min(self.use[cls] >> 6, USE_BUCKETS - 1)
        return Cell(cell_of(kind, run_bucket(run), left, use_b), cls, slot, run, rstart,
                    min(rlen, RUN_LEN_MAX))

    def sentinel_feeds_use(self, t: int) -> bool:
        """Whether sentinel-table entry ``t``'s hit or miss moves ``use``: always without
        ``use_proof``; with 1 only for a window that copied nothing (a ``k = 0`` probe); with 2
        never (proofs alone feed it)."""
        return self.use_proof != 2 and not (self.use_proof and self.tag_pages[t])

    def depth_outcome(self, i: int, written: bool) -> None:
        """``depth_cap``: ring entry ``i``'s outcome, proven (``written``) or not (its
        ``DEPTH_MISSES``-th unproven read, or expired): its row and depth bucket's EWMA moves
        (an entry not of a window's own pages, or already counted, ``proof_depth`` 0, moves
        nothing)."""
        d = self.proof_depth[i]
        if not self.depth_cap or not d:
            return
        row, b = self.depth[2 * self.proof_cls[i] + (d >> 3)], (d & 7) - 1
        if written:
            row[b] += (DEPTH_ONE - row[b]) >> DEPTH_SHIFT
        else:
            row[b] -= row[b] >> DEPTH_SHIFT

    def use_up(self, c: int) -> None:
        """A hit for class ``c``'s use rate (EWMA of weight 1/16)."""
        self.use[c] += (USE_ONE - self.use[c]) >> 4
        if self.slow_shift:
            self.slow[c] += (SLOW_ONE - self.slow[c]) >> self.slow_shift

    def use_down(self, c: int) -> None:
        """A miss for class ``c``'s use rate."""
        self.use[c] -= self.use[c] >> 4
        if self.slow_shift:
            self.slow[c] -= self.slow[c] >> self.slow_shift

    def protected_gap(self, page: int, want: int, start: int, limit: int) -> int:
        """Distance to the first page in ``page+1 .. page+want`` that is the live sentinel of
        a window with a reserve (a window must not cover it), else ``want + 1``."""
        for j in range(1, min(want, limit - 1 - page) + 1):
            q = page + j
            t = (q - start + self.salt) & (SENTINELS - 1)
            if (self.tags[t] >> 1) == q + 1 and self.tag_pages[t] > 0:
                return j
        return want + 1

    def strided_clip(self, page: int, want: int, start: int, limit: int) -> int:
        """``stride_clip`` (a simulator study): the first ``j`` in ``1 .. want`` whose page
        ``page + j*s`` (within the region) has its left neighbour private where ``page - 1``
        is not, or not where it is (a 2-D tile's bottom row: docs/results/
        stride-window-tiled2d-s28.md), else ``want + 1``."""
        s, off = self.win_stride, self.off
        ref = self.private[page - 1 - off] if page - 1 >= start else 0
        for j in range(1, want + 1):
            q = page + j * s
            if q >= limit:
                break
            if self.private[q - 1 - off] != ref:
                return j
        return want + 1

    def window_pages(self, page: int, k: int, limit: int) -> range:
        """The pages of a window of degree ``k`` at ``page`` (clipped at ``limit``, the
        region's exclusive end): ``page+1 .. page+k``, or with a strided window
        (:attr:`win_stride` ``s``) ``page+s, page+2s, .., page+k*s``."""
        s = self.win_stride
        if s:
            return range(page + s, page + min(k, (limit - 1 - page) // s) * s + 1, s)
        return range(page + 1, max(min(page + k, limit - 1), page) + 1)

    def below_pages(self, page: int, start: int, vpn: int, group: int) -> tuple[int, int]:
        """``group_below``: ``(walked, shared)`` of the pages below ``page`` in its aligned
        group of ``group`` virtual pages (``vpn``: the page's virtual page), within the region
        (from ``start``): the walk starts at the lowest of them still shared (none shared:
        ``(0, 0)``), as a forward walk stops after its last shared page
        (``programs.guarded_below``)."""
        lo = max(page - (vpn & (group - 1)), start)
        o = self.off
        shared = [q for q in range(lo, page) if not self.private[q - o]]
        return (page - shared[0], len(shared)) if shared else (0, 0)

    def sibling_pages(self, page: int, end: int) -> list[int]:
        """``sibling_window``: the pages of this fault's sibling window (:attr:`win_sib`, its
        last page; 0: none) past ``end``, the adjacent window's last page, still shared here,
        whose family bit is set (``programs.guarded_sibling``)."""
        o = self.off
        return [q for q in range(end + 1, self.win_sib + 1)
                if self.family[q] and not self.private[q - o]]

    def shared_in_window(self, page: int, k: int, limit: int) -> int:
        """Shared pages among ``page+1 .. page+k`` (clipped at ``limit``, the region's
        exclusive end; strided: :meth:`window_pages`): what a window would copy."""
        if self.win_stride:
            w = self.window_pages(page, k, limit)
            return len(w) - sum(self.private[q - self.off] for q in w)
        hi = min(page + k, limit - 1)
        o = self.off
        return (hi - page) - sum(self.private[page + 1 - o:hi + 1 - o]) if hi > page else 0

    def commit(self, c: Cell, page: int, k: int, copied: int = 0, reserved: int = 0,
               limit: int = -1, start: int = 0) -> None:
        n = self.n_pages if limit < 0 else limit
        self.n_faults += 1
        st = self.win_stride
        o = self.off
        if st:  # a strided window: its pages, its last page, its sentinel in the column
            w = self.window_pages(page, k, n) if k > 0 else range(0)
            end = w[-1] if len(w) else page
            self.private[page - o] = 1
            for q in w:
                self.private[q - o] = 1
            # the detector goes on from the window's last page: the next fault, at
            # end + s, continues the stride
            self.prev_page = end
        else:
            end = max(min(page + k, n - 1), page)
            self.private[page - o:end + 1 - o] = b"\x01" * (end + 1 - page)
            b = self.win_below if k > 0 else 0  # group_below: and the pages below it
            self.private[page - b - o:page - o] = b"\x01" * b
        for q in self.sibling_pages(page, end):  # sibling_window: its pages too
            self.private[q - o] = 1
        self.family[page] = 1  # this demand fault's bit (the sibling window's)
        self.valid[c.slot] = 1
        self.end[c.slot] = end
        self.run[c.slot] = c.run if c.cls == STREAM else 0
        self.stamp[c.slot] = self.n_faults
        self.rstart[c.slot], self.rlen[c.slot], self.rlast[c.slot] = c.rstart, c.rlen, page
        step = st or 1
        s = end + step
        while s < n and self.private[s - o] and s <= end + self.scan * step:
            s += step  # the first shared page past the window (a later pass's page)
        if s < n and not self.private[s - o]:
            t = (s - start + self.salt) & (SENTINELS - 1)
            old = self.tags[t]
            if self.merge and old >> 1 == s + 1:
                # An earlier window has the same sentinel: one hit proves both ends.
                copied += self.tag_pages[t]
                reserved += self.tag_reserved[t]
            elif self.protect and copied == 0 and old and self.tag_pages[t] > 0:
                return  # a probe does not evict a window's proof
            elif old:  # an unresolved sentinel leaves the table: its window's end was not reached
                oc = old & 1
                if self.sentinel_feeds_use(t):
                    self.use_down(oc)
                self.misses[oc] += 1
            self.tags[t] = ((s + 1) << 1) | c.cls
            self.tag_pages[t] = copied
            self.tag_reserved[t] = reserved


class GuardedPolicy(Policy):
    """``k = table[cell]``, capped so that the precopy risk never exceeds a budget (module
    docstring): ``k`` is the largest degree ``<= table[cell]`` whose worst case (every page
    it copies wasted) fits the budget, and 0 while the fault's class has a sentinel hit rate
    below ``floor``."""

    decide_program = "guarded"  # the module's GUARDED mode: priced apart (CostModel.decide_cost)
    artifact_kind = "guarded"  # a frozen shielded bandit (cowrl.policies.bandits) saves as one

    def __init__(self, table: Sequence[int] | None = None, gain_ns: int = 5668,
                 loss_ns: int = 24132, setup_ns: int = 0, demand_ns: int = 17734,
                 skip_ns: int = 0,
                 budget_per_mille: int = 10, floor: int = 0, slots: int = 4, near: int = 16,
                 expected_loss: bool = False, grant_left: int = 2,
                 scan: int = 8, merge: bool = False, protect: bool = False,
                 hit_scale: int = 1, proof: int = 0, proof_reads: int = 8,
                 proof_ttl: int = 0, use_proof: int = 0, proof_backoff: int = 0,
                 walk_ns: int = 0, walk_empty_ns: int | None = None,
                 read_credit: int = 0, read_ns: int = 0, proof_look: int = 0,
                 proof_span: int = 0, degrees: Sequence[int] = DEGREES,
                 name: str = "guarded", inert: bool | None = None,
                 floor_total: int = 0, floor_slow: int = 0, proof_skipmap: int = 0,
                 proof_duemap: int = 0, walk_due_ns: int = 0, walk_scan_ns: int = 0,
                 proof_cutback: int = 0, stride_window: int = 0,
                 stride_ns: int = 0, stride_gate: int = 0, stride_clip: int = 0,
                 group_below: int = 0, sibling_window: int = 0,
                 sibling_stake: int = 0, sibling_gate: int = 0,
                 sentinel_salt: int = 0, run_cap: int = 0, depth_cap: int = 0,
                 last_look: int = 0, region_look: int = 0) -> None:
        self.name = name
        tab = [0] * N_CELLS if table is None else list(table)
        if len(tab) != N_CELLS or not all(check_table_value(k) for k in tab):
            raise ConfigError(f"policy.table: expected {N_CELLS} values, each a degree in "
                              f"0..{MAX_K} or {ALIGN} + G (align to G pages, G in "
                              f"{', '.join(map(str, ALIGN_GROUPS))})")
        tab = [int(k) for k in tab]
        check_grant_left(grant_left)
        if isinstance(hit_scale, bool) or hit_scale not in range(1, MAX_HIT_SCALE + 1):
            raise ConfigError(f"policy.hit_scale must be in 1..{MAX_HIT_SCALE}, got {hit_scale!r}")
        if isinstance(scan, bool) or scan not in range(MAX_SCAN + 1):
            raise ConfigError(f"policy.scan must be in 0..{MAX_SCAN}, got {scan!r}")
        if isinstance(proof, bool) or proof not in (0, 1):
            raise ConfigError(f"policy.proof must be 0 or 1, got {proof!r}")
        check_proof_reads(proof_reads)
        check_proof_ttl(proof_ttl, proof)
        if isinstance(use_proof, bool) or use_proof not in (0, 1, 2):
            raise ConfigError(f"policy.use_proof must be 0, 1 or 2, got {use_proof!r}")
        if use_proof and not proof:
            raise ConfigError("policy.use_proof needs proof: 1 (it reads the proof ring)")
        check_proof_backoff(proof_backoff, proof)
        check_walk_ns(walk_ns, proof)
        if walk_empty_ns is None:  # one price, as before walk_empty_ns
            walk_empty_ns = walk_ns
        check_walk_ns(walk_empty_ns, proof, "walk_empty_ns")
        check_read_credit(read_credit, proof)
        check_read_ns(read_ns, read_credit, proof_ttl)
        check_proof_look(proof_look, proof)
        check_proof_span(proof_span, proof_backoff)
        check_proof_skipmap(proof_skipmap, proof)
        check_proof_duemap(proof_duemap, proof_backoff)
        check_due_price(walk_due_ns, proof_duemap, "walk_due_ns")
        check_due_price(walk_scan_ns, proof_duemap, "walk_scan_ns")
        check_proof_cutback(proof_cutback, proof_span)
        check_stride_window(stride_window, protect)
        self.stride_gate = check_stride_gate(stride_gate, stride_window)
        self.stride_clip = check_stride_gate(stride_clip, stride_window, "stride_clip")
        # group_below G (a simulator study, session 34; 0 = off): a granted adjacent window
        # also copies the shared pages of the fault's aligned group of G virtual pages below
        # it, staked and proven as its other pages (degree(); not in the module)
        self.group_below = check_group_below(group_below, protect)
        # run_cap 1 (a simulator study, session 40; 0 = off): an adjacent window at a stream
        # fault stops at the page where the stream's run would end if it were as long as its
        # previous run (GuardedContext.observe_fault; degree(); not in the module)
        if isinstance(run_cap, bool) or run_cap not in (0, 1):
            raise ConfigError(f"policy.run_cap must be 0 or 1, got {run_cap!r}")
        self.run_cap = int(run_cap)
        # depth_cap 1 (a simulator study, session 41; 0 = off; needs proof: 1): a window
        # stops before the shallowest depth bucket (2-3, 4-7, .., 64+ pages into the window)
        # whose copies (of windows of the fault's class, adjacent or strided as this one) were
        # proven at an EWMA rate below the budget's break-even precision loss / (gain + loss)
        # (degree(); not in the module)
        if isinstance(depth_cap, bool) or depth_cap not in (0, 1):
            raise ConfigError(f"policy.depth_cap must be 0 or 1, got {depth_cap!r}")
        if depth_cap and not (proof and (proof_ttl or proof_backoff)):
            raise ConfigError("policy.depth_cap: 1 needs proof: 1 and proof_ttl > 0 or "
                              "proof_backoff: 1 (it counts a ring entry's unproven reads)")
        self.depth_cap = int(depth_cap)
        # last_look 1 (a simulator study, session 43; 0 = off; needs proof: 1): a live ring
        # entry about to be overwritten is read once first (last_look_at; not in the module)
        if isinstance(last_look, bool) or last_look not in (0, 1):
            raise ConfigError(f"policy.last_look must be 0 or 1, got {last_look!r}")
        if last_look and not proof:
            raise ConfigError("policy.last_look: 1 needs proof: 1 (it reads ring entries)")
        self.last_look = int(last_look)
        # region_look 1|2 (a simulator study, session 44; 0 = off; needs proof: 1): the last
        # look, its credit kept in a late reserve of the copying window's row and region
        if isinstance(region_look, bool) or region_look not in (0, 1, 2, 3):
            raise ConfigError(f"policy.region_look must be 0, 1, 2 or 3, got {region_look!r}")
        if region_look and not proof:
            raise ConfigError("policy.region_look: 1|2|3 needs proof: 1 (it reads ring "
                              "entries)")
        if region_look and last_look:
            raise ConfigError("policy.region_look: not with last_look: 1 (it is a last look, "
                              "its credit kept in a late reserve)")
        self.region_look = int(region_look)
        # sibling_window W (a simulator study, session 35; 0 = off): at a fault, past its
        # adjacent window, the pages up to page + W that some process of the trace
        # demand-faulted (the family bitmap) and that are still shared here are copied too,
        # all or none, staked and proven as window pages (act(); not in the module)
        self.sibling_window = check_sibling_window(sibling_window, proof)
        # sibling_stake 1: a sibling page stakes its expected loss, loss x (1 - the sibling
        # pages' proof rate), at least loss / 8; its proof returns that stake and the gain,
        # and each sibling page proven / expired / overwritten moves the rate. 2: and a
        # sibling page expired or overwritten unproven takes the rest of its loss from the
        # budget (which may then owe: nothing opens until allowances and proofs repay it)
        if isinstance(sibling_stake, bool) or sibling_stake not in (0, 1, 2):
            raise ConfigError(f"policy.sibling_stake must be 0, 1 or 2, got {sibling_stake!r}")
        if sibling_stake and not sibling_window:
            raise ConfigError("policy.sibling_stake: 1 needs a sibling_window (it prices its "
                              "pages)")
        self.sibling_stake = int(sibling_stake)
        # sibling_gate m (a simulator study, session 35; 0 = off): the sibling window opens
        # only while its pages' saved rate is at least the break-even precision loss / (gain
        # + loss) plus m/8 of what lies above it; shut, a ghost window marks the pages it
        # would copy, and the marking process's later demand fault on one is a hit
        self.sibling_gate = check_sibling_gate(sibling_gate, sibling_stake)
        # sentinel_salt 1 (session 40): the sentinel table's index adds the faulting region's
        # salt (region_salt: a hash of its first virtual page mod 512 and size, plus 16 x its
        # process's ordinal), so that regions written in lockstep (equal offsets) keep their
        # sentinels apart; 0 = the region-relative index alone (the decisions before it)
        if isinstance(sentinel_salt, bool) or sentinel_salt not in (0, 1):
            raise ConfigError(f"policy.sentinel_salt must be 0 or 1, got {sentinel_salt!r}")
        self.sentinel_salt = int(sentinel_salt)
        if proof and expected_loss:
            raise ConfigError("policy.expected_loss must be false with proof: 1 (a proof "
                              "returns the whole loss)")
        check_floor(floor)
        if isinstance(floor_total, bool) or floor_total not in (0, 1):
            raise ConfigError(f"policy.floor_total must be 0 or 1, got {floor_total!r}")
        check_floor_slow(floor_slow)
        if floor_slow and use_proof:
            raise ConfigError("policy.floor_slow needs use_proof: 0 (it averages the "
                              "sentinels' outcomes)")
        # Whole ns, as the module's table holds them: a fraction is refused, not truncated
        # (for_cost rounds a cost model's prices down once, before they get here).
        prices = {field: whole_constant(field, v) for field, v in (
            ("gain_ns", gain_ns), ("loss_ns", loss_ns), ("setup_ns", setup_ns),
            ("demand_ns", demand_ns), ("skip_ns", skip_ns), ("stride_ns", stride_ns),
            ("budget_per_mille", budget_per_mille))}
        for field, v in prices.items():
            if v < 0:
                raise ConfigError(f"policy.{field} must be an integer >= 0, got {v!r}")
        self.table = tab
        self.floor = int(floor)
        self.floor_total = int(floor_total)  # 1: the floor also reads the lifetime hit rate
        self.gain, self.loss = prices["gain_ns"], prices["loss_ns"]
        self.setup, self.demand = prices["setup_ns"], prices["demand_ns"]
        self.skip = prices["skip_ns"]
        # stride_window 1: a window may be strided (page+s, .., page+k*s) where the stride
        # detector sees a constant stride s >= 2; each strided page walked costs stride_ns
        # more (reserved in fixed(); the engine charges precopy_stride_ns; the module's table
        # carries both, ABI 15).
        self.stride_window = int(stride_window)
        self.stride_ns = prices["stride_ns"]
        if self.stride_ns and not self.stride_window:
            raise ConfigError("policy.stride_ns must be 0 with stride_window: 0")
        self.budget_per_mille = prices["budget_per_mille"]
        self.allowance = self.demand * self.budget_per_mille // 1000  # added per fault
        self.hit_scale = int(hit_scale)  # a sentinel hit adds hit_scale allowances
        self.degrees = tuple(sorted(whole_constant("degrees", d) for d in degrees))
        if any(not 0 <= d <= MAX_K for d in self.degrees):
            raise ConfigError(f"policy.degrees: degrees in 0..{MAX_K}, got {list(self.degrees)}")
        self.expected_loss = bool(expected_loss)
        self.ctx = GuardedContext(slots, near)
        self.ctx.slow_shift = int(floor_slow)  # floor_slow: a slow EWMA, weight 1 / 2 ** s
        self.grant_left = int(grant_left)
        self.ctx.scan = int(scan)
        self.ctx.merge = bool(merge)
        self.ctx.protect = bool(protect)
        self.ctx.stride_window = self.stride_window
        self.ctx.run_cap = self.run_cap
        self.ctx.depth_cap = self.depth_cap
        self.proof = int(proof)
        self.proof_reads = int(proof_reads)
        self.proof_ttl = int(proof_ttl)
        self.ctx.use_proof = int(use_proof)
        self.proof_backoff = int(proof_backoff)
        self.walk = int(walk_ns)  # ns the budget pays per live entry a look steps over unread
        self.walk_empty = int(walk_empty_ns)  # ... and per empty ring slot it steps over
        self.read_credit = int(read_credit)
        self.read_ns = int(read_ns)  # credited per reserved read a proven copy did not use
        self.proof_look = int(proof_look)  # 1: a look counts down its region's bucket only
        # 1: a look walks only [proof_tail, proof_head), and none before its bucket is due
        self.proof_span = int(proof_span)
        # 1: a look jumps from an empty slot to the next live one, one walk_empty_ns a jump
        self.proof_skipmap = int(proof_skipmap)
        # 1: a look jumps over the entries not yet due too (walk_due_ns a jump), and a
        # refresh finds those due again (walk_scan_ns per waiting entry it looks at)
        self.proof_duemap = int(proof_duemap)
        self.walk_due = int(walk_due_ns)
        self.walk_scan = int(walk_scan_ns)
        # s > 0: a look cut by the budget puts its bucket's next look off 2 ** c faults (c
        # the looks cut since the bucket's last proof, at most s), and so does, while c > 0,
        # every look that proves nothing: a starved budget gathers allowances
        self.proof_cutback = int(proof_cutback)
        self.budget = 0
        self.granted = 0
        self.gated = 0
        self.emptied = 0  # windows dropped this run: they would copy nothing (the tally empty)
        # Inert: provably k = 0 at every fault (decided here, once, from the constants every
        # construction path sets: for_cost, make_guarded, an artifact's load). Deployed and
        # priced as the module's STATIC mode with k = 0, the cheapest program it has.
        self.inert = self.allowance == 0 and self.setup > 0
        if inert is not None and bool(inert) != self.inert:
            raise ConfigError(f"policy.inert is derived from the budget (allowance 0 and "
                              f"setup_ns > 0): {self.inert} here, got {inert!r}")
        self.static_k = 0 if self.inert else None
        # (lambda, keywords) when the budget constants follow the run's cost model
        # (make_guarded(costmodel="auto")): for_trace rebuilds the policy under it.
        self.budget_spec: tuple[float, dict[str, Any]] | None = None
        self.explore: Callable[[int, int], int] | None = None  # training only
        # Training only, for the hindsight rewards (arm_rewards): per fault (page, cell, k,
        # write index, window stride: the context's win_stride, 0 = adjacent, s >= 2 strided).
        self.trace_log: list[tuple[int, int, int, int, int]] | None = None

    @classmethod
    def for_cost(cls, cost: CostModel, lam: float = 1.0, **kw: Any) -> GuardedPolicy:
        """Budget constants from a cost model (the module gets them pushed with the table). A
        copied page that is later written saves a whole demand fault, its GUARDED decision
        included. The module's table holds whole ns: each price is rounded down here, once
        (``int()``; ``gain_ns`` clamped to 0), and the policy decides with exactly those
        integers (:meth:`program`); a price given explicitly must be whole already.

        The allowance (``budget_per_mille``, the risk taken before any proof) follows the
        cost model: none where precopy cannot pay back its risk, i.e. where the break-even
        hit rate exceeds :data:`MAX_BREAK_EVEN` (``tcg``: a copied page costs more than the
        fault it saves); then no window opens, the policy is :attr:`inert` and runs as the
        module's STATIC mode with k = 0: it costs baseline (docs/policies.md, "the allowance
        follows the cost model").

        With ``proof: 1`` the look's walk is paid too: ``walk_ns`` (unless given; 0 = not
        paid, the decisions before 2026-12-03) is :func:`walk_price` of ``cost``, and, unless
        given, ``walk_empty_ns`` :func:`walk_empty_price` (with ``walk_ns`` given and
        ``walk_empty_ns`` not: ``walk_ns``, one price).

        With ``read_credit: 1`` a proof also credits the reserved reads its copy did not use:
        ``read_ns`` (unless given) is ``floor(proof_read_ns)``, at most what the loss reserves
        per read (0 without ``read_credit``; 0 with ``proof_ttl: 0``, which reserves no read;
        and 0 where a copied page cannot gain: its ``gain_ns`` is clamped to 0 there, already
        above what a proof saves)."""
        read_ns = kw.get("read_ns")  # per unused reserved read, at most its reserve
        if read_ns is None:
            read_ns = (min(math.floor(cost.proof_read_ns), MAX_READ_NS)
                       if kw.get("proof") and kw.get("read_credit") and kw.get("proof_ttl")
                       else 0)
        if kw.get("walk_ns") is None:  # the look's walk, paid per slot stepped over unread
            kw["walk_ns"] = walk_price(cost) if kw.get("proof") else 0
            if kw.get("walk_empty_ns") is None:
                kw["walk_empty_ns"] = (walk_empty_price(cost, kw.get("proof_skipmap", 0))
                                       if kw.get("proof") else 0)
        if kw.get("proof_duemap"):  # the due map's jumps and refreshes, unless given
            due, scan = due_prices(cost)
            kw.setdefault("walk_due_ns", due)
            kw.setdefault("walk_scan_ns", scan)
        if kw.get("proof"):  # a copy pays its clean and its unproven reads: the bound covers it
            cost = cost.with_clean(int(kw.get("proof_ttl", 0)))
        gain, loss = (int(v) for v in cost.page_prices(lam, cls.decide_program))
        if break_even(gain, loss) > MAX_BREAK_EVEN:
            kw["budget_per_mille"] = 0
        if gain < 0 and kw.get("read_ns") is None:
            read_ns = 0  # the credit is gain_ns = 0 (not < 0): nothing more on top of it
        kw["read_ns"] = read_ns
        if kw.get("stride_window") and kw.get("stride_ns") is None:
            kw["stride_ns"] = math.ceil(cost.precopy_stride_ns)  # at least what is charged
        return cls(gain_ns=max(gain, 0), loss_ns=loss, setup_ns=int(cost.precopy_setup_ns),
                   demand_ns=int(cost.demand_ns), skip_ns=int(cost.precopy_skip_ns), **kw)

    def deployed_under(self, cost: CostModel) -> Policy:
        """Itself, or with ``costmodel: auto`` the same table with ``cost``'s budget constants."""
        if self.budget_spec is None:
            return self
        lam, kw = self.budget_spec
        return GuardedPolicy.for_cost(cost, lam, table=self.table, **kw)

    @property
    def floor_slow(self) -> int:
        """``floor_slow`` (0: off; ``s``: the floor also reads a slow EWMA of weight
        ``1 / 2 ** s``), kept in the context as ``slow_shift``."""
        return self.ctx.slow_shift

    @property
    def inert_reason(self) -> str:
        """Why an inert policy never precopies (docs/policies.md, "Pricing the GUARDED
        decision"), or ``""``."""
        if not self.inert:
            return ""
        return (f"k = 0 at every fault (module STATIC): no allowance under this cost model "
                f"(break-even hit rate {break_even(self.gain, self.loss):.3f}), so the budget "
                f"stays 0 and no window's setup ({self.setup} ns) ever fits")

    def priced(self, cost: CostModel) -> CostModel:
        """With ``proof: 1`` the module cleans every copy's dirty bit: each copied page costs
        ``precopy_ns + proof_clean_ns``, and each proof read that finds its page unwritten
        ``proof_read_ns`` as it happens, whatever ``proof_ttl`` (:meth:`CostModel.with_clean`;
        ``proof_ttl``'s worst case per copy is the budget's reserve, :meth:`for_cost`)."""
        return cost.with_clean() if self.proof and not self.inert else cost

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        self.ctx.reset(n_pages)
        self.budget = 0
        self.granted = 0  # ns of allowances added this run: what bounds the loss over k = 0
        self.gated = 0  # stride_gate: strided windows kept adjacent this run (diagnostics)
        self.emptied = 0  # windows dropped this run: they would copy nothing (the tally empty)

    def degree(self, c: Cell, page: int, limit: int, want: int | None = None,
               start: int = 0, vpn: int | None = None) -> tuple[int, int]:
        """The degree and the pages it copies, within the budget (``want``: the value asked
        for, by default the table's; ``vpn``: the page's virtual page number, default
        ``page``, which align values read)."""
        self.ctx.win_below = 0
        if want is None:
            want = self.table[c.cell]
        if self.explore is not None:
            want = self.explore(c.cell, want)
        cands: Sequence[int] = self.degrees
        if is_align(want):  # the rest of the aligned group, or a smaller degree that fits
            want = align_degree(want, page if vpn is None else vpn)
            cands = (*(d for d in self.degrees if d < want), want)
        if self.run_cap and c.cls == STREAM and c.rlen and not self.ctx.win_stride:
            # run_cap: no further than the last page of a run as long as the previous one
            # (a run already longer: no cap); that degree too, as an align value's
            rem = c.rstart + c.rlen - 1 - page
            if 0 <= rem < want:
                want = rem
                cands = (*(d for d in cands if d < want), want)
        if self.depth_cap and want > 1:
            row = 2 * c.cls + (1 if self.ctx.win_stride else 0)
            dc = self.depth_limit(row)
            if dc < want:  # depth_cap: that degree too, as an align value's
                self.depth_relax(row, dc)
                want = dc
                cands = (*(d for d in cands if d < want), want)
        if want == 0 or self.ctx.use[c.cls] < self.floor or self.below_total(c.cls) \
                or (self.ctx.slow_shift and self.ctx.slow[c.cls] < self.floor << 8):
            return 0, 0
        cap = self.ctx.protected_gap(page, want, start, limit) if self.ctx.protect else want + 1
        if self.stride_clip and self.ctx.win_stride:
            cap = min(cap, self.ctx.strided_clip(page, want, start, limit))
        below = 0  # group_below: the shared pages below, in every candidate (adjacent only)
        if self.group_below and not self.ctx.win_stride:
            self.ctx.win_below, below = self.ctx.below_pages(
                page, start, page if vpn is None else vpn, self.group_below)
        for d in reversed(cands):
            if d > want or d == 0 or d >= cap:
                continue
            copied = self.ctx.shared_in_window(page, d, limit) + below
            if copied * self.reserve(c.cls) + self.fixed(page, d, copied, limit) \
                    <= self.budget + self.ctx.late_avail:
                return d, copied
        self.ctx.win_below = 0
        return 0, 0

    def depth_limit(self, row: int) -> int:
        """``depth_cap``: the deepest window row ``row``'s depth EWMAs allow (``2 * class +
        strided``, the window this decision would open): ``2 ** b - 1`` for
        the shallowest bucket ``b >= 1`` whose EWMA is below the break-even precision
        ``loss / (gain + loss)`` (``ewma x (gain + loss) < DEPTH_ONE x loss``), else
        :data:`MAX_K` (no cap). Depth 1 (bucket 0) never caps: a one-page window is what the
        budget itself prices. A cap below ``MAX_K`` relaxes bucket ``b`` by ``1 / 2 **
        DEPTH_RELAX`` towards ``DEPTH_ONE`` (called only when the cap may shorten the
        window: ``want > 1``, the same test as ``programs.guarded_decide``'s)."""
        ewma = self.ctx.depth[row]
        for b in range(1, DEPTH_BUCKETS):
            if ewma[b] * (self.gain + self.loss) < DEPTH_ONE * self.loss:
                return (1 << b) - 1
        return MAX_K

    def depth_relax(self, row: int, cap: int) -> None:
        """``depth_cap``: the decision was shortened to ``cap = 2 ** b - 1``: row ``row``'s
        bucket ``b`` moves ``1 / 2 ** DEPTH_RELAX`` of the way to ``DEPTH_ONE``."""
        ewma = self.ctx.depth[row]
        b = (cap + 1).bit_length() - 1
        ewma[b] += (DEPTH_ONE - ewma[b]) >> DEPTH_RELAX
        self.ctx.depth_capped += 1

    def gate_add(self, marks: int, hits: int) -> None:
        """``sibling_gate``: ``marks`` sibling pages marked, ``hits`` saved (both halved once
        the marks reach :data:`GATE_DECAY`; ``programs.g_gate_add``)."""
        g = self.ctx
        g.gate_mark += marks
        g.gate_hit += hits
        if g.gate_mark >= GATE_DECAY:
            g.gate_mark >>= 1
            g.gate_hit >>= 1
            g.gate_epoch = (g.gate_epoch + 1) & 3

    def gate_open(self) -> bool:
        """``sibling_gate`` m: the sibling pages' saved rate (at least :data:`GATE_MIN`
        marks) at least break-even plus m/8 of the rest (``programs.g_gate_open``)."""
        m = self.ctx.gate_mark
        return m >= GATE_MIN and self.ctx.gate_hit * 8 * (self.gain + self.loss) \
            >= m * (8 * self.loss + self.sibling_gate * self.gain)

    def gate(self, page: int, end: int, proc: int) -> bool:
        """``sibling_gate``: this demand fault's hit (its page marked by its process), the
        marks its adjacent window (through ``end``) takes back, and whether the sibling
        window opens."""
        g = self.ctx
        mine = (proc & (G_PROCS - 1)) + 1
        tag = mine | (g.gate_epoch << 5)  # a mark of an older epoch is only cleared
        if g.ghost[page] & 31 == mine:
            if g.ghost[page] == tag:
                self.gate_add(0, 1)
            g.ghost[page] = 0
        if not g.win_stride:
            for j in range(page + 1, end + 1):
                if g.ghost[j] & 31 == mine:
                    if g.ghost[j] == tag:
                        g.gate_mark = max(g.gate_mark - 1, 0)
                    g.ghost[j] = 0
        return self.gate_open()

    def sibling(self, page: int, k: int, limit: int, proc: int = 0) -> list[int]:
        """``sibling_window``: this fault's sibling window (after its adjacent window of
        degree ``k`` was decided and paid; not after a strided one): of the pages past that
        window, up to ``page + W`` within the region, whose family bit is set, the longest
        run from the first whose stake fits the budget (the loss of each still shared one,
        copied; skip_ns for each private one walked before the last shared one; the setup
        when ``k`` is 0), paid; its shared pages (``programs.guarded_sibling``). Sets
        :attr:`GuardedContext.win_sib` to the last of them (0: none)."""
        g = self.ctx
        g.win_sib = 0
        end = max(min(page + k, limit - 1), page)  # the adjacent window's last page
        strided = bool(g.win_stride) and k > 0
        # (a strided window's marks are not taken back: the gate sees no window)
        opened = self.gate(page, page if strided else end, proc) if self.sibling_gate else True
        if strided:
            return []
        hi = min(page + self.sibling_window, limit - 1)
        if not opened:  # the ghost window: marks, copies nothing, costs nothing
            mine = (proc & (G_PROCS - 1)) + 1
            for q in range(end + 1, hi + 1):
                tag = mine | (g.gate_epoch << 5)  # (a mark may halve: a new epoch)
                if g.family[q] and not g.private[q - g.off] and g.ghost[q] != tag:
                    g.ghost[q] = tag
                    self.gate_add(1, 0)
            return []
        acc, stake, taken = (self.setup if k == 0 else 0), 0, []
        per = self.sibling_per()
        for q in range(end + 1, hi + 1):
            if not g.family[q]:
                continue
            if g.private[q - g.off]:
                acc += self.skip
                continue
            acc += per
            if acc > self.budget:
                break
            taken.append(q)
            stake = acc
        self.budget -= stake
        g.win_sib = taken[-1] if taken else 0
        return taken

    def sibling_per(self) -> int:
        """What one sibling page stakes: its loss, or with ``sibling_stake`` its expected
        loss at the sibling pages' proof rate (at least 1/8 of the loss)."""
        if not self.sibling_stake:
            return self.loss
        return self.loss * max(USE_ONE - self.ctx.sib_use, USE_ONE // 8) // USE_ONE

    def below_total(self, cls: int) -> bool:
        """With ``floor_total``: whether class ``cls``'s lifetime sentinel hit rate, ``hits /
        (hits + misses)``, is below ``floor / USE_ONE`` (False before its first outcome)."""
        if not self.floor_total:
            return False
        hits, n = self.ctx.hits[cls], self.ctx.hits[cls] + self.ctx.misses[cls]
        return n > 0 and hits * USE_ONE < self.floor * n

    def fixed(self, page: int, k: int, copied: int, limit: int) -> int:
        """What a window costs whatever happens: the setup and its already-private pages
        (a strided window: and ``stride_ns`` per page walked; ``group_below``: the pages
        below walked, :attr:`GuardedContext.win_below`, count as walked)."""
        if self.ctx.win_stride:
            walked = len(self.ctx.window_pages(page, k, limit))
            return self.setup + (walked - copied) * self.skip + walked * self.stride_ns
        walked = max(min(page + k, limit - 1) - page, 0) + self.ctx.win_below
        return self.setup + (walked - copied) * self.skip

    def reserve(self, cls: int) -> int:
        """What one copied page reserves from the budget: its whole loss (worst case), or,
        with ``expected_loss``, its loss times the class's sentinel miss rate (at least 1/8)."""
        if not self.expected_loss:
            return self.loss
        miss = max(USE_ONE - self.ctx.use[cls], USE_ONE // 8)
        return self.loss * miss // USE_ONE

    def decide(self, ctx: FaultContext) -> int:
        return self.act(self.fault_cell(ctx), ctx)

    def prove(self, ctx: FaultContext, start: int, limit: int) -> None:
        """Version 4, step 0: look at the ring round robin from its cursor; of at most
        ``proof_reads`` entries whose page lies in ``[start, limit)``, each written after its
        copy returns its reserve and gain and leaves the ring. With ``proof_backoff`` an
        entry not yet due is stepped over unread and uncounted. With ``walk_ns`` /
        ``walk_empty_ns`` every slot stepped over unread (empty: ``walk_empty_ns``; another
        region's, not yet due: ``walk_ns``) is paid from the budget as it is taken, and the
        look ends at a slot whose price (``walk_empty_ns`` if empty, else ``walk_ns``) the
        budget does not hold: the budget never goes negative, and the walk is inside the
        bound. With ``read_credit`` a proof also returns ``read_ns`` per reserved read
        (``proof_ttl``) the copy did not use: ``proof_ttl - proof_miss``. The look ends once it
        looked at every live entry (with ``proof_look`` 1: every live entry of its region's
        bucket, :func:`region_bucket`)."""
        state = ctx.page_state
        if state is None:
            raise RuntimeError("guarded proof=1 reads the page state of the engine "
                               "(FaultContext.page_state); this fault has none")
        g = self.ctx
        walk = ctx.proof_walk  # the engine charges the slots stepped over unread
        i0 = i = g.proof_cursor
        # (start, limit: the decision's pages, ctx.coord_offset past the region's own)
        b = region_bucket(start - ctx.coord_offset + ctx.vpn_offset, limit - start, ctx.proc)
        own = ctx.proc & (G_PROCS - 1)  # it reads only the entries its process copied
        # live entries not yet looked at: of every region, or (proof_look 1) of its bucket
        n, left = 0, g.bucket_live[b] if self.proof_look else g.proof_live
        now = g.n_faults & DUE_MASK
        db = b if self.proof_look else 0  # proof_span's due index
        if self.proof_span and (not left or due_before(now, g.bucket_due[db])):
            return  # nothing live, or nothing due before bucket_due: no read, no walk
        if self.proof_duemap and left:
            if g.wait_live and not due_before(now, g.wait_due):
                # a refresh: each waiting entry looked at, those due wait no longer
                price = g.wait_live * self.walk_scan
                if price and self.budget < price:  # paid before it is taken
                    g.proof_cuts += 1
                    if self.proof_span:  # the next fault looks again (proof_cutback: later)
                        g.bucket_due[db] = (now + self.put_off(db, True, False)) & DUE_MASK
                    return
                self.budget -= price
                g.proof_scans += g.wait_live
                if walk is not None:
                    walk[4] += g.wait_live  # charged proof_duescan_ns by the engine
                g.refresh(now)
            # the look counts only the entries not waiting (every waiting one: not yet due)
            waiting = g.bucket_wait[b] if self.proof_look else g.wait_live
            left -= waiting
            if not left:
                if self.proof_span:  # none it counts is due before the soonest waiting one
                    g.bucket_due[db] = g.wait_due
                return
        soon = DUE_MASK >> 1  # proof_span: faults until the soonest counted entry is due
        proved = False  # a read of this look found its page written
        cut = False  # the budget could not pay the next step (walk_ns / walk_empty_ns)
        # with backoff the look also ends after BACKOFF_STEPS x proof_reads ring slots
        for _ in range(min(BACKOFF_STEPS * self.proof_reads, PROOFS) if self.proof_backoff
                       else PROOFS):
            if n >= self.proof_reads or not left:
                break
            if self.proof_span and not g.in_span(i):
                i = g.proof_tail  # past the newest entry: on from the oldest (no slot walked)
            due = self.proof_duemap and (not g.proof_page[i] or g.proof_wait[i])
            if due or (self.proof_skipmap and not g.proof_page[i]):
                # one jump to the next live slot (the module's bitmap; with the due map, the
                # next one not waiting): walk_due_ns, else paid as one empty slot
                jump = self.walk_due if due else self.walk_empty
                if jump and self.budget < jump:
                    cut = True
                    g.proof_cuts += 1
                    break
                self.budget -= jump
                if due:
                    g.proof_duejumps += 1
                else:
                    g.proof_jumps += 1
                if walk is not None:  # charged proof_duejump_ns / proof_jump_ns by the engine
                    walk[3 if due else 2] += 1
                j = g.next_live(i)
                if self.proof_span and i == g.proof_tail and not g.proof_page[i]:
                    g.proof_tail = j  # the slots before the next live one are empty
                i = g.next_due(i) if due else j
            v = g.proof_page[i]
            # the price of the slot it steps to: an empty one walk_empty_ns, a live one
            # stepped over unread (another region's, not yet due) walk_ns, one it reads
            # nothing (its reads are in the copy's reserve): the gate is what is charged
            mine = start <= v - 1 < limit and g.proof_proc[i] == own
            read = v and mine and not (
                self.proof_backoff and due_before(now, g.proof_due[i]))
            price = 0 if read else self.walk if v else self.walk_empty
            if price and self.budget < price:  # a step is paid before it is taken
                cut = True
                g.proof_cuts += 1
                break
            g.proof_steps += 1
            over = -1  # stepped over unread: 0 an empty slot, 1 a live entry (walk's index)
            if not v:
                g.proof_empty += 1  # an empty slot stepped over: proof_step_ns
                over = 0
            else:
                counted = not self.proof_look or g.proof_bucket[i] == b
                if counted:
                    left -= 1
                if not mine:  # another region's or process's (its faults read it)
                    g.proof_other += 1  # proof_skip_ns
                    g.proof_foreign += start <= v - 1 < limit
                    over = 1
                    if counted:  # due for its own region's looks: look again at once
                        soon = 0
                elif self.proof_backoff and due_before(now, g.proof_due[i]):
                    g.proof_skips += 1  # not due yet: not read, not counted; proof_skip_ns
                    over = 1
                    if counted:
                        soon = min(soon, (g.proof_due[i] - now) & DUE_MASK)
                else:
                    n += 1
                    if state[v - 1 - ctx.coord_offset] == PAGE_WRITTEN:  # its own copy
                        proved = True
                        self.prove_entry(i)
                    else:
                        g.unproven_reads += 1
                        if ctx.unproven_reads is not None:  # the engine charges it
                            ctx.unproven_reads[0] += 1
                        g.proof_miss[i] += 1
                        if g.proof_miss[i] >= DEPTH_MISSES:  # depth_cap: unproven, counted once
                            g.depth_outcome(i, False)
                            g.proof_depth[i] = 0
                        if self.proof_ttl and g.proof_miss[i] >= self.proof_ttl:
                            g.drop(i)  # leaves the ring: its reserve stays spent
                            g.expired += 1
                            g.depth_outcome(i, False)
                            if g.proof_stake[i]:  # a sibling page expired: a miss
                                g.sib_use -= g.sib_use >> 4
                                if self.sibling_stake == 2:  # ... and the rest of its loss
                                    self.budget -= self.loss - g.proof_stake[i]
                            if g.use_proof:
                                g.use_down(g.proof_cls[i])
                        elif self.proof_backoff:  # read again 2^m faults later
                            shift = min(g.proof_miss[i], BACKOFF_MAX_SHIFT)
                            g.proof_due[i] = (now + (1 << shift)) & DUE_MASK
                            if counted:
                                soon = min(soon, 1 << shift)
                            if self.proof_duemap:  # jumped over until a refresh finds it due
                                g.wait(i)
            if over >= 0:  # paid from the budget, charged by the engine
                self.budget -= price
                if walk is not None:
                    walk[over] += 1
            if self.proof_span and i == g.proof_tail and not g.proof_page[i]:
                # the oldest slot is empty now: the span starts after it
                g.proof_tail = (i + 1) & (PROOFS - 1) if g.proof_live else g.proof_head
            i = (i + 1) & (PROOFS - 1)
        # stopped short of proof_reads: all live entries seen (or, with backoff, the steps
        # spent); the full round ends at i0 (with proof_ttl or backoff the cursor stays where
        # the look ended: holes are not walked again, and a backoff look moves on; a look cut
        # by the budget too: the next one goes on from there)
        g.proof_cursor = (i if n >= self.proof_reads or self.proof_ttl or self.proof_backoff
                          or cut else i0)
        if self.proof_duemap and (g.bucket_wait[b] if self.proof_look else g.wait_live):
            soon = min(soon, 0 if due_before(g.wait_due, now) else (g.wait_due - now) & DUE_MASK)
        if self.proof_span:  # all counted entries seen: none is due before the soonest one
            soon = soon if not left and not cut else 0
            g.bucket_due[db] = (now + max(soon, self.put_off(db, cut, proved))) & DUE_MASK

    def prove_entry(self, i: int, late: bool = False) -> None:
        """Ring entry ``i``'s copy was read and found written: the budget gets its credit
        (a window page's reserve ``loss`` plus ``gain``, with ``read_credit`` its unused
        reserved reads; a sibling page's stake plus ``gain``), the entry leaves the ring, and
        ``use`` (``use_proof``), the sibling rate and ``depth_cap`` see a proof. A look's
        proving read and a last look's (``last_look``) do the same
        (``programs.g_prove_entry``)."""
        g = self.ctx
        if g.proof_stake[i]:  # a sibling page: its stake and gain
            credit = g.proof_stake[i] + self.gain
            g.sib_use += (USE_ONE - g.sib_use) >> 4
            # sibling_gate: a hit (at most the marks: a proof may come
            # after a halving its mark's weight went through)
            if self.sibling_gate and g.gate_hit < g.gate_mark:
                self.gate_add(0, 1)
        else:
            unused = self.proof_ttl - g.proof_miss[i] if self.read_ns else 0
            credit = self.loss + self.gain + unused * self.read_ns
            g.unused_reads += unused
        if late or g.proof_latefin[i]:  # region_look: to the late reserve of its row and key
            g.late_looked += not late
            r, key = g.proof_row[i], (g.proof_bucket[i] | (g.proof_proc[i] << 4)) + 1
            if g.late_key[r] != key:  # another key's reserve: forfeited
                g.late_forfeit += g.late[r]
                g.late[r], g.late_key[r] = 0, key
            g.late[r] += credit
        else:
            self.budget += credit
        g.drop(i)
        g.proven += 1
        g.depth_outcome(i, True)
        if g.use_proof:
            g.use_up(g.proof_cls[i])

    def last_look_at(self, h: int, ctx: FaultContext, start: int, limit: int) -> None:
        """``last_look``: ring slot ``h`` is about to take a new entry. If it holds a live
        entry of the faulting region (decision pages ``[start, limit)``) and process ordinal
        (the look's reading rule; any other entry is overwritten unread, as without the
        option), its page is read once: written after its copy, it is proven as a look's read
        proves it (:meth:`prove_entry`) and the slot is taken as an empty one; not written, the
        read is an unproven proof read (charged ``proof_read_ns`` by the engine) and the entry
        is overwritten as without the option (``programs.g_last_look``)."""
        g = self.ctx
        v = g.proof_page[h]
        if not v or not start <= v - 1 < limit or g.proof_proc[h] != ctx.proc & (G_PROCS - 1):
            return
        state = ctx.page_state
        if state is None:
            raise RuntimeError("guarded last_look=1 reads the page state of the engine "
                               "(FaultContext.page_state); this fault has none")
        if state[v - 1 - ctx.coord_offset] == PAGE_WRITTEN:
            self.prove_entry(h, late=bool(self.region_look))
            g.last_proven += 1
        else:
            g.unproven_reads += 1
            g.last_unproven += 1
            if ctx.unproven_reads is not None:  # the engine charges it
                ctx.unproven_reads[0] += 1

    def put_off(self, db: int, cut: bool, proved: bool) -> int:
        """``proof_cutback``: the faults by which a look of bucket ``db`` (cut by the budget
        or not, a proof found or not) puts off the bucket's next look, at least: a cut counts
        one more (at most ``proof_cutback``), a proof clears the count; ``2 ** count`` while
        the count is not 0, else 0 (the look's own due, as without it)."""
        if not self.proof_cutback:
            return 0
        g = self.ctx
        if proved:
            g.bucket_cuts[db] = 0
        elif cut:
            g.bucket_cuts[db] = min(g.bucket_cuts[db] + 1, self.proof_cutback)
        return 1 << g.bucket_cuts[db] if g.bucket_cuts[db] else 0

    def fault_cell(self, ctx: FaultContext) -> Cell:
        """Steps 0-4 of a fault: proofs, sentinel check, budget, context cell (then
        :meth:`act`).

        Split from :meth:`act` so that another chooser of ``k`` (an SB3 network,
        :mod:`cowrl.policies.shield`) sees the same context and is shielded by the same budget.
        """
        off = self.ctx.off = ctx.coord_offset  # the decision's pages: page + off
        limit = (ctx.region_end if ctx.region_end > 0 else ctx.n_pages) + off
        if self.proof:
            self.prove(ctx, ctx.region_start + off, limit)
        self.ctx.salt = region_salt(ctx.region_start + ctx.vpn_offset,
                                    limit - ctx.region_start - off, ctx.proc) \
            if self.sentinel_salt else 0
        c = self.ctx.observe_fault(ctx.page + off, ctx.region_start + off, limit)
        if self.stride_gate and self.ctx.win_stride:
            self.gate_stride(ctx)
        # A hit sentinel proves its window's pages were written: refund their reserved loss
        # and bank their gain (not with proof: only interior proofs credit). A fault with
        # evidence of use adds a small allowance (the risk we accept): a hit, or a dense left
        # neighbourhood (grant_left; 0 = every fault).
        if not self.proof:
            self.budget += self.ctx.refund_reserved + self.ctx.refund_pages * self.gain
        if self.ctx.hit:
            self.budget += self.allowance * self.hit_scale
            self.granted += self.allowance * self.hit_scale
        elif not self.grant_left or self.ctx.left >= self.grant_left \
                or (self.ctx.win_stride and self.ctx.left_s >= self.grant_left):
            # (stride_window: page-s, page-2s, page-3s private is the strided evidence)
            self.budget += self.allowance
            self.granted += self.allowance
        return c

    def gate_stride(self, ctx: FaultContext) -> None:
        """``stride_gate`` (a simulator study): the strided window of stride ``s`` stays
        adjacent where ``page - s + 1``, the page right of the previous row's, lies in the
        region and is written (the engine's page state ``PAGE_WRITTEN``: a page that faulted,
        or a copy whose dirty bit a proof would read): the row went on, as in a 2-D tile,
        where the adjacent window copies the rest of the row (docs/results/
        stride-window-tiled2d-s28.md); in a column sweep that page is the next column's."""
        state = ctx.page_state
        if state is None:
            raise RuntimeError("guarded stride_gate=1 reads the page state of the engine "
                               "(FaultContext.page_state); this fault has none")
        q = ctx.page - self.ctx.win_stride + 1
        if ctx.region_start <= q and state[q] == PAGE_WRITTEN:
            self.ctx.win_stride = self.ctx.left_s = 0
            self.gated += 1

    def ring_slot(self, ctx: FaultContext) -> tuple[int, bool]:
        """The ring slot the next page a window copies takes, and whether the ring's span
        is then the whole ring: the head (the oldest entry, overwritten if live), False. The
        shipped rule, what the compiled program and the module do; a hook for simulator
        candidates (experiments/dense_budget.py's K), which may move ``proof_head`` (and pay
        from the budget) and must return it."""
        return self.ctx.proof_head, False

    def act(self, c: Cell, ctx: FaultContext, want: int | None = None) -> int:
        """Steps 5-6: the largest degree ``<= want`` (default ``table[cell]``) that fits the
        budget, committed to the context (stream slot, sentinel)."""
        off = self.ctx.off = ctx.coord_offset  # the decision's pages: page + off
        page, start = ctx.page + off, ctx.region_start + off
        limit = (ctx.region_end if ctx.region_end > 0 else ctx.n_pages) + off
        row = 2 * c.cls + (1 if self.ctx.win_stride else 0)  # region_look's row
        if self.region_look:  # the late reserve of its row, if it is this region's
            key = (region_bucket(ctx.region_start + ctx.vpn_offset, limit - start, ctx.proc)
                   | ((ctx.proc & (G_PROCS - 1)) << 4)) + 1
            avail = self.ctx.late[row] if self.ctx.late_key[row] == key else 0
            self.ctx.late_avail = min(avail, max(self.budget, 0)) if self.region_look == 2 \
                else avail
        k, copied = self.degree(c, page, limit, want, start, ctx.page + ctx.vpn_offset)
        reserved = copied * self.reserve(c.cls) if k > 0 else 0
        take = 0
        if k > 0:
            cost = reserved + self.fixed(page, k, copied, limit)
            take = min(cost, self.ctx.late_avail)  # region_look: the late reserve first
            self.ctx.late[row] -= take
            self.ctx.late_spent += take
            self.budget -= cost - take
        self.ctx.late_avail = 0
        # A window whose pages are all private (or past the region's end) copies nothing: it
        # is dropped (k = 0 issued: no work; its fixed cost stays paid, so every later
        # decision is the same; sibling_window: kept), and the context keeps the window
        # decided (stream end, sentinel, stride detector).
        empty = k > 0 and copied == 0 and not self.sibling_window
        kq = 0 if empty else k
        self.emptied += empty
        sib = self.sibling(page, k, limit, ctx.proc) if self.sibling_window else []
        if self.proof and (kq > 0 or sib):  # version 4: the copied pages await their proofs
            g = self.ctx
            b = region_bucket(ctx.region_start + ctx.vpn_offset, limit - start, ctx.proc)
            win = (*range(page - g.win_below, page), *g.window_pages(page, k, limit)) \
                if k > 0 else ()
            sibset = set(sib)
            stake = self.sibling_per() if self.sibling_stake else 0
            step = g.win_stride or 1
            for q in (*win, *sib):  # (group_below: the pages below first; siblings last)
                if not g.private[q - off]:
                    h, whole = self.ring_slot(ctx)
                    if (self.last_look or self.region_look) and g.proof_page[h]:
                        # read once before it is overwritten
                        self.last_look_at(h, ctx, start, limit)
                    if self.proof_span and (not g.proof_live or g.proof_tail == h):
                        g.proof_tail = h if not g.proof_live else (h + 1) & (PROOFS - 1)
                    g.unwait(h)  # (before its bucket changes)
                    if g.proof_page[h] == 0:
                        g.proof_live += 1
                    else:  # overwrites the oldest, unproven
                        g.bucket_live[g.proof_bucket[h]] -= 1
                        g.overwritten += 1
                        if g.use_proof:  # a miss for its class
                            g.use_down(g.proof_cls[h])
                        if g.proof_stake[h]:  # a sibling page overwritten unproven: a miss
                            g.sib_use -= g.sib_use >> 4
                            if self.sibling_stake == 2:  # ... and the rest of its loss
                                self.budget -= self.loss - g.proof_stake[h]
                    g.proof_stake[h] = stake if q in sibset else 0
                    if self.sibling_gate and q in sibset:  # a copied sibling page: a mark
                        self.gate_add(1, 0)
                    g.bucket_live[b] += 1
                    g.proof_bucket[h] = b
                    g.proof_proc[h] = ctx.proc & (G_PROCS - 1)
                    g.proof_page[h] = q + 1
                    g.proof_miss[h] = 0
                    g.proof_cls[h] = c.cls
                    g.proof_row[h] = row
                    g.proof_latefin[h] = self.region_look == 3 and take > 0
                    # depth_cap: a window page's position in its window (1..k), bucketed
                    # (+ 8: a strided window's)
                    g.proof_depth[h] = depth_bucket((q - page) // step) + 1 \
                        + (8 if g.win_stride else 0) if q > page and q not in sibset else 0
                    g.proof_due[h] = g.n_faults & DUE_MASK  # due at once
                    if self.proof_span:
                        g.bucket_due[b if self.proof_look else 0] = g.n_faults & DUE_MASK
                    g.proof_head = (h + 1) & (PROOFS - 1)
                    if whole and self.proof_span:  # live entries on both sides of the head
                        g.proof_tail = g.proof_head
        if self.ctx.win_stride and kq > 0:  # the engine applies the strided window
            if ctx.window_stride is None:
                raise RuntimeError("guarded stride_window=1 needs the engine's window stride "
                                   "(FaultContext.window_stride); this fault has none")
            ctx.window_stride[0] = self.ctx.win_stride
        if self.ctx.win_below and kq > 0:  # ... and the pages below it (group_below)
            if ctx.window_below is None:
                raise RuntimeError("guarded group_below needs the engine's window_below "
                                   "(FaultContext.window_below); this fault has none")
            ctx.window_below[0] = self.ctx.win_below
        if sib:  # ... and the sibling window (sibling_window)
            if ctx.window_sib is None:
                raise RuntimeError("guarded sibling_window needs the engine's window_sib "
                                   "(FaultContext.window_sib); this fault has none")
            ctx.window_sib[0] = self.ctx.win_sib - page
        if self.trace_log is not None:
            self.trace_log.append((ctx.page, c.cell, kq, ctx.write_index,
                                   self.ctx.win_stride))
        self.ctx.commit(c, page, k, copied, reserved, limit, start)
        return kq

    def program(self) -> KernelProgram:
        """The compiled form (``decide = "guarded"`` in :mod:`cowrl.sim.programs`): the same
        decisions, fault for fault (``tests/test_guarded_program.py``)."""
        return KernelProgram(mode="table", table={
            "decide": "guarded", "cells": list(self.table), "slots": self.ctx.slots,
            "near": self.ctx.near, "gain_ns": self.gain, "loss_ns": self.loss,
            "setup_ns": self.setup, "skip_ns": self.skip, "allowance_ns": self.allowance,
            "floor": self.floor, "floor_total": self.floor_total,
            "floor_slow": self.ctx.slow_shift,
            "expected_loss": int(self.expected_loss),
            "grant_left": self.grant_left,
            "scan": self.ctx.scan, "merge": int(self.ctx.merge),
            "protect": int(self.ctx.protect), "hit_scale": self.hit_scale,
            "proof": self.proof, "proof_reads": self.proof_reads if self.proof else 0,
            "proof_ttl": self.proof_ttl, "use_proof": self.ctx.use_proof,
            "proof_backoff": self.proof_backoff, "walk_ns": self.walk,
            "walk_empty_ns": self.walk_empty, "read_ns": self.read_ns,
            "proof_look": self.proof_look, "proof_span": self.proof_span,
            "proof_skipmap": self.proof_skipmap, "proof_duemap": self.proof_duemap,
            "walk_due_ns": self.walk_due, "walk_scan_ns": self.walk_scan,
            "proof_cutback": self.proof_cutback, "degrees": list(self.degrees),
            **({"stride_window": 1, "stride_ns": self.stride_ns} if self.stride_window
               else {}),
            **({"group_below": self.group_below} if self.group_below else {}),
            **({"run_cap": self.run_cap} if self.run_cap else {}),
            **({"depth_cap": self.depth_cap} if self.depth_cap else {}),
            **({"last_look": self.last_look} if self.last_look else {}),
            **({"region_look": self.region_look} if self.region_look else {}),
            **({"sibling_window": self.sibling_window} if self.sibling_window else {}),
            **({"sibling_stake": self.sibling_stake} if self.sibling_stake else {}),
            **({"sibling_gate": self.sibling_gate} if self.sibling_gate else {}),
            **({"sentinel_salt": 1} if self.sentinel_salt else {})})

    def replay_program(self) -> KernelProgram | None:
        # Training hooks (exploration, the fault log) need decide() at every fault, and so
        # do the stride studies stride_gate / stride_clip (prototype only); strided windows
        # (stride_window) are compiled (cowrl.sim.programs, G_WIN_STRIDE).
        if self.explore is not None or self.trace_log is not None or self.stride_gate \
                or self.stride_clip:
            return None
        if any(getattr(self, f) for f in SIM_STUDY_OPTIONS):  # compiled, not in the module
            return KernelProgram(mode="static", k=0) if self.inert else self.program()
        return self.kernel_program()

    def kernel_program(self) -> KernelProgram:
        """The module runs the same program (COWRL_POLICY_GUARDED, cowrl_guarded.h), or, for
        an inert policy (:attr:`inert`), STATIC with k = 0: the decisions it would take."""
        for field in SIM_STUDY_OPTIONS:  # simulator studies: refused even when inert
            value = getattr(self, field)
            if value:
                raise ConfigError(f"policy.{field}: {value} is a simulator study (not in the "
                                  f"module's table); use {field}: 0")
        if self.inert:
            return KernelProgram(mode="static", k=0)
        for field in ("stride_gate", "stride_clip"):  # simulator studies: not in the module
            if getattr(self, field):
                raise ConfigError(f"policy.{field}: 1 is a simulator study (not in the "
                                  f"module's table); use {field}: 0")
        # stride_window 1: the module's table carries it (ABI 15); sibling_window,
        # sibling_stake and sibling_gate too (ABI 16: the family bytes per target)
        return self.program()

    def describe(self) -> dict[str, int | str]:
        cells: dict[str, int | str] = {describe_cell(c): describe_value(k)
                                       for c, k in enumerate(self.table) if k}
        return {"inert": self.inert_reason, **cells} if self.inert else cells

    def options(self) -> dict[str, Any]:
        """The constructor's keywords that are not the table nor the budget's prices."""
        return {"budget_per_mille": self.budget_per_mille, "floor": self.floor,
                "floor_total": self.floor_total, "floor_slow": self.ctx.slow_shift,
                "slots": self.ctx.slots, "near": self.ctx.near,
                "expected_loss": self.expected_loss, "grant_left": self.grant_left,
                "scan": self.ctx.scan, "merge": self.ctx.merge, "protect": self.ctx.protect,
                "hit_scale": self.hit_scale, "proof": self.proof,
                "proof_reads": self.proof_reads, "proof_ttl": self.proof_ttl,
                "use_proof": self.ctx.use_proof,
                "proof_backoff": self.proof_backoff, "read_credit": self.read_credit,
                "proof_look": self.proof_look, "proof_span": self.proof_span,
                "proof_skipmap": self.proof_skipmap, "proof_duemap": self.proof_duemap,
                "proof_cutback": self.proof_cutback, "stride_window": self.stride_window,
                "stride_gate": self.stride_gate, "stride_clip": self.stride_clip,
                "group_below": self.group_below, "sibling_window": self.sibling_window,
                "sibling_stake": self.sibling_stake, "sibling_gate": self.sibling_gate,
                "sentinel_salt": self.sentinel_salt,
                **({"run_cap": self.run_cap} if self.run_cap else {}),
                **({"depth_cap": self.depth_cap} if self.depth_cap else {}),
                **({"last_look": self.last_look} if self.last_look else {}),
                **({"region_look": self.region_look} if self.region_look else {}),
                "degrees": list(self.degrees), "inert": self.inert}

    def artifact_spec(self) -> dict[str, Any]:
        """The table, the options and the budget: its prices, or with ``costmodel: auto``
        (:func:`make_guarded`) lambda and the options :meth:`for_trace` rebuilds it with."""
        spec: dict[str, Any] = {"table": list(self.table), **self.options(),
                                "gain_ns": self.gain, "loss_ns": self.loss,
                                "setup_ns": self.setup, "demand_ns": self.demand,
                                "skip_ns": self.skip, "stride_ns": self.stride_ns,
                                "walk_ns": self.walk,
                                "walk_empty_ns": self.walk_empty, "read_ns": self.read_ns,
                                "walk_due_ns": self.walk_due, "walk_scan_ns": self.walk_scan,
                                "cells": {k: v for k, v in self.describe().items()
                                          if k != "inert"}}
        if self.budget_spec is not None:
            lam, kw = self.budget_spec
            spec["costmodel"] = "auto"
            spec["lam"] = lam
            spec["auto_options"] = {k: v for k, v in kw.items() if k != "name"}
        return spec

    @classmethod
    def from_artifact(cls, spec: dict[str, Any], name: str, directory: Any) -> GuardedPolicy:
        if spec.get("costmodel") == "auto":
            return make_guarded(table=spec["table"], costmodel="auto", lam=spec["lam"],
                                name=name, **spec["auto_options"])
        # saved without walk_empty_ns: walk_ns (the constructor's default), one price as then;
        # without read_credit / read_ns: 0, no credit of unused reads, as then
        keys = ("gain_ns", "loss_ns", "setup_ns", "demand_ns", "skip_ns", "stride_ns", "walk_ns",
                "walk_empty_ns", "read_ns", "walk_due_ns", "walk_scan_ns",
                "run_cap", "depth_cap", "last_look", "region_look")  # (in options() only when set)
        opts = {k: v for k, v in spec.items() if k in (*keys, *cls(table=None).options())}
        return cls(table=spec["table"], name=name, **opts)


# --- learning the table (simulator, full information) ---------------------------------------


CHARGES: tuple[str, ...] = ("true", "budget", "ring")
"""What :func:`arm_rewards` (and so :func:`learn_table`) credits a window page with
(``charge``): ``true``, the shipped learner, the objective's own hindsight prices (a page
written later saves ``gain``, else costs ``loss``: :meth:`CostModel.page_prices` of the cost
the run is priced by); ``budget``, the run-time budget's currency (a page written later
returns the budget's ``gain_ns`` on top of its stake, an unwritten one loses its stake
``loss_ns``: the prices :meth:`GuardedPolicy.for_cost` pushes, whose break-even share is
higher, 88.9% against 83.1% under ``seed_table1``, 94.4% against 88.3% under ``host``);
``ring``, the budget's currency where a copy returns its stake only if its page is written
before :data:`PROOFS` more pages are copied after it (the run's logged copies; the ring
then overwrites its entry unproven: for the budget the copy was waste). Session 32,
docs/results/charge-learner-s32.md."""


def check_charge(charge: Any) -> str:
    """``charge`` must be one of :data:`CHARGES`."""
    if not isinstance(charge, str) or charge not in CHARGES:
        raise ConfigError(f"charge: one of {', '.join(CHARGES)}, got {charge!r}")
    return charge


def _copies_logged(trace: Trace, events: Sequence[tuple[int, ...]]) -> np.ndarray:
    """Pages each logged fault's window copied (those still shared when it opened), replayed
    as :func:`arm_rewards` replays them."""
    private = np.zeros(trace.n_pages, dtype=bool)
    ends = trace.region_ends
    out = np.zeros(len(events), dtype=np.int64)
    for e, ev in enumerate(events):
        page, k = ev[0], ev[2]
        s = ev[4] if len(ev) > 4 else 0
        private[page] = True
        if k > 0:
            lim = int(ends[int(np.searchsorted(ends, page, side="right"))])
            if s >= 2:
                win = page + s * np.arange(1, min(k, (lim - 1 - page) // s) + 1)
            else:
                win = np.arange(page + 1, min(page + k, lim - 1) + 1)
            out[e] = int(np.count_nonzero(~private[win]))
            private[win] = True
    return out


def arm_rewards(trace: Trace, cost: CostModel, lam: float,
                events: Sequence[tuple[int, ...]], degrees: Sequence[int] = DEGREES,
                charge: str = "true", budget_prices: tuple[float, float] | None = None
                ) -> np.ndarray:
    """Hindsight reward of every arm (a degree, or an align value ``ALIGN | G``: the degree
    to the end of the fault's aligned group of G pages) at every logged fault, in ns saved
    against ``k = 0``.

    ``events``: :attr:`GuardedPolicy.trace_log`, ``(page, cell, k, write index, stride)`` per
    fault; a 4-tuple (the log before strided windows) is an adjacent window's (stride 0).

    Replays the logged decisions to know which pages were private at each fault; a window
    page still shared is useful if the trace writes it later (it saves a decided fault:
    ``+ fault + copy + decide - precopy``)
    and waste otherwise (``- precopy - lambda * page_cost``); a page already private costs
    ``precopy_skip_ns`` if the walk steps over it: the walk stops after the window's last
    page still shared, as the engine's GUARDED walk does (``trim``); ``k > 0`` pays
    ``precopy_setup_ns``.

    A fault logged with a stride ``s >= 2`` (``stride_window: 1``: the detector's stride
    continuing) prices arm ``d`` over its strided window ``page+s, .., page+d*s`` (clipped
    at the region's end, :meth:`GuardedContext.window_pages`), each strided page walked
    (the trimmed walk, as the engine charges it) ``precopy_stride_ns`` more; an align value
    there is its degree at the fault's virtual page, strided (what :meth:`GuardedPolicy.degree`
    asks of a strided window), and the logged window is replayed strided.

    ``charge`` (:data:`CHARGES`; ``budget_prices``, the budget's ``(gain_ns, loss_ns)``, is
    needed unless ``"true"``): ``"budget"`` prices a useful page at ``+gain_ns`` and a wasted
    one at ``-loss_ns``; ``"ring"`` also counts a page written later as wasted unless fewer
    than :data:`PROOFS` pages were copied (by the logged windows of the faults after this
    one) before its next write. The walk, setup and strided prices stay the engine's.
    """
    check_charge(charge)
    n = trace.n_pages
    last = np.full(n, -1, dtype=np.int64)
    last[trace.pages] = np.arange(trace.writes)  # index of each page's last write
    private = np.zeros(n, dtype=bool)
    gain, loss = cost.page_prices(lam, GuardedPolicy.decide_program)
    if charge != "true":
        if budget_prices is None:
            raise ConfigError(f"charge: {charge!r} needs the budget's prices (budget_prices)")
        gain, loss = (float(v) for v in budget_prices)
    if charge == "ring":  # when each page is next written, and the copies logged before then
        order = np.argsort(trace.pages, kind="stable")
        w_all = np.int64(trace.writes + 1)
        keys = trace.pages[order].astype(np.int64) * w_all + order
        ev_wi = np.fromiter((ev[3] for ev in events), dtype=np.int64, count=len(events))
        copies0 = np.concatenate(([0], np.cumsum(_copies_logged(trace, events))))
    arms = [int(d) for d in degrees]
    aligned = np.array([is_align(a) for a in arms])
    groups = np.array([a - ALIGN if is_align(a) else 1 for a in arms], dtype=np.int64)
    kmax = max(MAX_K if is_align(a) else a for a in arms)
    idx = np.where(aligned, 0, np.asarray(arms, dtype=np.int64))
    out = np.zeros((len(events), len(arms)))
    ends = trace.region_ends
    voffs = trace.region_vpn_offsets
    for e, ev in enumerate(events):
        page, k, wi = ev[0], ev[2], ev[3]
        s = ev[4] if len(ev) > 4 else 0
        private[page] = True
        r = int(np.searchsorted(ends, page, side="right"))
        lim = int(ends[r])  # the region's end
        if aligned.any():  # the rest of the aligned group at this page's virtual address
            vpn = page + int(voffs[r])
            idx = np.where(aligned, (groups - 1) - (vpn & (groups - 1)), idx)
        setup = np.where(idx > 0, cost.precopy_setup_ns, 0.0)
        if s >= 2:  # the strided window: page + j*s, j = 1..m (within the region)
            m = min(kmax, (lim - 1 - page) // s)
            win = page + s * np.arange(1, m + 1)
        else:
            m = max(min(page + kmax, lim - 1) - page, 0)
            win = np.arange(page + 1, page + m + 1)
        if m > 0:
            priv = private[win]
            later = last[win] > wi
            if charge == "ring":  # written before the ring overwrites its entry unproven
                pos = np.searchsorted(keys, win.astype(np.int64) * w_all + wi, side="right")
                pos_c = np.minimum(pos, keys.size - 1)
                nxt = np.where(later, order[pos_c], trace.writes)
                between = copies0[np.searchsorted(ev_wi, nxt, side="left")] - copies0[e + 1]
                later &= between < PROOFS
            per = np.where(priv, 0.0, np.where(later, gain, -loss))
            c = np.concatenate(([0.0], np.cumsum(per)))
            # Window pages walked for a degree d: up to the last page still shared among
            # the first d (none if all are private); the private ones before it are skipped.
            top = np.maximum.accumulate(np.concatenate(([0], np.where(priv, 0, np.arange(
                1, m + 1)))))
            skipped = np.concatenate(([0], np.cumsum(priv)))[top]
            ks = np.minimum(idx, m)
            out[e] = c[ks] - cost.precopy_skip_ns * skipped[ks] - setup
            if s >= 2:  # each strided page walked: its own page-table lookup
                out[e] -= cost.precopy_stride_ns * top[ks]
        else:
            out[e] = -setup
        if k > 0:
            if s >= 2:
                private[page + s * np.arange(1, min(k, (lim - 1 - page) // s) + 1)] = True
            else:
                private[page + 1:min(page + k, lim - 1) + 1] = True
    return out


def learn_table(traces: Iterable[Trace], costs: Sequence[CostModel], lam: float = 1.0,
                passes: int = 3, epsilon: float = 0.2, seed: int = 0,
                degrees: Sequence[int] = DEGREES, margin: float = 0.02,
                progress: bool = False, aligns: Sequence[int] = ALIGN_GROUPS_LEARNED,
                prior: int = 0, charge: str = "true", **policy_kw: Any) -> dict[str, Any]:
    """Learn the table from ``traces`` (each priced under each of ``costs``).

    The arms are ``degrees`` and, for each G of ``aligns``, the align value ``ALIGN | G``
    (copy to the end of the fault's aligned group of G pages; :data:`ALIGN_ARMS`).

    Each pass replays every trace under the current table with ``epsilon`` exploration,
    adds every arm's hindsight reward (divided by the trace's baseline cost, so every trace
    weighs alike) to its cell, and sets each cell to its best arm; an arm other than
    ``prior`` must beat ``prior`` by ``margin`` of the cell's baseline share, and a cell no
    arm beats it in (or no fault visited) keeps ``prior``. Returns the table and the sums.

    ``prior`` (a degree of ``degrees``; 0 = the learner before it): what a cell asks unless
    its data say otherwise. With 0 a cell that the passes rarely reach (high sentinel use is
    reached only after windows were used) asks for no window; with 64 it asks what the shield
    alone (``shield64``) asks, and the shield's budget bounds its loss either way.

    ``charge`` (:data:`CHARGES`; ``"true"``, the default, is the learner as shipped): the
    currency each arm's window pages are priced in (:func:`arm_rewards`). ``"budget"`` and
    ``"ring"`` price them as the run-time budget books them (its ``gain_ns`` / ``loss_ns``,
    and with ``"ring"`` a page used only after the ring has overwritten its entry is a lost
    stake), so that a cell whose windows are used below the budget's break-even share is not
    credited for the budget its waste takes from the other cells of its region. Only the
    table changes: the budget bounds the loss over ``k = 0`` for any table.
    """
    return learn_tables(traces, costs, [(prior, margin, charge)], lam=lam, passes=passes,
                        epsilon=epsilon, seed=seed, degrees=degrees, progress=progress,
                        aligns=aligns, **policy_kw)[0]


def learn_tables(traces: Iterable[Trace], costs: Sequence[CostModel],
                 variants: Sequence[tuple[Any, ...]], lam: float = 1.0, passes: int = 3,
                 epsilon: float = 0.2, seed: int = 0, degrees: Sequence[int] = DEGREES,
                 progress: bool = False, aligns: Sequence[int] = ALIGN_GROUPS_LEARNED,
                 **policy_kw: Any) -> list[dict[str, Any]]:
    """:func:`learn_table` for each ``(prior, margin)`` or ``(prior, margin, charge)`` of
    ``variants`` (``charge`` ``"true"`` unless given), in their order: the same tables as one
    call per variant (same ``seed``), with a pass replayed once for all variants whose tables
    and exploration stream are still the same (every variant of one prior shares the first
    pass; each charge prices the same replay)."""
    import copy

    traces = list(traces)
    variants = [(v[0], v[1], check_charge(v[2]) if len(v) > 2 else "true") for v in variants]
    bad = [g for g in aligns if int(g) not in ALIGN_GROUPS]
    if bad:
        raise ConfigError(f"aligns: group sizes in {', '.join(map(str, ALIGN_GROUPS))}, "
                          f"got {bad[0]!r}")
    arms = [int(d) for d in degrees] + [ALIGN | int(g) for g in aligns]
    for prior, _, _ in variants:
        if isinstance(prior, bool) or prior not in arms or is_align(int(prior)):
            raise ConfigError(f"prior: a degree of {', '.join(map(str, degrees))}, "
                              f"got {prior!r}")
    if policy_kw.get("depth_cap"):  # arm_rewards prices the arms uncapped
        raise ConfigError("policy.depth_cap: learn_table cannot price it (an arm's hindsight "
                          "reward ignores the cap); learn with depth_cap: 0")
    if policy_kw.get("run_cap"):  # arm_rewards prices the arms uncapped
        raise ConfigError("policy.run_cap: learn_table cannot price it (an arm's hindsight "
                          "reward ignores the cap); learn with run_cap: 0")
    if policy_kw.get("group_below"):  # arm_rewards prices the pages after the fault only
        raise ConfigError("policy.group_below: learn_table cannot price it (an arm's hindsight "
                          "reward counts the pages after the fault); learn with group_below: 0")
    if policy_kw.get("sibling_window"):  # arm_rewards prices the adjacent window only
        raise ConfigError("policy.sibling_window: learn_table cannot price it (an arm's "
                          "hindsight reward counts the adjacent window); learn with "
                          "sibling_window: 0")
    if policy_kw.get("stride_clip"):  # the clip cuts a strided arm short of its degree
        raise ConfigError("policy.stride_clip: learn_table cannot price it (the clip caps a "
                          "strided window below the arm's degree); learn with stride_clip: 0")
    # groups of variants that replay alike: (table, exploration stream, variant indices)
    groups: list[tuple[list[int], Any, list[int]]] = []
    for i, (prior, _, _) in enumerate(variants):
        same = [g for g in groups if g[0][0] == int(prior)]
        if same:
            same[0][2].append(i)
        else:
            groups.append(([int(prior)] * N_CELLS, np.random.default_rng(seed), [i]))
    out: list[dict[str, Any]] = [{} for _ in variants]
    for _ in range(passes):
        nxt: list[tuple[list[int], Any, list[int]]] = []
        for table, rng, members in groups:
            charges = list(dict.fromkeys(variants[i][2] for i in members))
            priced = _learn_pass(traces, costs, table, rng, arms, lam, epsilon,
                                 progress, policy_kw, charges)
            split: dict[tuple[int, ...], list[int]] = {}
            # (the group's one pass: each charge's best arms the same for its members)
            bests = {}
            for ch, (sums, _w) in priced.items():
                best = np.argmax(sums, axis=1)
                bests[ch] = (best, sums[np.arange(N_CELLS), best])
            for i in members:
                prior, margin, ch = variants[i]
                sums, weight = priced[ch]
                best, best_sum = bests[ch]
                pi = arms.index(int(prior))
                # (arm 0's hindsight reward is 0 by construction: with prior 0, the rule
                # before it)
                ok = best_sum - sums[:, pi] > margin * weight
                new = [arms[b] if o and b != pi else int(prior)
                       for b, o in zip(best, ok, strict=True)]
                out[i] = {"table": new, "sums": sums, "weight": weight}
                split.setdefault(tuple(new), []).append(i)
            for tab, ids in split.items():
                nxt.append((list(tab), copy.deepcopy(rng), ids))
        groups = nxt
    if passes < 1:
        out = [{"table": [int(p)] * N_CELLS, "sums": np.zeros((N_CELLS, len(arms))),
                "weight": np.zeros(N_CELLS)} for p, _, _ in variants]
    return out


def _learn_pass(traces: list[Trace], costs: Sequence[CostModel], table: list[int], rng: Any,
                arms: list[int], lam: float, epsilon: float, progress: bool,
                policy_kw: dict[str, Any], charges: Sequence[str] = ("true",)
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One pass of :func:`learn_table`: every trace replayed under ``table`` with ``epsilon``
    exploration drawn from ``rng`` (advanced); per charge of ``charges`` (the same replay
    priced in each), each cell's arm rewards and baseline share."""
    from tqdm import tqdm

    from cowrl.sim.simulator import simulate

    out = {ch: (np.zeros((N_CELLS, len(arms))), np.zeros(N_CELLS)) for ch in charges}
    for cost in costs:
        for t in tqdm(traces, disable=not progress, leave=False):
            pol = GuardedPolicy.for_cost(cost, lam, **policy_kw)
            pol.table = table

            def explore(cell: int, k: int) -> int:
                if rng.random() < epsilon:
                    return arms[int(rng.integers(len(arms)))]
                return k

            pol.explore = explore
            pol.trace_log = []
            rec: Any = simulate(t, pol, cost)
            base_ns = cost.demand_ns * np.unique(t.pages).size
            log = pol.trace_log
            if not log:
                continue
            cells = np.fromiter((e[1] for e in log), dtype=np.int64, count=len(log))
            priced = pol.priced(cost)
            for ch, (sums, weight) in out.items():
                r = arm_rewards(t, priced, lam, log, arms, charge=ch,
                                budget_prices=(pol.gain, pol.loss)) / base_ns
                np.add.at(sums, cells, r)
                np.add.at(weight, cells, cost.demand_ns / base_ns)
            del rec
    return out



def check_proof_reads(proof_reads: Any) -> int:
    """``policy.proof_reads`` (1..16, the module's limit), or a one-line :class:`ConfigError`
    naming it (guarded and the shielded bandit check it here)."""
    if isinstance(proof_reads, bool) or not isinstance(proof_reads, int) \
            or proof_reads not in range(1, MAX_PROOF_READS + 1):
        raise ConfigError(f"policy.proof_reads must be in 1..{MAX_PROOF_READS}, "
                          f"got {proof_reads!r}")
    return int(proof_reads)


def check_proof_ttl(proof_ttl: Any, proof: int) -> int:
    """``policy.proof_ttl`` (0..255; 0 with ``proof: 0``, which has no ring), or a one-line
    :class:`ConfigError` naming it: every policy that reads proofs (guarded, the shielded
    bandit, the PPO/DQN shield) checks it here."""
    if isinstance(proof_ttl, bool) or not isinstance(proof_ttl, int) \
            or proof_ttl not in range(MAX_PROOF_TTL + 1):
        raise ConfigError(f"policy.proof_ttl must be in 0..{MAX_PROOF_TTL}, got {proof_ttl!r}")
    if proof_ttl and not proof:
        raise ConfigError("policy.proof_ttl must be 0 with proof: 0 (no ring)")
    return int(proof_ttl)


def check_proof_backoff(proof_backoff: Any, proof: int) -> int:
    """``policy.proof_backoff`` (0 or 1; 0 with ``proof: 0``, which has no ring), or a
    one-line :class:`ConfigError` naming it."""
    if isinstance(proof_backoff, bool) or proof_backoff not in (0, 1):
        raise ConfigError(f"policy.proof_backoff must be 0 or 1, got {proof_backoff!r}")
    if proof_backoff and not proof:
        raise ConfigError("policy.proof_backoff must be 0 with proof: 0 (no ring)")
    return int(proof_backoff)


def check_walk_ns(walk_ns: Any, proof: int, field: str = "walk_ns") -> int:
    """``policy.walk_ns`` or (``field``) ``policy.walk_empty_ns`` (0..65535, the module's u16;
    0 with ``proof: 0``, which has no ring), or a one-line :class:`ConfigError` naming it."""
    if isinstance(walk_ns, bool) or not isinstance(walk_ns, (int, np.integer)) \
            or not 0 <= walk_ns <= MAX_WALK_NS:
        raise ConfigError(f"policy.{field} must be an integer in 0..{MAX_WALK_NS}, "
                          f"got {walk_ns!r}")
    if walk_ns and not proof:
        raise ConfigError(f"policy.{field} must be 0 with proof: 0 (no ring to walk)")
    return int(walk_ns)


def check_read_credit(read_credit: Any, proof: int) -> int:
    """``policy.read_credit`` (0 or 1; 1 needs ``proof: 1``, which has the reads; with
    ``proof_ttl: 0`` it credits nothing: no read is reserved, :meth:`GuardedPolicy.for_cost`
    sets ``read_ns = 0``), or a one-line :class:`ConfigError` naming it."""
    if isinstance(read_credit, bool) or read_credit not in (0, 1):
        raise ConfigError(f"policy.read_credit must be 0 or 1, got {read_credit!r}")
    if read_credit and not proof:
        raise ConfigError("policy.read_credit must be 0 with proof: 0 (no proof reads)")
    return int(read_credit)


def check_read_ns(read_ns: Any, read_credit: int, proof_ttl: int) -> int:
    """``policy.read_ns`` (0..65535, the module's u16; 0 without ``read_credit`` or with
    ``proof_ttl: 0``, which reserves no read to credit back), or a one-line
    :class:`ConfigError` naming it."""
    if isinstance(read_ns, bool) or not isinstance(read_ns, (int, np.integer)) \
            or not 0 <= read_ns <= MAX_READ_NS:
        raise ConfigError(f"policy.read_ns must be an integer in 0..{MAX_READ_NS}, "
                          f"got {read_ns!r}")
    if read_ns and not read_credit:
        raise ConfigError("policy.read_ns must be 0 with read_credit: 0")
    if read_ns and not proof_ttl:
        raise ConfigError("policy.read_ns must be 0 with proof_ttl: 0 (no read reserved)")
    return int(read_ns)


def check_flag(value: Any, field: str, needs: str, present: int, why: str) -> int:
    """``policy.<field>`` (0 or 1; 1 needs ``<needs>: 1``, whose value is ``present``), or a
    one-line :class:`ConfigError` naming it (``why``: what it reads of ``needs``)."""
    if isinstance(value, bool) or value not in (0, 1):
        raise ConfigError(f"policy.{field} must be 0 or 1, got {value!r}")
    if value and not present:
        raise ConfigError(f"policy.{field} needs {needs}: 1 ({why})")
    return int(value)


def check_proof_span(proof_span: Any, proof_backoff: int) -> int:
    """``policy.proof_span`` (0 or 1; 1 needs ``proof_backoff: 1``, whose due fault numbers
    it reads), or a one-line :class:`ConfigError` naming it."""
    return check_flag(proof_span, "proof_span", "proof_backoff", proof_backoff,
                      "it reads the due faults")


def check_proof_skipmap(proof_skipmap: Any, proof: int) -> int:
    """``policy.proof_skipmap`` (0 or 1; 1 needs ``proof: 1``, which has the ring), or a
    one-line :class:`ConfigError` naming it."""
    return check_flag(proof_skipmap, "proof_skipmap", "proof", proof,
                      "it jumps over the proof ring")


def check_proof_duemap(proof_duemap: Any, proof_backoff: int) -> int:
    """``policy.proof_duemap`` (0 or 1; 1 needs ``proof_backoff: 1``, whose due fault
    numbers it maps), or a one-line :class:`ConfigError` naming it."""
    return check_flag(proof_duemap, "proof_duemap", "proof_backoff", proof_backoff,
                      "it jumps over the entries not yet due")


def check_due_price(ns: Any, proof_duemap: int, field: str) -> int:
    """``policy.walk_due_ns`` / ``policy.walk_scan_ns`` (0..255, a u8 in the module; 0 with
    ``proof_duemap: 0``), or a one-line :class:`ConfigError` naming it."""
    if isinstance(ns, bool) or not isinstance(ns, (int, np.integer)) \
            or not 0 <= ns <= MAX_DUE_NS:
        raise ConfigError(f"policy.{field} must be an integer in 0..{MAX_DUE_NS}, got {ns!r}")
    if ns and not proof_duemap:
        raise ConfigError(f"policy.{field} must be 0 with proof_duemap: 0 (no due map)")
    return int(ns)


def check_proof_cutback(proof_cutback: Any, proof_span: int) -> int:
    """``policy.proof_cutback`` (0..:data:`MAX_CUTBACK`; not 0 needs ``proof_span: 1``, whose
    per-bucket due fault it puts off), or a one-line :class:`ConfigError` naming it."""
    if isinstance(proof_cutback, bool) or not isinstance(proof_cutback, (int, np.integer)) \
            or not 0 <= proof_cutback <= MAX_CUTBACK:
        raise ConfigError(f"policy.proof_cutback must be an integer in 0..{MAX_CUTBACK}, "
                          f"got {proof_cutback!r}")
    if proof_cutback and not proof_span:
        raise ConfigError("policy.proof_cutback needs proof_span: 1 (it puts off the "
                          "bucket's due fault)")
    return int(proof_cutback)


def check_proof_look(proof_look: Any, proof: int) -> int:
    """``policy.proof_look`` (0 or 1; 0 with ``proof: 0``, which has no ring), or a one-line
    :class:`ConfigError` naming it."""
    return check_flag(proof_look, "proof_look", "proof", proof, "it looks at the proof ring")


def check_stride_gate(value: Any, stride_window: Any, field: str = "stride_gate") -> int:
    """``policy.stride_gate`` / ``policy.stride_clip`` (``field``; 0 or 1; 1 needs
    ``stride_window: 1``), or a one-line :class:`ConfigError` naming it."""
    if isinstance(value, bool) or value not in (0, 1):
        raise ConfigError(f"policy.{field} must be 0 or 1, got {value!r}")
    if value and not stride_window:
        raise ConfigError(f"policy.{field}: 1 needs stride_window: 1 (it narrows strided "
                          "windows)")
    return int(value)


GROUP_BELOW: tuple[int, ...] = (0, *ALIGN_GROUPS)
"""``group_below``'s values: 0 (off) or an aligned group size G."""


def check_group_below(group_below: Any, protect: Any) -> int:
    """``policy.group_below`` (0 or G in :data:`ALIGN_GROUPS`; G needs ``protect: false``,
    whose protected gap is the window's pages after the fault), or a one-line
    :class:`ConfigError` naming it."""
    if isinstance(group_below, bool) or group_below not in GROUP_BELOW:
        raise ConfigError(f"policy.group_below must be one of "
                          f"{', '.join(map(str, GROUP_BELOW))}, got {group_below!r}")
    if group_below and protect:
        raise ConfigError("policy.group_below needs protect: false (the protected gap is "
                          "the window's pages after the fault)")
    return int(group_below)


SIBLING_WINDOWS: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 32, 64)
"""``sibling_window``'s values: 0 (off) or the window's reach W in pages."""


GATE_DECAY: int = G_GATE_DECAY
"""``sibling_gate``: the marks at which the gate's evidence is halved."""
GATE_MIN: int = G_GATE_MIN
"""``sibling_gate``: the marks before which the gate stays shut."""


def check_sibling_gate(sibling_gate: Any, sibling_stake: Any) -> int:
    """``policy.sibling_gate`` (0 off, or the margin m in 1..7, eighths of what lies above
    break-even; needs ``sibling_stake`` 1 or 2, whose ring entries tell a sibling page's
    proof), or a one-line :class:`ConfigError` naming the field."""
    if isinstance(sibling_gate, bool) or sibling_gate not in range(8):
        raise ConfigError(f"policy.sibling_gate must be an integer in 0..7, got "
                          f"{sibling_gate!r}")
    if sibling_gate and sibling_stake not in (1, 2):
        raise ConfigError("policy.sibling_gate needs sibling_stake: 1 or 2 (a sibling "
                          "page's proof is its hit)")
    return int(sibling_gate)


def check_sibling_window(sibling_window: Any, proof: Any) -> int:
    """``policy.sibling_window`` (0 or W in :data:`SIBLING_WINDOWS`; W needs ``proof: 1``,
    whose ring alone returns a sibling page's stake), or a one-line :class:`ConfigError`
    naming it."""
    if isinstance(sibling_window, bool) or sibling_window not in SIBLING_WINDOWS:
        raise ConfigError(f"policy.sibling_window must be one of "
                          f"{', '.join(map(str, SIBLING_WINDOWS))}, got {sibling_window!r}")
    if sibling_window and not proof:
        raise ConfigError("policy.sibling_window needs proof: 1 (the ring's proofs return "
                          "its pages' stakes; no sentinel does)")
    return int(sibling_window)


def check_stride_window(stride_window: Any, protect: Any) -> int:
    """``policy.stride_window`` (0 or 1; 1 needs ``protect: false``, whose protected gap is
    adjacent), or a one-line :class:`ConfigError` naming it."""
    if isinstance(stride_window, bool) or stride_window not in (0, 1):
        raise ConfigError(f"policy.stride_window must be 0 or 1, got {stride_window!r}")
    if stride_window and protect:
        raise ConfigError("policy.stride_window: 1 needs protect: false (the protected gap "
                          "is an adjacent window's)")
    return int(stride_window)


def check_grant_left(grant_left: Any) -> int:
    """``policy.grant_left`` (0..4: 0 grants the allowance at every fault, 4 only at sentinel
    hits), or a one-line :class:`ConfigError` naming it."""
    if isinstance(grant_left, bool) or grant_left not in range(5):
        raise ConfigError(f"policy.grant_left must be in 0..4, got {grant_left!r}")
    return int(grant_left)


def check_floor(floor: Any) -> int:
    """``policy.floor`` (0..USE_ONE: ``k = 0`` while the fault's class has a sentinel hit rate
    below it), or a one-line :class:`ConfigError` naming it."""
    if isinstance(floor, bool) or not isinstance(floor, (int, np.integer)) \
            or not 0 <= int(floor) <= USE_ONE:
        raise ConfigError(f"policy.floor must be in 0..{USE_ONE}, got {floor!r}")
    return int(floor)


def check_floor_slow(floor_slow: Any) -> int:
    """``policy.floor_slow`` (0: off; ``s`` in :data:`FLOOR_SLOW`: the floor also reads a slow
    EWMA of weight ``1 / 2 ** s``), or a one-line :class:`ConfigError` naming it."""
    if isinstance(floor_slow, bool) or floor_slow not in (0, *FLOOR_SLOW):
        raise ConfigError(f"policy.floor_slow must be 0 or in {FLOOR_SLOW.start}.."
                          f"{FLOOR_SLOW.stop - 1}, got {floor_slow!r}")
    return int(floor_slow)


SHIELD_OPTIONS = ("floor", "grant_left", "floor_slow", "proof_ttl", "proof_backoff",
                  "read_credit", "proof_look", "proof_span", "proof_skipmap", "proof_duemap")
"""The budget options a shield (the shielded bandit, a shielded SB3 policy) takes from guarded
besides ``proof`` and ``proof_reads``: :func:`check_shield_options` checks them."""


def check_shield_options(proof: int, **opts: Any) -> dict[str, int]:
    """The :data:`SHIELD_OPTIONS` in ``opts`` (every one of them, no other), checked in that
    order against ``proof`` (already checked: 0 or 1) as guarded checks them, or a one-line
    :class:`ConfigError` naming the first bad one: ``{option: value}``."""
    if set(opts) != set(SHIELD_OPTIONS):
        raise TypeError(f"check_shield_options takes {', '.join(SHIELD_OPTIONS)}, "
                        f"got {', '.join(sorted(opts))}")
    o: dict[str, int] = {"floor": check_floor(opts["floor"]),
                         "grant_left": check_grant_left(opts["grant_left"]),
                         "floor_slow": check_floor_slow(opts["floor_slow"]),
                         "proof_ttl": check_proof_ttl(opts["proof_ttl"], proof)}
    o["proof_backoff"] = check_proof_backoff(opts["proof_backoff"], proof)
    o["read_credit"] = check_read_credit(opts["read_credit"], proof)
    o["proof_look"] = check_proof_look(opts["proof_look"], proof)
    o["proof_span"] = check_proof_span(opts["proof_span"], o["proof_backoff"])
    o["proof_skipmap"] = check_proof_skipmap(opts["proof_skipmap"], proof)
    o["proof_duemap"] = check_proof_duemap(opts["proof_duemap"], o["proof_backoff"])
    return o


def walk_price(cost: CostModel) -> int:
    """What the budget pays per live ring entry a proof look steps over unread (another
    region's, not yet due: the engine charges ``proof_skip_ns``): the dearer of an empty
    slot (``proof_step_ns``) and a live entry (``proof_skip_ns``), rounded up, at most
    :data:`MAX_WALK_NS` (a read's step is in ``proof_read_ns`` / ``proof_clean_ns``,
    reserved per copy). Also what a step to a live entry that is read needs in the budget."""
    return min(math.ceil(max(cost.proof_step_ns, cost.proof_skip_ns)), MAX_WALK_NS)


def walk_empty_price(cost: CostModel, proof_skipmap: int = 0) -> int:
    """What the budget pays per empty ring slot a proof look steps over (the engine charges
    ``proof_step_ns``), or with ``proof_skipmap`` per jump from an empty slot to the next
    live one (``proof_jump_ns``: every empty slot the look comes to is jumped from, none is
    stepped over), rounded up, at most :data:`MAX_WALK_NS`."""
    price = cost.proof_jump_ns if proof_skipmap else cost.proof_step_ns
    return min(math.ceil(price), MAX_WALK_NS)


def due_prices(cost: CostModel) -> tuple[int, int]:
    """``proof_duemap``'s prices (``walk_due_ns``, ``walk_scan_ns``): what the budget pays per
    jump to the next slot not waiting (the engine charges ``proof_duejump_ns``) and per
    waiting entry a refresh looks at (``proof_duescan_ns``), each rounded up. A price above
    :data:`MAX_DUE_NS` (the module's u8) is a one-line :class:`ConfigError` naming the cost
    model's field: clamped, the budget would pay less than the engine charges, and the bound
    would not hold."""
    prices = []
    for field in ("proof_duejump_ns", "proof_duescan_ns"):
        price = math.ceil(getattr(cost, field))
        if price > MAX_DUE_NS:
            raise ConfigError(f"costmodel.{field} = {getattr(cost, field)} rounds up above "
                              f"{MAX_DUE_NS}, the module's u8 price; use policy.proof_duemap: 0 "
                              "with this cost model")
        prices.append(price)
    return prices[0], prices[1]


def shipped_options(policy: str = "guarded") -> dict[str, Any]:
    """The budget options of ``conf/policy/guarded.yaml`` (all but its table, name and cost
    model): what a table learned for the shipped policy is learned and measured with; or
    those of another guarded policy file (``guarded_adjacent``: the same with
    ``stride_window: 0``)."""
    from omegaconf import OmegaConf

    from cowrl.registry import group_config

    spec = OmegaConf.to_container(group_config("policy", policy))
    assert isinstance(spec, dict)
    return {str(k): v for k, v in spec.items()
            if k not in ("_target_", "name", "costmodel", "lam", "table")}


BUDGET_OPTIONS_NOT = ("table", "name", "inert", "gain_ns", "loss_ns", "setup_ns", "demand_ns",
                      "skip_ns")
"""Keywords of :class:`GuardedPolicy` that are not budget options: its table, name and the
cost model's prices (:meth:`GuardedPolicy.for_cost` sets those)."""


def budget_option_names() -> list[str]:
    """The keywords of :class:`GuardedPolicy` an options mapping may set over the shipped
    options (``guarded_options`` of the protocol, ``--options`` of the experiments): all but
    :data:`BUDGET_OPTIONS_NOT`."""
    import inspect

    return [k for k in inspect.signature(GuardedPolicy).parameters
            if k not in BUDGET_OPTIONS_NOT]


def make_guarded(table: Sequence[int] | int | str | None = None, costmodel: str = "seed_table1",
                 lam: float | None = None, **kw: Any) -> GuardedPolicy:
    """``conf/policy/guarded.yaml``: a table plus the budget constants of ``costmodel``;
    ``costmodel: auto`` takes them from the cost model each run is priced by (the
    evaluation's, on the kernel target the one calibrated on that kernel:
    :meth:`GuardedPolicy.for_trace`), so that the budget reserves what a window really
    costs there (``precopy_setup_ns``, ``precopy_skip_ns``) and a saved fault's gain includes
    the GUARDED decision it saves. ``table`` may be one value for every cell
    (``conf/policy/shield64.yaml``: 64, the shield alone deciding), or the name of another
    policy file whose ``table`` it takes (``table: guarded``: conf/policy/guarded.yaml's)."""
    from cowrl.registry import group_config, make_costmodel

    if isinstance(table, str):
        src = group_config("policy", table, "policy.table").get("table")
        if isinstance(src, str) or src is None:
            raise ConfigError(f"policy.table: conf/policy/{table}.yaml holds no table of its own "
                              f"(got {src!r})")
        table = list(src) if not isinstance(src, int) else src
    if isinstance(table, (int, np.integer)) and not isinstance(table, bool):
        table = [int(table)] * N_CELLS
    lam_v = 1.0 if lam is None else lam
    if costmodel == "auto":
        pol = GuardedPolicy(table=table, **kw)
        pol.budget_spec = (lam_v, kw)
        return pol
    return GuardedPolicy.for_cost(make_costmodel(costmodel), lam_v, table=table, **kw)
