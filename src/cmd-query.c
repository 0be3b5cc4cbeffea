/*
 * cmd-query.c - the read-only commands of the control socket: get, dump,
 * stats, version, help, diagnose.
 *
 *   {"cmd":"get","tuple":{...},"dir":"orig"}  -> the entry, "event":"get"
 *   {"cmd":"get","ct_id":123}                 -> found by scanning a dump
 *   {"cmd":"get","type":"expect","tuple":{...}}
 *   {"cmd":"dump","table":"ct","filter":{...}} -> "event":"dump" lines,
 *                                                then {"count":N}
 *   {"cmd":"stats"}, {"cmd":"version"}, {"cmd":"help"}, {"cmd":"diagnose"}
 *   {"cmd":"stats","format":"prometheus"} -> {"format":"prometheus",
 *                                            "text":"# HELP ..."}
 *
 * Answers that come from the kernel are read through query.c on the
 * request sockets opened with each namespace; dumps are read no faster
 * than the client takes them.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "buf.h"
#include "cmd.h"
#include "cmdq.h"
#include "ctx.h"
#include "decode.h"
#include "encode.h"
#include "fanout.h"
#include "filter.h"
#include "log.h"
#include "metrics.h"
#include "natsout.h"
#include "nl.h"
#include "query.h"
#include "req.h"
#include "resync.h"
#include "server.h"
#include "stream.h"

/* Make the state of a command that waits for the kernel. */
struct cmdq *
cmdq_new(struct client *c, const struct cmd_req *req)
{
	struct cmdq	*q;

	if ((q = calloc(1, sizeof *q)) == NULL)
		return (NULL);
	q->c = c;
	if (req->id != NULL)
		q->id = json_incref((json_t *)req->id);
	client_set_cmdstate(c, q, cmdq_free);
	return (q);
}

/* Free a command's state (client_set_cmdstate destructor). */
void
cmdq_free(void *arg)
{
	struct cmdq	*q = arg;

	if (q == NULL)
		return;
	/* The client cancelled the request it waited for. */
	cmdq_stats_free(q->stats, false);
	json_decref(q->id);
	filter_free(q->filter);
	buf_free(&q->line);
	buf_free(&q->reqs);
	free(q);
}

/* Start a job for q's client; on failure answer and forget q. */
int
cmdq_start(struct cmdq *q, struct qjob *j)
{
	if (j == NULL) {
		client_reply_error(q->c, q->id, "internal",
		    "cannot start the request");
		cmdq_end(q);
		return (-1);
	}
	client_set_job(q->c, j);
	return (0);
}

/* The command is over: drop its state and read further commands. */
void
cmdq_end(struct cmdq *q)
{
	struct client	*c = q->c;

	client_set_job(c, NULL);
	client_set_cmdstate(c, NULL, NULL);
	client_job_done(c);
}

/* Answer with a kernel error, mapping the common ones to stable codes. */
void
cmdq_kernel_error(struct cmdq *q, int error, const char *what)
{
	if (error == -ENOENT)
		client_reply_error(q->c, q->id, "not_found", "%s: no such "
		    "entry", what);
	else if (error == -ENODEV)
		client_reply_error(q->c, q->id, "not_found", "%s: the "
		    "namespace went away", what);
	else if (error == -EEXIST)
		client_reply_error(q->c, q->id, "exists", "%s: the entry "
		    "exists already", what);
	else if (error == -EPERM)
		client_reply_error(q->c, q->id, "kernel_error", "%s: the "
		    "kernel refused (EPERM)", what);
	else
		client_reply_error(q->c, q->id, "kernel_error", "%s: %s", what,
		    strerror(-error));
}

/*
 * Decode an answer's entry as an event of kind, stamped now and with the
 * namespace of q, as the stream does, so that a filter's netns clause
 * sees it.
 */
int
cmdq_decode(struct cmdq *q, const struct nlmsghdr *nlh, int kind,
    struct event *ev)
{
	struct ctx	*ctx = client_ctx(q->c);

	if (decode_msg(ctx->qdec, nlh, ev) != 0)
		return (-1);
	ev->kind = kind;
	ev->netns = q->mon->name;
	ev->show_netns = ctx->multi;
	clock_gettime(CLOCK_REALTIME, &ev->time);
	return (0);
}

/*
 * Find the namespace a request names with "netns".  Without one: NULL if
 * all_ok (meaning every one, however many, none included), else the only
 * namespace, and an error when there are several or none.  Returns -1
 * after answering.
 */
int
cmdq_mon(struct client *c, struct cmd_req *req, bool all_ok, struct mon **mp)
{
	struct ctx	*ctx = client_ctx(c);
	json_t		*v = json_object_get(req->root, "netns");

	*mp = NULL;
	if (v != NULL) {
		if (!json_is_string(v)) {
			client_reply_error(c, req->id, "bad_request", "netns: "
			    "must be a namespace name");
			return (-1);
		}
		if ((*mp = mon_find(ctx, json_string_value(v))) == NULL) {
			client_reply_error(c, req->id, "not_found", "netns: "
			    "'%.64s' is not monitored", json_string_value(v));
			return (-1);
		}
		return (0);
	}
	if (all_ok)
		return (0);
	if (ctx->nmons == 1) {
		*mp = TAILQ_FIRST(&ctx->mons);
		return (0);
	}
	if (ctx->nmons == 0)
		client_reply_error(c, req->id, "not_found", "no namespace is "
		    "monitored at the moment");
	else
		client_reply_error(c, req->id, "bad_request", "netns: "
		    "required, %u namespaces are monitored", ctx->nmons);
	return (-1);
}

/*
 * Refuse a request that has a member of the list, which does not apply
 * to what it asks (why says to what).  Returns -1 after answering.
 */
int
cmdq_reject(struct client *c, struct cmd_req *req,
    const char *const *members, const char *why)
{
	size_t	i;

	for (i = 0; members[i] != NULL; i++) {
		if (json_object_get(req->root, members[i]) == NULL)
			continue;
		client_reply_error(c, req->id, "bad_request", "%s: does not "
		    "apply to %s", members[i], why);
		return (-1);
	}
	return (0);
}

/* Parse "type" or "table": "ct" (default) or "expect". */
static int
cmdq_table(struct client *c, struct cmd_req *req, const char *member,
    enum qtable *t)
{
	json_t	*v = json_object_get(req->root, member);

	*t = QT_CT;
	if (v == NULL)
		return (0);
	if (json_is_string(v) && strcmp(json_string_value(v), "ct") == 0)
		return (0);
	if (json_is_string(v) && strcmp(json_string_value(v), "expect") == 0) {
		*t = QT_EXP;
		return (0);
	}
	client_reply_error(c, req->id, "bad_request", "%s: must be \"ct\" or "
	    "\"expect\"", member);
	return (-1);
}

/* get by tuple: the entry arrived. */
static void
get_msg(void *arg, const struct nlmsghdr *nlh)
{
	struct cmdq	*q = arg;
	struct event	 ev;

	if (q->found || cmdq_decode(q, nlh, EV_GET, &ev) != 0)
		return;
	/* The kernel looks up by tuple only: check a ct_id given too. */
	if (q->check_id && (ev.type != EV_TYPE_CT ||
	    nfct_attr_is_set(ev.ct, ATTR_ID) <= 0 ||
	    nfct_get_attr_u32(ev.ct, ATTR_ID) != q->find_id))
		return;
	if (stream_encode(client_ctx(q->c)->stream, &ev, &q->line) == 0)
		q->found = true;
}

/* get by tuple: the kernel's verdict. */
static void
get_done(void *arg, int error)
{
	struct cmdq	*q = arg;

	client_set_job(q->c, NULL);
	if (error != 0)
		cmdq_kernel_error(q, error, "get");
	else if (!q->found)
		client_reply_error(q->c, q->id, "not_found", "get: no such "
		    "entry");
	else
		client_reply_raw(q->c, q->id, q->line.data, q->line.len - 1);
	cmdq_end(q);
}

static const struct qjob_ops get_ops = { get_msg, get_done };

/* Scan for a conntrack id: a dump entry arrived. */
static void
find_msg(void *arg, const struct nlmsghdr *nlh)
{
	struct cmdq	*q = arg;
	struct event	 ev;

	if (q->found || cmdq_decode(q, nlh, EV_GET, &ev) != 0)
		return;
	if (nfct_attr_is_set(ev.ct, ATTR_ID) <= 0 ||
	    nfct_get_attr_u32(ev.ct, ATTR_ID) != q->find_id)
		return;
	q->found = true;
	q->found_family = ev.family;
	if ((q->found_has_zone = nfct_attr_is_set(ev.ct, ATTR_ZONE) > 0))
		q->found_zone = nfct_get_attr_u16(ev.ct, ATTR_ZONE);
	if (req_tuple_from_ct(ev.ct, ev.family, &q->found_tuple) != 0)
		q->found = false;
	else if (q->on_found != NULL)
		q->on_found(q, &ev);
}

/*
 * A search for the conntrack with id q->find_id ended (a dump, or the
 * lookup of an update): answer an error, or go on with q->then.
 */
void
cmdq_find_done(void *arg, int error)
{
	struct cmdq	*q = arg;

	client_set_job(q->c, NULL);
	if (error != 0) {
		cmdq_kernel_error(q, error, q->what);
		cmdq_end(q);
		return;
	}
	if (!q->found) {
		client_reply_error(q->c, q->id, "not_found", "%s: no "
		    "conntrack with id %u", q->what, q->find_id);
		cmdq_end(q);
		return;
	}
	q->then(q);
}

static const struct qjob_ops find_ops = { find_msg, cmdq_find_done };

/*
 * Look for the conntrack with id q->find_id by dumping the table (the
 * kernel cannot look an entry up by id alone); q->then runs when it is
 * found, q->on_found for the entry itself.
 */
int
cmdq_find_id(struct cmdq *q)
{
	struct qdump	d;

	memset(&d, 0, sizeof d);
	d.table = QT_CT;
	return (cmdq_start(q, query_dump(q->mon->query, &d, &find_ops, q)));
}

/* get by id: encode the entry found. */
static void
get_found(struct cmdq *q, struct event *ev)
{
	if (stream_encode(client_ctx(q->c)->stream, ev, &q->line) != 0)
		q->found = false;
}

/* get by id: answer. */
static void
get_then(struct cmdq *q)
{
	client_reply_raw(q->c, q->id, q->line.data, q->line.len - 1);
	cmdq_end(q);
}

/* {"cmd":"get",...} */
static int
cmd_get(struct client *c, struct cmd_req *req)
{
	char		 buf[REQ_BUFLEN], err[REQ_ERRLEN];
	struct req_ct	 rc;
	struct req_exp	 re;
	struct cmdq	*q;
	struct mon	*m;
	enum qtable	 t;
	json_t		*id;

	if (cmdq_table(c, req, "type", &t) == -1 ||
	    cmdq_mon(c, req, false, &m) == -1 ||
	    cmdq_reject(c, req, t == QT_CT ? cmdq_exp_only : cmdq_ct_only,
	    t == QT_CT ? "conntracks" : "expectations") == -1)
		return (0);
	id = json_object_get(req->root, "ct_id");
	if (t == QT_CT && id != NULL &&
	    json_object_get(req->root, "tuple") == NULL) {
		if (!json_is_integer(id) || json_integer_value(id) < 0 ||
		    json_integer_value(id) > UINT32_MAX) {
			client_reply_error(c, req->id, "bad_request", "ct_id: "
			    "must be an integer from 0 to 4294967295");
			return (0);
		}
		if ((q = cmdq_new(c, req)) == NULL)
			return (-1);
		q->mon = m;
		q->what = "get";
		q->find_id = (uint32_t)json_integer_value(id);
		q->on_found = get_found;
		q->then = get_then;
		cmdq_find_id(q);
		return (0);
	}
	if (t == QT_CT) {
		if (req_parse_ct(req->root, &rc, false, err, sizeof err)) {
			client_reply_error(c, req->id, "bad_request", "%s",
			    err);
			return (0);
		}
		req_ct_get(buf, &rc);
	} else {
		if (req_parse_exp(req->root, &re, false, err, sizeof err)) {
			client_reply_error(c, req->id, "bad_request", "%s",
			    err);
			return (0);
		}
		req_exp_get(buf, &re);
	}
	if ((q = cmdq_new(c, req)) == NULL)
		return (-1);
	q->mon = m;
	if (t == QT_CT && rc.has_id) {
		q->check_id = true;
		q->find_id = rc.id;
	}
	cmdq_start(q, query_request(m->query, (struct nlmsghdr *)buf,
	    &get_ops, q));
	return (0);
}

/* dump: one entry; send it if it passes the filter. */
static void
dump_msg(void *arg, const struct nlmsghdr *nlh)
{
	struct cmdq		*q = arg;
	struct sub		*s = client_sub(q->c);
	struct filter_view	 view;
	struct event		 ev;

	if (cmdq_decode(q, nlh, EV_DUMP, &ev) != 0)
		return;
	filter_view(&ev, &view);
	if (!filter_match(q->filter, &view))
		return;
	if (stream_encode(client_ctx(q->c)->stream, &ev, &q->line) != 0)
		return;
	q->count++;
	fanout_sub_send(s, q->line.data, q->line.len);
	if (fanout_sub_out_over(s))
		client_pause_job(q->c);
}

static const struct qjob_ops dump_ops;

/* dump: a namespace's table ended; the next one, or the count. */
static void
dump_done(void *arg, int error)
{
	struct cmdq	*q = arg;
	struct qdump	 d;

	client_set_job(q->c, NULL);
	/*
	 * A namespace that went away meanwhile is skipped, the last one
	 * too.  It leaves the list only after this callback.
	 */
	if (error == -ENODEV && q->all)
		error = 0;
	if (error == 0 && q->all && TAILQ_NEXT(q->mon, entry) != NULL) {
		q->mon = TAILQ_NEXT(q->mon, entry);
		cmdq_dump_request(q->filter, q->table, &d);
		cmdq_start(q, query_dump(q->mon->query, &d, &dump_ops, q));
		return;
	}
	if (error != 0)
		cmdq_kernel_error(q, error, "dump");
	else
		client_reply_ok(q->c, q->id, json_pack("{s:I}", "count",
		    (json_int_t)q->count));
	cmdq_end(q);
}

static const struct qjob_ops dump_ops = { dump_msg, dump_done };

/* Turn a filter's kernel hints into a dump request. */
void
cmdq_dump_request(const struct filter *f, enum qtable t, struct qdump *d)
{
	struct filter_hints	h;

	filter_hints(f, &h);
	memset(d, 0, sizeof *d);
	d->table = t;
	d->family = h.family;
	if (t != QT_CT)
		return;
	d->has_mark = h.has_mark;
	d->mark = h.mark;
	d->mark_mask = h.mark_mask;
	d->has_zone = h.has_zone;
	d->zone = h.zone;
	d->has_status = h.has_status;
	d->status = h.status;
	d->status_mask = h.status;
}

/* Parse an optional "filter" member into *f (NULL when absent). */
int
cmdq_filter(struct client *c, struct cmd_req *req, struct filter **f)
{
	char	 err[FILTER_ERRLEN];
	json_t	*v = json_object_get(req->root, "filter");

	*f = NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	if ((*f = filter_parse(v, err, sizeof err)) == NULL) {
		client_reply_error(c, req->id, "bad_filter", "%s", err);
		return (-1);
	}
	return (0);
}

/* {"cmd":"dump","table":"ct","filter":{...}} */
static int
cmd_dump(struct client *c, struct cmd_req *req)
{
	struct filter	*f;
	struct qdump	 d;
	struct cmdq	*q;
	struct mon	*m;
	enum qtable	 t;

	if (cmdq_table(c, req, "table", &t) == -1 ||
	    cmdq_mon(c, req, true, &m) == -1 ||
	    cmdq_filter(c, req, &f) == -1)
		return (0);
	/* Every namespace, and there is none. */
	if (m == NULL && TAILQ_EMPTY(&client_ctx(c)->mons)) {
		filter_free(f);
		client_reply_ok(c, req->id, json_pack("{s:i}", "count", 0));
		return (0);
	}
	if ((q = cmdq_new(c, req)) == NULL) {
		filter_free(f);
		return (-1);
	}
	q->filter = f;
	q->table = t;
	q->all = m == NULL;
	q->mon = m != NULL ? m : TAILQ_FIRST(&client_ctx(c)->mons);
	cmdq_dump_request(f, t, &d);
	cmdq_start(q, query_dump(q->mon->query, &d, &dump_ops, q));
	return (0);
}

/* Names of the per-CPU statistics, by CTA_STATS_ attribute. */
static const char *const stats_cpu_names[CTA_STATS_MAX + 1] = {
	[CTA_STATS_FOUND] = "found",
	[CTA_STATS_INVALID] = "invalid",
	[CTA_STATS_INSERT] = "insert",
	[CTA_STATS_INSERT_FAILED] = "insert_failed",
	[CTA_STATS_DROP] = "drop",
	[CTA_STATS_EARLY_DROP] = "early_drop",
	[CTA_STATS_ERROR] = "error",
	[CTA_STATS_SEARCH_RESTART] = "search_restart",
	[CTA_STATS_CLASH_RESOLVE] = "clash_resolve",
	[CTA_STATS_CHAIN_TOOLONG] = "chain_toolong",
};

/*
 * Collecting the stats answer (for the stats command and for /metrics):
 * two kernel statistics requests in each namespace asked, one after the
 * other, then the daemon's own counters.
 */
struct cmdq_stats {
	struct ctx			*ctx;
	const struct cmdq_stats_ops	*ops;
	void				*arg;
	char				**names;	/* namespaces to ask */
	size_t				 nnames;
	size_t				 next;		/* the next to ask */
	bool				 all;		/* skip those gone */
	struct qjob			*job;
	int				 stage;		/* 0 global, 1 CPUs */
	unsigned long			 cpus;
	uint64_t			 global[CTA_STATS_GLOBAL_MAX + 1];
	uint64_t			 cpu[CTA_STATS_MAX + 1];
	json_t				*kernel;	/* one per namespace */
};

/* stats: one message of the kernel's answer; sum its u32 counters. */
static void
stats_msg(void *arg, const struct nlmsghdr *nlh)
{
	struct cmdq_stats	*s = arg;
	const struct nlattr	*a;
	uint16_t		 type;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_payload_len(a) != 4)
			continue;
		type = mnl_attr_get_type(a);
		if (s->stage == 0 && type <= CTA_STATS_GLOBAL_MAX)
			s->global[type] = ntohl(mnl_attr_get_u32(a));
		else if (s->stage == 1 && type <= CTA_STATS_MAX)
			s->cpu[type] += ntohl(mnl_attr_get_u32(a));
	}
	if (s->stage == 1)
		s->cpus++;
}

static void	stats_done(void *, int);
static const struct qjob_ops stats_ops = { stats_msg, stats_done };

/* Add one subscriber's counters to the list of subscribers. */
static void
stats_client(struct client *c, void *arg)
{
	json_t			*subs = arg;
	const struct sub_stats	*st = fanout_sub_stats(client_sub(c));
	pid_t			 pid;
	uid_t			 uid;

	client_peer(c, &pid, &uid, NULL);
	json_array_append_new(subs, json_pack("{s:I,s:s,s:I,s:I,s:b,s:I,"
	    "s:I,s:I,s:I,s:I}",
	    "client", (json_int_t)client_id(c),
	    "socket", client_kind(c) == LISTENER_EVENTS ? "events" : "control",
	    "pid", (json_int_t)pid, "uid", (json_int_t)uid,
	    "active", fanout_sub_active(client_sub(c)),
	    "queued_bytes", (json_int_t)fanout_sub_queued(client_sub(c)),
	    "lines", (json_int_t)st->lines, "bytes", (json_int_t)st->bytes,
	    "dropped", (json_int_t)st->dropped,
	    "lost_reports", (json_int_t)st->lost_reports));
}

/*
 * Add the counters of one event socket to those of its namespace.  The
 * drop counter of a reliable socket counts retried deliveries, not loss
 * (see nl.c): it is in retried, not in *sdrops.
 */
static void
stats_nlsrc(const struct nlsrc *s, struct nlsrc_stats *sum, uint64_t *sdrops)
{
	const struct nlsrc_stats	*st = nlsrc_stats(s);
	uint64_t			 kdrops;

	sum->msgs += st->msgs;
	sum->bytes += st->bytes;
	sum->enobufs += st->enobufs;
	sum->drops += st->drops;
	sum->retried += st->retried;
	sum->rcvbuf_grown += st->rcvbuf_grown;
	if (st->rcvbuf > sum->rcvbuf)
		sum->rcvbuf = st->rcvbuf;
	if (!nlsrc_reliable(s) && nlsrc_kernel_drops(s, &kdrops) == 0)
		*sdrops += kdrops;
}

/*
 * The counters of one monitored namespace: with two event sockets
 * (reliable mode), their sums, and the larger receive buffer.
 */
static json_t *
stats_mon(struct mon *m, uint64_t sums[6])
{
	const struct query_stats	*qs = query_stats(m->query);
	struct nlsrc_stats		 nsum, *ns = &nsum;
	json_t				*resync = json_null();
	uint64_t			 kdrops = 0;

	memset(&nsum, 0, sizeof nsum);
	stats_nlsrc(m->src, &nsum, &kdrops);
	if (m->xsrc != NULL)
		stats_nlsrc(m->xsrc, &nsum, &kdrops);
	if (m->resync != NULL) {
		const struct resync_stats	*rs = resync_stats(m->resync);

		resync = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}",
		    "runs", (json_int_t)rs->runs,
		    "added", (json_int_t)rs->added,
		    "removed", (json_int_t)rs->removed,
		    "errors", (json_int_t)rs->errors,
		    "live_entries", (json_int_t)rs->entries,
		    "entries_older_than_daemon", (json_int_t)rs->old,
		    "index_bytes", (json_int_t)rs->index_bytes,
		    "running", rs->running);
	}
	sums[0] += ns->msgs;
	sums[1] += ns->bytes;
	sums[2] += ns->enobufs;
	sums[3] += ns->drops;
	sums[4] += qs->dumps;
	sums[5] += ns->retried;
	return (json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:I,s:I,s:I,s:I,"
	    "s:o}",
	    "netns", m->name,
	    "netlink_messages", (json_int_t)ns->msgs,
	    "netlink_bytes", (json_int_t)ns->bytes,
	    "overruns", (json_int_t)ns->enobufs,
	    "kernel_drops", (json_int_t)ns->drops,
	    "socket_drops", (json_int_t)kdrops,
	    "retried_deliveries", (json_int_t)ns->retried,
	    "event_sockets", m->xsrc != NULL ? 2 : 1,
	    "rcvbuf", (json_int_t)ns->rcvbuf,
	    "rcvbuf_grown", (json_int_t)ns->rcvbuf_grown,
	    "dumps", (json_int_t)qs->dumps,
	    "requests", (json_int_t)qs->jobs,
	    "resync", resync));
}

/* A string, or null when it is empty. */
static json_t *
stats_str(const char *s)
{
	return (s[0] != '\0' ? json_string(s) : json_null());
}

/* The NATS output's counters; null without one. */
static json_t *
stats_nats(struct ctx *ctx)
{
	struct natsout_stats	st;

	if (ctx->nats == NULL)
		return (json_null());
	natsout_stats(ctx->nats, &st);
	return (json_pack("{s:o,s:o,s:s,s:b,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
	    "s:I,s:I,s:I,s:I,s:I,s:I}",
	    "server", stats_str(st.server),
	    "stream", stats_str(st.stream),
	    "subject", st.subject,
	    "connected", st.connected,
	    "last_error", stats_str(st.last_error),
	    "lines", (json_int_t)st.lines,
	    "published", (json_int_t)st.published,
	    "acked", (json_int_t)st.acked,
	    "dropped", (json_int_t)st.dropped,
	    "failed", (json_int_t)st.failed,
	    "retries", (json_int_t)st.retries,
	    "pending", (json_int_t)st.pending,
	    "pending_bytes", (json_int_t)st.pending_bytes,
	    "in_flight", (json_int_t)st.in_flight,
	    "lost_reports", (json_int_t)st.lost_reports,
	    "connects", (json_int_t)st.connects,
	    "reconnects", (json_int_t)st.reconnects,
	    "disconnects", (json_int_t)st.disconnects));
}

/*
 * Build the daemon's own counters: totals, then each namespace and each
 * subscriber.
 */
static json_t *
stats_daemon(struct ctx *ctx)
{
	const struct stream_stats	*ss = stream_stats(ctx->stream);
	const struct server_stats	*sv = server_stats(ctx->srv);
	json_t				*ev, *subs, *mons;
	struct mon			*m;
	uint64_t			 sums[6] = { 0, 0, 0, 0, 0, 0 };
	int				 t, k;

	ev = json_object();
	for (t = 0; t < EV_TYPE_MAX; t++) {
		json_t	*o = json_object();

		for (k = 0; k < EV_KIND_MAX; k++)
			if ((EV_LIVE_KINDS & EV_KIND_BIT(k)) != 0)
				json_object_set_new(o, event_kind_name(k),
				    json_integer((json_int_t)ss->events[t][k]));
		json_object_set_new(ev, event_type_name(t), o);
	}
	subs = json_array();
	if (ctx->stdout_sub != NULL) {
		const struct sub_stats	*st = fanout_sub_stats(ctx->stdout_sub);

		json_array_append_new(subs, json_pack("{s:s,s:I,s:I,s:I,s:I,"
		    "s:I}", "socket", "stdout",
		    "queued_bytes", (json_int_t)fanout_sub_queued(
		    ctx->stdout_sub), "lines", (json_int_t)st->lines,
		    "bytes", (json_int_t)st->bytes,
		    "dropped", (json_int_t)st->dropped,
		    "lost_reports", (json_int_t)st->lost_reports));
	}
	client_foreach(stats_client, subs);
	mons = json_array();
	TAILQ_FOREACH(m, &ctx->mons, entry)
		json_array_append_new(mons, stats_mon(m, sums));
	return (json_pack("{s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
	    "s:I,s:I,s:o,s:o,s:o}",
	    "uptime", (json_int_t)(ctx_now_sec() - ctx->started),
	    "events", ev,
	    "lines", (json_int_t)ss->lines,
	    "undecodable", (json_int_t)ss->bad,
	    "netlink_messages", (json_int_t)sums[0],
	    "netlink_bytes", (json_int_t)sums[1],
	    "overruns", (json_int_t)sums[2],
	    "kernel_drops", (json_int_t)sums[3],
	    "retried_deliveries", (json_int_t)sums[5],
	    "dumps", (json_int_t)sums[4],
	    "clients", (json_int_t)sv->clients,
	    "clients_accepted", (json_int_t)sv->accepted,
	    "clients_refused", (json_int_t)sv->refused,
	    "subscribers", (json_int_t)fanout_count(ctx->fo),
	    "subscriber_list", subs,
	    "namespaces", mons,
	    "nats", stats_nats(ctx)));
}

/* The counters of every reader since startup, those gone included. */
static json_t *
stats_subtotals(struct ctx *ctx)
{
	struct sub_stats	st;

	fanout_totals(ctx->fo, &st);
	return (json_pack("{s:I,s:I,s:I,s:I}", "lines", (json_int_t)st.lines,
	    "bytes", (json_int_t)st.bytes, "dropped", (json_int_t)st.dropped,
	    "lost_reports", (json_int_t)st.lost_reports));
}

/* Forget a collection; cancel its kernel request unless its owner did. */
void
cmdq_stats_free(struct cmdq_stats *s, bool cancel)
{
	size_t	i;

	if (s == NULL)
		return;
	if (cancel && s->job != NULL)
		query_job_cancel(s->job);
	for (i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->names);
	json_decref(s->kernel);
	free(s);
}

/* Send one statistics request to a namespace.  Returns 0 or -ENOMEM. */
static int
stats_ask(struct cmdq_stats *s, struct mon *m)
{
	char	buf[REQ_BUFLEN];

	req_stats(buf, s->stage == 1);
	s->job = query_request(m->query, (struct nlmsghdr *)buf, &stats_ops,
	    s);
	if (s->job == NULL)
		return (-ENOMEM);
	if (s->ops->job != NULL)
		s->ops->job(s->arg, s->job);
	return (0);
}

/* Record the kernel's statistics of one namespace (error: -errno or 0). */
static void
stats_kernel_add(struct cmdq_stats *s, const char *name, int error)
{
	json_t	*k, *cpu;
	int	 i;

	cpu = json_object();
	for (i = 0; i <= CTA_STATS_MAX; i++)
		if (stats_cpu_names[i] != NULL)
			json_object_set_new(cpu, stats_cpu_names[i],
			    json_integer((json_int_t)s->cpu[i]));
	k = json_pack("{s:s,s:I,s:I,s:I,s:o}", "netns", name,
	    "entries", (json_int_t)s->global[CTA_STATS_GLOBAL_ENTRIES],
	    "max_entries", (json_int_t)s->global[CTA_STATS_GLOBAL_MAX_ENTRIES],
	    "cpus", (json_int_t)s->cpus, "cpu_sum", cpu);
	if (error != 0)
		json_object_set_new(k, "error", json_string(strerror(-error)));
	json_array_append_new(s->kernel, k);
}

/*
 * Ask the next namespace, or, when every one was asked, hand the answer
 * to the owner and free the collection.
 */
static void
stats_next(struct cmdq_stats *s)
{
	struct mon	*m;
	const char	*name;
	json_t		*d;

	while (s->next < s->nnames) {
		name = s->names[s->next++];
		s->stage = 0;
		s->cpus = 0;
		memset(s->global, 0, sizeof s->global);
		memset(s->cpu, 0, sizeof s->cpu);
		if ((m = mon_find(s->ctx, name)) == NULL) {
			if (!s->all)
				stats_kernel_add(s, name, -ENODEV);
			continue;
		}
		if (stats_ask(s, m) == 0)
			return;
		stats_kernel_add(s, name, -ENOMEM);
	}
	d = stats_daemon(s->ctx);
	json_object_set_new(d, "subscriber_totals", stats_subtotals(s->ctx));
	s->ops->done(s->arg, d, s->kernel);
	s->kernel = NULL;
	cmdq_stats_free(s, false);
}

/*
 * Stop waiting for the kernel: the namespace being asked and those not
 * asked yet get error (-errno), and the answer comes now (ops->done).
 */
void
cmdq_stats_finish(struct cmdq_stats *s, int error)
{
	s->stage = 0;
	s->cpus = 0;
	memset(s->global, 0, sizeof s->global);
	memset(s->cpu, 0, sizeof s->cpu);
	if (s->job != NULL) {
		query_job_cancel(s->job);
		s->job = NULL;
		if (s->ops->job != NULL)
			s->ops->job(s->arg, NULL);
		stats_kernel_add(s, s->names[s->next - 1], error);
	}
	while (s->next < s->nnames)
		stats_kernel_add(s, s->names[s->next++], error);
	stats_next(s);
}

/* stats: one kernel answer ended; ask the next or answer. */
static void
stats_done(void *arg, int error)
{
	struct cmdq_stats	*s = arg;
	const char		*name = s->names[s->next - 1];
	struct mon		*m;

	s->job = NULL;
	if (s->ops->job != NULL)
		s->ops->job(s->arg, NULL);
	if (error == 0 && s->stage == 0) {
		s->stage = 1;
		if ((m = mon_find(s->ctx, name)) == NULL)
			error = -ENODEV;
		else if ((error = stats_ask(s, m)) == 0)
			return;
	}
	/* With every namespace asked, one that went away is left out. */
	if (!s->all || error != -ENODEV)
		stats_kernel_add(s, name, error);
	stats_next(s);
}

/*
 * Collect the stats answer: the kernel's statistics of namespace m, or of
 * every monitored one when m is NULL, then the daemon's counters.
 * ops->done gets the daemon's object and the list of kernel objects
 * (its own references) exactly once, possibly before this returns, unless
 * cmdq_stats_free() comes first; the collection is freed after it.  *sp
 * is set before any callback.  Returns 0 or -ENOMEM (and then calls
 * nothing).
 */
int
cmdq_stats_start(struct ctx *ctx, struct mon *m,
    const struct cmdq_stats_ops *ops, void *arg, struct cmdq_stats **sp)
{
	struct cmdq_stats	*s;
	struct mon		*each;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return (-ENOMEM);
	s->ctx = ctx;
	s->ops = ops;
	s->arg = arg;
	s->all = m == NULL;
	if ((s->kernel = json_array()) == NULL ||
	    (s->names = calloc(ctx->nmons + 1, sizeof *s->names)) == NULL) {
		cmdq_stats_free(s, false);
		return (-ENOMEM);
	}
	TAILQ_FOREACH(each, &ctx->mons, entry) {
		if (m != NULL && each != m)
			continue;
		if ((s->names[s->nnames++] = strdup(each->name)) == NULL) {
			cmdq_stats_free(s, false);
			return (-ENOMEM);
		}
	}
	*sp = s;
	stats_next(s);
	return (0);
}

/*
 * The stats answer as Prometheus text, appended to b: the daemon's
 * counters and the kernel's (an object, a list or null).
 */
int
cmdq_stats_text(struct ctx *ctx, json_t *daemon, json_t *kernel,
    struct buf *b)
{
	struct metrics_info	 info;
	json_t			*r;
	int			 error;

	info.version = PACKAGE_VERSION;
	info.start_time = ctx->started_real;
	r = json_pack("{s:O,s:O}", "daemon", daemon, "kernel",
	    kernel != NULL ? kernel : json_null());
	if (r == NULL)
		return (-ENOMEM);
	error = metrics_render(r, &info, b);
	json_decref(r);
	return (error);
}

/* stats: a kernel request of the client's started or ended. */
static void
stats_reply_job(void *arg, struct qjob *j)
{
	struct cmdq	*q = arg;

	client_set_job(q->c, j);
}

/*
 * stats: answer.  JSON has the kernel's statistics of one namespace (or
 * null); Prometheus text those of every namespace asked.
 */
static void
stats_reply(void *arg, json_t *daemon, json_t *kernel)
{
	struct cmdq	*q = arg;
	json_t		*k;

	q->stats = NULL;
	client_set_job(q->c, NULL);
	if (q->prometheus) {
		buf_reset(&q->line);
		if (cmdq_stats_text(client_ctx(q->c), daemon, kernel,
		    &q->line) != 0)
			client_reply_error(q->c, q->id, "internal", "stats: "
			    "out of memory");
		else
			client_reply_ok(q->c, q->id, json_pack("{s:s,s:s%}",
			    "format", "prometheus", "text", q->line.data,
			    q->line.len));
		json_decref(daemon);
	} else {
		k = json_array_get(kernel, 0);
		client_reply_ok(q->c, q->id, json_pack("{s:o,s:O}", "daemon",
		    daemon, "kernel", k != NULL ? k : json_null()));
	}
	json_decref(kernel);
	cmdq_end(q);
}

static const struct cmdq_stats_ops stats_reply_ops = { stats_reply_job,
    stats_reply };

/* {"cmd":"stats","format":"json"|"prometheus"} */
static int
cmd_stats(struct client *c, struct cmd_req *req)
{
	json_t		*v = json_object_get(req->root, "format");
	struct cmdq	*q;
	struct mon	*m;
	bool		 prometheus = false;

	if (v != NULL && json_is_string(v) &&
	    strcmp(json_string_value(v), "prometheus") == 0)
		prometheus = true;
	else if (v != NULL && (!json_is_string(v) ||
	    strcmp(json_string_value(v), "json") != 0)) {
		client_reply_error(c, req->id, "bad_request", "format: must be "
		    "\"json\" or \"prometheus\"");
		return (0);
	}
	if (cmdq_mon(c, req, true, &m) == -1)
		return (0);
	if ((q = cmdq_new(c, req)) == NULL)
		return (-1);
	q->prometheus = prometheus;
	/*
	 * JSON has the kernel's part of one namespace: the one named, else
	 * the first; without any, it is null.
	 */
	if (!prometheus && m == NULL)
		m = TAILQ_FIRST(&client_ctx(c)->mons);
	if (cmdq_stats_start(client_ctx(c), m, &stats_reply_ops, q,
	    &q->stats) != 0) {
		client_reply_error(c, req->id, "internal", "stats: out of "
		    "memory");
		cmdq_end(q);
	}
	return (0);
}

/* {"cmd":"version"} */
static int
cmd_version(struct client *c, struct cmd_req *req)
{
	client_reply_ok(c, req->id, json_pack("{s:s,s:i}", "version",
	    PACKAGE_VERSION, "schema", 1));
	return (0);
}

/* {"cmd":"help"}: the commands of this socket. */
static int
cmd_help(struct client *c, struct cmd_req *req)
{
	const struct cmd_entry *const	*e;
	json_t				*list = json_array();
	int				 want;

	want = client_kind(c) == LISTENER_EVENTS ? CMD_EVENTS : CMD_CONTROL;
	for (e = cmd_table(); *e != NULL; e++) {
		if (((*e)->flags & want) == 0)
			continue;
		json_array_append_new(list, json_pack("{s:s,s:s,s:b}",
		    "cmd", (*e)->name, "summary", (*e)->summary,
		    "privileged", ((*e)->flags & CMD_PRIV) != 0));
	}
	client_reply_ok(c, req->id, json_pack("{s:o}", "commands", list));
	return (0);
}

/* Collect one finding of the self-diagnosis. */
static void
diagnose_finding(void *arg, int severity, const char *msg)
{
	json_array_append_new(arg, json_pack("{s:s,s:s}", "severity",
	    severity ? "warning" : "notice", "message", msg));
}

/* The startup diagnosis of one namespace, as data. */
static json_t *
diagnose_mon(const struct mon *m)
{
	json_t	*findings = json_array();

	diag_findings(&m->diag, m->name, diagnose_finding, findings);
	return (json_pack("{s:s,s:i,s:i,s:i,s:b,s:o}", "netns", m->name,
	    "nf_conntrack_events", m->diag.events,
	    "nf_conntrack_acct", m->diag.acct,
	    "nf_conntrack_timestamp", m->diag.timestamp,
	    "cap_net_admin", m->diag.net_admin,
	    "findings", findings));
}

/*
 * {"cmd":"diagnose"}: the startup self-diagnosis as data: of the
 * namespace named, else of the first, with every namespace's in
 * "namespaces"; without any namespace, only the empty "namespaces".
 */
static int
cmd_diagnose(struct client *c, struct cmd_req *req)
{
	struct ctx	*ctx = client_ctx(c);
	struct mon	*m, *sel;
	json_t		*r, *all = json_array();

	if (cmdq_mon(c, req, true, &sel) == -1) {
		json_decref(all);
		return (0);
	}
	TAILQ_FOREACH(m, &ctx->mons, entry)
		json_array_append_new(all, diagnose_mon(m));
	if (sel == NULL)
		sel = TAILQ_FIRST(&ctx->mons);
	r = sel != NULL ? diagnose_mon(sel) : json_object();
	json_object_set_new(r, "namespaces", all);
	client_reply_ok(c, req->id, r);
	return (0);
}

const char *const cmdq_ct_only[] = { "dir", "ct_id", "reply", "mark",
    "labels", "status", "state", NULL };
const char *const cmdq_exp_only[] = { "exp_id", "master", "mask", "helper",
    "flags", "class", NULL };

static const char *const get_members[] = { "type", "tuple", "dir", "zone",
    "ct_id", "exp_id", "netns", NULL };
static const char *const dump_members[] = { "table", "filter", "netns",
    NULL };
static const char *const netns_members[] = { "netns", NULL };
static const char *const stats_members[] = { "netns", "format", NULL };

const struct cmd_entry cmd_get_entry = {
	"get", CMD_CONTROL, "one entry by tuple or by ct_id", get_members,
	cmd_get
};
const struct cmd_entry cmd_dump_entry = {
	"dump", CMD_CONTROL, "the conntrack or expectation table, filtered",
	dump_members, cmd_dump
};
const struct cmd_entry cmd_stats_entry = {
	"stats", CMD_CONTROL, "the daemon's and the kernel's counters",
	stats_members, cmd_stats
};
const struct cmd_entry cmd_version_entry = {
	"version", CMD_EVENTS | CMD_CONTROL, "the daemon and schema versions",
	NULL, cmd_version
};
const struct cmd_entry cmd_help_entry = {
	"help", CMD_EVENTS | CMD_CONTROL, "the commands of this socket", NULL,
	cmd_help
};
const struct cmd_entry cmd_diagnose_entry = {
	"diagnose", CMD_CONTROL, "what makes the stream incomplete",
	netns_members, cmd_diagnose
};
