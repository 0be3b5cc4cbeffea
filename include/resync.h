/*
 * resync.h - reconcile the stream with the kernel's table after loss.
 */
#ifndef CTSTREAMD_RESYNC_H
#define CTSTREAMD_RESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctx;
struct event;
struct mon;
struct resync;

struct resync_opts {
	long long	delay_ms;	/* at least this long between runs */
	long		interval_s;	/* periodic run for old entries; 0: off */
};

struct resync_stats {
	uint64_t	runs;
	uint64_t	added;		/* new lines with resync:true */
	uint64_t	removed;	/* destroy lines with resync:true */
	uint64_t	last_added;
	uint64_t	errors;
	size_t		entries;	/* live entries in the index */
	size_t		old;		/* of which older than the daemon */
	size_t		index_bytes;
	bool		running;
};

struct resync	*resync_new(struct ctx *, struct mon *,
		     const struct resync_opts *);
void		 resync_free(struct resync *);
void		 resync_observe(void *, const struct event *);
void		 resync_overrun(struct resync *);
void		 resync_schedule(struct resync *);
const struct resync_stats *resync_stats(struct resync *);
void		 resync_set_opts(struct resync *, const struct resync_opts *);

#endif
