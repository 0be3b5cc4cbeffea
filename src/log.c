/*
 * log.c - logging for ctstreamd.
 *
 * Messages go to stderr.  When stderr is connected to the journal
 * (JOURNAL_STREAM matches it) every line starts with an sd-daemon(3)
 * "<N>" priority prefix so journald records the right priority;
 * otherwise lines carry a "ctstreamd: " prefix for people running the
 * daemon by hand.  libevent's own warnings are routed here too.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

static int	log_debug_on;
static int	log_journal;

/* Tell whether stderr is the stream systemd gave us for the journal. */
static int
log_stderr_is_journal(void)
{
	const char	*e = getenv("JOURNAL_STREAM");
	unsigned long	 dev, ino;
	struct stat	 st;

	if (e == NULL || sscanf(e, "%lu:%lu", &dev, &ino) != 2)
		return (0);
	if (fstat(STDERR_FILENO, &st) == -1)
		return (0);
	return (st.st_dev == dev && st.st_ino == ino);
}

/*
 * Copy s into out (NUL-terminated, cut to fit) with its control
 * characters as \xHH: a message may quote what a user or a client gave (a
 * namespace name, say), and a newline in it must not make two log lines,
 * nor an escape sequence reach a terminal.  Returns the length written.
 */
static size_t
log_escape(const char *s, char *out, size_t outlen)
{
	const unsigned char	*p;
	size_t			 n = 0;

	if (outlen == 0)
		return (0);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			if (n + 4 >= outlen)
				break;
			snprintf(out + n, 5, "\\x%02x", *p);
			n += 4;
		} else {
			if (n + 1 >= outlen)
				break;
			out[n++] = (char)*p;
		}
	}
	out[n] = '\0';
	return (n);
}

/* Write s to fp, escaped as log_escape() does. */
void
log_puts_safe(const char *s, FILE *fp)
{
	char	buf[4096];

	log_escape(s, buf, sizeof buf);
	fputs(buf, fp);
}

/*
 * Write one message with its priority; errnum 0 means no strerror.  The
 * line goes out in one write, so that the netlink helper's lines and the
 * daemon's, on the same stderr, do not mix.
 */
static void
log_vwrite(int pri, int errnum, const char *fmt, va_list ap)
{
	char	msg[2048], line[4096 + 128];
	size_t	n;
	int	r;

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_journal)
		r = snprintf(line, sizeof line, "<%d>", pri);
	else
		r = snprintf(line, sizeof line, "ctstreamd: ");
	n = r > 0 ? (size_t)r : 0;
	n += log_escape(msg, line + n, sizeof line - n - 1);
	if (errnum != 0) {
		r = snprintf(line + n, sizeof line - n - 1, ": %s",
		    strerror(errnum));
		if (r > 0)
			n += (size_t)r < sizeof line - n - 1 ? (size_t)r :
			    sizeof line - n - 2;
	}
	line[n++] = '\n';
	(void)fwrite(line, 1, n, stderr);
}

/* Route libevent's messages into our log. */
static void
log_event_cb(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_warnx("libevent: %s", msg);
		break;
	}
}

/* Set up logging; call before anything may log. */
void
log_init(int debug)
{
	log_debug_on = debug;
	log_journal = log_stderr_is_journal();
	setvbuf(stderr, NULL, _IOLBF, 0);
	event_set_log_callback(log_event_cb);
}

/* Change the debug level at run time. */
void
log_set_debug(int debug)
{
	log_debug_on = debug;
}

/* Return the debug level. */
int
log_get_debug(void)
{
	return (log_debug_on);
}

/* Log a warning with strerror(errno). */
void
log_warn(const char *fmt, ...)
{
	int	saved = errno;
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Log a warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, 0, fmt, ap);
	va_end(ap);
}

/* Log a notice: something an operator should see once. */
void
log_notice(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_NOTICE, 0, fmt, ap);
	va_end(ap);
}

/* Log an informational message. */
void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, 0, fmt, ap);
	va_end(ap);
}

/* Log a debug message when debugging is on. */
void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
}

/* Log an error with strerror(errno) and exit. */
void
fatal(const char *fmt, ...)
{
	int	saved = errno;
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log an error and exit. */
void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
