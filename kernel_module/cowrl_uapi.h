/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * cowrl_uapi.h - ioctl ABI of the cowrl COW-fault module (/dev/cowrl).
 *
 * This header is the single source of truth for the ABI: the module, the C
 * replay harness and Python (cowrl/kernel/abi.py parses the #defines and the
 * _IO* lines below) all read it.  Bump COWRL_ABI_VERSION on any change.
 *
 * Keep every #define on one line and every struct free of implicit padding:
 * the Python parser relies on both.
 */
#ifndef _UAPI_COWRL_H
#define _UAPI_COWRL_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define COWRL_ABI_VERSION 20
#define COWRL_DEVICE_NAME "cowrl"
#define COWRL_IOC_MAGIC 0xC7

/* struct cowrl_record.flags */
#define COWRL_REC_DEMAND 1
#define COWRL_REC_PRECOPY 2
#define COWRL_REC_MANUAL 4
#define COWRL_REC_USER 8
/* v3: an in-scope copy from a kernel-mode fault (GUP, copy_to_user): never precopies */
#define COWRL_REC_KERNEL 16

/* struct cowrl_target.flags */
#define COWRL_TARGET_CHILDREN 1

/* struct cowrl_policy.mode */
#define COWRL_POLICY_OFF 0
#define COWRL_POLICY_STATIC 1
#define COWRL_POLICY_TABLE 2
/* v4: the guarded policy; its payload is a struct cowrl_guarded_table (cowrl_guarded.h) */
#define COWRL_POLICY_GUARDED 3

#define COWRL_MAX_TARGETS 16
#define COWRL_MAX_K 512
/* sizeof(struct cowrl_policy_table) of cowrl_policy.h: the TABLE payload entry */
#define COWRL_POLICY_TABLE_BYTES 144
/* sizeof(struct cowrl_guarded_table) of cowrl_guarded.h: the GUARDED payload entry (v6: 752,
 * walk_empty_ns; a 744-byte payload of v5 is refused with -EINVAL, its size not the entry's;
 * v7: read_ns in the first pad, which a v6 module refuses with -EINVAL when set;
 * v8: proof_look at offset 748, a pad that a v7 module refuses with -EINVAL when set;
 * v9: proof_span at offset 750, the last pad, which a v8 module refuses when set;
 * v10: 760, floor_slow at offset 752 then 3 u16 of padding (0); a 752-byte payload of v9
 * is refused with -EINVAL, its size not the entry's;
 * v11: proof_skipmap at offset 754, the first pad after floor_slow, which a v10 module
 * refuses with -EINVAL when set;
 * v12: proof_duemap at offset 756, then the u8 prices walk_due_ns (758) and walk_scan_ns
 * (759), the last pad, which a v11 module refuses with -EINVAL when set;
 * v13: proof_span a u8 at 750 and proof_cutback a u8 at 751 (the high byte of v12's u16
 * proof_span, which a v12 module refuses with -EINVAL when set);
 * v14: the counters proof_reads and proof_foreign (struct cowrl_counters grows by 16 bytes);
 * v15: 768, stride_window (u16) at 760, a u16 pad (0) at 762, the u32 stride_ns at 764; a
 * 760-byte payload of v14 is refused with -EINVAL, its size not the entry's;
 * v16: 776, the u8s sibling_window (768), sibling_stake (769), sibling_gate (770), then 5 pad
 * bytes (0); a 768-byte payload of v15 is refused with -EINVAL, its size not the entry's.
 * With sibling_window SET_POLICY and REGISTER return -E2BIG while a target's range is longer
 * than 2^22 pages (its family bytes, one per page, are kvzalloc'd for it);
 * v17: the counters guard_asked .. guard_misses (struct cowrl_counters grows by 104 bytes;
 * the payload is unchanged);
 * v18: guard_refused_setup .. guard_spend_sib_ns (why a window was refused, the budget's flow)
 * after guard_gate_shut, and guard_budget_ns after guard_misses (struct cowrl_counters grows
 * by 72 bytes; guard_hits and guard_misses move 64 bytes on; the payload is unchanged);
 * v20: a GUARDED window that would copy nothing (its pages all private) is dropped: no work
 * queued (its fixed cost still paid from the budget: the decisions are as before), counted
 * by guard_empty after guard_spend_sib_ns (struct
 * cowrl_counters grows by 8 bytes; guard_hits .. guard_budget_ns move 8 bytes on; the
 * payload is unchanged; a table decides as before but for those windows) */
#define COWRL_GUARDED_TABLE_BYTES 776

/* One COW copy (one wp_page_copy call) seen by the module; read(2) returns these. */
struct cowrl_record {
	__s32 pid;		/* thread group id of the faulting task, in the registrant's pid namespace */
	__u32 flags;		/* COWRL_REC_* */
	__u64 addr;		/* faulting address, page aligned */
	__u64 start_ns;		/* ktime_get_ns() at wp_page_copy entry */
	__u64 latency_ns;	/* time inside wp_page_copy */
	__u64 work_ns;		/* demand only: synchronous precopy work after it */
	__u32 degree;		/* demand only: precopy degree k decided (TABLE) or set (STATIC) */
	__u32 precopied;	/* demand only: pages its precopy made private */
};

struct cowrl_version {
	__u32 abi_version;
	__u32 record_size;
	__u32 ring_records;	/* ring buffer capacity */
	__u32 max_targets;
};

/*
 * Watch COW faults in the address space of process @pid (in the caller's pid
 * namespace), and with CHILDREN of its descendants that have not exec'd, in
 * [start, start+len).  -ESRCH: no such process; -EINVAL: kernel thread, bad
 * range or flags, or CHILDREN on a namespace's init.
 */
struct cowrl_target {
	__s32 pid;		/* thread group id; 0 with UNREGISTER = all */
	__u32 flags;		/* COWRL_TARGET_* */
	__u64 start;
	__u64 len;
};

/*
 * Policy applied at each demand fault.  STATIC uses @k (<= COWRL_MAX_K).
 * TABLE ignores @k: @table_ptr points to @table_len == 1 entry of
 * @entry_size == COWRL_POLICY_TABLE_BYTES bytes, a struct cowrl_policy_table
 * (cowrl_policy.h) that the module copies and checks (-EINVAL if the lengths
 * or cowrl_policy_check() fail, -EFAULT if @table_ptr cannot be read).  Every
 * SET_POLICY resets the per-target decision state.
 */
struct cowrl_policy {
	__u32 mode;		/* COWRL_POLICY_* */
	__u32 k;
	__u32 table_len;
	__u32 entry_size;
	__u64 table_ptr;
};

struct cowrl_counters {
	__u64 demand_faults;	/* in-scope wp_page_copy calls from demand faults */
	__u64 precopy_copies;	/* in-scope wp_page_copy calls made by precopy */
	__u64 manual_copies;	/* in-scope wp_page_copy calls made by manual_cow */
	__u64 precopy_works;	/* precopy task_work callbacks run */
	__u64 precopy_tries;	/* fixup_user_fault calls made by precopy */
	__u64 precopy_skipped;	/* window pages walked over: not COW-shared (private, absent, huge) */
	__u64 work_failed;	/* precopy work that could not be queued or found its mm gone */
	__u64 records;		/* records written to the ring */
	__u64 dropped;		/* records lost because the ring was full */
	__u64 nmissed;		/* kretprobe nmissed */
	__u64 pending_work;	/* precopy work queued and not yet run */
	__u64 out_of_scope;	/* wp_page_copy calls of watched tasks outside the range */
	__u64 decisions;	/* TABLE: cowrl_policy_fault() calls (one per demand fault) */
	__u64 decide_ns;	/* TABLE, time_decisions=1: ktime ns in them, summed (one clock read) */
	__u64 decide_clock_ns;	/* TABLE: ns of an empty ktime interval taken just before each */
	/* v3 */
	__u64 kernel_copies;	/* in-scope copies from kernel-mode faults (COWRL_REC_KERNEL) */
	__u64 ignored;		/* in-scope calls that made no copy for a write: unshare, lost race, OOM */
	__u64 throttled;	/* precopy not queued: COWRL_MAX_PENDING works already pending */
	__u64 precopy_nocopy;	/* precopy faults that found the page no longer shared */
	__u64 max_pending;	/* high-water mark of pending_work */
	__u64 targets;		/* live targets (exited or exec'd ones are dropped first) */
	/* v5: interior proofs (GUARDED tables with proof = 1) */
	__u64 proof_clean;	/* precopied pages whose dirty bit was cleaned (a proof pending) */
	__u64 proof_lost;	/* precopied pages left dirty: not eligible, or another CPU may cache them */
	__u64 proof_credited;	/* cleaned pages found written (dirty, same pfn) by a later fault */
	/* v14 */
	__u64 proof_reads;	/* GUARDED proof looks' ring entries read (written() calls) */
	__u64 proof_foreign;	/* ... of them, entries recorded by another process's fault */
	/*
	 * v17: the GUARDED decision tallies, why windows were or were not granted: counted by
	 * cowrl_guarded.h in each target's decision state (COWRL_GUARDED_T_*, plain increments
	 * under the target's lock; the simulator's programs.guarded_tallies counts the same) and
	 * scoped as the counters above: summed over the targets since COWRL_IOC_RESET, a
	 * target's counts kept when it is dropped and when SET_POLICY resets the states.
	 * asked = floor + refused + windows + empty (v20).
	 */
	__u64 guard_asked;	/* decided faults whose table cell asked for a window (want > 0) */
	__u64 guard_floor;	/* ... held to k = 0 by the floor (use, or floor_slow's EWMA) */
	__u64 guard_refused;	/* ... past the floor, k = 0: the budget or protect's cap
				 * (refused_setup + refused_protect + refused_fit) */
	__u64 guard_windows;	/* windows granted (k > 0) */
	__u64 guard_short;	/* ... of them smaller than asked (k < want) */
	__u64 guard_pages;	/* ... their pages read shared: the copies the budget reserved */
	__u64 guard_strided;	/* ... of them strided (stride_window) */
	__u64 guard_sib_windows;	/* sibling windows that copy a page (sibling_window) */
	__u64 guard_sib_pages;	/* ... their pages (shared family pages) */
	__u64 guard_gate_open;	/* sibling_gate: sibling windows the gate let open */
	__u64 guard_gate_shut;	/* ... held shut (a ghost window marked its pages instead) */
	/*
	 * v18: why windows were refused, and the budget's flow in ns (cowrl_guarded.h,
	 * COWRL_GUARDED_T_REFUSED_SETUP ..): guard_budget_ns = add_allow + add_credit -
	 * spend_window - spend_walk - spend_sib, exactly (each state's budget from 0 at its reset).
	 */
	__u64 guard_refused_setup;	/* refused: the budget below setup_ns */
	__u64 guard_refused_protect;	/* ... protect's cap below every candidate degree */
	__u64 guard_refused_fit;	/* ... no candidate window's worst case fit the budget */
	__u64 guard_add_allow_ns;	/* the allowances added (per demand fault, hit_scale at hits) */
	__u64 guard_add_credit_ns;	/* the credits: a sentinel hit's (proof 0), a proof's */
	__u64 guard_spend_window_ns;	/* the windows' reserves and fixed costs */
	__u64 guard_spend_walk_ns;	/* the proof looks' walk prices (walk_*_ns) */
	__u64 guard_spend_sib_ns;	/* the sibling windows' stakes (sibling_stake 2: and the rest) */
	/* v20 */
	__u64 guard_empty;	/* windows dropped: granted, but every page read was private */
	__u64 guard_hits;	/* sentinels hit: a fault on one (its window used to its end) */
	__u64 guard_misses;	/* sentinels evicted unreached by a later window's */
	__u64 guard_budget_ns;	/* v18: the budgets left, summed: an s64 (two's complement) */
};

/*
 * The v17 and v18 counters in struct order, guard_<n> for each X(n): cowrl_guarded.h's
 * tallies in COWRL_GUARDED_T_* order, then the sentinels' hits and misses, then the budget
 * (cowrl_guarded_counts; the module fills them, the harness prints them, from this one list).
 */
#define COWRL_GUARD_COUNTERS(X) X(asked) X(floor) X(refused) X(windows) X(short) X(pages) \
	X(strided) X(sib_windows) X(sib_pages) X(gate_open) X(gate_shut) X(refused_setup) \
	X(refused_protect) X(refused_fit) X(add_allow_ns) X(add_credit_ns) X(spend_window_ns) \
	X(spend_walk_ns) X(spend_sib_ns) X(empty) X(hits) X(misses) X(budget_ns)

/*
 * Break COW for every page of [addr, addr+len) of the caller: @addr and @len
 * page aligned, the range below TASK_SIZE, @flags and @reserved 0.
 */
struct cowrl_manual_cow {
	__u64 addr;
	__u64 len;
	__u32 flags;
	__u32 reserved;
	__u64 pages;		/* out: pages visited */
};

#define COWRL_IOC_VERSION _IOR(COWRL_IOC_MAGIC, 0, struct cowrl_version)
#define COWRL_IOC_REGISTER _IOW(COWRL_IOC_MAGIC, 1, struct cowrl_target)
#define COWRL_IOC_UNREGISTER _IOW(COWRL_IOC_MAGIC, 2, struct cowrl_target)
#define COWRL_IOC_SET_POLICY _IOW(COWRL_IOC_MAGIC, 3, struct cowrl_policy)
#define COWRL_IOC_COUNTERS _IOR(COWRL_IOC_MAGIC, 4, struct cowrl_counters)
#define COWRL_IOC_RESET _IO(COWRL_IOC_MAGIC, 5)
#define COWRL_IOC_MANUAL_COW _IOWR(COWRL_IOC_MAGIC, 6, struct cowrl_manual_cow)

#endif /* _UAPI_COWRL_H */
