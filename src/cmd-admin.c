/*
 * cmd-admin.c - the commands that change the table: delete, update, flush,
 * create.  Only root and members of the admin group may run them (checked
 * once, in cmd_dispatch); every change is logged with the peer's uid and
 * pid.
 *
 *   {"cmd":"delete","tuple":{...}}            or {"cmd":"delete","ct_id":N}
 *   {"cmd":"delete","type":"expect","tuple":{...}}
 *   {"cmd":"update","tuple":{...},"mark":42,"labels":[1,5]}
 *   {"cmd":"flush","table":"ct","filter":{...}}   or ..."all":true
 *   {"cmd":"create","tuple":{...},"timeout":120,"state":"ESTABLISHED"}
 *   {"cmd":"create","type":"expect","master":{...},"tuple":{...},...}
 *
 * A filtered flush dumps the table through the filter, then deletes the
 * matching entries one by one (by tuple and id, so an entry that was
 * replaced meanwhile is left alone); an unfiltered one asks the kernel to
 * flush and must say "all":true.  The kernel checks a conntrack's id on
 * delete only: an update with a ct_id looks the entry up first.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "cmd.h"
#include "cmdq.h"
#include "ctx.h"
#include "filter.h"
#include "log.h"
#include "query.h"
#include "req.h"
#include "server.h"

#define ADMIN_FLUSH_MAX	(1U << 20)	/* entries per filtered flush */

/* Log a change with who asked for it. */
static void
admin_log(struct client *c, struct cmd_req *req)
{
	char	*s;
	pid_t	 pid;
	uid_t	 uid;

	client_peer(c, &pid, &uid, NULL);
	s = json_dumps(req->root, JSON_COMPACT | JSON_SORT_KEYS);
	log_notice("client %u (uid %ld, pid %ld): %s %.400s", client_id(c),
	    (long)uid, (long)pid, req->name, s ? s : "");
	free(s);
}

/* A change request: nothing comes back but the verdict. */
static void
change_msg(void *arg, const struct nlmsghdr *nlh)
{
}

/* A single change is done: answer. */
static void
change_done(void *arg, int error)
{
	struct cmdq	*q = arg;

	client_set_job(q->c, NULL);
	if (error != 0)
		cmdq_kernel_error(q, error, q->what);
	else
		client_reply_ok(q->c, q->id, json_pack("{s:i}", "changed", 1));
	cmdq_end(q);
}

static const struct qjob_ops change_ops = { change_msg, change_done };

/* Send one prepared change request for q. */
static void
admin_send(struct cmdq *q, const char *buf)
{
	cmdq_start(q, query_request(q->mon->query,
	    (const struct nlmsghdr *)buf, &change_ops, q));
}

/* Parse "type": "ct" or "expect"; -1 after answering. */
static int
admin_type(struct client *c, struct cmd_req *req, const char *member,
    enum qtable *t)
{
	json_t	*v = json_object_get(req->root, member);

	*t = QT_CT;
	if (v == NULL || (json_is_string(v) &&
	    strcmp(json_string_value(v), "ct") == 0))
		return (0);
	if (json_is_string(v) && strcmp(json_string_value(v), "expect") == 0) {
		*t = QT_EXP;
		return (0);
	}
	client_reply_error(c, req->id, "bad_request", "%s: must be \"ct\" or "
	    "\"expect\"", member);
	return (-1);
}

/* update with a ct_id: the entry with the tuple arrived; check its id. */
static void
admin_check_msg(void *arg, const struct nlmsghdr *nlh)
{
	struct cmdq	*q = arg;
	struct event	 ev;

	if (cmdq_decode(q, nlh, EV_GET, &ev) != 0 || ev.type != EV_TYPE_CT)
		return;
	if (nfct_attr_is_set(ev.ct, ATTR_ID) > 0 &&
	    nfct_get_attr_u32(ev.ct, ATTR_ID) == q->find_id)
		q->found = true;
}

/* update with a ct_id: the entry has it; change it. */
static void
admin_update_send(struct cmdq *q)
{
	char	buf[REQ_BUFLEN];

	req_ct_update(buf, &q->rc);
	admin_send(q, buf);
}

static const struct qjob_ops check_ops = { admin_check_msg,
    cmdq_find_done };

/*
 * Update a conntrack named with its id.  The kernel checks CTA_ID on
 * delete but ignores it on update (ctnetlink_change_conntrack()), so
 * look the entry up by its tuple first and change it only if it has that
 * id.  The id still goes with the update, in case the kernel learns to
 * check it; until then an entry replaced between the lookup and the
 * change (one round trip) is changed instead.
 */
static void
admin_update_id(struct cmdq *q)
{
	char	buf[REQ_BUFLEN];

	q->found = false;
	q->find_id = q->rc.id;
	q->then = admin_update_send;
	req_ct_get(buf, &q->rc);
	cmdq_start(q, query_request(q->mon->query,
	    (const struct nlmsghdr *)buf, &check_ops, q));
}

/* After a ct_id was found: delete or update it by tuple and id. */
static void
admin_by_id_then(struct cmdq *q)
{
	char	buf[REQ_BUFLEN];

	q->rc.orig = q->found_tuple;
	q->rc.dir = REQ_ORIG;
	q->rc.has_id = true;
	q->rc.id = q->find_id;
	/* The entry's own zone: the request may not have named it. */
	q->rc.has_zone = q->found_has_zone;
	q->rc.zone = q->found_zone;
	if (strcmp(q->what, "delete") == 0) {
		req_ct_delete(buf, &q->rc);
		admin_send(q, buf);
	} else
		admin_update_id(q);
}

/* Parse a conntrack named by tuple or by ct_id alone, for delete/update. */
static int
admin_parse_ct(struct client *c, struct cmd_req *req, struct req_ct *rc,
    bool *by_id)
{
	char	 err[REQ_ERRLEN];
	json_t	*tuple = json_object_get(req->root, "tuple");
	json_t	*id = json_object_get(req->root, "ct_id");

	*by_id = tuple == NULL && id != NULL;
	if (*by_id) {
		/* Parse the other members against a dummy tuple. */
		json_t	*copy = json_deep_copy(req->root);
		int	 r;

		json_object_set_new(copy, "tuple", json_pack("{s:s,s:s,s:s,"
		    "s:i,s:i}", "proto", "tcp", "src", "0.0.0.0", "dst",
		    "0.0.0.0", "sport", 0, "dport", 0));
		r = req_parse_ct(copy, rc, true, err, sizeof err);
		json_decref(copy);
		if (r != 0) {
			client_reply_error(c, req->id, "bad_request", "%s",
			    err);
			return (-1);
		}
		if (!rc->has_id) {
			client_reply_error(c, req->id, "bad_request",
			    "ct_id: must be an integer");
			return (-1);
		}
		return (0);
	}
	if (req_parse_ct(req->root, rc, true, err, sizeof err) != 0) {
		client_reply_error(c, req->id, "bad_request", "%s", err);
		return (-1);
	}
	return (0);
}

/* {"cmd":"delete",...} */
static int
cmd_delete(struct client *c, struct cmd_req *req)
{
	char		 buf[REQ_BUFLEN], err[REQ_ERRLEN];
	struct req_exp	 re;
	struct req_ct	 rc;
	struct cmdq	*q;
	struct mon	*m;
	enum qtable	 t;
	bool		 by_id = false;

	if (admin_type(c, req, "type", &t) == -1 ||
	    cmdq_mon(c, req, false, &m) == -1 ||
	    cmdq_reject(c, req, t == QT_CT ? cmdq_exp_only : cmdq_ct_only,
	    t == QT_CT ? "conntracks" : "expectations") == -1)
		return (0);
	if (t == QT_EXP) {
		if (req_parse_exp(req->root, &re, false, err, sizeof err)) {
			client_reply_error(c, req->id, "bad_request", "%s",
			    err);
			return (0);
		}
	} else if (admin_parse_ct(c, req, &rc, &by_id) == -1)
		return (0);
	if ((q = cmdq_new(c, req)) == NULL)
		return (-1);
	q->mon = m;
	q->what = "delete";
	admin_log(c, req);
	if (t == QT_EXP) {
		req_exp_delete(buf, &re);
		admin_send(q, buf);
		return (0);
	}
	q->rc = rc;
	if (by_id) {
		q->find_id = rc.id;
		q->then = admin_by_id_then;
		cmdq_find_id(q);
		return (0);
	}
	req_ct_delete(buf, &q->rc);
	admin_send(q, buf);
	return (0);
}

/* {"cmd":"update","tuple":{...},"mark":N,"labels":[...]} */
static int
cmd_update(struct client *c, struct cmd_req *req)
{
	char		 buf[REQ_BUFLEN];
	struct req_ct	 rc;
	struct cmdq	*q;
	struct mon	*m;
	bool		 by_id;

	if (cmdq_mon(c, req, false, &m) == -1 ||
	    admin_parse_ct(c, req, &rc, &by_id) == -1)
		return (0);
	if (!rc.has_mark && !rc.has_labels) {
		client_reply_error(c, req->id, "bad_request", "update: give "
		    "mark and/or labels");
		return (0);
	}
	if ((q = cmdq_new(c, req)) == NULL)
		return (-1);
	q->mon = m;
	q->what = "update";
	q->rc = rc;
	admin_log(c, req);
	if (by_id) {
		q->find_id = rc.id;
		q->then = admin_by_id_then;
		cmdq_find_id(q);
		return (0);
	}
	if (rc.has_id) {
		admin_update_id(q);
		return (0);
	}
	req_ct_update(buf, &q->rc);
	admin_send(q, buf);
	return (0);
}

static void	flush_next(struct cmdq *);

/* A filtered flush: one delete is done; count it and send the next. */
static void
flush_del_done(void *arg, int error)
{
	struct cmdq	*q = arg;

	client_set_job(q->c, NULL);
	if (error == 0)
		q->done_ok++;
	else if (error == -ENOENT)
		q->done_gone++;
	else
		q->done_err++;
	flush_next(q);
}

static const struct qjob_ops flush_del_ops = { change_msg, flush_del_done };

/* Send the next delete of a filtered flush, or answer when all are done. */
static void
flush_next(struct cmdq *q)
{
	const struct nlmsghdr	*nlh;

	if (q->reqoff < q->reqs.len) {
		nlh = (const struct nlmsghdr *)(q->reqs.data + q->reqoff);
		q->reqoff += NLMSG_ALIGN(nlh->nlmsg_len);
		cmdq_start(q, query_request(q->mon->query, nlh,
		    &flush_del_ops, q));
		return;
	}
	client_reply_ok(q->c, q->id, json_pack("{s:I,s:I,s:I,s:I}",
	    "matched", (json_int_t)q->nreqs, "deleted",
	    (json_int_t)q->done_ok, "gone", (json_int_t)q->done_gone,
	    "failed", (json_int_t)q->done_err));
	cmdq_end(q);
}

/* A filtered flush: a dump entry; remember a delete for it if it matches. */
static void
flush_msg(void *arg, const struct nlmsghdr *nlh)
{
	struct cmdq		*q = arg;
	struct filter_view	 view;
	struct event		 ev;
	struct req_ct		 rc;
	struct req_exp		 re;
	const struct nf_conntrack *t;
	char			 p[REQ_BUFLEN];
	size_t			 len;

	if (cmdq_decode(q, nlh, EV_DUMP, &ev) != 0)
		return;
	filter_view(&ev, &view);
	if (!filter_match(q->filter, &view) || q->nreqs >= ADMIN_FLUSH_MAX)
		return;
	if (ev.type == EV_TYPE_CT) {
		memset(&rc, 0, sizeof rc);
		if (req_tuple_from_ct(ev.ct, ev.family, &rc.orig) != 0)
			return;
		if (nfct_attr_is_set(ev.ct, ATTR_ID) > 0) {
			rc.has_id = true;
			rc.id = nfct_get_attr_u32(ev.ct, ATTR_ID);
		}
		if (nfct_attr_is_set(ev.ct, ATTR_ZONE) > 0) {
			rc.has_zone = true;
			rc.zone = nfct_get_attr_u16(ev.ct, ATTR_ZONE);
		}
		len = req_ct_delete(p, &rc);
	} else {
		memset(&re, 0, sizeof re);
		if (nfexp_attr_is_set(ev.exp, ATTR_EXP_EXPECTED) <= 0)
			return;
		t = nfexp_get_attr(ev.exp, ATTR_EXP_EXPECTED);
		if (req_tuple_from_ct(t, ev.family, &re.tuple) != 0)
			return;
		if (nfexp_attr_is_set(ev.exp, ATTR_EXP_ZONE) > 0) {
			re.has_zone = true;
			re.zone = nfexp_get_attr_u16(ev.exp, ATTR_EXP_ZONE);
		}
		re.has_id = ev.has_exp_id;
		re.id = ev.exp_id;
		len = req_exp_delete(p, &re);
	}
	/* Kept back to back, aligned, until the dump is over. */
	buf_add(&q->reqs, p, NLMSG_ALIGN(len));
	if (buf_ok(&q->reqs))
		q->nreqs++;
}

/* A filtered flush: the dump ended; now delete. */
static void
flush_dump_done(void *arg, int error)
{
	struct cmdq	*q = arg;

	client_set_job(q->c, NULL);
	if (error != 0) {
		cmdq_kernel_error(q, error, "flush");
		cmdq_end(q);
		return;
	}
	flush_next(q);
}

static const struct qjob_ops flush_dump_ops = { flush_msg, flush_dump_done };

/* {"cmd":"flush","table":"ct","filter":{...}} or ..."all":true */
static int
cmd_flush(struct client *c, struct cmd_req *req)
{
	char		 buf[REQ_BUFLEN];
	struct filter	*f;
	struct qdump	 d;
	struct cmdq	*q;
	struct mon	*m;
	enum qtable	 t;
	json_t		*all = json_object_get(req->root, "all");

	if (admin_type(c, req, "table", &t) == -1 ||
	    cmdq_mon(c, req, false, &m) == -1)
		return (0);
	if (all != NULL && !json_is_boolean(all)) {
		client_reply_error(c, req->id, "bad_request", "all: must be "
		    "true or false");
		return (0);
	}
	if (cmdq_filter(c, req, &f) == -1)
		return (0);
	if (f == NULL && !json_is_true(all)) {
		client_reply_error(c, req->id, "bad_request", "flush: refusing "
		    "to flush the whole table without \"all\":true (or give a "
		    "filter)");
		return (0);
	}
	if (f != NULL && json_is_true(all)) {
		filter_free(f);
		client_reply_error(c, req->id, "bad_request", "flush: give "
		    "either a filter or \"all\":true, not both");
		return (0);
	}
	if ((q = cmdq_new(c, req)) == NULL) {
		filter_free(f);
		return (-1);
	}
	q->mon = m;
	q->what = "flush";
	q->filter = f;
	q->table = t;
	admin_log(c, req);
	if (f == NULL) {
		req_flush(buf, t == QT_EXP, 0);
		admin_send(q, buf);
		return (0);
	}
	cmdq_dump_request(f, t, &d);
	cmdq_start(q, query_dump(q->mon->query, &d, &flush_dump_ops, q));
	return (0);
}

/* {"cmd":"create",...}: a conntrack or an expectation. */
static int
cmd_create(struct client *c, struct cmd_req *req)
{
	char		 buf[REQ_BUFLEN], err[REQ_ERRLEN];
	struct req_ct	 rc;
	struct req_exp	 re;
	struct cmdq	*q;
	struct mon	*m;
	enum qtable	 t;

	if (admin_type(c, req, "type", &t) == -1 ||
	    cmdq_mon(c, req, false, &m) == -1 ||
	    cmdq_reject(c, req, t == QT_CT ? cmdq_exp_only : cmdq_ct_only,
	    t == QT_CT ? "conntracks" : "expectations") == -1)
		return (0);
	if (t == QT_CT) {
		if (req_parse_ct(req->root, &rc, true, err, sizeof err) != 0) {
			client_reply_error(c, req->id, "bad_request", "%s",
			    err);
			return (0);
		}
		if (!rc.has_timeout) {
			client_reply_error(c, req->id, "bad_request",
			    "timeout: missing (seconds)");
			return (0);
		}
		req_ct_create(buf, &rc);
	} else {
		if (req_parse_exp(req->root, &re, true, err, sizeof err) != 0) {
			client_reply_error(c, req->id, "bad_request", "%s",
			    err);
			return (0);
		}
		req_exp_create(buf, &re);
	}
	if ((q = cmdq_new(c, req)) == NULL)
		return (-1);
	q->mon = m;
	q->what = "create";
	admin_log(c, req);
	admin_send(q, buf);
	return (0);
}

static const char *const delete_members[] = { "type", "tuple", "dir", "zone",
    "ct_id", "exp_id", "netns", NULL };
static const char *const update_members[] = { "tuple", "dir", "zone",
    "ct_id", "mark", "labels", "netns", NULL };
static const char *const flush_members[] = { "table", "filter", "all",
    "netns", NULL };
static const char *const create_members[] = { "type", "tuple", "reply",
    "master", "mask", "zone", "timeout", "mark", "labels", "status", "state",
    "helper", "flags", "class", "netns", NULL };

const struct cmd_entry cmd_delete_entry = {
	"delete", CMD_CONTROL | CMD_PRIV, "delete one entry",
	delete_members, cmd_delete
};
const struct cmd_entry cmd_update_entry = {
	"update", CMD_CONTROL | CMD_PRIV, "set the mark or labels of a "
	"conntrack", update_members, cmd_update
};
const struct cmd_entry cmd_flush_entry = {
	"flush", CMD_CONTROL | CMD_PRIV, "delete every entry matching a filter",
	flush_members, cmd_flush
};
const struct cmd_entry cmd_create_entry = {
	"create", CMD_CONTROL | CMD_PRIV, "create a conntrack or expectation",
	create_members, cmd_create
};
