/*
 * metrics-http.c - /metrics over HTTP (--metrics-listen), with libevent's
 * evhttp, in the daemon's loop.
 *
 *   GET /metrics, HEAD /metrics  200, text/plain; version=0.0.4
 *   another path                 404
 *   another method               405 (Allow: GET, HEAD)
 *
 * A scrape collects the stats answer as the stats command does
 * (cmdq_stats_start(), the kernel's part asked asynchronously in every
 * monitored namespace) and renders it with metrics.c.  A namespace whose
 * kernel does not answer within METRICS_HTTP_WAIT_SECS is given up on:
 * the daemon's metrics are served, with ctstreamd_kernel_stats_up 0.
 *
 * A client must not be able to hurt the daemon: at most
 * METRICS_HTTP_CONNS connections at once (further ones wait in the
 * kernel's backlog, the listener paused, since every connection costs a
 * descriptor), requests of at most METRICS_HTTP_HEADERS bytes of headers
 * and no body, and evhttp's timeout on every read and write of a
 * connection.  When descriptors run out, accepting stops for a second.
 *
 * libevent 2.1 cannot limit evhttp's connections itself, nor tell when one
 * begins; it does make the bufferevent of each new connection through
 * evhttp_set_bevcb(), and calls a connection's close callback when it
 * frees it.  So a connection is counted when its bufferevent is made, and
 * right after (in the same pass of the loop, before the connection can
 * have read anything) its close callback is set on the connection found
 * as the bufferevent's callback argument.  Until then the daemon holds a
 * reference on the bufferevent, so one that evhttp freed meanwhile (only
 * when memory runs out) is recognised by its cleared callbacks, and its
 * descriptor is closed only when that reference goes.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "buf.h"
#include "cmdq.h"
#include "ctx.h"
#include "log.h"
#include "metrics.h"
#include "metrics-http.h"

#define METRICS_HTTP_CONNS	16	/* connections at once */
#define METRICS_HTTP_TIMEOUT	10	/* seconds, each read and write */
#define METRICS_HTTP_HEADERS	8192	/* bytes of request headers */
#define METRICS_HTTP_WAIT_SECS	5	/* for the kernel's statistics */
#define METRICS_HTTP_BACKOFF	1	/* seconds without accepting */

struct metrics_scrape {
	TAILQ_ENTRY(metrics_scrape)	 entry;
	struct metrics_http		*mh;
	struct evhttp_request		*req;
	struct cmdq_stats		*stats;
	struct event			*timer;
};

TAILQ_HEAD(metrics_scrapes, metrics_scrape);

struct metrics_http {
	struct ctx		*ctx;
	struct evhttp		*http;
	struct evconnlistener	*lev;		/* NULL once closing */
	struct event		*backoff;
	struct event		*adopt;
	bool			 backing_off;
	bool			 warned;	/* about running out of fds */
	unsigned int		 conns;
	struct bufferevent	*fresh[METRICS_HTTP_CONNS];
	unsigned int		 nfresh;	/* made, close callback unset */
	struct metrics_scrapes	 scrapes;
	char			 addr[INET6_ADDRSTRLEN + 16];
};

static void	metrics_http_done(void *, json_t *, json_t *);
static const struct cmdq_stats_ops metrics_http_ops = { NULL,
    metrics_http_done };

/* Accept while there is room for a connection and descriptors remain. */
static void
metrics_http_listen(struct metrics_http *mh)
{
	if (mh->lev == NULL)
		return;
	if (mh->conns < METRICS_HTTP_CONNS && !mh->backing_off)
		evconnlistener_enable(mh->lev);
	else
		evconnlistener_disable(mh->lev);
}

/* A connection is closed. */
static void
metrics_http_closed(struct evhttp_connection *evcon, void *arg)
{
	struct metrics_http	*mh = arg;

	mh->conns--;
	metrics_http_listen(mh);
}

/*
 * Right after new connections were made: have each tell when it closes,
 * and let go of its bufferevent.
 */
static void
metrics_http_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_http	*mh = arg;
	struct bufferevent	*bev;
	bufferevent_event_cb	 eventcb;
	void			*evcon;
	unsigned int		 i;

	for (i = 0; i < mh->nfresh; i++) {
		bev = mh->fresh[i];
		bufferevent_getcb(bev, NULL, NULL, &eventcb, &evcon);
		if (eventcb == NULL || evcon == NULL)
			mh->conns--;	/* evhttp gave up on it already */
		else
			evhttp_connection_set_closecb(evcon,
			    metrics_http_closed, mh);
		bufferevent_decref(bev);
	}
	mh->nfresh = 0;
	metrics_http_listen(mh);
}

/* evhttp's bufferevent for a new connection: count the connection. */
static struct bufferevent *
metrics_http_bev(struct event_base *base, void *arg)
{
	struct metrics_http	*mh = arg;
	struct bufferevent	*bev;

	/* The listener stops at METRICS_HTTP_CONNS: there is room. */
	if (mh->nfresh == METRICS_HTTP_CONNS)
		return (NULL);
	if ((bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		return (NULL);		/* evhttp makes one, uncounted */
	bufferevent_incref(bev);
	mh->fresh[mh->nfresh++] = bev;
	mh->conns++;
	metrics_http_listen(mh);
	event_active(mh->adopt, EV_TIMEOUT, 0);
	return (bev);
}

/* Timer: accept again after running out of descriptors. */
static void
metrics_http_resume(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_http	*mh = arg;

	mh->backing_off = false;
	metrics_http_listen(mh);
}

/* accept(2) failed: out of descriptors or memory, stop for a while. */
static void
metrics_http_accept_error(struct evconnlistener *lev, void *arg)
{
	struct metrics_http	*mh = arg;
	struct timeval		 tv = { METRICS_HTTP_BACKOFF, 0 };
	int			 error = EVUTIL_SOCKET_ERROR();

	if (error != EMFILE && error != ENFILE && error != ENOBUFS &&
	    error != ENOMEM) {
		errno = error;
		log_warn("metrics: accept");
		return;
	}
	if (!mh->warned) {
		errno = error;
		log_warn("metrics: accept, pausing");
		mh->warned = true;
	}
	mh->backing_off = true;
	metrics_http_listen(mh);
	evtimer_add(mh->backoff, &tv);
}

/* Answer with a short text; HEAD gets the headers only. */
static void
metrics_http_reply(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, const char *text, size_t len)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*out = evhttp_request_get_output_buffer(req);
	char			 n[32];

	evhttp_add_header(h, "Content-Type", ctype);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(n, sizeof n, "%zu", len);
		evhttp_add_header(h, "Content-Length", n);
	} else
		evbuffer_add(out, text, len);
	evhttp_send_reply(req, code, reason, NULL);
}

/* Forget a scrape. */
static void
metrics_http_scrape_free(struct metrics_scrape *sc)
{
	TAILQ_REMOVE(&sc->mh->scrapes, sc, entry);
	event_free(sc->timer);
	free(sc);
}

/* The stats answer is complete: serve it. */
static void
metrics_http_done(void *arg, json_t *daemon, json_t *kernel)
{
	static const char	 oom[] = "out of memory\n";
	struct metrics_scrape	*sc = arg;
	struct buf		 b = { 0 };

	sc->stats = NULL;
	if (cmdq_stats_text(sc->mh->ctx, daemon, kernel, &b) != 0) {
		log_warnx("metrics: out of memory");
		metrics_http_reply(sc->req, 500, "Internal Server Error",
		    "text/plain; charset=utf-8", oom, sizeof oom - 1);
	} else
		metrics_http_reply(sc->req, 200, "OK", METRICS_CONTENT_TYPE,
		    b.data, b.len);
	buf_free(&b);
	json_decref(daemon);
	json_decref(kernel);
	metrics_http_scrape_free(sc);
}

/* The kernel took too long: answer with what there is. */
static void
metrics_http_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_scrape	*sc = arg;

	log_warnx("metrics: no kernel statistics within %d seconds",
	    METRICS_HTTP_WAIT_SECS);
	cmdq_stats_finish(sc->stats, -ETIMEDOUT);
}

/* GET or HEAD /metrics: collect the stats answer. */
static void
metrics_http_scrape(struct metrics_http *mh, struct evhttp_request *req)
{
	static const char	 oom[] = "out of memory\n";
	struct metrics_scrape	*sc;
	struct timeval		 tv = { METRICS_HTTP_WAIT_SECS, 0 };

	if ((sc = calloc(1, sizeof *sc)) == NULL ||
	    (sc->timer = evtimer_new(mh->ctx->base, metrics_http_timeout,
	    sc)) == NULL) {
		free(sc);
		metrics_http_reply(req, 500, "Internal Server Error",
		    "text/plain; charset=utf-8", oom, sizeof oom - 1);
		return;
	}
	sc->mh = mh;
	sc->req = req;
	TAILQ_INSERT_TAIL(&mh->scrapes, sc, entry);
	evtimer_add(sc->timer, &tv);
	if (cmdq_stats_start(mh->ctx, NULL, &metrics_http_ops, sc,
	    &sc->stats) != 0) {
		metrics_http_scrape_free(sc);
		metrics_http_reply(req, 500, "Internal Server Error",
		    "text/plain; charset=utf-8", oom, sizeof oom - 1);
	}
}

/* Every request: /metrics, GET and HEAD only. */
static void
metrics_http_request(struct evhttp_request *req, void *arg)
{
	static const char	 notfound[] = "not found: see /metrics\n";
	static const char	 method[] = "method not allowed: GET or HEAD\n";
	struct metrics_http	*mh = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri != NULL ?
				    evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		metrics_http_reply(req, 404, "Not Found",
		    "text/plain; charset=utf-8", notfound,
		    sizeof notfound - 1);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		metrics_http_reply(req, 405, "Method Not Allowed",
		    "text/plain; charset=utf-8", method, sizeof method - 1);
		return;
	}
	metrics_http_scrape(mh, req);
}

/* Make the listening socket, bound and listening.  Returns it, or -1. */
static int
metrics_http_socket(const struct sockaddr_storage *ss, socklen_t len)
{
	int	fd, one = 1, saved;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return (-1);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    (ss->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof one) == -1) ||
	    bind(fd, (const struct sockaddr *)ss, len) == -1 ||
	    listen(fd, METRICS_HTTP_CONNS) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/*
 * Listen for HTTP at spec (see metrics_listen_parse()): run before the
 * privileges go, so that any port can be bound.  Returns 0, or -errno
 * with a message in err.
 */
int
metrics_http_new(struct metrics_http **mhp, struct ctx *ctx,
    const char *spec, char *err, size_t errlen)
{
	struct sockaddr_storage	 ss;
	struct metrics_http	*mh;
	char			 host[INET6_ADDRSTRLEN];
	socklen_t		 len;
	int			 fd, error;
	uint16_t		 port;

	if ((error = metrics_listen_parse(spec, &ss, &len, err,
	    errlen)) != 0)
		return (error);
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    host, sizeof host);
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    host, sizeof host);
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	if ((mh = calloc(1, sizeof *mh)) == NULL)
		return (-ENOMEM);
	mh->ctx = ctx;
	TAILQ_INIT(&mh->scrapes);
	snprintf(mh->addr, sizeof mh->addr, ss.ss_family == AF_INET6 ?
	    "[%s]:%u" : "%s:%u", host, port);
	if ((fd = metrics_http_socket(&ss, len)) == -1) {
		error = -errno;
		snprintf(err, errlen, "%s: %s", mh->addr, strerror(errno));
		free(mh);
		return (error);
	}
	mh->lev = evconnlistener_new(ctx->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (mh->lev == NULL) {
		close(fd);
		free(mh);
		snprintf(err, errlen, "out of memory");
		return (-ENOMEM);
	}
	if ((mh->http = evhttp_new(ctx->base)) == NULL ||
	    (mh->backoff = evtimer_new(ctx->base, metrics_http_resume,
	    mh)) == NULL ||
	    (mh->adopt = event_new(ctx->base, -1, 0, metrics_http_adopt,
	    mh)) == NULL ||
	    evhttp_bind_listener(mh->http, mh->lev) == NULL) {
		if (mh->http != NULL)
			evhttp_free(mh->http);
		evconnlistener_free(mh->lev);
		event_free(mh->backoff);
		event_free(mh->adopt);
		free(mh);
		snprintf(err, errlen, "out of memory");
		return (-ENOMEM);
	}
	evconnlistener_set_error_cb(mh->lev, metrics_http_accept_error);
	evhttp_set_timeout(mh->http, METRICS_HTTP_TIMEOUT);
	evhttp_set_max_headers_size(mh->http, METRICS_HTTP_HEADERS);
	evhttp_set_max_body_size(mh->http, 0);
	/* Every method reaches the handler, which answers 405. */
	evhttp_set_allowed_methods(mh->http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_bevcb(mh->http, metrics_http_bev, mh);
	evhttp_set_gencb(mh->http, metrics_http_request, mh);
	*mhp = mh;
	return (0);
}

/* The address listened on, as ADDR:PORT or [ADDR]:PORT. */
const char *
metrics_http_address(const struct metrics_http *mh)
{
	return (mh->addr);
}

/*
 * Stop serving (before the namespaces go, since scrapes may wait for
 * them); NULL is fine.
 */
void
metrics_http_free(struct metrics_http *mh)
{
	struct metrics_scrape	*sc;
	unsigned int		 i;

	if (mh == NULL)
		return;
	while ((sc = TAILQ_FIRST(&mh->scrapes)) != NULL) {
		cmdq_stats_free(sc->stats, true);
		metrics_http_scrape_free(sc);
	}
	mh->lev = NULL;			/* evhttp_free() frees it */
	evhttp_free(mh->http);		/* and every connection */
	for (i = 0; i < mh->nfresh; i++)
		bufferevent_decref(mh->fresh[i]);
	event_free(mh->backoff);
	event_free(mh->adopt);
	free(mh);
}
