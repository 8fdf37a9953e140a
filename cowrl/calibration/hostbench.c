// SPDX-License-Identifier: GPL-2.0
/*
 * hostbench - COW cost microbenchmarks on the running kernel (no root, no module).
 *
 * Usage: hostbench MODE N_PAGES REPS THP BATCH OUT
 *   MODE  demand    child writes one byte per page in order after fork, timing
 *                   each write (demand COW faults), then writes every page again
 *                   (no faults: the cost of a plain timed write);
 *         populate  child breaks COW with madvise(MADV_POPULATE_WRITE) in
 *                   batches of BATCH pages, timing each call (COW without a trap);
 *         memcpy    times copy of one 4 KiB page into a fresh page
 *                   (the data movement of a COW copy, from cache-cold sources).
 *   THP   1: region MADV_HUGEPAGE, 0: MADV_NOHUGEPAGE.
 * OUT receives little-endian u64 samples; stdout gets key=value lines.
 * The region sits between PROT_NONE guards and is 2 MiB aligned, as in the
 * replay harness (kernel_module/harness/cowrl_harness.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cowrl_region.h" /* kernel_module/harness/ (-I, cowrl/calibration/host.py) */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGE 4096UL
#define HUGE (2UL << 20)

static void die(const char *what)
{
	fprintf(stderr, "hostbench: %s: %s\n", what, strerror(errno));
	exit(2);
}

static size_t span_of(long n_pages)
{
	return n_pages * PAGE + HUGE + 2 * PAGE;
}

/* Region of n_pages, filled; *basep gets the whole mapping (guards included) for munmap. */
static uint8_t *map_region(long n_pages, int thp, uint8_t **basep)
{
	size_t len = n_pages * PAGE, span = span_of(n_pages);
	uint8_t *base, *region;

	base = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		die("mmap");
	region = (uint8_t *)(((uintptr_t)base + PAGE + HUGE - 1) & ~(HUGE - 1));
	if (mprotect(region, len, PROT_READ | PROT_WRITE))
		die("mprotect");
	if (madvise(region, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		die("madvise THP");
	for (long p = 0; p < n_pages; p++)
		memset(region + p * PAGE, (int)(p & 0xff) | 1, PAGE);
	*basep = base;
	return region;
}

static uint64_t *shared_buf(size_t n)
{
	uint64_t *b = mmap(NULL, (n + 1) * 8, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			   -1, 0);

	if (b == MAP_FAILED)
		die("mmap shared");
	memset(b, 0, (n + 1) * 8);
	return b;
}

/* Child: time demand faults, then plain writes. out[0..n) faults, out[n..2n) plain. */
static void child_demand(uint8_t *region, long n_pages, uint64_t *out)
{
	for (int pass = 0; pass < 2; pass++) {
		for (long p = 0; p < n_pages; p++) {
			volatile uint8_t *b = region + p * PAGE;
			uint64_t a, z;

			a = now_ns();
			__asm__ __volatile__("" ::: "memory");
			*b = (uint8_t)(pass + 2);
			__asm__ __volatile__("" ::: "memory");
			z = now_ns();
			out[pass * n_pages + p] = z - a;
		}
	}
}

/* Child: time MADV_POPULATE_WRITE over consecutive batches. Returns batches done. */
static long child_populate(uint8_t *region, long n_pages, long batch, uint64_t *out)
{
	long nb = 0;

	for (long p = 0; p + batch <= n_pages; p += batch) {
		uint64_t a = now_ns();

		if (madvise(region + p * PAGE, batch * PAGE, MADV_POPULATE_WRITE))
			die("madvise(MADV_POPULATE_WRITE)");
		out[nb++] = now_ns() - a;
	}
	return nb;
}

static void run_forked(const char *mode, long n_pages, int thp, long batch, uint64_t *out,
		       long *n_out)
{
	uint8_t *base;
	uint8_t *region = map_region(n_pages, thp, &base);
	long huge_kb = anon_huge_kb((uintptr_t)region);
	uint64_t *cnt = shared_buf(1);
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (!strcmp(mode, "demand")) {
			child_demand(region, n_pages, out);
			cnt[0] = 2 * n_pages;
		} else {
			cnt[0] = child_populate(region, n_pages, batch, out);
		}
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		exit(2);
	*n_out = (long)cnt[0];
	printf("anon_huge_kb=%ld\n", huge_kb);
	munmap(base, span_of(n_pages));
	munmap(cnt, 2 * 8);
}

static long run_memcpy(long n_pages, uint64_t *out)
{
	/* Sources larger than the LLC are touched in order, so each copy reads cold data, as a COW copy does. */
	uint8_t *sbase, *dbase;
	uint8_t *src = map_region(n_pages, 0, &sbase), *dst = map_region(n_pages, 0, &dbase);

	for (long p = 0; p < n_pages; p++) {
		uint64_t a = now_ns();

		memcpy(dst + p * PAGE, src + p * PAGE, PAGE);
		__asm__ __volatile__("" ::: "memory");
		out[p] = now_ns() - a;
	}
	munmap(sbase, span_of(n_pages));
	munmap(dbase, span_of(n_pages));
	return n_pages;
}

int main(int argc, char **argv)
{
	const char *mode, *outp;
	long n_pages, reps, batch, total = 0, per;
	int thp;
	uint64_t *buf, t0, tmin = ~0ULL;
	FILE *f;

	if (argc != 7) {
		fprintf(stderr, "usage: hostbench demand|populate|memcpy N_PAGES REPS THP BATCH OUT\n");
		return 2;
	}
	mode = argv[1];
	n_pages = atol(argv[2]);
	reps = atol(argv[3]);
	thp = atoi(argv[4]);
	batch = atol(argv[5]);
	outp = argv[6];
	if (n_pages <= 0 || reps <= 0 || batch <= 0 ||
	    (strcmp(mode, "demand") && strcmp(mode, "populate") && strcmp(mode, "memcpy"))) {
		fprintf(stderr, "hostbench: bad arguments\n");
		return 2;
	}
	per = 2 * n_pages;
	buf = shared_buf(per * reps);
	f = fopen(outp, "wb");
	if (!f)
		die(outp);
	/* Cost of the timer pair itself, which every timed write includes. */
	for (int i = 0; i < 1000; i++) {
		uint64_t a = now_ns(), z = now_ns();

		if (z - a < tmin)
			tmin = z - a;
	}
	t0 = now_ns();
	for (long r = 0; r < reps; r++) {
		long n = 0;

		if (!strcmp(mode, "memcpy"))
			n = run_memcpy(n_pages, buf);
		else
			run_forked(mode, n_pages, thp, batch, buf, &n);
		if (fwrite(buf, 8, n, f) != (size_t)n)
			die("write");
		total += n;
	}
	if (fclose(f))
		die(outp);
	printf("samples=%ld\ntimer_min_ns=%llu\nelapsed_ns=%llu\n", total,
	       (unsigned long long)tmin, (unsigned long long)(now_ns() - t0));
	return 0;
}
