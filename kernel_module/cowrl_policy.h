/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * cowrl_policy.h - the module's precopy decision at a demand fault, in integers.
 *
 * Plain C with no kernel headers: the module includes it (with __KERNEL__
 * defined, the types come from <linux/types.h>), and the user-space
 * equivalence test compiles it into a shared library.  The Python reference
 * is cowrl/policies/context.py (+ table.py, readahead.py); keep them in step
 * (tests/test_policy_equivalence.py replays recorded fault streams through
 * both and requires identical decisions).
 *
 * The module keeps one struct cowrl_policy_state per watched region and one
 * struct cowrl_policy_table per policy (pushed by COWRL_IOC_SET_POLICY with
 * mode COWRL_POLICY_TABLE).  At each demand fault, in the fault path, it
 * calls cowrl_policy_fault(); the result is the precopy degree k.  No
 * allocation, no locks, no floating point; O(slots) work.
 */
#ifndef _COWRL_POLICY_H
#define _COWRL_POLICY_H

#ifdef __KERNEL__
#include <linux/types.h>
typedef s64 cp_s64;
typedef s32 cp_s32;
typedef u64 cp_u64;
typedef u32 cp_u32;
typedef u16 cp_u16;
typedef u8 cp_u8;
#else
#include <stdint.h>
typedef int64_t cp_s64;
typedef int32_t cp_s32;
typedef uint64_t cp_u64;
typedef uint32_t cp_u32;
typedef uint16_t cp_u16;
typedef uint8_t cp_u8;
#endif

#define COWRL_POLICY_TABLE_VERSION 1
#define COWRL_POLICY_CELLS 60		/* GAP_BUCKETS * RUN_BUCKETS * RATE_BUCKETS */
#define COWRL_POLICY_GAP_BUCKETS 3
#define COWRL_POLICY_RUN_BUCKETS 5
#define COWRL_POLICY_RATE_BUCKETS 4
#define COWRL_POLICY_MAX_SLOTS 16
#define COWRL_POLICY_MAX_NEAR 4096
#define COWRL_POLICY_MAX_K 512		/* COWRL_MAX_K of cowrl_uapi.h */
#define COWRL_POLICY_RUN_CAP 255
#define COWRL_POLICY_MATCH_ONE 256	/* fixed-point 1.0 of the stream-match rate */
#define COWRL_POLICY_HIT_ONE 256	/* fixed-point 1.0 of FaultHistory's hit rate */

/* struct cowrl_policy_table.decide */
#define COWRL_DECIDE_TABLE 0		/* k = k[cell] */
#define COWRL_DECIDE_READAHEAD 1	/* double k on a sequential hit, 0 on a miss */

/*
 * The ioctl payload (user -> module), 144 bytes, no implicit padding.
 * cowrl_policy.table_ptr points at one of these, table_len = 1,
 * entry_size = sizeof(struct cowrl_policy_table).
 */
struct cowrl_policy_table {
	cp_u32 version;		/* COWRL_POLICY_TABLE_VERSION */
	cp_u32 decide;		/* COWRL_DECIDE_* */
	cp_u32 slots;		/* stream slots, 1..COWRL_POLICY_MAX_SLOTS */
	cp_u32 near;		/* largest gap that continues a stream, 1..MAX_NEAR */
	cp_u32 max_k;		/* READAHEAD: the largest degree */
	cp_u32 n_cells;		/* COWRL_POLICY_CELLS */
	cp_u16 k[COWRL_POLICY_CELLS];	/* TABLE: degree per context cell */
};

struct cowrl_policy_slot {
	cp_s64 end;		/* last page of the stream's last precopy window */
	cp_u64 stamp;		/* fault number of its last use; 0 = empty */
	cp_u32 run;		/* consecutive faults that continued the stream */
	cp_u32 k;		/* degree applied at its last fault */
};

/* Per watched region: 64 + 24 * COWRL_POLICY_MAX_SLOTS = 448 bytes. */
struct cowrl_policy_state {
	cp_s64 prev_page;	/* FaultHistory: page of the previous fault, -1 = none */
	cp_u64 n_faults;
	cp_u32 prev_k;		/* FaultHistory: degree at the previous fault */
	cp_s32 match_rate;	/* EWMA of "matched a stream", MATCH_ONE = 1.0 */
	cp_u32 fh_run;		/* FaultHistory.run */
	cp_s32 fh_hit_rate;	/* FaultHistory.hit_rate_fp */
	cp_u32 fh_last_seq_hit;	/* FaultHistory.last_seq_hit */
	cp_u32 last_cell;	/* cell of the last decision (exported with records) */
	cp_u32 reserved[6];
	struct cowrl_policy_slot slot[COWRL_POLICY_MAX_SLOTS];
};

/*
 * floor(x / 8) for any sign (Python's x >> 3).  >> of a negative int is
 * implementation-defined in C; gcc and clang define it as the arithmetic shift,
 * which is floor division, so they get one instruction.
 */
static inline cp_s32 cowrl_policy_asr3(cp_s32 x)
{
#if defined(__GNUC__)
	return x >> 3;
#else
	return x >= 0 ? (x >> 3) : -((-x + 7) >> 3);
#endif
}

/* run 0 -> 0, 1 -> 1, 2..3 -> 2, 4..7 -> 3, >= 8 -> 4, without branches for run < 8. */
static inline cp_u32 cowrl_policy_run_bucket(cp_u32 run)
{
	static const unsigned char bucket[8] = { 0, 1, 2, 2, 3, 3, 3, 3 };

	return run < 8 ? bucket[run] : 4;
}

static inline void cowrl_policy_reset(struct cowrl_policy_state *st)
{
	cp_u32 i;
	unsigned char *p = (unsigned char *)st;

	for (i = 0; i < sizeof(*st); i++)
		p[i] = 0;
	st->prev_page = -1;
}

/* 0 if @tb can be used, else -22 (EINVAL). Call once when the table is pushed. */
static inline int cowrl_policy_check(const struct cowrl_policy_table *tb)
{
	cp_u32 i;

	if (tb->version != COWRL_POLICY_TABLE_VERSION || tb->n_cells != COWRL_POLICY_CELLS)
		return -22;
	if (tb->decide != COWRL_DECIDE_TABLE && tb->decide != COWRL_DECIDE_READAHEAD)
		return -22;
	if (tb->slots < 1 || tb->slots > COWRL_POLICY_MAX_SLOTS)
		return -22;
	if (tb->near < 1 || tb->near > COWRL_POLICY_MAX_NEAR)
		return -22;
	if (tb->decide == COWRL_DECIDE_READAHEAD &&
	    (tb->max_k < 1 || tb->max_k > COWRL_POLICY_MAX_K))
		return -22;
	for (i = 0; i < COWRL_POLICY_CELLS; i++)
		if (tb->k[i] > COWRL_POLICY_MAX_K)
			return -22;
	return 0;
}

/*
 * A demand fault at page @page of the region [@start, @limit) (pages of the
 * watched range; the region is the faulting VMA within it): update the history,
 * pick k, record it.  Returns k (the window is page+1 .. page+k, clipped at the
 * region end by the caller, as in the simulator).  A stream matches only within
 * the faulting page's region: regions lie at arbitrary addresses (the simulator
 * lays them end to end, the replay harness puts a guard page between them).
 */
/* Inlined into its one caller in the module: no call, no callee-saved spills on the fault path. */
static inline __attribute__((always_inline))
cp_u32 cowrl_policy_fault(struct cowrl_policy_state *st,
			  const struct cowrl_policy_table *tb,
			  cp_s64 page, cp_s64 start, cp_s64 limit)
{
	cp_u32 i, s, best = COWRL_POLICY_MAX_SLOTS, run = 0, gap_b = 0, rate_b, cell, k;
	cp_u32 seq_hit, slot_k = 0, lru = 0;
	cp_u64 lru_stamp = st->slot[0].stamp;
	cp_s64 gap, best_gap = (cp_s64)tb->near + 1, end;

	/* FaultHistory, exactly as cowrl/policies/features.py updates it. */
	seq_hit = st->prev_page >= 0 && page == st->prev_page + (cp_s64)st->prev_k + 1;
	st->fh_run = seq_hit ? st->fh_run + 1 : 0;
	st->fh_hit_rate += cowrl_policy_asr3((cp_s32)seq_hit * COWRL_POLICY_HIT_ONE -
					     st->fh_hit_rate);
	st->fh_last_seq_hit = seq_hit;

	/*
	 * The stream whose last window ends just behind this page (smallest gap,
	 * first slot on a tie), and in the same pass the least recently used slot
	 * (first smallest stamp), which a new stream replaces.  A gap of 1 cannot
	 * be beaten (gaps are >= 1 and must be strictly smaller), so the scan stops
	 * there: the usual case for a sequential stream costs one or two slots.
	 */
	for (i = 0; i < tb->slots; i++) {
		cp_u64 stamp = st->slot[i].stamp;

		if (stamp < lru_stamp) {
			lru = i;
			lru_stamp = stamp;
		}
		if (!stamp || st->slot[i].end < start)
			continue;
		gap = page - st->slot[i].end;
		if (gap >= 1 && gap < best_gap) {
			best = i;
			best_gap = gap;
			if (gap == 1)
				break;
		}
	}
	if (best < COWRL_POLICY_MAX_SLOTS) {
		s = best;
		run = st->slot[s].run + 1;
		if (run > COWRL_POLICY_RUN_CAP)
			run = COWRL_POLICY_RUN_CAP;
		gap_b = best_gap == 1 ? 1 : 2;
		slot_k = st->slot[s].k;
	} else {
		s = lru;	/* only reached after a full scan: lru is the whole table's */
	}
	st->match_rate += cowrl_policy_asr3((best < COWRL_POLICY_MAX_SLOTS ?
					     COWRL_POLICY_MATCH_ONE : 0) - st->match_rate);
	rate_b = (cp_u32)(st->match_rate >> 6);	/* match_rate is in 0..256 */
	if (rate_b > COWRL_POLICY_RATE_BUCKETS - 1)
		rate_b = COWRL_POLICY_RATE_BUCKETS - 1;
	cell = (gap_b * COWRL_POLICY_RUN_BUCKETS + cowrl_policy_run_bucket(run)) *
	       COWRL_POLICY_RATE_BUCKETS + rate_b;

	if (tb->decide == COWRL_DECIDE_READAHEAD) {
		if (gap_b == 1) {
			k = slot_k ? 2 * slot_k : 1;
			if (k > tb->max_k)
				k = tb->max_k;
		} else {
			k = 0;
		}
	} else {
		k = tb->k[cell];
	}

	end = page + (cp_s64)k;
	if (end > limit - 1)
		end = limit - 1;
	if (end < page)
		end = page;
	st->n_faults++;
	st->slot[s].end = end;
	st->slot[s].run = run;
	st->slot[s].k = k;
	st->slot[s].stamp = st->n_faults;
	st->prev_page = page;
	st->prev_k = k;
	st->last_cell = cell;
	return k;
}

#endif /* _COWRL_POLICY_H */
