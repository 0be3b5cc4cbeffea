/*
 * stream.h - the event path: netlink message, decode, encode once, fan out.
 */
#ifndef CTSTREAMD_STREAM_H
#define CTSTREAMD_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "event.h"

struct nlmsghdr;
struct fanout;
struct encoder;
struct buf;

struct stream_stats {
	uint64_t	events[EV_TYPE_MAX][EV_KIND_MAX];
	uint64_t	lines;		/* lines produced (== last seq) */
	uint64_t	bad;		/* messages that failed to decode */
	uint64_t	overruns;	/* ENOBUFS reports */
	uint64_t	lost;		/* messages the kernel dropped */
};

struct stream;

typedef void	(*stream_tap_fn)(void *, const char *, const char *,
		    const char *, size_t);

struct stream	*stream_new(struct fanout *, struct encoder *);
void		 stream_free(struct stream *);
void		 stream_msg(struct stream *, const char *, bool,
		     const struct nlmsghdr *, const struct timespec *,
		     void (*)(void *, const struct event *), void *);
void		 stream_overrun(struct stream *, const char *, uint64_t);
void		 stream_flush(struct stream *);
void		 stream_publish(struct stream *, struct event *);
void		 stream_netns(struct stream *, const char *, const char *);
void		 stream_nats_lost(struct stream *, uint64_t, uint64_t,
		     uint64_t, uint64_t, uint64_t);
void		 stream_set_tap(struct stream *, stream_tap_fn, void *);
int		 stream_encode(struct stream *, struct event *, struct buf *);
const struct stream_stats *stream_stats(const struct stream *);

#endif
