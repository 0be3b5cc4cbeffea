/*
 * ctl-conn.c - ctstreamctl's connections to the daemon's sockets.
 *
 * A connection is a Unix stream socket read line by line: every line the
 * daemon writes is one JSON object ended by a newline.  A request is one
 * compact JSON object and a newline.  ctl_conn_call() runs one request
 * on a fresh connection: it hands every line before the reply (the lines
 * of a dump) to a callback, returns the reply and closes the connection.
 * The sending side is left open meanwhile (the daemon would answer a
 * request sent before a shutdown all the same).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

#define CTL_CONN_BUFSIZE	(64 * 1024)

/* Connect to the socket at path; -1 (message printed) on failure. */
int
ctl_conn_open(struct ctl_conn *c, const char *path)
{
	struct sockaddr_un	sun;
	const char		*hint = "";

	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->path = path;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		ctl_warnx("socket path too long: %s", path);
		return (-1);
	}
	strcpy(sun.sun_path, path);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		ctl_warnx("socket: %s", strerror(errno));
		return (-1);
	}
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		switch (errno) {
		case ENOENT:
		case ECONNREFUSED:
			hint = " (is ctstreamd running?)";
			break;
		case EACCES:
			hint = " (the socket's mode and group decide who may "
			    "connect)";
			break;
		}
		ctl_warnx("cannot connect to %s: %s%s", path, strerror(errno),
		    hint);
		close(c->fd);
		c->fd = -1;
		return (-1);
	}
	return (0);
}

/* Close a connection and free its buffer. */
void
ctl_conn_close(struct ctl_conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->size = c->start = c->end = 0;
}

/* Send one request; the reference to req is consumed.  -1 on failure. */
int
ctl_conn_send(struct ctl_conn *c, json_t *req)
{
	char	*s;
	size_t	 len, off = 0;
	ssize_t	 n;

	s = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (s == NULL) {
		ctl_warnx("out of memory");
		return (-1);
	}
	len = strlen(s);
	s[len++] = '\n';	/* json_dumps leaves room: the NUL goes */
	while (off < len) {
		n = send(c->fd, s + off, len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			ctl_warnx("cannot write to %s: %s", c->path,
			    strerror(errno));
			free(s);
			return (-1);
		}
		off += (size_t)n;
	}
	free(s);
	return (0);
}

/* Make room for more input; -1 (message printed) if a line is too long. */
static int
ctl_conn_room(struct ctl_conn *c)
{
	char	*nb;
	size_t	 ns;

	if (c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end < c->size)
		return (0);
	ns = c->size == 0 ? CTL_CONN_BUFSIZE : c->size * 2;
	if (ns > CTL_LINEMAX) {
		ctl_warnx("a line from %s is longer than %u bytes", c->path,
		    CTL_LINEMAX);
		return (-1);
	}
	if ((nb = realloc(c->buf, ns)) == NULL) {
		ctl_warnx("out of memory");
		return (-1);
	}
	c->buf = nb;
	c->size = ns;
	return (0);
}

/*
 * Read the next line, without its newline and NUL-terminated in place; it
 * stays valid until the next call.  With watch_out, also notice when the
 * reader of standard output goes away (a pipe's reader closing it).
 */
enum ctl_read
ctl_conn_getline(struct ctl_conn *c, bool watch_out, char **line,
    size_t *len)
{
	struct pollfd	 pfd[2];
	char		*nl;
	ssize_t		 n;

	for (;;) {
		if (c->end > c->start && (nl = memchr(c->buf + c->start, '\n',
		    c->end - c->start)) != NULL) {
			*line = c->buf + c->start;
			*len = (size_t)(nl - *line);
			*nl = '\0';
			c->start = (size_t)(nl - c->buf) + 1;
			return (CTL_READ_LINE);
		}
		if (c->eof) {
			if (c->end > c->start)
				ctl_warnx("%s: the connection ended inside a "
				    "line", c->path);
			return (CTL_READ_EOF);
		}
		if (ctl_signalled)
			return (CTL_READ_SIGNAL);
		if (ctl_conn_room(c) == -1)
			return (CTL_READ_ERROR);
		pfd[0].fd = c->fd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		pfd[1].fd = STDOUT_FILENO;
		pfd[1].events = 0;
		pfd[1].revents = 0;
		if (poll(pfd, watch_out ? 2 : 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			ctl_warnx("poll: %s", strerror(errno));
			return (CTL_READ_ERROR);
		}
		if (watch_out &&
		    (pfd[1].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
			return (CTL_READ_OUTGONE);
		if (pfd[0].revents == 0)
			continue;
		n = read(c->fd, c->buf + c->end, c->size - c->end);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ECONNRESET) {
				c->eof = true;
				continue;
			}
			ctl_warnx("cannot read from %s: %s", c->path,
			    strerror(errno));
			return (CTL_READ_ERROR);
		}
		if (n == 0)
			c->eof = true;
		c->end += (size_t)n;
	}
}

/* Parse a line as a JSON object; NULL if it is not one. */
json_t *
ctl_conn_parse(const char *line, size_t len)
{
	json_error_t	 err;
	json_t		*v;

	if ((v = json_loadb(line, len, 0, &err)) == NULL)
		return (NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		return (NULL);
	}
	return (v);
}

/* Return a line's "type", or "" if it has none. */
static const char *
ctl_conn_type(json_t *v)
{
	const char	*s = json_string_value(json_object_get(v, "type"));

	return (s != NULL ? s : "");
}

/*
 * Find the result of a successful reply as the daemon wrote it, so that
 * it can be printed unchanged: the daemon writes "result" last, after
 * "ok":true.  Returns NULL if the line does not look like that.
 */
const char *
ctl_conn_raw_result(const char *line, size_t len, size_t *rlen)
{
	static const char	 key[] = "\"ok\":true,\"result\":";
	const char		*p;

	if (len < 2 || line[len - 1] != '}')
		return (NULL);
	if ((p = strstr(line, key)) == NULL)
		return (NULL);
	p += sizeof key - 1;
	if (p >= line + len - 1)
		return (NULL);
	*rlen = (size_t)(line + len - 1 - p);
	return (p);
}

/* Print an error line (too_many_clients, too_slow) of the daemon. */
static void
ctl_conn_error_line(struct ctl *ctl, json_t *v)
{
	json_t		*e = json_object_get(v, "error");
	const char	*msg = json_string_value(json_object_get(e, "message"));
	const char	*code = json_string_value(json_object_get(e, "code"));

	ctl_warnx("%s: the daemon ended the connection: %s%s%s%s", ctl->cmd,
	    msg != NULL ? msg : "unknown error", code != NULL ? " (" : "",
	    code != NULL ? code : "", code != NULL ? ")" : "");
}

/*
 * Send req (consumed) on a new connection to path and read until its
 * reply.  Every other line is handed to cb (with its parsed form, NULL if
 * it is not a JSON object); cb returns 0 to go on, or an exit status or
 * CTL_STOP_OUTGONE to stop, which is then returned.  Returns 0 with the
 * reply in *reply and its line in *rawline (both the caller's), or an
 * exit status after printing why.
 */
int
ctl_conn_call(struct ctl *ctl, const char *path, json_t *req,
    int (*cb)(void *, const char *, size_t, json_t *), void *arg,
    json_t **reply, char **rawline)
{
	struct ctl_conn	 c;
	char		*line;
	size_t		 len;
	json_t		*v;
	int		 r;

	*reply = NULL;
	*rawline = NULL;
	if (ctl_conn_open(&c, path) == -1) {
		json_decref(req);
		return (CTL_EXIT_FAIL);
	}
	if (ctl_conn_send(&c, req) == -1) {
		ctl_conn_close(&c);
		return (CTL_EXIT_FAIL);
	}
	for (;;) {
		switch (ctl_conn_getline(&c, false, &line, &len)) {
		case CTL_READ_LINE:
			break;
		case CTL_READ_EOF:
			ctl_warnx("%s: %s closed the connection without an "
			    "answer", ctl->cmd, path);
			ctl_conn_close(&c);
			return (CTL_EXIT_FAIL);
		default:
			ctl_conn_close(&c);
			return (CTL_EXIT_FAIL);
		}
		v = ctl_conn_parse(line, len);
		if (v != NULL && strcmp(ctl_conn_type(v), "reply") == 0) {
			if ((*rawline = strndup(line, len)) == NULL) {
				ctl_warnx("out of memory");
				json_decref(v);
				ctl_conn_close(&c);
				return (CTL_EXIT_FAIL);
			}
			*reply = v;
			ctl_conn_close(&c);
			return (0);
		}
		if (v != NULL && strcmp(ctl_conn_type(v), "error") == 0) {
			ctl_conn_error_line(ctl, v);
			json_decref(v);
			ctl_conn_close(&c);
			return (CTL_EXIT_FAIL);
		}
		r = cb != NULL ? cb(arg, line, len, v) : 0;
		json_decref(v);
		if (r != 0) {
			ctl_conn_close(&c);
			return (r);
		}
	}
}

/*
 * Check a reply: 0 if it says ok, else print the daemon's message and
 * return the exit status its error code calls for: 2 for a request the
 * arguments made wrong, 1 for everything else.  notfound, if not NULL,
 * replaces the message of a not_found error about the entry (not about
 * its namespace), as conntrack(8) words it.
 */
int
ctl_conn_error(struct ctl *ctl, json_t *reply, const char *notfound)
{
	json_t		*e;
	const char	*code, *msg, *hint = "";
	size_t		 n;

	if (json_is_true(json_object_get(reply, "ok")))
		return (0);
	e = json_object_get(reply, "error");
	code = json_string_value(json_object_get(e, "code"));
	msg = json_string_value(json_object_get(e, "message"));
	if (code == NULL)
		code = "unknown";
	if (msg == NULL)
		msg = code;
	if (strcmp(code, "not_found") == 0 && notfound != NULL &&
	    strncmp(msg, "netns:", 6) != 0 &&
	    strstr(msg, "namespace") == NULL) {
		ctl_warnx("%s: operation failed: %s", ctl->cmd, notfound);
		return (CTL_EXIT_FAIL);
	}
	if (strcmp(code, "exists") == 0) {
		ctl_warnx("%s: operation failed: such conntrack exists "
		    "already", ctl->cmd);
		return (CTL_EXIT_FAIL);
	}
	/* With several namespaces, a change names one: say how. */
	if (strncmp(msg, "netns: required", 15) == 0)
		hint = " (give --netns NAME)";
	/* The daemon's messages often start with its command's name. */
	n = strlen(ctl->cmd);
	if (strncmp(msg, ctl->cmd, n) == 0 && msg[n] == ':')
		ctl_warnx("%s%s", msg, hint);
	else
		ctl_warnx("%s: %s%s", ctl->cmd, msg, hint);
	if (strcmp(code, "bad_request") == 0 ||
	    strcmp(code, "bad_filter") == 0 ||
	    strcmp(code, "too_large") == 0)
		return (CTL_EXIT_USAGE);
	return (CTL_EXIT_FAIL);
}
