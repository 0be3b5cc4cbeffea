/*
 * nl.h - a ctnetlink event socket in one network namespace.
 */
#ifndef CTSTREAMD_NL_H
#define CTSTREAMD_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "event.h"

struct event_base;
struct nlmsghdr;
struct nlsrc;

/* Kernel multicast groups, from --types and --events. */
unsigned int	nl_groups(unsigned int, unsigned int);

struct nlsrc_ops {
	/* One ctnetlink message, received at *when. */
	void	(*msg)(void *, struct nlsrc *, const struct nlmsghdr *,
		    const struct timespec *);
	/* The kernel dropped lost messages (0: it said so, count unknown). */
	void	(*overrun)(void *, struct nlsrc *, uint64_t);
	/* The batch read in this wakeup is done. */
	void	(*batch_end)(void *, struct nlsrc *);
};

struct nlsrc_stats {
	uint64_t	msgs;		/* messages received */
	uint64_t	bytes;
	uint64_t	datagrams;
	uint64_t	enobufs;	/* overruns reported by the kernel */
	uint64_t	drops;		/* messages the kernel dropped */
	uint64_t	retried;	/* reliable: deliveries it retries */
	uint64_t	truncated;
	uint64_t	foreign;	/* not from the kernel: ignored */
	int		rcvbuf;		/* what the kernel granted */
	uint64_t	rcvbuf_grown;	/* times it was doubled */
};

/* How to open an event source. */
struct nlsrc_opts {
	unsigned int	groups;		/* from nl_groups() */
	int		rcvbuf;		/* bytes asked for at start */
	int		rcvbuf_max;	/* doubled on overruns up to this */
	bool		reliable;	/* NETLINK_BROADCAST_ERROR, NO_ENOBUFS */
};

/* Event sockets per namespace: two in reliable mode with both types. */
#define NL_EVSOCKS	2

int		 nl_event_split(const struct nlsrc_opts *,
		     struct nlsrc_opts [NL_EVSOCKS]);
int		 nl_event_socket(const struct nlsrc_opts *, int *);
int		 nlsrc_open(struct nlsrc **, struct event_base *, int,
		     const char *, const struct nlsrc_opts *,
		     const struct nlsrc_ops *, void *);
void		 nlsrc_free(struct nlsrc *);
const char	*nlsrc_name(const struct nlsrc *);
int		 nlsrc_fd(const struct nlsrc *);
const struct nlsrc_stats *nlsrc_stats(const struct nlsrc *);
bool		 nlsrc_congested(const struct nlsrc *);
uint64_t	 nlsrc_mark(const struct nlsrc *);
bool		 nlsrc_caught_up(const struct nlsrc *, uint64_t);
bool		 nlsrc_reliable(const struct nlsrc *);
void		 nlsrc_set_rcvbuf_max(struct nlsrc *, int);
void		 nlsrc_set_psfd(struct nlsrc *, int);
int		 nlsrc_psfd(const struct nlsrc *);
int		 nlsrc_kernel_drops(const struct nlsrc *, uint64_t *);

#endif
