/*
 * server.c - listening Unix sockets.
 *
 * A socket path left by a dead instance is replaced; one that a live
 * instance answers on is refused.  The socket file gets the configured
 * mode, owner and group (it is created under a tight umask first, so it is
 * never more open than asked for).  The file is removed at exit, by then
 * as --user: a directory made for the socket is that user's so that it
 * can, and a file that cannot be removed is named in the log.  accept(2)
 * is bounded per wakeup, and when descriptors run out (EMFILE, ENFILE) the
 * listener backs off for a second, or until a client goes.  Past the
 * client limit a new connection gets one error line and is closed.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "compat.h"
#include "ctx.h"
#include "log.h"
#include "server.h"

#define SERVER_ACCEPTS		32	/* per wakeup */
#define SERVER_BACKOFF_SECS	1

struct listener {
	TAILQ_ENTRY(listener)	 entry;
	struct server		*srv;
	enum listener_kind	 kind;
	int			 fd;
	char			*path;
	bool			 unlink_on_exit;
	struct event		*ev;
	struct event		*backoff;
	bool			 paused;
};

TAILQ_HEAD(listeners, listener);

struct server {
	struct ctx		*ctx;
	struct listeners	 listeners;
	unsigned int		 max_clients;
	size_t			 max_line;
	struct server_stats	 st;
	bool			 warned_fds;
};

static void	server_accept(evutil_socket_t, short, void *);
static int	server_add(struct server *, enum listener_kind, int,
		    const char *, bool, char *, size_t);

/* Make a server for ctx with the given limits. */
struct server *
server_new(struct ctx *ctx, unsigned int max_clients, size_t max_line)
{
	struct server	*srv;

	if ((srv = calloc(1, sizeof *srv)) == NULL)
		return (NULL);
	srv->ctx = ctx;
	srv->max_clients = max_clients;
	srv->max_line = max_line;
	TAILQ_INIT(&srv->listeners);
	return (srv);
}

/* Close the listeners (removing their socket files); NULL is fine. */
void
server_free(struct server *srv)
{
	struct listener	*l;

	if (srv == NULL)
		return;
	while ((l = TAILQ_FIRST(&srv->listeners)) != NULL) {
		TAILQ_REMOVE(&srv->listeners, l, entry);
		event_free(l->ev);
		event_free(l->backoff);
		close(l->fd);
		if (l->unlink_on_exit && unlink(l->path) == -1 &&
		    errno != ENOENT)
			log_warn("cannot remove %s (it is removed as stale at "
			    "the next start)", l->path);
		free(l->path);
		free(l);
	}
	free(srv);
}

/* Remove the socket files made here now (a fatal exit); idempotent. */
void
server_unlink(struct server *srv)
{
	struct listener	*l;

	TAILQ_FOREACH(l, &srv->listeners, entry) {
		if (l->unlink_on_exit && unlink(l->path) == -1 &&
		    errno != ENOENT)
			log_warn("cannot remove %s", l->path);
		l->unlink_on_exit = false;
	}
}

/*
 * Create the directories leading to path (like mkdir -p, mode 0755); the
 * last one, if made here, gets owner uid and group gid ((uid_t)-1: ours).
 */
static int
server_mkparents(const char *path, uid_t uid, gid_t gid)
{
	char	 dir[PATH_MAX], *p;

	if (strlen(path) >= sizeof dir)
		return (-ENAMETOOLONG);
	strcpy(dir, path);
	if ((p = strrchr(dir, '/')) == NULL || p == dir)
		return (0);
	*p = '\0';
	for (p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST)
			return (-errno);
		*p = '/';
	}
	if (mkdir(dir, 0755) == -1)
		return (errno == EEXIST ? 0 : -errno);
	if (uid != (uid_t)-1 && chown(dir, uid, gid) == -1)
		return (-errno);
	return (0);
}

/*
 * Deal with a file already at path: a socket nobody answers on is stale
 * and removed; a live one means another instance runs.
 */
static int
server_check_stale(const char *path, const struct sockaddr_un *sun,
    char *err, size_t errlen)
{
	struct stat	st;
	int		fd, r;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return (0);
		r = errno;
		snprintf(err, errlen, "cannot check %s: %s", path,
		    strerror(r));
		return (-r);
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return (-EEXIST);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		r = errno;
		snprintf(err, errlen, "cannot check %s: socket: %s", path,
		    strerror(r));
		return (-r);
	}
	r = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	close(fd);
	if (r == 0) {
		snprintf(err, errlen, "another instance is listening on %s",
		    path);
		return (-EADDRINUSE);
	}
	if (errno != ECONNREFUSED && errno != ENOENT) {
		snprintf(err, errlen, "cannot check %s: %s", path,
		    strerror(errno));
		return (-errno);
	}
	log_info("removing stale socket %s", path);
	if (unlink(path) == -1 && errno != ENOENT) {
		r = errno;
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path,
		    strerror(r));
		return (-r);
	}
	return (0);
}

/*
 * Listen on a Unix socket.  On failure returns -errno with a message in
 * err naming what went wrong.
 */
int
server_listen(struct server *srv, enum listener_kind kind,
    const struct listen_opts *o, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	mode_t			 old;
	int			 fd, error;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(o->path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "%s: path too long", o->path);
		return (-ENAMETOOLONG);
	}
	strcpy(sun.sun_path, o->path);
	if ((error = server_mkparents(o->path, o->dir_uid, o->dir_gid)) != 0) {
		snprintf(err, errlen, "cannot create the directory of %s: %s",
		    o->path, strerror(-error));
		return (error);
	}
	snprintf(err, errlen, "%s: %s", o->path, "cannot check old socket");
	if ((error = server_check_stale(o->path, &sun, err, errlen)) != 0)
		return (error);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return (-errno);
	}
	old = umask(0177);
	error = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (error == -1) {
		error = -errno;
		snprintf(err, errlen, "cannot bind %s: %s", o->path,
		    strerror(errno));
		close(fd);
		return (error);
	}
	if ((o->uid != (uid_t)-1 || o->gid != (gid_t)-1) &&
	    chown(o->path, o->uid, o->gid) == -1) {
		error = -errno;
		snprintf(err, errlen, "cannot chown %s: %s", o->path,
		    strerror(errno));
		goto fail;
	}
	if (chmod(o->path, o->mode) == -1 || listen(fd, 128) == -1) {
		error = -errno;
		snprintf(err, errlen, "cannot set up %s: %s", o->path,
		    strerror(errno));
		goto fail;
	}
	return (server_add(srv, kind, fd, o->path, true, err, errlen));

fail:
	close(fd);
	unlink(o->path);
	return (error);
}

/* Make a listener of a socket that is already bound and listening. */
static int
server_add(struct server *srv, enum listener_kind kind, int fd,
    const char *path, bool owned, char *err, size_t errlen)
{
	struct listener	*l;

	if ((l = calloc(1, sizeof *l)) == NULL ||
	    (l->path = strdup(path)) == NULL) {
		free(l);
		snprintf(err, errlen, "out of memory");
		return (-ENOMEM);
	}
	l->srv = srv;
	l->kind = kind;
	l->fd = fd;
	l->unlink_on_exit = owned;
	TAILQ_INSERT_TAIL(&srv->listeners, l, entry);
	l->ev = event_new(srv->ctx->base, fd, EV_READ | EV_PERSIST,
	    server_accept, l);
	l->backoff = evtimer_new(srv->ctx->base, server_accept, l);
	if (l->ev == NULL || l->backoff == NULL ||
	    event_add(l->ev, NULL) == -1) {
		/* Freed with the server. */
		snprintf(err, errlen, "out of memory");
		return (-ENOMEM);
	}
	return (0);
}

/*
 * Take over a listening socket passed by the service manager (socket
 * activation).  Its file is the manager's: it is left in place at exit.
 */
int
server_adopt(struct server *srv, enum listener_kind kind, int fd, char *err,
    size_t errlen)
{
	struct sockaddr_un	sun;
	socklen_t		len = sizeof sun;
	int			fl;

	memset(&sun, 0, sizeof sun);
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == -1 ||
	    sun.sun_family != AF_UNIX) {
		snprintf(err, errlen, "passed descriptor %d is not a Unix "
		    "socket", fd);
		return (-EINVAL);
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		return (-errno);
	}
	return (server_add(srv, kind, fd, sun.sun_path[0] != '\0' ?
	    sun.sun_path : "(passed socket)", false, err, errlen));
}

/* Change the client limits (existing clients keep their connection). */
void
server_set_limits(struct server *srv, unsigned int max_clients,
    size_t max_line)
{
	srv->max_clients = max_clients;
	srv->max_line = max_line;
}

/* Stop accepting for a while: we are out of descriptors. */
static void
server_backoff(struct listener *l)
{
	struct timeval	tv = { SERVER_BACKOFF_SECS, 0 };

	l->srv->st.backoffs++;
	if (!l->srv->warned_fds) {
		log_warn("%s: accept", l->path);
		log_warnx("%s: out of file descriptors, pausing accept",
		    l->path);
		l->srv->warned_fds = true;
	}
	l->paused = true;
	event_del(l->ev);
	evtimer_add(l->backoff, &tv);
}

/* A client went away: paused listeners may accept again. */
void
server_client_gone(struct server *srv)
{
	struct listener	*l;

	srv->st.clients--;
	TAILQ_FOREACH(l, &srv->listeners, entry) {
		if (!l->paused)
			continue;
		l->paused = false;
		evtimer_del(l->backoff);
		event_add(l->ev, NULL);
	}
}

/* Refuse a connection over the client limit with one error line. */
static void
server_refuse(struct server *srv, int fd)
{
	char	line[256];
	int	n;

	srv->st.refused++;
	n = snprintf(line, sizeof line, "{\"type\":\"error\",\"error\":"
	    "{\"code\":\"too_many_clients\",\"message\":\"the server has "
	    "reached its limit of %u clients\"}}\n", srv->max_clients);
	(void)send(fd, line, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/* The listener is readable (or the backoff timer fired): accept. */
static void
server_accept(evutil_socket_t unused, short what, void *arg)
{
	struct listener	*l = arg;
	struct server	*srv = l->srv;
	int		 i, fd;

	if (l->paused) {
		l->paused = false;
		event_add(l->ev, NULL);
	}
	for (i = 0; i < SERVER_ACCEPTS; i++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				server_backoff(l);
			else if (errno != EAGAIN)
				log_warn("%s: accept", l->path);
			return;
		}
		srv->warned_fds = false;
		if (srv->st.clients >= srv->max_clients) {
			server_refuse(srv, fd);
			continue;
		}
		if (client_new(srv, srv->ctx, fd, l->kind,
		    srv->max_line) == NULL) {
			log_warnx("%s: out of memory for a new client",
			    l->path);
			close(fd);
			continue;
		}
		srv->st.accepted++;
		srv->st.clients++;
	}
}

/* Return the counters. */
const struct server_stats *
server_stats(const struct server *srv)
{
	return (&srv->st);
}
