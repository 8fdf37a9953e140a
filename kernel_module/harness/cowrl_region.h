/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowrl_region.h - user-space helpers shared by the replay harness and the
 * host calibration microbenchmark (cowrl/calibration/hostbench.c).
 */
#ifndef _COWRL_REGION_H
#define _COWRL_REGION_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* AnonHugePages (kB) of the mapping that starts at @start, from smaps; -1 if unknown. */
static inline long anon_huge_kb(uintptr_t start)
{
	char line[512];
	unsigned long lo, hi;
	long kb = -1;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			in = lo == (unsigned long)start;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

#endif /* _COWRL_REGION_H */
