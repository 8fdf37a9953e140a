// SPDX-License-Identifier: GPL-2.0
/*
 * cowrl_harness - replay a write trace over a COW-shared region, for real.
 *
 * Maps n_pages of anonymous memory between two PROT_NONE guard pages (so the
 * region is its own VMA), fills every page, applies the THP madvise, optionally
 * registers itself with /dev/cowrl and sets the policy (a static precopy
 * degree, or with --table a decision table pushed as COWRL_POLICY_TABLE), forks,
 * and lets one process (the writer) write one byte into each trace page in
 * order, timing every write.  The other process (the holder) keeps the
 * snapshot.  At the end the writer counts its private pages through
 * /proc/self/pagemap (bit 56, exclusively mapped) and both processes verify
 * that they see exactly the contents they should.
 *
 * Usage: cowrl_harness --trace FILE --n-pages N --out DIR [--k K | --table TFILE]
 *                      [--thp] [--writer child|parent] [--no-module] [--dev PATH]
 *                      [--regions RFILE] [--writers WFILE]
 * FILE holds little-endian int64 page indices.  DIR receives summary.txt
 * (key=value lines), write_ns.bin (u64 per write) and records.bin (raw
 * struct cowrl_record from the module).  TFILE holds one struct
 * cowrl_policy_table (cowrl_policy.h, COWRL_POLICY_TABLE_BYTES bytes, as
 * cowrl.policies.kernel_table.pack_table writes it); the harness passes it
 * as is (entry_size = file size), so the module does all the checking.
 *
 * RFILE (a multi-region trace, as recorded from a real program) holds one
 * pair of little-endian int64 per region: its size in pages (the sizes sum to
 * N) and its first "slot" (slot s = page s of the 2 MiB aligned range).  The
 * host computes the slots (cowrl.kernel.jobs.harness_slots: each region's
 * first slot congruent modulo 512 to the simulator's virtual page number of
 * its first page, so aligned groups and huge-page boundaries fall where the
 * simulator puts them); the harness only checks that they ascend with at
 * least one slot between regions, or that a region repeats an earlier one's size and slot
 * exactly: with WFILE, another process's copy of that region (the children of a fork hold
 * their copies of a parent buffer at one address; the host's harness_slots(shared=True)),
 * which must then be written by another process than the region it repeats.  Each region is mapped as its own VMA, the
 * slots between them PROT_NONE, so they never merge and precopy clips at each
 * region's end as at a VMA's end.  records.bin addresses are slot addresses,
 * and summary.txt's n_slots/regions say so.  Without RFILE the N pages are one
 * region at slot 0.
 *
 * WFILE (a trace recorded from several processes: a fork's children each writing their own
 * copy) holds one little-endian int64 per write, the process that replays it: 0..15, the
 * ordinal of the write's writer role by the roles' first writes (Trace.region_procs; the
 * 16th role and every later one share process 15, as they share the module's last ordinal,
 * COWRL_GUARDED_PROCS), so process k writes first after process k - 1 did.  With more than
 * one process each is forked from the process that filled
 * and registered the range (so every page is COW-shared by all of them, as after the
 * recorded fork), and they write in trace order across processes: the writer of write i
 * hands a token (the index of the next write) through the pipe of the writer of write
 * i + 1 whenever the two differ, so the module decides the faults in the simulator's
 * order, and each precopy (task work on return from the fault) is done before the token
 * moves.  Each writer then counts and verifies its own view (the pages it wrote flipped,
 * every other page as filled); summary.txt sums their counts and writers= says how many
 * there were.  The parent only holds the snapshot (--writer is not read).  With one role
 * (or without WFILE) one process writes everything, as before.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../cowrl_uapi.h"
#include "cowrl_region.h"

#define PAGE 4096UL
#define HUGE (2UL << 20)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_PRESENT (1ULL << 63)

struct shared_result {
	uint64_t private_pages;
	uint64_t wasted;
	uint64_t written_not_private;
	int32_t writer_ok;
	int32_t holder_ok;
	uint64_t writer_bad_pages;
	uint64_t holder_bad_pages;
	uint64_t elapsed_ns;
};

struct opts {
	const char *trace, *out, *dev, *writer, *table, *regions, *writers;
	long n_pages;
	unsigned int k;
	int thp, module;
};

/* The open /dev/cowrl once this process registered itself: error paths unregister. */
static int registered_fd = -1;

static void unregister_self(void)
{
	struct cowrl_target tg = { .pid = getpid() };
	struct cowrl_policy off = { .mode = COWRL_POLICY_OFF };

	if (registered_fd < 0)
		return;
	ioctl(registered_fd, COWRL_IOC_UNREGISTER, &tg);
	ioctl(registered_fd, COWRL_IOC_SET_POLICY, &off);
	registered_fd = -1;
}

/* Multi-region: guard[slot] = 1 for a PROT_NONE slot outside every region (NULL: one region). */
static uint8_t *guard;
/* Multi-region: first slot and size in pages of each of the n_reg regions. */
static int64_t *reg_slot, *reg_size;
static long n_reg;
/* --regions: per region the earlier region whose (size, slot) it repeats, else -1; the region
 * of each write (to_slots) */
static long *reg_dup, *write_reg;

static void die(const char *what)
{
	int err = errno;

	fprintf(stderr, "cowrl_harness: %s: %s\n", what, strerror(err));
	unregister_self();
	exit(2);
}

static uint64_t pattern(uint64_t page, uint64_t word)
{
	return (page << 20) ^ word ^ 0x9e3779b97f4a7c15ULL;
}

static void fill(uint8_t *region, long n_pages)
{
	for (long p = 0; p < n_pages; p++) {
		uint64_t *w = (uint64_t *)(region + p * PAGE);

		if (guard && guard[p])
			continue;

		for (unsigned long j = 0; j < PAGE / 8; j++)
			w[j] = pattern(p, j);
	}
}

/* Count pages whose contents differ from the fill (plus the writer's flipped byte 0). */
static uint64_t verify(const uint8_t *region, long n_pages, const uint8_t *written)
{
	uint64_t bad = 0;

	for (long p = 0; p < n_pages; p++) {
		const uint64_t *w = (const uint64_t *)(region + p * PAGE);
		uint64_t first = pattern(p, 0);

		if (guard && guard[p])
			continue;

		if (written && written[p])
			first ^= 0xff;
		if (w[0] != first) {
			bad++;
			continue;
		}
		for (unsigned long j = 1; j < PAGE / 8; j++) {
			if (w[j] != pattern(p, j)) {
				bad++;
				break;
			}
		}
	}
	return bad;
}

static void scan_pagemap(const uint8_t *region, long n_pages, const uint8_t *written,
			 struct shared_result *res)
{
	uint64_t *pm = calloc(n_pages, sizeof(*pm));
	int fd = open("/proc/self/pagemap", O_RDONLY);
	size_t want = n_pages * sizeof(*pm);
	off_t off = (off_t)((uintptr_t)region / PAGE) * 8;

	if (!pm || fd < 0)
		die("pagemap");
	for (size_t got = 0; got < want;) {
		ssize_t r = pread(fd, (char *)pm + got, want - got, off + got);

		if (r <= 0)
			die("pagemap read");
		got += r;
	}
	close(fd);
	for (long p = 0; p < n_pages; p++) {
		int priv = (pm[p] & PM_PRESENT) && (pm[p] & PM_EXCLUSIVE);

		res->private_pages += priv;
		if (priv && !written[p])
			res->wasted++;
		if (!priv && written[p])
			res->written_not_private++;
	}
	free(pm);
}

/* Write @trace[i]'s byte (the fill's first byte flipped), its time into @write_ns[i]. */
static inline void timed_write(uint8_t *region, const int64_t *trace, long i,
			       uint64_t *write_ns)
{
	volatile uint8_t *b = region + trace[i] * PAGE;
	uint8_t v = (uint8_t)(pattern(trace[i], 0) ^ 0xff);
	uint64_t a, z;

	a = now_ns();
	__asm__ __volatile__("" ::: "memory");
	*b = v;
	__asm__ __volatile__("" ::: "memory");
	z = now_ns();
	write_ns[i] = z - a;
}

static void writer(uint8_t *region, long n_pages, const int64_t *trace, long writes,
		   uint64_t *write_ns, const uint8_t *written, struct shared_result *res)
{
	uint64_t t0 = now_ns();

	for (long i = 0; i < writes; i++)
		timed_write(region, trace, i, write_ns);
	res->elapsed_ns = now_ns() - t0;
	scan_pagemap(region, n_pages, written, res);
	res->writer_bad_pages = verify(region, n_pages, written);
	res->writer_ok = res->writer_bad_pages == 0;
}

static void holder_wait_and_verify(int rfd, uint8_t *region, long n_pages,
				   struct shared_result *res)
{
	char c;

	if (read(rfd, &c, 1) != 1)
		die("holder pipe");
	res->holder_bad_pages = verify(region, n_pages, NULL);
	res->holder_ok = res->holder_bad_pages == 0;
}

static int64_t *read_trace(const char *path, long *writes)
{
	struct stat st;
	int64_t *t;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st))
		die(path);
	if (st.st_size == 0 || st.st_size % 8) {
		fprintf(stderr, "cowrl_harness: %s: not a non-empty int64 file\n", path);
		exit(2);
	}
	t = malloc(st.st_size);
	if (!t)
		die("malloc");
	for (off_t got = 0; got < st.st_size;) {
		ssize_t r = read(fd, (char *)t + got, st.st_size - got);

		if (r <= 0)
			die(path);
		got += r;
	}
	close(fd);
	*writes = st.st_size / 8;
	return t;
}

static void write_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || (len && fwrite(buf, 1, len, f) != len) || fclose(f))
		die(path);
}

static void read_thp_setting(char *buf, size_t len)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	snprintf(buf, len, "unknown");
	if (f) {
		if (fgets(buf, len, f))
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"trace", 1, 0, 't'}, {"n-pages", 1, 0, 'n'}, {"out", 1, 0, 'o'},
		{"k", 1, 0, 'k'}, {"thp", 0, 0, 'H'}, {"writer", 1, 0, 'w'},
		{"no-module", 0, 0, 'N'}, {"dev", 1, 0, 'd'}, {"table", 1, 0, 'T'},
		{"regions", 1, 0, 'R'}, {"writers", 1, 0, 'W'}, {0, 0, 0, 0},
	};
	int c;

	*o = (struct opts){ .dev = "/dev/" COWRL_DEVICE_NAME, .writer = "child", .module = 1 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 't': o->trace = optarg; break;
		case 'n': o->n_pages = atol(optarg); break;
		case 'o': o->out = optarg; break;
		case 'k': o->k = (unsigned int)atoi(optarg); break;
		case 'H': o->thp = 1; break;
		case 'w': o->writer = optarg; break;
		case 'N': o->module = 0; break;
		case 'd': o->dev = optarg; break;
		case 'T': o->table = optarg; break;
		case 'R': o->regions = optarg; break;
		case 'W': o->writers = optarg; break;
		default: exit(2);
		}
	}
	if (!o->trace || !o->out || o->n_pages <= 0 || (o->table && (o->k || !o->module)) ||
	    (strcmp(o->writer, "child") && strcmp(o->writer, "parent"))) {
		fprintf(stderr, "usage: cowrl_harness --trace FILE --n-pages N --out DIR "
			"[--k K | --table TFILE] [--thp] [--writer child|parent] [--no-module] "
			"[--dev PATH] [--regions RFILE] [--writers WFILE]\n");
		exit(2);
	}
}

/* The whole of @path (at most 64 KiB) in a malloc'd buffer; *len = its size. */
static void *read_small_file(const char *path, size_t *len)
{
	char *buf = malloc(1 << 16);
	size_t got = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || !buf)
		die(path);
	while ((r = read(fd, buf + got, (1 << 16) - got)) > 0)
		got += r;
	if (r < 0)
		die(path);
	close(fd);
	*len = got;
	return buf;
}

static int module_setup(const struct opts *o, uintptr_t start, size_t len)
{
	struct cowrl_version v;
	struct cowrl_policy pol = { .mode = COWRL_POLICY_STATIC, .k = o->k };
	size_t table_bytes = 0;
	void *table = NULL;
	struct cowrl_target tg = { .pid = getpid(), .flags = COWRL_TARGET_CHILDREN,
				   .start = start, .len = len };
	int fd = open(o->dev, O_RDWR);

	if (fd < 0)
		die(o->dev);
	if (ioctl(fd, COWRL_IOC_VERSION, &v))
		die("COWRL_IOC_VERSION");
	if (v.abi_version != COWRL_ABI_VERSION || v.record_size != sizeof(struct cowrl_record)) {
		fprintf(stderr, "cowrl_harness: module ABI %u, harness ABI %d\n",
			v.abi_version, COWRL_ABI_VERSION);
		exit(2);
	}
	if (o->table) {
		table = read_small_file(o->table, &table_bytes);
		/* The payload's size tells the two table modes apart. */
		pol = (struct cowrl_policy){ .mode = table_bytes == COWRL_GUARDED_TABLE_BYTES ?
					     COWRL_POLICY_GUARDED : COWRL_POLICY_TABLE, .table_len = 1,
					     .entry_size = (__u32)table_bytes,
					     .table_ptr = (__u64)(uintptr_t)table };
	}
	if (ioctl(fd, COWRL_IOC_RESET))
		die("COWRL_IOC_RESET");
	if (ioctl(fd, COWRL_IOC_SET_POLICY, &pol)) {
		if (errno == EINVAL && pol.mode == COWRL_POLICY_GUARDED)
			die("COWRL_IOC_SET_POLICY (guarded table; with proof: 1 the module needs "
			    "x86-64 Linux 6.1-6.12 for its dirty-bit clean: elsewhere set proof: 0 "
			    "in conf/policy/guarded.yaml and guarded0.yaml)");
		die(o->table ? "COWRL_IOC_SET_POLICY (table)" : "COWRL_IOC_SET_POLICY");
	}
	if (ioctl(fd, COWRL_IOC_REGISTER, &tg))
		die("COWRL_IOC_REGISTER");
	registered_fd = fd;
	free(table);
	return fd;
}

static void module_finish(int fd, const char *out, struct cowrl_counters *cnt)
{
	struct cowrl_target tg = { .pid = getpid() };
	struct cowrl_policy off = { .mode = COWRL_POLICY_OFF };
	size_t cap = 1 << 16, used = 0;
	char *buf = malloc(cap);
	ssize_t r;

	if (ioctl(fd, COWRL_IOC_UNREGISTER, &tg) || ioctl(fd, COWRL_IOC_SET_POLICY, &off))
		die("module finish");
	registered_fd = -1;
	if (ioctl(fd, COWRL_IOC_COUNTERS, cnt))
		die("COWRL_IOC_COUNTERS");
	for (;;) {
		if (cap - used < (1 << 15)) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		if (!buf)
			die("malloc");
		r = read(fd, buf + used, (cap - used) / sizeof(struct cowrl_record) *
			 sizeof(struct cowrl_record));
		if (r < 0)
			die("read records");
		if (r == 0)
			break;
		used += r;
	}
	write_file(out, "records.bin", buf, used);
	free(buf);
	close(fd);
}

/* Slots are pages of the mapped range: at most 2^35 (128 TiB), so no product overflows. */
#define MAX_SLOTS (1LL << 35)

/*
 * --regions: read the (size, first slot) pairs, turn @trace's page indices
 * into slot indices (page - first page of its region + its first slot), set
 * o->n_pages to the slot count and fill the guard map.  Returns the number of
 * regions.
 */
static long to_slots(struct opts *o, int64_t *trace, long writes)
{
	long n, total = 0;
	int64_t *pairs = read_trace(o->regions, &n);
	int64_t *first;	/* first page of each region */
	int64_t next = 0;	/* first slot the next region may take */

	if (n % 2) {
		fprintf(stderr, "cowrl_harness: %s: not (size, slot) int64 pairs\n", o->regions);
		exit(2);
	}
	n /= 2;
	first = malloc(n * sizeof(*first));
	reg_slot = malloc(n * sizeof(*reg_slot));
	reg_size = malloc(n * sizeof(*reg_size));
	reg_dup = malloc(n * sizeof(*reg_dup));
	write_reg = malloc((writes ? writes : 1) * sizeof(*write_reg));
	if (!first || !reg_slot || !reg_size || !reg_dup || !write_reg)
		die("malloc");
	for (long r = 0; r < n; r++) {
		reg_size[r] = pairs[2 * r];
		reg_slot[r] = pairs[2 * r + 1];
		if (reg_size[r] <= 0 || reg_size[r] > MAX_SLOTS) {
			fprintf(stderr, "cowrl_harness: %s: region %ld has size %lld\n", o->regions,
				r, (long long)reg_size[r]);
			exit(2);
		}
		reg_dup[r] = -1;
		for (long q = 0; q < r && reg_slot[r] < next; q++)
			if (reg_slot[q] == reg_slot[r] && reg_size[q] == reg_size[r] &&
			    reg_dup[q] < 0)
				reg_dup[r] = q;	/* another process's copy of region q */
		if (reg_dup[r] >= 0) {
			first[r] = total;
			total += reg_size[r];
			continue;
		}
		if (reg_slot[r] < next || reg_slot[r] > MAX_SLOTS - reg_size[r]) {
			fprintf(stderr, "cowrl_harness: %s: region %ld at slot %lld: slots must "
				"ascend, one guard slot between regions, below %lld (or repeat an "
				"earlier region's size and slot)\n", o->regions,
				r, (long long)reg_slot[r], MAX_SLOTS);
			exit(2);
		}
		next = reg_slot[r] + reg_size[r] + 1;
		first[r] = total;
		total += reg_size[r];
	}
	if (total != o->n_pages) {
		fprintf(stderr, "cowrl_harness: %s: regions sum to %ld pages, --n-pages is %ld\n",
			o->regions, total, o->n_pages);
		exit(2);
	}
	n_reg = n;
	o->n_pages = next - 1;	/* slots up to the last region's end */
	guard = malloc(o->n_pages);
	if (!guard)
		die("malloc");
	memset(guard, 1, o->n_pages);
	for (long r = 0; r < n; r++)
		memset(guard + reg_slot[r], 0, reg_size[r]);
	for (long i = 0; i < writes; i++) {
		long lo = 0, hi = n - 1;

		if (trace[i] < 0 || trace[i] >= total) {
			fprintf(stderr, "cowrl_harness: page %lld outside the %ld pages of %s\n",
				(long long)trace[i], total, o->regions);
			exit(2);
		}
		while (lo < hi) {	/* last region whose first page <= trace[i] */
			long mid = (lo + hi + 1) / 2;

			if (first[mid] <= trace[i])
				lo = mid;
			else
				hi = mid - 1;
		}
		trace[i] += reg_slot[lo] - first[lo];
		write_reg[i] = lo;
	}
	free(first);
	free(pairs);
	return n;
}

/* Multi-writer replay: the processes the module tells apart (COWRL_GUARDED_PROCS). */
#define MAX_WRITERS 16

/*
 * --writers: read the process of each write (0..MAX_WRITERS - 1, numbered by first write:
 * process k first writes after process k - 1).  Returns how many there are.
 */
static long read_writers(const char *path, long writes, int32_t *proc)
{
	long n, n_proc = 0;
	int64_t *p = read_trace(path, &n);

	if (n != writes) {
		fprintf(stderr, "cowrl_harness: %s: %ld processes for %ld writes\n", path, n,
			writes);
		exit(2);
	}
	for (long i = 0; i < writes; i++) {
		if (p[i] < 0 || p[i] > n_proc || p[i] >= MAX_WRITERS) {
			fprintf(stderr, "cowrl_harness: %s: write %ld in process %lld: processes are "
				"0..%d, numbered by their first write\n", path, i, (long long)p[i],
				MAX_WRITERS - 1);
			exit(2);
		}
		if (p[i] == n_proc)
			n_proc++;
		proc[i] = (int32_t)p[i];
	}
	free(p);
	return n_proc;
}

/*
 * --regions with repeated regions (another process's copy, reg_dup): every write to a region
 * is made by one process, and a repeated region's by another process than the region it
 * repeats (one process holds one copy).  Nonzero (after one line on stderr) if not.
 */
static int check_copies(const struct opts *o, const int32_t *proc, long writes)
{
	int32_t *rp;
	long r, q, i, g, h;
	int bad = 0;

	for (r = 0; r < n_reg && reg_dup[r] < 0; r++)
		;
	if (r == n_reg)
		return 0;	/* no region repeats another */
	if (!proc) {
		fprintf(stderr, "cowrl_harness: %s: region %ld repeats region %ld's slots: needs "
			"--writers (each copy in its own process)\n", o->regions, r, reg_dup[r]);
		return 1;
	}
	rp = malloc(n_reg * sizeof(*rp));
	if (!rp)
		die("malloc");
	for (r = 0; r < n_reg; r++)
		rp[r] = -1;
	for (i = 0; i < writes && !bad; i++) {
		r = write_reg[i];
		if (rp[r] >= 0 && rp[r] != proc[i]) {
			fprintf(stderr, "cowrl_harness: %s: region %ld written by processes %d and "
				"%d\n", o->regions, r, rp[r], proc[i]);
			bad = 1;
		}
		rp[r] = proc[i];
	}
	/* the copies of one region (itself and those repeating it): one process each */
	for (r = 0; r < n_reg && !bad; r++) {
		g = reg_dup[r] < 0 ? r : reg_dup[r];
		for (q = 0; q < r && !bad; q++) {
			h = reg_dup[q] < 0 ? q : reg_dup[q];
			if (g == h && rp[r] >= 0 && rp[r] == rp[q]) {
				fprintf(stderr, "cowrl_harness: %s: regions %ld and %ld share slots in "
					"one process (%d)\n", o->regions, q, r, rp[r]);
				bad = 1;
			}
		}
	}
	free(rp);
	return bad;
}

/* The token of the multi-writer replay: the index of the next write (writes: all done). */
static void pass_token(int wfd, long i)
{
	if (write(wfd, &i, sizeof(i)) != sizeof(i))
		die("token write");
}

static long wait_token(int rfd)
{
	long i;

	if (read(rfd, &i, sizeof(i)) != sizeof(i))
		die("token read");
	return i;
}

/*
 * Writer @me of @n_proc: write its writes of @trace when the token says so, hand the token
 * on at each change of writer (the last write's writer tells every other it is over), then
 * count and verify its own view into @res (its written pages: those it wrote).
 * @pipes[2 * w] / [2 * w + 1]: writer w's token pipe.  @t0, @t1: the first write's start and
 * the last write's end (CLOCK_MONOTONIC), set by their writers.
 */
static void multi_writer(int me, long n_proc, const int *pipes, uint8_t *region, long n_pages,
			 const int64_t *trace, const int32_t *proc, long writes,
			 uint64_t *write_ns, uint64_t *t0, uint64_t *t1,
			 struct shared_result *res)
{
	uint8_t *mine = calloc(n_pages, 1);
	long i;

	if (!mine)
		die("calloc");
	for (i = 0; i < writes; i++)
		if (proc[i] == me)
			mine[trace[i]] = 1;
	i = wait_token(pipes[2 * me]);
	for (;;) {
		if (i == 0)
			*t0 = now_ns();
		for (; i < writes && proc[i] == me; i++)
			timed_write(region, trace, i, write_ns);
		if (i >= writes) {
			*t1 = now_ns();
			for (long w = 0; w < n_proc; w++)
				if (w != me)
					pass_token(pipes[2 * w + 1], writes);
			break;
		}
		pass_token(pipes[2 * proc[i] + 1], i);
		i = wait_token(pipes[2 * me]);
		if (i >= writes)
			break;
		if (i < 0 || proc[i] != me) {
			fprintf(stderr, "cowrl_harness: writer %d handed write %ld\n", me, i);
			_exit(2);
		}
	}
	scan_pagemap(region, n_pages, mine, res);
	res->writer_bad_pages = verify(region, n_pages, mine);
	res->writer_ok = res->writer_bad_pages == 0;
	free(mine);
}

/*
 * The multi-writer replay (--writers with more than one role): fork the @n_proc writers,
 * start the first write's, wait for all, sum their counts into @res (elapsed: the first
 * write's start to the last's end) and verify the holder's view.  0, or the status of a
 * writer that failed.
 */
static int run_writers(long n_proc, uint8_t *region, long n_pages, const int64_t *trace,
		       const int32_t *proc, long writes, uint64_t *write_ns,
		       struct shared_result *res)
{
	struct shared_result *per = mmap(NULL, n_proc * sizeof(*per) + 2 * sizeof(uint64_t),
					 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t *t;
	int pipes[2 * MAX_WRITERS], status, bad = 0;
	pid_t pids[MAX_WRITERS];

	if (per == MAP_FAILED)
		die("mmap writer results");
	memset(per, 0, n_proc * sizeof(*per) + 2 * sizeof(uint64_t));
	t = (uint64_t *)(per + n_proc);
	for (long w = 0; w < n_proc; w++)
		if (pipe(pipes + 2 * w))
			die("pipe");
	for (long w = 0; w < n_proc; w++) {
		pids[w] = fork();
		if (pids[w] < 0)
			die("fork");
		if (pids[w] == 0) {
			multi_writer((int)w, n_proc, pipes, region, n_pages, trace, proc, writes,
				     write_ns, &t[0], &t[1], &per[w]);
			_exit(0);
		}
	}
	pass_token(pipes[2 * proc[0] + 1], 0);	/* every writer forked: the first may write */
	for (long w = 0; w < n_proc; w++) {
		if (waitpid(pids[w], &status, 0) < 0)
			die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			bad = bad ?: (status ?: 1);
	}
	res->writer_ok = 1;
	for (long w = 0; w < n_proc; w++) {
		res->private_pages += per[w].private_pages;
		res->wasted += per[w].wasted;
		res->written_not_private += per[w].written_not_private;
		res->writer_bad_pages += per[w].writer_bad_pages;
		res->writer_ok &= per[w].writer_ok;
	}
	res->elapsed_ns = t[1] - t[0];
	res->holder_bad_pages = verify(region, n_pages, NULL);
	res->holder_ok = res->holder_bad_pages == 0;
	munmap(per, n_proc * sizeof(*per) + 2 * sizeof(uint64_t));
	return bad;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct cowrl_counters cnt = { 0 };
	struct shared_result *res;
	uint64_t *write_ns;
	uint8_t *base, *region, *written;
	int64_t *trace;
	int32_t *proc = NULL;
	long writes, thp_kb, n_regions, trace_pages, n_proc = 1;
	size_t len, span;
	int pfd[2], status, fd = -1, child_writes;
	char thp_setting[128], path[4096];
	pid_t pid;
	FILE *f;

	parse(argc, argv, &o);
	trace = read_trace(o.trace, &writes);
	trace_pages = o.n_pages;
	n_regions = o.regions ? to_slots(&o, trace, writes) : 1;
	if (o.writers) {
		proc = malloc(writes * sizeof(*proc));
		if (!proc)
			die("malloc");
		n_proc = read_writers(o.writers, writes, proc);
	}
	if (o.regions && check_copies(&o, proc, writes))
		return 2;
	written = calloc(o.n_pages, 1);
	if (!written)
		die("calloc");
	for (long i = 0; i < writes; i++) {
		if (trace[i] < 0 || trace[i] >= o.n_pages || (guard && guard[trace[i]])) {
			fprintf(stderr, "cowrl_harness: page %lld outside region of %ld pages\n",
				(long long)trace[i], o.n_pages);
			return 2;
		}
		written[trace[i]] = 1;
	}

	/* Region between PROT_NONE guards, 2 MiB aligned so THP can back it. */
	len = o.n_pages * PAGE;
	span = len + HUGE + 2 * PAGE;
	base = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		die("mmap region");
	region = (uint8_t *)(((uintptr_t)base + PAGE + HUGE - 1) & ~(HUGE - 1));
	/* Multi-region: each region readable and writable, the slots between stay PROT_NONE. */
	for (long r = 0; r < (guard ? n_reg : 1); r++)
		if (mprotect(guard ? region + reg_slot[r] * PAGE : region,
			     guard ? reg_size[r] * PAGE : len, PROT_READ | PROT_WRITE))
			die("mprotect region");
	if (madvise(region, len, o.thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		die("madvise THP");
	fill(region, o.n_pages);
	/* Every region's VMA, not only the first's: a region holds a huge page only where
	 * it holds an aligned 2 MiB whole, and the first may hold none. */
	thp_kb = smaps_kb_range((uintptr_t)region, (uintptr_t)region + len, "AnonHugePages");
	read_thp_setting(thp_setting, sizeof(thp_setting));

	res = mmap(NULL, sizeof(*res) + writes * 8, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		die("mmap results");
	write_ns = (uint64_t *)(res + 1);
	memset(res, 0, sizeof(*res));

	if (o.module)
		fd = module_setup(&o, (uintptr_t)region, len);
	if (pipe(pfd))
		die("pipe");

	if (n_proc > 1) {
		status = run_writers(n_proc, region, o.n_pages, trace, proc, writes, write_ns, res);
		goto done;
	}
	child_writes = !strcmp(o.writer, "child");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (child_writes) {
			writer(region, o.n_pages, trace, writes, write_ns, written, res);
		} else {
			holder_wait_and_verify(pfd[0], region, o.n_pages, res);
		}
		_exit(0);
	}
	if (child_writes) {
		if (waitpid(pid, &status, 0) < 0)
			die("waitpid");
		res->holder_bad_pages = verify(region, o.n_pages, NULL);
		res->holder_ok = res->holder_bad_pages == 0;
	} else {
		writer(region, o.n_pages, trace, writes, write_ns, written, res);
		if (write(pfd[1], "g", 1) != 1)
			die("pipe write");
		if (waitpid(pid, &status, 0) < 0)
			die("waitpid");
	}
done:
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "cowrl_harness: child failed (status %d)\n", status);
		unregister_self();
		return 2;
	}
	if (o.module)
		module_finish(fd, o.out, &cnt);

	write_file(o.out, "write_ns.bin", write_ns, writes * 8);
	snprintf(path, sizeof(path), "%s/summary.txt", o.out);
	f = fopen(path, "w");
	if (!f)
		die(path);
	fprintf(f, "abi_version=%d\nregion_start=%lu\nn_pages=%ld\nwrites=%ld\nk=%u\n"
		"mode=%s\nthp=%d\nthp_setting=%s\nanon_huge_kb=%ld\nwriter=%s\nmodule=%d\n"
		"regions=%ld\nn_slots=%ld\nwriters=%ld\n",
		COWRL_ABI_VERSION, (unsigned long)(uintptr_t)region, trace_pages, writes, o.k,
		o.table ? "table" : "static", o.thp, thp_setting, thp_kb, o.writer, o.module,
		n_regions, o.n_pages, n_proc);
	fprintf(f, "private_pages=%llu\nwasted=%llu\nwritten_not_private=%llu\n"
		"writer_ok=%d\nholder_ok=%d\nwriter_bad_pages=%llu\nholder_bad_pages=%llu\n"
		"elapsed_ns=%llu\n",
		(unsigned long long)res->private_pages, (unsigned long long)res->wasted,
		(unsigned long long)res->written_not_private, res->writer_ok, res->holder_ok,
		(unsigned long long)res->writer_bad_pages,
		(unsigned long long)res->holder_bad_pages, (unsigned long long)res->elapsed_ns);
	fprintf(f, "demand_faults=%llu\nprecopy_copies=%llu\nmanual_copies=%llu\n"
		"precopy_works=%llu\nprecopy_tries=%llu\nprecopy_skipped=%llu\n"
		"work_failed=%llu\nrecords=%llu\ndropped=%llu\nnmissed=%llu\n"
		"pending_work=%llu\nout_of_scope=%llu\ndecisions=%llu\ndecide_ns=%llu\n"
		"decide_clock_ns=%llu\nkernel_copies=%llu\nignored=%llu\nthrottled=%llu\n"
		"precopy_nocopy=%llu\nmax_pending=%llu\ntargets=%llu\n",
		(unsigned long long)cnt.demand_faults, (unsigned long long)cnt.precopy_copies,
		(unsigned long long)cnt.manual_copies, (unsigned long long)cnt.precopy_works,
		(unsigned long long)cnt.precopy_tries, (unsigned long long)cnt.precopy_skipped,
		(unsigned long long)cnt.work_failed, (unsigned long long)cnt.records,
		(unsigned long long)cnt.dropped, (unsigned long long)cnt.nmissed,
		(unsigned long long)cnt.pending_work, (unsigned long long)cnt.out_of_scope,
		(unsigned long long)cnt.decisions, (unsigned long long)cnt.decide_ns,
		(unsigned long long)cnt.decide_clock_ns, (unsigned long long)cnt.kernel_copies,
		(unsigned long long)cnt.ignored, (unsigned long long)cnt.throttled,
		(unsigned long long)cnt.precopy_nocopy, (unsigned long long)cnt.max_pending,
		(unsigned long long)cnt.targets);
	fprintf(f, "proof_clean=%llu\nproof_lost=%llu\nproof_credited=%llu\n"
		"proof_reads=%llu\nproof_foreign=%llu\n",
		(unsigned long long)cnt.proof_clean, (unsigned long long)cnt.proof_lost,
		(unsigned long long)cnt.proof_credited, (unsigned long long)cnt.proof_reads,
		(unsigned long long)cnt.proof_foreign);
	/* v17, v18: the GUARDED decision tallies (guard_budget_ns: an s64 printed as its u64) */
#define GUARD_PRINT(n) fprintf(f, "guard_" #n "=%llu\n", (unsigned long long)cnt.guard_##n);
	COWRL_GUARD_COUNTERS(GUARD_PRINT)
#undef GUARD_PRINT
	if (fclose(f))
		die(path);
	/* Lost records or probes, or precopy that did not run, make the counts wrong. */
	if (o.module && (cnt.dropped || cnt.nmissed || cnt.work_failed || cnt.throttled)) {
		fprintf(stderr, "cowrl_harness: counts unreliable: dropped=%llu nmissed=%llu "
			"work_failed=%llu throttled=%llu (see summary.txt)\n",
			(unsigned long long)cnt.dropped, (unsigned long long)cnt.nmissed,
			(unsigned long long)cnt.work_failed, (unsigned long long)cnt.throttled);
		return 3;
	}
	return 0;
}
