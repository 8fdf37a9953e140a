/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * cowrl_guarded.h - the "guarded" precopy decision (a table over a richer
 * context, sentinel feedback, a risk budget) in integers.
 *
 * The readable reference is cowrl/policies/guarded.py; the compiled simulator
 * form is guarded_decide() in cowrl/sim/programs.py; docs/policies.md
 * ("Module specification") gives the order of operations.  Keep all three in
 * step: tests/test_guarded_program.py checks the simulator form against the
 * prototype, tests/test_guarded_c.py this header (compiled for user space)
 * against the prototype, fault for fault.
 *
 * A fault is decided in two calls, and the caller reads the page state
 * itself (the module with gup-fast, which takes
 * no lock and faults nothing in):
 *
 *   proc = cowrl_guarded_proc(st, tgid);
 *   cowrl_guarded_prove(st, tb, start, limit, bucket, proc, written, wctx);	(version 4)
 *   cowrl_guarded_observe(st, tb, &o, page, start, limit, left, vpn, proc);
 *   k = cowrl_guarded_commit(st, tb, &o, page, start, limit, shared, ctx);
 *
 * where shared(ctx, q) says whether page q (inside the region) is COW-shared:
 * a write would copy it.  commit calls it for as few pages as the decision
 * needs (usually 2 while the budget is low).  It has then read every page of
 * the window it chose: o.last is the last of them it found shared (page +
 * o.last; 0: none), where the module's precopy walk stops (the pages after it
 * were private: the walk would only step over them).  A window with none (ABI 20) is
 * returned as k = 0: no work is queued for it (COWRL_GUARDED_T_EMPTY).
 *
 * @left is how many of page-3 .. page-1 that lie in [start, limit) are
 * private: present, anonymous and exclusive to this process.  A page that is
 * absent or outside the region counts as not private.  @start/@limit are the
 * faulting page's region (its VMA within the registered range), in pages.
 *
 * No allocation, no locks, no floating point; O(slots + k + scan + 2) work and page reads
 * (with protect, up to k more sentinel-table lookups, no page reads; with proof, up to
 * COWRL_GUARDED_PROOFS ring entries looked at and proof_reads written() calls).
 *
 * Version 4, interior proofs (proof = 1): commit records each page its window copies
 * (shared in the window) in a ring of COWRL_GUARDED_PROOFS entries, at the consecutive
 * indices o->proof_first, o->proof_first + 1, ... (mod COWRL_GUARDED_PROOFS), count
 * o->proof_count, overwriting the oldest entries (their reserve stays spent).  At the next
 * faults cowrl_guarded_prove asks written(wctx, idx, page) for at most proof_reads entries
 * of the faulting region: 1 = page was written after its copy (the module: the D bit of the
 * recorded copy).  A proven page returns its reserve (loss_ns) plus gain_ns to the budget
 * and leaves the ring.  Sentinel hits then add no budget credit (they still feed use and
 * the hit allowance), so the loss over k = 0 never exceeds the allowances granted, whatever
 * the table and however the writes fall: a credit needs a real write to a copied page.
 * With proof_ttl = t > 0 an entry read and found unwritten t times leaves the ring, its
 * reserve spent (no credit): one copy causes at most t unproven reads, which the cost model
 * prices per copied page (proof_read_ns).  proof_ttl = 0 keeps entries until overwritten.
 * With proof_backoff = 1 (needs proof = 1) an entry read and found unwritten m times is
 * not read again before 2^min(m, COWRL_GUARDED_BACKOFF_MAX_SHIFT) more demand faults of the
 * state (n_faults; the due fault number kept in 32 bits, compared modulo 2^32): the look
 * steps over it without a page read and it does not count against proof_reads, and the look
 * then walks at most COWRL_GUARDED_BACKOFF_STEPS * proof_reads ring slots.  The proof_ttl
 * reads of a copy then span up to about 2^proof_ttl faults (a copy written late is still
 * proven); their number, and so the reserve, is unchanged (with proof_ttl = 0 they stay
 * unbounded, only spaced).
 * With walk_ns / walk_empty_ns > 0 (need proof = 1) the budget pays the look's walk at two
 * prices, walk_empty_ns per empty ring slot and walk_ns per live entry: before each ring
 * slot it steps to, the look needs budget >= that slot's price, else it ends there (the
 * cursor stays where it ended: the next look goes on), and each slot stepped over unread
 * (empty: walk_empty_ns; another region's, not yet due: walk_ns) takes its price from the
 * budget.  A read's step is not debited (the clean and the proof_ttl reads are reserved per
 * copy).  The budget never goes negative, so the bound above includes the walk (each price
 * at least what the slot costs).  walk_empty_ns = walk_ns: one price (the decisions before
 * the payload grew to 752 bytes).
 * With read_ns > 0 (needs proof = 1 and proof_ttl > 0) a proof also credits the reserved
 * reads its copy did not use: an entry proven after m unproven reads (proof_miss < proof_ttl)
 * returns loss_ns + gain_ns + (proof_ttl - m) * read_ns.  loss_ns reserves proof_ttl reads
 * and gain_ns is net of all of them, so with read_ns <= the price of a read (user space sets
 * floor(proof_read_ns)) the credit stays within what the copy saved: the bound holds.
 * read_ns = 0: the decisions before it (the first pad of the 752-byte payload).
 * With proof_look = 1 (needs proof = 1) a look counts down only the live entries of its
 * region's bucket: commit records each entry's bucket (cowrl_guarded_bucket of the faulting
 * region: a hash of its first virtual page number mod 512 and its size in pages, plus the
 * faulting process's ordinal cowrl_guarded_proc, mod 16: a CHILDREN target's state is
 * shared by its processes, and the children of a fork hold their regions at the same
 * addresses, so without the ordinal every copy of a region shared one bucket), the state
 * counts the live entries per bucket (bucket_live), and the look starts from its bucket's
 * count instead of proof_live and ends once it saw them.  Entries no look of the region can
 * read (another region's, e.g. a finished region's copies) then no longer keep every look
 * walking until the budget is drained; regions sharing a bucket walk over each other's
 * entries as with 0.  The walk is paid as above: the bound is unchanged.  proof_look = 0:
 * the decisions before it (the pad at 748 of the 752-byte payload).
 * Whatever the table, each ring entry keeps the ordinal of the process whose fault copied it
 * (cowrl_guarded_proc, added to proof_page as ordinal << COWRL_GUARDED_PROC_SHIFT; pages are
 * below 2^35), and a look (prove's @proc) takes an entry of another ordinal as another
 * region's: its range test is against [start, limit) shifted by its own ordinal, so the entry
 * is stepped over unread at walk_ns (no instruction added to a step), its dirty bit not read,
 * its proof_miss not aged.  The children of a fork hold their copies of a region at
 * the same pages of the target's range: without it a child read its siblings' entries, whose
 * page frames its own PTEs never map (an unproven read, a lost proof).  A trace of one
 * process (every ordinal 0), or whose processes' regions lie at distinct pages, decides as
 * before.  The 16th process and every later one share ordinal 15 and so read each other's.
 * With floor_slow = s (5..COWRL_GUARDED_SLOW_MAX; 0: off) the floor also holds k = 0 while a
 * second EWMA of the same sentinel outcomes, slow[cls], of weight 1/2^s and kept with 8 more
 * bits (fixed-point 1.0 = COWRL_GUARDED_SLOW_ONE, so that its steps are not lost to
 * truncation), is below floor << 8: a longer memory than use's that still forgets.  It only
 * takes windows away: the bound is unchanged.  floor_slow = 0: the decisions before it (the
 * payload grew from 752 to 760 bytes for it; a 752-byte payload is refused, -EINVAL).
 * With proof_skipmap = 1 (needs proof = 1) a look that comes to an empty ring slot jumps to
 * the next live one (cyclic; cowrl_guarded_next_live over proof_bits, the state's bitmap of
 * live slots, set by commit when it stores an entry and cleared by cowrl_guarded_drop; an
 * overwritten entry's bit stays set) instead of stepping over the empty slots one by one.
 * A jump is paid as one empty slot (walk_empty_ns: the look needs budget >= it, else it is
 * cut at the empty slot, where the cursor stays); the entry it lands on is then taken as
 * without the flag (its own price, its read).  So each pass of the look visits exactly one
 * live entry, and proof_backoff's bound (COWRL_GUARDED_BACKOFF_STEPS * proof_reads) counts
 * live entries visited, not slots; the cursor is the slot after the last entry visited (or
 * i0 as before).  With proof_span the free move to proof_tail comes first; a jump from
 * proof_tail moves proof_tail to the slot it lands on (the slots between are empty), so
 * proof_tail and bucket_due keep their meaning.  proof_skipmap = 0: the decisions before it
 * (the first pad of the 760-byte payload, at 754; ABI 11).
 * With proof_duemap = 1 (needs proof_backoff = 1) a look also jumps over the entries not yet
 * due.  A backoff read that finds its page unwritten and puts the entry off sets its bit in
 * proof_wait (a waiting entry; wait_live and bucket_wait count them, wait_due is a fault
 * number none of them is due before); a proof, an expiry or commit's overwrite clears it.
 * A look that gets past its early returns first refreshes, if an entry waits and wait_due
 * is not after now: it needs budget >= wait_live * walk_scan_ns, else it ends there (no slot
 * walked, the cursor kept; with proof_span bucket_due = now); it pays that, clears the bit of
 * every waiting entry that is due and sets wait_due to the soonest due fault of those still
 * waiting.  Then it counts down only the entries that do not wait (left less the waiting
 * ones it counts; none left: it ends, with proof_span bucket_due = wait_due).  At a slot that
 * is empty or waits it jumps (needs budget >= walk_due_ns, else cut there; pays it once) to
 * the first live slot at or after it that does not wait (cowrl_guarded_next_due: proof_bits
 * less proof_wait, a bit scan; a jump from an empty proof_tail moves proof_tail to the next
 * live slot), in place of proof_skipmap's jump and of any walk_ns step over an entry not
 * yet due.  Every entry that does not wait is due (new entries are due at once, a put-off one
 * waits until a refresh finds it due), so a pass of the look visits one due live entry.  With
 * proof_span, a look that saw every entry it counts also takes soon <= wait_due - now while
 * one it counts waits, so bucket_due keeps its meaning.  Each operation is paid before it is
 * taken at a price at least its cost, so the bound holds as for the walk.  proof_duemap = 0:
 * the decisions before it (the last pad of the 760-byte payload: proof_duemap at 756, then
 * the u8 prices walk_due_ns at 758 and walk_scan_ns at 759; ABI 12).
 * With stride_window = 1 (needs protect = 0) a window may be strided: where the stride
 * detector sees a constant stride s >= 2 continuing (stride_hit) and the fault is not an exact
 * stream continuation (kind != 1), the window's pages are page + s, page + 2s, ..., page + d*s
 * (those below limit) instead of page + 1 .. page + d; commit's reads, o->last (an index j:
 * page + j * s), the ring entries and the sentinel (the first shared page of end + s,
 * end + 2s, ... within (scan + 1) * s of the window's end) follow the column, and the
 * detector's prev_page becomes the window's last page.  Each page of a strided window walked
 * reserves stride_ns more (what its own page-table walk costs), so the bound holds.  The
 * allowance also counts page - s, page - 2s, page - 3s private (@left_s, which the caller
 * reads for the stride cowrl_guarded_stride() returns) as evidence of use.  o->stride is the
 * stride the caller's precopy walk steps by (0: adjacent).  stride_window = 0: the decisions
 * before it (the payload grew from 760 to 768 bytes for it: stride_window at 760, a u16 pad
 * at 762 (0), the u32 stride_ns at 764; a 760-byte payload is refused, -EINVAL; ABI 15).
 * With sibling_window = W (1..COWRL_GUARDED_MAX_SIB, needs proof = 1) the caller passes
 * cowrl_guarded_commit_fam() the family bytes @fam, one per page of its range (the module: per
 * target, kvzalloc'd; pages index it as they index the region).  Bit 0 of fam[q]: a demand
 * fault (of any process of the state) wrote page q; commit_fam sets it for the faulting page.
 * After the adjacent window is paid (not after a strided one that copied), the family pages
 * past it up to page + W (within the region) that are still shared are copied, the longest
 * run from the first whose stake fits the budget: each shared one per (the loss, or with
 * sibling_stake 1 or 2 the loss * max(1 - sib_use, 1/8), sib_use an EWMA of the sibling pages'
 * proofs), each private one skip_ns, the setup when k = 0; a page without the bit is not read.
 * o->sib is its last page (as page + sib) and o->sibmask its family pages (bit j - 1: page +
 * j), which the caller's precopy walks after the adjacent window.  Its shared pages enter the
 * ring after the window's, each with its stake (proof_stake: a proof returns stake + gain_ns
 * and moves sib_use up; an expiry or an overwrite unproven moves it down and, with
 * sibling_stake 2, takes loss_ns - stake from the budget).  The sentinel scan takes them as
 * private-to-be.  With sibling_gate = m (1..7, needs a stake) the window opens only while
 * gate_mark >= COWRL_GUARDED_GATE_MIN and 8 gate_hit (gain + loss) >= gate_mark (8 loss + m
 * gain); shut, a ghost window marks the pages it would copy (fam bits 1..7: the ordinal + 1 |
 * the epoch << 5) and copies nothing; the marking process's later demand fault on a page marked
 * in this epoch is a hit, its adjacent window over one takes the mark back, and each copied
 * sibling page is a mark, its proof a hit (never above the marks).  Both counters halve at
 * COWRL_GUARDED_GATE_DECAY marks (the epoch moves on, mod 4).  At most 2 W family-byte reads
 * and W shared() calls more per fault.  All 0 (or @fam NULL): the decisions before it (the
 * payload grew from 768 to 776 bytes for it: the u8s sibling_window at 768, sibling_stake at
 * 769, sibling_gate at 770, 5 pad bytes (0); a 768-byte payload is refused, -EINVAL; ABI 16).
 * The simulator's forms: programs.guarded_decide (compiled), GuardedPolicy.sibling/gate.
 * With sentinel_salt = 1 (u8 at 771, the first of the pad bytes; ABI 19) every sentinel index
 * of a fault (its hit check, protect's look and commit's record) adds the faulting region's
 * salt, cowrl_guarded_salt(): bits 8..15 of the mixed key of cowrl_guarded_bucket (the region's
 * first virtual page mod 512 and its size) plus 16 x the process's ordinal, mod 256.  Arrays
 * in separate mappings written in lockstep put their sentinels at equal offsets of their
 * regions; with one table per target each evicted the others' before it was reached (the hit
 * rate fell below the floor, k = 0).  The tags are unchanged (the page), so a salt only moves
 * a region's entries as a whole: one region decides as with 0.  sentinel_salt = 0: the
 * decisions before it.  The simulator's forms: programs.region_salt, GuardedContext.salt.
 */
#ifndef _COWRL_GUARDED_H
#define _COWRL_GUARDED_H

#include "cowrl_policy.h"

/*
 * commit's page reads: @shared(@ctx, q), or, where the includer defines
 * COWRL_GUARDED_SHARED(fn, ctx, q) before this file, that (the module: its PTE test inlined
 * at each read instead of a call through the pointer; docs/results/decision-cost-s37.md).
 * The same pages are read, in the same order, either way.
 */
#ifndef COWRL_GUARDED_SHARED
#define COWRL_GUARDED_SHARED(fn, ctx, q) (fn)(ctx, q)
#endif

#define COWRL_GUARDED_VERSION 4
#define COWRL_GUARDED_CELLS 320		/* KINDS 4 * RUN_BUCKETS 5 * LEFT 4 * USE 4 */
#define COWRL_GUARDED_SENTINELS 256	/* direct-mapped sentinel table, a power of 2 */
#define COWRL_GUARDED_USE_ONE 256	/* fixed-point 1.0 of a sentinel hit rate */
#define COWRL_GUARDED_MAX_DEGREES 8
#define COWRL_GUARDED_MAX_K 64		/* largest degree: bounds the PTEs read per fault */
#define COWRL_GUARDED_BYTES 776		/* sizeof(struct cowrl_guarded_table) */
#define COWRL_GUARDED_MAX_STRIDE_NS (1 << 20)	/* stride_ns: far from s64 overflow */
#define COWRL_GUARDED_MAX_SCAN 64	/* pages read past a window for its sentinel */
#define COWRL_GUARDED_MAX_HIT_SCALE 16	/* allowances a sentinel hit may add */
#define COWRL_GUARDED_PROOFS 128	/* ring of copied pages awaiting a proof, a power of 2 */
#define COWRL_GUARDED_MAX_PROOF_READS 16	/* written() calls per fault */
#define COWRL_GUARDED_MAX_PROOF_TTL 255	/* unproven reads before an entry leaves the ring */
#define COWRL_GUARDED_BACKOFF_MAX_SHIFT 16	/* proof_backoff: at most 2^16 faults between reads */
#define COWRL_GUARDED_MAX_CUTBACK 16	/* proof_cutback: a cut look puts off at most 2^16 faults */
#define COWRL_GUARDED_BACKOFF_STEPS 4	/* proof_backoff: a look walks <= 4 * proof_reads slots */
#define COWRL_GUARDED_BUCKETS 16	/* proof_look: live ring entries counted per region bucket */
#define COWRL_GUARDED_PROCS 16	/* processes told apart in the bucket key (cowrl_guarded_proc) */
#define COWRL_GUARDED_PROC_SHIFT 48	/* a ring entry's process ordinal, above its page */
/*
 * What a ring entry adds to its page for the process of ordinal @proc.  A test build may define
 * COWRL_GUARDED_TEST_ANY_PROC (cowrl.kernel.table.CGuarded(any_proc=True); the module never
 * does): no tag, the look before the process was kept (every process's entries in its range).
 */
#ifdef COWRL_GUARDED_TEST_ANY_PROC
#define COWRL_GUARDED_TAG(proc) ((cp_s64)0 * (proc))
#else
#define COWRL_GUARDED_TAG(proc) \
	((cp_s64)((proc) & (COWRL_GUARDED_PROCS - 1)) << COWRL_GUARDED_PROC_SHIFT)
#endif
#define COWRL_GUARDED_SLOW_ONE (COWRL_GUARDED_USE_ONE << 8)	/* floor_slow's fixed-point 1.0 */
#define COWRL_GUARDED_SLOW_MIN 5	/* floor_slow: weights 1/2^5 .. 1/2^12 (0: off) */
#define COWRL_GUARDED_SLOW_MAX 12
#define COWRL_GUARDED_MAX_SIB 64	/* sibling_window: at most 64 pages past the fault */
#define COWRL_GUARDED_MAX_GATE 7	/* sibling_gate: m in 1..7 (eighths) */
#define COWRL_GUARDED_GATE_DECAY 1024	/* sibling_gate: marks at which both counters halve */
#define COWRL_GUARDED_GATE_MIN 64	/* sibling_gate: shut before this many marks */
/*
 * The decision tallies (ABI 17): plain counts the decision code keeps in its state, st->tally[],
 * each one increment where the decision takes the branch it names (the simulator's
 * programs.guarded_decide counts the same, G_TALLY_NAMES).  They never feed a decision.
 */
#define COWRL_GUARDED_T_ASKED 0		/* faults whose table cell asked for a window (want > 0) */
#define COWRL_GUARDED_T_FLOOR 1		/* ... held to k = 0 by the floor (use, or floor_slow) */
#define COWRL_GUARDED_T_REFUSED 2	/* ... past the floor, k = 0: refused_setup +
					 * refused_protect + refused_fit (T_REFUSED_*) */
#define COWRL_GUARDED_T_WINDOWS 3	/* windows granted: k > 0 */
#define COWRL_GUARDED_T_SHORT 4		/* ... of them smaller than asked (k < want) */
#define COWRL_GUARDED_T_PAGES 5		/* their pages read shared: the copies reserved for */
#define COWRL_GUARDED_T_STRIDED 6	/* ... granted windows that are strided (stride_window) */
#define COWRL_GUARDED_T_SIB_WINDOWS 7	/* sibling windows that copy a page (o->sib > 0) */
#define COWRL_GUARDED_T_SIB_PAGES 8	/* ... their pages copied (shared family pages) */
#define COWRL_GUARDED_T_GATE_OPEN 9	/* sibling_gate: sibling windows the gate let open */
#define COWRL_GUARDED_T_GATE_SHUT 10	/* ... and held shut (a ghost window marked instead) */
/*
 * ABI 18: why a window was refused, and the budget's flow.  T_REFUSED is counted with one of
 * three reasons, where the decision refuses: observe found the budget below setup_ns (no
 * window can pay its setup); commit found protect's cap at or below want and no candidate
 * degree below the cap (the smallest candidate >= cap: none tried, no page read); else commit
 * tried the candidates and the smallest one's worst case did not fit (also a table asking
 * less than its smallest degree: no candidate).  The budget's flow in ns, at every place
 * st->budget moves (it is never clipped): added, the allowances (observe) and the credits
 * (a sentinel hit's reserve and gain without proof; a proof's reserve, gain and unused
 * reads); spent, the windows (reserve and fixed: setup, skips, strided page-table walks),
 * the looks' walk (walk_ns, walk_empty_ns, walk_due_ns, walk_scan_ns) and the sibling
 * windows (their stakes, and with sibling_stake 2 the rest of a sibling page's loss at its
 * miss).  From the reset (budget 0): budget = add_allow + add_credit - spend_window -
 * spend_walk - spend_sib, exactly.
 */
#define COWRL_GUARDED_T_REFUSED_SETUP 11	/* refused: the budget below setup_ns (observe) */
#define COWRL_GUARDED_T_REFUSED_PROTECT 12	/* ... protect's cap left no candidate degree */
#define COWRL_GUARDED_T_REFUSED_FIT 13	/* ... no candidate's worst case fit the budget */
#define COWRL_GUARDED_T_ADD_ALLOW 14	/* ns: the allowances added (at hits: hit_scale of it) */
#define COWRL_GUARDED_T_ADD_CREDIT 15	/* ns: the credits, a hit's (proof 0) or a proof's */
#define COWRL_GUARDED_T_SPEND_WINDOW 16	/* ns: the windows' reserves and fixed costs */
#define COWRL_GUARDED_T_SPEND_WALK 17	/* ns: the proof looks' walk prices */
#define COWRL_GUARDED_T_SPEND_SIB 18	/* ns: the sibling windows' stakes (and stake 2's rest) */
/*
 * ABI 20: a window granted (k > 0) whose pages commit read are all private, or none (the
 * region's end), copies nothing: without sibling_window it is dropped, commit returns 0 (no
 * precopy work queued) and T_EMPTY counts it instead of T_WINDOWS; the budget still pays its
 * fixed cost (T_SPEND_WINDOW), and the slot's end, the sentinel and (strided) prev_page are
 * those of the window decided: every later decision is as before.
 * asked = floor + refused + windows + empty.
 */
#define COWRL_GUARDED_T_EMPTY 19	/* windows dropped: they would copy nothing */
#define COWRL_GUARDED_TALLIES 20
/*
 * A table value COWRL_GUARDED_ALIGN | G (G a power of two, 2..COWRL_GUARDED_MAX_ALIGN):
 * copy to the end of the fault's aligned group of G pages, i.e. the degree
 * (G - 1) - (vpn mod G) at virtual page number vpn (allocators write pools, slabs, arenas,
 * runs and spans in such groups).  The budget decides as for any window: the largest of
 * that degree and the smaller degrees[] whose worst case fits, else 0.  A module without
 * align values rejects such a table (k > COWRL_GUARDED_MAX_K: -EINVAL).
 */
#define COWRL_GUARDED_ALIGN 0x100
#define COWRL_GUARDED_MAX_ALIGN 64

/* The ioctl payload (user -> module), no implicit padding. */
struct cowrl_guarded_table {
	cp_u32 version;		/* COWRL_GUARDED_VERSION */
	cp_u32 n_cells;		/* COWRL_GUARDED_CELLS */
	cp_u32 slots;		/* stream slots, 1..COWRL_POLICY_MAX_SLOTS */
	cp_u32 near;		/* largest gap that continues a stream, 1..MAX_NEAR */
	cp_u32 floor;		/* k = 0 while the class's hit rate is below it, 0..USE_ONE */
	cp_u32 expected_loss;	/* 1: a copied page reserves loss * miss rate (>= 1/8) */
	cp_u32 n_degrees;	/* 1..COWRL_GUARDED_MAX_DEGREES */
	cp_u16 grant_left;	/* 0: allowance at every fault; else only at a sentinel hit
				 * or >= grant_left private neighbours (0..4) */
	cp_u16 scan;		/* sentinel: first shared page <= scan past the window end */
	cp_s64 gain_ns;		/* a copied page later written: its saved fault */
	cp_s64 loss_ns;		/* a copied page never written: its cost */
	cp_s64 setup_ns;	/* a window's fixed cost */
	cp_s64 skip_ns;		/* a window page already private */
	cp_s64 allowance_ns;	/* budget added at every demand fault */
	cp_u16 degrees[COWRL_GUARDED_MAX_DEGREES];	/* ascending; unused entries 0 */
	cp_u16 k[COWRL_GUARDED_CELLS];	/* the degree wanted per context cell */
	cp_u16 merge;		/* 1: a sentinel already recorded for the same page is merged */
	cp_u16 protect;		/* 1: no window covers, no copy-less window evicts, the live
				 * sentinel of a window that copied pages (version 3) */
	cp_u16 hit_scale;	/* a sentinel hit adds hit_scale allowances, 1..16 (version 3) */
	cp_u16 proof;		/* 1: interior proofs (version 4); 0: version 3's decisions */
	cp_u16 proof_reads;	/* ring entries read per fault: 1..MAX_PROOF_READS, 0 if !proof */
	cp_u16 proof_ttl;	/* 0: off; else an entry read and found unwritten proof_ttl times
				 * leaves the ring, its reserve spent (0..MAX_PROOF_TTL, 0 if !proof) */
	cp_u16 proof_backoff;	/* 1: an entry read unwritten m times waits 2^m faults before
				 * its next read (0..1, 0 if !proof) */
	cp_u16 walk_ns;		/* budget paid per live ring entry a look steps over unread;
				 * 0: not paid (0 if !proof) */
	cp_u16 walk_empty_ns;	/* ... and per empty ring slot it steps over (0 if !proof);
				 * since 752 bytes: a 744-byte payload is refused (-EINVAL) */
	cp_u16 read_ns;		/* a proof credits it per reserved read left unused (0..65535;
				 * 0 if !proof or !proof_ttl; 0: no such credit) */
	cp_u16 proof_look;	/* 1: a look counts down its region's bucket only (0..1, 0 if
				 * !proof); 0: every live entry (the decisions before it) */
	cp_u8 proof_span;	/* 1: a look walks only the ring's span [proof_tail, proof_head)
				 * and is skipped until its bucket's soonest entry is due (0..1,
				 * needs proof_backoff; at 750, the last pad of the 752 bytes; a
				 * u16 before ABI 13) */
	cp_u8 proof_cutback;	/* s: a look cut by the budget puts its bucket's next look off
				 * 2^c faults, c the cuts since the bucket's last proof (<= s), and
				 * so does every look without a proof while c > 0 (0..16, needs
				 * proof_span; at 751, the high byte of proof_span's u16, ABI 13) */
	cp_u16 floor_slow;	/* 0: off; s in 5..12: the floor also reads slow[], an EWMA of
				 * weight 1/2^s (at 752: the payload is 760 bytes since) */
	cp_u16 proof_skipmap;	/* 1: a look jumps from an empty slot to the next live one
				 * (proof_bits), paying walk_empty_ns once per jump (0..1, 0 if
				 * !proof; at 754, the first pad of the 760 bytes, ABI 11) */
	cp_u16 proof_duemap;	/* 1: a look jumps over the entries not yet due too (proof_wait),
				 * paying walk_due_ns per jump and walk_scan_ns per waiting entry
				 * a refresh looks at (0..1, needs proof_backoff; at 756, ABI 12) */
	cp_u8 walk_due_ns;	/* at 758; 0 unless proof_duemap */
	cp_u8 walk_scan_ns;	/* at 759; 0 unless proof_duemap */
	cp_u16 stride_window;	/* 1: strided windows (0..1, needs protect 0; at 760: the
				 * payload is 768 bytes since, ABI 15) */
	cp_u16 stride_pad;	/* at 762; 0 */
	cp_u32 stride_ns;	/* at 764: reserved per strided window page walked (0 unless
				 * stride_window; <= COWRL_GUARDED_MAX_STRIDE_NS) */
	cp_u8 sibling_window;	/* at 768: W, 0 off, 1..64 (needs proof = 1 and a family array
				 * from the caller; the payload is 776 bytes since, ABI 16) */
	cp_u8 sibling_stake;	/* at 769: 0 the loss, 1 the expected loss at sib_use, 2 and the
				 * rest of the loss when unproven (0..2; needs sibling_window) */
	cp_u8 sibling_gate;	/* at 770: m, 0 off, 1..7 (needs sibling_stake 1 or 2) */
	cp_u8 sentinel_salt;	/* at 771: 1 = the sentinel index adds the region's salt (0..1;
				 * ABI 19) */
	cp_u8 sibling_pad[4];	/* at 772..775; 0 */
};

/* Per watched region, allocated at register time (10,000 bytes; kmalloc in cowrl.c). */
struct cowrl_guarded_state {
	cp_s64 end[COWRL_POLICY_MAX_SLOTS];	/* last page of the stream's last window */
	cp_u64 stamp[COWRL_POLICY_MAX_SLOTS];	/* fault number of its last use */
	cp_u32 run[COWRL_POLICY_MAX_SLOTS];
	cp_u32 valid[COWRL_POLICY_MAX_SLOTS];
	cp_u64 n_faults;
	cp_s64 prev_page;
	cp_s64 prev_delta;
	cp_u32 has_prev;
	cp_u32 stride_run;
	cp_s32 use[2];		/* sentinel hit rate per class (0 stream, 1 other) */
	cp_u32 hits[2];
	cp_u32 misses[2];
	cp_u32 last_cell;
	cp_s64 budget;		/* ns of precopy risk still allowed */
	cp_s64 tags[COWRL_GUARDED_SENTINELS];	/* ((s + 1) << 1) | class; 0 = empty */
	cp_s64 tag_pages[COWRL_GUARDED_SENTINELS];	/* pages its window copied */
	cp_s64 tag_reserved[COWRL_GUARDED_SENTINELS];	/* budget its window reserved */
	/* version 4: copied pages awaiting a proof (region-absolute page + 1, plus the ordinal
	 * of the process that copied it << COWRL_GUARDED_PROC_SHIFT; 0 = empty) */
	cp_s64 proof_page[COWRL_GUARDED_PROOFS];
	cp_u32 proof_head;	/* next ring index commit writes */
	cp_u32 proof_cursor;	/* next ring index cowrl_guarded_prove looks at */
	cp_u32 proof_live;	/* entries != 0 (all regions): prove stops once it saw them all */
	cp_u32 proof_pad;	/* 0 */
	cp_u16 proof_miss[COWRL_GUARDED_PROOFS];	/* unproven reads of each entry (proof_ttl) */
	cp_u32 proof_due[COWRL_GUARDED_PROOFS];	/* proof_backoff: n_faults (mod 2^32) of its next read */
	cp_u8 proof_bucket[COWRL_GUARDED_PROOFS];	/* its region's cowrl_guarded_bucket() */
	cp_u32 bucket_live[COWRL_GUARDED_BUCKETS];	/* live entries per bucket (proof_look) */
	/* proof_span: every slot outside [proof_tail, proof_head) is empty (the whole ring when
	 * they are equal and an entry is live); and per bucket (proof_look; else index 0) the
	 * fault number (mod 2^32) before which no entry its look counts is due */
	cp_u32 proof_tail;
	cp_u32 bucket_due[COWRL_GUARDED_BUCKETS];
	/* floor_slow: the slower EWMA of the sentinel outcomes per class (SLOW_ONE = 1.0) */
	cp_s32 slow[2];
	/* the live ring slots: bit i % 64 of word i / 64 set iff proof_page[i] != 0 (kept
	 * whatever the table; proof_skipmap reads it) */
	cp_u64 proof_bits[COWRL_GUARDED_PROOFS / 64];
	/* proof_duemap: the waiting entries (bit i set iff slot i is live and was put off by a
	 * backoff read, no refresh since finding it due), how many (all; per bucket), and a fault
	 * number (mod 2^32) none of them is due before */
	cp_u64 proof_wait[COWRL_GUARDED_PROOFS / 64];
	cp_u32 wait_live;
	cp_u32 wait_due;
	cp_u32 bucket_wait[COWRL_GUARDED_BUCKETS];
	/* the processes (tgids) in the order of their first decided fault; the ordinal of
	 * each is its index, the last shared by every later one (cowrl_guarded_proc) */
	cp_s32 proc_tgid[COWRL_GUARDED_PROCS];
	cp_u32 n_procs;
	/* proof_cutback: per bucket, the looks cut by the budget since its last proof (<= s) */
	cp_u8 bucket_cuts[COWRL_GUARDED_BUCKETS];
	/* sibling_window: what each ring entry's proof returns (0: a window page's, loss_ns;
	 * > 0: a sibling page's stake, sibling_stake), and the sibling pages' proof rate (an
	 * EWMA, USE_ONE = 1.0, from 1/2) */
	cp_s64 proof_stake[COWRL_GUARDED_PROOFS];
	cp_s32 sib_use;
	/* sibling_gate: sibling pages marked, marks that saved a fault, halvings mod 4 */
	cp_u32 gate_mark;
	cp_u32 gate_hit;
	cp_u32 gate_epoch;
	/* the decision tallies (COWRL_GUARDED_T_*), counted since the reset; never read by it */
	cp_u64 tally[COWRL_GUARDED_TALLIES];
};

/* What cowrl_guarded_observe() found, for cowrl_guarded_commit(). */
struct cowrl_guarded_obs {
	cp_u32 cell, cls, slot, run, want;
	cp_u32 align;		/* 1: want is an align value's degree (itself a candidate) */
	cp_u32 bucket;		/* the region's cowrl_guarded_bucket() (set by observe) */
	cp_u32 proc;		/* the faulting process's ordinal (set by observe) */
	cp_u32 salt;		/* set by observe: the sentinel index's salt (sentinel_salt; else
				 * 0), cowrl_guarded_salt() */
	cp_u32 proof_first;	/* set by commit: ring index of the first page it recorded */
	cp_u32 proof_count;	/* set by commit: pages recorded (0 unless proof) */
	cp_u32 last;		/* set by commit: the window's last page it read shared, as
				 * page + last (0: none); the window's pages after it were
				 * private, so the precopy walk may stop there (strided: as
				 * page + last * stride) */
	cp_u32 stride;		/* set by observe: the window's stride s >= 2 (stride_window),
				 * or 0: adjacent (page + 1 ..) */
	cp_u32 left_s;		/* set by observe: its @left_s (0 unless stride) */
	cp_u32 sib;		/* set by commit_fam: the sibling window's last page, as page + sib
				 * (0: none; <= COWRL_GUARDED_MAX_SIB) */
	cp_u64 sibmask;		/* set by commit_fam: bit j - 1 = page + j is a family page of
				 * the sibling window (j in (the adjacent window's end, sib]): the
				 * pages its precopy walks, copying those still shared */
};

static inline void cowrl_guarded_reset(struct cowrl_guarded_state *st)
{
	cp_u32 i;
	unsigned char *p = (unsigned char *)st;

	for (i = 0; i < sizeof(*st); i++)
		p[i] = 0;
	st->use[0] = st->use[1] = COWRL_GUARDED_USE_ONE / 2;
	st->slow[0] = st->slow[1] = COWRL_GUARDED_SLOW_ONE / 2;
	st->sib_use = COWRL_GUARDED_USE_ONE / 2;
}

/*
 * @st's decision tallies (COWRL_GUARDED_T_*), then its sentinels hit and missed (both
 * classes), then its budget (an s64 as its two's complement: a sum of budgets stays exact
 * mod 2^64): COWRL_GUARDED_COUNTS values, the module's guard_* counters in their order.
 */
#define COWRL_GUARDED_COUNTS (COWRL_GUARDED_TALLIES + 3)
static inline void cowrl_guarded_counts(const struct cowrl_guarded_state *st, cp_u64 *out)
{
	cp_u32 i;

	for (i = 0; i < COWRL_GUARDED_TALLIES; i++)
		out[i] = st->tally[i];
	out[COWRL_GUARDED_TALLIES] = (cp_u64)st->hits[0] + st->hits[1];
	out[COWRL_GUARDED_TALLIES + 1] = (cp_u64)st->misses[0] + st->misses[1];
	out[COWRL_GUARDED_TALLIES + 2] = (cp_u64)st->budget;
}

/*
 * The budget moves through these two, @ns (>= 0) added or spent, tallied under @t (and, in a
 * proof look's loop, through plain decrements that the look tallies at once: below).
 */
static inline void cowrl_guarded_earn(struct cowrl_guarded_state *st, cp_u32 t, cp_s64 ns)
{
	st->budget += ns;
	st->tally[t] += (cp_u64)ns;
}

static inline void cowrl_guarded_pay(struct cowrl_guarded_state *st, cp_u32 t, cp_s64 ns)
{
	st->budget -= ns;
	st->tally[t] += (cp_u64)ns;
}

/*
 * Inside a proof look's loop the walk's prices are paid as plain budget decrements (each
 * step costs what it was measured to, tests/kernel's ring step prices) and tallied at once:
 * T_SPEND_WALK takes the budget before the loop and gives back the budget after it, and
 * each other change of the budget in the loop (a proof's credit, a sibling page's rest of
 * its loss) is offset there too.  (Read only under the lock, after the decision.)
 */
static inline void cowrl_guarded_earn_look(struct cowrl_guarded_state *st, cp_u32 t, cp_s64 ns)
{
	cowrl_guarded_earn(st, t, ns);
	st->tally[COWRL_GUARDED_T_SPEND_WALK] += (cp_u64)ns;
}

static inline void cowrl_guarded_pay_look(struct cowrl_guarded_state *st, cp_u32 t, cp_s64 ns)
{
	cowrl_guarded_pay(st, t, ns);
	st->tally[COWRL_GUARDED_T_SPEND_WALK] -= (cp_u64)ns;
}

/* sibling_gate: @marks sibling pages marked, @hits saved (both halved at GATE_DECAY marks). */
static inline void cowrl_guarded_gate_add(struct cowrl_guarded_state *st, cp_u32 marks,
					  cp_u32 hits)
{
	st->gate_mark += marks;
	st->gate_hit += hits;
	if (st->gate_mark >= COWRL_GUARDED_GATE_DECAY) {
		st->gate_mark >>= 1;
		st->gate_hit >>= 1;
		st->gate_epoch = (st->gate_epoch + 1) & 3;
	}
}

/*
 * sibling_gate m: whether the sibling window opens: at least GATE_MIN marks and a saved rate
 * hits / marks >= p* + (m / 8)(1 - p*), p* = loss / (gain + loss) (in integers; < 2^58).
 */
static inline int cowrl_guarded_gate_open(const struct cowrl_guarded_state *st,
					  const struct cowrl_guarded_table *tb)
{
	cp_s64 m = st->gate_mark;

	return m >= COWRL_GUARDED_GATE_MIN &&
	       (cp_s64)st->gate_hit * 8 * (tb->gain_ns + tb->loss_ns) >=
	       m * (8 * tb->loss_ns + (cp_s64)tb->sibling_gate * tb->gain_ns);
}

/* Whether table value @v is COWRL_GUARDED_ALIGN | G, G a power of two in 2..MAX_ALIGN. */
static inline int cowrl_guarded_is_align(cp_u32 v)
{
	cp_u32 g = v - COWRL_GUARDED_ALIGN;

	return v > COWRL_GUARDED_ALIGN && g >= 2 && g <= COWRL_GUARDED_MAX_ALIGN &&
	       !(g & (g - 1));
}

/*
 * The ordinal of the process @tgid among those whose demand faults the state decided: 0 for
 * the first, 1 for the next, ..., COWRL_GUARDED_PROCS - 1 for the last one the table holds
 * and every later one.  A process is entered at its first decided fault; the reset clears
 * the table.  As the simulator's ranks its writers by their first write (Trace.region_procs
 * in cowrl/traces/io.py: a writer's first write always faults).
 */
static inline cp_u32 cowrl_guarded_proc(struct cowrl_guarded_state *st, cp_s32 tgid)
{
	cp_u32 i;

	for (i = 0; i < st->n_procs && i < COWRL_GUARDED_PROCS; i++)
		if (st->proc_tgid[i] == tgid)
			return i;
	if (i < COWRL_GUARDED_PROCS) {
		st->proc_tgid[i] = tgid;
		st->n_procs = i + 1;
		return i;
	}
	return COWRL_GUARDED_PROCS - 1;
}

/*
 * The proof ring's bucket (0..COWRL_GUARDED_BUCKETS - 1) of the region whose first page is
 * at virtual page @start_vpn, @size pages long, in the process of ordinal @proc
 * (cowrl_guarded_proc): a u32 key, the low 9 bits of @start_vpn (the harness maps each
 * region at a slot congruent to the simulator's virtual page modulo 512, so both agree on
 * them) with @size above them, mixed by two xor-shift-multiply rounds; its low 4 bits plus
 * @proc, mod 16.  So the same region in up to 16 processes (a fork's children hold theirs at
 * the same address and size) falls in 16 distinct buckets, and @proc = 0 (one process) is
 * the key before the ordinal.  As region_bucket() in cowrl/sim/programs.py.
 */
static inline cp_u32 cowrl_guarded_bucket(cp_u64 start_vpn, cp_s64 size, cp_u32 proc)
{
	cp_u32 x = (cp_u32)(start_vpn & 511) | ((cp_u32)size << 9);

	x = ((x >> 16) ^ x) * 0x045D9F3BU;
	x = ((x >> 16) ^ x) * 0x045D9F3BU;
	return (((x >> 16) ^ x) + proc) & (COWRL_GUARDED_BUCKETS - 1);
}

/*
 * sentinel_salt: what the sentinel index adds to a page's offset in its region (0..255) for
 * the region whose first page is at virtual page @start_vpn, @size pages long, in the process
 * of ordinal @proc: bits 8..15 of cowrl_guarded_bucket's mixed key (the bucket takes bits
 * 0..3) plus 16 x @proc, mod 256.  As region_salt() in cowrl/sim/programs.py.
 */
static inline cp_u32 cowrl_guarded_salt(cp_u64 start_vpn, cp_s64 size, cp_u32 proc)
{
	cp_u32 x = (cp_u32)(start_vpn & 511) | ((cp_u32)size << 9);

	x = ((x >> 16) ^ x) * 0x045D9F3BU;
	x = ((x >> 16) ^ x) * 0x045D9F3BU;
	return ((((x >> 16) ^ x) >> 8) + (proc << 4)) & (COWRL_GUARDED_SENTINELS - 1);
}

/* proof_duemap: entry @i no longer waits (due, left the ring, or overwritten). */
static inline void cowrl_guarded_unwait(struct cowrl_guarded_state *st, cp_u32 i)
{
	cp_u64 bit = 1ULL << (i & 63);

	if (st->proof_wait[i >> 6] & bit) {
		st->proof_wait[i >> 6] &= ~bit;
		st->wait_live--;
		st->bucket_wait[st->proof_bucket[i] & (COWRL_GUARDED_BUCKETS - 1)]--;
	}
}

/* proof_duemap: live entry @i was put off to proof_due[i]: it waits. */
static inline void cowrl_guarded_wait(struct cowrl_guarded_state *st, cp_u32 i)
{
	st->proof_wait[i >> 6] |= 1ULL << (i & 63);
	st->wait_live++;
	st->bucket_wait[st->proof_bucket[i] & (COWRL_GUARDED_BUCKETS - 1)]++;
	if (st->wait_live == 1 || (cp_s32)(st->proof_due[i] - st->wait_due) < 0)
		st->wait_due = st->proof_due[i];
}

/*
 * proof_duemap: every waiting entry due at @now waits no longer; wait_due the soonest due
 * fault of those still waiting.  One bit scan and one compare per waiting entry.
 */
static inline void cowrl_guarded_refresh(struct cowrl_guarded_state *st, cp_u32 now)
{
	cp_u32 w, j, first = 1;
	cp_u64 b;

	for (w = 0; w < COWRL_GUARDED_PROOFS / 64; w++) {
		for (b = st->proof_wait[w]; b; b &= b - 1) {
			j = (w << 6) | (cp_u32)__builtin_ctzll(b);
			if ((cp_s32)(now - st->proof_due[j]) >= 0) {
				cowrl_guarded_unwait(st, j);
			} else if (first || (cp_s32)(st->proof_due[j] - st->wait_due) < 0) {
				st->wait_due = st->proof_due[j];
				first = 0;
			}
		}
	}
}

/* Ring entry @i leaves the ring (proven or expired; with proof_duemap unwait it first). */
static inline void cowrl_guarded_drop(struct cowrl_guarded_state *st, cp_u32 i)
{
	st->proof_page[i] = 0;
	st->proof_bits[i >> 6] &= ~(1ULL << (i & 63));
	st->proof_live--;
	st->bucket_live[st->proof_bucket[i] & (COWRL_GUARDED_BUCKETS - 1)]--;
}

/*
 * proof_cutback: a proof clears bucket @db's count of cut looks, a cut adds one (at most
 * proof_cutback); the faults by which the look puts off the bucket's next one, at least:
 * 2^count, or 0 while the count is 0 (always 0 without proof_cutback).
 */
static inline cp_u32 cowrl_guarded_put_off(struct cowrl_guarded_state *st,
					   const struct cowrl_guarded_table *tb, cp_u32 db,
					   int cut, int proved)
{
	if (!tb->proof_cutback)
		return 0;
	if (proved)
		st->bucket_cuts[db] = 0;
	else if (cut && st->bucket_cuts[db] < tb->proof_cutback)
		st->bucket_cuts[db]++;
	return st->bucket_cuts[db] ? 1U << st->bucket_cuts[db] : 0;
}

/* proof_span: whether ring slot @i lies in [proof_tail, proof_head). */
static inline int cowrl_guarded_in_span(const struct cowrl_guarded_state *st, cp_u32 i)
{
	cp_u32 span = (st->proof_head - st->proof_tail) & (COWRL_GUARDED_PROOFS - 1);

	return (st->proof_live && !span) ||
	       ((i - st->proof_tail) & (COWRL_GUARDED_PROOFS - 1)) < span;
}

/*
 * proof_skipmap: the first live ring slot at or after @i, cyclic (proof_bits; at least one
 * slot must be live: the look calls it only while it has live entries left to count).
 * Two words, at most three bit scans; __builtin_ctzll builds in the module and in user space.
 */
static inline cp_u32 cowrl_guarded_next_live(const struct cowrl_guarded_state *st, cp_u32 i)
{
	cp_u32 w = (i >> 6) & (COWRL_GUARDED_PROOFS / 64 - 1), n;
	cp_u64 b = st->proof_bits[w] & (~0ULL << (i & 63));

	for (n = 0; !b && n < COWRL_GUARDED_PROOFS / 64; n++) {
		w = (w + 1) & (COWRL_GUARDED_PROOFS / 64 - 1);
		b = st->proof_bits[w];	/* the next word (the first again, whole, after a wrap) */
	}
	return b ? (w << 6) | (cp_u32)__builtin_ctzll(b) : i;
}

/*
 * proof_duemap: the first live ring slot at or after @i, cyclic, that does not wait
 * (proof_bits less proof_wait; the look calls it only while such a slot is left to count).
 */
static inline cp_u32 cowrl_guarded_next_due(const struct cowrl_guarded_state *st, cp_u32 i)
{
	cp_u32 w = (i >> 6) & (COWRL_GUARDED_PROOFS / 64 - 1), n;
	cp_u64 b = st->proof_bits[w] & ~st->proof_wait[w] & (~0ULL << (i & 63));

	for (n = 0; !b && n < COWRL_GUARDED_PROOFS / 64; n++) {
		w = (w + 1) & (COWRL_GUARDED_PROOFS / 64 - 1);
		b = st->proof_bits[w] & ~st->proof_wait[w];	/* the next word, whole */
	}
	return b ? (w << 6) | (cp_u32)__builtin_ctzll(b) : i;
}

/* 0 if @tb can be used, else -22 (EINVAL). Call once when the table is pushed. */
static inline int cowrl_guarded_check(const struct cowrl_guarded_table *tb)
{
	cp_u32 i;

	if (tb->version != COWRL_GUARDED_VERSION || tb->n_cells != COWRL_GUARDED_CELLS)
		return -22;
	if (tb->grant_left > 4 || tb->scan > COWRL_GUARDED_MAX_SCAN ||
	    tb->merge > 1 || tb->protect > 1 || tb->hit_scale < 1 ||
	    tb->hit_scale > COWRL_GUARDED_MAX_HIT_SCALE ||
	    (!tb->proof && (tb->walk_ns || tb->walk_empty_ns)) ||
	    (tb->read_ns && (!tb->proof || !tb->proof_ttl)) ||
	    tb->proof_look > 1 || (!tb->proof && tb->proof_look) ||
	    tb->proof_span > 1 || (tb->proof_span && (!tb->proof || !tb->proof_backoff)))
		return -22;
	if ((tb->floor_slow && (tb->floor_slow < COWRL_GUARDED_SLOW_MIN ||
				tb->floor_slow > COWRL_GUARDED_SLOW_MAX)) ||
	    tb->proof_skipmap > 1 || (tb->proof_skipmap && !tb->proof))
		return -22;
	if (tb->proof_cutback > COWRL_GUARDED_MAX_CUTBACK ||
	    (tb->proof_cutback && !tb->proof_span))
		return -22;
	if (tb->stride_window > 1 || tb->stride_pad || (tb->stride_window && tb->protect) ||
	    (!tb->stride_window && tb->stride_ns) || tb->stride_ns > COWRL_GUARDED_MAX_STRIDE_NS)
		return -22;
	if (tb->sibling_window > COWRL_GUARDED_MAX_SIB || tb->sibling_stake > 2 ||
	    tb->sibling_gate > COWRL_GUARDED_MAX_GATE || (tb->sibling_window && !tb->proof) ||
	    (tb->sibling_stake && !tb->sibling_window) ||
	    (tb->sibling_gate && !tb->sibling_stake) || tb->sentinel_salt > 1)
		return -22;
	for (i = 0; i < sizeof(tb->sibling_pad); i++)
		if (tb->sibling_pad[i])
			return -22;
	if (tb->proof_duemap > 1 || (tb->proof_duemap && !tb->proof_backoff) ||
	    (!tb->proof_duemap && (tb->walk_due_ns || tb->walk_scan_ns)))
		return -22;
	if (tb->proof > 1 || (tb->proof && (tb->proof_reads < 1 ||
	    tb->proof_reads > COWRL_GUARDED_MAX_PROOF_READS || tb->expected_loss)) ||
	    (!tb->proof && tb->proof_reads))
		return -22;	/* a proof returns loss_ns: the reserve must be the whole loss */
	if (tb->proof_ttl > COWRL_GUARDED_MAX_PROOF_TTL || (!tb->proof && tb->proof_ttl))
		return -22;
	if (tb->proof_backoff > 1 || (!tb->proof && tb->proof_backoff))
		return -22;
	if (tb->slots < 1 || tb->slots > COWRL_POLICY_MAX_SLOTS)
		return -22;
	if (tb->near < 1 || tb->near > COWRL_POLICY_MAX_NEAR)
		return -22;
	if (tb->floor > COWRL_GUARDED_USE_ONE || tb->expected_loss > 1)
		return -22;
	if (tb->n_degrees < 1 || tb->n_degrees > COWRL_GUARDED_MAX_DEGREES)
		return -22;
	if (tb->gain_ns < 0 || tb->loss_ns < 0 || tb->setup_ns < 0 || tb->skip_ns < 0 ||
	    tb->allowance_ns < 0 || tb->gain_ns > (1LL << 40) || tb->loss_ns > (1LL << 40) ||
	    tb->setup_ns > (1LL << 40) || tb->skip_ns > (1LL << 40) ||
	    tb->allowance_ns > (1LL << 40))
		return -22;	/* the budget arithmetic stays far from s64 overflow */
	for (i = 0; i < COWRL_GUARDED_MAX_DEGREES; i++) {
		if (tb->degrees[i] > COWRL_GUARDED_MAX_K)
			return -22;
		if (i >= tb->n_degrees && tb->degrees[i])
			return -22;
		if (i > 0 && i < tb->n_degrees && tb->degrees[i] <= tb->degrees[i - 1])
			return -22;
	}
	for (i = 0; i < COWRL_GUARDED_CELLS; i++)
		if (tb->k[i] > COWRL_GUARDED_MAX_K && !cowrl_guarded_is_align(tb->k[i]))
			return -22;
	return 0;
}

/*
 * Version 4, before cowrl_guarded_observe at a demand fault in [@start, @limit): look at
 * the ring from proof_cursor on, round robin, and ask @written(@ctx, idx, page) about at
 * most proof_reads entries whose page lies in the region (others are passed over: their
 * region proves them).  1 = the page was written after its copy: it returns its reserve
 * and its gain, and leaves the ring.  0 = not yet (or the proof was lost): it stays until
 * a later look proves it or commit overwrites it.  Nothing with proof = 0.  proof_live
 * counts the entries != 0: the look ends once all were seen (at once on an empty ring,
 * e.g. every fault while no window opens), the cursor as the full round would leave it.
 * With proof_backoff an entry of the region not yet due (n_faults before its proof_due) is
 * stepped over unread and uncounted, an unwritten read sets its next due fault 2^m on, and
 * the look ends after COWRL_GUARDED_BACKOFF_STEPS * proof_reads slots at most.  With
 * walk_ns / walk_empty_ns a step is taken only while the budget holds the price of the slot
 * it steps to (walk_empty_ns if empty, else walk_ns), and one over a slot not read costs that
 * price (a look so cut leaves the cursor where it ended).  With read_ns a proven entry also
 * returns (proof_ttl - proof_miss) * read_ns, the reserved reads it did not use.
 * With proof_span the look is skipped (no slot walked) while n_faults is before its bucket's
 * bucket_due, steps from past the newest entry (proof_head) to the oldest (proof_tail)
 * without walking the empty slots between, moves proof_tail past an oldest slot it finds
 * empty, and, when it saw every entry it counts (not cut), sets bucket_due to the soonest
 * due fault among them (else to now: the next fault looks again).
 * With proof_skipmap an empty slot is not stepped over: the look jumps from it to the next
 * live slot for one walk_empty_ns (see the top of this file).
 * An entry copied by another process than @proc (its ordinal, cowrl_guarded_proc) is taken
 * as another region's: passed over unread.
 */
static inline __attribute__((__always_inline__)) void
cowrl_guarded_prove_as(struct cowrl_guarded_state *st, const struct cowrl_guarded_table *tb,
		       cp_s64 start, cp_s64 limit, cp_u32 bucket, cp_u32 proc,
		       int (*written)(void *ctx, cp_u32 idx, cp_s64 page), void *ctx,
		       const int duemap)
{
	cp_u32 i0 = st->proof_cursor & (COWRL_GUARDED_PROOFS - 1), i = i0, n = 0, step, j;
	const int look = tb->proof_look;
	/* live entries not yet looked at: of every region, or (proof_look) of its bucket */
	cp_u32 left = look ? st->bucket_live[bucket & (COWRL_GUARDED_BUCKETS - 1)] :
		st->proof_live;
	cp_u32 now = (cp_u32)st->n_faults, steps = COWRL_GUARDED_PROOFS, m;
	const int backoff = tb->proof_backoff, skipmap = tb->proof_skipmap;
	const int jumpy = skipmap | duemap;
	cp_s64 price;
	int cut = 0, counted, proved = 0, other, later;
	const cp_u32 db = look ? bucket & (COWRL_GUARDED_BUCKETS - 1) : 0;	/* proof_span */
	cp_u32 soon = 0x7fffffffU;	/* proof_span: faults until the soonest counted entry is due */
	/* its process's entries: page + 1 + tag (another process's lie outside [start, limit)) */
	const cp_s64 tag = COWRL_GUARDED_TAG(proc);

	if (!tb->proof || !left)
		return;	/* nothing to look at: the full loop would leave the cursor where it is */
	start += tag;
	limit += tag;
	if (tb->proof_span && (cp_s32)(now - st->bucket_due[db]) < 0)
		return;	/* nothing it counts is due yet: no read, no walk */
	if (duemap) {
		if (st->wait_live && (cp_s32)(now - st->wait_due) >= 0) {
			/* a refresh: each waiting entry looked at, those due wait no longer */
			price = (cp_s64)st->wait_live * tb->walk_scan_ns;
			if (price && st->budget < price) {
				if (tb->proof_span)	/* the next fault looks again (or later) */
					st->bucket_due[db] = now + cowrl_guarded_put_off(st, tb, db,
											 1, 0);
				return;
			}
			cowrl_guarded_pay(st, COWRL_GUARDED_T_SPEND_WALK, price);
			cowrl_guarded_refresh(st, now);
		}
		/* the look counts only the entries that do not wait (no waiting one is due) */
		left -= look ? st->bucket_wait[db] : st->wait_live;
		if (!left) {
			if (tb->proof_span)	/* none it counts is due before the soonest waiting */
				st->bucket_due[db] = st->wait_due;
			return;
		}
	}
	if (backoff && COWRL_GUARDED_BACKOFF_STEPS * tb->proof_reads < steps)
		steps = COWRL_GUARDED_BACKOFF_STEPS * tb->proof_reads;
	st->tally[COWRL_GUARDED_T_SPEND_WALK] += (cp_u64)st->budget;	/* (earn_look) */
	for (step = 0; step < steps && n < tb->proof_reads && left; step++) {
		cp_s64 v;

		if (tb->proof_span && !cowrl_guarded_in_span(st, i))
			i = st->proof_tail;	/* past the newest: on from the oldest, unwalked */
		/* one test per step without either map (the steps' prices were measured so) */
		if (jumpy && (!st->proof_page[i] ||
			      (duemap && ((st->proof_wait[i >> 6] >> (i & 63)) & 1)))) {
			if (duemap) {
				/* one jump to the next live slot that does not wait, walk_due_ns */
				if (tb->walk_due_ns && st->budget < tb->walk_due_ns) {
					cut = 1;	/* the budget cannot pay the jump */
					break;
				}
				st->budget -= tb->walk_due_ns;
				if (tb->proof_span && i == st->proof_tail && !st->proof_page[i])
					/* the slots before the next live one are empty */
					st->proof_tail = cowrl_guarded_next_live(st, i);
				i = cowrl_guarded_next_due(st, i);
			} else {
				/* one jump to the next live slot, at walk_empty_ns (not a step) */
				if (tb->walk_empty_ns && st->budget < tb->walk_empty_ns) {
					cut = 1;	/* the budget cannot pay the jump */
					break;
				}
				st->budget -= tb->walk_empty_ns;
				j = cowrl_guarded_next_live(st, i);
				if (tb->proof_span && i == st->proof_tail)
					st->proof_tail = j;	/* the slots jumped over are empty */
				i = j;
			}
		}
		v = st->proof_page[i];

		if (!v) {
			price = tb->walk_empty_ns;	/* an empty slot stepped over */
			if (price && st->budget < price) {
				cut = 1;	/* the budget cannot pay this step */
				break;
			}
			st->budget -= price;
		} else {
			/*
			 * A live entry stepped over unread (another region's, or not yet due)
			 * costs walk_ns, one read nothing (its reads are in the copy's
			 * reserve): the gate is what is charged.  Each test made once.
			 */
			other = !(v - 1 >= start && v - 1 < limit);
			later = !other && backoff && (cp_s32)(now - st->proof_due[i]) < 0;
			if ((other | later) && tb->walk_ns && st->budget < tb->walk_ns) {
				cut = 1;	/* the budget cannot pay this step */
				break;
			}
			counted = !look || st->proof_bucket[i] == bucket;
			if (counted)
				left--;
			if (other) {
				st->budget -= tb->walk_ns;	/* another region's or process's */
				if (counted)	/* due for its own region's looks */
					soon = 0;
			} else if (later) {
				st->budget -= tb->walk_ns;	/* not yet due */
				if (counted && st->proof_due[i] - now < soon)
					soon = st->proof_due[i] - now;
			} else {
				/* (an entry not yet due is stepped over: no read, not counted) */
				n++;
				if (written(ctx, i, v - 1 - tag) == 1) {
					proved = 1;
					if (st->proof_stake[i] > 0) {
						/* a sibling page: its stake and gain */
						cowrl_guarded_earn_look(st,
							COWRL_GUARDED_T_ADD_CREDIT,
							st->proof_stake[i] + tb->gain_ns);
						st->sib_use += (COWRL_GUARDED_USE_ONE -
								st->sib_use) >> 4;
						/* sibling_gate: a hit (at most the marks) */
						if (tb->sibling_gate &&
						    st->gate_hit < st->gate_mark)
							cowrl_guarded_gate_add(st, 0, 1);
					} else {
						cowrl_guarded_earn_look(st,
							COWRL_GUARDED_T_ADD_CREDIT,
							tb->loss_ns + tb->gain_ns +
							(cp_s64)(tb->proof_ttl -
								 st->proof_miss[i]) * tb->read_ns);
					}
					if (duemap)	/* (no entry waits without the map) */
						cowrl_guarded_unwait(st, i);
					cowrl_guarded_drop(st, i);
				} else if (tb->proof_ttl &&
					   ++st->proof_miss[i] >= tb->proof_ttl) {
					if (duemap)
						cowrl_guarded_unwait(st, i);
					cowrl_guarded_drop(st, i);	/* its reserve stays spent */
					if (st->proof_stake[i] > 0) {	/* a sibling page: a miss */
						st->sib_use -= st->sib_use >> 4;
						if (tb->sibling_stake == 2)	/* the rest */
							cowrl_guarded_pay_look(st,
								COWRL_GUARDED_T_SPEND_SIB,
								tb->loss_ns - st->proof_stake[i]);
					}
				} else if (backoff) {	/* read again 2^m faults later */
					/* without a ttl, count here (saturating: min(m, 16) matters) */
					if (!tb->proof_ttl && st->proof_miss[i] < 0xffff)
						st->proof_miss[i]++;
					m = st->proof_miss[i];
					if (m > COWRL_GUARDED_BACKOFF_MAX_SHIFT)
						m = COWRL_GUARDED_BACKOFF_MAX_SHIFT;
					st->proof_due[i] = now + (1U << m);
					if (counted && (1U << m) < soon)
						soon = 1U << m;
					if (duemap)	/* jumped over until a refresh finds it due */
						cowrl_guarded_wait(st, i);
				}
			}
		}
		if (tb->proof_span && i == st->proof_tail && !st->proof_page[i])
			/* the oldest slot is empty now: the span starts after it */
			st->proof_tail = st->proof_live ? (i + 1) & (COWRL_GUARDED_PROOFS - 1) :
				st->proof_head;
		i = (i + 1) & (COWRL_GUARDED_PROOFS - 1);
	}
	st->tally[COWRL_GUARDED_T_SPEND_WALK] -= (cp_u64)st->budget;	/* its walk's prices */
	/*
	 * Stopped with fewer than proof_reads reads: every live entry was looked at, and the
	 * full loop (128 entries) would have come back to where it started.  With proof_ttl
	 * or proof_backoff the cursor stays where the look ended instead: entries that left
	 * (proven or expired) are not stepped over again at every fault, and a backoff look
	 * cut short by its steps moves on.
	 */
	st->proof_cursor = n < tb->proof_reads && !tb->proof_ttl && !tb->proof_backoff && !cut ?
			   i0 : i;
	if (duemap && (look ? st->bucket_wait[db] : st->wait_live)) {
		m = (cp_s32)(st->wait_due - now) < 0 ? 0 : st->wait_due - now;
		if (m < soon)	/* a waiting entry it counts: none is due before wait_due */
			soon = m;
	}
	if (tb->proof_span) {	/* all counted entries seen: none is due before the soonest */
		if (left || cut)
			soon = 0;
		m = cowrl_guarded_put_off(st, tb, db, cut, proved);
		st->bucket_due[db] = now + (m > soon ? m : soon);
	}
}

/*
 * The look (cowrl_guarded_prove_as), specialized for proof_duemap 0 and 1: without the map the
 * compiler drops its tests, so the steps and jumps of a table without it cost what they were
 * measured to (tests/kernel/test_kernel_target.py, proof_ring_steps).
 */
static inline void cowrl_guarded_prove(struct cowrl_guarded_state *st,
				       const struct cowrl_guarded_table *tb,
				       cp_s64 start, cp_s64 limit, cp_u32 bucket, cp_u32 proc,
				       int (*written)(void *ctx, cp_u32 idx, cp_s64 page),
				       void *ctx)
{
	if (tb->proof_duemap)
		cowrl_guarded_prove_as(st, tb, start, limit, bucket, proc, written, ctx, 1);
	else
		cowrl_guarded_prove_as(st, tb, start, limit, bucket, proc, written, ctx, 0);
}

/*
 * stride_window: the stride s >= 2 that cowrl_guarded_observe's detector will find continuing
 * at a fault on @page (region [@start, @limit)), else 0 (also 0 with stride_window = 0).  The
 * caller reads @left_s for it: how many of page - s, page - 2s, page - 3s that lie at or
 * after @start are private.  Whether the window is strided also needs kind != 1 (observe).
 */
static inline cp_s64 cowrl_guarded_stride(const struct cowrl_guarded_state *st,
					  const struct cowrl_guarded_table *tb, cp_s64 page,
					  cp_s64 start, cp_s64 limit)
{
	cp_s64 delta;

	if (!tb->stride_window || !st->has_prev || st->prev_page < start ||
	    st->prev_page >= limit)
		return 0;
	delta = page - st->prev_page;
	return delta >= 2 && delta == st->prev_delta ? delta : 0;
}

/*
 * First half of a demand fault at @page (region [@start, @limit)): sentinel
 * check, budget allowance, stream match, stride, cell.  Returns the degree
 * the table wants: 0 below the floor or when the budget cannot pay a window's
 * setup, else the table's (cowrl_guarded_commit applies the budget); for an
 * align value, the rest of @page's aligned group, from @vpn, its virtual page
 * number (only its low 6 bits matter).  @proc: the faulting process's ordinal
 * (cowrl_guarded_proc), part of the region's ring bucket.  @left_s: with stride_window,
 * the private pages among page - s, page - 2s, page - 3s (s = cowrl_guarded_stride() before
 * this call; 0 when it returned 0).
 */
static inline cp_u32 cowrl_guarded_observe(struct cowrl_guarded_state *st,
					   const struct cowrl_guarded_table *tb,
					   struct cowrl_guarded_obs *o, cp_s64 page,
					   cp_s64 start, cp_s64 limit, cp_u32 left, cp_u64 vpn,
					   cp_u32 proc, cp_u32 left_s)
{
	/* region-relative index: the regions of a process lie at other offsets (sentinel_salt:
	 * plus the region's salt, so that regions written in lockstep keep their sentinels apart) */
	const cp_u32 salt = tb->sentinel_salt ?
		cowrl_guarded_salt(vpn - (cp_u64)(page - start), limit - start, proc) : 0;
	cp_u32 t = (cp_u32)((page - start + salt) & (COWRL_GUARDED_SENTINELS - 1));
	cp_u32 i, best = COWRL_POLICY_MAX_SLOTS, kind, run, slot = 0, use_b;
	cp_s64 tag = st->tags[t], gap, best_gap = (cp_s64)tb->near + 1, delta;
	int stride_hit, hit = tag && (tag >> 1) == page + 1;

	/* 1. a fault on a recorded sentinel: its window was used to its end */
	if (hit) {
		cp_u32 c = (cp_u32)(tag & 1);

		st->use[c] += (COWRL_GUARDED_USE_ONE - st->use[c]) >> 4;
		if (tb->floor_slow)
			st->slow[c] += (COWRL_GUARDED_SLOW_ONE - st->slow[c]) >> tb->floor_slow;
		st->hits[c]++;
		if (!tb->proof)	/* version 4: credit comes from interior proofs only */
			cowrl_guarded_earn(st, COWRL_GUARDED_T_ADD_CREDIT,
					   st->tag_reserved[t] + st->tag_pages[t] * tb->gain_ns);
		st->tags[t] = 0;
	}
	/* 2. streams (smallest gap, lowest slot on a tie) and the stride detector */
	for (i = 0; i < tb->slots; i++) {
		if (!st->valid[i] || st->end[i] < start)
			continue;	/* streams and strides stay inside the region */
		gap = page - st->end[i];
		if (gap >= 1 && gap < best_gap) {
			best = i;
			best_gap = gap;
		}
	}
	delta = st->has_prev && st->prev_page >= start && st->prev_page < limit ?
		page - st->prev_page : 0;
	stride_hit = delta >= 2 && delta == st->prev_delta;
	if (stride_hit)
		st->stride_run = st->stride_run < COWRL_POLICY_RUN_CAP ? st->stride_run + 1 :
			COWRL_POLICY_RUN_CAP;
	else
		st->stride_run = 0;
	st->prev_delta = delta;
	st->prev_page = page;
	st->has_prev = 1;
	if (best < COWRL_POLICY_MAX_SLOTS) {
		kind = best_gap == 1 ? 1 : 2;
		run = st->run[best] + 1;
		if (run > COWRL_POLICY_RUN_CAP)
			run = COWRL_POLICY_RUN_CAP;
		slot = best;
	} else {
		kind = stride_hit ? 3 : 0;
		run = stride_hit ? st->stride_run : 0;
		for (i = 0; i < tb->slots; i++) {	/* LRU: first empty, else oldest */
			if (!st->valid[i]) {
				slot = i;
				break;
			}
			if (st->stamp[i] < st->stamp[slot])
				slot = i;
		}
	}
	o->cls = (kind == 1 || kind == 2) ? 0 : 1;
	/* stride_window: a constant stride continuing, not an exact stream continuation (a
	 * sequential writer's windows of constant k look like a stride k + 1) */
	o->stride = tb->stride_window && stride_hit && kind != 1 && delta < (1LL << 30) ?
		(cp_u32)delta : 0;
	o->left_s = o->stride ? left_s : 0;
	/* 3. the cell */
	if (left > 3)
		left = 3;
	/* the allowance: hit_scale of it at a sentinel hit; else at every fault, or only
	 * where there is evidence of use (>= grant_left private neighbours) */
	if (hit)
		cowrl_guarded_earn(st, COWRL_GUARDED_T_ADD_ALLOW, tb->allowance_ns * tb->hit_scale);
	else if (!tb->grant_left || left >= tb->grant_left ||
		 (o->stride && o->left_s >= tb->grant_left))
		/* (strided: page - s, - 2s, - 3s private) */
		cowrl_guarded_earn(st, COWRL_GUARDED_T_ADD_ALLOW, tb->allowance_ns);
	use_b = (cp_u32)(st->use[o->cls] >> 6);
	if (use_b > 3)
		use_b = 3;
	o->cell = ((kind * COWRL_POLICY_RUN_BUCKETS + cowrl_policy_run_bucket(run)) * 4 + left) *
		  4 + use_b;
	o->slot = slot;
	o->run = run;
	o->proof_first = st->proof_head;
	o->proof_count = 0;
	o->bucket = cowrl_guarded_bucket(vpn - (cp_u64)(page - start), limit - start, proc);
	o->proc = proc & (COWRL_GUARDED_PROCS - 1);
	o->salt = salt;
	o->want = tb->k[o->cell];
	o->align = 0;
	if (o->want > COWRL_GUARDED_MAX_K) {	/* checked: ALIGN | G, G a power of 2 <= 64 */
		cp_u32 g = o->want - COWRL_GUARDED_ALIGN;

		o->align = 1;
		o->want = (g - 1) - (cp_u32)(vpn & (g - 1));	/* <= 63 */
	}
	/*
	 * Every window reserves at least setup_ns (copied * per >= 0, skip >= 0): a budget
	 * below it affords none.  Then, as below the floor, commit takes the path of a table
	 * of zeros (guarded0, the measured decision cost) and reads no window page.  Same k.
	 * With floor_slow, the slow EWMA below floor << 8 holds the window too.
	 */
	if (o->want) {
		st->tally[COWRL_GUARDED_T_ASKED]++;
		if (st->use[o->cls] < (cp_s32)tb->floor ||
		    (tb->floor_slow && st->slow[o->cls] < (cp_s32)(tb->floor << 8))) {
			o->want = 0;
			st->tally[COWRL_GUARDED_T_FLOOR]++;
		} else if (st->budget < tb->setup_ns) {
			o->want = 0;
			st->tally[COWRL_GUARDED_T_REFUSED]++;
			st->tally[COWRL_GUARDED_T_REFUSED_SETUP]++;
		}
	}
	st->last_cell = o->cell;
	return o->want;
}

/* The pages a window of @d walks: d clipped at the region end (>= 0). */
static inline cp_s64 cowrl_guarded_walked(cp_s64 page, cp_u32 d, cp_s64 limit)
{
	cp_s64 w = page + d < limit - 1 ? (cp_s64)d : limit - 1 - page;

	return w < 0 ? 0 : w;
}

/* ... of stride @s (0: adjacent): page + j * s for j = 1..w, all below @limit (>= 0). */
static inline cp_s64 cowrl_guarded_walked_s(cp_s64 page, cp_u32 d, cp_s64 limit, cp_u32 s)
{
	cp_s64 w;

	if (!s)
		return cowrl_guarded_walked(page, d, limit);
	w = limit - 1 - page;
	w = w < 0 ? 0 : w / (cp_s64)s;
	return w < (cp_s64)d ? w : (cp_s64)d;
}

/* What one copied page reserves (the whole loss, or loss * miss rate with expected_loss). */
static inline cp_s64 cowrl_guarded_per(const struct cowrl_guarded_state *st,
				       const struct cowrl_guarded_table *tb, cp_u32 cls)
{
	cp_s64 miss = COWRL_GUARDED_USE_ONE - st->use[cls];

	if (!tb->expected_loss)
		return tb->loss_ns;
	if (miss < COWRL_GUARDED_USE_ONE / 8)
		miss = COWRL_GUARDED_USE_ONE / 8;
	return tb->loss_ns * miss / COWRL_GUARDED_USE_ONE;
}

/*
 * Version 4: page @q (region-absolute) that the window of @o copied awaits its proof at the
 * ring's head, overwriting the oldest entry when the ring is full (a sibling page overwritten
 * unproven is a miss for sib_use, and with sibling_stake 2 takes the rest of its loss);
 * @stake: what its proof returns (0: loss_ns, a window page's; > 0: a sibling page's stake).
 */
static inline void cowrl_guarded_put(struct cowrl_guarded_state *st,
				     const struct cowrl_guarded_table *tb,
				     struct cowrl_guarded_obs *o, cp_s64 q, cp_s64 stake)
{
	cp_u32 h = st->proof_head;

	if (tb->proof_span) {	/* an empty ring starts its span here; a full one moves on */
		if (!st->proof_live)
			st->proof_tail = h;
		else if (st->proof_tail == h)
			st->proof_tail = (h + 1) & (COWRL_GUARDED_PROOFS - 1);
		st->bucket_due[tb->proof_look ? o->bucket & (COWRL_GUARDED_BUCKETS - 1) : 0] =
			(cp_u32)st->n_faults;
	}
	if (tb->proof_duemap)	/* (before its bucket changes) */
		cowrl_guarded_unwait(st, h);
	if (!st->proof_page[h]) {
		st->proof_live++;
	} else {	/* it overwrites the oldest entry */
		st->bucket_live[st->proof_bucket[h] & (COWRL_GUARDED_BUCKETS - 1)]--;
		if (st->proof_stake[h] > 0) {	/* a sibling page overwritten unproven: a miss */
			st->sib_use -= st->sib_use >> 4;
			if (tb->sibling_stake == 2)	/* ... and the rest of its loss */
				cowrl_guarded_pay(st, COWRL_GUARDED_T_SPEND_SIB,
						  tb->loss_ns - st->proof_stake[h]);
		}
	}
	st->proof_stake[h] = stake;
	st->bucket_live[o->bucket]++;
	st->proof_bucket[h] = (cp_u8)o->bucket;
	st->proof_page[h] = q + 1 + COWRL_GUARDED_TAG(o->proc);
	st->proof_bits[h >> 6] |= 1ULL << (h & 63);
	st->proof_miss[h] = 0;
	st->proof_due[h] = (cp_u32)st->n_faults;	/* due at once */
	st->proof_head = (h + 1) & (COWRL_GUARDED_PROOFS - 1);
	o->proof_count++;
}

/*
 * Second half: the largest degree <= want whose worst case fits the budget,
 * then the stream slot and the sentinel just past the window.  @shared(@ctx,
 * q) says page q (page < q < limit) is COW-shared; it is called at most once
 * per page, in order, and only as far as needed: a window's reserve grows with
 * its degree (per, skip >= 0; degrees ascending), so the scan goes up and stops
 * at the first degree that does not fit.  A fault whose smallest window cannot
 * fit reads 1 page, plus the sentinel candidates (at most scan + 1); one whose budget is
 * below setup_ns has want = 0 (cowrl_guarded_observe) and reads only the latter.
 * With proof, it sets @o->proof_first/proof_count: the ring indices of the pages it
 * counted as copied, in page order (the caller's copy work remembers them there).
 */
static inline cp_u32 cowrl_guarded_commit_fam(struct cowrl_guarded_state *st,
					      const struct cowrl_guarded_table *tb,
					      struct cowrl_guarded_obs *o, cp_s64 page,
					      cp_s64 start, cp_s64 limit,
					      int (*shared)(void *ctx, cp_s64 q), void *ctx,
					      cp_u8 *fam)
{
	cp_s64 per = cowrl_guarded_per(st, tb, o->cls), copied = 0, reserved = 0, end, s;
	cp_s64 walked, fixed, kfixed = 0, read = 0, cnt = 0, cap = (cp_s64)o->want + 1, j;
	unsigned char seen[COWRL_GUARDED_MAX_K + 2];	/* seen[j]: page + j * step is shared */
	int sh = 0, gate = 1;
	cp_u32 k = 0, kq, di;
	const cp_u32 sw = o->stride;	/* 0: adjacent */
	const cp_s64 step = sw ? (cp_s64)sw : 1;
	cp_s64 sib = 0, hi, acc, sper, sstake = 0;	/* sibling_window */
	cp_u64 sibshared = 0;	/* bit j - 1: page + j, a family page of the window, shared */
	cp_u32 mine = o->proc + 1, tag;

	/* protect: no window covers the live sentinel of a window that copied pages */
	for (j = 1; tb->protect && j <= (cp_s64)o->want && page + j <= limit - 1; j++) {
		cp_u32 tq = (cp_u32)((page + j - start + o->salt) &
				     (COWRL_GUARDED_SENTINELS - 1));

		if ((st->tags[tq] >> 1) == page + j + 1 && st->tag_pages[tq] > 0) {
			cap = j;
			break;
		}
	}
	/* the degrees ascending; with align, those below want, then want itself */
	for (di = 0; o->want && di <= tb->n_degrees; di++) {
		cp_u32 d = di < tb->n_degrees ? tb->degrees[di] : o->want;

		if (di == tb->n_degrees && !o->align)
			break;
		if (d == 0 || (o->align && di < tb->n_degrees && d >= o->want))
			continue;
		if (d > o->want || (cp_s64)d >= cap)
			break;
		walked = cowrl_guarded_walked_s(page, d, limit, sw);
		for (; read < walked; read++) {
			seen[read + 1] = (unsigned char)!!COWRL_GUARDED_SHARED(shared, ctx,
									    page + (read + 1) * step);
			cnt += seen[read + 1];
		}
		fixed = tb->setup_ns + (walked - cnt) * tb->skip_ns;
		if (sw)	/* each strided page walked: its own page-table walk */
			fixed += walked * (cp_s64)tb->stride_ns;
		if (cnt * per + fixed > st->budget)
			break;
		k = d;
		copied = cnt;
		kfixed = fixed;
	}
	if (k) {
		reserved = copied * per;
		cowrl_guarded_pay(st, COWRL_GUARDED_T_SPEND_WINDOW, reserved + kfixed);
	}
	/*
	 * A window that copies nothing (every page read private, or none: the region's end) is
	 * dropped without sibling_window: 0 is returned (no work queued); its fixed cost stays
	 * paid and the state below keeps k's window (the slot's end, the sentinel past it), so
	 * every later decision is the same.
	 */
	kq = k && !copied && !tb->sibling_window ? 0 : k;
	if (k && !kq) {
		st->tally[COWRL_GUARDED_T_EMPTY]++;
	} else if (k) {
		st->tally[COWRL_GUARDED_T_WINDOWS]++;
		st->tally[COWRL_GUARDED_T_SHORT] += k < o->want;
		st->tally[COWRL_GUARDED_T_PAGES] += (cp_u64)copied;
		st->tally[COWRL_GUARDED_T_STRIDED] += sw != 0;
	} else if (o->want) {
		/*
		 * Refused (the budget held setup_ns: observe).  A candidate tried and refused has
		 * read a page (one walking none costs setup_ns alone, and fits): none read, protect's
		 * cap stopped the degrees before the smallest candidate.
		 */
		st->tally[COWRL_GUARDED_T_REFUSED]++;
		st->tally[!read && cap <= (cp_s64)o->want ? COWRL_GUARDED_T_REFUSED_PROTECT :
			  COWRL_GUARDED_T_REFUSED_FIT]++;
	}
	/* every page of k's window was read (k is a degree tried): its last shared one */
	o->last = 0;
	for (j = k ? cowrl_guarded_walked_s(page, k, limit, sw) : 0; j >= 1; j--) {
		if (seen[j]) {
			o->last = (cp_u32)j;
			break;
		}
	}
	/* the adjacent window's last page (a strided one's: page + its last index * s) */
	if (sw) {
		end = page + (k ? cowrl_guarded_walked_s(page, k, limit, sw) : 0) * step;
	} else {
		end = page + (cp_s64)k;
		if (end > limit - 1)
			end = limit - 1;
		if (end < page)
			end = page;
	}
	o->sib = 0;
	o->sibmask = 0;
	/*
	 * sibling_gate m: this fault's hit (its page marked by its process in this epoch), the
	 * marks its adjacent window takes back (not a strided one's), and whether the window
	 * opens.  A mark is the family byte's bits 1..7: the marking process's ordinal + 1
	 * (bits 1..5) | the epoch << 5 (bits 6..7); bit 0 is the family bit.
	 */
	if (tb->sibling_gate && fam) {
		tag = mine | (st->gate_epoch << 5);
		if (((fam[page] >> 1) & 31) == mine) {
			if ((cp_u32)(fam[page] >> 1) == tag)
				cowrl_guarded_gate_add(st, 0, 1);
			fam[page] &= 1;
		}
		for (j = page + 1; !sw && j <= end; j++) {
			if (((fam[j] >> 1) & 31) == mine) {
				if ((cp_u32)(fam[j] >> 1) == tag && st->gate_mark)
					st->gate_mark--;	/* taken back (never below 0) */
				fam[j] &= 1;
			}
		}
		gate = cowrl_guarded_gate_open(st, tb);
	}
	/*
	 * sibling_window W: past the adjacent window (not after a strided one that copied), the
	 * family pages up to page + W (within the region) still shared here, as many from the
	 * first as the budget holds: each shared one its stake (copied), each private one
	 * skip_ns, the setup when k = 0; at most W shared() calls.  Shut (sibling_gate), a ghost
	 * window marks them instead: nothing copied, nothing paid.
	 */
	if (tb->sibling_window && fam && !(sw && k)) {
		hi = page + (cp_s64)tb->sibling_window;
		if (hi > limit - 1)
			hi = limit - 1;
		sper = tb->loss_ns;
		if (tb->sibling_stake) {
			cp_s64 miss = COWRL_GUARDED_USE_ONE - st->sib_use;

			if (miss < COWRL_GUARDED_USE_ONE / 8)
				miss = COWRL_GUARDED_USE_ONE / 8;
			sper = tb->loss_ns * miss / COWRL_GUARDED_USE_ONE;
		}
		if (tb->sibling_gate)
			st->tally[gate ? COWRL_GUARDED_T_GATE_OPEN : COWRL_GUARDED_T_GATE_SHUT]++;
		if (gate) {
			acc = k ? 0 : tb->setup_ns;
			for (j = end + 1; j <= hi; j++) {
				if (!(fam[j] & 1))
					continue;	/* a page without the bit is not walked */
				if (!COWRL_GUARDED_SHARED(shared, ctx, j)) {
					acc += tb->skip_ns;
					continue;
				}
				acc += sper;
				if (acc > st->budget)
					break;
				sibshared |= 1ULL << (j - page - 1);
				sib = j;
				sstake = acc;
			}
			cowrl_guarded_pay(st, COWRL_GUARDED_T_SPEND_SIB, sstake);
			for (j = end + 1; sib && j <= sib; j++)
				if (fam[j] & 1)
					o->sibmask |= 1ULL << (j - page - 1);
			o->sib = sib ? (cp_u32)(sib - page) : 0;
			st->tally[COWRL_GUARDED_T_SIB_WINDOWS] += sib != 0;
		} else {
			tag = mine | (st->gate_epoch << 5);
			for (j = end + 1; j <= hi; j++) {
				cp_u8 f = fam[j];

				if ((f & 1) && (cp_u32)(f >> 1) != tag &&
				    COWRL_GUARDED_SHARED(shared, ctx, j)) {
					fam[j] = (cp_u8)(1 | (tag << 1));
					cowrl_guarded_gate_add(st, 1, 0);
					/* (a mark may halve the counters: the epoch moves on) */
					tag = mine | (st->gate_epoch << 5);
				}
			}
		}
	}
	if (fam)	/* this demand fault's family bit */
		fam[page] |= 1;
	/* version 4: the copied pages (shared in the window) await their proofs */
	o->proof_first = st->proof_head;
	o->proof_count = 0;
	for (j = 1; tb->proof && kq && j <= cowrl_guarded_walked_s(page, k, limit, sw); j++) {
		if (!seen[j])
			continue;
		cowrl_guarded_put(st, tb, o, page + j * step, 0);
	}
	/* ... and the sibling window's (sibling_gate: each a mark) */
	for (j = end + 1; sib && j <= sib; j++) {
		if (!((sibshared >> (j - page - 1)) & 1))
			continue;
		cowrl_guarded_put(st, tb, o, j, tb->sibling_stake ? sper : 0);
		st->tally[COWRL_GUARDED_T_SIB_PAGES]++;
		if (tb->sibling_gate)
			cowrl_guarded_gate_add(st, 1, 0);
	}
	st->n_faults++;
	if (sw)	/* the window's last page; the detector goes on from it */
		st->prev_page = end;
	st->valid[o->slot] = 1;
	st->end[o->slot] = end;
	st->run[o->slot] = o->cls == 0 ? o->run : 0;
	st->stamp[o->slot] = st->n_faults;
	/* the sentinel: the first shared page within scan pages past the window's end (strided:
	 * down the column, end + s, end + 2s, ...) */
	for (s = end + step; s < limit; s += step) {
		/* (sibling_window: the sibling window's pages are private-to-be too) */
		if (sib && s <= sib && (fam[s] & 1))
			sh = 0;
		else
			sh = (s - page) / step <= read ? seen[(s - page) / step] :
			     COWRL_GUARDED_SHARED(shared, ctx, s);
		if (sh || s >= end + (tb->scan + 1) * step)
			break;
	}
	if (s < limit && sh) {
		cp_u32 t = (cp_u32)((s - start + o->salt) & (COWRL_GUARDED_SENTINELS - 1));
		cp_s64 old = st->tags[t];

		if (tb->merge && (old >> 1) == s + 1) {
			/* an earlier window has the same sentinel: one hit proves both ends */
			copied += st->tag_pages[t];
			reserved += st->tag_reserved[t];
		} else if (tb->protect && !copied && old && st->tag_pages[t] > 0) {
			return kq;	/* a window that copied nothing keeps off a proof */
		} else if (old) {	/* an unresolved sentinel leaves: its end was not reached */
			cp_u32 oc = (cp_u32)(old & 1);

			st->use[oc] -= st->use[oc] >> 4;
			if (tb->floor_slow)
				st->slow[oc] -= st->slow[oc] >> tb->floor_slow;
			st->misses[oc]++;
		}
		st->tags[t] = ((s + 1) << 1) | o->cls;
		st->tag_pages[t] = copied;
		st->tag_reserved[t] = reserved;
	}
	return kq;
}

/* cowrl_guarded_commit_fam without a family array: sibling_window takes no effect. */
static inline cp_u32 cowrl_guarded_commit(struct cowrl_guarded_state *st,
					  const struct cowrl_guarded_table *tb,
					  struct cowrl_guarded_obs *o, cp_s64 page,
					  cp_s64 start, cp_s64 limit,
					  int (*shared)(void *ctx, cp_s64 q), void *ctx)
{
	return cowrl_guarded_commit_fam(st, tb, o, page, start, limit, shared, ctx, 0);
}

#endif /* _COWRL_GUARDED_H */
