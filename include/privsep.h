/*
 * privsep.h - the helper that keeps CAP_NET_ADMIN for ctnetlink requests.
 */
#ifndef CTSTREAMD_PRIVSEP_H
#define CTSTREAMD_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct mon_make;
struct mon_fds;

/* A request went to the helper: its callback gets the answer. */
#define PRIVSEP_QUEUED	1

/* The helper's verdict: arg, the request's number (see privsep.c), result. */
typedef void	(*privsep_done_cb)(void *, uint32_t, int);
/* A namespace opened: arg, 0 with the sockets, or -errno with a message. */
typedef void	(*privsep_open_cb)(void *, int, struct mon_fds *, const int *,
		    const char *);

void	privsep_allow(int);
int	privsep_start(const char *, bool, char *, size_t);
void	privsep_stop(void);
pid_t	privsep_pid(void);
void	privsep_attach(struct event_base *);
int	privsep_send(int, int, const void *, size_t, privsep_done_cb, void *);
int	privsep_rcvbuf(int, int, int, privsep_done_cb, void *);
int	privsep_open(const char *, const struct mon_make *, privsep_open_cb,
	    void *);
void	privsep_close(int);
void	privsep_discard(struct mon_fds *, const int *);
void	privsep_cancel(const void *);

#endif
