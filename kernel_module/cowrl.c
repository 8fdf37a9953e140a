// SPDX-License-Identifier: GPL-2.0
/*
 * cowrl - observe copy-on-write faults and precopy after them.
 *
 * A return probe (an fprobe where the kernel has one, else a kretprobe) on
 * wp_page_copy() (the COW copy path; do_wp_page() where it is inlined, as in
 * Debian 13's 6.12)
 * records the copies made in the address spaces user space registers, into a
 * ring buffer read from /dev/cowrl.  After a user-mode demand fault it can
 * precopy the next k pages of the same VMA: a task_work queued from the return
 * handler runs before the task returns to user space and write-faults the
 * window with fixup_user_fault().  Copies made by that work are tagged as
 * precopy and never trigger precopy.
 *
 * What it promises (docs/kernel.md says how each promise is tested):
 *  - Only root (CAP_SYS_ADMIN) changes state or reads records; the device
 *    node is 0600 and every operation but VERSION re-checks the capability.
 *  - A target is a struct pid, resolved in the caller's pid namespace, plus
 *    the mm it had when registered: a reused pid number never matches, an
 *    exec'd or exited target matches nothing and is dropped at the next
 *    ioctl.  CHILDREN covers descendants that have not exec'd since.
 *  - Scope follows the faulting mm (vmf->vma->vm_mm), never current alone.
 *  - Only user-mode write faults on private anonymous VMAs are demand faults
 *    and precopy; kernel-mode faults (GUP, copy_to_user) are recorded as
 *    KERNEL and never queue work; unshare faults and (6.1) lost pte_same
 *    races are not copies for the process and are only counted as ignored.
 *  - Precopy touches only pages that are present, anonymous, COW-shared
 *    (not AnonExclusive), small, not KSM and swap-backed, in a writable,
 *    private, anonymous VMA without userfaultfd, under mmap_read_lock: it
 *    never writes user data, never populates a missing page it saw, never
 *    dirties a file page.  At most one work per task is pending (a user fault
 *    returns to user space, which runs it) and COWRL_MAX_PENDING overall.
 *  - Each pending work pins the module; module exit waits for an RCU-tasks
 *    grace period so no task is still executing the tail of the work.
 *  - Interior proofs (GUARDED tables with proof = 1, x86-64 6.1 .. 6.12 only):
 *    the work cleans the dirty bit of the copies it made, and keeps a clean only
 *    when no other CPU can cache the page (cowrl_clean_pmd()); a write is never
 *    hidden from reclaim.  Later faults read the bit back (cowrl_guarded_written()).
 *
 * The degree k is static (COWRL_POLICY_STATIC) or decided at every demand
 * fault by a pushed decision table (COWRL_POLICY_TABLE): cowrl_policy_fault()
 * of cowrl_policy.h, under the target's own spinlock.  The ioctl ABI is in
 * cowrl_uapi.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/build_bug.h>
#include <linux/capability.h>
#include <linux/fprobe.h>
#include <linux/fs.h>
#include <linux/hashtable.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>
#include <linux/userfaultfd_k.h>
#include <linux/version.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#include "cowrl_uapi.h"
#include "cowrl_policy.h"

/*
 * The GUARDED decision's page reads (cowrl_guarded_commit_fam's shared()): the PTE test
 * cowrl_ptes_shared(), defined with struct cowrl_ptes below, inlined at each read rather
 * than called through the pointer (~15-20 guest instructions less per read under icount;
 * docs/results/decision-cost-s37.md).  The same pages are read in the same order.
 */
struct cowrl_ptes;
static __always_inline int cowrl_ptes_shared(struct cowrl_ptes *r, s64 q);
#define COWRL_GUARDED_SHARED(fn, ctx, q) cowrl_ptes_shared((struct cowrl_ptes *)(ctx), (q))
#include "cowrl_guarded.h"

/*
 * Interior proofs (GUARDED tables with proof = 1, docs/kernel.md "Interior proofs"):
 * after each precopy copy the work cleans the copy's dirty bit under the PTE lock,
 * and flushes this CPU's TLB entry for it when this CPU is the only one that can
 * cache the mm; a later demand fault in the region reads the bit back.  The clean
 * relies on x86's TLB bookkeeping (mm_cpumask, tlb_gen), which is not an API: it is
 * built only for x86-64 on 6.1 .. 6.12, the kernels it was checked and tested on.
 * Elsewhere SET_POLICY refuses proof = 1 (-EINVAL).
 */
#if defined(CONFIG_X86_64) && LINUX_VERSION_CODE >= KERNEL_VERSION(6, 1, 0) && \
	LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
#define COWRL_PROOF 1
#include <linux/mmu_notifier.h>
#include <asm/tlbflush.h>
/*
 * inc_mm_tlb_gen() of asm/tlbflush.h, which hides it from modules (#ifndef MODULE,
 * with the rest of the TLB internals): bump the mm's TLB generation, a full barrier
 * that orders the PTE write before the read of mm_cpumask (switch_mm_irqs_off() sets
 * its bit, then reads tlb_gen, and flushes a stale ASID when it moved).
 */
static __always_inline void cowrl_inc_tlb_gen(struct mm_struct *mm)
{
	atomic64_inc_return(&mm->context.tlb_gen);
}
#endif

static_assert(sizeof(struct cowrl_policy_table) == COWRL_POLICY_TABLE_BYTES);
static_assert(sizeof(struct cowrl_guarded_table) == COWRL_GUARDED_TABLE_BYTES);
static_assert(COWRL_GUARDED_BYTES == COWRL_GUARDED_TABLE_BYTES);
static_assert(COWRL_POLICY_MAX_K == COWRL_MAX_K);

static char *symbol = "auto";
module_param(symbol, charp, 0444);
MODULE_PARM_DESC(symbol, "probed function: auto (wp_page_copy, else do_wp_page), wp_page_copy or do_wp_page");

/*
 * 6.1 has wp_page_copy() out of line and says whether it installed the copy
 * (VM_FAULT_WRITE).  Debian 13's 6.12 inlines it into do_wp_page(), which also
 * reuses exclusive pages: there a copy is a PTE that maps another page after
 * the call than the fault saw (vmf->orig_pte) and is writable.
 */
static bool probe_do_wp_page;

/*
 * How the function is hooked.  Where the kernel has fprobe with this API
 * (6.5 .. 6.13), an fprobe: a plain ftrace_ops plus a rethook, with no kprobe
 * at the function's ftrace site.  A kretprobe there is a kprobe too, and
 * x86's int3 handler looks kprobes up by address: an int3 left by ftrace's
 * own patching of that site (text_poke_bp) that the patching code no longer
 * claims is then taken for the kretprobe's breakpoint, whose out-of-line
 * instruction slot an ftrace-based kprobe does not have (NULL), and the CPU
 * jumps to 0.  That crashed 6.12 guests under TCG while the module was
 * unloaded during COW faults (docs/kernel.md, promise 9).  Elsewhere (6.1,
 * whose Debian build has no fprobe) a kretprobe.
 */
#if IS_ENABLED(CONFIG_FPROBE) && LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0) && \
	LINUX_VERSION_CODE < KERNEL_VERSION(6, 14, 0)
#define COWRL_FPROBE 1
#define COWRL_PROBE_KIND "fprobe"
#else
#define COWRL_PROBE_KIND "kretprobe"
#endif

static unsigned int ring_records = 1U << 18;
module_param(ring_records, uint, 0444);
MODULE_PARM_DESC(ring_records, "ring buffer capacity in records (1024 .. 4194304)");

static bool time_decisions;
module_param(time_decisions, bool, 0644);
MODULE_PARM_DESC(time_decisions, "time every TABLE decision with ktime (decide_ns counters)");

/*
 * The probe reads the clock at entry and at return for a record's latency_ns.
 * latency=0 reads it once, at return (start_ns only, latency_ns 0): about
 * one clock read less per observed copy, for runs that take per-write latency
 * from user space.
 */
static bool latency = true;
module_param(latency, bool, 0644);
MODULE_PARM_DESC(latency, "time each copy inside the probed function (latency_ns); 0: start_ns only");

#define COWRL_RING_MIN 1024U
#define COWRL_RING_MAX (1U << 22)
#define COWRL_READ_CHUNK 64
#define COWRL_MAX_PENDING 4096	/* precopy works queued machine-wide */
#define COWRL_MAX_DEPTH 64	/* ancestors walked for CHILDREN targets */
/*
 * sibling_window: the family bytes of a target cover its range, one per page: at most
 * 2^22 pages (a 16 GiB range, 4 MiB of bytes).  A GUARDED table with sibling_window is
 * refused (-E2BIG) while a target's range is longer, and such a target's REGISTER while
 * such a table is set.
 */
#define COWRL_FAMILY_MAX_PAGES (1ULL << 22)

/* A registered address space.  Freed after an RCU grace period. */
struct cowrl_tgt {
	u64 id;			/* unique per registration: probe data re-finds it by slot + id */
	struct pid *pid;	/* the thread group's struct pid (reference held) */
	struct mm_struct *mm;	/* its mm at registration (mmgrab: compared, never used) */
	struct pid_namespace *ns;	/* the registrant's namespace: record pids are in it */
	u64 exec_id;		/* its self_exec_id: CHILDREN match descendants that kept it */
	u32 flags;
	u64 start, len;
	spinlock_t lock;	/* the decision state */
	struct cowrl_policy_state state;
	struct cowrl_guarded_state *gstate;	/* GUARDED's state, allocated at register */
	/*
	 * Interior proofs, under @lock: the copy that the precopy work cleaned for ring
	 * entry i of gstate (page proof_pg[i] of the range, at proof_pfn[i]); pfn 0 = none.
	 */
	s64 proof_pg[COWRL_GUARDED_PROOFS];
	unsigned long proof_pfn[COWRL_GUARDED_PROOFS];
	/* the tgid whose fault recorded ring entry i (what proof_foreign compares) */
	s32 proof_tgid[COWRL_GUARDED_PROOFS];
	/*
	 * sibling_window (GUARDED tables with sibling_window > 0): one family byte per page of
	 * the range (bit 0: a demand fault of a process of the target wrote it; bits 1..7: a
	 * sibling_gate ghost mark), read and written under @lock by the decisions.  kvzalloc'd
	 * under cowrl_mutex when such a table meets the target (REGISTER, SET_POLICY), never in
	 * the fault path; NULL until then; freed with the target.  @fam_pages: its length.
	 */
	u8 *family;
	u64 fam_pages;
};

/* Tasks inside precopy work or manual_cow (entries live on their stacks). */
struct cowrl_active {
	struct hlist_node node;
	struct task_struct *task;
	u32 kind;
	u32 copies;
};

/* The ring entries a GUARDED decision with proof = 1 recorded for its window. */
struct cowrl_proof_ref {
	u32 on, first, count;
	u32 proc;	/* the deciding process's ordinal: its entries' proof_page tag */
};

struct cowrl_work {
	struct callback_head cb;
	struct cowrl_record rec;
	struct mm_struct *mm;	/* compared with current->mm when the work runs */
	unsigned long limit;	/* end of the registered range */
	struct cowrl_proof_ref proof;	/* on: clean each copy, for these entries of slot/tid */
	u32 walk;	/* pages after addr the walk may visit (GUARDED: the decision's last
			 * shared page, cowrl_guarded_obs.last; else U32_MAX: all k) */
	u32 stride;	/* GUARDED stride_window: the window's pages are addr + j * stride
			 * pages, j = 1..k (cowrl_guarded_obs.stride); 0: adjacent */
	u64 sibmask;	/* GUARDED sibling_window: bit j - 1 = page addr + j pages is a family
			 * page of the sibling window (cowrl_guarded_obs.sibmask), walked after
			 * the adjacent window (stride is 0 then) */
	int slot;
	u64 tid, tstart;
};

struct cowrl_probe_data {
	u64 start_ns;
	struct vm_fault *vmf;
	unsigned long old_pfn;
	u64 tid;
	unsigned long addr, tstart, tlen;
	s32 pid;
	u32 kind;
	int slot;
};

enum cowrl_counter {
	CNT_DEMAND, CNT_PRECOPY, CNT_MANUAL, CNT_WORKS, CNT_TRIES, CNT_SKIPPED,
	CNT_WORK_FAILED, CNT_RECORDS, CNT_DROPPED, CNT_OUT_OF_SCOPE, CNT_DECISIONS,
	CNT_DECIDE_NS, CNT_DECIDE_CLOCK_NS, CNT_KERNEL, CNT_IGNORED, CNT_THROTTLED,
	CNT_NOCOPY, CNT_MAX_PENDING, CNT_PROOF_CLEAN, CNT_PROOF_LOST, CNT_PROOF_CREDITED,
	CNT_PROOF_READS, CNT_PROOF_FOREIGN,
	CNT_MAX,
};

static DEFINE_MUTEX(cowrl_mutex);	/* writers of targets, policy, table */
static struct cowrl_tgt __rcu *cowrl_tgts[COWRL_MAX_TARGETS];
static int cowrl_ntargets;		/* non-NULL slots */
static int cowrl_slots_used;		/* 1 + the highest non-NULL slot; 0 = the probe returns at once */
static u64 cowrl_next_id = 1;
static struct cowrl_policy cowrl_policy;
static struct cowrl_policy_table __rcu *cowrl_table;
static struct cowrl_guarded_table __rcu *cowrl_gtable;

static DEFINE_SPINLOCK(active_lock);
static DEFINE_HASHTABLE(cowrl_active_ht, 6);

static DEFINE_SPINLOCK(ring_lock);
static DECLARE_WAIT_QUEUE_HEAD(ring_wait);
static struct cowrl_record *ring;
static u32 ring_head;	/* next slot to read */
static u32 ring_count;

static atomic64_t cowrl_cnt[CNT_MAX];
static atomic64_t cowrl_pending;
/*
 * The GUARDED decision tallies (ABI 17, 18) of the decision states no longer counting: those
 * of dropped targets and those SET_POLICY reset (each state's tally[], then its sentinel hits
 * and misses, then its budget: cowrl_guarded_counts).  The live states count under their
 * targets' locks; COUNTERS adds them to these.
 */
static atomic64_t cowrl_gtally_gone[COWRL_GUARDED_COUNTS];

/*
 * The fault-path helpers below are inlined into their callers (all NOKPROBE):
 * each call and return through the return thunk costs more than their bodies.
 */
static __always_inline void cnt_inc(enum cowrl_counter c)
{
	atomic64_inc(&cowrl_cnt[c]);
}

static __always_inline void cowrl_emit(const struct cowrl_record *rec)
{
	unsigned long flags;
	bool stored = false;

	spin_lock_irqsave(&ring_lock, flags);
	if (ring_count < ring_records) {
		ring[(ring_head + ring_count) % ring_records] = *rec;
		ring_count++;
		stored = true;
	}
	spin_unlock_irqrestore(&ring_lock, flags);
	cnt_inc(stored ? CNT_RECORDS : CNT_DROPPED);
	if (stored && wq_has_sleeper(&ring_wait))
		wake_up_interruptible(&ring_wait);
}

/* Is @t a descendant of @tg's process that has not exec'd since it registered? */
static __always_inline bool cowrl_descends(struct task_struct *t, const struct cowrl_tgt *tg)
{
	int depth;

	if (READ_ONCE(t->self_exec_id) != tg->exec_id)
		return false;
	for (depth = 0; depth < COWRL_MAX_DEPTH; depth++) {
		struct task_struct *p = rcu_dereference(t->real_parent);

		if (p == t)
			return false;
		t = p;
		if (task_tgid(t) == tg->pid)
			return true;
		if (t->pid <= 1)
			return false;
	}
	return false;
}

/*
 * The target whose address space @mm is and whose range holds @addr: 1 with
 * d filled in, -1 if @mm is watched but @addr is out of range, 0 if not
 * watched.  Under rcu_read_lock.
 */
static __always_inline int cowrl_match(struct mm_struct *mm, unsigned long addr,
				       struct cowrl_probe_data *d, int used)
{
	int i, scope = 0;

	for (i = 0; i < used; i++) {
		struct cowrl_tgt *tg = rcu_dereference(cowrl_tgts[i]);

		if (!tg)
			continue;
		if (tg->mm != mm && !((tg->flags & COWRL_TARGET_CHILDREN) &&
				      cowrl_descends(current, tg)))
			continue;
		if (addr >= tg->start && addr - tg->start < tg->len) {
			d->slot = i;
			d->tid = tg->id;
			d->tstart = tg->start;
			d->tlen = tg->len;
			d->pid = pid_nr_ns(task_tgid(current), tg->ns);
			return 1;
		}
		scope = -1;
	}
	return scope;
}

static struct cowrl_active *cowrl_active_find(struct task_struct *tsk)
{
	struct cowrl_active *a;

	hash_for_each_possible(cowrl_active_ht, a, node, (unsigned long)tsk)
		if (a->task == tsk)
			return a;
	return NULL;
}
NOKPROBE_SYMBOL(cowrl_active_find);

static void cowrl_active_enter(struct cowrl_active *a, u32 kind)
{
	unsigned long flags;

	a->task = current;
	a->kind = kind;
	a->copies = 0;
	spin_lock_irqsave(&active_lock, flags);
	hash_add(cowrl_active_ht, &a->node, (unsigned long)current);
	spin_unlock_irqrestore(&active_lock, flags);
}

static void cowrl_active_leave(struct cowrl_active *a)
{
	unsigned long flags;

	spin_lock_irqsave(&active_lock, flags);
	hash_del(&a->node);
	spin_unlock_irqrestore(&active_lock, flags);
}

/* The kind of an in-scope copy that is not a user fault, and count it for its work. */
static u32 cowrl_active_kind(void)
{
	struct cowrl_active *a;
	unsigned long flags;
	u32 kind = COWRL_REC_KERNEL;

	spin_lock_irqsave(&active_lock, flags);
	a = cowrl_active_find(current);
	if (a)
		kind = a->kind;
	spin_unlock_irqrestore(&active_lock, flags);
	return kind;
}
NOKPROBE_SYMBOL(cowrl_active_kind);

static void cowrl_active_count(void)
{
	struct cowrl_active *a;
	unsigned long flags;

	spin_lock_irqsave(&active_lock, flags);
	a = cowrl_active_find(current);
	if (a)
		a->copies++;
	spin_unlock_irqrestore(&active_lock, flags);
}
NOKPROBE_SYMBOL(cowrl_active_count);

/* Function entry: 0 to be called at its return with @d, 1 if not this module's business. */
static __always_inline int cowrl_entry(struct cowrl_probe_data *d, struct pt_regs *regs)
{
	struct vm_fault *vmf = (struct vm_fault *)regs_get_kernel_argument(regs, 0);
	struct vm_area_struct *vma;
	int scope, used = READ_ONCE(cowrl_slots_used);

	if (likely(!used))
		return 1;
	vma = vmf->vma;
	/* Another process's memory (ptrace, process_vm_writev): never this task's business. */
	if (vma->vm_mm != current->mm || !vma_is_anonymous(vma))
		return 1;

	rcu_read_lock();
	scope = cowrl_match(vma->vm_mm, vmf->address, d, min(used, COWRL_MAX_TARGETS));
	rcu_read_unlock();
	if (scope < 0)
		cnt_inc(CNT_OUT_OF_SCOPE);
	if (scope <= 0)
		return 1;	/* no return probe */
	if (vmf->flags & FAULT_FLAG_UNSHARE) {
		cnt_inc(CNT_IGNORED);	/* a GUP pin breaking COW without a write */
		return 1;
	}
	d->kind = (vmf->flags & FAULT_FLAG_USER) ? COWRL_REC_DEMAND | COWRL_REC_USER :
						    cowrl_active_kind();
	d->addr = vmf->address & PAGE_MASK;
	d->vmf = vmf;
	d->old_pfn = pte_pfn(vmf->orig_pte);
	d->start_ns = READ_ONCE(latency) ? ktime_get_ns() : 0;
	return 0;
}

/*
 * do_wp_page() mode: did the call install a copy?  The fault still holds the
 * VMA (or mmap) lock, so the page table under vmf->pmd cannot be freed; the
 * PTE is read once, without its lock, and only compared.
 */
static __always_inline bool cowrl_copied(const struct cowrl_probe_data *d)
{
	pmd_t pmd = READ_ONCE(*d->vmf->pmd);
	pte_t pte;

	if (!pmd_present(pmd) || pmd_leaf(pmd))
		return false;
	pte = READ_ONCE(*pte_offset_kernel(&pmd, d->addr));
	return pte_present(pte) && pte_write(pte) && pte_pfn(pte) != d->old_pfn;
}

static void cowrl_precopy_fn(struct callback_head *cb);

/* Queue precopy after a user fault; false if it cannot run (counted by the caller). */
static bool cowrl_queue_precopy(struct cowrl_work *w)
{
	init_task_work(&w->cb, cowrl_precopy_fn);
	if (!try_module_get(THIS_MODULE))
		return false;
	if (task_work_add(current, &w->cb, TWA_RESUME)) {
		module_put(THIS_MODULE);
		return false;
	}
	return true;
}
NOKPROBE_SYMBOL(cowrl_queue_precopy);

/*
 * The demand fault of @d in pages of its watched range: @page, and its region
 * [@start, @limit), the faulting VMA within the range (the fault holds the VMA, so
 * vmf->vma is stable).  False if the address lies outside that (it cannot for a
 * demand fault of the range).  TABLE and GUARDED decisions both see regions so.
 */
static __always_inline bool cowrl_fault_region(const struct cowrl_probe_data *d, s64 *page,
					       s64 *start, s64 *limit)
{
	const struct vm_area_struct *vma = d->vmf->vma;
	unsigned long lo = max(vma->vm_start, (unsigned long)d->tstart);
	unsigned long hi = min(vma->vm_end, (unsigned long)(d->tstart + d->tlen));

	if (lo > d->addr || hi <= d->addr)
		return false;
	*page = (s64)((d->addr - d->tstart) >> PAGE_SHIFT);
	*start = (s64)((lo - d->tstart) >> PAGE_SHIFT);
	*limit = (s64)((hi - d->tstart) >> PAGE_SHIFT);
	return true;
}

/*
 * TABLE mode: the degree for the demand fault of @d from its target's state,
 * under the target's lock.  0 if the target went away meanwhile.
 */
static u32 cowrl_decide(const struct cowrl_probe_data *d)
{
	const struct cowrl_policy_table *tb;
	struct cowrl_tgt *tg;
	unsigned long flags;
	u64 t0, t1, t2;
	s64 page, start, limit;
	u32 k = 0;

	if (!cowrl_fault_region(d, &page, &start, &limit))
		return 0;
	rcu_read_lock();
	tg = rcu_dereference(cowrl_tgts[d->slot]);
	tb = rcu_dereference(cowrl_table);
	if (tg && tb && tg->id == d->tid) {
		spin_lock_irqsave(&tg->lock, flags);
		if (unlikely(READ_ONCE(time_decisions))) {
			/* t1 - t0 is the clock's own cost: decide_ns - decide_clock_ns = net. */
			t0 = ktime_get_ns();
			t1 = ktime_get_ns();
			k = cowrl_policy_fault(&tg->state, tb, page, start, limit);
			t2 = ktime_get_ns();
			atomic64_add(t2 - t1, &cowrl_cnt[CNT_DECIDE_NS]);
			atomic64_add(t1 - t0, &cowrl_cnt[CNT_DECIDE_CLOCK_NS]);
		} else {
			k = cowrl_policy_fault(&tg->state, tb, page, start, limit);
		}
		spin_unlock_irqrestore(&tg->lock, flags);
		cnt_inc(CNT_DECISIONS);
	}
	rcu_read_unlock();
	return k;
}
NOKPROBE_SYMBOL(cowrl_decide);

static bool cowrl_vma_ok(struct vm_area_struct *vma);

/*
 * GUARDED decisions read the state of up to 3 + 64 + 1 + scan (<= 64, 8 by default)
 * pages around the fault.
 * The fault's own PMD entry (vmf->pmd) gives the PTE page of its 2 MiB range;
 * a page in another range costs one lockless page-table walk (at most two per
 * decision: neighbours below a PMD boundary, window or sentinel above one).
 *
 * Why a lockless walk is sound here: the reads run in the probe's return
 * handler of the COW fault, which still holds mmap_lock or (6.4+) the per-VMA
 * read lock of the faulting VMA, and they only touch addresses inside that VMA.
 * Under either lock no PTE page of an anonymous VMA is freed or replaced:
 * munmap/mremap and THP collapse take the mmap write lock and, from 6.4, the
 * VMA write lock, which waits for VMA readers; 6.12's lockless PTE-table
 * retraction (retract_page_tables) is for file mappings only.  Each entry is
 * read once (READ_ONCE / ptep_get), as gup-fast does, into a local copy that
 * is only tested, never dereferenced; a PMD that is none, huge, a migration
 * entry or bad gives no PTE page (the same cases in which 6.12's
 * pte_offset_map() fails; it and pte_offset_map_nolock() are not exported to
 * modules, so the walk is written out), and rcu_read_lock() is held across the
 * reads as pte_offset_map() holds it.  A stale value only changes the degree:
 * the precopy work re-checks every page with cowrl_page_shared() before it
 * copies it, under mmap_read_lock.
 */
struct cowrl_ptes {
	struct mm_struct *mm;
	pmd_t *fault_pmd;	/* the fault's own PMD entry (vmf->pmd): no walk for its range */
	unsigned long fault_addr;
	unsigned long base;	/* PMD-aligned address of @ptes; 1 = nothing walked yet */
	pte_t *ptes;		/* the PTE page of [base, base + PMD_SIZE), NULL if none */
	unsigned long tstart;	/* the target's start: page q is tstart + q pages */
	bool vma_ok;		/* the faulting VMA is one precopy may work on */
};

/* The PTE page under the PMD entry @pmdp (read once), or NULL. */
static pte_t *cowrl_pmd_ptes(pmd_t *pmdp, unsigned long addr)
{
	pmd_t pmd = READ_ONCE(*pmdp);	/* pmdp_get_lockless() on 64-bit; 6.1 lacks the name */

	if (pmd_none(pmd) || !pmd_present(pmd) || pmd_leaf(pmd) || pmd_devmap(pmd) ||
	    pmd_bad(pmd))
		return NULL;	/* no PTE page: everything in it counts as neither state */
	return pte_offset_kernel(&pmd, addr);	/* from the local copy, as gup-fast does */
}
NOKPROBE_SYMBOL(cowrl_pmd_ptes);

static pte_t *cowrl_pte_page(struct mm_struct *mm, unsigned long addr)
{
	pgd_t *pgdp = pgd_offset(mm, addr), pgd = READ_ONCE(*pgdp);
	p4d_t *p4dp, p4d;
	pud_t *pudp, pud;

	if (pgd_none(pgd) || pgd_bad(pgd))
		return NULL;
	p4dp = p4d_offset_lockless(pgdp, pgd, addr);
	p4d = READ_ONCE(*p4dp);
	if (p4d_none(p4d) || p4d_bad(p4d))
		return NULL;
	pudp = pud_offset_lockless(p4dp, p4d, addr);
	pud = READ_ONCE(*pudp);
	if (pud_none(pud) || !pud_present(pud) || pud_leaf(pud) || pud_bad(pud))
		return NULL;
	return cowrl_pmd_ptes(pmd_offset_lockless(pudp, pud, addr), addr);
}
NOKPROBE_SYMBOL(cowrl_pte_page);

/*
 * The PTE of page @q of the target (a local copy), or none. Under rcu_read_lock.
 * This and the two tests below are inlined into their (NOKPROBE) callers.
 */
static __always_inline pte_t cowrl_pte(struct cowrl_ptes *r, s64 q)
{
	unsigned long addr = r->tstart + ((unsigned long)q << PAGE_SHIFT);

	if (!r->vma_ok)
		return __pte(0);
	if ((addr & PMD_MASK) != r->base) {
		r->base = addr & PMD_MASK;
		r->ptes = r->base == (r->fault_addr & PMD_MASK) ?
			  cowrl_pmd_ptes(r->fault_pmd, r->base) : cowrl_pte_page(r->mm, r->base);
	}
	return r->ptes ? ptep_get(r->ptes + pte_index(addr)) : __pte(0);
}

/*
 * Private (exclusive to this process): present and writable.  In a private
 * anonymous VMA (vma_ok) a writable PTE maps an anonymous page marked
 * AnonExclusive (an invariant since 5.19: COW sharing, fork and GUP pins all
 * write-protect first).  An exclusive page mapped read-only (after mprotect, or
 * write-protected for soft-dirty) reads as not private: the simulator never
 * has such pages.
 */
static __always_inline bool cowrl_pte_private(pte_t pte)
{
	return pte_present(pte) && !pte_protnone(pte) && pte_write(pte);
}

/*
 * COW-shared, as far as the PTE tells: present, read-only, not the zero page
 * (mapped special).  KSM, large-folio and lazily freed pages also read as
 * shared here; the precopy work skips them (cowrl_page_shared(), which looks
 * at the folio under a reference), so a decision may reserve budget for a page
 * that is then not copied, never the reverse.
 */
static __always_inline bool cowrl_pte_shared(pte_t pte)
{
	return pte_present(pte) && !pte_protnone(pte) && !pte_write(pte) && !pte_special(pte) &&
	       !is_zero_pfn(pte_pfn(pte));
}

/* cowrl_guarded_prove()'s reader: the target and the page-table reader of the fault. */
struct cowrl_proof_ctx {
	struct cowrl_ptes *r;
	struct cowrl_tgt *tg;
	s32 tgid;	/* the faulting process */
};

/*
 * cowrl_guarded_prove()'s page reader, under the target's lock: 1 iff the precopy
 * work cleaned page @page's copy for ring entry @idx and the page's PTE is now
 * present, writable and dirty and maps that same page frame (written since the
 * clean); the pfn is then forgotten.  The caller passes pages of the faulting
 * region only, so the lockless cowrl_pte() is sound (struct cowrl_ptes).  A stale
 * read can only withhold a credit or give one for a write that did happen.
 */
static int cowrl_guarded_written(void *ctx, cp_u32 idx, cp_s64 page)
{
	struct cowrl_proof_ctx *c = ctx;
	struct cowrl_tgt *tg = c->tg;
	unsigned long pfn;
	pte_t pte;

	if (idx >= COWRL_GUARDED_PROOFS)
		return 0;
	cnt_inc(CNT_PROOF_READS);
	if (tg->proof_tgid[idx] != c->tgid)
		cnt_inc(CNT_PROOF_FOREIGN);	/* another process's copy: its PTE cannot prove it */
	pfn = tg->proof_pfn[idx];
	if (!pfn || tg->proof_pg[idx] != page)
		return 0;
	pte = cowrl_pte(c->r, page);
	if (!cowrl_pte_private(pte) || !pte_dirty(pte) || pte_pfn(pte) != pfn)
		return 0;
	tg->proof_pfn[idx] = 0;
	cnt_inc(CNT_PROOF_CREDITED);
	return 1;
}
NOKPROBE_SYMBOL(cowrl_guarded_written);

/*
 * cowrl_guarded_proc() out of line: the table lookup stays out of cowrl_decide_guarded(),
 * into which cowrl_guarded_prove() is inlined, so the proof walk's code is not laid out anew
 * around it (the walk's steps are priced per instruction under icount).
 */
static noinline u32 cowrl_proc_ordinal(struct cowrl_guarded_state *st, s32 tgid)
{
	return cowrl_guarded_proc(st, tgid);
}
NOKPROBE_SYMBOL(cowrl_proc_ordinal);

/* cowrl_guarded_commit()'s page reader: is page @q of the target COW-shared? */
static __always_inline int cowrl_ptes_shared(struct cowrl_ptes *r, s64 q)
{
	return cowrl_pte_shared(cowrl_pte(r, q));
}

/* ... as the pointer commit takes (its reads use COWRL_GUARDED_SHARED, the inlined test) */
static int cowrl_guarded_shared(void *ctx, s64 q)
{
	return cowrl_ptes_shared(ctx, q);
}
NOKPROBE_SYMBOL(cowrl_guarded_shared);

/*
 * GUARDED mode: the degree for the demand fault of @d (cowrl_guarded.h).  The
 * faulting page's region is its VMA within the registered range (the fault
 * holds the VMA, so vmf->vma is stable).  Reads at most 3 + 64 + 1 + scan PTEs of
 * current's mm (the faulting task: user demand faults only) from the fault's
 * PTE page and at most two more (struct cowrl_ptes); the window's PTEs are read under the target's
 * lock because how many depends on the state.  A strided window (stride_window) reads
 * page - s, - 2s, - 3s and its pages s apart, each maybe under another PMD: one lockless
 * walk per PTE page, as for any page outside the fault's.  With time_decisions the whole
 * decision is timed, walks included.  0 if the target went away meanwhile.
 * @walk: how far the precopy walk goes (cowrl_precopy_window), set when k > 0.
 */
static u32 cowrl_decide_guarded(const struct cowrl_probe_data *d, struct cowrl_proof_ref *pr,
				u32 *walk, u32 *stride, u64 *sibmask)
{
	const struct cowrl_guarded_table *tb;
	struct vm_area_struct *vma = d->vmf->vma;
	struct cowrl_ptes r = { .mm = vma->vm_mm, .fault_pmd = d->vmf->pmd, .fault_addr = d->addr,
				.base = 1, .tstart = d->tstart };
	struct cowrl_guarded_obs o;
	struct cowrl_proof_ctx pc = { .r = &r, .tgid = d->pid };
	struct cowrl_tgt *tg;
	unsigned long flags;
	s64 page, start, limit, j, sw;
	u64 vma_start_vpn;
	u32 i, proc;
	u32 k = 0, left = 0, left_s = 0;
	u8 *fam;
	bool timed = unlikely(READ_ONCE(time_decisions));
	u64 t0 = 0, t1 = 0;

	if (timed) {
		/* t1 - t0 is the clock's own cost: decide_ns - decide_clock_ns = net. */
		t0 = ktime_get_ns();
		t1 = ktime_get_ns();
	}
	if (!cowrl_fault_region(d, &page, &start, &limit))
		return 0;
	/* the region's first virtual page (its ring bucket, proof_look), as observe computes it */
	vma_start_vpn = (cp_u64)(d->addr >> PAGE_SHIFT) - (cp_u64)(page - start);
	/* vm_flags cannot change under the fault's lock (mprotect needs it for writing). */
	r.vma_ok = cowrl_vma_ok(vma);

	rcu_read_lock();
	for (j = max(page - 3, start); j < page; j++)
		left += cowrl_pte_private(cowrl_pte(&r, j));
	tg = rcu_dereference(cowrl_tgts[d->slot]);
	tb = rcu_dereference(cowrl_gtable);
	if (tg && tb && tg->id == d->tid && tg->gstate) {
		spin_lock_irqsave(&tg->lock, flags);
		/* the faulting process's ordinal in the target (its regions' ring buckets) */
		proc = cowrl_proc_ordinal(tg->gstate, d->pid);
		if (tb->proof) {
			pc.tg = tg;
			cowrl_guarded_prove(tg->gstate, tb, start, limit,
					    cowrl_guarded_bucket(vma_start_vpn, limit - start, proc),
					    proc, cowrl_guarded_written, &pc);	/* its own entries */
		}
		/* stride_window: page - s, - 2s, - 3s private (in the region) count as use */
		sw = cowrl_guarded_stride(tg->gstate, tb, page, start, limit);
		for (j = 1; sw > 0 && j <= 3 && page - j * sw >= start; j++)
			left_s += cowrl_pte_private(cowrl_pte(&r, page - j * sw));
		/* align values read the page's virtual page number (what allocators align to) */
		cowrl_guarded_observe(tg->gstate, tb, &o, page, start, limit, left,
				      (cp_u64)(d->addr >> PAGE_SHIFT), proc, left_s);
		/* sibling_window: the family bytes (the region lies in the range they cover) */
		fam = tb->sibling_window && tg->family && limit <= (s64)tg->fam_pages ?
		      tg->family : NULL;
		k = cowrl_guarded_commit_fam(tg->gstate, tb, &o, page, start, limit,
					     cowrl_guarded_shared, &r, fam);
		*walk = o.last;	/* the window's pages after it were private when read */
		*stride = o.stride;	/* (as page + o.last * o.stride when strided) */
		*sibmask = o.sibmask;	/* (0 unless fam) */
		if (tb->proof && (k || o.sibmask)) {
			/* the ring entries this window recorded: no earlier copy's pfn stays */
			for (i = 0; i < o.proof_count && i < COWRL_GUARDED_PROOFS; i++) {
				tg->proof_pfn[(o.proof_first + i) % COWRL_GUARDED_PROOFS] = 0;
				tg->proof_tgid[(o.proof_first + i) % COWRL_GUARDED_PROOFS] = d->pid;
			}
			pr->on = 1;
			pr->proc = o.proc;
			pr->first = o.proof_first;
			pr->count = min_t(u32, o.proof_count, COWRL_GUARDED_PROOFS);
		}
		spin_unlock_irqrestore(&tg->lock, flags);
		cnt_inc(CNT_DECISIONS);
		if (timed) {
			atomic64_add(ktime_get_ns() - t1, &cowrl_cnt[CNT_DECIDE_NS]);
			atomic64_add(t1 - t0, &cowrl_cnt[CNT_DECIDE_CLOCK_NS]);
		}
	}
	rcu_read_unlock();
	return k;
}
NOKPROBE_SYMBOL(cowrl_decide_guarded);

/* Function return (inlined, as cowrl_entry(), into the probe's NOKPROBE handlers). */
static __always_inline void cowrl_return(struct cowrl_probe_data *d, struct pt_regs *regs)
{
	vm_fault_t ret = (vm_fault_t)regs_return_value(regs);
	u64 now = ktime_get_ns();
	struct cowrl_record rec = {
		.pid = d->pid,
		.flags = d->kind,
		.addr = d->addr,
		.start_ns = d->start_ns ?: now,
		.latency_ns = d->start_ns ? now - d->start_ns : 0,
	};
	struct cowrl_proof_ref pr = { 0 };
	struct cowrl_work *w;
	u32 mode, k, walk = U32_MAX, stride = 0;
	u64 sibmask = 0;
	s64 pending;

	if (ret & VM_FAULT_ERROR) {
		cnt_inc(CNT_IGNORED);	/* no copy made (OOM): nothing to record */
		return;
	}
	if (probe_do_wp_page) {
		if (!cowrl_copied(d)) {
			cnt_inc(CNT_IGNORED);	/* reused, or lost the race */
			return;
		}
	}
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
	/* 6.1 says whether the copy was installed; without it another fault won the race. */
	else if (!(ret & VM_FAULT_WRITE)) {
		cnt_inc(CNT_IGNORED);
		return;
	}
#endif
	if (!(d->kind & COWRL_REC_DEMAND)) {
		if (d->kind == COWRL_REC_KERNEL) {
			cnt_inc(CNT_KERNEL);
		} else {
			cowrl_active_count();
			cnt_inc(d->kind == COWRL_REC_PRECOPY ? CNT_PRECOPY : CNT_MANUAL);
		}
		cowrl_emit(&rec);
		return;
	}

	cnt_inc(CNT_DEMAND);
	mode = READ_ONCE(cowrl_policy.mode);
	if (mode == COWRL_POLICY_TABLE)
		k = cowrl_decide(d);
	else if (mode == COWRL_POLICY_GUARDED)
		k = cowrl_decide_guarded(d, &pr, &walk, &stride, &sibmask);
	else if (mode == COWRL_POLICY_STATIC)
		k = READ_ONCE(cowrl_policy.k);
	else
		k = 0;
	rec.degree = k;
	if (!k && !sibmask) {	/* (a sibling window may follow an adjacent one of k = 0) */
		cowrl_emit(&rec);
		return;
	}

	pending = atomic64_inc_return(&cowrl_pending);
	if (pending > COWRL_MAX_PENDING) {
		cnt_inc(CNT_THROTTLED);
		goto err_pending;
	}
	if (pending > atomic64_read(&cowrl_cnt[CNT_MAX_PENDING]))
		atomic64_set(&cowrl_cnt[CNT_MAX_PENDING], pending);	/* racy max: a gauge */
	w = kzalloc(sizeof(*w), GFP_ATOMIC | __GFP_NOWARN);
	if (!w)
		goto err_pending;
	w->rec = rec;
	w->mm = current->mm;
	w->limit = d->tstart + d->tlen;
	w->proof = pr;
	w->walk = walk;
	/* a strided window is a GUARDED one: k <= COWRL_GUARDED_MAX_K (checked table) */
	w->stride = k && k <= COWRL_GUARDED_MAX_K ? stride : 0;
	w->sibmask = sibmask;
	w->slot = d->slot;
	w->tid = d->tid;
	w->tstart = d->tstart;
	if (!cowrl_queue_precopy(w))
		goto err_free;
	return;	/* the work emits the record with its precopy time */

err_free:
	kfree(w);
err_pending:
	atomic64_dec(&cowrl_pending);
	cnt_inc(CNT_WORK_FAILED);
	cowrl_emit(&rec);
}

/* May precopy (or manual_cow) write-fault pages of @vma?  Under mmap_read_lock. */
static bool cowrl_vma_ok(struct vm_area_struct *vma)
{
	return vma_is_anonymous(vma) && (vma->vm_flags & VM_WRITE) &&
	       !(vma->vm_flags & (VM_SHARED | VM_HUGETLB | VM_PFNMAP | VM_IO | VM_MIXEDMAP)) &&
	       !userfaultfd_armed(vma);
}
NOKPROBE_SYMBOL(cowrl_vma_ok);	/* also called from the return handler */

/*
 * Does @addr of current's mm map a page that a write fault would copy: present,
 * anonymous, COW-shared, small, not KSM, not lazily freed?  gup-fast walks the
 * page tables with interrupts off and takes a page reference, so neither a
 * huge PMD nor a concurrent unmap can trip it; nothing is faulted in.
 */
static bool cowrl_page_shared(unsigned long addr)
{
	struct page *page;
	struct folio *folio;
	bool ok;

	if (get_user_pages_fast_only(addr, 1, 0, &page) != 1)
		return false;
	folio = page_folio(page);
	ok = folio_test_anon(folio) && !folio_test_ksm(folio) && !folio_test_large(folio) &&
	     folio_test_swapbacked(folio) && !PageAnonExclusive(page);
	put_page(page);
	return ok;
}

/* Pages of one window whose copies the work cleans: bit i = page addr + (i + 1) * step. */
#define COWRL_CLEAN_MAX 64
static_assert(COWRL_GUARDED_MAX_K <= COWRL_CLEAN_MAX);

#ifdef COWRL_PROOF
#ifdef _PAGE_SAVED_DIRTY
#define COWRL_DIRTY_BITS (_PAGE_DIRTY | _PAGE_SAVED_DIRTY)	/* 6.6+: shadow-stack era */
#else
#define COWRL_DIRTY_BITS _PAGE_DIRTY
#endif

/*
 * Clean the dirty bits of the copies that precopy just installed at the pages @want of
 * the window after @addr (bit i: addr + (i + 1) * @step bytes, @step a multiple of
 * PAGE_SIZE: one page, or a strided window's stride) that lie in one PMD range, in
 * current's mm (@vma, under mmap_read_lock); set bit i of the result and @pfns[i] for
 * each copy whose clean holds (no TLB can write the page without setting D again).
 * Every other PTE is left as it was.
 *
 * Under the PTE lock (preemption off from the first clear to the last flush): W=1,
 * hardware D=1 (no saved-dirty bit), a small anonymous swap-backed folio, not in the
 * swap cache, not KSM, the page AnonExclusive, not a shadow-stack VMA; then
 * clear_bit(_PAGE_BIT_DIRTY), atomic against the hardware setting A/D.  Then
 * inc_mm_tlb_gen() (a full barrier, as in flush_tlb_mm_range()): a CPU that switches
 * into the mm after it flushes its stale ASID, and one already switched in is in
 * mm_cpumask when it is read.  If this CPU is the only one there, the mm has no MMU
 * notifier (a secondary TLB) and the kernel is not Xen PV, __flush_tlb_one_user() per
 * page (a pv_ops call; the native one also flushes the PTI user ASID) removes the last
 * entries that could write without setting D.  Otherwise another CPU may cache a page
 * dirty: D is set again on every page (lost: no proof).  Every kernel reader of an
 * anonymous PTE's D bit (reclaim's unmap, migration, MADV_FREE, KSM, MGLRU) takes this
 * lock, so none sees a clean PTE before the flush or the restore.
 */
static u64 cowrl_clean_pmd(struct mm_struct *mm, struct vm_area_struct *vma,
			   unsigned long addr, unsigned long step, u64 want, unsigned long *pfns)
{
	unsigned long first = addr + (__ffs64(want) + 1) * step, a;
	pgd_t *pgdp;
	p4d_t *p4dp;
	pud_t *pudp, pud;
	pmd_t *pmdp, pmdval;
	pte_t *ptep, pte;
	spinlock_t *ptl;
	struct page *page;
	struct folio *folio;
	u64 done = 0, bits;
	unsigned int i;

#ifdef VM_SHADOW_STACK
	if (vma->vm_flags & VM_SHADOW_STACK)
		return 0;
#endif
	pgdp = pgd_offset(mm, first);
	if (pgd_none(READ_ONCE(*pgdp)) || pgd_bad(READ_ONCE(*pgdp)))
		return 0;
	p4dp = p4d_offset(pgdp, first);
	if (p4d_none(READ_ONCE(*p4dp)) || p4d_bad(READ_ONCE(*p4dp)))
		return 0;
	pudp = pud_offset(p4dp, first);
	pud = READ_ONCE(*pudp);
	if (pud_none(pud) || !pud_present(pud) || pud_leaf(pud) || pud_bad(pud))
		return 0;
	pmdp = pmd_offset(pudp, first);
	rcu_read_lock();	/* as pte_offset_map() (6.5+) holds it */
	pmdval = READ_ONCE(*pmdp);
	if (pmd_none(pmdval) || !pmd_present(pmdval) || pmd_leaf(pmdval) || pmd_devmap(pmdval) ||
	    pmd_bad(pmdval))
		goto out_rcu;
	ptl = pte_lockptr(mm, &pmdval);
	spin_lock(ptl);
	/* 6.12's __pte_offset_map_lock(): the PMD may have changed before the lock */
	if (!pmd_same(pmdval, READ_ONCE(*pmdp)))
		goto out_unlock;
	for (bits = want; bits; bits &= bits - 1) {
		i = __ffs64(bits);
		a = addr + (i + 1) * step;
		if ((a & PMD_MASK) != (first & PMD_MASK))
			continue;	/* not under this PTE page (the caller groups by PMD) */
		ptep = pte_offset_kernel(&pmdval, a);
		pte = ptep_get(ptep);
		if (!pte_present(pte) || pte_special(pte) || !(pte_flags(pte) & _PAGE_RW) ||
		    (pte_flags(pte) & COWRL_DIRTY_BITS) != _PAGE_DIRTY || !pfn_valid(pte_pfn(pte)))
			continue;
		page = pfn_to_page(pte_pfn(pte));
		folio = page_folio(page);
		if (!folio_test_anon(folio) || folio_test_ksm(folio) || folio_test_large(folio) ||
		    !folio_test_swapbacked(folio) || folio_test_swapcache(folio) ||
		    !PageAnonExclusive(page))
			continue;
		clear_bit(_PAGE_BIT_DIRTY, (unsigned long *)&ptep->pte);
		pfns[i] = pte_pfn(pte);
		done |= BIT_ULL(i);
	}
	if (!done)
		goto out_unlock;
	cowrl_inc_tlb_gen(mm);
	if (!mm_has_notifiers(mm) && !cpu_feature_enabled(X86_FEATURE_XENPV) &&
	    cpumask_any_but(mm_cpumask(mm), smp_processor_id()) >= nr_cpu_ids) {
		for (bits = done; bits; bits &= bits - 1)
			__flush_tlb_one_user(addr + (__ffs64(bits) + 1) * step);
	} else {
		for (bits = done; bits; bits &= bits - 1) {
			a = addr + (__ffs64(bits) + 1) * step;
			set_bit(_PAGE_BIT_DIRTY, (unsigned long *)&pte_offset_kernel(&pmdval, a)->pte);
		}
		done = 0;
	}
out_unlock:
	spin_unlock(ptl);
out_rcu:
	rcu_read_unlock();
	return done;
}
#else
static u64 cowrl_clean_pmd(struct mm_struct *mm, struct vm_area_struct *vma,
			   unsigned long addr, unsigned long step, u64 want, unsigned long *pfns)
{
	return 0;	/* not built here: SET_POLICY refuses proof = 1 */
}
#endif

/*
 * Clean the copies @copied (bit i: page addr + (i + 1) pages, or + (i + 1) * stride pages
 * for a strided window, w->stride) of the window of @w, one PTE lock per PMD range (a
 * stride of 512 pages or more: one per page), then remember each clean copy's pfn for its ring entry, under
 * the target's lock, if the ring still holds that page there (a later window may have
 * overwritten it).  The window records its pages in ascending order: the search for the
 * next entry starts after the last match.
 */
static void cowrl_clean_window(struct mm_struct *mm, struct vm_area_struct *vma,
			       const struct cowrl_work *w, u64 copied)
{
	unsigned long addr = (unsigned long)w->rec.addr, pfns[COWRL_CLEAN_MAX];
	const unsigned long sp = w->stride ? w->stride : 1, step = sp * PAGE_SIZE;
	u64 clean = 0, left = copied, group;
	struct cowrl_tgt *tg;
	unsigned long flags, a;
	u32 i, j, n, idx, next = 0;
	s64 page;

	while (left) {
		a = addr + (__ffs64(left) + 1) * step;
		/* the pages of @left below the end of a's PMD range: window indices 1..n */
		n = min_t(u64, ((a & PMD_MASK) + PMD_SIZE - addr - 1) / step, COWRL_CLEAN_MAX);
		group = n >= COWRL_CLEAN_MAX ? left : left & (BIT_ULL(n) - 1);
		if (!(group & left))
			break;	/* cannot happen (a is below its PMD's end): never loop */
		clean |= cowrl_clean_pmd(mm, vma, addr, step, group, pfns);
		left &= ~group;
	}
	atomic64_add(hweight64(clean), &cowrl_cnt[CNT_PROOF_CLEAN]);
	atomic64_add(hweight64(copied) - hweight64(clean), &cowrl_cnt[CNT_PROOF_LOST]);
	if (!clean)
		return;
	rcu_read_lock();
	tg = rcu_dereference(cowrl_tgts[w->slot]);
	if (tg && tg->id == w->tid && tg->gstate) {
		spin_lock_irqsave(&tg->lock, flags);
		for (; clean; clean &= clean - 1) {
			i = __ffs64(clean);
			page = (s64)((addr - w->tstart) >> PAGE_SHIFT) + (s64)(i + 1) * (s64)sp;
			for (j = 0; j < w->proof.count; j++) {
				idx = (w->proof.first + (next + j) % w->proof.count) %
				      COWRL_GUARDED_PROOFS;
				if (tg->gstate->proof_page[idx] ==
				    page + 1 + COWRL_GUARDED_TAG(w->proof.proc)) {
					tg->proof_pg[idx] = page;
					tg->proof_pfn[idx] = pfns[i];
					next = (next + j + 1) % w->proof.count;
					break;
				}
			}
		}
		spin_unlock_irqrestore(&tg->lock, flags);
	}
	rcu_read_unlock();
}

/*
 * Write-fault page @p of @mm (read-locked by the caller, which checked @p lies in its VMA)
 * if it is still COW-shared, in precopy mode: 1 if this fault copied it, 0 if it was stepped
 * over (CNT_SKIPPED: not shared; CNT_NOCOPY: raced, became exclusive or was zapped), -1 if
 * the fault failed and the walk must stop.
 */
static int cowrl_precopy_page(struct mm_struct *mm, unsigned long p, struct cowrl_active *a)
{
	u32 before;

	cond_resched();
	if (!cowrl_page_shared(p)) {
		cnt_inc(CNT_SKIPPED);
		return 0;
	}
	cnt_inc(CNT_TRIES);
	before = READ_ONCE(a->copies);
	/* No @unlocked: the lock is never dropped, so the caller's VMA stays valid. */
	if (fixup_user_fault(mm, p, FAULT_FLAG_WRITE, NULL))
		return -1;
	if (READ_ONCE(a->copies) == before) {
		cnt_inc(CNT_NOCOPY);
		return 0;
	}
	return 1;
}

/*
 * Write-fault the COW-shared pages (addr, addr + k pages] of addr's VMA, in precopy mode
 * (a strided window, w->stride = s >= 2: the pages addr + j * s pages, j = 1..k, those
 * below the VMA's end and the range's; w->walk then counts them, as an index j).
 * A GUARDED window stops after page addr + w->walk, the last its decision read shared:
 * the pages after it were not (private, or absent), so the walk would only step over them
 * (CNT_SKIPPED).  If another thread forks between the decision and this work, those pages
 * are COW-shared again and are left to demand faults: the work then copies fewer pages
 * than a walk to addr + k would, never more, and never visits a page outside
 * (addr, addr + k] (w->walk <= k by construction; min() keeps it so), clipped to the VMA
 * and the range as ever.  Pages up to addr + w->walk are checked one by one as before.
 */
static void cowrl_precopy_window(struct mm_struct *mm, const struct cowrl_work *w,
				 struct cowrl_active *a)
{
	unsigned long addr = (unsigned long)w->rec.addr, limit = w->limit;
	u32 k = min(w->rec.degree, w->walk), j;
	const unsigned long step = (w->stride ? (unsigned long)w->stride : 1UL) * PAGE_SIZE;
	struct vm_area_struct *vma;
	unsigned long p, end;
	u64 copied = 0, bits;
	int ret;

	if (mmap_read_lock_killable(mm))
		return;
	vma = vma_lookup(mm, addr);
	if (!vma || !cowrl_vma_ok(vma))
		goto out_unlock;
	end = min(vma->vm_end, limit);
	/* addr < TASK_SIZE, k * step < 2^9 * 2^42 (stride < 2^30): no overflow */
	for (j = 1, p = addr + step; j <= k && p < end; j++, p += step) {
		if (fatal_signal_pending(current))
			break;
		ret = cowrl_precopy_page(mm, p, a);
		if (ret < 0)
			break;
		if (ret && j <= COWRL_CLEAN_MAX)
			copied |= BIT_ULL(j - 1);	/* page addr + j * step */
	}
	/*
	 * sibling_window: then the family pages of the sibling window, past the adjacent one
	 * (w->sibmask, bit j - 1 = page addr + j, j <= 64; the work's stride is 0 then), those
	 * still COW-shared; the others are stepped over (CNT_SKIPPED).
	 */
	for (bits = j > k ? w->sibmask : 0; bits; bits &= bits - 1) {	/* (not after a break) */
		j = __ffs64(bits) + 1;
		p = addr + (unsigned long)j * PAGE_SIZE;
		if (p >= end || fatal_signal_pending(current))
			break;
		ret = cowrl_precopy_page(mm, p, a);
		if (ret < 0)
			break;
		if (ret)
			copied |= BIT_ULL(j - 1);
	}
	/* interior proofs: clean the window's copies (GUARDED windows are <= 64 pages) */
	if (copied && w->proof.on && w->proof.count)
		cowrl_clean_window(mm, vma, w, copied);
out_unlock:
	mmap_read_unlock(mm);
}

static void cowrl_precopy_fn(struct callback_head *cb)
{
	struct cowrl_work *w = container_of(cb, struct cowrl_work, cb);
	struct mm_struct *mm = current->mm;
	struct cowrl_active a;
	u64 t0 = ktime_get_ns();

	cnt_inc(CNT_WORKS);
	/* Work left over at exit runs after exit_mm(); after an exec the mm differs. */
	if (mm && mm == w->mm && !(current->flags & PF_EXITING)) {
		cowrl_active_enter(&a, COWRL_REC_PRECOPY);
		cowrl_precopy_window(mm, w, &a);
		cowrl_active_leave(&a);
		w->rec.precopied = a.copies;
	} else {
		cnt_inc(CNT_WORK_FAILED);
	}
	w->rec.work_ns = ktime_get_ns() - t0;
	cowrl_emit(&w->rec);
	kfree(w);
	atomic64_dec(&cowrl_pending);
	/* Last: module exit waits for an RCU-tasks grace period after this put. */
	module_put(THIS_MODULE);
}

#ifdef COWRL_FPROBE
static int cowrl_fprobe_entry(struct fprobe *fp, unsigned long ip, unsigned long ret_ip,
			      struct pt_regs *regs, void *data)
{
	return cowrl_entry(data, regs);
}
NOKPROBE_SYMBOL(cowrl_fprobe_entry);

static void cowrl_fprobe_exit(struct fprobe *fp, unsigned long ip, unsigned long ret_ip,
			      struct pt_regs *regs, void *data)
{
	cowrl_return(data, regs);
}
NOKPROBE_SYMBOL(cowrl_fprobe_exit);

static struct fprobe cowrl_probe = {
	.entry_handler = cowrl_fprobe_entry,
	.exit_handler = cowrl_fprobe_exit,
	.entry_data_size = sizeof(struct cowrl_probe_data),
};
static const char *cowrl_probe_sym;

static int cowrl_probe_register(const char *sym, int maxactive)
{
	memset(&cowrl_probe.ops, 0, sizeof(cowrl_probe.ops));
	cowrl_probe.flags = 0;
	cowrl_probe.nr_maxactive = maxactive;
	cowrl_probe_sym = sym;
	return register_fprobe_syms(&cowrl_probe, &cowrl_probe_sym, 1);
}

static void cowrl_probe_unregister(void)
{
	unregister_fprobe(&cowrl_probe);
}

#define cowrl_probe_nmissed() READ_ONCE(cowrl_probe.nmissed)
#define cowrl_probe_maxactive() (cowrl_probe.nr_maxactive)
#else
static int cowrl_kretprobe_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return cowrl_entry((struct cowrl_probe_data *)ri->data, regs);
}
NOKPROBE_SYMBOL(cowrl_kretprobe_entry);

static int cowrl_kretprobe_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	cowrl_return((struct cowrl_probe_data *)ri->data, regs);
	return 0;
}
NOKPROBE_SYMBOL(cowrl_kretprobe_return);

static struct kretprobe cowrl_probe = {
	.handler = cowrl_kretprobe_return,
	.entry_handler = cowrl_kretprobe_entry,
	.data_size = sizeof(struct cowrl_probe_data),
};

static int cowrl_probe_register(const char *sym, int maxactive)
{
	memset(&cowrl_probe.kp, 0, sizeof(cowrl_probe.kp));
	cowrl_probe.maxactive = maxactive;
	cowrl_probe.kp.symbol_name = sym;
	return register_kretprobe(&cowrl_probe);
}

static void cowrl_probe_unregister(void)
{
	unregister_kretprobe(&cowrl_probe);
}

#define cowrl_probe_nmissed() READ_ONCE(cowrl_probe.nmissed)
#define cowrl_probe_maxactive() (cowrl_probe.maxactive)
#endif

/* Break COW on [addr, addr+len) of the caller: page aligned, inside TASK_SIZE. */
static long cowrl_manual_cow(struct cowrl_manual_cow __user *uarg)
{
	struct mm_struct *mm = current->mm;
	struct cowrl_manual_cow mc;
	struct cowrl_active a;
	struct vm_area_struct *vma;
	unsigned long p, end;
	u64 last;
	long ret = 0;

	if (copy_from_user(&mc, uarg, sizeof(mc)))
		return -EFAULT;
	if (mc.flags || mc.reserved)
		return -EINVAL;
	if (!PAGE_ALIGNED(mc.addr) || !PAGE_ALIGNED(mc.len) ||
	    check_add_overflow(mc.addr, mc.len, &last) || last > TASK_SIZE)
		return -EINVAL;
	mc.pages = 0;
	if (!mm)
		return -EFAULT;
	end = (unsigned long)last;

	cowrl_active_enter(&a, COWRL_REC_MANUAL);
	for (p = (unsigned long)mc.addr; p < end; p += PAGE_SIZE) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
		if (mmap_read_lock_killable(mm)) {
			ret = -EINTR;
			break;
		}
		vma = vma_lookup(mm, p);
		if (!vma || !(vma->vm_flags & VM_WRITE) ||
		    (vma->vm_flags & (VM_SHARED | VM_PFNMAP | VM_IO | VM_MIXEDMAP)))
			ret = -EFAULT;	/* unmapped, read-only, or shared: nothing to break */
		else
			ret = fixup_user_fault(mm, p, FAULT_FLAG_WRITE, NULL);
		mmap_read_unlock(mm);
		if (ret)
			break;
		mc.pages++;
	}
	cowrl_active_leave(&a);

	if (copy_to_user(uarg, &mc, sizeof(mc)))
		return -EFAULT;
	return ret;
}

/* Keep @st's tallies before it is freed or reset (no decision may count in it meanwhile). */
static void cowrl_gtally_fold(const struct cowrl_guarded_state *st)
{
	u64 v[COWRL_GUARDED_COUNTS];
	int i;

	cowrl_guarded_counts(st, v);
	for (i = 0; i < COWRL_GUARDED_COUNTS; i++)
		atomic64_add(v[i], &cowrl_gtally_gone[i]);
}

/* After a grace period (no probe handler sees @tg), or never published. */
static void cowrl_tgt_free(struct cowrl_tgt *tg)
{
	if (tg->gstate)
		cowrl_gtally_fold(tg->gstate);	/* a dropped target's tallies stay counted */
	kvfree(tg->family);
	kfree(tg->gstate);
	put_pid(tg->pid);
	mmdrop(tg->mm);
	put_pid_ns(tg->ns);
	kfree(tg);
}

/* After a slot changed (the pointer is published first, so a probe never misses it for long). */
static void cowrl_recount(void)
{
	int i, n = 0, used = 0;

	for (i = 0; i < COWRL_MAX_TARGETS; i++) {
		if (rcu_access_pointer(cowrl_tgts[i])) {
			n++;
			used = i + 1;
		}
	}
	WRITE_ONCE(cowrl_ntargets, n);
	WRITE_ONCE(cowrl_slots_used, used);
}

/* Unlink the targets in @gone (slot mask); free them after a grace period.  Under cowrl_mutex. */
static void cowrl_drop(unsigned long gone)
{
	struct cowrl_tgt *dead[COWRL_MAX_TARGETS];
	int i, n = 0;

	if (!gone)
		return;
	for (i = 0; i < COWRL_MAX_TARGETS; i++) {
		if (!(gone & BIT(i)))
			continue;
		dead[n++] = rcu_dereference_protected(cowrl_tgts[i], lockdep_is_held(&cowrl_mutex));
		RCU_INIT_POINTER(cowrl_tgts[i], NULL);
	}
	cowrl_recount();
	synchronize_rcu();	/* no probe handler still looks at them */
	while (n)
		cowrl_tgt_free(dead[--n]);
}

/* Drop targets that exited or exec'd (their mm is no longer their process's). */
static void cowrl_reap(void)
{
	unsigned long gone = 0;
	int i;

	rcu_read_lock();
	for (i = 0; i < COWRL_MAX_TARGETS; i++) {
		struct cowrl_tgt *tg = rcu_dereference(cowrl_tgts[i]);
		struct task_struct *t;

		if (!tg)
			continue;
		t = pid_task(tg->pid, PIDTYPE_TGID);
		if (!t || READ_ONCE(t->mm) != tg->mm)
			gone |= BIT(i);
	}
	rcu_read_unlock();
	cowrl_drop(gone);
}

static int cowrl_slot_of(struct pid *pid)
{
	int i;

	for (i = 0; i < COWRL_MAX_TARGETS; i++) {
		struct cowrl_tgt *tg = rcu_dereference_protected(cowrl_tgts[i],
								 lockdep_is_held(&cowrl_mutex));

		if (tg && tg->pid == pid)
			return i;
	}
	return -1;
}

/*
 * sibling_window: give target @t its family bytes (zeroed), if it has none: 0, -E2BIG if its
 * range is longer than COWRL_FAMILY_MAX_PAGES pages, -ENOMEM.  Under cowrl_mutex (it sleeps:
 * never in the fault path); the pointer is published under the target's lock.
 */
static int cowrl_family_alloc(struct cowrl_tgt *t)
{
	u64 pages = ((t->len - 1) >> PAGE_SHIFT) + 1;	/* len >= 1: the last byte's page */
	unsigned long flags;
	u8 *fam;

	if (t->family)
		return 0;
	if (pages > COWRL_FAMILY_MAX_PAGES)
		return -E2BIG;
	fam = kvzalloc(pages, GFP_KERNEL);
	if (!fam)
		return -ENOMEM;
	spin_lock_irqsave(&t->lock, flags);
	t->fam_pages = pages;
	t->family = fam;
	spin_unlock_irqrestore(&t->lock, flags);
	return 0;
}

/* Does the policy now set need family bytes (GUARDED with sibling_window)?  Under cowrl_mutex. */
static bool cowrl_needs_family(void)
{
	const struct cowrl_guarded_table *gt = rcu_dereference_protected(
		cowrl_gtable, lockdep_is_held(&cowrl_mutex));

	return cowrl_policy.mode == COWRL_POLICY_GUARDED && gt && gt->sibling_window;
}

/*
 * Watch the process tg.pid (in the caller's pid namespace) in its range with a
 * fresh decision state; re-registering a process replaces its target.
 */
static long cowrl_register(const struct cowrl_target __user *uarg)
{
	struct cowrl_target tg;
	struct cowrl_tgt *t, *old = NULL;
	struct task_struct *task;
	struct pid *pid;
	u64 end;
	int i;
	long ret;

	if (copy_from_user(&tg, uarg, sizeof(tg)))
		return -EFAULT;
	if (tg.pid <= 0 || !tg.len || (tg.flags & ~COWRL_TARGET_CHILDREN) ||
	    check_add_overflow(tg.start, tg.len, &end) || end > TASK_SIZE)
		return -EINVAL;
	pid = find_get_pid(tg.pid);
	if (!pid)
		return -ESRCH;
	ret = -ESRCH;
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t) {
		ret = -ENOMEM;
		goto err_pid;
	}
	rcu_read_lock();
	task = pid_task(pid, PIDTYPE_TGID);
	if (task)
		get_task_struct(task);
	rcu_read_unlock();
	if (!task)
		goto err_free;
	ret = -EINVAL;
	/* A namespace's init with CHILDREN would watch every process in it. */
	if ((tg.flags & COWRL_TARGET_CHILDREN) && is_child_reaper(pid))
		goto err_task;
	t->mm = get_task_mm(task);	/* NULL for kernel threads and zombies */
	if (!t->mm)
		goto err_task;
	mmgrab(t->mm);
	mmput(t->mm);
	t->exec_id = READ_ONCE(task->self_exec_id);
	put_task_struct(task);
	t->pid = pid;
	t->ns = get_pid_ns(task_active_pid_ns(current));
	t->flags = tg.flags;
	t->start = tg.start;
	t->len = tg.len;
	spin_lock_init(&t->lock);
	cowrl_policy_reset(&t->state);
	t->gstate = kmalloc(sizeof(*t->gstate), GFP_KERNEL);
	if (!t->gstate) {
		cowrl_tgt_free(t);
		return -ENOMEM;
	}
	cowrl_guarded_reset(t->gstate);

	mutex_lock(&cowrl_mutex);
	cowrl_reap();
	if (cowrl_needs_family()) {	/* sibling_window: its family bytes first */
		ret = cowrl_family_alloc(t);
		if (ret) {
			mutex_unlock(&cowrl_mutex);
			cowrl_tgt_free(t);
			return ret;
		}
	}
	i = cowrl_slot_of(pid);
	if (i >= 0) {
		old = rcu_dereference_protected(cowrl_tgts[i], lockdep_is_held(&cowrl_mutex));
	} else {
		for (i = 0; i < COWRL_MAX_TARGETS; i++)
			if (!rcu_access_pointer(cowrl_tgts[i]))
				break;
	}
	if (i < COWRL_MAX_TARGETS) {
		t->id = cowrl_next_id++;
		rcu_assign_pointer(cowrl_tgts[i], t);
		t = NULL;
		cowrl_recount();
		ret = 0;
	} else {
		ret = -ENOSPC;
	}
	mutex_unlock(&cowrl_mutex);
	if (old) {
		synchronize_rcu();
		cowrl_tgt_free(old);
	}
	if (t)
		cowrl_tgt_free(t);	/* -ENOSPC: holds pid, mm and ns references */
	return ret;

err_task:
	put_task_struct(task);
err_free:
	kfree(t);
err_pid:
	put_pid(pid);
	return ret;
}

/* Stop watching tg.pid (0 = all targets). */
static long cowrl_unregister(const struct cowrl_target __user *uarg)
{
	struct cowrl_target tg;
	struct pid *pid;
	unsigned long gone = 0;
	long ret = 0;
	int i;

	if (copy_from_user(&tg, uarg, sizeof(tg)))
		return -EFAULT;
	if (tg.pid < 0)
		return -EINVAL;
	mutex_lock(&cowrl_mutex);
	cowrl_reap();
	if (!tg.pid) {
		gone = BIT(COWRL_MAX_TARGETS) - 1;
	} else {
		pid = find_get_pid(tg.pid);
		i = pid ? cowrl_slot_of(pid) : -1;
		put_pid(pid);
		if (i >= 0)
			gone = BIT(i);
		else
			ret = -ENOENT;
	}
	for (i = 0; i < COWRL_MAX_TARGETS; i++)
		if (!rcu_access_pointer(cowrl_tgts[i]))
			gone &= ~BIT(i);
	cowrl_drop(gone);
	mutex_unlock(&cowrl_mutex);
	return ret;
}

/* Reset every registered target's decision state.  Under cowrl_mutex. */
static void cowrl_states_reset(void)
{
	unsigned long flags;
	int i;

	for (i = 0; i < COWRL_MAX_TARGETS; i++) {
		struct cowrl_tgt *tg = rcu_dereference_protected(cowrl_tgts[i],
								 lockdep_is_held(&cowrl_mutex));

		if (!tg)
			continue;
		spin_lock_irqsave(&tg->lock, flags);
		cowrl_policy_reset(&tg->state);
		if (tg->gstate) {
			cowrl_gtally_fold(tg->gstate);	/* (RESET zeroes them after) */
			cowrl_guarded_reset(tg->gstate);
		}
		memset(tg->proof_pfn, 0, sizeof(tg->proof_pfn));
		memset(tg->proof_tgid, 0, sizeof(tg->proof_tgid));
		spin_unlock_irqrestore(&tg->lock, flags);
		/*
		 * Up to 4 MiB: cleared outside the lock (irqs stay on).  The pointer is stable
		 * under cowrl_mutex; a decision racing the clear reads some byte values, each of
		 * which is a valid family byte (only compared, never an index).
		 */
		if (tg->family)
			memset(tg->family, 0, tg->fam_pages);
	}
}

/* The one table of @p (size @size) copied from user space: ERR_PTR(-EINVAL/-EFAULT/-ENOMEM). */
static void *cowrl_table_dup(const struct cowrl_policy *p, size_t size)
{
	if (p->table_len != 1 || p->entry_size != size)
		return ERR_PTR(-EINVAL);
	return memdup_user(u64_to_user_ptr(p->table_ptr), size);
}

/* Can this kernel clean dirty bits for interior proofs (cowrl_clean_pmd())? */
static bool cowrl_proof_built(void)
{
#ifdef COWRL_PROOF
	return !cpu_feature_enabled(X86_FEATURE_XENPV);
#else
	return false;
#endif
}

static long cowrl_set_policy(const struct cowrl_policy __user *uarg)
{
	struct cowrl_policy_table *tb = NULL, *old = NULL;
	struct cowrl_guarded_table *gtb = NULL, *gold = NULL;
	struct cowrl_policy p;

	if (copy_from_user(&p, uarg, sizeof(p)))
		return -EFAULT;
	if (p.mode > COWRL_POLICY_GUARDED)
		return -EINVAL;
	if (p.mode == COWRL_POLICY_GUARDED) {
		gtb = cowrl_table_dup(&p, sizeof(*gtb));
		if (IS_ERR(gtb))
			return PTR_ERR(gtb);
		if (cowrl_guarded_check(gtb) || (gtb->proof && !cowrl_proof_built())) {
			kfree(gtb);
			return -EINVAL;
		}
		p.k = 0;
	} else if (p.mode == COWRL_POLICY_TABLE) {
		tb = cowrl_table_dup(&p, sizeof(*tb));
		if (IS_ERR(tb))
			return PTR_ERR(tb);
		if (cowrl_policy_check(tb)) {
			kfree(tb);
			return -EINVAL;
		}
		p.k = 0;
	} else if (p.k > COWRL_MAX_K) {
		return -EINVAL;
	}
	mutex_lock(&cowrl_mutex);
	if (gtb && gtb->sibling_window) {
		/* sibling_window: every live target's family bytes, before the table is set */
		int i, err = 0;

		cowrl_reap();
		for (i = 0; i < COWRL_MAX_TARGETS && !err; i++) {
			struct cowrl_tgt *t = rcu_dereference_protected(
				cowrl_tgts[i], lockdep_is_held(&cowrl_mutex));

			if (t)
				err = cowrl_family_alloc(t);
		}
		if (err) {	/* the policy in force stays */
			mutex_unlock(&cowrl_mutex);
			kfree(gtb);
			return err;
		}
	}
	WRITE_ONCE(cowrl_policy.mode, COWRL_POLICY_OFF);
	if (tb) {
		old = rcu_dereference_protected(cowrl_table, lockdep_is_held(&cowrl_mutex));
		rcu_assign_pointer(cowrl_table, tb);
	}
	if (gtb) {
		gold = rcu_dereference_protected(cowrl_gtable, lockdep_is_held(&cowrl_mutex));
		rcu_assign_pointer(cowrl_gtable, gtb);
	}
	cowrl_states_reset();
	WRITE_ONCE(cowrl_policy.k, p.k);
	WRITE_ONCE(cowrl_policy.mode, p.mode);
	mutex_unlock(&cowrl_mutex);
	if (old || gold) {
		synchronize_rcu();
		kfree(old);
		kfree(gold);
	}
	return 0;
}

static long cowrl_get_counters(struct cowrl_counters __user *uarg)
{
	struct cowrl_counters c = {
		.demand_faults = atomic64_read(&cowrl_cnt[CNT_DEMAND]),
		.precopy_copies = atomic64_read(&cowrl_cnt[CNT_PRECOPY]),
		.manual_copies = atomic64_read(&cowrl_cnt[CNT_MANUAL]),
		.precopy_works = atomic64_read(&cowrl_cnt[CNT_WORKS]),
		.precopy_tries = atomic64_read(&cowrl_cnt[CNT_TRIES]),
		.precopy_skipped = atomic64_read(&cowrl_cnt[CNT_SKIPPED]),
		.work_failed = atomic64_read(&cowrl_cnt[CNT_WORK_FAILED]),
		.records = atomic64_read(&cowrl_cnt[CNT_RECORDS]),
		.dropped = atomic64_read(&cowrl_cnt[CNT_DROPPED]),
		.nmissed = cowrl_probe_nmissed(),
		.pending_work = atomic64_read(&cowrl_pending),
		.out_of_scope = atomic64_read(&cowrl_cnt[CNT_OUT_OF_SCOPE]),
		.decisions = atomic64_read(&cowrl_cnt[CNT_DECISIONS]),
		.decide_ns = atomic64_read(&cowrl_cnt[CNT_DECIDE_NS]),
		.decide_clock_ns = atomic64_read(&cowrl_cnt[CNT_DECIDE_CLOCK_NS]),
		.kernel_copies = atomic64_read(&cowrl_cnt[CNT_KERNEL]),
		.ignored = atomic64_read(&cowrl_cnt[CNT_IGNORED]),
		.throttled = atomic64_read(&cowrl_cnt[CNT_THROTTLED]),
		.precopy_nocopy = atomic64_read(&cowrl_cnt[CNT_NOCOPY]),
		.max_pending = atomic64_read(&cowrl_cnt[CNT_MAX_PENDING]),
		.proof_clean = atomic64_read(&cowrl_cnt[CNT_PROOF_CLEAN]),
		.proof_lost = atomic64_read(&cowrl_cnt[CNT_PROOF_LOST]),
		.proof_credited = atomic64_read(&cowrl_cnt[CNT_PROOF_CREDITED]),
		.proof_reads = atomic64_read(&cowrl_cnt[CNT_PROOF_READS]),
		.proof_foreign = atomic64_read(&cowrl_cnt[CNT_PROOF_FOREIGN]),
	};
	u64 g[COWRL_GUARDED_COUNTS], v[COWRL_GUARDED_COUNTS];
	unsigned long flags;
	int i, j;

	mutex_lock(&cowrl_mutex);
	cowrl_reap();
	c.targets = cowrl_ntargets;
	/* the decision tallies: the dropped and reset states', and each live state's */
	for (j = 0; j < COWRL_GUARDED_COUNTS; j++)
		g[j] = atomic64_read(&cowrl_gtally_gone[j]);
	for (i = 0; i < COWRL_MAX_TARGETS; i++) {
		struct cowrl_tgt *tg = rcu_dereference_protected(cowrl_tgts[i],
								 lockdep_is_held(&cowrl_mutex));

		if (!tg || !tg->gstate)
			continue;
		spin_lock_irqsave(&tg->lock, flags);
		cowrl_guarded_counts(tg->gstate, v);
		spin_unlock_irqrestore(&tg->lock, flags);
		for (j = 0; j < COWRL_GUARDED_COUNTS; j++)
			g[j] += v[j];
	}
	mutex_unlock(&cowrl_mutex);
	/*
	 * g[] is in the list's order: the tallies (COWRL_GUARDED_T_*), then hits and misses,
	 * then the budget (u64 sums of s64s: exact in two's complement)
	 * (the kernel tests compare each counter by name with the simulator's)
	 */
#define COWRL_GUARD_ONE(n) + 1
	BUILD_BUG_ON(0 COWRL_GUARD_COUNTERS(COWRL_GUARD_ONE) != COWRL_GUARDED_COUNTS);
#undef COWRL_GUARD_ONE
	j = 0;
#define COWRL_GUARD_FILL(n) c.guard_##n = g[j++];
	COWRL_GUARD_COUNTERS(COWRL_GUARD_FILL)
#undef COWRL_GUARD_FILL
	return copy_to_user(uarg, &c, sizeof(c)) ? -EFAULT : 0;
}

static void cowrl_reset(void)
{
	unsigned long flags;
	int i;

	for (i = 0; i < CNT_MAX; i++)
		atomic64_set(&cowrl_cnt[i], 0);
	WRITE_ONCE(cowrl_probe.nmissed, 0);
	mutex_lock(&cowrl_mutex);
	cowrl_reap();
	cowrl_states_reset();
	/* the tallies the reap and the reset kept: gone too */
	for (i = 0; i < COWRL_GUARDED_COUNTS; i++)
		atomic64_set(&cowrl_gtally_gone[i], 0);
	mutex_unlock(&cowrl_mutex);
	spin_lock_irqsave(&ring_lock, flags);
	ring_head = 0;
	ring_count = 0;
	spin_unlock_irqrestore(&ring_lock, flags);
}

static long cowrl_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct cowrl_version v = {
		.abi_version = COWRL_ABI_VERSION,
		.record_size = sizeof(struct cowrl_record),
		.ring_records = ring_records,
		.max_targets = COWRL_MAX_TARGETS,
	};

	switch (cmd) {
	case COWRL_IOC_VERSION:
		return copy_to_user(uarg, &v, sizeof(v)) ? -EFAULT : 0;
	case COWRL_IOC_COUNTERS:
	case COWRL_IOC_MANUAL_COW:
	case COWRL_IOC_REGISTER:
	case COWRL_IOC_UNREGISTER:
	case COWRL_IOC_SET_POLICY:
	case COWRL_IOC_RESET:
		/* Per call, not per open: a root-opened fd passed to another user is no key. */
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		break;
	default:
		return -ENOTTY;
	}

	switch (cmd) {
	case COWRL_IOC_COUNTERS:
		return cowrl_get_counters(uarg);
	case COWRL_IOC_MANUAL_COW:
		return cowrl_manual_cow(uarg);
	case COWRL_IOC_REGISTER:
		return cowrl_register(uarg);
	case COWRL_IOC_UNREGISTER:
		return cowrl_unregister(uarg);
	case COWRL_IOC_SET_POLICY:
		return cowrl_set_policy(uarg);
	default:
		cowrl_reset();
		return 0;
	}
}

/*
 * Drain whole records, oldest first.  An empty ring reads 0 (a drain, not an
 * end: later reads return new records), or -EAGAIN with O_NONBLOCK; poll()
 * waits for records.
 */
static ssize_t cowrl_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct cowrl_record *chunk;
	unsigned long flags;
	size_t done = 0;
	u32 n, i;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (count < sizeof(*chunk))
		return -EINVAL;
	chunk = kmalloc_array(COWRL_READ_CHUNK, sizeof(*chunk), GFP_KERNEL);
	if (!chunk)
		return -ENOMEM;

	while (count - done >= sizeof(*chunk)) {
		spin_lock_irqsave(&ring_lock, flags);
		n = min_t(size_t, ring_count,
			  min_t(size_t, COWRL_READ_CHUNK, (count - done) / sizeof(*chunk)));
		for (i = 0; i < n; i++)
			chunk[i] = ring[(ring_head + i) % ring_records];
		ring_head = (ring_head + n) % ring_records;
		ring_count -= n;
		spin_unlock_irqrestore(&ring_lock, flags);
		if (!n)
			break;
		/* Records already taken are lost if the copy fails: count them as dropped. */
		if (copy_to_user(buf + done, chunk, n * sizeof(*chunk))) {
			atomic64_add(n, &cowrl_cnt[CNT_DROPPED]);
			kfree(chunk);
			return done ? done : -EFAULT;
		}
		done += n * sizeof(*chunk);
		if (fatal_signal_pending(current))
			break;
	}
	kfree(chunk);
	if (!done && (file->f_flags & O_NONBLOCK))
		return -EAGAIN;
	return done;
}

static __poll_t cowrl_poll(struct file *file, poll_table *wait)
{
	poll_wait(file, &ring_wait, wait);
	return READ_ONCE(ring_count) ? EPOLLIN | EPOLLRDNORM : 0;
}

static const struct file_operations cowrl_fops = {
	.owner = THIS_MODULE,
	.read = cowrl_read,
	.poll = cowrl_poll,
	.unlocked_ioctl = cowrl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice cowrl_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = COWRL_DEVICE_NAME,
	.fops = &cowrl_fops,
	.mode = 0600,
};

static int __init cowrl_init(void)
{
	const char *sym;
	int ret, maxactive;

	if (strcmp(symbol, "auto") && strcmp(symbol, "wp_page_copy") && strcmp(symbol, "do_wp_page")) {
		pr_err("symbol=%s is not supported: auto, wp_page_copy or do_wp_page (functions whose argument is the struct vm_fault *)\n",
		       symbol);
		return -EINVAL;
	}
	if (ring_records < COWRL_RING_MIN || ring_records > COWRL_RING_MAX) {
		pr_err("ring_records=%u is outside %u..%u\n", ring_records, COWRL_RING_MIN,
		       COWRL_RING_MAX);
		return -EINVAL;
	}
	ring = vmalloc(array_size(ring_records, sizeof(*ring)));
	if (!ring)
		return -ENOMEM;

	/* Every task inside the probed function (it may sleep) needs an instance. */
	maxactive = max_t(int, 256, 4 * num_possible_cpus());
	probe_do_wp_page = !strcmp(symbol, "do_wp_page");
	sym = probe_do_wp_page ? "do_wp_page" : "wp_page_copy";
	ret = cowrl_probe_register(sym, maxactive);
	if (ret == -ENOENT && !strcmp(symbol, "auto")) {	/* inlined (6.12) */
		probe_do_wp_page = true;
		sym = "do_wp_page";
		ret = cowrl_probe_register(sym, maxactive);
	}
	if (ret) {
		pr_err("cannot probe %s (%d): this kernel has no such probeable function\n",
		       sym, ret);
		ret = -EINVAL;
		goto err_free_ring;
	}

	ret = misc_register(&cowrl_misc);
	if (ret) {
		pr_err("cannot register /dev/%s (%d)\n", COWRL_DEVICE_NAME, ret);
		goto err_unregister_probe;
	}
	pr_info("probing %s, ABI %d, ring of %u records, %s, maxactive %d\n",
		sym, COWRL_ABI_VERSION, ring_records, COWRL_PROBE_KIND, cowrl_probe_maxactive());
	return 0;

err_unregister_probe:
	cowrl_probe_unregister();
err_free_ring:
	vfree(ring);
	return ret;
}

static void __exit cowrl_exit(void)
{
	int i;

	misc_deregister(&cowrl_misc);
	cowrl_probe_unregister();
	/*
	 * No handler runs any more and no ioctl is in flight (an open /dev/cowrl
	 * pins the module).  Each precopy work pinned the module and put it as
	 * its last act; a task preempted between that put and its return is not
	 * quiescent for RCU tasks, so after this wait none is in our text.
	 */
	synchronize_rcu_tasks();
	WARN_ON(atomic64_read(&cowrl_pending));
	for (i = 0; i < COWRL_MAX_TARGETS; i++) {
		struct cowrl_tgt *tg = rcu_dereference_protected(cowrl_tgts[i], 1);

		if (tg)
			cowrl_tgt_free(tg);
	}
	kfree(rcu_dereference_protected(cowrl_table, 1));
	kfree(rcu_dereference_protected(cowrl_gtable, 1));
	vfree(ring);
	pr_info("unloaded, %s nmissed %lu\n", COWRL_PROBE_KIND,
		(unsigned long)cowrl_probe_nmissed());
}

module_init(cowrl_init);
module_exit(cowrl_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("COW fault observer and precopy policy hook");
MODULE_VERSION("3");
