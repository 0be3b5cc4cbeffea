/*
 * nats.c - publish every stream line to NATS, optionally with JetStream
 * acknowledgements.
 *
 * Each line the stream's tap hands over becomes one message on
 * <prefix>.<host>.<type>.<event> (<prefix>.<host>.<type> for a line
 * without an event kind, such as an overrun), whose payload is the line
 * without its newline.
 *
 * Threads.  The event loop never calls libnats.  natsout_line() runs on
 * the loop: it checks the watermarks, copies the line into a record and
 * appends it to a queue under a mutex, and that is all.  A thread of our
 * own (the publisher) owns the connection: it connects (libnats retries
 * in the background when the server is down at startup), takes records
 * off the queue while the connection is up and hands them to libnats,
 * and waits on a condition variable otherwise.  libnats runs threads of
 * its own: the reconnection thread (with our backoff), the thread that
 * runs connection callbacks, and the one that runs JetStream
 * acknowledgement callbacks.  Those callbacks only take the mutex,
 * update the counters and the queues, and wake the publisher.  Nothing
 * holds the mutex while calling libnats, so no lock order can invert.
 * Whatever the threads want the loop to do (log a message, put a "nats"
 * line into the local stream) is queued as a note, and an eventfd wakes
 * the loop, which handles the notes on its own thread: logging and the
 * stream stay single-threaded.
 *
 * Pending lines (queued, or published and awaiting their
 * acknowledgement) are bounded by a high watermark in bytes and one in
 * lines.  Past either, lines are dropped and counted, as the fan-out
 * does for a slow subscriber; once both fall to their low watermark, a
 *   {"type":"lost","count":N,"first_seq":A,"last_seq":B,"time":"..."}
 * message goes out on <prefix>.<host>.lost before any further line.
 * Lines that fail for good (a negative acknowledgement from the stream,
 * an error from the library that retrying cannot fix, no acknowledgement
 * after the retries) are counted and reported the same way.  Each report
 * also goes to the loop, which logs it and tells local subscribers with a
 * {"type":"nats","event":"lost",...} line.  That line is a stream line
 * too and comes back here; so that a stream that refuses everything
 * cannot make the reports feed themselves, a report that is only about
 * such lines is logged but not turned into another line.
 *
 * With a stream (--nats-stream), each message carries a Nats-Msg-Id
 * (host, run, seq) and Nats-Expected-Stream, and its acknowledgement is
 * awaited, at most --nats-max-inflight at once.  A message whose
 * acknowledgement times out is published again with the same id (the
 * stream drops it as a duplicate if the first copy did arrive), at most
 * --nats-retries times.  "No responders" (no stream there yet, or a
 * cluster electing a leader) pauses publishing with a backoff and does
 * not use up retries.  Core NATS (no stream) has no acknowledgements:
 * a line counts as published once libnats took it, and what a failing
 * connection swallows is not seen.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "natsout.h"

#define NATSOUT_MAXLINE	1024	/* longest server list element, prefix... */

/* Tell whether c may not appear in a subject token or a stream name. */
static bool
natsout_bad_char(unsigned char c)
{
	return (c <= ' ' || c == 0x7f || c == '.' || c == '*' || c == '>');
}

/*
 * Check a comma-separated list of server URLs: nats://HOST[:PORT] or
 * HOST[:PORT] (HOST may be an [IPv6 address]), with user:password@ or
 * token@ allowed before the host.
 */
int
natsout_check_servers(const char *v, char *err, size_t errlen)
{
	const char	*p = v, *end, *host, *colon, *q;
	size_t		 n;
	long		 port;
	char		*e;

	if (*v == '\0') {
		snprintf(err, errlen, "empty server list");
		return (-EINVAL);
	}
	for (;;) {
		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n == 0 || n > NATSOUT_MAXLINE) {
			snprintf(err, errlen, "empty or overlong server in '%s'",
			    v);
			return (-EINVAL);
		}
		for (q = p; q < p + n; q++)
			if ((unsigned char)*q <= ' ' || *q == 0x7f) {
				snprintf(err, errlen, "'%.*s': blank or control "
				    "character", (int)n, p);
				return (-EINVAL);
			}
		host = p;
		if ((q = strstr(p, "://")) != NULL && q < p + n) {
			if (q - p != 4 || strncmp(p, "nats", 4) != 0) {
				snprintf(err, errlen, "'%.*s': only nats:// "
				    "URLs are supported", (int)n, p);
				return (-EINVAL);
			}
			host = q + 3;
		}
		for (q = host; q < p + n; q++)
			if (*q == '@')
				host = q + 1;
		colon = NULL;
		q = host;
		if (q < p + n && *q == '[') {	/* [IPv6 address] */
			while (q < p + n && *q != ']')
				q++;
			if (q == p + n || q == host + 1) {
				snprintf(err, errlen, "'%.*s': bad address",
				    (int)n, p);
				return (-EINVAL);
			}
		}
		for (; q < p + n; q++)
			if (*q == ':' || *q == '/')
				break;
		if (q < p + n && *q == ':')
			colon = q;
		if ((colon != NULL ? colon : q) == host) {
			snprintf(err, errlen, "'%.*s': no host", (int)n, p);
			return (-EINVAL);
		}
		if (colon != NULL) {
			errno = 0;
			port = strtol(colon + 1, &e, 10);
			if (e == colon + 1 || errno != 0 || port < 1 ||
			    port > 65535 || (e != p + n && *e != '/')) {
				snprintf(err, errlen, "'%.*s': bad port", (int)n,
				    p);
				return (-EINVAL);
			}
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return (0);
}

/* Check one subject token (the host part of the subjects). */
int
natsout_check_token(const char *v, char *err, size_t errlen)
{
	const char	*p;

	if (*v == '\0' || strlen(v) > NATSOUT_MAXLINE) {
		snprintf(err, errlen, "empty or overlong subject token");
		return (-EINVAL);
	}
	for (p = v; *p != '\0'; p++)
		if (natsout_bad_char((unsigned char)*p)) {
			snprintf(err, errlen, "'%s': a subject token may not "
			    "contain '.', '*', '>', blanks or control "
			    "characters", v);
			return (-EINVAL);
		}
	return (0);
}

/* Check a subject prefix: one or more tokens separated by dots. */
int
natsout_check_prefix(const char *v, char *err, size_t errlen)
{
	const char	*p;
	size_t		 tok = 0;

	if (*v == '\0' || strlen(v) > NATSOUT_MAXLINE) {
		snprintf(err, errlen, "empty or overlong subject prefix");
		return (-EINVAL);
	}
	for (p = v;; p++) {
		if (*p == '.' || *p == '\0') {
			if (tok == 0) {
				snprintf(err, errlen, "'%s': empty subject "
				    "token", v);
				return (-EINVAL);
			}
			if (*p == '\0')
				break;
			tok = 0;
			continue;
		}
		if (natsout_bad_char((unsigned char)*p)) {
			snprintf(err, errlen, "'%s': a subject may not contain "
			    "'*', '>', blanks or control characters", v);
			return (-EINVAL);
		}
		tok++;
	}
	return (0);
}

/* Check a JetStream stream name. */
int
natsout_check_stream(const char *v, char *err, size_t errlen)
{
	const char	*p;

	if (*v == '\0' || strlen(v) > 255) {
		snprintf(err, errlen, "a stream name has 1 to 255 characters");
		return (-EINVAL);
	}
	for (p = v; *p != '\0'; p++)
		if (natsout_bad_char((unsigned char)*p) || *p == '/' ||
		    *p == '\\') {
			snprintf(err, errlen, "'%s': a stream name may not "
			    "contain '.', '*', '>', '/', '\\', blanks or "
			    "control characters", v);
			return (-EINVAL);
		}
	return (0);
}

/*
 * The default host token: the hostname, with every character a subject
 * token cannot hold (the dots of a fully qualified name) made '_'.
 */
void
natsout_default_host(char *out, size_t len)
{
	char	*p;

	if (gethostname(out, len) == -1 || out[0] == '\0')
		snprintf(out, len, "localhost");
	out[len - 1] = '\0';
	for (p = out; *p != '\0'; p++)
		if (natsout_bad_char((unsigned char)*p))
			*p = '_';
}

#ifdef HAVE_NATS

#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/random.h>

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>

#include <event2/event.h>
#include <nats/nats.h>

#include "encode.h"
#include "log.h"

#define NATSOUT_STOP_MS		2000	/* drain at exit, at most */
#define NATSOUT_CONNECT_MS	2000	/* one connection attempt */
#define NATSOUT_BACKOFF_MS	100	/* first reconnection delay */
#define NATSOUT_TRANSIENT_MS	100	/* pause after a transient error */
#define NATSOUT_NORESP_MS	250	/* first pause after no responders */
#define NATSOUT_NORESP_MAX_MS	5000
#define NATSOUT_LIB_CLOSE_MS	3000	/* for libnats' threads to end */
#define NATSOUT_REPORT_MS	1000	/* least time between failure reports */

/* A line (or a lost report) on its way to NATS. */
struct nrec {
	TAILQ_ENTRY(nrec)	 entry;
	uint64_t		 id;		/* seq, or report number */
	bool			 report;	/* a lost message, not a line */
	bool			 notice;	/* a "nats" line */
	unsigned int		 attempts;	/* publications */
	unsigned int		 timeouts;	/* acks that never came */
	natsMsg			*m;		/* while awaiting its ack */
	size_t			 len;		/* of the payload */
	char			*data;		/* the payload, in subject[] */
	char			 subject[];	/* NUL, then the payload */
};
TAILQ_HEAD(nrecs, nrec);

/* Something for the loop to do: log, or report a loss. */
enum nnote_kind { NNOTE_INFO, NNOTE_WARN, NNOTE_REPORT };

struct nnote {
	TAILQ_ENTRY(nnote)	 entry;
	enum nnote_kind		 kind;
	struct natsout_report	 r;
	char			 text[2 * NATSOUT_TEXTLEN];
};
TAILQ_HEAD(nnotes, nnote);

/* Lines not published since the last report. */
struct nloss {
	uint64_t	count;
	uint64_t	first;
	uint64_t	last;
	uint64_t	dropped;
	uint64_t	failed;
	uint64_t	notices;
};

struct natsout {
	/* Set before the publisher starts, then read-only. */
	char			**urls;
	char			 *servers;	/* for the log, redacted */
	char			 *stream;	/* NULL: core NATS */
	char			 *base;		/* prefix.host */
	size_t			  max_inflight;
	int64_t			  ack_wait;
	int64_t			  reconnect_max;
	struct event_base	 *evbase;
	struct event		 *ev;		/* the eventfd, on the loop */
	natsout_report_fn	  report;
	void			 *arg;
	int			  nurls;
	int			  efd;
	unsigned int		  retries;
	char			  runid[17];

	/* The publisher's own. */
	natsOptions		 *nopts;
	natsConnection		 *nc;
	jsCtx			 *js;
	bool			  lib_open;	/* libnats must be closed */

	/* Under mu. */
	pthread_mutex_t		  mu;
	pthread_cond_t		  cond;
	pthread_t		  thread;
	int64_t			  deadline;	/* of the drain at exit */
	int64_t			  pause_until;
	int64_t			  noresp_ms;	/* backoff after no responders */
	struct nrecs		  queue;	/* new lines, in order */
	struct nrecs		  retry;	/* to publish again, by seq */
	struct nrecs		  inflight;	/* awaiting an ack */
	size_t			  hiwat, lowat, hiwat_msgs, lowat_msgs;
	struct nloss		  loss;
	uint64_t		  nreports;
	int64_t			  next_report;	/* of failures alone */
	char			  told_error[NATSOUT_TEXTLEN];
	int64_t			  told_error_at;
	struct natsout_stats	  st;
	struct nnotes		  notes;
	bool			  started;
	bool			  stopping;
	bool			  closed;	/* callbacks do nothing now */
	bool			  off;		/* could not start: no output */
	bool			  lib_stuck;	/* threads did not end */
	bool			  noresp_told;
	bool			  dropping;
};

/* Milliseconds on the monotonic clock. */
static int64_t
natsout_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Copy a URL without its user:password@ or token@ part. */
static void
natsout_redact(const char *url, char *out, size_t len)
{
	const char	*host = url, *p;

	if ((p = strstr(url, "://")) != NULL)
		host = p + 3;
	if ((p = strrchr(host, '@')) != NULL)
		snprintf(out, len, "%.*s%s", (int)(host - url), url, p + 1);
	else
		snprintf(out, len, "%s", url);
}

/* Queue a note for the loop and wake it; called with mu held. */
static void __attribute__((format(printf, 4, 5)))
natsout_note(struct natsout *n, enum nnote_kind kind,
    const struct natsout_report *r, const char *fmt, ...)
{
	struct nnote	*nt;
	va_list		 ap;
	uint64_t	 one = 1;

	if (n->closed || (nt = calloc(1, sizeof *nt)) == NULL)
		return;
	nt->kind = kind;
	if (r != NULL)
		nt->r = *r;
	va_start(ap, fmt);
	vsnprintf(nt->text, sizeof nt->text, fmt, ap);
	va_end(ap);
	TAILQ_INSERT_TAIL(&n->notes, nt, entry);
	if (write(n->efd, &one, sizeof one) == -1) {
		/* The counter is far from full: nothing to do. */
	}
}

/* Remember the last error, for stats. */
static void
natsout_set_error(struct natsout *n, const char *text)
{
	snprintf(n->st.last_error, sizeof n->st.last_error, "%s", text);
}

/* Record a line that was not published; called with mu held. */
static void
natsout_lose(struct natsout *n, uint64_t seq, bool notice, bool failed)
{
	struct nloss	*l = &n->loss;

	if (l->count == 0 || seq < l->first)
		l->first = seq;
	if (l->count == 0 || seq > l->last)
		l->last = seq;
	l->count++;
	if (notice)
		l->notices++;
	if (failed) {
		l->failed++;
		n->st.failed++;
	} else {
		l->dropped++;
		n->st.dropped++;
	}
}

/* Tell whether the pending lines reached a high watermark. */
static bool
natsout_over(const struct natsout *n)
{
	return (n->st.pending_bytes >= n->hiwat ||
	    n->st.pending >= n->hiwat_msgs);
}

/*
 * A record is done with (acknowledged, published or failed): free it and
 * stop dropping once the pending lines fell to both low watermarks.
 * Called with mu held.
 */
static void
natsout_done(struct natsout *n, struct nrec *r)
{
	if (!r->report) {
		n->st.pending--;
		n->st.pending_bytes -= r->len;
		if (n->dropping && n->st.pending_bytes <= n->lowat &&
		    n->st.pending <= n->lowat_msgs)
			n->dropping = false;
	}
	free(r);
	pthread_cond_signal(&n->cond);
}

/* A record failed for good; called with mu held. */
static void
natsout_fail(struct natsout *n, struct nrec *r, const char *why)
{
	natsout_set_error(n, why);
	if (r->report)
		natsout_note(n, NNOTE_WARN, NULL, "nats: a lost message could "
		    "not be published: %s", why);
	else
		natsout_lose(n, r->id, r->notice, true);
	natsout_done(n, r);
}

/* Put a record back to be published again, in seq order; mu held. */
static void
natsout_requeue(struct natsout *n, struct nrec *r)
{
	struct nrec	*p;

	TAILQ_FOREACH_REVERSE(p, &n->retry, nrecs, entry)
		if (p->report || r->report || p->id <= r->id)
			break;
	if (p != NULL)
		TAILQ_INSERT_AFTER(&n->retry, p, r, entry);
	else
		TAILQ_INSERT_HEAD(&n->retry, r, entry);
	pthread_cond_signal(&n->cond);
}

/* Tell whether a status from libnats may go away by trying again. */
static bool
natsout_transient(natsStatus s)
{
	switch (s) {
	case NATS_IO_ERROR:
	case NATS_CONNECTION_CLOSED:
	case NATS_CONNECTION_DISCONNECTED:
	case NATS_NO_SERVER:
	case NATS_STALE_CONNECTION:
	case NATS_INSUFFICIENT_BUFFER:
	case NATS_TIMEOUT:
	case NATS_NOT_YET_CONNECTED:
	case NATS_DRAINING:
		return (true);
	default:
		return (false);
	}
}

/* A publication was refused by libnats itself; mu held. */
static void
natsout_publish_error(struct natsout *n, struct nrec *r, natsStatus s,
    const char *text)
{
	char	why[NATSOUT_TEXTLEN];

	snprintf(why, sizeof why, "%s", text != NULL && *text != '\0' ? text :
	    natsStatus_GetText(s));
	if (natsout_transient(s)) {
		natsout_set_error(n, why);
		n->pause_until = natsout_now() + NATSOUT_TRANSIENT_MS;
		natsout_requeue(n, r);
		return;
	}
	natsout_fail(n, r, why);
}

/*
 * JetStream answered a publication (or libnats gave up waiting): runs on
 * libnats' thread for the acknowledgements.
 */
static void
natsout_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
    void *arg)
{
	struct natsout	*n = arg;
	struct nrec	*r;
	char		 why[NATSOUT_TEXTLEN];

	pthread_mutex_lock(&n->mu);
	TAILQ_FOREACH(r, &n->inflight, entry)
		if (r->m == msg)
			break;
	if (n->closed || r == NULL)
		goto out;
	TAILQ_REMOVE(&n->inflight, r, entry);
	r->m = NULL;
	n->st.in_flight--;
	if (pa != NULL) {
		if (!r->report)
			n->st.acked++;
		if (n->noresp_ms != 0) {
			n->noresp_ms = 0;
			n->noresp_told = false;
		}
		natsout_done(n, r);
		goto out;
	}
	if (pae != NULL && pae->Err == NATS_NO_RESPONDERS) {
		/* No stream listens (yet): wait, without using up retries. */
		n->noresp_ms = n->noresp_ms == 0 ? NATSOUT_NORESP_MS :
		    n->noresp_ms * 2;
		if (n->noresp_ms > NATSOUT_NORESP_MAX_MS)
			n->noresp_ms = NATSOUT_NORESP_MAX_MS;
		n->pause_until = natsout_now() + n->noresp_ms;
		natsout_set_error(n, "no responders: no stream takes the "
		    "subjects");
		if (!n->noresp_told) {
			n->noresp_told = true;
			natsout_note(n, NNOTE_WARN, NULL, "nats: no stream "
			    "answers on %s (no responders); waiting for it",
			    r->subject);
		}
		natsout_requeue(n, r);
		goto out;
	}
	if (pae == NULL || pae->Err == NATS_TIMEOUT ||
	    (pae->ErrCode == 0 && natsout_transient(pae->Err))) {
		if (++r->timeouts <= n->retries) {
			natsout_set_error(n, "acknowledgement timed out");
			natsout_requeue(n, r);
			goto out;
		}
		snprintf(why, sizeof why, "no acknowledgement after %u "
		    "attempts", r->attempts);
		natsout_fail(n, r, why);
		goto out;
	}
	if (pae->ErrCode != 0)
		snprintf(why, sizeof why, "refused by the stream: %s (error "
		    "%d)", pae->ErrText != NULL ? pae->ErrText : "?",
		    (int)pae->ErrCode);
	else
		snprintf(why, sizeof why, "%s", pae->ErrText != NULL ?
		    pae->ErrText : natsStatus_GetText(pae->Err));
	natsout_fail(n, r, why);
out:
	pthread_mutex_unlock(&n->mu);
	natsMsg_Destroy(msg);
}

/*
 * Get the URL of the server the connection uses, redacted; without mu
 * held (it takes the connection's lock).
 */
static void
natsout_server(natsConnection *nc, char *out, size_t len)
{
	char	url[NATSOUT_TEXTLEN];

	if (natsConnection_GetConnectedUrl(nc, url, sizeof url) != NATS_OK)
		url[0] = '\0';
	natsout_redact(url, out, len);
}

/* Connected (reconnected: again) to url; mu held. */
static void
natsout_up(struct natsout *n, const char *url, bool again)
{
	n->st.connected = true;
	n->st.connects++;
	if (again)
		n->st.reconnects++;
	snprintf(n->st.server, sizeof n->st.server, "%s", url);
	natsout_note(n, NNOTE_INFO, NULL, "nats: %sconnected to %s",
	    again ? "re" : "", url);
	pthread_cond_signal(&n->cond);
}

/* libnats: the first connection, made in the background. */
static void
natsout_on_connected(natsConnection *nc, void *arg)
{
	struct natsout	*n = arg;
	char		 url[NATSOUT_TEXTLEN];

	natsout_server(nc, url, sizeof url);
	pthread_mutex_lock(&n->mu);
	natsout_up(n, url, false);
	pthread_mutex_unlock(&n->mu);
}

/* libnats: the connection went away; it reconnects by itself. */
static void
natsout_on_disconnected(natsConnection *nc, void *arg)
{
	struct natsout	*n = arg;

	pthread_mutex_lock(&n->mu);
	if (n->st.connected) {
		n->st.connected = false;
		n->st.disconnects++;
		natsout_note(n, NNOTE_WARN, NULL, "nats: disconnected from "
		    "%s, reconnecting", n->st.server);
	}
	pthread_mutex_unlock(&n->mu);
}

/* libnats: connected again. */
static void
natsout_on_reconnected(natsConnection *nc, void *arg)
{
	struct natsout	*n = arg;
	char		 url[NATSOUT_TEXTLEN];

	natsout_server(nc, url, sizeof url);
	pthread_mutex_lock(&n->mu);
	natsout_up(n, url, true);
	pthread_mutex_unlock(&n->mu);
}

/* libnats: an asynchronous error (a permission violation, say). */
static void
natsout_on_error(natsConnection *nc, natsSubscription *sub, natsStatus s,
    void *arg)
{
	struct natsout	*n = arg;
	const char	*text = NULL;
	char		 why[NATSOUT_TEXTLEN];

	if (natsConnection_GetLastError(nc, &text) == NATS_OK || text == NULL)
		text = natsStatus_GetText(s);
	snprintf(why, sizeof why, "%s", text);
	pthread_mutex_lock(&n->mu);
	natsout_set_error(n, why);
	/* The same error again (one per message, say): once a minute. */
	if (strcmp(why, n->told_error) != 0 ||
	    natsout_now() - n->told_error_at >= 60000) {
		snprintf(n->told_error, sizeof n->told_error, "%s", why);
		n->told_error_at = natsout_now();
		natsout_note(n, NNOTE_WARN, NULL, "nats: %s", why);
	}
	pthread_mutex_unlock(&n->mu);
}

/*
 * libnats: how long to wait before reconnection attempt number attempts
 * (from 1): doubling from 100 ms up to --nats-reconnect-max, +-20%, so
 * that a fleet does not come back all at once.
 */
static int64_t
natsout_backoff(natsConnection *nc, int attempts, void *arg)
{
	struct natsout	*n = arg;
	int64_t		 ms = NATSOUT_BACKOFF_MS;
	int		 i;

	for (i = 1; i < attempts && ms < n->reconnect_max; i++)
		ms *= 2;
	if (ms > n->reconnect_max)
		ms = n->reconnect_max;
	return (ms * (80 + random() % 41) / 100);
}

/*
 * Make the lost report of what is in n->loss, for NATS, and the same
 * report as a note for the loop; mu held.  NULL if out of memory (the
 * note is queued all the same).
 */
static struct nrec *
natsout_make_report(struct natsout *n)
{
	struct natsout_report	 rep;
	struct timespec		 now;
	struct nrec		*r;
	char			 t[ENCODE_TIMELEN], payload[256];
	size_t			 sublen;
	int			 len;

	rep.count = n->loss.count;
	rep.first_seq = n->loss.first;
	rep.last_seq = n->loss.last;
	rep.dropped = n->loss.dropped;
	rep.failed = n->loss.failed;
	rep.notices_only = n->loss.notices == n->loss.count;
	memset(&n->loss, 0, sizeof n->loss);
	n->next_report = natsout_now() + NATSOUT_REPORT_MS;
	natsout_note(n, NNOTE_REPORT, &rep, "%s", n->st.last_error);

	clock_gettime(CLOCK_REALTIME, &now);
	encode_time(t, now.tv_sec, now.tv_nsec / 1000, 6);
	len = snprintf(payload, sizeof payload, "{\"type\":\"lost\","
	    "\"count\":%" PRIu64 ",\"first_seq\":%" PRIu64 ",\"last_seq\":%"
	    PRIu64 ",\"time\":\"%s\"}", rep.count, rep.first_seq,
	    rep.last_seq, t);
	sublen = strlen(n->base) + sizeof ".lost";
	if ((r = calloc(1, sizeof *r + sublen + (size_t)len)) == NULL)
		return (NULL);
	r->id = ++n->nreports;
	r->report = true;
	snprintf(r->subject, sublen, "%s.lost", n->base);
	r->data = r->subject + sublen;
	memcpy(r->data, payload, (size_t)len);
	r->len = (size_t)len;
	return (r);
}

/*
 * Tell when a lost report is due: never while dropping (as for
 * subscribers, it comes once the queue drained); at once for a loss with
 * drops in it, which the drop-and-drain cycle paces; for failures alone,
 * at most once a second, so that a stream refusing everything cannot
 * double the lines and flood the log.  Returns 0 for never, else the
 * time (ms).  mu held.
 */
static int64_t
natsout_report_due(const struct natsout *n)
{
	if (n->dropping || n->loss.count == 0)
		return (0);
	if (n->loss.dropped > 0)
		return (1);
	return (n->next_report > 0 ? n->next_report : 1);
}

/*
 * Take the next record to publish: one to publish again first, then a
 * lost report when one is due, then the oldest new line.  mu held.
 */
static struct nrec *
natsout_pick(struct natsout *n, int64_t now)
{
	struct nrec	*r;
	int64_t		 due;

	if ((r = TAILQ_FIRST(&n->retry)) != NULL) {
		TAILQ_REMOVE(&n->retry, r, entry);
		return (r);
	}
	if ((due = natsout_report_due(n)) != 0 && due <= now &&
	    (r = natsout_make_report(n)) != NULL)
		return (r);
	if ((r = TAILQ_FIRST(&n->queue)) != NULL)
		TAILQ_REMOVE(&n->queue, r, entry);
	return (r);
}

/* Count a publication about to be made; undone by natsout_uncount(). */
static bool
natsout_count(struct natsout *n, struct nrec *r)
{
	bool	first = r->attempts++ == 0;

	if (!first)
		n->st.retries++;
	else if (r->report)
		n->st.lost_reports++;
	else
		n->st.published++;
	return (first);
}

/* Undo natsout_count() for a publication that did not happen. */
static void
natsout_uncount(struct natsout *n, struct nrec *r, bool first)
{
	r->attempts--;
	if (!first)
		n->st.retries--;
	else if (r->report)
		n->st.lost_reports--;
	else
		n->st.published--;
}

/* Publish one record to JetStream; mu held, released meanwhile. */
static void
natsout_publish_js(struct natsout *n, struct nrec *r)
{
	jsPubOptions	 po;
	natsMsg		*m = NULL;
	natsStatus	 s;
	const char	*text = NULL;
	char		 msgid[NATSOUT_TEXTLEN];
	bool		 first;

	snprintf(msgid, sizeof msgid, "%s-%s-%s%" PRIu64, n->base, n->runid,
	    r->report ? "lost-" : "", r->id);
	pthread_mutex_unlock(&n->mu);
	s = natsMsg_Create(&m, r->subject, NULL, r->data, (int)r->len);
	pthread_mutex_lock(&n->mu);
	if (s != NATS_OK) {
		natsout_publish_error(n, r, s, NULL);
		return;
	}
	/* In the list before the call: the ack may come before it returns. */
	r->m = m;
	TAILQ_INSERT_TAIL(&n->inflight, r, entry);
	n->st.in_flight++;
	first = natsout_count(n, r);
	pthread_mutex_unlock(&n->mu);

	jsPubOptions_Init(&po);
	po.MsgId = msgid;
	po.ExpectStream = n->stream;
	po.MaxWait = n->ack_wait;
	s = js_PublishMsgAsync(n->js, &m, &po);
	if (s != NATS_OK)
		text = nats_GetLastError(NULL);

	pthread_mutex_lock(&n->mu);
	if (s == NATS_OK)
		return;		/* r belongs to the ack callback now */
	/* Not published: no callback will see it. */
	TAILQ_REMOVE(&n->inflight, r, entry);
	r->m = NULL;
	n->st.in_flight--;
	natsout_uncount(n, r, first);
	natsMsg_Destroy(m);
	natsout_publish_error(n, r, s, text);
}

/* Publish one record with core NATS; mu held, released meanwhile. */
static void
natsout_publish_core(struct natsout *n, struct nrec *r)
{
	natsStatus	 s;
	const char	*text = NULL;
	bool		 first;

	first = natsout_count(n, r);
	pthread_mutex_unlock(&n->mu);
	s = natsConnection_Publish(n->nc, r->subject, r->data, (int)r->len);
	if (s != NATS_OK)
		text = nats_GetLastError(NULL);
	pthread_mutex_lock(&n->mu);
	if (s == NATS_OK) {
		natsout_done(n, r);
		return;
	}
	natsout_uncount(n, r, first);
	natsout_publish_error(n, r, s, text);
}

/* Tell whether nothing is left to publish or to wait for; mu held. */
static bool
natsout_idle(const struct natsout *n)
{
	return (TAILQ_EMPTY(&n->queue) && TAILQ_EMPTY(&n->retry) &&
	    TAILQ_EMPTY(&n->inflight) && n->loss.count == 0);
}

/* Wait for the condition variable, until at most at (ms); mu held. */
static void
natsout_wait(struct natsout *n, int64_t at)
{
	struct timespec	ts;

	ts.tv_sec = at / 1000;
	ts.tv_nsec = (at % 1000) * 1000000;
	pthread_cond_timedwait(&n->cond, &n->mu, &ts);
}

/* Connect (or start connecting) and make the JetStream context. */
static natsStatus
natsout_connect(struct natsout *n)
{
	jsOptions	jo;
	natsStatus	s;
	char		name[NATSOUT_TEXTLEN], url[NATSOUT_TEXTLEN];

	snprintf(name, sizeof name, "ctstreamd %s", n->base);
	s = natsOptions_Create(&n->nopts);
	if (s == NATS_OK)
		n->lib_open = true;
	if (s == NATS_OK)
		s = natsOptions_SetServers(n->nopts, (const char **)n->urls,
		    n->nurls);
	if (s == NATS_OK)
		s = natsOptions_SetName(n->nopts, name);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(n->nopts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetCustomReconnectDelay(n->nopts,
		    natsout_backoff, n);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(n->nopts, true,
		    natsout_on_connected, n);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(n->nopts,
		    natsout_on_disconnected, n);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(n->nopts,
		    natsout_on_reconnected, n);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(n->nopts, natsout_on_error, n);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(n->nopts, NATSOUT_CONNECT_MS);
	if (s == NATS_OK)
		s = natsOptions_SetWriteDeadline(n->nopts, NATSOUT_CONNECT_MS);
	if (s != NATS_OK)
		return (s);

	s = natsConnection_Connect(&n->nc, n->nopts);
	if (s == NATS_OK)
		natsout_server(n->nc, url, sizeof url);
	pthread_mutex_lock(&n->mu);
	if (s == NATS_OK)
		natsout_up(n, url, false);
	else if (s == NATS_NOT_YET_CONNECTED) {
		natsout_set_error(n, nats_GetLastError(NULL) != NULL ?
		    nats_GetLastError(NULL) : natsStatus_GetText(s));
		natsout_note(n, NNOTE_WARN, NULL, "nats: cannot connect to %s "
		    "yet, retrying in the background", n->servers);
		s = NATS_OK;
	}
	pthread_mutex_unlock(&n->mu);
	if (s != NATS_OK || n->stream == NULL)
		return (s);

	s = jsOptions_Init(&jo);
	jo.PublishAsync.AckHandler = natsout_on_ack;
	jo.PublishAsync.AckHandlerClosure = n;
	/* Our window is the limit: libnats must never make us stall. */
	jo.PublishAsync.MaxPending = (int64_t)n->max_inflight * 2 + 64;
	if (s == NATS_OK)
		s = natsConnection_JetStream(&n->js, n->nc, &jo);
	return (s);
}

/* Close the connection and the library (on the publisher thread). */
static void
natsout_disconnect(struct natsout *n)
{
	if (n->js != NULL)
		jsCtx_Destroy(n->js);
	if (n->nc != NULL) {
		natsConnection_Close(n->nc);
		natsConnection_Destroy(n->nc);
	}
	natsOptions_Destroy(n->nopts);
	n->js = NULL;
	n->nc = NULL;
	n->nopts = NULL;
	if (n->lib_open && nats_CloseAndWait(NATSOUT_LIB_CLOSE_MS) != NATS_OK) {
		pthread_mutex_lock(&n->mu);
		n->lib_stuck = true;
		pthread_mutex_unlock(&n->mu);
	}
}

/* At exit: say what was never confirmed; mu held. */
static void
natsout_leftovers(struct natsout *n)
{
	struct nrecs	*lists[] = { &n->retry, &n->queue, &n->inflight };
	struct nrec	*r;
	uint64_t	 count = 0, first = 0, last = 0;
	size_t		 i;

	for (i = 0; i < sizeof lists / sizeof lists[0]; i++)
		TAILQ_FOREACH(r, lists[i], entry) {
			if (r->report)
				continue;
			if (count == 0 || r->id < first)
				first = r->id;
			if (count == 0 || r->id > last)
				last = r->id;
			count++;
		}
	if (count > 0)
		natsout_note(n, NNOTE_WARN, NULL, "nats: %" PRIu64 " lines "
		    "(seq %" PRIu64 "-%" PRIu64 ") not published or not "
		    "acknowledged at exit", count, first, last);
	if (n->loss.count > 0)
		natsout_note(n, NNOTE_WARN, NULL, "nats: %" PRIu64 " lines "
		    "(seq %" PRIu64 "-%" PRIu64 ") not published and not "
		    "reported yet at exit (%" PRIu64 " dropped at the high "
		    "watermark, %" PRIu64 " failed)", n->loss.count,
		    n->loss.first, n->loss.last, n->loss.dropped,
		    n->loss.failed);
}

/* The publisher thread. */
static void *
natsout_main(void *arg)
{
	struct natsout	*n = arg;
	struct nrec	*r;
	natsStatus	 s;
	int64_t		 now, at, due;
	size_t		 window;

	if ((s = natsout_connect(n)) != NATS_OK) {
		pthread_mutex_lock(&n->mu);
		natsout_set_error(n, nats_GetLastError(NULL) != NULL ?
		    nats_GetLastError(NULL) : natsStatus_GetText(s));
		natsout_note(n, NNOTE_WARN, NULL, "nats: cannot use %s: %s; "
		    "nothing will be published", n->servers,
		    n->st.last_error);
		n->off = true;
		while ((r = TAILQ_FIRST(&n->queue)) != NULL) {
			TAILQ_REMOVE(&n->queue, r, entry);
			natsout_fail(n, r, n->st.last_error);
		}
		n->closed = true;
		pthread_mutex_unlock(&n->mu);
		natsout_disconnect(n);
		return (NULL);
	}

	pthread_mutex_lock(&n->mu);
	for (;;) {
		now = natsout_now();
		if (n->stopping && (natsout_idle(n) || now >= n->deadline))
			break;
		at = now + 1000;
		if (n->stopping && n->deadline < at)
			at = n->deadline;
		/* While no stream answers, probe with one message. */
		window = n->noresp_ms != 0 ? 1 : n->max_inflight;
		if (!n->st.connected ||
		    (n->js != NULL && n->st.in_flight >= window)) {
			natsout_wait(n, at);
			continue;
		}
		if (now < n->pause_until) {
			natsout_wait(n, n->pause_until < at ? n->pause_until :
			    at);
			continue;
		}
		if ((r = natsout_pick(n, now)) == NULL) {
			if ((due = natsout_report_due(n)) != 0 && due < at)
				at = due > now ? due : now + 1;
			natsout_wait(n, at);
			continue;
		}
		if (n->js != NULL)
			natsout_publish_js(n, r);
		else
			natsout_publish_core(n, r);
	}
	natsout_leftovers(n);
	n->closed = true;
	pthread_mutex_unlock(&n->mu);
	natsout_disconnect(n);
	return (NULL);
}

/* The loop: handle what the threads noted. */
static void
natsout_notes_cb(evutil_socket_t fd, short what, void *arg)
{
	struct natsout	*n = arg;
	struct nnotes	 todo;
	struct nnote	*nt;
	uint64_t	 v;
	const char	*why;

	if (read(n->efd, &v, sizeof v) == -1) {
		/* EAGAIN: another wakeup took it. */
	}
	TAILQ_INIT(&todo);
	pthread_mutex_lock(&n->mu);
	TAILQ_CONCAT(&todo, &n->notes, entry);
	pthread_mutex_unlock(&n->mu);
	while ((nt = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, nt, entry);
		switch (nt->kind) {
		case NNOTE_INFO:
			log_info("%s", nt->text);
			break;
		case NNOTE_WARN:
			log_warnx("%s", nt->text);
			break;
		case NNOTE_REPORT:
			why = nt->r.failed > 0 && nt->text[0] != '\0' ?
			    nt->text : NULL;
			log_warnx("nats: %" PRIu64 " lines not published (seq "
			    "%" PRIu64 "-%" PRIu64 "): %" PRIu64 " dropped at "
			    "the high watermark, %" PRIu64 " failed%s%s",
			    nt->r.count, nt->r.first_seq, nt->r.last_seq,
			    nt->r.dropped, nt->r.failed, why != NULL ?
			    ", last error: " : "", why != NULL ? why : "");
			if (n->report != NULL)
				n->report(n->arg, &nt->r);
			break;
		}
		free(nt);
	}
}

/* Tell whether this build can publish to NATS. */
bool
natsout_supported(void)
{
	return (true);
}

/* Split the server list into the array libnats wants. */
static int
natsout_split(struct natsout *n, const char *servers)
{
	char	*copy, *w, *save = NULL, red[NATSOUT_TEXTLEN];
	size_t	 len = 0;
	int	 i;

	if ((copy = strdup(servers)) == NULL)
		return (-ENOMEM);
	for (w = strtok_r(copy, ",", &save); w != NULL;
	    w = strtok_r(NULL, ",", &save))
		n->nurls++;
	free(copy);
	if ((n->urls = calloc(n->nurls, sizeof *n->urls)) == NULL ||
	    (copy = strdup(servers)) == NULL)
		return (-ENOMEM);
	save = NULL;
	i = 0;
	for (w = strtok_r(copy, ",", &save); w != NULL && i < n->nurls;
	    w = strtok_r(NULL, ",", &save), i++) {
		if ((n->urls[i] = strdup(w)) == NULL) {
			free(copy);
			return (-ENOMEM);
		}
		len += strlen(w) + 1;
	}
	free(copy);
	n->nurls = i;		/* the same words: both passes agree */
	if ((n->servers = calloc(1, len + 1)) == NULL)
		return (-ENOMEM);
	for (i = 0; i < n->nurls; i++) {
		natsout_redact(n->urls[i], red, sizeof red);
		if (i > 0)
			strcat(n->servers, ",");
		strncat(n->servers, red, len - strlen(n->servers));
	}
	return (0);
}

/*
 * Start publishing to NATS: the publisher thread starts at once and
 * connects in the background.  report(arg, ...) runs on the loop for
 * every lost report.  Returns 0, or -errno with a message in err.
 */
int
natsout_new(struct natsout **np, struct event_base *base,
    const struct natsout_opts *o, natsout_report_fn report, void *arg,
    char *err, size_t errlen)
{
	struct natsout		*n;
	pthread_condattr_t	 ca;
	sigset_t		 all, old;
	char			 host[NATSOUT_TEXTLEN];
	uint64_t		 rnd;
	int			 error;

	*np = NULL;
	if ((n = calloc(1, sizeof *n)) == NULL)
		goto nomem;
	n->efd = -1;
	TAILQ_INIT(&n->queue);
	TAILQ_INIT(&n->retry);
	TAILQ_INIT(&n->inflight);
	TAILQ_INIT(&n->notes);
	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (o->host != NULL)
		snprintf(host, sizeof host, "%s", o->host);
	else
		natsout_default_host(host, sizeof host);
	if (natsout_split(n, o->servers) != 0 ||
	    asprintf(&n->base, "%s.%s", o->prefix, host) == -1 ||
	    (o->stream != NULL && (n->stream = strdup(o->stream)) == NULL))
		goto nomem;
	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
		rnd = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
	snprintf(n->runid, sizeof n->runid, "%016" PRIx64, rnd);
	srandom((unsigned int)rnd);
	n->max_inflight = o->max_inflight;
	n->ack_wait = (int64_t)o->ack_wait;
	n->retries = (unsigned int)o->retries;
	n->reconnect_max = (int64_t)o->reconnect_max;
	n->hiwat = o->hiwat;
	n->lowat = o->lowat;
	n->hiwat_msgs = o->hiwat_msgs;
	n->lowat_msgs = o->lowat_msgs;
	n->report = report;
	n->arg = arg;
	n->evbase = base;
	n->st.jetstream = n->stream != NULL;
	snprintf(n->st.subject, sizeof n->st.subject, "%s", n->base);
	snprintf(n->st.stream, sizeof n->st.stream, "%s",
	    n->stream != NULL ? n->stream : "");

	if ((n->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		error = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		natsout_free(n);
		return (error);
	}
	n->ev = event_new(base, n->efd, EV_READ | EV_PERSIST,
	    natsout_notes_cb, n);
	if (n->ev == NULL || event_add(n->ev, NULL) == -1)
		goto nomem;

	/* Signals are the loop's: the threads (and libnats') block them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	error = pthread_create(&n->thread, NULL, natsout_main, n);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (error != 0) {
		snprintf(err, errlen, "cannot start a thread: %s",
		    strerror(error));
		natsout_free(n);
		return (-error);
	}
	n->started = true;
	log_info("nats: publishing to %s as %s.* (%s%s)", n->servers, n->base,
	    n->stream != NULL ? "JetStream stream " : "core NATS, no "
	    "acknowledgements", n->stream != NULL ? n->stream : "");
	*np = n;
	return (0);

nomem:
	snprintf(err, errlen, "out of memory");
	natsout_free(n);
	return (-ENOMEM);
}

/*
 * One stream line (with or without its newline) of type and kind (NULL
 * for none) and number seq: queue it, or drop it past a high watermark.
 * Runs on the loop; never waits for NATS.
 */
void
natsout_line(struct natsout *n, const char *type, const char *kind,
    uint64_t seq, const char *line, size_t len)
{
	struct nrec	*r;
	size_t		 sublen;
	uint64_t	 msgs, bytes;
	bool		 notice, started_dropping;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	notice = strcmp(type, "nats") == 0;
	pthread_mutex_lock(&n->mu);
	n->st.lines++;
	if (n->off || n->stopping) {
		n->st.failed++;
		pthread_mutex_unlock(&n->mu);
		return;
	}
	if (n->dropping || natsout_over(n)) {
		started_dropping = !n->dropping;
		n->dropping = true;
		natsout_lose(n, seq, notice, false);
		msgs = n->st.pending;
		bytes = n->st.pending_bytes;
		pthread_mutex_unlock(&n->mu);
		if (started_dropping)
			log_warnx("nats: %" PRIu64 " lines (%" PRIu64 " bytes) "
			    "pending reach the high watermark: dropping lines "
			    "until they fall to the low watermark", msgs,
			    bytes);
		return;
	}
	pthread_mutex_unlock(&n->mu);

	sublen = strlen(n->base) + 1 + strlen(type) +
	    (kind != NULL ? 1 + strlen(kind) : 0) + 1;
	if ((r = calloc(1, sizeof *r + sublen + len)) != NULL) {
		r->id = seq;
		r->notice = notice;
		if (kind != NULL)
			snprintf(r->subject, sublen, "%s.%s.%s", n->base, type,
			    kind);
		else
			snprintf(r->subject, sublen, "%s.%s", n->base, type);
		r->data = r->subject + sublen;
		memcpy(r->data, line, len);
		r->len = len;
	}
	pthread_mutex_lock(&n->mu);
	if (r == NULL)
		natsout_lose(n, seq, notice, false);
	else {
		TAILQ_INSERT_TAIL(&n->queue, r, entry);
		n->st.pending++;
		n->st.pending_bytes += len;
		pthread_cond_signal(&n->cond);
	}
	pthread_mutex_unlock(&n->mu);
}

/* Change the watermarks (a reload). */
void
natsout_set_limits(struct natsout *n, size_t hiwat, size_t lowat,
    size_t hiwat_msgs, size_t lowat_msgs)
{
	pthread_mutex_lock(&n->mu);
	n->hiwat = hiwat;
	n->lowat = lowat < hiwat ? lowat : hiwat;
	n->hiwat_msgs = hiwat_msgs;
	n->lowat_msgs = lowat_msgs < hiwat_msgs ? lowat_msgs : hiwat_msgs;
	if (n->dropping && n->st.pending_bytes <= n->lowat &&
	    n->st.pending <= n->lowat_msgs) {
		n->dropping = false;
		pthread_cond_signal(&n->cond);
	}
	pthread_mutex_unlock(&n->mu);
}

/* Copy the counters. */
void
natsout_stats(struct natsout *n, struct natsout_stats *st)
{
	pthread_mutex_lock(&n->mu);
	*st = n->st;
	pthread_mutex_unlock(&n->mu);
}

/*
 * Stop taking lines and let the publisher drain what is pending, for at
 * most two seconds (natsout_free() waits for it).
 */
void
natsout_stop(struct natsout *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->mu);
	if (!n->stopping) {
		n->stopping = true;
		n->deadline = natsout_now() + NATSOUT_STOP_MS;
	}
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->mu);
}

/* Free a list of records. */
static void
natsout_free_recs(struct nrecs *l)
{
	struct nrec	*r;

	while ((r = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, r, entry);
		free(r);
	}
}

/* Stop (draining first, briefly), log what is left and free; NULL ok. */
void
natsout_free(struct natsout *n)
{
	int	i;

	if (n == NULL)
		return;
	if (n->started) {
		natsout_stop(n);
		pthread_join(n->thread, NULL);
	}
	if (n->ev != NULL) {
		natsout_notes_cb(n->efd, EV_READ, n);
		event_free(n->ev);
	}
	if (n->lib_stuck) {
		/* A libnats thread may still call back into n: keep it. */
		log_warnx("nats: the library did not stop in time");
		return;
	}
	if (n->efd != -1)
		close(n->efd);
	natsout_free_recs(&n->queue);
	natsout_free_recs(&n->retry);
	natsout_free_recs(&n->inflight);
	for (i = 0; i < n->nurls; i++)
		free(n->urls[i]);
	free(n->urls);
	free(n->servers);
	free(n->stream);
	free(n->base);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->mu);
	free(n);
}

#else /* !HAVE_NATS */

bool
natsout_supported(void)
{
	return (false);
}

int
natsout_new(struct natsout **np, struct event_base *base,
    const struct natsout_opts *o, natsout_report_fn report, void *arg,
    char *err, size_t errlen)
{
	*np = NULL;
	snprintf(err, errlen, "built without NATS support");
	return (-ENOTSUP);
}

void
natsout_line(struct natsout *n, const char *type, const char *kind,
    uint64_t seq, const char *line, size_t len)
{
}

void
natsout_set_limits(struct natsout *n, size_t hiwat, size_t lowat,
    size_t hiwat_msgs, size_t lowat_msgs)
{
}

void
natsout_stats(struct natsout *n, struct natsout_stats *st)
{
	memset(st, 0, sizeof *st);
}

void
natsout_stop(struct natsout *n)
{
}

void
natsout_free(struct natsout *n)
{
}

#endif
