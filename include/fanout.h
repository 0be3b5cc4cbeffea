/*
 * fanout.h - deliver each encoded line to every subscriber that wants it.
 */
#ifndef CTSTREAMD_FANOUT_H
#define CTSTREAMD_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct event_base;
struct fanout;
struct fanout_waiter;
struct sub;
struct filter;

enum sub_policy {
	SUB_DROP = 0,		/* discard and count, then send a lost line */
	SUB_DISCONNECT,		/* close the subscriber */
};

struct sub_opts {
	size_t		hiwat;		/* bytes queued that start dropping */
	size_t		lowat;		/* bytes queued that stop dropping */
	enum sub_policy	policy;
};

#define SUB_HIWAT_DEFAULT	(4U * 1024 * 1024)
#define SUB_LOWAT_DEFAULT	(1U * 1024 * 1024)

struct sub_stats {
	uint64_t	lines;		/* lines queued */
	uint64_t	bytes;		/* bytes written */
	uint64_t	dropped;	/* lines discarded past the high mark */
	uint64_t	lost_reports;	/* lost lines sent */
};

/* Why a subscriber failed, passed to its fail callback. */
#define SUB_FAIL_SLOW	1	/* over its high mark under policy disconnect */

typedef void	(*sub_fail_cb)(struct sub *, int, void *);
typedef void	(*sub_drain_cb)(struct sub *, void *);

struct fanout	*fanout_new(struct event_base *);
void		 fanout_free(struct fanout *);
void		 fanout_publish(struct fanout *, const struct event *,
		     const char *, size_t, uint64_t);
void		 fanout_flush(struct fanout *);
unsigned int	 fanout_count(const struct fanout *);
void		 fanout_totals(const struct fanout *, struct sub_stats *);
bool		 fanout_over(const struct fanout *);
struct fanout_waiter *fanout_waiter_new(struct fanout *, void (*)(void *),
		     void *);
void		 fanout_waiter_free(struct fanout_waiter *);
void		 fanout_waiter_arm(struct fanout_waiter *);
void		 fanout_set_stall_ms(struct fanout *, long long);

struct sub	*fanout_sub_new(struct fanout *, int, const struct sub_opts *,
		     sub_fail_cb, void *);
void		 fanout_sub_free(struct sub *);
void		 fanout_sub_set_active(struct sub *, bool);
bool		 fanout_sub_active(const struct sub *);
void		 fanout_sub_set_match(struct sub *, unsigned int, unsigned int);
void		 fanout_sub_set_filter(struct sub *, struct filter *);
const struct filter *fanout_sub_filter(const struct sub *);
void		 fanout_sub_hold(struct sub *);
int		 fanout_sub_release(struct sub *, const char *, size_t);
void		 fanout_sub_want_drain(struct sub *, sub_drain_cb);
bool		 fanout_sub_want_empty(struct sub *, sub_drain_cb);
int		 fanout_sub_last_words(struct sub *, const char *, size_t);
void		 fanout_sub_set_opts(struct sub *, const struct sub_opts *);
int		 fanout_sub_send(struct sub *, const char *, size_t);
size_t		 fanout_sub_queued(const struct sub *);
bool		 fanout_sub_over(const struct sub *);
bool		 fanout_sub_out_over(const struct sub *);
const struct sub_stats *fanout_sub_stats(const struct sub *);
int		 fanout_sub_fd(const struct sub *);
int		 fanout_sub_drain(struct sub *);
size_t		 fanout_sub_finish_line(struct sub *, int);

#endif
