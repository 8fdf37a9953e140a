/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowrl_region.h - user-space helpers shared by the replay harness and the
 * host calibration microbenchmark (cowrl/calibration/hostbench.c).
 */
#ifndef _COWRL_REGION_H
#define _COWRL_REGION_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Field @name summed over the smaps entries of the mappings that start in [@start, @end),
 * in kB; -1 if there is none. */
static inline long smaps_kb_range(uintptr_t start, uintptr_t end, const char *name)
{
	char line[512], key[64];
	unsigned long lo, hi;
	long kb = -1, v;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			in = lo >= (unsigned long)start && lo < (unsigned long)end;
		else if (in && sscanf(line, "%63[^:]: %ld kB", key, &v) == 2 &&
			 !strcmp(key, name)) {
			kb = (kb < 0 ? 0 : kb) + v;
			in = 0;
		}
	}
	fclose(f);
	return kb;
}

/* Field @name (e.g. "AnonHugePages") of the smaps entry of the mapping that starts at
 * @start, in kB; -1 if unknown. */
static inline long smaps_kb(uintptr_t start, const char *name)
{
	return smaps_kb_range(start, start + 1, name);
}

/* AnonHugePages (kB) of the mapping that starts at @start; -1 if unknown. */
static inline long anon_huge_kb(uintptr_t start)
{
	return smaps_kb(start, "AnonHugePages");
}

#endif /* _COWRL_REGION_H */
