// SPDX-License-Identifier: GPL-2.0
/*
 * cowrl_stress - stress and fuzz the cowrl module inside the guest (root).
 *
 * Usage: cowrl_stress TEST [--scale N] [--module PATH]
 * TEST is one of storm, thp, race, cowrace, reload, forktree, pidreuse, fuzz, sibling (and
 * the others main() lists).  Each prints one JSON object on stdout: its counts (iterations,
 * threads, calls), "ok" and, when not ok, "why".  Exit status 0 when the test ran (the caller
 * judges "ok"), 2 when it could not run.  --scale multiplies iterations
 * (CI runs 1; experiments/stress_kernel.py runs the long settings).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../cowrl_uapi.h"
#include "../cowrl_guarded.h"
#include "cowrl_region.h"

#define PAGE 4096UL
#define HUGE (2UL << 20)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#define SEC 1000000000ULL

static int scale = 1;
static const char *module_path;
static char why[512];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	if (why[0])
		return;	/* keep the first reason */
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
}

static void die(const char *what)
{
	printf("{\"ok\": false, \"why\": \"%s: %s\"}\n", what, strerror(errno));
	exit(2);
}

static int dev_open(void)
{
	int fd = open("/dev/" COWRL_DEVICE_NAME, O_RDWR);

	if (fd < 0)
		die("open /dev/cowrl");
	return fd;
}

static void counters(int fd, struct cowrl_counters *c)
{
	if (ioctl(fd, COWRL_IOC_COUNTERS, c))
		die("COWRL_IOC_COUNTERS");
}

static int set_static(int fd, unsigned int k)
{
	struct cowrl_policy p = { .mode = k ? COWRL_POLICY_STATIC : COWRL_POLICY_OFF, .k = k };

	return ioctl(fd, COWRL_IOC_SET_POLICY, &p);
}

/*
 * GUARDED with interior proofs: fill @tb with a table that wants degree @k at every fault
 * and can always afford it (every cost 0), so every demand fault precopies and every copy
 * is cleaned (or restored).
 */
static void guarded_span_table(struct cowrl_guarded_table *tb, unsigned int k, int proof,
			       int reads, int ttl, int backoff, int look, int span, int skipmap,
			       int duemap)
{
	memset(tb, 0, sizeof(*tb));
	tb->version = COWRL_GUARDED_VERSION;
	tb->n_cells = COWRL_GUARDED_CELLS;
	tb->slots = 1;
	tb->near = 1;
	tb->n_degrees = 1;
	tb->degrees[0] = (cp_u16)k;
	for (int i = 0; i < COWRL_GUARDED_CELLS; i++)
		tb->k[i] = (cp_u16)k;
	tb->hit_scale = 1;
	tb->proof = (cp_u16)proof;
	tb->proof_reads = (cp_u16)reads;
	tb->proof_ttl = (cp_u16)ttl;
	tb->proof_backoff = (cp_u16)backoff;
	tb->proof_look = (cp_u16)look;
	tb->proof_span = (cp_u16)span;
	tb->proof_skipmap = (cp_u16)skipmap;
	tb->proof_duemap = (cp_u16)duemap;
}

/* SET_POLICY guarded_span_table(@k, ...): 0, or the ioctl's errno. */
static int set_guarded_span(int fd, unsigned int k, int proof, int reads, int ttl, int backoff,
			    int look, int span, int skipmap, int duemap)
{
	static struct cowrl_guarded_table tb;
	struct cowrl_policy p = { .mode = COWRL_POLICY_GUARDED, .table_len = 1,
				  .entry_size = sizeof(tb), .table_ptr = (uintptr_t)&tb };

	guarded_span_table(&tb, k, proof, reads, ttl, backoff, look, span, skipmap, duemap);
	return ioctl(fd, COWRL_IOC_SET_POLICY, &p) ? errno : 0;
}

static int set_guarded_bo(int fd, unsigned int k, int proof, int reads, int ttl, int backoff)
{
	return set_guarded_span(fd, k, proof, reads, ttl, backoff, 0, 0, 0, 0);
}

static int set_guarded_ttl(int fd, unsigned int k, int proof, int reads, int ttl)
{
	return set_guarded_bo(fd, k, proof, reads, ttl, 0);
}

static int set_guarded_reads(int fd, unsigned int k, int proof, int reads)
{
	return set_guarded_ttl(fd, k, proof, reads, 0);
}

static int set_guarded(int fd, unsigned int k, int proof)
{
	return set_guarded_reads(fd, k, proof, proof ? COWRL_GUARDED_MAX_PROOF_READS : 0);
}

static int set_guarded_proof(int fd, unsigned int k)
{
	return set_guarded(fd, k, 1);
}

static int proof_mode;	/* raceproof: the race test under set_guarded_proof(64) */

static int reg(int fd, pid_t pid, uint32_t flags, void *start, size_t len)
{
	struct cowrl_target t = { .pid = pid, .flags = flags, .start = (uintptr_t)start,
				  .len = len };

	return ioctl(fd, COWRL_IOC_REGISTER, &t) ? errno : 0;
}

static void unreg_all(int fd)
{
	struct cowrl_target t = { 0 };

	ioctl(fd, COWRL_IOC_UNREGISTER, &t);
	set_static(fd, 0);
}

static uint64_t pattern(uint64_t page, uint64_t word)
{
	return (page << 20) ^ word ^ 0x9e3779b97f4a7c15ULL;
}

static uint8_t *map_region(size_t len, int huge)
{
	uint8_t *base = mmap(NULL, len + 2 * HUGE, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *r;

	if (base == MAP_FAILED)
		die("mmap");
	r = (uint8_t *)(((uintptr_t)base + HUGE) & ~(HUGE - 1));
	if (mprotect(r, len, PROT_READ | PROT_WRITE))
		die("mprotect");
	madvise(r, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return r;
}

static void fill(uint8_t *r, long pages)
{
	for (long p = 0; p < pages; p++) {
		uint64_t *w = (uint64_t *)(r + p * PAGE);

		for (unsigned long j = 0; j < PAGE / 8; j++)
			w[j] = pattern(p, j);
	}
}

/* Pages [first, first + n) of a filled region whose contents differ from the fill. */
static long bad_range(const uint8_t *r, long first, long n)
{
	long bad = 0;

	for (long p = first; p < first + n; p++) {
		const uint64_t *w = (const uint64_t *)(r + p * PAGE);

		for (unsigned long j = 0; j < PAGE / 8; j++) {
			if (w[j] != pattern(p, j)) {
				bad++;
				break;
			}
		}
	}
	return bad;
}

static long bad_pages(const uint8_t *r, long pages)
{
	return bad_range(r, 0, pages);
}

/* A pipe-based gate: the holder waits until the writer is done. */
struct gate { int fd[2]; };

static void gate_init(struct gate *g)
{
	if (pipe(g->fd))
		die("pipe");
}

static void gate_open(struct gate *g)
{
	if (write(g->fd[1], "g", 1) != 1)
		die("gate");
}

static void gate_wait(struct gate *g)
{
	char c;

	if (read(g->fd[0], &c, 1) != 1)
		die("gate");
}

static int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) < 0)
		die("waitpid");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- storm: kernel-mode faults into a watched COW region, k = 512 ---- */
static int test_storm(void)
{
	long pages = 4096L * scale;
	size_t len = pages * PAGE, chunk = 1024 * PAGE;
	uint8_t *r = map_region(len, 0);
	struct cowrl_counters c0, c1, c2;
	uint64_t max_ns = 0, t;
	long calls = 0;
	int fd = dev_open(), zfd, st, res[2];
	pid_t pid;

	fill(r, pages);
	if (pipe(res))
		die("pipe");
	ioctl(fd, COWRL_IOC_RESET);
	if (set_static(fd, COWRL_MAX_K) || reg(fd, getpid(), COWRL_TARGET_CHILDREN, r, len))
		die("setup");
	pid = fork();
	if (pid == 0) {
		/* Half by MADV_POPULATE_WRITE, half by read() into the buffer: no user faults. */
		uint64_t out[2] = { 0, 0 };

		zfd = open("/dev/zero", O_RDONLY);
		for (size_t off = 0; off < len; off += chunk) {
			t = now_ns();
			if (off < len / 2 ? madvise(r + off, chunk, MADV_POPULATE_WRITE) != 0 :
			    read(zfd, r + off, chunk) != (ssize_t)chunk)
				_exit(3);
			t = now_ns() - t;
			out[0] = t > out[0] ? t : out[0];
			out[1]++;
		}
		if (write(res[1], out, sizeof(out)) != sizeof(out))
			_exit(4);
		_exit(0);
	}
	st = wait_child(pid);
	{
		uint64_t out[2] = { 0, 0 };

		if (read(res[0], out, sizeof(out)) != sizeof(out))
			fail("no result from the storm child");
		max_ns = out[0];
		calls = (long)out[1];
	}
	counters(fd, &c0);
	/* Then user-mode writes in a second child: each queues at most one work. */
	pid = fork();
	if (pid == 0) {
		for (long p = 0; p < pages; p += 64)
			r[p * PAGE] ^= 0xff;
		_exit(0);
	}
	st |= wait_child(pid);
	counters(fd, &c1);
	unreg_all(fd);
	counters(fd, &c2);
	if (max_ns > SEC)
		fail("a populate/read syscall took %.3f s", max_ns / 1e9);
	if (st)
		fail("child status %d", st);
	if (c0.demand_faults || c0.precopy_works)
		fail("kernel-mode faults counted as demand (%llu) or queued work (%llu)",
		     (unsigned long long)c0.demand_faults, (unsigned long long)c0.precopy_works);
	if (c0.kernel_copies < (uint64_t)pages / 2)
		fail("kernel copies %llu < %ld", (unsigned long long)c0.kernel_copies, pages / 2);
	if (c1.max_pending > 1)
		fail("max pending work %llu > 1 (one writer)", (unsigned long long)c1.max_pending);
	if (c1.demand_faults - c0.demand_faults == 0 || c1.precopy_copies == 0)
		fail("user-mode writes made no demand faults or precopy");
	if (c2.pending_work || c2.targets)
		fail("left %llu pending works, %llu targets", (unsigned long long)c2.pending_work,
		     (unsigned long long)c2.targets);
	printf("{\"test\": \"storm\", \"pages\": %ld, \"syscalls\": %ld, \"max_syscall_ms\": %.3f, "
	       "\"kernel_copies\": %llu, "
	       "\"demand_faults\": %llu, \"precopy_copies\": %llu, \"precopy_works\": %llu, "
	       "\"max_pending\": %llu, \"throttled\": %llu, \"ok\": %s, \"why\": \"%s\"}\n",
	       pages, calls, max_ns / 1e6, (unsigned long long)c0.kernel_copies,
	       (unsigned long long)c1.demand_faults, (unsigned long long)c1.precopy_copies,
	       (unsigned long long)c1.precopy_works, (unsigned long long)c1.max_pending,
	       (unsigned long long)c1.throttled, why[0] ? "false" : "true", why);
	close(fd);
	return 0;
}

/* ---- thp: a THP-backed watched region with k = 512 ---- */
static int test_thp(void)
{
	long pages = 2048L * scale;	/* 8 MiB: four huge pages per scale */
	size_t len = pages * PAGE;
	uint8_t *r = map_region(len, 1);
	struct cowrl_counters c;
	struct gate g;
	long huge_kb, bad_child = -1, bad_parent;
	int fd = dev_open(), st, pfd[2];
	pid_t pid;

	fill(r, pages);
	huge_kb = anon_huge_kb((uintptr_t)r);
	ioctl(fd, COWRL_IOC_RESET);
	if (set_static(fd, COWRL_MAX_K) || reg(fd, getpid(), COWRL_TARGET_CHILDREN, r, len))
		die("setup");
	gate_init(&g);
	if (pipe(pfd))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		long bad = 0;

		for (long p = 0; p < pages; p += 37)
			r[p * PAGE] ^= 0xff;
		for (long p = 0; p < pages; p += 37)
			r[p * PAGE] ^= 0xff;	/* back to the pattern */
		bad = bad_pages(r, pages);
		if (write(pfd[1], &bad, sizeof(bad)) != sizeof(bad))
			_exit(3);
		_exit(0);
	}
	st = wait_child(pid);
	if (read(pfd[0], &bad_child, sizeof(bad_child)) != sizeof(bad_child))
		fail("no result from the writer");
	bad_parent = bad_pages(r, pages);
	counters(fd, &c);
	unreg_all(fd);
	if (st)
		fail("child status %d", st);
	if (huge_kb <= 0)
		fail("the region was not THP-backed (AnonHugePages %ld kB)", huge_kb);
	if (bad_child || bad_parent)
		fail("checksums: writer %ld, holder %ld bad pages", bad_child, bad_parent);
	if (!c.demand_faults)
		fail("no demand faults");
	printf("{\"test\": \"thp\", \"pages\": %ld, \"anon_huge_kb\": %ld, \"demand_faults\": %llu, "
	       "\"precopy_copies\": %llu, \"precopy_skipped\": %llu, \"ok\": %s, \"why\": \"%s\"}\n",
	       pages, huge_kb, (unsigned long long)c.demand_faults,
	       (unsigned long long)c.precopy_copies, (unsigned long long)c.precopy_skipped,
	       why[0] ? "false" : "true", why);
	close(fd);
	return 0;
}

/* ---- race: munmap/mmap/mprotect/DONTNEED/FREE racing precopy ---- */
#define RACE_PAGES 1024L
#define FILE_FIRST 512L		/* pages [512, 576) map a shared file the whole time */
#define FILE_PAGES 64L
#define CHUNK 32L

static uint8_t *race_r;
static int race_memfd, race_memfd2;
static volatile int race_stop;
static long race_ops[5];
static long race_writes, race_segv;
static __thread sigjmp_buf race_jb;

static void race_segv_handler(int sig)
{
	(void)sig;
	siglongjmp(race_jb, 1);
}

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *race_writer(void *arg)
{
	uint64_t s = (uintptr_t)arg * 2654435761U + 1;
	long w = 0, segv = 0;

	while (!race_stop) {
		long p = xs(&s) % RACE_PAGES;

		if (p >= FILE_FIRST && p < FILE_FIRST + FILE_PAGES)
			continue;	/* never write the shared file chunk */
		if (sigsetjmp(race_jb, 1)) {
			segv++;
			continue;
		}
		((volatile uint8_t *)race_r)[p * PAGE + 8] = (uint8_t)w;
		w++;
	}
	__atomic_add_fetch(&race_writes, w, __ATOMIC_RELAXED);
	__atomic_add_fetch(&race_segv, segv, __ATOMIC_RELAXED);
	return NULL;
}

static void *race_racer(void *arg)
{
	uint64_t s = (uintptr_t)arg * 40503U + 7;

	while (!race_stop) {
		long c = xs(&s) % (RACE_PAGES / CHUNK), op = xs(&s) % 5;
		uint8_t *a = race_r + c * CHUNK * PAGE;

		if (c * CHUNK >= FILE_FIRST && c * CHUNK < FILE_FIRST + FILE_PAGES)
			continue;
		switch (op) {
		case 0:	/* replace by fresh anonymous memory */
			mmap(a, CHUNK * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			break;
		case 1:	/* replace by a read-only shared file mapping, then back */
			mmap(a, CHUNK * PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, race_memfd2, 0);
			usleep(100);
			mmap(a, CHUNK * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			break;
		case 2:
			mprotect(a, CHUNK * PAGE, PROT_READ);
			usleep(50);
			mprotect(a, CHUNK * PAGE, PROT_READ | PROT_WRITE);
			break;
		case 3:
			madvise(a, CHUNK * PAGE, MADV_DONTNEED);
			break;
		default:
			madvise(a, CHUNK * PAGE, MADV_FREE);
			break;
		}
		__atomic_add_fetch(&race_ops[op], 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Pages of [a, a + n pages) whose pagemap entry has every bit of @bits set. */
static long pagemap_count(const uint8_t *a, long n, uint64_t bits)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	long count = 0;

	for (long i = 0; i < n; i++) {
		uint64_t e = 0;

		if (pread(fd, &e, 8, ((uintptr_t)a / PAGE + i) * 8) != 8)
			die("pagemap");
		count += (e & bits) == bits;
	}
	close(fd);
	return count;
}
#define PM_PRESENT (1ULL << 63)
#define PM_EXCLUSIVE (1ULL << 56)	/* mapped by this process only */

static int test_race(void)
{
	size_t len = RACE_PAGES * PAGE;
	double secs = 3.0 * scale;
	uint8_t *r = map_region(len, 0), filebuf[PAGE];
	struct cowrl_counters c;
	long bad_parent, file_bad = 0, file_present = -1;
	int fd = dev_open(), st, res[2];
	pid_t pid;

	race_r = r;
	fill(r, RACE_PAGES);
	race_memfd = memfd_create("cowrl-race", 0);
	race_memfd2 = memfd_create("cowrl-race2", 0);
	for (long i = 0; i < FILE_PAGES; i++) {
		memset(filebuf, 0x5a, sizeof(filebuf));
		if (write(race_memfd, filebuf, PAGE) != PAGE || write(race_memfd2, filebuf, PAGE) != PAGE)
			die("memfd");
	}
	if (mmap(r + FILE_FIRST * PAGE, FILE_PAGES * PAGE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, race_memfd, 0) == MAP_FAILED)
		die("mmap file");
	ioctl(fd, COWRL_IOC_RESET);
	if ((proof_mode ? set_guarded_proof(fd, 64) : set_static(fd, 64)) ||
	    reg(fd, getpid(), COWRL_TARGET_CHILDREN, r, len))
		die("setup");
	if (pipe(res))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		pthread_t th[5];
		struct sigaction sa = { .sa_handler = race_segv_handler, .sa_flags = SA_NODEFER };
		long out[9];

		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		for (long i = 0; i < 3; i++)
			pthread_create(&th[i], NULL, race_writer, (void *)(i + 1));
		for (long i = 3; i < 5; i++)
			pthread_create(&th[i], NULL, race_racer, (void *)(i + 1));
		/* At least secs, and until 200 * scale racing operations happened (slow
		 * kernels under TCG do few per second), but at most 10 * secs. */
		uint64_t t0 = now_ns();

		for (;;) {
			long ops = 0;
			double el;

			usleep(100000);
			for (int i = 0; i < 5; i++)
				ops += __atomic_load_n(&race_ops[i], __ATOMIC_RELAXED);
			el = (now_ns() - t0) / 1e9;
			if ((el >= secs && ops >= 200 * scale) || el >= 10 * secs)
				break;
		}
		race_stop = 1;
		for (int i = 0; i < 5; i++)
			pthread_join(th[i], NULL);
		out[0] = race_writes;
		out[1] = race_segv;
		for (int i = 0; i < 5; i++)
			out[2 + i] = race_ops[i];
		out[7] = pagemap_count(r + FILE_FIRST * PAGE, FILE_PAGES, PM_PRESENT);
		out[8] = (long)((now_ns() - t0) / 1000000);
		if (write(res[1], out, sizeof(out)) != sizeof(out))
			_exit(3);
		_exit(0);
	}
	st = wait_child(pid);
	{
		long out[9] = { 0 };

		if (read(res[0], out, sizeof(out)) != sizeof(out))
			fail("no result from the racing child");
		race_writes = out[0];
		race_segv = out[1];
		memcpy(race_ops, &out[2], sizeof(race_ops));
		file_present = out[7];
		secs = out[8] / 1e3;
	}
	bad_parent = bad_range(r, 0, FILE_FIRST) +
		     bad_range(r, FILE_FIRST + FILE_PAGES, RACE_PAGES - FILE_FIRST - FILE_PAGES);
	for (long i = 0; i < FILE_PAGES; i++) {
		if (pread(race_memfd, filebuf, PAGE, i * PAGE) != PAGE)
			die("pread");
		for (unsigned long j = 0; j < PAGE; j++)
			if (filebuf[j] != 0x5a) {
				file_bad++;
				break;
			}
	}
	counters(fd, &c);
	unreg_all(fd);
	if (st)
		fail("child status %d", st);
	if (bad_parent)
		fail("the holder's snapshot changed (%ld bad pages)", bad_parent);
	if (file_bad)
		fail("the shared file changed (%ld pages)", file_bad);
	if (file_present)
		fail("%ld shared file pages were faulted in (nobody touched them)", file_present);
	if (!c.precopy_copies)
		fail("no precopy happened: the race was not exercised");
	if (proof_mode && !(c.proof_clean + c.proof_lost))
		fail("no copy was cleaned or restored: the interior proof was not exercised");
	printf("{\"test\": \"%s\", \"proof_clean\": %llu, \"proof_lost\": %llu, "
	       "\"proof_credited\": %llu, ", proof_mode ? "raceproof" : "race",
	       (unsigned long long)c.proof_clean, (unsigned long long)c.proof_lost,
	       (unsigned long long)c.proof_credited);
	printf("\"seconds\": %.1f, \"writer_threads\": 3, \"racer_threads\": 2, "
	       "\"writes\": %ld, \"segv\": %ld, \"ops\": {\"remap\": %ld, \"file\": %ld, "
	       "\"mprotect\": %ld, \"dontneed\": %ld, \"free\": %ld}, \"demand_faults\": %llu, "
	       "\"precopy_copies\": %llu, \"precopy_tries\": %llu, \"precopy_nocopy\": %llu, "
	       "\"precopy_skipped\": %llu, \"ok\": %s, \"why\": \"%s\"}\n",
	       secs, race_writes, race_segv, race_ops[0], race_ops[1], race_ops[2], race_ops[3],
	       race_ops[4], (unsigned long long)c.demand_faults,
	       (unsigned long long)c.precopy_copies, (unsigned long long)c.precopy_tries,
	       (unsigned long long)c.precopy_nocopy, (unsigned long long)c.precopy_skipped,
	       why[0] ? "false" : "true", why);
	close(fd);
	return 0;
}

/*
 * ---- cowrace: threads of one process race to copy the same shared pages ----
 * Each page is copied once in the writer (the winner installs it); a thread
 * that copied too and lost the pte_same race made no copy.  6.1's
 * wp_page_copy() says so (no VM_FAULT_WRITE) and the module ignores it: demand
 * faults == copies.  6.12 removed that flag and inlines the copy into
 * do_wp_page(): after the call the loser's PTE maps the winner's new page,
 * writable, exactly as the winner's does, so the module counts it: demand
 * faults == copies + lost races there (docs/kernel.md).
 */
#define COWRACE_THREADS 4
static uint8_t *cowrace_r;
static long cowrace_pages;
static pthread_barrier_t cowrace_bar;

static void *cowrace_writer(void *arg)
{
	long t = (long)arg;

	pthread_barrier_wait(&cowrace_bar);
	for (long p = 0; p < cowrace_pages; p++)
		((volatile uint8_t *)cowrace_r)[p * PAGE + 8 * t] = (uint8_t)(t + 1);
	return NULL;
}

static int test_cowrace(void)
{
	long rounds = 4L * scale, copies = 0, faults = 0, ignored = 0;
	int fd = dev_open(), old61;
	struct utsname u;
	uint64_t t0 = now_ns();

	cowrace_pages = 256;
	uname(&u);
	old61 = !strncmp(u.release, "6.1.", 4);
	for (long round = 0; round < rounds; round++) {
		size_t len = cowrace_pages * PAGE;
		uint8_t *r = map_region(len, 0);
		pthread_t th[COWRACE_THREADS];
		struct cowrl_counters c;
		int go[2], st;
		pid_t holder;
		char b;

		cowrace_r = r;
		fill(r, cowrace_pages);
		if (pipe(go))
			die("pipe");
		holder = fork();	/* keeps every page shared until the count is taken */
		if (holder == 0) {
			close(go[1]);
			if (read(go[0], &b, 1) < 0)
				_exit(1);
			_exit(0);
		}
		close(go[0]);
		ioctl(fd, COWRL_IOC_RESET);
		if (set_static(fd, 0) || reg(fd, getpid(), 0, r, len))
			die("setup");
		pthread_barrier_init(&cowrace_bar, NULL, COWRACE_THREADS);
		for (long t = 0; t < COWRACE_THREADS; t++)
			pthread_create(&th[t], NULL, cowrace_writer, (void *)t);
		for (long t = 0; t < COWRACE_THREADS; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&cowrace_bar);
		counters(fd, &c);
		copies += pagemap_count(r, cowrace_pages, PM_PRESENT | PM_EXCLUSIVE);
		faults += c.demand_faults;
		ignored += c.ignored;
		unreg_all(fd);
		close(go[1]);
		waitpid(holder, &st, 0);
		munmap(r, len);
	}
	close(fd);
	if (copies != rounds * cowrace_pages)
		fail("%ld of %ld pages copied", copies, rounds * cowrace_pages);
	else if (old61 && faults != copies)
		fail("6.1: %ld demand faults for %ld copies", faults, copies);
	else if (faults < copies || faults > COWRACE_THREADS * copies)
		fail("%ld demand faults for %ld copies", faults, copies);
	printf("{\"test\": \"cowrace\", \"threads\": %d, \"pages\": %ld, \"copies\": %ld, "
	       "\"demand_faults\": %ld, \"counted_lost_races\": %ld, \"ignored\": %ld, "
	       "\"seconds\": %.2f, \"ok\": %s, \"why\": \"%s\"}\n", COWRACE_THREADS,
	       rounds * cowrace_pages, copies, faults, faults - copies, ignored,
	       (now_ns() - t0) / 1e9, why[0] ? "false" : "true", why);
	return 0;
}

/* ---- reload: rmmod/insmod every few ms under 16 writer threads ---- */
#define RELOAD_THREADS 16
#define RELOAD_PAGES 256L
static volatile int *reload_stop;

static void *reload_writer(void *arg)
{
	uint8_t *r = arg;
	long n = 0;

	while (!*reload_stop) {
		for (long p = 0; p < RELOAD_PAGES && !*reload_stop; p += 3)
			((volatile uint8_t *)r)[p * PAGE + (n % 64)] = (uint8_t)n;
		n++;
	}
	return NULL;
}

static int finit(const char *path, const char *params)
{
	int mfd = open(path, O_RDONLY), ret;

	if (mfd < 0)
		return errno;
	ret = syscall(SYS_finit_module, mfd, params, 0) ? errno : 0;
	close(mfd);
	return ret;
}

static int test_reload(void)
{
	int cycles = 5 * scale, done = 0, busy = 0, load_err = 0;
	size_t len = RELOAD_PAGES * PAGE;
	uint8_t *r = map_region(len, 0);
	volatile int *stop = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				  -1, 0);
	uint64_t t0 = now_ns();
	pid_t pid;
	int st;

	if (!module_path)
		die("reload needs --module");
	fill(r, RELOAD_PAGES);
	reload_stop = stop;
	*stop = 0;
	pid = fork();
	if (pid == 0) {
		pthread_t th[RELOAD_THREADS];

		for (int i = 0; i < RELOAD_THREADS; i++)
			pthread_create(&th[i], NULL, reload_writer, r);
		/* Re-share the pages again and again, so the writers keep taking COW faults. */
		while (!*stop) {
			pid_t k = fork();

			if (k == 0) {
				usleep(2000);
				_exit(0);
			}
			if (k > 0)
				waitpid(k, NULL, 0);
		}
		for (int i = 0; i < RELOAD_THREADS; i++)
			pthread_join(th[i], NULL);
		_exit(0);
	}
	syscall(SYS_delete_module, COWRL_DEVICE_NAME, O_NONBLOCK);
	for (int i = 0; i < cycles; i++) {
		int fd, err;

		err = finit(module_path, "");
		if (err) {
			load_err = err;
			break;
		}
		for (int tries = 0; tries < 100; tries++) {
			fd = open("/dev/" COWRL_DEVICE_NAME, O_RDWR);
			if (fd >= 0)
				break;
			usleep(1000);
		}
		if (fd < 0) {
			load_err = errno;
			break;
		}
		set_static(fd, 8);
		reg(fd, pid, COWRL_TARGET_CHILDREN, r, len);
		close(fd);
		usleep(3000);
		for (;;) {	/* pending precopy work pins the module for a moment */
			if (!syscall(SYS_delete_module, COWRL_DEVICE_NAME, O_NONBLOCK))
				break;
			if (errno != EBUSY && errno != EAGAIN) {
				load_err = errno;
				break;
			}
			busy++;
			usleep(1000);
		}
		if (load_err)
			break;
		done++;
	}
	*stop = 1;
	st = wait_child(pid);
	if (load_err)
		fail("cycle %d: %s", done, strerror(load_err));
	if (st)
		fail("writer child status %d", st);
	if (done != cycles)
		fail("%d of %d reload cycles", done, cycles);
	printf("{\"test\": \"reload\", \"cycles\": %d, \"writer_threads\": %d, \"busy_retries\": %d, "
	       "\"seconds\": %.2f, \"ok\": %s, \"why\": \"%s\"}\n", done, RELOAD_THREADS, busy,
	       (now_ns() - t0) / 1e9, why[0] ? "false" : "true", why);
	/* Leave it loaded, as the other tests expect. */
	finit(module_path, "");
	return 0;
}

/* ---- forktree: a watched fork tree of 1000+ processes ---- */
static void tree(uint8_t *r, long pages, int depth, int max_depth)
{
	pid_t kids[2];

	for (int i = 0; i < 4; i++)
		r[((getpid() * 7 + i * 13) % pages) * PAGE] ^= 1;
	if (depth == max_depth)
		return;
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			tree(r, pages, depth + 1, max_depth);
			_exit(0);
		}
	}
	for (int i = 0; i < 2; i++)
		if (kids[i] > 0)
			waitpid(kids[i], NULL, 0);
}

static int test_forktree(void)
{
	long pages = 64;
	int depth = 9 + (scale > 1 ? 2 : 0);	/* 2^(depth+1) - 1 processes */
	long procs = (1L << (depth + 1)) - 1;
	uint8_t *r = map_region(pages * PAGE, 0);
	struct cowrl_counters c, c2;
	struct cowrl_record *recs;
	size_t cap = 1 << 18;	/* records: the module's default ring size */
	ssize_t got;
	long n, distinct = 0, foreign = 0;
	int fd = dev_open();
	pid_t me = getpid(), pid;
	uint64_t t0 = now_ns();
	char *seen;

	fill(r, pages);
	ioctl(fd, COWRL_IOC_RESET);
	if (set_static(fd, 4) || reg(fd, me, COWRL_TARGET_CHILDREN, r, pages * PAGE))
		die("setup");
	pid = fork();
	if (pid == 0) {
		tree(r, pages, 0, depth);
		_exit(0);
	}
	wait_child(pid);
	counters(fd, &c);
	recs = malloc(cap * sizeof(*recs));
	seen = calloc(1 << 22, 1);
	n = 0;
	while ((size_t)n < cap && (got = read(fd, recs + n, (cap - n) * sizeof(*recs))) > 0)
		n += got / (ssize_t)sizeof(*recs);
	for (long i = 0; i < n; i++) {
		int p = recs[i].pid;

		if (p <= 0 || p >= (1 << 22) || recs[i].addr < (uintptr_t)r ||
		    recs[i].addr >= (uintptr_t)r + pages * PAGE) {
			foreign++;
			continue;
		}
		if (!seen[p]++)
			distinct++;
	}
	unreg_all(fd);
	counters(fd, &c2);
	if (distinct < procs * 9 / 10)
		fail("records from %ld processes of %ld", distinct, procs);
	if (foreign)
		fail("%ld records outside the tree's region", foreign);
	if (c2.targets || c2.pending_work)
		fail("left %llu targets, %llu pending", (unsigned long long)c2.targets,
		     (unsigned long long)c2.pending_work);
	printf("{\"test\": \"forktree\", \"processes\": %ld, \"depth\": %d, \"pids_seen\": %ld, "
	       "\"records\": %ld, \"demand_faults\": %llu, \"precopy_copies\": %llu, "
	       "\"dropped\": %llu, \"seconds\": %.2f, \"ok\": %s, \"why\": \"%s\"}\n",
	       procs, depth, distinct, n, (unsigned long long)c.demand_faults,
	       (unsigned long long)c.precopy_copies, (unsigned long long)c.dropped,
	       (now_ns() - t0) / 1e9, why[0] ? "false" : "true", why);
	close(fd);
	return 0;
}

/* ---- pidreuse: a reused pid number is never a target, also in a pid namespace ---- */
static int set_last_pid(pid_t last)
{
	int f = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", last), ok;

	if (f < 0)
		return -1;
	ok = write(f, buf, n) == n ? 0 : -1;
	close(f);
	return ok;
}

/* In the current pid namespace: register a child, let it die, reuse its number. */
static void reuse_round(int fd, uint8_t *r, long pages, int *reused, uint64_t *faults_after,
			int *err_dead)
{
	struct cowrl_counters c0, c1;
	struct gate g;
	pid_t x, y;

	gate_init(&g);
	x = fork();
	if (x == 0) {
		gate_wait(&g);
		_exit(0);
	}
	{
		int e = reg(fd, x, 0, r, pages * PAGE);

		if (e)
			fail("register %d: %s", x, strerror(e));
	}
	gate_open(&g);
	wait_child(x);
	*err_dead = reg(fd, x, 0, r, pages * PAGE);	/* a dead pid: ESRCH */
	counters(fd, &c0);
	set_last_pid(x - 1);
	y = fork();
	if (y == 0) {
		for (long p = 0; p < pages; p++)
			r[p * PAGE] ^= 1;
		_exit(0);
	}
	wait_child(y);
	counters(fd, &c1);
	*reused = y == x;
	*faults_after = c1.demand_faults - c0.demand_faults + c1.kernel_copies - c0.kernel_copies;
}

static int test_pidreuse(void)
{
	long pages = 16;
	uint8_t *r = map_region(pages * PAGE, 0);
	int fd = dev_open(), reused = 0, err_dead = 0, st, res[2], err_init;
	uint64_t faults = 1;
	struct cowrl_counters c;
	long ns[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };
	pid_t pid;

	fill(r, pages);
	ioctl(fd, COWRL_IOC_RESET);
	set_static(fd, 2);
	err_init = reg(fd, 1, COWRL_TARGET_CHILDREN, r, pages * PAGE);	/* init: EINVAL */
	reuse_round(fd, r, pages, &reused, &faults, &err_dead);
	counters(fd, &c);

	/* The same inside a new pid namespace (unshare -pf). */
	if (pipe(res))
		die("pipe");
	if (unshare(CLONE_NEWPID))
		die("unshare(CLONE_NEWPID)");
	pid = fork();	/* pid 1 of the new namespace */
	if (pid == 0) {
		int reused2 = 0, dead2 = 0;
		uint64_t faults2 = 1;
		struct cowrl_record rec;
		struct cowrl_counters cc;
		struct gate g;
		pid_t z;
		int fd2 = dev_open();

		ioctl(fd2, COWRL_IOC_RESET);
		ns[0] = getpid();
		ns[1] = reg(fd2, 1, COWRL_TARGET_CHILDREN, r, pages * PAGE);	/* own init: EINVAL */
		/* A child registered by its number in this namespace; its records carry that number. */
		gate_init(&g);
		z = fork();
		if (z == 0) {
			gate_wait(&g);
			r[0] ^= 1;
			_exit(0);
		}
		ns[2] = reg(fd2, z, 0, r, pages * PAGE);
		gate_open(&g);
		wait_child(z);
		ns[3] = read(fd2, &rec, sizeof(rec)) == sizeof(rec) && rec.pid == z;
		ns[4] = z;
		reuse_round(fd2, r, pages, &reused2, &faults2, &dead2);
		ns[5] = reused2;
		ns[6] = (long)faults2;
		counters(fd2, &cc);
		ns[7] = dead2 == ESRCH && !cc.targets;
		if (write(res[1], ns, sizeof(ns)) != sizeof(ns))
			_exit(3);
		_exit(0);
	}
	st = wait_child(pid);
	if (read(res[0], ns, sizeof(ns)) != sizeof(ns))
		fail("no result from the namespace");
	unreg_all(fd);
	if (st)
		fail("namespace child status %d", st);
	if (err_init != EINVAL)
		fail("register 1 with CHILDREN: %s", strerror(err_init));
	if (err_dead != ESRCH)
		fail("register of a dead pid: %s", strerror(err_dead));
	if (!reused)
		fail("could not reuse the pid (ns_last_pid)");
	if (faults)
		fail("the process that reused the pid was watched (%llu copies)",
		     (unsigned long long)faults);
	if (c.targets)
		fail("%llu targets left after the watched process died", (unsigned long long)c.targets);
	if (ns[0] != 1 || ns[1] != EINVAL || ns[2] != 0 || ns[3] != 1 || ns[5] != 1 || ns[6] != 0 ||
	    ns[7] != 1)
		fail("in a pid namespace: init %ld, register init %ld, register child %ld, "
		     "record pid ok %ld, reused %ld, copies after reuse %ld, dead ESRCH+reaped %ld",
		     ns[0], ns[1], ns[2], ns[3], ns[5], ns[6], ns[7]);
	printf("{\"test\": \"pidreuse\", \"reused\": %d, \"copies_after_reuse\": %llu, "
	       "\"ns_reused\": %ld, \"ns_copies_after_reuse\": %ld, \"ns_record_pid_ok\": %ld, "
	       "\"ok\": %s, \"why\": \"%s\"}\n", reused, (unsigned long long)faults, ns[5], ns[6],
	       ns[3], why[0] ? "false" : "true", why);
	close(fd);
	return 0;
}

/* ---- fuzz: every ioctl number, size and pointer kind, unprivileged; manual_cow edges ---- */
static long fuzz_calls, fuzz_bad, fuzz_slow;
static uint64_t fuzz_max_ns;

static int allowed(int err, const int *ok, int n)
{
	for (int i = 0; i < n; i++)
		if (err == ok[i])
			return 1;
	return 0;
}

static void fuzz_one(int fd, unsigned long cmd, void *ptr, const int *ok, int n, int may_succeed)
{
	uint64_t t = now_ns();
	int ret = ioctl(fd, cmd, ptr), err = ret ? errno : 0;

	t = now_ns() - t;
	fuzz_calls++;
	if (t > fuzz_max_ns)
		fuzz_max_ns = t;
	if (t > SEC)
		fuzz_slow++;
	if ((!err && !may_succeed) || (err && !allowed(err, ok, n))) {
		if (!fuzz_bad)
			fail("ioctl 0x%lx ptr %p: %s", cmd, ptr, err ? strerror(err) : "succeeded");
		fuzz_bad++;
	}
}

static void fuzz_ptrs(void **ptrs, int *n)
{
	uint8_t *rw = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *hole = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	memset(rw + 2 * PAGE, 0xff, PAGE);
	munmap(rw + PAGE, PAGE);	/* rw | hole | 0xff page */
	munmap(hole, PAGE);
	*n = 0;
	ptrs[(*n)++] = NULL;
	ptrs[(*n)++] = rw;			/* zeroed */
	ptrs[(*n)++] = rw + 2 * PAGE;		/* all 0xff */
	ptrs[(*n)++] = rw + 1;			/* misaligned */
	ptrs[(*n)++] = rw + PAGE - 8;		/* runs into the hole */
	ptrs[(*n)++] = hole;			/* unmapped */
	ptrs[(*n)++] = ro;			/* read-only */
	ptrs[(*n)++] = (void *)0xffff888000000000UL;	/* kernel */
	ptrs[(*n)++] = (void *)-1L;
}

static void manual(int fd, uint64_t addr, uint64_t len, int want, long *checked)
{
	struct cowrl_manual_cow mc = { .addr = addr, .len = len };
	uint64_t t = now_ns();
	int err = ioctl(fd, COWRL_IOC_MANUAL_COW, &mc) ? errno : 0;

	t = now_ns() - t;
	(*checked)++;
	if (t > fuzz_max_ns)
		fuzz_max_ns = t;
	if (t > SEC)
		fuzz_slow++;
	if (err != want)
		fail("manual_cow(0x%llx, 0x%llx): %s, want %s", (unsigned long long)addr,
		     (unsigned long long)len, strerror(err), strerror(want));
}

/* TASK_SIZE: 47-bit, or 56-bit where the CPU has LA57 (qemu -cpu max may). */
static uint64_t task_size(void)
{
	char line[4096];
	FILE *f = fopen("/proc/cpuinfo", "r");
	int la57 = 0;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5) && strstr(line, " la57"))
			la57 = 1;
	if (f)
		fclose(f);
	return la57 ? 0x00fffffffffff000ULL : 0x00007ffffffff000ULL;
}

static int test_fuzz(void)
{
	static const unsigned int sizes[] = { 0, 1, 8, 16, 24, 48, 144, 160, 16383 };
	static const int unpriv_ok[] = { EPERM, ENOTTY, EFAULT };
	static const int root_ok[] = { EFAULT, EINVAL, ENOTTY, ESRCH, ENOENT, ENOSPC };
	void *ptrs[16];
	int nptr, fd = dev_open(), st, res[2];
	long unpriv_calls = 0, root_calls = 0, manual_checked = 0, killed_ms = -1;
	int open_errno = 0, read_errno = 0;
	uint64_t t0 = now_ns();
	pid_t pid;

	fuzz_ptrs(ptrs, &nptr);
	if (pipe(res))
		die("pipe");
	/* Unprivileged (uid/gid 65534, no capabilities) with a root-opened descriptor. */
	pid = fork();
	if (pid == 0) {
		long out[6];
		char buf[256];

		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(3);
		out[0] = open("/dev/" COWRL_DEVICE_NAME, O_RDWR) < 0 ? errno : 0;
		out[1] = read(fd, buf, sizeof(buf)) < 0 ? errno : 0;
		for (unsigned int dir = 0; dir < 4; dir++)
			for (unsigned int nr = 0; nr < 256; nr++)
				for (unsigned int s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
					for (int p = 0; p < nptr; p++) {
						unsigned long cmd = _IOC(dir, COWRL_IOC_MAGIC, nr,
									 sizes[s]);

						fuzz_one(fd, cmd, ptrs[p], unpriv_ok, 3,
							 cmd == COWRL_IOC_VERSION);
					}
		for (unsigned int nr = 0; nr < 64; nr++)	/* other magics */
			for (int p = 0; p < nptr; p++)
				fuzz_one(fd, _IOC(3, 'T', nr, 8), ptrs[p], unpriv_ok, 3, 0);
		out[2] = fuzz_calls;
		out[3] = fuzz_bad;
		out[4] = fuzz_slow;
		out[5] = (long)fuzz_max_ns;
		if (write(res[1], out, sizeof(out)) != sizeof(out) ||
		    write(res[1], why, sizeof(why)) != sizeof(why))
			_exit(4);
		_exit(0);
	}
	st = wait_child(pid);
	{
		long out[6];
		char cwhy[sizeof(why)];

		if (read(res[0], out, sizeof(out)) != sizeof(out) ||
		    read(res[0], cwhy, sizeof(cwhy)) != sizeof(cwhy))
			fail("no result from the unprivileged child (status %d)", st);
		else {
			open_errno = out[0];
			read_errno = out[1];
			unpriv_calls = out[2];
			fuzz_bad += out[3];
			fuzz_slow += out[4];
			if ((uint64_t)out[5] > fuzz_max_ns)
				fuzz_max_ns = out[5];
			if (cwhy[0])
				fail("unprivileged: %s", cwhy);
		}
	}
	if (open_errno != EACCES)
		fail("unprivileged open: %s, want EACCES", strerror(open_errno));
	if (read_errno != EPERM)
		fail("unprivileged read: %s, want EPERM", strerror(read_errno));

	/* Root: every cowrl ioctl with every pointer kind and garbage contents. */
	fuzz_calls = 0;
	{
		static const unsigned long cmds[] = { COWRL_IOC_REGISTER, COWRL_IOC_UNREGISTER,
			COWRL_IOC_SET_POLICY, COWRL_IOC_COUNTERS, COWRL_IOC_MANUAL_COW,
			COWRL_IOC_VERSION };
		uint64_t s = 88172645463325252ULL;
		uint8_t *buf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		for (int it = 0; it < 200 * scale; it++) {
			for (unsigned int ci = 0; ci < sizeof(cmds) / sizeof(cmds[0]); ci++) {
				int32_t pids[] = { 0, -1, getpid(), 0x7fffffff };

				for (int p = 0; p < nptr; p++)
					if (p != 1 && p != 2)	/* bad pointers: EFAULT */
						fuzz_one(fd, cmds[ci], ptrs[p], root_ok, 6, 1);
				for (int b = 0; b < 64; b++)
					buf[b] = (uint8_t)xs(&s);
				/* A garbage target may only name us (or nobody). */
				memcpy(buf, &pids[xs(&s) % 4], 4);
				fuzz_one(fd, cmds[ci], buf, root_ok, 6, 1);
			}
		}
		unreg_all(fd);
		root_calls = fuzz_calls;
	}

	/* manual_cow edges (root). */
	{
		uint8_t *ok = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint8_t *ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int mfd = memfd_create("cowrl-fuzz", 0);
		uint8_t *sh;
		uint64_t ts = task_size();

		if (ftruncate(mfd, PAGE))
			die("ftruncate");
		sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		manual(fd, (uintptr_t)ok, 4 * PAGE, 0, &manual_checked);
		manual(fd, (uintptr_t)ok, 0, 0, &manual_checked);		/* len 0: nothing */
		manual(fd, (uintptr_t)ok + 1, PAGE, EINVAL, &manual_checked);	/* unaligned */
		manual(fd, (uintptr_t)ok, PAGE + 1, EINVAL, &manual_checked);
		manual(fd, -PAGE, 2 * PAGE, EINVAL, &manual_checked);	/* overflow */
		manual(fd, ts - PAGE, 2 * PAGE, EINVAL, &manual_checked);	/* past TASK_SIZE */
		manual(fd, ts, PAGE, EINVAL, &manual_checked);
		manual(fd, 0, PAGE, EFAULT, &manual_checked);		/* unmapped */
		manual(fd, (uintptr_t)ro, PAGE, EFAULT, &manual_checked);	/* read-only */
		manual(fd, (uintptr_t)sh, PAGE, EFAULT, &manual_checked);	/* shared file */
		{
			struct cowrl_manual_cow mc = { .addr = (uintptr_t)ok, .len = PAGE, .flags = 1 };

			manual_checked++;
			if (!ioctl(fd, COWRL_IOC_MANUAL_COW, &mc) || errno != EINVAL)
				fail("manual_cow flags=1: not EINVAL");
		}
	}
	/* manual_cow over 128 MiB is killable: SIGKILL lands within a second. */
	pid = fork();
	if (pid == 0) {
		size_t len = 128UL << 20;
		uint8_t *big = mmap(NULL, len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		struct cowrl_manual_cow mc = { .addr = (uintptr_t)big, .len = len };

		ioctl(fd, COWRL_IOC_MANUAL_COW, &mc);
		_exit(0);
	}
	usleep(200000);
	{
		uint64_t t = now_ns();

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		killed_ms = (long)((now_ns() - t) / 1000000);
		if (killed_ms > 1000)
			fail("manual_cow took %ld ms to die after SIGKILL", killed_ms);
	}
	if (fuzz_bad)
		fail("%ld calls returned an undocumented result", fuzz_bad);
	if (fuzz_slow)
		fail("%ld calls took over 1 s", fuzz_slow);
	printf("{\"test\": \"fuzz\", \"ioctls_unprivileged\": %ld, \"ioctls_root\": %ld, "
	       "\"manual_cow_edges\": %ld, \"bad\": %ld, \"slow\": %ld, \"max_call_ms\": %.3f, "
	       "\"sigkill_ms\": %ld, \"open_errno\": \"%s\", \"read_errno\": \"%s\", "
	       "\"seconds\": %.2f, \"ok\": %s, \"why\": \"%s\"}\n", unpriv_calls, root_calls,
	       manual_checked, fuzz_bad, fuzz_slow, fuzz_max_ns / 1e6, killed_ms,
	       strerror(open_errno), strerror(read_errno), (now_ns() - t0) / 1e9,
	       why[0] ? "false" : "true", why);
	close(fd);
	return 0;
}

/* ---- interior proofs: helpers ---- */

/* Private_Dirty (kB) of the mapping that starts at @start, from smaps; -1 if unknown. */
static long private_dirty_kb(const void *start)
{
	return smaps_kb((uintptr_t)start, "Private_Dirty");
}

#define PM_SWAPPED (1ULL << 62)

static int swap_on(void)
{
	char line[256];
	int n = 0;
	FILE *f = fopen("/proc/swaps", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n > 1;	/* a header line, then one line per swap device */
}

/* A separate @pages-page VMA between two PROT_NONE pages (so smaps shows it alone). */
static uint8_t *map_small(long pages)
{
	uint8_t *base = mmap(NULL, (pages + 2) * PAGE, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (base == MAP_FAILED)
		die("mmap");
	if (mprotect(base + PAGE, pages * PAGE, PROT_READ | PROT_WRITE))
		die("mprotect");
	madvise(base + PAGE, pages * PAGE, MADV_NOHUGEPAGE);
	return base + PAGE;
}

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* A child that keeps every page COW-shared until its pipe closes. */
static pid_t holder(int *wfd)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe(p))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(p[0]);
	*wfd = p[1];
	return pid;
}

static void holder_end(pid_t pid, int wfd)
{
	close(wfd);
	wait_child(pid);
}

/*
 * ---- staletlb: a reader on another CPU caches the copy before it is cleaned ----
 * Page 1 of a 2-page VMA is read in a loop by thread R on CPU 1 while the main
 * thread, on CPU 0, write-faults page 0; its precopy (k = 1) copies page 1, and the
 * clean would clear that copy's dirty bit.  R re-reads page 1 as soon as the copy is
 * installed (its TLB then holds the copy writable and dirty), and writes it after
 * the precopy.  If the module cleaned with R's CPU in mm_cpumask and flushed only
 * its own CPU, R's write would go through the stale entry without setting D: the
 * VMA would show 4 kB Private_Dirty instead of 8, and reclaim could drop the write.
 * The module must restore D (proof_lost) whenever another CPU may cache the page.
 */
static volatile int stl_go, stl_ready, stl_stop;
static uint8_t *stl_r;

static void *stl_reader(void *arg)
{
	volatile uint64_t *q = (volatile uint64_t *)(stl_r + PAGE);
	uint64_t sum = 0;

	(void)arg;
	pin_cpu(1);
	stl_ready = 1;
	while (!stl_go)
		sum += q[1];	/* keeps a TLB entry for page 1 on this CPU */
	q[2] = 0x5afe5afe5afe5afeULL + (sum & 0);	/* the write that must survive */
	return NULL;
}

static int test_staletlb(void)
{
	long rounds = 40L * scale, bad_dirty = 0, bad_data = 0, swapped = 0, lost_rounds = 0;
	struct cowrl_counters c0, c1;
	int fd = dev_open(), wfd, swap = swap_on();

	/* the proof fields are checked (-EINVAL), and accepted on this kernel */
	if (set_guarded_reads(fd, 1, 1, 0) != EINVAL || set_guarded_reads(fd, 1, 2, 1) != EINVAL ||
	    set_guarded_reads(fd, 1, 0, 1) != EINVAL ||
	    set_guarded_reads(fd, 1, 1, COWRL_GUARDED_MAX_PROOF_READS + 1) != EINVAL)
		fail("a bad proof/proof_reads pair was not refused with EINVAL");
	ioctl(fd, COWRL_IOC_RESET);
	if (set_guarded_proof(fd, 1))
		die("SET_POLICY guarded proof");
	counters(fd, &c0);
	for (long i = 0; i < rounds; i++) {
		struct cowrl_counters a, b;
		uint8_t *r = map_small(2);
		pthread_t th;
		pid_t pid;
		long kb;

		fill(r, 2);
		pid = holder(&wfd);
		if (reg(fd, getpid(), 0, r, 2 * PAGE))
			die("REGISTER");
		stl_r = r;
		stl_go = stl_ready = 0;
		pin_cpu(0);
		pthread_create(&th, NULL, stl_reader, NULL);
		while (!stl_ready)
			;
		usleep(2000);	/* R spins on CPU 1 */
		counters(fd, &a);
		((volatile uint64_t *)r)[2] = 0x1111;	/* demand fault; precopies page 1 */
		counters(fd, &b);
		lost_rounds += b.proof_lost > a.proof_lost;
		stl_go = 1;
		pthread_join(th, NULL);
		kb = private_dirty_kb(r);
		if (kb != 8)
			bad_dirty++;
		if (swap) {
			madvise(r, 2 * PAGE, MADV_PAGEOUT);
			swapped += pagemap_count(r, 2, PM_SWAPPED);
		}
		if (((uint64_t *)r)[2] != 0x1111 || ((uint64_t *)(r + PAGE))[2] != 0x5afe5afe5afe5afeULL ||
		    ((uint64_t *)(r + PAGE))[1] != pattern(1, 1))
			bad_data++;
		{
			struct cowrl_target t = { .pid = getpid() };

			ioctl(fd, COWRL_IOC_UNREGISTER, &t);
		}
		holder_end(pid, wfd);
		munmap(r - PAGE, 4 * PAGE);
	}
	counters(fd, &c1);
	unreg_all(fd);
	if (bad_dirty)
		fail("%ld of %ld rounds lost the reader's dirty bit (Private_Dirty != 8 kB)",
		     bad_dirty, rounds);
	if (bad_data)
		fail("%ld of %ld rounds lost data", bad_data, rounds);
	if (c1.precopy_copies - c0.precopy_copies < (unsigned long long)rounds / 2)
		fail("only %llu precopy copies in %ld rounds: the race was not exercised",
		     c1.precopy_copies - c0.precopy_copies, rounds);
	printf("{\"test\": \"staletlb\", \"rounds\": %ld, \"precopy_copies\": %llu, "
	       "\"proof_clean\": %llu, \"proof_lost\": %llu, \"rounds_lost\": %ld, "
	       "\"bad_dirty\": %ld, \"bad_data\": %ld, \"swap\": %d, \"pages_swapped\": %ld, "
	       "\"ok\": %s, \"why\": \"%s\"}\n",
	       rounds, c1.precopy_copies - c0.precopy_copies, c1.proof_clean - c0.proof_clean,
	       c1.proof_lost - c0.proof_lost, lost_rounds, bad_dirty, bad_data, swap, swapped,
	       why[0] ? "false" : "true", why);
	close(fd);
	return 0;
}

/*
 * ---- cleanswap: cleaned copies under reclaim, MADV_FREE, mprotect and fork ----
 * CLS_WRITERS single-threaded writer processes (each alone on its CPU most of the
 * time, so most clean copies hold: proof_clean) each own a region and a shadow copy.
 * Per round a writer forks a holder (every page COW-shared), writes random pages
 * (demand faults precopy k = 8 and clean the copies), pages its region out
 * (MADV_PAGEOUT: reclaim's batched unmap, swap I/O to zram), MADV_FREEs a few pages
 * and rewrites them whole, write-protects and re-enables a range (mprotect), writes
 * again, and compares the region with its shadow.  A racer process pages the
 * writers' regions out at random times (process_madvise).  A write lost because a
 * cleaned page looked clean to reclaim or MADV_FREE shows up as a mismatch.
 */
#define CLS_WRITERS 4
#define CLS_PAGES 256L

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif

static uint64_t cls_xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct cls_out {
	long rounds, writes, mismatches, frees, pageouts, mprotects;
};

static void cls_writer(int fd, int id, long rounds, uint8_t **addr_slot, int outfd)
{
	uint8_t *r = map_small(CLS_PAGES), *shadow = malloc(CLS_PAGES * PAGE);
	uint64_t s = 0x9e3779b97f4a7c15ULL * (uint64_t)(id + 1);
	struct cls_out o = { 0 };

	if (!shadow)
		_exit(5);
	fill(r, CLS_PAGES);
	memcpy(shadow, r, CLS_PAGES * PAGE);
	__atomic_store_n(addr_slot, r, __ATOMIC_RELEASE);
	if (reg(fd, getpid(), 0, r, CLS_PAGES * PAGE))
		_exit(6);
	for (long i = 0; i < rounds; i++) {
		int wfd;
		pid_t h = holder(&wfd);
		long n = 64 + (long)(cls_xs(&s) % 64);

		for (long j = 0; j < n; j++) {
			long p = (long)(cls_xs(&s) % CLS_PAGES), run = 1 + (long)(cls_xs(&s) % 8);

			for (long q = p; q < p + run && q < CLS_PAGES; q++) {
				uint64_t off = q * PAGE + (cls_xs(&s) % (PAGE / 8)) * 8, v = cls_xs(&s);

				*(uint64_t *)(r + off) = v;
				*(uint64_t *)(shadow + off) = v;
				o.writes++;
			}
			if (j == n / 2) {	/* mid-round: reclaim while copies are clean */
				madvise(r, CLS_PAGES * PAGE, MADV_PAGEOUT);
				o.pageouts++;
			}
		}
		/* MADV_FREE a few pages, then rewrite them whole (their content is defined again) */
		for (int f = 0; f < 4; f++) {
			long p = (long)(cls_xs(&s) % CLS_PAGES);

			if (madvise(r + p * PAGE, PAGE, MADV_FREE) == 0)
				o.frees++;
			for (unsigned long w = 0; w < PAGE / 8; w++) {
				uint64_t v = cls_xs(&s);

				((uint64_t *)(r + p * PAGE))[w] = v;
				((uint64_t *)(shadow + p * PAGE))[w] = v;
			}
		}
		/* write-protect and re-enable a range, then write into it */
		{
			long p = (long)(cls_xs(&s) % (CLS_PAGES - 16));

			if (mprotect(r + p * PAGE, 16 * PAGE, PROT_READ) == 0 &&
			    mprotect(r + p * PAGE, 16 * PAGE, PROT_READ | PROT_WRITE) == 0)
				o.mprotects++;
			for (long q = p; q < p + 16; q += 3) {
				uint64_t v = cls_xs(&s);

				*(uint64_t *)(r + q * PAGE + 64) = v;
				*(uint64_t *)(shadow + q * PAGE + 64) = v;
			}
		}
		madvise(r, CLS_PAGES * PAGE, MADV_PAGEOUT);
		holder_end(h, wfd);
		for (long p = 0; p < CLS_PAGES; p++)
			if (memcmp(r + p * PAGE, shadow + p * PAGE, PAGE))
				o.mismatches++;
		if (o.mismatches) {	/* keep the first round's picture */
			o.rounds = i + 1;
			break;
		}
		o.rounds = i + 1;
	}
	if (write(outfd, &o, sizeof(o)) != sizeof(o))
		_exit(7);
	_exit(0);
}

static int test_cleanswap(void)
{
	long rounds = 6L * scale;
	uint8_t **addrs = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	volatile int *stop = (volatile int *)(addrs + CLS_WRITERS);
	struct cls_out tot = { 0 };
	struct cowrl_counters c0, c1;
	int fd = dev_open(), res[2], swap = swap_on(), st = 0;
	pid_t w[CLS_WRITERS], racer;
	long racer_ops = 0;

	if (addrs == MAP_FAILED || pipe(res))
		die("setup");
	ioctl(fd, COWRL_IOC_RESET);
	if (set_guarded_proof(fd, 8))
		die("SET_POLICY guarded proof");
	counters(fd, &c0);
	for (int i = 0; i < CLS_WRITERS; i++) {
		w[i] = fork();
		if (w[i] == 0)
			cls_writer(fd, i, rounds, &addrs[i], res[1]);
	}
	racer = fork();
	if (racer == 0) {	/* pages the writers' regions out from outside */
		int pfd[CLS_WRITERS];
		uint64_t s = 12345;
		long ops = 0;

		for (int i = 0; i < CLS_WRITERS; i++)
			pfd[i] = (int)syscall(SYS_pidfd_open, w[i], 0);
		while (!*stop) {
			int i = (int)(cls_xs(&s) % CLS_WRITERS);
			uint8_t *a = __atomic_load_n(&addrs[i], __ATOMIC_ACQUIRE);
			struct iovec iov = { .iov_base = a, .iov_len = CLS_PAGES * PAGE };

			if (a && pfd[i] >= 0 &&
			    syscall(SYS_process_madvise, pfd[i], &iov, 1, MADV_PAGEOUT, 0) >= 0)
				ops++;
			usleep(1000 + cls_xs(&s) % 4000);
		}
		_exit(ops > 255 ? 255 : (int)ops);
	}
	for (int i = 0; i < CLS_WRITERS; i++) {
		struct cls_out o;

		st |= wait_child(w[i]);
		if (read(res[0], &o, sizeof(o)) != sizeof(o)) {
			fail("writer %d gave no result", i);
			continue;
		}
		tot.rounds += o.rounds;
		tot.writes += o.writes;
		tot.mismatches += o.mismatches;
		tot.frees += o.frees;
		tot.pageouts += o.pageouts;
		tot.mprotects += o.mprotects;
	}
	*stop = 1;
	racer_ops = wait_child(racer);
	counters(fd, &c1);
	unreg_all(fd);
	if (st)
		fail("a writer failed (status %d)", st);
	if (tot.mismatches)
		fail("%ld pages differ from their shadow", tot.mismatches);
	if (!(c1.proof_clean - c0.proof_clean))
		fail("no copy was cleaned: the interior proof was not exercised");
	printf("{\"test\": \"cleanswap\", \"writers\": %d, \"rounds\": %ld, \"writes\": %ld, "
	       "\"pageouts\": %ld, \"racer_pageouts\": %ld, \"frees\": %ld, \"mprotects\": %ld, "
	       "\"swap\": %d, \"demand_faults\": %llu, \"precopy_copies\": %llu, "
	       "\"proof_clean\": %llu, \"proof_lost\": %llu, \"mismatches\": %ld, "
	       "\"ok\": %s, \"why\": \"%s\"}\n",
	       CLS_WRITERS, tot.rounds, tot.writes, tot.pageouts, racer_ops, tot.frees,
	       tot.mprotects, swap, c1.demand_faults - c0.demand_faults,
	       c1.precopy_copies - c0.precopy_copies, c1.proof_clean - c0.proof_clean,
	       c1.proof_lost - c0.proof_lost, tot.mismatches, why[0] ? "false" : "true", why);
	close(fd);
	return 0;
}

/* The median of a run's three loop times (sorts them in place). */
static unsigned long long median3(uint64_t *v)
{
	uint64_t t;

	if (v[0] > v[1]) { t = v[0]; v[0] = v[1]; v[1] = t; }
	if (v[1] > v[2]) { t = v[1]; v[1] = v[2]; v[2] = t; }
	if (v[0] > v[1]) { t = v[0]; v[0] = v[1]; v[1] = t; }
	return (unsigned long long)v[1];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* A proof run's loop time and counters: the rest of its JSON object. */
static void print_proof_run(unsigned long long loop_ns, const struct cowrl_counters *c)
{
	printf("\"loop_ns\": %llu, \"demand_faults\": %llu, \"precopy_copies\": %llu, "
	       "\"proof_clean\": %llu, \"proof_lost\": %llu, \"proof_credited\": %llu}", loop_ns,
	       (unsigned long long)c->demand_faults, (unsigned long long)c->precopy_copies,
	       (unsigned long long)c->proof_clean, (unsigned long long)c->proof_lost,
	       (unsigned long long)c->proof_credited);
}

/*
 * ---- proofcost: what interior proofs cost (run it under icount: 1 ns = 1 instruction) ----
 * A sequential write of every page of a 4096-page region after fork, under a guarded
 * table that wants degree k at every fault and always affords it (so proof = 0 and
 * proof = 1 copy the same pages), k = 8 and 64, interleaved, 3 repeats each.  The
 * difference of the write loop's time per precopied page is the clean (walk, lock,
 * checks, clear, tlb_gen, invlpg), storing its pfn and the decisions' proof reads.
 */
static int test_proofcost(void)
{
	const long pages = 4096, reps = 3;
	const unsigned int ks[2] = { 8, 64 };
	uint8_t *r = map_region(pages * PAGE, 0);
	uint64_t ns[2][2][3];
	struct cowrl_counters c[2][2];
	int fd = dev_open();

	fill(r, pages);
	for (long rep = 0; rep < reps; rep++) {
		for (int ki = 0; ki < 2; ki++) {
			for (int proof = 0; proof < 2; proof++) {
				int wfd;
				pid_t h = holder(&wfd);
				uint64_t t0;

				ioctl(fd, COWRL_IOC_RESET);
				if (set_guarded(fd, ks[ki], proof) || reg(fd, getpid(), 0, r, pages * PAGE))
					die("setup");
				t0 = now_ns();
				for (long p = 0; p < pages; p++)
					((volatile uint8_t *)r)[p * PAGE + 8] = (uint8_t)(rep + 1);
				ns[ki][proof][rep] = now_ns() - t0;
				counters(fd, &c[ki][proof]);
				unreg_all(fd);
				holder_end(h, wfd);
			}
		}
	}
	printf("{\"test\": \"proofcost\", \"pages\": %ld, \"repeats\": %ld, \"runs\": [", pages, reps);
	for (int ki = 0; ki < 2; ki++) {
		for (int proof = 0; proof < 2; proof++) {
			printf("%s{\"k\": %u, \"proof\": %d, ", ki + proof ? ", " : "", ks[ki], proof);
			print_proof_run(median3(ns[ki][proof]), &c[ki][proof]);
		}
	}
	printf("], \"ok\": true, \"why\": \"\"}\n");
	close(fd);
	return 0;
}

/*
 * One timed proof run after fork: a GUARDED table wanting k at every fault (every cost 0,
 * proof = 1; look_span sets proof_look and proof_span, skipmap proof_skipmap and duemap
 * proof_duemap), registered over the @pages of @r,
 * then a write of @val to every @stride-th page but those = 1 mod @skip (0: none left out).
 * Returns the write loop's time; the run's counters in @c.
 */
static uint64_t proof_writes(int fd, uint8_t *r, long pages, long stride, long skip,
			     uint8_t val, unsigned int k, int reads, int ttl, int backoff,
			     int look_span, int skipmap, int duemap, struct cowrl_counters *c)
{
	int wfd;
	pid_t h = holder(&wfd);
	uint64_t t0, ns;

	ioctl(fd, COWRL_IOC_RESET);
	if (set_guarded_span(fd, k, 1, reads, ttl, backoff, look_span, look_span, skipmap,
			     duemap) ||
	    reg(fd, getpid(), 0, r, pages * PAGE))
		die("setup");
	t0 = now_ns();
	for (long p = 0; p < pages; p += stride)
		if (!skip || p % skip != 1)
			((volatile uint8_t *)r)[p * PAGE + 8] = val;
	ns = now_ns() - t0;
	counters(fd, c);
	unreg_all(fd);
	holder_end(h, wfd);
	return ns;
}

/*
 * ---- proofread: what one proof read that finds its page unwritten costs (icount) ----
 * A region of 9 * 1024 pages after fork; the writer writes every 9th page under a guarded
 * table that wants k = 8 at every fault and always affords it (proof = 1): each fault
 * copies (and cleans) the next 8 pages, which are never written, so the ring holds only
 * unwritten entries of the region and the fault after i faults reads min(8 i, proof_reads)
 * of them, none proven.  proof_reads = 1 and 16 copy and clean the same pages (every cost
 * 0: the same decisions); the loop's time difference over the difference in reads is the
 * price of one unproven read (the ring step, the pfn check, the lockless PTE read).  Then
 * proof_ttl = 1 with 16 reads: each entry is read once and leaves.  Then two runs with
 * k = 1 writing every 2nd page (one unwritten copy per fault, entries live 128 faults):
 * 16 reads with proof_ttl = 0, and proof_ttl = 16 with proof_backoff = 1, whose look steps
 * over entries not yet due (at most 4 * 16 slots): they price a ring step (the simulator's
 * prototype counts the reads and steps of both).  Also checks that a bad proof_ttl is
 * refused (-EINVAL).
 */
static int test_proofread(void)
{
	const long pages = 9 * 1024, reps = 3, stride = 9;
	const int reads[5] = { 1, 16, 16, 16, 16 }, ttls[5] = { 0, 0, 1, 0, 16 };
	const int bos[5] = { 0, 0, 0, 0, 1 }, ks[5] = { 8, 8, 8, 1, 1 };
	const long strides[5] = { stride, stride, stride, 2, 2 };
	uint8_t *r = map_region(pages * PAGE, 0);
	uint64_t ns[5][3];
	struct cowrl_counters c[5];
	int fd = dev_open();

	if (set_guarded_ttl(fd, 8, 1, 8, COWRL_GUARDED_MAX_PROOF_TTL + 1) != EINVAL ||
	    set_guarded_ttl(fd, 8, 0, 0, 1) != EINVAL || set_guarded_ttl(fd, 8, 1, 8, 255))
		fail("a bad proof_ttl was not refused with EINVAL (or 255 was refused)");
	ioctl(fd, COWRL_IOC_RESET);
	fill(r, pages);
	for (long rep = 0; rep < reps; rep++) {
		for (int v = 0; v < 5; v++)
			ns[v][rep] = proof_writes(fd, r, pages, strides[v], 0, (uint8_t)(rep + 1),
						  (unsigned int)ks[v], reads[v], ttls[v], bos[v], 0, 0,
						  0, &c[v]);
	}
	printf("{\"test\": \"proofread\", \"pages\": %ld, \"stride\": %ld, \"k\": 8, "
	       "\"repeats\": %ld, \"runs\": [", pages, stride, reps);
	for (int v = 0; v < 5; v++) {
		printf("%s{\"k\": %d, \"stride\": %ld, \"proof_reads\": %d, \"proof_ttl\": %d, "
		       "\"proof_backoff\": %d, ", v ? ", " : "", ks[v], strides[v], reads[v], ttls[v],
		       bos[v]);
		print_proof_run(median3(ns[v]), &c[v]);
	}
	printf("], \"ok\": %s, \"why\": \"%s\"}\n", why[0] ? "false" : "true", why);
	close(fd);
	return 0;
}

#define PROOF_RUNS_MAX 10

/* One proof run of a series: its guarded table's proof options and the pages it writes. */
struct proof_run {
	int reads, ttl, backoff, span;	/* span: proof_look = proof_span */
	int skipmap;			/* proof_skipmap */
	int duemap;			/* proof_duemap */
	long stride, skip;		/* every stride-th page but those = 1 mod skip (0: none) */
};

#define PROOF_REPS_MAX 30

/*
 * A series of timed proof runs over a 4096-page region after fork, k = 1 (every cost 0,
 * proof = 1: the faults and copies follow from the writes alone): with @warm one untimed
 * pass of the @n runs of @v (a warm-up: the first pass after fill() is a transient, 6.1's
 * first run ~1.5% and 6.12's whole pass dearer), then @passes x --scale timed passes (at
 * most PROOF_REPS_MAX), the runs interleaved.  Prints @test's JSON line with each run's
 * warm-up time ("loop_ns_warmup", 0 without), every timed pass's ("loop_ns_reps", in
 * order), their median ("loop_ns") and counters (the simulator's prototype counts its reads and ring
 * steps on the same writes).  Under icount a pass's time is its own instructions plus what
 * else the one vCPU ran meanwhile, and on 6.12 the allocator's per-CPU list refills, which
 * move by about one batch from pass to pass: experiments/bench_kernel_proof.py prices a pair
 * of runs from the median over passes of their difference in the same pass.
 */
static int proof_series(const char *test, const struct proof_run *v, int n, int warm,
			long passes)
{
	const long pages = 4096;
	const long reps = passes * scale > PROOF_REPS_MAX ? PROOF_REPS_MAX : passes * scale;
	uint8_t *r = map_region(pages * PAGE, 0);
	uint64_t ns[PROOF_RUNS_MAX][PROOF_REPS_MAX + 1], sorted[PROOF_REPS_MAX];
	struct cowrl_counters c[PROOF_RUNS_MAX];
	int fd = dev_open();

	if (n > PROOF_RUNS_MAX)
		die("proof_series: too many runs");
	fill(r, pages);
	memset(ns, 0, sizeof(ns));
	for (long rep = warm ? 0 : 1; rep <= reps; rep++) {	/* rep 0: the warm-up pass */
		for (int i = 0; i < n; i++)
			ns[i][rep] = proof_writes(fd, r, pages, v[i].stride, v[i].skip,
						  (uint8_t)(rep + 1), 1, v[i].reads, v[i].ttl,
						  v[i].backoff, v[i].span, v[i].skipmap, v[i].duemap,
						  &c[i]);
	}
	printf("{\"test\": \"%s\", \"pages\": %ld, \"k\": 1, \"repeats\": %ld, \"runs\": [",
	       test, pages, reps);
	for (int i = 0; i < n; i++) {
		printf("%s{\"proof_reads\": %d, \"proof_ttl\": %d, \"proof_backoff\": %d, "
		       "\"proof_look\": %d, \"proof_span\": %d, \"proof_skipmap\": %d, "
		       "\"proof_duemap\": %d, \"stride\": %ld, \"skip\": %ld, ", i ? ", " : "",
		       v[i].reads, v[i].ttl, v[i].backoff, v[i].span, v[i].span, v[i].skipmap,
		       v[i].duemap, v[i].stride, v[i].skip);
		printf("\"loop_ns_warmup\": %llu, \"loop_ns_reps\": [",
		       (unsigned long long)ns[i][0]);
		for (long rep = 1; rep <= reps; rep++)
			printf("%s%llu", rep > 1 ? ", " : "", (unsigned long long)ns[i][rep]);
		printf("], ");
		memcpy(sorted, &ns[i][1], sizeof(sorted[0]) * (size_t)reps);
		qsort(sorted, (size_t)reps, sizeof(sorted[0]), cmp_u64);
		print_proof_run(sorted[reps / 2], &c[i]);
	}
	printf("], \"ok\": %s, \"why\": \"%s\"}\n", why[0] ? "false" : "true", why);
	close(fd);
	return 0;
}

/*
 * ---- proofstep: what a proof look's step over an empty ring slot costs (icount) ----
 * Every page written in order (k = 1: each fault at an even page copies the next page,
 * which the loop then writes without a fault, so every look finds the previous copy
 * written (proven) and it leaves the ring, a hole).  Ten runs, the same faults and copies:
 *  0, 1: proof_ttl 0, no backoff, proof_reads 1 and 16.  With 1 the look ends at its read
 *        and the cursor moves past it: no empty slot walked.  With 16 it ends because it saw
 *        every live entry, with fewer than 16 reads, and the cursor goes back to where it
 *        started (slot 0): the fault after i faults steps over (i - 1) mod 128 holes.
 *  2-4: the flags guarded ships (8 reads, proof_ttl 16, backoff, proof_look, proof_span);
 *        2 writes every page (no hole walked), 3 leaves the copy of every page = 1 mod 256
 *        unwritten, 4 of every page = 1 mod 64: it stays in the ring (read at 2^m faults),
 *        the span's oldest entry, and the looks walk the holes the proven copies after it
 *        leave.
 *  5-9: as 0-4 with proof_skipmap 1 (a look jumps from an empty slot to the next live one,
 *        instead of stepping over the holes): 6 jumps once from slot 0 to the live entry,
 *        8 and 9 over the holes after the span's oldest entry.
 * The loop's time difference over the difference in empty slots (0-4) or jumps (5-9) is
 * their price.  A warm-up pass, then 5 timed passes: a pair's jumps are ~0.15% of its loop,
 * and on 6.12 a pass's loop moves by ~0.05% (the caller takes the median over passes).
 */
static int test_proofstep(void)
{
	static const struct proof_run v[10] = {
		{ 1, 0, 0, 0, 0, 0, 1, 0 }, { 16, 0, 0, 0, 0, 0, 1, 0 },
		{ 8, 16, 1, 1, 0, 0, 1, 0 }, { 8, 16, 1, 1, 0, 0, 1, 256 },
		{ 8, 16, 1, 1, 0, 0, 1, 64 },
		{ 1, 0, 0, 0, 1, 0, 1, 0 }, { 16, 0, 0, 0, 1, 0, 1, 0 },
		{ 8, 16, 1, 1, 1, 0, 1, 0 }, { 8, 16, 1, 1, 1, 0, 1, 256 },
		{ 8, 16, 1, 1, 1, 0, 1, 64 },
	};

	return proof_series("proofstep", v, 10, 1, 5);
}

/*
 * ---- proofskip: what a proof look's step over a live entry it does not read costs ----
 * Every 2nd page written (k = 1: each fault copies the next page, never written), so the
 * ring holds only unwritten entries of the region, read at 2^m faults under proof_backoff
 * (proof_ttl 16): a look steps over the entries not yet due until it has read proof_reads
 * due ones or walked 4 x proof_reads slots.  Five runs, the same faults and copies:
 *  0-2: the flags guarded ships (proof_ttl 16, backoff, proof_look, proof_span) with
 *       proof_reads 8 (as shipped), 16 (twice the live steps, few more reads) and 4;
 *  3, 4: proof_backoff alone (proof_ttl 16), proof_reads 8 and 16: the flags the price
 *       was measured with before (cowrl_stress proofread's last two runs).
 * The loop's time difference, less the reads' and empty slots' price, over the difference
 * in live entries stepped over is their price.  3 timed passes, no warm-up: the live steps
 * are ~10% of the loop, and the median over passes drops the first pass's transient.
 */
static int test_proofskip(void)
{
	static const struct proof_run v[5] = {
		{ 8, 16, 1, 1, 0, 0, 2, 0 }, { 16, 16, 1, 1, 0, 0, 2, 0 },
		{ 4, 16, 1, 1, 0, 0, 2, 0 }, { 8, 16, 1, 0, 0, 0, 2, 0 },
		{ 16, 16, 1, 0, 0, 0, 2, 0 },
	};

	return proof_series("proofskip", v, 5, 0, 3);
}

/*
 * ---- proofdue: what proof_duemap's jump and refresh cost (icount) ----
 * The flags guarded ships with proof_skipmap and proof_duemap (a look jumps over the empty
 * slots and the entries not yet due to the next live slot that does not wait, and refreshes
 * its map of waiting entries once the soonest is due).  Five runs, a series of its own so
 * that proofstep's and proofskip's runs are main's:
 *  0-2: every page written (k = 1: each copy proven at the next fault), and the copy of
 *       every page = 1 mod 16 / 1 mod 4 left unwritten (it waits): due jumps, a few
 *       refreshed entries per jump;
 *  3, 4: every 2nd page written (no copy is ever written), proof_reads 4 and 8: about 18
 *       waiting entries refreshed per due jump.
 * The loop's time difference over the difference in due jumps (0 vs 1, 0 vs 2; refreshed
 * entries priced away) or refreshed entries (3 vs 4; due jumps priced away) is their price.
 * A warm-up pass, then 5 timed passes, as proofstep (the due jumps are ~0.5% of the loop).
 */
static int test_proofdue(void)
{
	static const struct proof_run v[5] = {
		{ 8, 16, 1, 1, 1, 1, 1, 0 }, { 8, 16, 1, 1, 1, 1, 1, 16 },
		{ 8, 16, 1, 1, 1, 1, 1, 4 },
		{ 4, 16, 1, 1, 1, 1, 2, 0 }, { 8, 16, 1, 1, 1, 1, 2, 0 },
	};

	return proof_series("proofdue", v, 5, 1, 5);
}

/*
 * ---- sibling: sibling_window's family bytes under policy and target churn ----
 * A writer family (W0 and SIB_KIDS children it forks anew each round, every page of the
 * region COW-shared among them at the fork) writes random pages while, in the main process,
 * a policy thread SET_POLICYs at random between GUARDED tables with sibling_window (ungated,
 * gated, stake 2), a GUARDED table without it, TABLE, STATIC and OFF, and a churn thread
 * REGISTERs, re-REGISTERs (over a sub-range too), UNREGISTERs W0, the main process (with
 * CHILDREN: it then takes W0's faults) and idle sleepers: family bytes are allocated,
 * published, reset and freed with targets while the writers fault.  Now and then the churn
 * thread, holding the policy thread off, checks the family cap: with a sibling table set,
 * REGISTER of a range of COWRL_FAMILY_MAX_PAGES + 1 pages (a sleeper's, and W0's own
 * re-REGISTER) is -E2BIG and leaves the targets as they were (W0's old target stays); a
 * range of the cap is taken; with a non-sibling policy the longer range is taken, and then
 * SET_POLICY sibling is -E2BIG until it goes.  A reader thread drains the records.
 * Checked: every errno; the writers' data; per process, the n records before each demand
 * record of precopied = n are its precopy copies, each 1 .. max(degree, SIB_W) pages past
 * the fault, none twice (a page past the degree is a sibling window's); the totals equal
 * the counters; at most 1 copy per page, process and round.  Then, quiet, memory: 48
 * re-REGISTERs of a cap-length target (4 MiB of family bytes each), 48 REGISTERs refused
 * -ENOSPC after their family bytes were allocated, 48 SET_POLICY sibling / non-sibling
 * flips with a cap-length target: MemFree may not drop by 48 MiB (a leak of one 4 MiB
 * array per step would take 192 MiB).
 */
#define SIB_PAGES 512L
#define SIB_KIDS 3		/* W0 + 3 children: 4 writers */
#define SIB_PROCS (SIB_KIDS + 1)
#define SIB_WRITES 192L		/* random page writes per writer and round */
#define SIB_W 16		/* sibling_window of every sibling table */
#define SIB_KMAX 8		/* the largest degree of any policy here (STATIC 8) */
#define SIB_SLEEPERS 17		/* 16 targets fill the slots; the 17th gets ENOSPC */
#define SIB_CAP (1ULL << 22)	/* COWRL_FAMILY_MAX_PAGES of cowrl.c */
#define SIB_NPOL 8

static volatile int *sib_stop;	/* shared with the writers */
static pthread_mutex_t sib_pol_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int sib_done;	/* the main process's threads */
static long sib_sets[SIB_NPOL], sib_bad_errno;
static long sib_churn_ops[8], sib_cap_rounds;
static pid_t sib_w0, sib_sleep[SIB_SLEEPERS];
static uint8_t *sib_r;
static int sib_fd;

/*
 * Policy @which, the ioctl's errno: 0..2 GUARDED with sibling_window SIB_W (k 1, ungated; k 1,
 * stake 1, gate 4; k 2, stake 2), 3 GUARDED k 4 without it, 4 TABLE 3, 5 STATIC 8, 6 and 7 OFF.
 * Every cost 0 (an allowance of 1000 ns a fault): a GUARDED table affords its k and every
 * shared family page at every fault (gated: once 64 ghost marks opened the gate).
 * The payloads are static: callers hold sib_pol_lock (or run alone).
 */
static int sib_set(int fd, int which)
{
	static struct cowrl_policy_table pt;
	static const struct { int k, sib, stake, gate; } g[4] = {
		{ 1, SIB_W, 0, 0 }, { 1, SIB_W, 1, 4 }, { 2, SIB_W, 2, 0 }, { 4, 0, 0, 0 },
	};
	struct cowrl_policy p = { .mode = COWRL_POLICY_TABLE, .table_len = 1,
				  .entry_size = sizeof(pt), .table_ptr = (uintptr_t)&pt };
	static struct cowrl_guarded_table tb;
	struct cowrl_policy q = { .mode = COWRL_POLICY_GUARDED, .table_len = 1,
				  .entry_size = sizeof(tb), .table_ptr = (uintptr_t)&tb };

	if (which <= 3) {	/* set_guarded_span(k, proof 1, 16 reads)'s table, plus the window */
		guarded_span_table(&tb, (unsigned int)g[which].k, 1,
				   COWRL_GUARDED_MAX_PROOF_READS, 0, 0, 0, 0, 0, 0);
		tb.sibling_window = (cp_u8)g[which].sib;
		tb.sibling_stake = (cp_u8)g[which].stake;
		tb.sibling_gate = (cp_u8)g[which].gate;
		/* ABI 18: an allowance (every price still 0), so the budgets the tallies fold
		 * through the resets and drops are not all 0 */
		tb.allowance_ns = 1000;
		return ioctl(fd, COWRL_IOC_SET_POLICY, &q) ? errno : 0;
	}
	if (which == 4) {	/* TABLE, degree 3 in every cell */
		memset(&pt, 0, sizeof(pt));
		pt.version = COWRL_POLICY_TABLE_VERSION;
		pt.decide = COWRL_DECIDE_TABLE;
		pt.slots = 1;
		pt.near = 1;
		pt.n_cells = COWRL_POLICY_CELLS;
		for (int i = 0; i < COWRL_POLICY_CELLS; i++)
			pt.k[i] = 3;
		return ioctl(fd, COWRL_IOC_SET_POLICY, &p) ? errno : 0;
	}
	if (which == 5)
		return set_static(fd, SIB_KMAX) ? errno : 0;
	return set_static(fd, 0) ? errno : 0;	/* 6, 7: OFF */
}

/* An errno check (from the policy and churn threads: fail() under a lock). */
static pthread_mutex_t sib_fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void sib_want(const char *what, int got, int want)
{
	if (got == want)
		return;
	pthread_mutex_lock(&sib_fail_lock);
	if (!sib_bad_errno)
		fail("%s: %s, want %s", what, got ? strerror(got) : "0",
		     want ? strerror(want) : "0");
	sib_bad_errno++;
	pthread_mutex_unlock(&sib_fail_lock);
}

static int sib_unreg(int fd, pid_t pid)
{
	struct cowrl_target t = { .pid = pid };

	return ioctl(fd, COWRL_IOC_UNREGISTER, &t) ? errno : 0;
}

static long sib_targets(int fd)
{
	struct cowrl_counters c;

	counters(fd, &c);
	return (long)c.targets;
}

static void *sib_policy_thread(void *arg)
{
	uint64_t s = 0x51b1;

	(void)arg;
	while (!sib_done) {
		int which = (int)(xs(&s) % SIB_NPOL);

		pthread_mutex_lock(&sib_pol_lock);
		sib_want("SET_POLICY", sib_set(sib_fd, which), 0);
		pthread_mutex_unlock(&sib_pol_lock);
		sib_sets[which]++;
		usleep(xs(&s) % 3000);
	}
	return NULL;
}

/*
 * The family cap, the policy thread held off (the writers go on faulting): the errnos and
 * the target count of each step (fail() is safe here: the policy thread fails only under
 * sib_pol_lock).  @reg_w0: whether W0 is registered (updated).
 */
static void sib_cap_round(int fd, int *reg_w0)
{
	const size_t cap = SIB_CAP * PAGE, over = (SIB_CAP + 1) * PAGE;
	pid_t h = sib_sleep[SIB_SLEEPERS - 1], h2 = sib_sleep[SIB_SLEEPERS - 2];
	long n;

	pthread_mutex_lock(&sib_pol_lock);
	sib_want("SET_POLICY sibling (cap round)", sib_set(fd, 0), 0);
	n = sib_targets(fd);
	sib_want("REGISTER cap + 1 pages, sibling set", reg(fd, h, 0, sib_r, over), E2BIG);
	sib_want("re-REGISTER W0 over cap + 1 pages, sibling set",
		 reg(fd, sib_w0, COWRL_TARGET_CHILDREN, sib_r, over), E2BIG);
	if (sib_targets(fd) != n)
		fail("targets %ld after refused REGISTERs, %ld before", sib_targets(fd), n);
	/* W0's old target stayed (or W0 stayed unregistered) */
	sib_want("UNREGISTER W0 after its refused re-REGISTER", sib_unreg(fd, sib_w0),
		 *reg_w0 ? 0 : ENOENT);
	sib_want("REGISTER W0", reg(fd, sib_w0, COWRL_TARGET_CHILDREN, sib_r, SIB_PAGES * PAGE), 0);
	*reg_w0 = 1;
	n = sib_targets(fd);
	sib_want("REGISTER cap pages, sibling set", reg(fd, h, 0, sib_r, cap), 0);
	sib_want("SET_POLICY STATIC (cap round)", sib_set(fd, 5), 0);
	sib_want("REGISTER cap + 1 pages, STATIC", reg(fd, h2, 0, sib_r, over), 0);
	if (sib_targets(fd) != n + 2)
		fail("targets %ld after two REGISTERs, %ld before", sib_targets(fd), n);
	sib_want("SET_POLICY sibling with a cap + 1 target", sib_set(fd, 1), E2BIG);
	sib_want("SET_POLICY sibling (stake 2) with a cap + 1 target", sib_set(fd, 2), E2BIG);
	sib_want("SET_POLICY GUARDED without sibling_window", sib_set(fd, 3), 0);
	sib_want("UNREGISTER the cap + 1 target", sib_unreg(fd, h2), 0);
	sib_want("SET_POLICY sibling after it went", sib_set(fd, 1), 0);
	sib_want("UNREGISTER the cap target", sib_unreg(fd, h), 0);
	if (sib_targets(fd) != n)
		fail("targets %ld after the cap round, %ld before", sib_targets(fd), n);
	sib_cap_rounds++;
	pthread_mutex_unlock(&sib_pol_lock);
}

static void *sib_churn_thread(void *arg)
{
	uint64_t s = 0xc4u;
	int reg_w0 = 1, reg_m = 0, reg_s[SIB_SLEEPERS] = { 0 }, fd = sib_fd;
	const size_t len = SIB_PAGES * PAGE;
	long ops = 0;

	(void)arg;
	while (!sib_done) {
		int op = (int)(xs(&s) % 8), i = (int)(xs(&s) % 4);

		switch (op) {
		case 0:	/* re-REGISTER W0 (a new target, new family bytes) */
			sib_want("REGISTER W0", reg(fd, sib_w0, COWRL_TARGET_CHILDREN, sib_r, len), 0);
			reg_w0 = 1;
			break;
		case 1:	/* ... over the upper half only: its faults below go out of scope */
			sib_want("REGISTER W0 (half)", reg(fd, sib_w0, COWRL_TARGET_CHILDREN,
							   sib_r + len / 2, len / 2), 0);
			reg_w0 = 1;
			break;
		case 2:
			sib_want("UNREGISTER W0", sib_unreg(fd, sib_w0), reg_w0 ? 0 : ENOENT);
			reg_w0 = 0;
			break;
		case 3:	/* the main process with CHILDREN: W0's faults when W0 is not a target */
			if (reg_m) {
				sib_want("UNREGISTER main", sib_unreg(fd, getpid()), 0);
			} else {
				sib_want("REGISTER main", reg(fd, getpid(), COWRL_TARGET_CHILDREN,
							      sib_r, len), 0);
			}
			reg_m = !reg_m;
			break;
		case 4:	/* an idle sleeper over the region (REGISTER twice = replace) */
			sib_want("REGISTER sleeper", reg(fd, sib_sleep[i], 0, sib_r, len), 0);
			reg_s[i] = 1;
			break;
		case 5:
			sib_want("UNREGISTER sleeper", sib_unreg(fd, sib_sleep[i]),
				 reg_s[i] ? 0 : ENOENT);
			reg_s[i] = 0;
			break;
		case 6:	/* everything, then W0 again */
			sib_want("UNREGISTER all", sib_unreg(fd, 0), 0);
			reg_m = 0;
			memset(reg_s, 0, sizeof(reg_s));
			sib_want("REGISTER W0", reg(fd, sib_w0, COWRL_TARGET_CHILDREN, sib_r, len), 0);
			reg_w0 = 1;
			break;
		default:
			if (ops % 4 == 3)
				sib_cap_round(fd, &reg_w0);
			break;
		}
		sib_churn_ops[op]++;
		ops++;
		usleep(xs(&s) % 2000);
	}
	return NULL;
}

/* The reader: drains the ring into a growing array until told to stop (then once more). */
static struct cowrl_record *sib_recs;
static long sib_nrecs, sib_caprecs;

static void *sib_reader_thread(void *arg)
{
	int last = 0;

	(void)arg;
	for (;;) {
		struct pollfd pf = { .fd = sib_fd, .events = POLLIN };
		ssize_t got;

		if (sib_nrecs + 4096 > sib_caprecs) {
			sib_caprecs *= 2;
			sib_recs = realloc(sib_recs, sib_caprecs * sizeof(*sib_recs));
			if (!sib_recs)
				die("realloc");
		}
		got = read(sib_fd, sib_recs + sib_nrecs, 4096 * sizeof(*sib_recs));
		if (got > 0) {
			sib_nrecs += got / (ssize_t)sizeof(*sib_recs);
			continue;
		}
		if (last)
			break;
		if (sib_done == 2)
			last = 1;	/* one more drain after the writers are gone */
		else
			poll(&pf, 1, 20);
	}
	return NULL;
}

/* W0: per round, fork the children, everyone writes, verify; until *stop. */
static void sib_writer(uint8_t *r, int outfd)
{
	long out[3] = { 0, 0, 0 };	/* rounds, writes, bad pages */

	fill(r, SIB_PAGES);
	for (long round = 1; !*sib_stop; round++) {
		pid_t kids[SIB_KIDS];
		int pr[2];
		long bad = 0;

		if (pipe(pr))
			_exit(3);
		for (int i = 0; i <= SIB_KIDS; i++) {
			pid_t pid = i < SIB_KIDS ? fork() : 0;
			uint64_t s = (uint64_t)round * 0x9e3779b97f4a7c15ULL + (uint64_t)i * 7919 + 1;
			uint64_t v = ((uint64_t)round << 32) | ((uint64_t)i << 16);
			char *mine;
			long b = 0;

			if (pid < 0)
				_exit(4);
			if (pid > 0) {
				kids[i] = pid;
				continue;
			}
			/* a writer (a child, or W0 itself last): word 1 + i of random pages */
			mine = calloc(SIB_PAGES, 1);
			for (long w = 0; w < SIB_WRITES; w++) {
				long p = (long)(xs(&s) % SIB_PAGES);

				((volatile uint64_t *)(r + p * PAGE))[1 + i] = v | (uint64_t)p;
				mine[p] = 1;
			}
			for (long p = 0; p < SIB_PAGES; p++) {
				const uint64_t *q = (const uint64_t *)(r + p * PAGE);

				if (q[0] != pattern(p, 0) || q[PAGE / 8 - 1] != pattern(p, PAGE / 8 - 1) ||
				    (mine[p] && q[1 + i] != (v | (uint64_t)p)))
					b++;
			}
			free(mine);
			if (i < SIB_KIDS) {
				if (write(pr[1], &b, sizeof(b)) != sizeof(b))
					_exit(5);
				_exit(0);
			}
			bad += b;
		}
		for (int i = 0; i < SIB_KIDS; i++) {
			long b = 0;

			if (wait_child(kids[i]) || read(pr[0], &b, sizeof(b)) != sizeof(b))
				bad++;
			bad += b;
		}
		close(pr[0]);
		close(pr[1]);
		out[0] = round;
		out[1] += SIB_PROCS * SIB_WRITES;
		out[2] += bad;
	}
	if (write(outfd, out, sizeof(out)) != sizeof(out))
		_exit(6);
	_exit(0);
}

static long mem_free_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemFree: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* The quiet memory phase: MemFree before minus after (kB); the errnos checked. */
static long sib_leak_phase(int fd)
{
	const size_t cap = SIB_CAP * PAGE, over = (SIB_CAP + 1) * PAGE;
	long before, after;

	sib_want("UNREGISTER all (memory)", sib_unreg(fd, 0), 0);
	sib_want("SET_POLICY sibling (memory)", sib_set(fd, 0), 0);
	before = mem_free_kb();
	for (int i = 0; i < 48; i++) {	/* replace: a new 4 MiB array, the old one freed */
		sib_want("re-REGISTER cap pages", reg(fd, sib_sleep[0], 0, sib_r, cap), 0);
		sib_want("REGISTER cap + 1 pages (memory)", reg(fd, sib_sleep[1], 0, sib_r, over),
			 E2BIG);
	}
	for (int i = 1; i < 16; i++)
		sib_want("REGISTER to fill the slots",
			 reg(fd, sib_sleep[i], 0, sib_r, SIB_PAGES * PAGE), 0);
	if (sib_targets(fd) != 16)
		fail("%ld targets with every slot taken", sib_targets(fd));
	for (int i = 0; i < 48; i++)	/* its array allocated, then ENOSPC: freed */
		sib_want("REGISTER a 17th target", reg(fd, sib_sleep[16], 0, sib_r, cap), ENOSPC);
	for (int i = 0; i < 48; i++) {	/* sibling -> not -> sibling: the arrays stay */
		sib_want("SET_POLICY STATIC (memory)", sib_set(fd, 5), 0);
		sib_want("SET_POLICY sibling gated (memory)", sib_set(fd, 1), 0);
	}
	if (sib_targets(fd) != 16)
		fail("%ld targets after the memory steps, want 16", sib_targets(fd));
	sib_want("UNREGISTER all (memory end)", sib_unreg(fd, 0), 0);
	after = mem_free_kb();
	if (sib_targets(fd) != 0)
		fail("%ld targets after UNREGISTER all", sib_targets(fd));
	return before - after;
}

static int test_sibling(void)
{
	double secs = 4.0 * scale;
	size_t len = SIB_PAGES * PAGE;
	struct cowrl_counters c;
	pthread_t thp, thc, thr;
	long out[3] = { 0, 0, 0 }, demand = 0, precopy = 0, other = 0, sum_precopied = 0;
	long sib_copies = 0, bad_rec = 0, orphans = 0, leak_kb, max_off = 0;
	int pid_max = 32768, res[2], st, gate[2];
	int32_t *last, *pend;
	int32_t *link;
	uint64_t t0 = now_ns();
	FILE *f;

	sib_fd = dev_open();
	sib_r = map_region(len, 0);	/* mapped here, untouched: W0 fills it */
	sib_stop = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sib_stop == MAP_FAILED || pipe(res) || pipe(gate))
		die("setup");
	*sib_stop = 0;
	for (int i = 0; i < SIB_SLEEPERS; i++) {	/* idle targets: block on the gate */
		sib_sleep[i] = fork();
		if (sib_sleep[i] == 0) {
			char ch;

			close(gate[1]);
			while (read(gate[0], &ch, 1) > 0)
				;
			_exit(0);
		}
	}
	close(gate[0]);
	ioctl(sib_fd, COWRL_IOC_RESET);
	sib_want("SET_POLICY sibling (start)", sib_set(sib_fd, 0), 0);
	sib_w0 = fork();
	if (sib_w0 == 0)
		sib_writer(sib_r, res[1]);
	sib_want("REGISTER W0 (start)", reg(sib_fd, sib_w0, COWRL_TARGET_CHILDREN, sib_r, len), 0);
	sib_caprecs = 1 << 16;
	sib_recs = malloc(sib_caprecs * sizeof(*sib_recs));
	pthread_create(&thr, NULL, sib_reader_thread, NULL);
	pthread_create(&thp, NULL, sib_policy_thread, NULL);
	pthread_create(&thc, NULL, sib_churn_thread, NULL);
	/* at least secs and 3 cap rounds (at most 10 x secs) */
	while ((now_ns() - t0) / 1e9 < secs || (sib_cap_rounds < 3 && (now_ns() - t0) / 1e9 < 10 * secs))
		usleep(50000);
	sib_done = 1;	/* the churn first: it REGISTERs W0, which must be alive */
	pthread_join(thp, NULL);
	pthread_join(thc, NULL);
	*sib_stop = 1;
	st = wait_child(sib_w0);	/* its children and their works are done */
	if (read(res[0], out, sizeof(out)) != sizeof(out))
		fail("no result from the writers (status %d)", st);
	sib_done = 2;
	pthread_join(thr, NULL);
	counters(sib_fd, &c);

	/* per process, in ring order: the precopy records before each demand record */
	f = fopen("/proc/sys/kernel/pid_max", "r");
	if (f) {
		if (fscanf(f, "%d", &pid_max) != 1)
			pid_max = 1 << 22;
		fclose(f);
	}
	last = malloc(sizeof(*last) * (size_t)pid_max);
	pend = calloc((size_t)pid_max, sizeof(*pend));
	link = malloc(sizeof(*link) * (size_t)(sib_nrecs + 1));
	for (int p = 0; p < pid_max; p++)
		last[p] = -1;
	for (long i = 0; i < sib_nrecs; i++) {
		const struct cowrl_record *x = &sib_recs[i];
		int p = x->pid;

		if (p <= 0 || p >= pid_max || x->addr < (uintptr_t)sib_r ||
		    x->addr >= (uintptr_t)sib_r + len) {
			if (!bad_rec++)
				fail("record %ld: pid %d, addr 0x%llx outside the region", i, p,
				     (unsigned long long)x->addr);
			continue;
		}
		link[i] = last[p];
		last[p] = (int32_t)i;
		if (x->flags == COWRL_REC_PRECOPY) {
			precopy++;
			pend[p]++;
			continue;
		}
		if (x->flags != (COWRL_REC_DEMAND | COWRL_REC_USER)) {
			if (!other++)
				fail("record %ld: flags %u", i, x->flags);
			continue;
		}
		demand++;
		sum_precopied += x->precopied;
		if (x->degree > SIB_KMAX || (long)x->precopied != pend[p] ||
		    x->precopied > (x->degree > SIB_W ? x->degree : SIB_W)) {
			if (!bad_rec++)
				fail("record %ld (pid %d): degree %u, precopied %u, %d precopy records "
				     "before it", i, p, x->degree, x->precopied, pend[p]);
		}
		{
			uint64_t seen = 0;
			long lim = x->degree > SIB_W ? x->degree : SIB_W, j = link[i];

			for (int n = 0; n < pend[p] && j >= 0; n++, j = link[j]) {
				long off = ((long)sib_recs[j].addr - (long)x->addr) / (long)PAGE;

				if (sib_recs[j].flags != COWRL_REC_PRECOPY || off < 1 || off > lim ||
				    (off <= 64 && (seen >> (off - 1) & 1))) {
					if (!bad_rec++)
						fail("record %ld (pid %d, degree %u): precopy record %ld "
						     "at page offset %ld", i, p, x->degree, j, off);
					break;
				}
				seen |= 1ULL << (off - 1);
				sib_copies += off > (long)x->degree;
				max_off = off > max_off ? off : max_off;
			}
		}
		pend[p] = 0;
	}
	for (int p = 0; p < pid_max; p++)
		orphans += pend[p];

	leak_kb = sib_leak_phase(sib_fd);
	unreg_all(sib_fd);
	close(gate[1]);
	for (int i = 0; i < SIB_SLEEPERS; i++)
		wait_child(sib_sleep[i]);

	if (st)
		fail("writer status %d", st);
	if (out[2])
		fail("%ld writer pages read back wrong", out[2]);
	if (orphans)
		fail("%ld precopy records without their demand record", orphans);
	if (c.dropped || c.pending_work || c.throttled)
		fail("dropped %llu, pending %llu, throttled %llu", (unsigned long long)c.dropped,
		     (unsigned long long)c.pending_work, (unsigned long long)c.throttled);
	if ((long)c.records != sib_nrecs || (long)c.demand_faults != demand ||
	    (long)c.precopy_copies != precopy || sum_precopied != precopy)
		fail("counters: records %llu, demand %llu, precopy %llu; read %ld records, %ld demand, "
		     "%ld precopy, precopied summed %ld", (unsigned long long)c.records,
		     (unsigned long long)c.demand_faults, (unsigned long long)c.precopy_copies,
		     sib_nrecs, demand, precopy, sum_precopied);
	if (c.precopy_copies + c.precopy_nocopy > c.precopy_tries ||
	    c.proof_clean + c.proof_lost > c.precopy_copies || c.proof_credited > c.proof_clean ||
	    c.proof_foreign > c.proof_reads || c.decisions > c.demand_faults ||
	    c.max_pending > SIB_PROCS || c.kernel_copies || c.manual_copies)
		fail("counter invariants: tries %llu copies %llu nocopy %llu clean %llu lost %llu "
		     "credited %llu reads %llu foreign %llu decisions %llu max_pending %llu",
		     (unsigned long long)c.precopy_tries, (unsigned long long)c.precopy_copies,
		     (unsigned long long)c.precopy_nocopy, (unsigned long long)c.proof_clean,
		     (unsigned long long)c.proof_lost, (unsigned long long)c.proof_credited,
		     (unsigned long long)c.proof_reads, (unsigned long long)c.proof_foreign,
		     (unsigned long long)c.decisions, (unsigned long long)c.max_pending);
	if (demand + precopy > out[0] * SIB_PROCS * SIB_PAGES)
		fail("%ld copies in %ld rounds: more than one per page, writer and round",
		     demand + precopy, out[0]);
	if (!sib_copies)
		fail("no precopy copy past its degree: the sibling window never copied");
	/*
	 * ABI 17: the decision tallies, kept across the SET_POLICY resets and the targets
	 * dropped: every asked window granted, floored, refused or (ABI 20) dropped empty; each copy past its degree one
	 * of the sibling pages the decisions counted (a page may be private by its work's turn)
	 */
	if (c.guard_asked != c.guard_floor + c.guard_refused + c.guard_windows + c.guard_empty ||
	    c.guard_asked > c.decisions || c.guard_short > c.guard_windows ||
	    c.guard_sib_windows > c.guard_sib_pages ||
	    (unsigned long long)sib_copies > c.guard_sib_pages)
		fail("tallies: asked %llu floor %llu refused %llu windows %llu empty %llu short "
		     "%llu, sibling windows %llu pages %llu (%ld copies past the degree), decisions "
		     "%llu",
		     (unsigned long long)c.guard_asked, (unsigned long long)c.guard_floor,
		     (unsigned long long)c.guard_refused, (unsigned long long)c.guard_windows,
		     (unsigned long long)c.guard_empty, (unsigned long long)c.guard_short, (unsigned long long)c.guard_sib_windows,
		     (unsigned long long)c.guard_sib_pages, sib_copies,
		     (unsigned long long)c.decisions);
	/*
	 * ABI 18: each refusal has one reason; the budgets left, summed (u64: exact mod 2^64),
	 * are what was added less what was spent, through the same resets and drops
	 */
	if (c.guard_refused != c.guard_refused_setup + c.guard_refused_protect +
	    c.guard_refused_fit ||
	    c.guard_budget_ns != c.guard_add_allow_ns + c.guard_add_credit_ns -
	    c.guard_spend_window_ns - c.guard_spend_walk_ns - c.guard_spend_sib_ns)
		fail("tallies: refused %llu = setup %llu + protect %llu + fit %llu? budget %lld = "
		     "allow %llu + credit %llu - window %llu - walk %llu - sib %llu?",
		     (unsigned long long)c.guard_refused, (unsigned long long)c.guard_refused_setup,
		     (unsigned long long)c.guard_refused_protect,
		     (unsigned long long)c.guard_refused_fit, (long long)c.guard_budget_ns,
		     (unsigned long long)c.guard_add_allow_ns,
		     (unsigned long long)c.guard_add_credit_ns,
		     (unsigned long long)c.guard_spend_window_ns,
		     (unsigned long long)c.guard_spend_walk_ns,
		     (unsigned long long)c.guard_spend_sib_ns);
	if (sib_cap_rounds < 3)
		fail("%ld cap rounds", sib_cap_rounds);
	for (int i = 0; i < SIB_NPOL; i++)
		if (sib_sets[i] < 2)
			fail("policy %d set %ld times", i, sib_sets[i]);
	if (leak_kb > 48 * 1024)
		fail("MemFree dropped by %ld kB over the memory steps", leak_kb);
	printf("{\"test\": \"sibling\", \"seconds\": %.1f, \"writers\": %d, \"rounds\": %ld, "
	       "\"writes\": %ld, \"policy_sets\": [", (now_ns() - t0) / 1e9, SIB_PROCS, out[0], out[1]);
	for (int i = 0; i < SIB_NPOL; i++)
		printf("%s%ld", i ? ", " : "", sib_sets[i]);
	printf("], \"churn_ops\": [");
	for (int i = 0; i < 8; i++)
		printf("%s%ld", i ? ", " : "", sib_churn_ops[i]);
	printf("], \"cap_rounds\": %ld, \"bad_errno\": %ld, \"records\": %ld, \"demand_faults\": %ld, "
	       "\"precopy_copies\": %ld, \"sibling_copies\": %ld, \"max_offset\": %ld, "
	       "\"bad_records\": %ld, \"orphans\": %ld, \"precopy_tries\": %llu, "
	       "\"precopy_nocopy\": %llu, \"proof_clean\": %llu, \"proof_lost\": %llu, "
	       "\"decisions\": %llu, \"max_pending\": %llu, \"work_failed\": %llu, "
	       "\"out_of_scope\": %llu, \"bad_pages\": %ld, \"memfree_drop_kb\": %ld, "
	       "\"guard_asked\": %llu, \"guard_windows\": %llu, \"guard_sib_windows\": %llu, "
	       "\"guard_sib_pages\": %llu, \"guard_gate_open\": %llu, \"guard_gate_shut\": %llu, "
	       "\"guard_add_allow_ns\": %llu, \"guard_budget_ns\": %lld, "
	       "\"ok\": %s, \"why\": \"%s\"}\n",
	       sib_cap_rounds, sib_bad_errno, sib_nrecs, demand, precopy, sib_copies, max_off,
	       bad_rec, orphans, (unsigned long long)c.precopy_tries,
	       (unsigned long long)c.precopy_nocopy, (unsigned long long)c.proof_clean,
	       (unsigned long long)c.proof_lost, (unsigned long long)c.decisions,
	       (unsigned long long)c.max_pending, (unsigned long long)c.work_failed,
	       (unsigned long long)c.out_of_scope, out[2], leak_kb,
	       (unsigned long long)c.guard_asked, (unsigned long long)c.guard_windows,
	       (unsigned long long)c.guard_sib_windows, (unsigned long long)c.guard_sib_pages,
	       (unsigned long long)c.guard_gate_open, (unsigned long long)c.guard_gate_shut,
	       (unsigned long long)c.guard_add_allow_ns, (long long)c.guard_budget_ns,
	       why[0] ? "false" : "true", why);
	close(sib_fd);
	return 0;
}


int main(int argc, char **argv)
{
	const char *test;

	if (argc < 2) {
		fprintf(stderr, "usage: cowrl_stress storm|thp|race|raceproof|cowrace|reload|forktree|pidreuse|fuzz|"
			"staletlb|cleanswap|sibling|proofcost|proofread|proofstep|proofskip|proofdue "
			"[--scale N] [--module PATH]\n");
		return 2;
	}
	test = argv[1];
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--scale"))
			scale = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : 1;
		else if (!strcmp(argv[i], "--module"))
			module_path = argv[i + 1];
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(test, "storm"))
		return test_storm();
	if (!strcmp(test, "thp"))
		return test_thp();
	if (!strcmp(test, "race"))
		return test_race();
	if (!strcmp(test, "raceproof")) {
		proof_mode = 1;
		return test_race();
	}
	if (!strcmp(test, "staletlb"))
		return test_staletlb();
	if (!strcmp(test, "cleanswap"))
		return test_cleanswap();
	if (!strcmp(test, "proofcost"))
		return test_proofcost();
	if (!strcmp(test, "proofread"))
		return test_proofread();
	if (!strcmp(test, "proofstep"))
		return test_proofstep();
	if (!strcmp(test, "proofskip"))
		return test_proofskip();
	if (!strcmp(test, "proofdue"))
		return test_proofdue();
	if (!strcmp(test, "cowrace"))
		return test_cowrace();
	if (!strcmp(test, "sibling"))
		return test_sibling();
	if (!strcmp(test, "reload"))
		return test_reload();
	if (!strcmp(test, "forktree"))
		return test_forktree();
	if (!strcmp(test, "pidreuse"))
		return test_pidreuse();
	if (!strcmp(test, "fuzz"))
		return test_fuzz();
	fprintf(stderr, "cowrl_stress: unknown test %s\n", test);
	return 2;
}
