/*
 * ctb.h - shared helpers of the ctstreamd benchmark tools (bench/).
 *
 * The tools only ever address loopback (127.0.0.0/8, ::1) inside the
 * network namespace the driver (bench/run.py) created for them.
 */
#ifndef CTB_H
#define CTB_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Nanoseconds on the monotonic clock. */
static inline uint64_t
ctb_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

/* Die with a message (and errno's text when perr is set). */
#define ctb_die(...) do {						\
	fprintf(stderr, "ctb: " __VA_ARGS__);				\
	fputc('\n', stderr);						\
	exit(1);							\
} while (0)

/*
 * The synthetic table used by the burst, dump and get tests: entry i is a
 * UDP flow 127.0.0.1:sport -> 127.0.0.2:dport, all in host order here.
 */
#define CTB_TABLE_SRC	0x7f000001U	/* 127.0.0.1 */
#define CTB_TABLE_DST	0x7f000002U	/* 127.0.0.2 */

static inline void
ctb_table_tuple(uint32_t i, uint16_t *sport, uint16_t *dport)
{
	*sport = (uint16_t)(1024 + i % 60000);
	*dport = (uint16_t)(1024 + i / 60000);
}

/* Sort helper for percentiles. */
static inline int
ctb_cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

static inline uint64_t
ctb_pct(const uint64_t *sorted, size_t n, double p)
{
	size_t	i;

	if (n == 0)
		return (0);
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return (sorted[i < n ? i : n - 1]);
}

#endif
