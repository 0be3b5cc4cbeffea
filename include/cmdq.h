/*
 * cmdq.h - state of a command that waits for the kernel, shared by the
 * query and admin commands.
 */
#ifndef CTSTREAMD_CMDQ_H
#define CTSTREAMD_CMDQ_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "buf.h"
#include "event.h"
#include "query.h"
#include "req.h"

struct client;
struct cmd_req;
struct mon;
struct filter;
struct nlmsghdr;
struct qjob;

struct cmdq {
	struct client		*c;
	struct mon		*mon;		/* the namespace asked about */
	bool			 all;		/* dump: then every next one */
	json_t			*id;		/* the request's id, or NULL */
	const char		*what;		/* command name, for errors */
	struct filter		*filter;
	struct buf		 line;
	unsigned long		 count;
	int			 stage;
	/* finding a conntrack by id */
	uint32_t		 find_id;
	bool			 found;
	uint8_t			 found_family;
	struct req_tuple	 found_tuple;
	bool			 found_has_zone;
	uint16_t		 found_zone;
	bool			 check_id;	/* get: the entry must have find_id */
	void			(*on_found)(struct cmdq *, struct event *);
	void			(*then)(struct cmdq *);
	/* stats */
	struct cmdq_stats	*stats;		/* the collection under way */
	bool			 prometheus;	/* answer as text */
	/* changes: requests to send one after the other */
	enum qtable		 table;
	struct buf		 reqs;		/* netlink requests in a row */
	size_t			 reqoff, nreqs;
	unsigned long		 done_ok, done_gone, done_err;
	struct req_ct		 rc;
	struct req_exp		 re;
};

/* Collecting the stats answer (cmdq_stats_start()). */
struct cmdq_stats;
struct ctx;
struct cmdq_stats_ops {
	/* The kernel request under way changed (NULL: none). */
	void	(*job)(void *, struct qjob *);
	/* The answer: the daemon's object, the list of kernel objects. */
	void	(*done)(void *, json_t *, json_t *);
};

struct cmdq	*cmdq_new(struct client *, const struct cmd_req *);
void		 cmdq_free(void *);
int		 cmdq_start(struct cmdq *, struct qjob *);
void		 cmdq_end(struct cmdq *);
void		 cmdq_kernel_error(struct cmdq *, int, const char *);
int		 cmdq_decode(struct cmdq *, const struct nlmsghdr *, int,
		     struct event *);
int		 cmdq_find_id(struct cmdq *);
void		 cmdq_find_done(void *, int);
int		 cmdq_filter(struct client *, struct cmd_req *,
		     struct filter **);
int		 cmdq_mon(struct client *, struct cmd_req *, bool,
		     struct mon **);
int		 cmdq_reject(struct client *, struct cmd_req *,
		     const char *const *, const char *);

/* Members that apply to conntracks only, and to expectations only. */
extern const char *const cmdq_ct_only[];
extern const char *const cmdq_exp_only[];
void		 cmdq_dump_request(const struct filter *, enum qtable,
		     struct qdump *);
int		 cmdq_stats_start(struct ctx *, struct mon *,
		     const struct cmdq_stats_ops *, void *,
		     struct cmdq_stats **);
void		 cmdq_stats_finish(struct cmdq_stats *, int);
void		 cmdq_stats_free(struct cmdq_stats *, bool);
int		 cmdq_stats_text(struct ctx *, json_t *, json_t *, struct buf *);

#endif
