/*
 * client.c - one connection on a Unix socket.
 *
 * A client is a fan-out subscriber (its output queue, watermarks and loss
 * reports are fanout.c's) plus a command reader: input is split into
 * lines of at most max_line bytes, each handed to cmd.c; at the end of
 * input, what follows the last newline is a last line.  An overlong
 * line gets a too_large error and the connection is closed.  At most
 * CLIENT_BUDGET commands run per wakeup; while the client's output is
 * over its high watermark, or while one of its commands streams a long
 * answer (a snapshot, a dump), no further command is read, so a client
 * cannot make the daemon buffer without bound by writing and not reading.
 *
 * Clients are freed through a deferred event, never inside a callback
 * that may still touch them.  End of input on the events socket only
 * means "no more commands": events keep flowing until the peer closes
 * the connection or a write fails.  On the control socket the client is
 * closed once its answers are written.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "cmd.h"
#include "compat.h"
#include "ctx.h"
#include "fanout.h"
#include "jw.h"
#include "log.h"
#include "query.h"
#include "server.h"

#define CLIENT_BUDGET	64		/* commands per wakeup */
#define CLIENT_READ	(16 * 1024)

struct client {
	TAILQ_ENTRY(client)	 entry;
	struct server		*srv;
	struct ctx		*ctx;
	enum listener_kind	 kind;
	unsigned int		 id;
	int			 fd;
	struct ucred		 cred;
	struct sub		*sub;
	struct evbuffer		*in;
	struct event		*rev;
	struct event		*closeev;
	struct event		*lingerev;	/* gives up on last words */
	struct event		*hupev;		/* a shut subscriber's close */
	size_t			 max_line;
	char			*line;
	bool			 reading;	/* rev is added */
	bool			 eof;
	bool			 shut;		/* the peer ended its input */
	bool			 closing;
	struct qjob		*job;
	void			*cmdstate;
	void			(*cmdstate_free)(void *);
};

TAILQ_HEAD(clients, client);

static struct clients	clients = TAILQ_HEAD_INITIALIZER(clients);
static unsigned int	client_next_id;

static void	client_read(evutil_socket_t, short, void *);
static void	client_resume(struct sub *, void *);
static void	client_close_if_done(struct client *);

#define CLIENT_LINGER_MS	2000	/* for a slow client's last line */
#define CLIENT_HUP_CHECK_MS	1000	/* a shut subscriber's close, seen */

/* Deferred: free a closed client. */
static void
client_reap(evutil_socket_t fd, short what, void *arg)
{
	client_free(arg);
}

/* Everything queued for the client is written. */
static void
client_emptied(struct sub *s, void *arg)
{
	struct client	*c = arg;

	if (c->lingerev != NULL && evtimer_pending(c->lingerev, NULL))
		client_close(c);	/* its last words are out */
	else
		client_close_if_done(c);
}

/* A slow client did not take its last words in time. */
static void
client_linger_end(evutil_socket_t fd, short what, void *arg)
{
	client_close(arg);
}

/*
 * The fan-out could not write to the client, or it is too slow.  A slow
 * one is told so: it gets the rest of the line it has begun, then the
 * too_slow line, for a little while, then the connection is closed.
 */
static void
client_sub_fail(struct sub *s, int error, void *arg)
{
	static const char	 bye[] = "{\"type\":\"error\",\"error\":"
				    "{\"code\":\"too_slow\",\"message\":\"over the "
				    "high watermark, disconnected\"}}\n";
	struct client		*c = arg;
	struct timeval		 tv = { CLIENT_LINGER_MS / 1000,
				    (CLIENT_LINGER_MS % 1000) * 1000 };

	if (error != SUB_FAIL_SLOW) {
		if (error != -EPIPE && error != -ECONNRESET)
			log_debug("client %u: write: %s", c->id,
			    strerror(-error));
		client_close(c);
		return;
	}
	log_info("client %u: too slow, disconnected", c->id);
	if (c->closing || fanout_sub_last_words(s, bye, sizeof bye - 1) != 0 ||
	    (c->lingerev = evtimer_new(c->ctx->base, client_linger_end,
	    c)) == NULL) {
		client_close(c);
		return;
	}
	if (c->reading) {
		event_del(c->rev);
		c->reading = false;
	}
	c->eof = true;			/* nothing more is read from it */
	if (fanout_sub_want_empty(s, client_emptied))
		client_close(c);
	else
		evtimer_add(c->lingerev, &tv);
}

/*
 * Make a client for an accepted connection.  On the events socket it
 * receives every event at once; on the control socket only answers.
 */
struct client *
client_new(struct server *srv, struct ctx *ctx, int fd,
    enum listener_kind kind, size_t max_line)
{
	struct client	*c;
	socklen_t	 len;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return (NULL);
	c->srv = srv;
	c->ctx = ctx;
	c->kind = kind;
	c->fd = fd;
	c->id = ++client_next_id;
	c->max_line = max_line;
	len = sizeof c->cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) == -1) {
		c->cred.pid = 0;
		c->cred.uid = (uid_t)-1;
		c->cred.gid = (gid_t)-1;
	}
	c->line = malloc(max_line + 1);
	c->in = evbuffer_new();
	c->rev = event_new(ctx->base, fd, EV_READ | EV_PERSIST, client_read,
	    c);
	c->closeev = event_new(ctx->base, -1, 0, client_reap, c);
	c->sub = fanout_sub_new(ctx->fo, fd, &ctx->subopts, client_sub_fail,
	    c);
	if (c->line == NULL || c->in == NULL || c->rev == NULL ||
	    c->closeev == NULL || c->sub == NULL ||
	    event_add(c->rev, NULL) == -1) {
		fanout_sub_free(c->sub);
		if (c->rev != NULL)
			event_free(c->rev);
		if (c->closeev != NULL)
			event_free(c->closeev);
		if (c->in != NULL)
			evbuffer_free(c->in);
		free(c->line);
		free(c);
		return (NULL);
	}
	c->reading = true;
	if (kind == LISTENER_CONTROL)
		fanout_sub_set_active(c->sub, false);
	else
		fanout_sub_set_match(c->sub, ctx->types, ctx->kinds);
	TAILQ_INSERT_TAIL(&clients, c, entry);
	log_debug("client %u: connected (%s socket, pid %ld, uid %ld)",
	    c->id, kind == LISTENER_EVENTS ? "events" : "control",
	    (long)c->cred.pid, (long)c->cred.uid);
	return (c);
}

/* Free a client now; only from a context that will not touch it again. */
void
client_free(struct client *c)
{
	if (c == NULL)
		return;
	log_debug("client %u: closed", c->id);
	TAILQ_REMOVE(&clients, c, entry);
	if (c->job != NULL)
		query_job_cancel(c->job);
	if (c->cmdstate_free != NULL)
		c->cmdstate_free(c->cmdstate);
	fanout_sub_free(c->sub);
	event_free(c->rev);
	event_free(c->closeev);
	if (c->lingerev != NULL)
		event_free(c->lingerev);
	if (c->hupev != NULL)
		event_free(c->hupev);
	evbuffer_free(c->in);
	free(c->line);
	close(c->fd);
	server_client_gone(c->srv);
	free(c);
}

/* Free every client (at exit). */
void
client_free_all(void)
{
	struct client	*c;

	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_free(c);
}

/* Call fn for every client. */
void
client_foreach(void (*fn)(struct client *, void *), void *arg)
{
	struct client	*c, *next;

	TAILQ_FOREACH_SAFE(c, &clients, entry, next)
		fn(c, arg);
}

/* Write what every client will take now without blocking (at exit). */
void
client_drain_all(void)
{
	struct client	*c;

	TAILQ_FOREACH(c, &clients, entry)
		fanout_sub_drain(c->sub);
}

/* Close a client: stop everything now, free it from the loop. */
void
client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->reading) {
		event_del(c->rev);
		c->reading = false;
	}
	fanout_sub_set_active(c->sub, false);
	event_active(c->closeev, EV_TIMEOUT, 0);
}

/*
 * A control client that said all it had to say goes once answered: when
 * no job runs, no command waits (paused at the high watermark, say; once
 * the peer ended its input every byte left is one, the last without its
 * newline) and everything is written.
 */
static void
client_close_if_done(struct client *c)
{
	if (c->closing || c->job != NULL)
		return;
	if (c->shut ? evbuffer_get_length(c->in) > 0 :
	    evbuffer_search_eol(c->in, NULL, NULL, EVBUFFER_EOL_LF).pos != -1)
		return;
	if (fanout_sub_want_empty(c->sub, client_emptied))
		client_close(c);
}

/* Stop reading commands until the client's output drains. */
static void
client_pause_reading(struct client *c)
{
	if (c->reading) {
		event_del(c->rev);
		c->reading = false;
	}
	fanout_sub_want_drain(c->sub, client_resume);
}

/* The client's output drained, or its job ended: go on. */
static void
client_resume(struct sub *s, void *arg)
{
	struct client	*c = arg;

	if (c->closing)
		return;
	if (c->job != NULL) {
		query_job_pause(c->job, false);
		return;
	}
	if (!c->reading && !c->eof) {
		event_add(c->rev, NULL);
		c->reading = true;
	}
	/* Commands may wait in the input buffer: run them. */
	event_active(c->rev, EV_READ, 0);
}

/* Handle up to CLIENT_BUDGET complete lines of input. */
static void
client_commands(struct client *c)
{
	struct evbuffer_ptr	 eol;
	size_t			 eollen, left;
	int			 n, r;

	for (n = 0; n < CLIENT_BUDGET; n++) {
		if (c->closing || c->job != NULL)
			return;
		if (fanout_sub_over(c->sub)) {
			client_pause_reading(c);
			return;
		}
		eol = evbuffer_search_eol(c->in, NULL, &eollen,
		    EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			if ((left = evbuffer_get_length(c->in)) > c->max_line)
				goto too_large;
			/* At the end of input, what is left is a last line. */
			if (!c->shut || left == 0)
				return;
			eol.pos = left;
			eollen = 0;
		}
		if ((size_t)eol.pos > c->max_line)
			goto too_large;
		evbuffer_remove(c->in, c->line, eol.pos);
		evbuffer_drain(c->in, eollen);
		c->line[eol.pos] = '\0';
		r = cmd_dispatch(c, c->line, eol.pos);
		if (r < 0) {
			client_close(c);
			return;
		}
	}
	/* Budget spent: come back after the other events had their turn. */
	event_active(c->rev, EV_READ, 0);
	return;

too_large:
	client_reply_error(c, NULL, "too_large", "command line longer than "
	    "%zu bytes, closing", c->max_line);
	fanout_sub_drain(c->sub);
	client_close(c);
}

/* Tell whether the peer closed the connection (not only its side). */
static bool
client_hung_up(int fd)
{
	struct pollfd	pfd = { fd, POLLOUT, 0 };

	return (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR)));
}

/*
 * A subscriber that ended its input is no longer watched for reading (its
 * socket stays readable at end of file), so nothing would tell when it
 * closes the connection until a line is written to it, maybe never with a
 * narrow filter.  Look every CLIENT_HUP_CHECK_MS instead.
 */
static void
client_hup_check(evutil_socket_t fd, short what, void *arg)
{
	struct client	*c = arg;

	if (client_hung_up(c->fd))
		client_close(c);
}

static void
client_watch_hangup(struct client *c)
{
	struct timeval	tv = { CLIENT_HUP_CHECK_MS / 1000,
			    (CLIENT_HUP_CHECK_MS % 1000) * 1000 };

	if (c->hupev == NULL && (c->hupev = event_new(c->ctx->base, -1,
	    EV_PERSIST, client_hup_check, c)) != NULL)
		event_add(c->hupev, &tv);
}

/*
 * Whether the client's input holds all it may for now: while a job
 * answers it (a dump, a snapshot) no request is read at all, and
 * otherwise no more than a line's worth is kept, so a client that writes
 * faster than its requests are answered waits in its socket buffer
 * instead of in the daemon's memory.
 */
static bool
client_input_full(struct client *c)
{
	return (c->job != NULL || evbuffer_get_length(c->in) > c->max_line);
}

/* The socket is readable (or there are commands left to run). */
static void
client_read(evutil_socket_t fd, short what, void *arg)
{
	struct client	*c = arg;
	int		 n = 0;

	/*
	 * libevent does not register an event that is active when it is
	 * added: an add after the budget's event_active(), or client_resume()'s
	 * while the event waited to run, left c->reading set and the socket
	 * unwatched.  Here, in its own callback, the event is not active.
	 */
	if (c->reading && event_pending(c->rev, EV_READ, NULL) == 0)
		event_add(c->rev, NULL);
	if (c->reading && client_input_full(c)) {
		event_del(c->rev);
		c->reading = false;
	}
	if (c->reading && !c->eof) {
		n = evbuffer_read(c->in, fd, CLIENT_READ);
		if (n == 0 || (n == -1 && errno != EAGAIN &&
		    errno != EINTR)) {
			c->eof = true;
			c->shut = n == 0;
			event_del(c->rev);
			c->reading = false;
			/*
			 * A subscriber that only shut its sending side keeps
			 * its events; one that closed the connection is gone
			 * now, not at the next event it would not read.
			 */
			if (c->kind == LISTENER_EVENTS) {
				if (client_hung_up(fd)) {
					client_close(c);
					return;
				}
				client_watch_hangup(c);
			}
		}
	}
	client_commands(c);
	if (c->closing)
		return;
	/* Room again, nothing waits for the output to drain: read on. */
	if (!c->eof && !c->reading && !client_input_full(c) &&
	    !fanout_sub_over(c->sub) && event_add(c->rev, NULL) == 0)
		c->reading = true;
	if (!c->eof)
		return;
	if (c->kind == LISTENER_CONTROL)
		client_close_if_done(c);
}

/* Return a client's fan-out subscriber. */
struct sub *
client_sub(struct client *c)
{
	return (c->sub);
}

/* Return the daemon context. */
struct ctx *
client_ctx(struct client *c)
{
	return (c->ctx);
}

/* Return which socket the client came in on. */
enum listener_kind
client_kind(const struct client *c)
{
	return (c->kind);
}

/* Return the client's number, for logs. */
unsigned int
client_id(const struct client *c)
{
	return (c->id);
}

/* Return the peer's credentials (SO_PEERCRED). */
void
client_peer(const struct client *c, pid_t *pid, uid_t *uid, gid_t *gid)
{
	if (pid != NULL)
		*pid = c->cred.pid;
	if (uid != NULL)
		*uid = c->cred.uid;
	if (gid != NULL)
		*gid = c->cred.gid;
}

/* Serialize v (a reference is consumed) as one line to the client. */
int
client_send_json(struct client *c, json_t *v)
{
	char	*s;
	size_t	 n;
	int	 error;

	if (v == NULL)
		return (-ENOMEM);
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(v);
	if (s == NULL)
		return (-ENOMEM);
	n = strlen(s);
	s[n] = '\n';		/* json_dumps leaves room: replace the NUL */
	error = fanout_sub_send(c->sub, s, n + 1);
	free(s);
	return (error);
}

/* Start a reply object, echoing the request's id if it had one. */
static json_t *
client_reply_new(const json_t *id, bool ok)
{
	json_t	*r;

	r = json_pack("{s:s}", "type", "reply");
	if (r == NULL)
		return (NULL);
	if (id != NULL)
		json_object_set(r, "id", (json_t *)id);
	json_object_set_new(r, "ok", json_boolean(ok));
	return (r);
}

/* Send a success reply; result (consumed) may be NULL. */
void
client_reply_ok(struct client *c, const json_t *id, json_t *result)
{
	json_t	*r;

	if ((r = client_reply_new(id, true)) != NULL && result != NULL)
		json_object_set(r, "result", result);
	json_decref(result);
	client_send_json(c, r);
}

/*
 * Send a success reply whose result is already-encoded JSON (an event
 * object, without its newline): it is spliced in, not parsed again.
 */
void
client_reply_raw(struct client *c, const json_t *id, const char *result,
    size_t len)
{
	struct evbuffer	*b;
	char		*ids = NULL;
	size_t		 n;

	if (id != NULL && (ids = json_dumps(id, JSON_ENCODE_ANY)) == NULL)
		return;
	if ((b = evbuffer_new()) == NULL) {
		free(ids);
		return;
	}
	evbuffer_add_printf(b, "{\"type\":\"reply\"%s%s,\"ok\":true,"
	    "\"result\":", ids ? ",\"id\":" : "", ids ? ids : "");
	evbuffer_add(b, result, len);
	evbuffer_add(b, "}\n", 2);
	n = evbuffer_get_length(b);
	fanout_sub_send(c->sub, (const char *)evbuffer_pullup(b, -1), n);
	evbuffer_free(b);
	free(ids);
}

/*
 * Tell whether the peer may change the table: root, or a member (primary
 * or supplementary) of the admin group.
 */
bool
client_privileged(const struct client *c)
{
	gid_t		groups[256];
	socklen_t	len = sizeof groups;
	size_t		i;

	if (c->cred.uid == 0)
		return (true);
	if (!c->ctx->has_admin_gid)
		return (false);
	if (c->cred.gid == c->ctx->admin_gid)
		return (true);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1)
		return (false);
	for (i = 0; i < len / sizeof groups[0]; i++)
		if (groups[i] == c->ctx->admin_gid)
			return (true);
	return (false);
}

/* Send an error reply with a stable code and a message. */
void
client_reply_error(struct client *c, const json_t *id, const char *code,
    const char *fmt, ...)
{
	char	 msg[512], *fixed;
	size_t	 len;
	va_list	 ap;
	json_t	*r;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/*
	 * The message may quote what the client sent, cut to a length that
	 * can fall inside a character: repaired, or jansson would refuse it
	 * and the reply would go without its error.
	 */
	if ((fixed = jw_repair(msg, strlen(msg), &len)) == NULL) {
		client_send_json(c, NULL);
		return;
	}
	if ((r = client_reply_new(id, false)) != NULL)
		json_object_set_new(r, "error", json_pack("{s:s,s:s%}",
		    "code", code, "message", fixed, len));
	free(fixed);
	client_send_json(c, r);
}

/* Record the job streaming an answer to this client. */
void
client_set_job(struct client *c, struct qjob *j)
{
	c->job = j;
}

/* Return the client's running job, or NULL. */
struct qjob *
client_job(const struct client *c)
{
	return (c->job);
}

/*
 * The client's job ended: run the commands waiting behind it (the read
 * handler closes a control client that said all it had to say).
 */
void
client_job_done(struct client *c)
{
	c->job = NULL;
	if (c->closing)
		return;
	client_resume(c->sub, c);
}

/* The client's output is full: pause its job until it drains. */
void
client_pause_job(struct client *c)
{
	if (c->job == NULL)
		return;
	query_job_pause(c->job, true);
	fanout_sub_want_drain(c->sub, client_resume);
}

/* Return the command layer's per-client state. */
void *
client_cmdstate(struct client *c)
{
	return (c->cmdstate);
}

/* Set the command layer's per-client state and its destructor. */
void
client_set_cmdstate(struct client *c, void *state, void (*fn)(void *))
{
	if (c->cmdstate_free != NULL && c->cmdstate != state)
		c->cmdstate_free(c->cmdstate);
	c->cmdstate = state;
	c->cmdstate_free = fn;
}
