/*
 * query.h - request/response and dumps on ctnetlink, with backpressure.
 */
#ifndef CTSTREAMD_QUERY_H
#define CTSTREAMD_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct nlmsghdr;
struct query;
struct qjob;

enum qtable {
	QT_CT = 0,
	QT_EXP,
};

/* A dump request; kernel-side filters are applied where the kernel can. */
struct qdump {
	enum qtable	table;
	uint8_t		family;		/* 0: both */
	bool		has_mark;
	uint32_t	mark, mark_mask;
	bool		has_zone;
	uint16_t	zone;
	bool		has_status;
	uint32_t	status, status_mask;
};

struct qjob_ops {
	/* One entry of the answer. */
	void	(*msg)(void *, const struct nlmsghdr *);
	/* The job ended: 0, or -errno from the kernel. */
	void	(*done)(void *, int);
};

struct query_stats {
	uint64_t	jobs;
	uint64_t	dumps;
	uint64_t	msgs;
	uint64_t	errors;
	unsigned int	queued;
	unsigned int	running;
};

#define QUERY_SOCKETS_DEFAULT	4
#define QUERY_REQLEN		1024

int		 query_socket(int *);
int		 query_open(struct query **, struct event_base *, const int *,
		     const char *, unsigned int);
void		 query_free(struct query *);
struct qjob	*query_dump(struct query *, const struct qdump *,
		     const struct qjob_ops *, void *);
struct qjob	*query_request(struct query *, const struct nlmsghdr *,
		     const struct qjob_ops *, void *);
void		 query_job_pause(struct qjob *, bool);
void		 query_job_cancel(struct qjob *);
const struct query_stats *query_stats(const struct query *);
const char	*query_name(const struct query *);
void		 query_allow_privsep(const struct query *);
void		 query_set_psfds(struct query *, const int *);
void		 query_close_psfds(const struct query *);
void		 query_shutdown(struct query *, int);

#endif
