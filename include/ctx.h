/*
 * ctx.h - the daemon's shared state, handed to clients and commands.
 */
#ifndef CTSTREAMD_CTX_H
#define CTSTREAMD_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <sys/types.h>

#include "fanout.h"
#include "mon.h"

struct event_base;
struct fanout;
struct stream;
struct encoder;
struct decoder;
struct query;
struct server;
struct nlsrc;
struct resync;
struct kfilter;
struct natsout;

struct ctx {
	struct event_base	*base;
	struct fanout		*fo;
	struct stream		*stream;
	struct encoder		*enc;
	struct decoder		*qdec;		/* for answers to queries */
	struct server		*srv;
	struct mons		 mons;		/* the monitored namespaces */
	unsigned int		 nmons;
	bool			 multi;		/* lines carry "netns" */
	struct kfilter		*kf;		/* NULL: none */
	struct sub		*stdout_sub;	/* NULL without --stdout */
	struct natsout		*nats;		/* NULL without --nats-server */
	bool			 has_admin_gid;
	gid_t			 admin_gid;	/* may change the table */
	unsigned int		 types;		/* what the daemon receives */
	unsigned int		 kinds;
	struct sub_opts		 subopts;	/* for socket clients */
	time_t			 started;	/* ctx_now_sec() at startup */
	double			 started_real;	/* Unix time at startup */
};

/* Seconds on the monotonic clock, for uptimes. */
static inline time_t
ctx_now_sec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec);
}

#endif
