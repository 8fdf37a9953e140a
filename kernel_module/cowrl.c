// SPDX-License-Identifier: GPL-2.0
/*
 * cowrl - observe copy-on-write faults and precopy after them.
 *
 * A kretprobe on wp_page_copy() (the COW copy path of Linux 6.1) records every
 * copy made for the processes user space registers, into a ring buffer read
 * from /dev/cowrl.  After a demand fault it can precopy the next k pages of the
 * same VMA: a task_work queued from the return handler runs before the task
 * returns to user space and write-faults the window with fixup_user_fault().
 * Copies made by that work are tagged as precopy and never trigger precopy.
 *
 * The degree k is static (COWRL_POLICY_STATIC) or decided at every demand
 * fault by a pushed decision table (COWRL_POLICY_TABLE): cowrl_policy_fault()
 * of cowrl_policy.h, run in the kretprobe return handler under cowrl_lock on
 * the watched target's struct cowrl_policy_state.  That state is allocated
 * (GFP_KERNEL) by COWRL_IOC_REGISTER and freed by UNREGISTER, by a
 * re-register (which replaces it) and at module exit: the fault path never
 * allocates it, and a module with no target holds only the table and 16
 * pointers of decision state.
 *
 * The ioctl ABI is in cowrl_uapi.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/build_bug.h>
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "cowrl_uapi.h"
#include "cowrl_policy.h"

static_assert(sizeof(struct cowrl_policy_table) == COWRL_POLICY_TABLE_BYTES);
static_assert(COWRL_POLICY_MAX_K == COWRL_MAX_K);

static char *symbol = "wp_page_copy";
module_param(symbol, charp, 0444);
MODULE_PARM_DESC(symbol, "kernel function that copies a page on a COW fault");

static unsigned int ring_records = 1U << 18;
module_param(ring_records, uint, 0444);
MODULE_PARM_DESC(ring_records, "ring buffer capacity in records");

#define COWRL_MAX_ACTIVE 64
#define COWRL_READ_CHUNK 64

/* Tasks currently inside precopy work or manual_cow: their copies are not demand faults. */
struct cowrl_active {
	struct task_struct *task;
	u32 kind;
	u32 copies;
};

struct cowrl_work {
	struct callback_head cb;
	struct cowrl_record rec;
	unsigned long limit;	/* end of the registered range */
};

struct cowrl_probe_data {
	u64 start_ns;
	unsigned long addr;
	unsigned long limit;
	u32 kind;
	u32 user;
	int tidx;		/* index of the matching target in cowrl_targets */
	s32 tpid;		/* its pid and start: the return handler re-checks them */
	u64 tstart;
};

enum cowrl_counter {
	CNT_DEMAND, CNT_PRECOPY, CNT_MANUAL, CNT_WORKS, CNT_TRIES, CNT_SKIPPED,
	CNT_WORK_FAILED, CNT_RECORDS, CNT_DROPPED, CNT_OUT_OF_SCOPE, CNT_DECISIONS,
	CNT_DECIDE_NS, CNT_DECIDE_CLOCK_NS, CNT_MAX,
};

static DEFINE_SPINLOCK(cowrl_lock);	/* targets, policy, table, states, active */
static struct cowrl_target cowrl_targets[COWRL_MAX_TARGETS];
static int cowrl_ntargets;
static struct cowrl_active cowrl_active[COWRL_MAX_ACTIVE];
static struct cowrl_policy cowrl_policy;
/*
 * TABLE mode: the pushed table and one decision state per target (same index).
 * cowrl_states[i] is non-NULL exactly for i < cowrl_ntargets; a state is only
 * dereferenced under cowrl_lock, so one unlinked under the lock can be freed
 * after unlocking.
 */
static struct cowrl_policy_table cowrl_table;
static struct cowrl_policy_state *cowrl_states[COWRL_MAX_TARGETS];

static DEFINE_SPINLOCK(ring_lock);
static struct cowrl_record *ring;
static u32 ring_head;	/* next slot to read */
static u32 ring_count;

static atomic64_t cowrl_cnt[CNT_MAX];
static atomic64_t cowrl_pending;

static void cnt_inc(enum cowrl_counter c)
{
	atomic64_inc(&cowrl_cnt[c]);
}

static void cowrl_emit(const struct cowrl_record *rec)
{
	unsigned long flags;

	spin_lock_irqsave(&ring_lock, flags);
	if (ring_count < ring_records) {
		ring[(ring_head + ring_count) % ring_records] = *rec;
		ring_count++;
		cnt_inc(CNT_RECORDS);
	} else {
		cnt_inc(CNT_DROPPED);
	}
	spin_unlock_irqrestore(&ring_lock, flags);
}

/* Does @t or, for CHILDREN targets, one of its ancestors belong to @tg? */
static bool cowrl_owned_by(struct task_struct *t, const struct cowrl_target *tg)
{
	int depth;

	for (depth = 0; depth < 64; depth++) {
		if (task_tgid_nr(t) == tg->pid)
			return true;
		if (!(tg->flags & COWRL_TARGET_CHILDREN) || t->pid <= 1 ||
		    t == rcu_dereference(t->real_parent))
			return false;
		t = rcu_dereference(t->real_parent);
	}
	return false;
}

/*
 * 1 if @tsk is watched and @addr is in its range (*limit = range end, *tidx =
 * target index), -1 if watched but out of range, 0 if not watched.  Called
 * under cowrl_lock.
 */
static int cowrl_scope(struct task_struct *tsk, unsigned long addr, unsigned long *limit,
		       int *tidx)
{
	int i, scope = 0;

	rcu_read_lock();
	for (i = 0; i < cowrl_ntargets; i++) {
		const struct cowrl_target *tg = &cowrl_targets[i];

		if (!cowrl_owned_by(tsk, tg))
			continue;
		if (addr >= tg->start && addr - tg->start < tg->len) {
			*limit = tg->start + tg->len;
			*tidx = i;
			scope = 1;
			break;
		}
		scope = -1;
	}
	rcu_read_unlock();
	return scope;
}

static struct cowrl_active *cowrl_active_find(struct task_struct *tsk)
{
	int i;

	for (i = 0; i < COWRL_MAX_ACTIVE; i++)
		if (cowrl_active[i].task == tsk)
			return &cowrl_active[i];
	return NULL;
}

static int cowrl_active_enter(u32 kind)
{
	struct cowrl_active *a;
	unsigned long flags;
	int ret = -EBUSY;

	spin_lock_irqsave(&cowrl_lock, flags);
	a = cowrl_active_find(NULL);
	if (a) {
		a->task = current;
		a->kind = kind;
		a->copies = 0;
		ret = 0;
	}
	spin_unlock_irqrestore(&cowrl_lock, flags);
	return ret;
}

static u32 cowrl_active_leave(void)
{
	struct cowrl_active *a;
	unsigned long flags;
	u32 copies = 0;

	spin_lock_irqsave(&cowrl_lock, flags);
	a = cowrl_active_find(current);
	if (a) {
		copies = a->copies;
		a->task = NULL;
	}
	spin_unlock_irqrestore(&cowrl_lock, flags);
	return copies;
}

static int cowrl_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct vm_fault *vmf = (struct vm_fault *)regs_get_kernel_argument(regs, 0);
	struct cowrl_probe_data *d = (struct cowrl_probe_data *)ri->data;
	struct cowrl_active *a;
	unsigned long flags, limit = 0;
	int scope, tidx = -1;

	if (!READ_ONCE(cowrl_ntargets) || !current->mm)
		return 1;

	spin_lock_irqsave(&cowrl_lock, flags);
	scope = cowrl_scope(current, vmf->address, &limit, &tidx);
	a = scope > 0 ? cowrl_active_find(current) : NULL;
	d->kind = a ? a->kind : COWRL_REC_DEMAND;
	if (scope > 0) {
		d->tidx = tidx;
		d->tpid = cowrl_targets[tidx].pid;
		d->tstart = cowrl_targets[tidx].start;
	}
	spin_unlock_irqrestore(&cowrl_lock, flags);

	if (scope < 0)
		cnt_inc(CNT_OUT_OF_SCOPE);
	if (scope <= 0)
		return 1;	/* no return probe */

	d->addr = vmf->address & PAGE_MASK;
	d->limit = limit;
	d->user = (vmf->flags & FAULT_FLAG_USER) ? COWRL_REC_USER : 0;
	d->start_ns = ktime_get_ns();
	return 0;
}

static void cowrl_precopy_fn(struct callback_head *cb);

/* Queue precopy of the pages after @rec->addr; returns false if it cannot run. */
static bool cowrl_queue_precopy(struct cowrl_work *w)
{
	init_task_work(&w->cb, cowrl_precopy_fn);
	if (!try_module_get(THIS_MODULE))
		return false;
	atomic64_inc(&cowrl_pending);
	if (task_work_add(current, &w->cb, TWA_RESUME))
		goto err_pending;
	return true;

err_pending:
	atomic64_dec(&cowrl_pending);
	module_put(THIS_MODULE);
	return false;
}

/*
 * TABLE mode: the degree for the demand fault of @d, from its target's state.
 * Runs in the kretprobe return handler under cowrl_lock: O(slots), no
 * allocation.  0 if the policy changed or the target went away meanwhile.
 */
static u32 cowrl_decide(const struct cowrl_probe_data *d)
{
	const struct cowrl_target *tg = NULL;
	struct cowrl_policy_state *st = NULL;
	unsigned long flags;
	u64 t0, t1, t2;
	u32 k = 0;

	spin_lock_irqsave(&cowrl_lock, flags);
	if (d->tidx >= 0 && d->tidx < cowrl_ntargets) {
		tg = &cowrl_targets[d->tidx];
		st = cowrl_states[d->tidx];
	}
	if (cowrl_policy.mode == COWRL_POLICY_TABLE && tg && st && tg->pid == d->tpid &&
	    tg->start == d->tstart) {
		/* t1 - t0 is the clock's own cost: decide_ns - decide_clock_ns = net cost. */
		t0 = ktime_get_ns();
		t1 = ktime_get_ns();
		k = cowrl_policy_fault(st, &cowrl_table,
				       (s64)((d->addr - tg->start) >> PAGE_SHIFT),
				       (s64)(tg->len >> PAGE_SHIFT));
		t2 = ktime_get_ns();
		cnt_inc(CNT_DECISIONS);
		atomic64_add(t2 - t1, &cowrl_cnt[CNT_DECIDE_NS]);
		atomic64_add(t1 - t0, &cowrl_cnt[CNT_DECIDE_CLOCK_NS]);
	}
	spin_unlock_irqrestore(&cowrl_lock, flags);
	return k;
}

static int cowrl_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct cowrl_probe_data *d = (struct cowrl_probe_data *)ri->data;
	struct cowrl_record rec = {
		.pid = task_tgid_nr(current),
		.flags = d->kind | d->user,
		.addr = d->addr,
		.start_ns = d->start_ns,
		.latency_ns = ktime_get_ns() - d->start_ns,
	};
	struct cowrl_active *a;
	struct cowrl_work *w;
	unsigned long flags;
	u32 mode, k;

	if (d->kind != COWRL_REC_DEMAND) {
		spin_lock_irqsave(&cowrl_lock, flags);
		a = cowrl_active_find(current);
		if (a)
			a->copies++;
		spin_unlock_irqrestore(&cowrl_lock, flags);
		cnt_inc(d->kind == COWRL_REC_PRECOPY ? CNT_PRECOPY : CNT_MANUAL);
		cowrl_emit(&rec);
		return 0;
	}

	cnt_inc(CNT_DEMAND);
	if (regs_return_value(regs) & VM_FAULT_ERROR) {
		cowrl_emit(&rec);	/* no copy made: no decision, no precopy */
		return 0;
	}
	mode = READ_ONCE(cowrl_policy.mode);
	if (mode == COWRL_POLICY_TABLE)
		k = cowrl_decide(d);
	else if (mode == COWRL_POLICY_STATIC)
		k = READ_ONCE(cowrl_policy.k);
	else
		k = 0;
	rec.degree = k;
	if (!k) {
		cowrl_emit(&rec);
		return 0;
	}

	w = kzalloc(sizeof(*w), GFP_ATOMIC);
	if (!w)
		goto err_emit;
	w->rec = rec;
	w->limit = d->limit;
	if (!cowrl_queue_precopy(w))
		goto err_free;
	return 0;	/* the work emits the record with its precopy time */

err_free:
	kfree(w);
err_emit:
	cnt_inc(CNT_WORK_FAILED);
	cowrl_emit(&rec);
	return 0;
}

/* True if @addr has a present 4 KiB pte (huge or missing page tables count as not). */
static bool cowrl_pte_present(struct mm_struct *mm, unsigned long addr)
{
	spinlock_t *ptl;
	pte_t *ptep;
	bool present;

	if (follow_pte(mm, addr, &ptep, &ptl))
		return false;
	present = pte_present(*ptep);
	pte_unmap_unlock(ptep, ptl);
	return present;
}

/* Write-fault pages (addr, addr + k pages] of addr's VMA.  Caller is in precopy mode. */
static void cowrl_precopy_window(struct mm_struct *mm, unsigned long addr, u32 k,
				 unsigned long limit)
{
	struct vm_area_struct *vma;
	unsigned long a, end;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	if (!vma || !(vma->vm_flags & VM_WRITE))
		goto out_unlock;
	end = min3(vma->vm_end, limit, addr + ((unsigned long)k + 1) * PAGE_SIZE);
	for (a = addr + PAGE_SIZE; a < end; a += PAGE_SIZE) {
		if (fatal_signal_pending(current))
			break;
		if (!cowrl_pte_present(mm, a)) {
			cnt_inc(CNT_SKIPPED);
			continue;
		}
		cnt_inc(CNT_TRIES);
		/* No @unlocked: the lock is never dropped, so @vma stays valid. */
		if (fixup_user_fault(mm, a, FAULT_FLAG_WRITE, NULL))
			break;
	}
out_unlock:
	mmap_read_unlock(mm);
}

static void cowrl_precopy_fn(struct callback_head *cb)
{
	struct cowrl_work *w = container_of(cb, struct cowrl_work, cb);
	struct mm_struct *mm = current->mm;
	u64 t0 = ktime_get_ns();

	cnt_inc(CNT_WORKS);
	/* Work left over at exit runs after exit_mm(): nothing to copy then. */
	if (mm && !(current->flags & PF_EXITING) &&
	    !cowrl_active_enter(COWRL_REC_PRECOPY)) {
		cowrl_precopy_window(mm, (unsigned long)w->rec.addr, w->rec.degree, w->limit);
		w->rec.precopied = cowrl_active_leave();
	} else {
		cnt_inc(CNT_WORK_FAILED);
	}
	w->rec.work_ns = ktime_get_ns() - t0;
	cowrl_emit(&w->rec);
	kfree(w);
	atomic64_dec(&cowrl_pending);
	module_put(THIS_MODULE);
}

static struct kretprobe cowrl_kretprobe = {
	.handler = cowrl_return,
	.entry_handler = cowrl_entry,
	.data_size = sizeof(struct cowrl_probe_data),
	.maxactive = 64,
};

static long cowrl_manual_cow(struct cowrl_manual_cow __user *uarg)
{
	struct mm_struct *mm = current->mm;
	struct cowrl_manual_cow mc;
	unsigned long a, start, end;
	long ret = 0;

	if (copy_from_user(&mc, uarg, sizeof(mc)))
		return -EFAULT;
	if (mc.flags || mc.reserved)
		return -EINVAL;
	if (check_add_overflow(mc.addr, mc.len, &mc.pages) || mc.pages > TASK_SIZE)
		return -EINVAL;
	mc.pages = 0;
	if (!mm)
		return -EFAULT;
	start = mc.addr & PAGE_MASK;
	end = PAGE_ALIGN(mc.addr + mc.len);

	ret = cowrl_active_enter(COWRL_REC_MANUAL);
	if (ret)
		return ret;
	mmap_read_lock(mm);
	for (a = start; a < end; a += PAGE_SIZE) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		ret = fixup_user_fault(mm, a, FAULT_FLAG_WRITE, NULL);
		if (ret)
			break;
		mc.pages++;
	}
	mmap_read_unlock(mm);
	cowrl_active_leave();

	if (copy_to_user(uarg, &mc, sizeof(mc)))
		return -EFAULT;
	return ret;
}

/*
 * Watch tg.pid in its range with a fresh decision state.  The state is
 * allocated here, outside the lock; a re-register replaces (and frees) the
 * target's old state, which is how its state is reset.
 */
static long cowrl_register(const struct cowrl_target __user *uarg)
{
	struct cowrl_policy_state *st, *old = NULL;
	struct cowrl_target tg;
	unsigned long flags;
	u64 end;
	int i;
	long ret = -ENOSPC;

	if (copy_from_user(&tg, uarg, sizeof(tg)))
		return -EFAULT;
	if (tg.pid <= 0 || !tg.len || (tg.flags & ~COWRL_TARGET_CHILDREN) ||
	    check_add_overflow(tg.start, tg.len, &end))
		return -EINVAL;

	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	cowrl_policy_reset(st);

	spin_lock_irqsave(&cowrl_lock, flags);
	for (i = 0; i < cowrl_ntargets; i++)
		if (cowrl_targets[i].pid == tg.pid)
			break;
	if (i < COWRL_MAX_TARGETS) {
		old = cowrl_states[i];	/* NULL for a new target */
		cowrl_targets[i] = tg;
		cowrl_states[i] = st;
		st = NULL;
		if (i == cowrl_ntargets)
			WRITE_ONCE(cowrl_ntargets, cowrl_ntargets + 1);
		ret = 0;
	}
	spin_unlock_irqrestore(&cowrl_lock, flags);
	kfree(old);
	kfree(st);	/* -ENOSPC: not installed */
	return ret;
}

/* Stop watching tg.pid (0 = all); the last target moves, with its state, into the hole. */
static long cowrl_unregister(const struct cowrl_target __user *uarg)
{
	struct cowrl_policy_state *gone[COWRL_MAX_TARGETS];
	struct cowrl_target tg;
	unsigned long flags;
	int i, last, n = 0;
	long ret = -ENOENT;

	if (copy_from_user(&tg, uarg, sizeof(tg)))
		return -EFAULT;
	spin_lock_irqsave(&cowrl_lock, flags);
	for (i = cowrl_ntargets - 1; i >= 0; i--) {
		if (tg.pid && cowrl_targets[i].pid != tg.pid)
			continue;
		last = cowrl_ntargets - 1;
		gone[n++] = cowrl_states[i];
		cowrl_targets[i] = cowrl_targets[last];
		cowrl_states[i] = cowrl_states[last];
		cowrl_states[last] = NULL;
		WRITE_ONCE(cowrl_ntargets, last);
		ret = 0;
	}
	spin_unlock_irqrestore(&cowrl_lock, flags);
	while (n)
		kfree(gone[--n]);
	return tg.pid ? ret : 0;
}

/* Reset every registered target's decision state.  Called under cowrl_lock. */
static void cowrl_states_reset(void)
{
	int i;

	for (i = 0; i < COWRL_MAX_TARGETS; i++)
		if (cowrl_states[i])
			cowrl_policy_reset(cowrl_states[i]);
}

static long cowrl_set_policy(const struct cowrl_policy __user *uarg)
{
	struct cowrl_policy_table tb;
	struct cowrl_policy p;
	unsigned long flags;

	if (copy_from_user(&p, uarg, sizeof(p)))
		return -EFAULT;
	if (p.mode > COWRL_POLICY_TABLE)
		return -EINVAL;
	if (p.mode == COWRL_POLICY_TABLE) {
		if (p.table_len != 1 || p.entry_size != sizeof(tb))
			return -EINVAL;
		if (copy_from_user(&tb, u64_to_user_ptr(p.table_ptr), sizeof(tb)))
			return -EFAULT;
		if (cowrl_policy_check(&tb))
			return -EINVAL;
		p.k = 0;
	} else if (p.k > COWRL_MAX_K) {
		return -EINVAL;
	}
	spin_lock_irqsave(&cowrl_lock, flags);
	if (p.mode == COWRL_POLICY_TABLE)
		cowrl_table = tb;
	cowrl_states_reset();
	WRITE_ONCE(cowrl_policy.k, p.k);
	WRITE_ONCE(cowrl_policy.mode, p.mode);
	spin_unlock_irqrestore(&cowrl_lock, flags);
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
		.nmissed = READ_ONCE(cowrl_kretprobe.nmissed),
		.pending_work = atomic64_read(&cowrl_pending),
		.out_of_scope = atomic64_read(&cowrl_cnt[CNT_OUT_OF_SCOPE]),
		.decisions = atomic64_read(&cowrl_cnt[CNT_DECISIONS]),
		.decide_ns = atomic64_read(&cowrl_cnt[CNT_DECIDE_NS]),
		.decide_clock_ns = atomic64_read(&cowrl_cnt[CNT_DECIDE_CLOCK_NS]),
	};

	return copy_to_user(uarg, &c, sizeof(c)) ? -EFAULT : 0;
}

static void cowrl_reset(void)
{
	unsigned long flags;
	int i;

	for (i = 0; i < CNT_MAX; i++)
		atomic64_set(&cowrl_cnt[i], 0);
	WRITE_ONCE(cowrl_kretprobe.nmissed, 0);
	spin_lock_irqsave(&cowrl_lock, flags);
	cowrl_states_reset();
	spin_unlock_irqrestore(&cowrl_lock, flags);
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
		return cowrl_get_counters(uarg);
	case COWRL_IOC_MANUAL_COW:
		return cowrl_manual_cow(uarg);
	case COWRL_IOC_REGISTER:
	case COWRL_IOC_UNREGISTER:
	case COWRL_IOC_SET_POLICY:
	case COWRL_IOC_RESET:
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		break;
	default:
		return -ENOTTY;
	}

	switch (cmd) {
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

/* Drain whole records, oldest first; returns 0 when the ring is empty. */
static ssize_t cowrl_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct cowrl_record *chunk;
	unsigned long flags;
	size_t done = 0;
	u32 n, i;

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
	}
	kfree(chunk);
	return done;
}

static const struct file_operations cowrl_fops = {
	.owner = THIS_MODULE,
	.read = cowrl_read,
	.unlocked_ioctl = cowrl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice cowrl_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = COWRL_DEVICE_NAME,
	.fops = &cowrl_fops,
	.mode = 0666,
};

static int __init cowrl_init(void)
{
	int ret;

	if (!ring_records)
		return -EINVAL;
	ring = vmalloc(array_size(ring_records, sizeof(*ring)));
	if (!ring)
		return -ENOMEM;

	cowrl_kretprobe.kp.symbol_name = symbol;
	ret = register_kretprobe(&cowrl_kretprobe);
	if (ret) {
		pr_err("cannot probe %s (%d): this kernel has no such probeable function\n",
		       symbol, ret);
		goto err_free_ring;
	}

	ret = misc_register(&cowrl_misc);
	if (ret) {
		pr_err("cannot register /dev/%s (%d)\n", COWRL_DEVICE_NAME, ret);
		goto err_unregister_probe;
	}
	pr_info("probing %s, ABI %d, ring of %u records, decision state %zu bytes + %zu per target\n",
		symbol, COWRL_ABI_VERSION, ring_records, sizeof(cowrl_states) + sizeof(cowrl_table),
		sizeof(struct cowrl_policy_state));
	return 0;

err_unregister_probe:
	unregister_kretprobe(&cowrl_kretprobe);
err_free_ring:
	vfree(ring);
	return ret;
}

static void __exit cowrl_exit(void)
{
	int i;

	misc_deregister(&cowrl_misc);
	unregister_kretprobe(&cowrl_kretprobe);
	/*
	 * No handler runs any more, no ioctl is in flight (an open /dev/cowrl
	 * pins the module) and no precopy work is pending (each pins it too, and
	 * none touches a state): targets left registered are freed here.
	 */
	WARN_ON(atomic64_read(&cowrl_pending));
	for (i = 0; i < COWRL_MAX_TARGETS; i++)
		kfree(cowrl_states[i]);
	vfree(ring);
	pr_info("unloaded, kretprobe nmissed %d\n", cowrl_kretprobe.nmissed);
}

module_init(cowrl_init);
module_exit(cowrl_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("COW fault observer and precopy policy hook");
MODULE_VERSION("2");
