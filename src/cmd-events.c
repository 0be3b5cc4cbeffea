/*
 * cmd-events.c - subscribe, unsubscribe and ping.
 *
 * subscribe replaces the client's filter and, with "snapshot":true, sends
 * the current table first: the client's live events are held back (they
 * count against its watermarks), both tables of every monitored
 * namespace are dumped, one after the other, and every entry
 * that passes the filter is sent as an "event":"snapshot" line, then
 *   {"type":"sync","entries":N,"time":"..."}
 * and then the held events and the live stream.  Since the events are
 * held from before the dump starts, nothing falls in a gap; an entry that
 * changes during the dump can appear both in the snapshot and in an event
 * after the marker.  The dump pauses while the client's output is over
 * its high watermark.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cmd.h"
#include "ctx.h"
#include "decode.h"
#include "encode.h"
#include "fanout.h"
#include "filter.h"
#include "kfilter.h"
#include "log.h"
#include "query.h"
#include "server.h"
#include "stream.h"

/* A snapshot being sent to one client. */
struct snap {
	struct client	*c;
	struct mon	*mon;		/* the namespace being dumped */
	enum qtable	 table;
	bool		 want_ct, want_exp;
	unsigned long	 entries;
	struct buf	 line;
};

static void	snap_msg(void *, const struct nlmsghdr *);
static void	snap_done(void *, int);

static const struct qjob_ops snap_ops = { snap_msg, snap_done };

/* Free a snapshot's state (client_set_cmdstate destructor). */
static void
snap_free(void *arg)
{
	struct snap	*sn = arg;

	if (sn == NULL)
		return;
	buf_free(&sn->line);
	free(sn);
}

/* Start dumping one table of one namespace for a snapshot. */
static int
snap_start(struct snap *sn, struct mon *m, enum qtable table)
{
	struct qdump	 d;
	struct qjob	*j;

	memset(&d, 0, sizeof d);
	d.table = table;
	sn->table = table;
	sn->mon = m;
	j = query_dump(m->query, &d, &snap_ops, sn);
	if (j == NULL)
		return (-ENOMEM);
	client_set_job(sn->c, j);
	return (0);
}

/* One entry of the dump: send it if it passes the client's filter. */
static void
snap_msg(void *arg, const struct nlmsghdr *nlh)
{
	struct snap		*sn = arg;
	struct ctx		*ctx = client_ctx(sn->c);
	struct sub		*s = client_sub(sn->c);
	struct filter_view	 view;
	struct event		 ev;

	if (decode_msg(ctx->qdec, nlh, &ev) != 0)
		return;
	ev.kind = EV_SNAPSHOT;
	ev.netns = sn->mon->name;
	ev.show_netns = ctx->multi;
	clock_gettime(CLOCK_REALTIME, &ev.time);
	filter_view(&ev, &view);
	if (!kfilter_match(ctx->kf, &view) ||
	    !filter_match(fanout_sub_filter(s), &view))
		return;
	if (stream_encode(ctx->stream, &ev, &sn->line) != 0)
		return;
	sn->entries++;
	fanout_sub_send(s, sn->line.data, sn->line.len);
	if (fanout_sub_out_over(s))
		client_pause_job(sn->c);
}

/* A table is done: dump the next one, or end with the sync marker. */
static void
snap_done(void *arg, int error)
{
	struct snap	*sn = arg;
	struct client	*c = sn->c;
	struct mon	*m;
	struct timespec	 now;
	char		 t[ENCODE_TIMELEN];
	json_t		*sync;
	char		*s;

	client_set_job(c, NULL);
	if (error == 0 && sn->mon != NULL && sn->table == QT_CT &&
	    sn->want_exp) {
		if ((error = snap_start(sn, sn->mon, QT_EXP)) == 0)
			return;
	}
	/* A namespace that went away meanwhile is skipped. */
	if ((error == 0 || error == -ENODEV) && sn->mon != NULL &&
	    (m = TAILQ_NEXT(sn->mon, entry)) != NULL) {
		if ((error = snap_start(sn, m, sn->want_ct ? QT_CT :
		    QT_EXP)) == 0)
			return;
	}
	if (error == -ENODEV)
		error = 0;
	clock_gettime(CLOCK_REALTIME, &now);
	encode_time(t, now.tv_sec, now.tv_nsec / 1000, 6);
	sync = json_pack("{s:s,s:I,s:s}", "type", "sync", "entries",
	    (json_int_t)sn->entries, "time", t);
	if (error != 0 && sync != NULL) {
		log_warnx("client %u: snapshot failed: %s", client_id(c),
		    strerror(-error));
		json_object_set_new(sync, "error", json_pack("{s:s,s:s}",
		    "code", "kernel_error", "message", strerror(-error)));
	}
	s = sync != NULL ? json_dumps(sync, JSON_COMPACT) : NULL;
	json_decref(sync);
	if (s != NULL) {
		size_t	n = strlen(s);

		s[n] = '\n';
		fanout_sub_release(client_sub(c), s, n + 1);
		free(s);
	}
	client_set_cmdstate(c, NULL, NULL);
	client_job_done(c);
}

/* {"cmd":"subscribe","filter":{...},"snapshot":false} */
static int
cmd_subscribe(struct client *c, struct cmd_req *req)
{
	struct ctx	*ctx = client_ctx(c);
	struct filter	*f = NULL;
	struct snap	*sn;
	char		 err[FILTER_ERRLEN];
	json_t		*jf, *js;
	bool		 snapshot = false;
	unsigned int	 types;

	jf = json_object_get(req->root, "filter");
	js = json_object_get(req->root, "snapshot");
	if (js != NULL) {
		if (!json_is_boolean(js)) {
			client_reply_error(c, req->id, "bad_request",
			    "snapshot: must be true or false");
			return (0);
		}
		snapshot = json_is_true(js);
	}
	if (jf != NULL && !json_is_null(jf) &&
	    (f = filter_parse(jf, err, sizeof err)) == NULL) {
		client_reply_error(c, req->id, "bad_filter", "%s", err);
		return (0);
	}
	types = filter_types(f) & ctx->types;
	fanout_sub_set_filter(client_sub(c), f);
	fanout_sub_set_active(client_sub(c), true);
	client_reply_ok(c, req->id, json_pack("{s:b}", "snapshot", snapshot));
	if (!snapshot)
		return (0);

	if ((sn = calloc(1, sizeof *sn)) == NULL)
		return (-1);
	sn->c = c;
	sn->want_ct = (types & EV_TYPE_BIT(EV_TYPE_CT)) != 0;
	sn->want_exp = (types & EV_TYPE_BIT(EV_TYPE_EXPECT)) != 0;
	client_set_cmdstate(c, sn, snap_free);
	fanout_sub_hold(client_sub(c));
	if (TAILQ_EMPTY(&ctx->mons) || (!sn->want_ct && !sn->want_exp)) {
		snap_done(sn, 0);	/* nothing to dump: sync at once */
		return (0);
	}
	if (snap_start(sn, TAILQ_FIRST(&ctx->mons), sn->want_ct ? QT_CT :
	    QT_EXP) != 0) {
		snap_done(sn, -ENOMEM);
		return (0);
	}
	return (0);
}

/* {"cmd":"unsubscribe"}: no more events until the next subscribe. */
static int
cmd_unsubscribe(struct client *c, struct cmd_req *req)
{
	fanout_sub_set_active(client_sub(c), false);
	client_reply_ok(c, req->id, NULL);
	return (0);
}

/* {"cmd":"ping"} */
static int
cmd_ping(struct client *c, struct cmd_req *req)
{
	struct timespec	now;
	char		t[ENCODE_TIMELEN];

	clock_gettime(CLOCK_REALTIME, &now);
	encode_time(t, now.tv_sec, now.tv_nsec / 1000, 6);
	client_reply_ok(c, req->id, json_pack("{s:b,s:s}", "pong", 1,
	    "time", t));
	return (0);
}

static const char *const subscribe_members[] = { "filter", "snapshot", NULL };

const struct cmd_entry cmd_subscribe_entry = {
	"subscribe", CMD_EVENTS,
	"replace the filter; with snapshot, send the table first",
	subscribe_members, cmd_subscribe
};

const struct cmd_entry cmd_unsubscribe_entry = {
	"unsubscribe", CMD_EVENTS, "stop sending events", NULL,
	cmd_unsubscribe
};

const struct cmd_entry cmd_ping_entry = {
	"ping", CMD_EVENTS | CMD_CONTROL, "answer with pong", NULL, cmd_ping
};
