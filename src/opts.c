/*
 * opts.c - the table of settings: defaults, parsing, help.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <getopt.h>
#include <grp.h>
#include <pwd.h>

#include "conf.h"
#include "event.h"
#include "kfilter.h"
#include "metrics.h"
#include "natsout.h"
#include "netns.h"
#include "opts.h"

#define O(f)	offsetof(struct options, f)

/* Specials: handled by main, listed here for the help text. */
#define OPT_NONE	((size_t)-1)

static const struct optdef optdefs[] = {
	{ "stdout", 0, OT_FLAG, O(to_stdout), NULL, NULL,
	    "write events to standard output", 0, 0 },
	{ "netns", 0, OT_NETNS, O(netns), NULL, "NAME|PATH",
	    "monitor this network namespace (repeat, or a comma list, for "
	    "several; a name under /run/netns or an "
	    "absolute path)", 0, 0 },
	{ "netns-all", 0, OT_FLAG, O(netns_all), NULL, NULL,
	    "follow every namespace under /run/netns as they come and go "
	    "(add --netns host for the daemon's own)", 0, 0 },
	{ "events", 0, OT_KINDS, O(kinds), "new,update,destroy", "LIST",
	    "event kinds to receive from the kernel", 0, 0 },
	{ "types", 0, OT_TYPES, O(types), "ct,expect", "LIST",
	    "entry types to receive from the kernel", 0, 0 },
	{ "enable-acct", 0, OT_FLAG, O(enable_acct), NULL, NULL,
	    "set nf_conntrack_acct=1 in the namespace (counters)", 0, 0 },
	{ "enable-timestamp", 0, OT_FLAG, O(enable_timestamp), NULL, NULL,
	    "set nf_conntrack_timestamp=1 in the namespace (start, stop)",
	    0, 0 },
	{ "rcvbuf", 0, OT_BYTES, O(rcvbuf), "8M", "BYTES",
	    "receive buffer of the event socket", 4096, 1UL << 30 },
	{ "rcvbuf-max", 0, OT_BYTES, O(rcvbuf_max), "64M", "BYTES",
	    "largest receive buffer doubling on overruns may reach", 4096,
	    1UL << 30 },
	{ "reliable", 0, OT_FLAG, O(reliable), NULL, NULL,
	    "ask the kernel to retry conntrack events it could not deliver "
	    "(see ctstreamd(8) for the cost)", 0, 0 },
	{ "kernel-proto", 0, OT_STRING, O(kernel_proto), NULL, "[!]LIST",
	    "receive only conntrack events of these protocols", 0, 0 },
	{ "kernel-src", 0, OT_STRING, O(kernel_src), NULL, "[!]CIDRS",
	    "receive only conntrack events from these original sources", 0, 0 },
	{ "kernel-dst", 0, OT_STRING, O(kernel_dst), NULL, "[!]CIDRS",
	    "receive only conntrack events to these original destinations",
	    0, 0 },
	{ "no-track", 0, OT_FLAG, O(no_track), NULL, NULL,
	    "keep no index of live entries: no resync after overruns",
	    0, 0 },
	{ "resync-delay", 0, OT_UINT, O(resync_delay), "1000", "MS",
	    "least time between two resyncs", 10, 3600000 },
	{ "resync-interval", 0, OT_UINT, O(resync_interval), "60", "SECONDS",
	    "how often entries older than the daemon are checked (0: never)",
	    0, 86400 },
	{ "set-events-sysctl", 0, OT_FLAG, O(set_events_sysctl), NULL, NULL,
	    "set nf_conntrack_events=1 in the namespace (events for every "
	    "connection)", 0, 0 },
	{ "labelmap", 0, OT_STRING, O(labelmap), NULL, "FILE",
	    "connlabel.conf to name labels (default: the library's)", 0, 0 },
	{ "events-socket", 0, OT_PATH, O(events_socket),
	    "/run/ctstreamd/events.sock", "PATH|none",
	    "Unix socket for subscribers", 0, 0 },
	{ "control-socket", 0, OT_PATH, O(control_socket),
	    "/run/ctstreamd/control.sock", "PATH|none",
	    "Unix socket for queries and changes", 0, 0 },
	{ "admin-group", 0, OT_STRING, O(admin_group), NULL, "GROUP",
	    "group whose members may change the table (root always may)",
	    0, 0 },
	{ "socket-mode", 0, OT_MODE, O(socket_mode), "0660", "MODE",
	    "permissions of the socket files", 0, 0 },
	{ "socket-owner", 0, OT_STRING, O(socket_owner), NULL, "USER",
	    "owner of the socket files (default: unchanged)", 0, 0 },
	{ "socket-group", 0, OT_STRING, O(socket_group), OPTS_SOCKET_GROUP,
	    "GROUP",
	    "group of the socket files, if that group exists", 0, 0 },
	{ "max-clients", 0, OT_UINT, O(max_clients), "1024", "N",
	    "most clients at once", 1, 1000000 },
	{ "max-line", 0, OT_BYTES, O(max_line), "64K", "BYTES",
	    "longest command line a client may send", 256, 16UL << 20 },
	{ "sub-hiwat", 0, OT_BYTES, O(sub_hiwat), "4M", "BYTES",
	    "queued bytes past which a subscriber loses events", 4096,
	    1UL << 30 },
	{ "sub-lowat", 0, OT_BYTES, O(sub_lowat), "1M", "BYTES",
	    "queued bytes below which it gets events again", 0, 1UL << 30 },
	{ "sub-policy", 0, OT_POLICY, O(sub_policy), "drop",
	    "drop|disconnect", "what happens to a subscriber past its high "
	    "watermark", 0, 0 },
	{ "metrics-listen", 0, OT_STRING, O(metrics_listen), NULL,
	    "[ADDR:]PORT", "serve Prometheus metrics over HTTP at /metrics on "
	    "this address (PORT alone: 127.0.0.1; [::1]:PORT for IPv6)", 0, 0 },
	{ "nats-server", 0, OT_STRING, O(nats_server), NULL, "URLS",
	    "publish every line to NATS at these servers (nats://host:port, a "
	    "comma list)", 0, 0 },
	{ "nats-stream", 0, OT_STRING, O(nats_stream), NULL, "NAME",
	    "JetStream stream that stores the lines: publish with "
	    "acknowledgements (default: core NATS, none)", 0, 0 },
	{ "nats-prefix", 0, OT_STRING, O(nats_prefix), "ctstreamd", "SUBJECT",
	    "first tokens of the subjects, PREFIX.HOST.TYPE.EVENT", 0, 0 },
	{ "nats-host", 0, OT_STRING, O(nats_host), NULL, "NAME",
	    "subject token for this machine (default: the hostname, dots "
	    "made _)", 0, 0 },
	{ "nats-hiwat", 0, OT_BYTES, O(nats_hiwat), "16M", "BYTES",
	    "bytes pending for NATS past which lines are dropped", 4096,
	    1UL << 30 },
	{ "nats-lowat", 0, OT_BYTES, O(nats_lowat), "4M", "BYTES",
	    "bytes pending below which lines are taken again", 0, 1UL << 30 },
	{ "nats-hiwat-msgs", 0, OT_UINT, O(nats_hiwat_msgs), "100000", "N",
	    "lines pending for NATS past which lines are dropped", 1,
	    10000000 },
	{ "nats-lowat-msgs", 0, OT_UINT, O(nats_lowat_msgs), "25000", "N",
	    "lines pending below which lines are taken again", 0, 10000000 },
	{ "nats-max-inflight", 0, OT_UINT, O(nats_max_inflight), "1024", "N",
	    "JetStream acknowledgements awaited at once", 1, 65536 },
	{ "nats-ack-wait", 0, OT_UINT, O(nats_ack_wait), "5000", "MS",
	    "how long to wait for a JetStream acknowledgement", 100, 600000 },
	{ "nats-retries", 0, OT_UINT, O(nats_retries), "5", "N",
	    "times a line whose acknowledgement timed out is published again",
	    0, 1000 },
	{ "nats-reconnect-max", 0, OT_UINT, O(nats_reconnect_max), "5000",
	    "MS", "longest wait between two attempts to reconnect to NATS",
	    100, 600000 },
	{ "user", 0, OT_STRING, O(user), NULL, "USER",
	    "user to run as once the sockets are open (capabilities are "
	    "dropped in any case)", 0, 0 },
	{ "debug", 'd', OT_COUNT, O(debug), NULL, NULL,
	    "log debugging messages", 0, 0 },
	{ "config", 'f', OT_SPECIAL, OPT_NONE, NULL, "FILE",
	    "configuration file (default: " CTSTREAMD_CONF ", if it exists)",
	    0, 0 },
	{ "check-config", 'n', OT_SPECIAL, OPT_NONE, NULL, NULL,
	    "check the configuration, print \"configuration OK\" and exit",
	    0, 0 },
	{ "version", 'V', OT_SPECIAL, OPT_NONE, NULL, NULL,
	    "print the version and exit", 0, 0 },
	{ "help", 'h', OT_SPECIAL, OPT_NONE, NULL, NULL,
	    "print this help and exit", 0, 0 },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

/* Return the table, terminated by an entry with a NULL name. */
const struct optdef *
opts_table(void)
{
	return (optdefs);
}

/* Find a setting by name. */
const struct optdef *
opts_find(const char *name)
{
	const struct optdef	*d;

	for (d = optdefs; d->name != NULL; d++)
		if (strcmp(d->name, name) == 0)
			return (d);
	return (NULL);
}

/* Tell whether this build lacks what a setting needs (libnats). */
static bool
opts_unsupported(const struct optdef *d)
{
	return (!natsout_supported() && strncmp(d->name, "nats-", 5) == 0);
}

/* Checks of settings' values beyond their type. */
static const struct {
	const char	*name;
	int		(*check)(const char *, char *, size_t);
} opts_checks[] = {
	{ "metrics-listen", metrics_listen_check },
	{ "nats-server", natsout_check_servers },
	{ "nats-stream", natsout_check_stream },
	{ "nats-prefix", natsout_check_prefix },
	{ "nats-host", natsout_check_token },
	/* When they are set, so that a mistake is told at its line. */
	{ "kernel-proto", kfilter_check_proto },
	{ "kernel-src", kfilter_check_src },
	{ "kernel-dst", kfilter_check_dst },
	{ NULL, NULL }
};

/* The check of a setting's value beyond its type, if it has one. */
static int
(*opts_checker(const struct optdef *d))(const char *, char *, size_t)
{
	size_t	i;

	for (i = 0; opts_checks[i].name != NULL; i++)
		if (strcmp(d->name, opts_checks[i].name) == 0)
			return (opts_checks[i].check);
	return (NULL);
}

/*
 * Say where d's value came from: "FILE:LINE", "--name" for the command
 * line, or "default".  With about, say it the way a message about the
 * value starts, as conf_load() and the command line do: "FILE:LINE:
 * name", "--name", or the bare name for the default.
 */
static const char *
opts_origin(const struct options *o, const struct optdef *d, bool about,
    char *buf, size_t len)
{
	int	line = o->origin[d - optdefs];

	if (line > 0 && o->conf != NULL)
		snprintf(buf, len, "%s:%d%s%s", o->conf, line,
		    about ? ": " : "", about ? d->name : "");
	else if (line == OPTS_FROM_CLI)
		snprintf(buf, len, "--%s", d->name);
	else
		snprintf(buf, len, "%s", about ? d->name : "default");
	return (buf);
}

/* Say where d's value came from, to name it in a message. */
const char *
opts_where(const struct options *o, const struct optdef *d, char *buf,
    size_t len)
{
	return (opts_origin(o, d, false, buf, len));
}

/* Start a message about d's value, saying where it came from. */
const char *
opts_about(const struct options *o, const struct optdef *d, char *buf,
    size_t len)
{
	return (opts_origin(o, d, true, buf, len));
}

/* Parse a comma-separated list of names into a bit mask. */
static int
opts_list(const char *v, int (*parse)(const char *), unsigned int all,
    unsigned int *out, char *err, size_t errlen)
{
	char		*copy, *word, *save = NULL;
	unsigned int	 mask = 0;
	int		 bit;

	if ((copy = strdup(v)) == NULL)
		return (-ENOMEM);
	for (word = strtok_r(copy, ",", &save); word != NULL;
	    word = strtok_r(NULL, ",", &save)) {
		if (strcmp(word, "all") == 0) {
			mask |= all;
			continue;
		}
		bit = parse(word);
		if (bit < 0 || ((1U << bit) & all) == 0) {
			snprintf(err, errlen, "unknown value '%s'", word);
			free(copy);
			return (-EINVAL);
		}
		mask |= 1U << bit;
	}
	free(copy);
	if (mask == 0) {
		snprintf(err, errlen, "empty list");
		return (-EINVAL);
	}
	*out = mask;
	return (0);
}

/* Parse a size with an optional K, M or G suffix (powers of 1024). */
static int
opts_bytes(const char *v, unsigned long long *out)
{
	char			*end;
	unsigned long long	 n;

	if (*v < '0' || *v > '9')
		return (-EINVAL);
	int			 shift = 0;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0)
		return (-EINVAL);
	switch (*end) {
	case 'K': case 'k':
		shift = 10;
		end++;
		break;
	case 'M': case 'm':
		shift = 20;
		end++;
		break;
	case 'G': case 'g':
		shift = 30;
		end++;
		break;
	}
	/* Check before shifting, so huge values cannot wrap around. */
	if (*end != '\0' || n > (1ULL << 40) >> shift)
		return (-EINVAL);
	n <<= shift;
	*out = n;
	return (0);
}

/* Replace a string setting. */
static int
opts_string(char **field, const char *v)
{
	char	*s = NULL;

	if (v != NULL && (s = strdup(v)) == NULL)
		return (-ENOMEM);
	free(*field);
	*field = s;
	return (0);
}

/*
 * Check a comma-separated list of namespaces and append it to *field
 * (a list of its own).
 */
static int
opts_netns(char **field, const char *v, char *err, size_t errlen)
{
	char	 path[PATH_MAX], *copy, *w, *save = NULL, *joined;
	int	 n = 0;

	if ((copy = strdup(v)) == NULL)
		return (-ENOMEM);
	for (w = strtok_r(copy, ",", &save); w != NULL;
	    w = strtok_r(NULL, ",", &save), n++) {
		if (netns_resolve(w, path, sizeof path) != 0) {
			snprintf(err, errlen, "invalid namespace '%s': give a "
			    "name under " NETNS_RUN_DIR " or an absolute path",
			    w);
			free(copy);
			return (-EINVAL);
		}
	}
	free(copy);
	if (n == 0) {
		snprintf(err, errlen, "invalid namespace '%s': empty", v);
		return (-EINVAL);
	}
	if (*field == NULL)
		return (opts_string(field, v));
	if (asprintf(&joined, "%s,%s", *field, v) == -1)
		return (-ENOMEM);
	free(*field);
	*field = joined;
	return (0);
}

/*
 * Set one setting from its text form.  Returns 0, or -errno with a
 * message (without the setting's name) in err.
 */
int
opts_set(struct options *o, const struct optdef *d, const char *v,
    char *err, size_t errlen)
{
	char			*p = (char *)o + d->off;
	unsigned long long	 n;
	char			*end;
	int			 error;
	int			(*check)(const char *, char *, size_t);

	if (opts_unsupported(d)) {
		snprintf(err, errlen, "built without NATS support");
		return (-ENOTSUP);
	}
	if ((check = opts_checker(d)) != NULL &&
	    (error = check(v, err, errlen)) != 0)
		return (error);
	switch (d->type) {
	case OT_FLAG:
		*(bool *)p = true;
		return (0);
	case OT_COUNT:
		(*(int *)p)++;
		return (0);
	case OT_STRING:
		return (opts_string((char **)p, v));
	case OT_PATH:
		if (strcmp(v, "none") == 0)
			return (opts_string((char **)p, NULL));
		if (v[0] != '/') {
			snprintf(err, errlen, "'%s' is not an absolute path "
			    "(or none)", v);
			return (-EINVAL);
		}
		return (opts_string((char **)p, v));
	case OT_NETNS:
		return (opts_netns((char **)p, v, err, errlen));
	case OT_BYTES:
	case OT_UINT:
		if (d->type == OT_BYTES)
			error = opts_bytes(v, &n);
		else {
			errno = 0;
			n = strtoull(v, &end, 10);
			error = (*v < '0' || *v > '9' || errno != 0 ||
			    *end != '\0') ? -EINVAL : 0;
		}
		if (error != 0) {
			snprintf(err, errlen, "'%s' is not a %s", v,
			    d->type == OT_BYTES ? "size (such as 4096, 64K, "
			    "8M)" : "number");
			return (error);
		}
		if (n < d->min || n > d->max) {
			snprintf(err, errlen, "'%s' out of range %lu-%lu", v,
			    d->min, d->max);
			return (-ERANGE);
		}
		*(size_t *)p = (size_t)n;
		return (0);
	case OT_TYPES:
		return (opts_list(v, event_type_parse, EV_TYPES_ALL,
		    (unsigned int *)p, err, errlen));
	case OT_KINDS:
		return (opts_list(v, event_kind_parse, EV_LIVE_KINDS,
		    (unsigned int *)p, err, errlen));
	case OT_MODE:
		errno = 0;
		n = strtoull(v, &end, 8);
		if (*v < '0' || *v > '7' || errno != 0 || *end != '\0' ||
		    n > 07777) {
			snprintf(err, errlen, "'%s' is not an octal mode", v);
			return (-EINVAL);
		}
		*(mode_t *)p = (mode_t)n;
		return (0);
	case OT_POLICY:
		if (strcmp(v, "drop") == 0)
			*(enum sub_policy *)p = SUB_DROP;
		else if (strcmp(v, "disconnect") == 0)
			*(enum sub_policy *)p = SUB_DISCONNECT;
		else {
			snprintf(err, errlen, "'%s' is not drop or disconnect",
			    v);
			return (-EINVAL);
		}
		return (0);
	case OT_SPECIAL:
		break;
	}
	snprintf(err, errlen, "cannot be set here");
	return (-EINVAL);
}

/* Fill o with every default. */
int
opts_defaults(struct options *o, char *err, size_t errlen)
{
	const struct optdef	*d;
	int			 error;

	memset(o, 0, sizeof *o);
	for (d = optdefs; d->name != NULL; d++) {
		if (d->def == NULL || opts_unsupported(d))
			continue;
		if ((error = opts_set(o, d, d->def, err, errlen)) != 0)
			return (error);
	}
	return (0);
}

/* Free the strings of o. */
void
opts_free(struct options *o)
{
	const struct optdef	*d;

	for (d = optdefs; d->name != NULL; d++) {
		if (d->type == OT_STRING || d->type == OT_PATH ||
		    d->type == OT_NETNS) {
			free(*(char **)((char *)o + d->off));
			*(char **)((char *)o + d->off) = NULL;
		}
	}
}

#define OPTS_HELPCOL	34	/* where the descriptions start */
#define OPTS_WIDTH	79

/* Print text from column col on, folded at word boundaries. */
static void
opts_fold(FILE *f, const char *text, int col)
{
	const char	*p = text, *sp;
	int		 at = col, n;

	while (*p != '\0') {
		sp = strchr(p, ' ');
		n = sp != NULL ? (int)(sp - p) : (int)strlen(p);
		if (at > col && at + 1 + n > OPTS_WIDTH) {
			fprintf(f, "\n%*s", col, "");
			at = col;
		} else if (at > col) {
			fputc(' ', f);
			at++;
		}
		fprintf(f, "%.*s", n, p);
		at += n;
		p += n;
		while (*p == ' ')
			p++;
	}
	fputc('\n', f);
}

/* Print the help, generated from the table. */
void
opts_usage(FILE *f)
{
	const struct optdef	*d;
	char			 left[64], text[512];

	fprintf(f, "usage: ctstreamd [options]\n"
	    "Stream the kernel's conntrack and expectation events as JSON "
	    "lines.\n\n");
	for (d = optdefs; d->name != NULL; d++) {
		if (d->short_opt != 0)
			snprintf(left, sizeof left, "-%c, --%s%s%s",
			    d->short_opt, d->name, d->arg ? " " : "",
			    d->arg ? d->arg : "");
		else
			snprintf(left, sizeof left, "    --%s%s%s", d->name,
			    d->arg ? " " : "", d->arg ? d->arg : "");
		if (d->def != NULL && d->type != OT_FLAG)
			snprintf(text, sizeof text, "%s (default: %s)",
			    d->help, d->def);
		else
			snprintf(text, sizeof text, "%s", d->help);
		if (opts_unsupported(d))
			strncat(text, " [not in this build: no NATS support]",
			    sizeof text - strlen(text) - 1);
		if (strlen(left) + 3 > OPTS_HELPCOL)
			fprintf(f, "  %s\n%*s", left, OPTS_HELPCOL, "");
		else
			fprintf(f, "  %-*s ", OPTS_HELPCOL - 3, left);
		opts_fold(f, text, OPTS_HELPCOL);
	}
	fprintf(f, "\nSee ctstreamd(8), ctstreamd.conf(5) and "
	    "ctstreamd-protocol(7).\n");
}

/* Report one message through fn, printf-style. */
static void __attribute__((format(printf, 3, 4)))
opts_report(opts_report_fn fn, void *arg, const char *fmt, ...)
{
	char	msg[640];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fn(arg, msg);
}

/* Report a problem with the value of a setting, saying where it was set. */
static void __attribute__((format(printf, 5, 6)))
opts_complain(const struct options *o, const char *name, opts_report_fn fn,
    void *arg, const char *fmt, ...)
{
	char	about[OPTS_ORIGINLEN], msg[640];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	opts_report(fn, arg, "%s: %s", opts_about(o, opts_find(name), about,
	    sizeof about), msg);
}

/*
 * Check that a low watermark does not exceed its high one; the message
 * is about the one that was set (the low one if both were), and names
 * where the other came from.  Returns whether they are fine.
 */
static bool
opts_check_marks(const struct options *o, const char *low, const char *high,
    opts_report_fn fn, void *arg)
{
	const struct optdef	*lo = opts_find(low), *hi = opts_find(high);
	size_t			 l = *(const size_t *)((const char *)o +
				    lo->off);
	size_t			 h = *(const size_t *)((const char *)o +
				    hi->off);
	char			 w[OPTS_ORIGINLEN];

	if (l <= h)
		return (true);
	if (o->origin[lo - optdefs] != 0 || o->origin[hi - optdefs] == 0)
		opts_complain(o, low, fn, arg, "%zu must not exceed %s (%zu, "
		    "%s)", l, high, h, opts_where(o, hi, w, sizeof w));
	else
		opts_complain(o, high, fn, arg, "%zu must not be below %s "
		    "(%zu, %s)", h, low, l, opts_where(o, lo, w, sizeof w));
	return (false);
}

/* Build getopt_long's tables from the settings table. */
static void
opts_getopt_tables(struct option *lo, char *so, size_t solen)
{
	const struct optdef	*d;
	size_t			 n = 0, s = 0;

	so[s++] = ':';
	for (d = optdefs; d->name != NULL; d++, n++) {
		lo[n].name = d->name;
		lo[n].has_arg = d->arg != NULL ? required_argument :
		    no_argument;
		lo[n].flag = NULL;
		lo[n].val = 256 + (int)n;
		if (d->short_opt != 0 && s + 3 < solen) {
			so[s++] = (char)d->short_opt;
			if (d->arg != NULL)
				so[s++] = ':';
		}
	}
	memset(&lo[n], 0, sizeof lo[n]);
	so[s] = '\0';
}

/* Return the setting for a getopt_long result. */
static const struct optdef *
opts_for(int ch)
{
	const struct optdef	*d;

	for (d = optdefs; d->name != NULL; d++)
		if (ch == d->short_opt || ch == 256 + (int)(d - optdefs))
			return (d);
	return (NULL);
}

/*
 * Report what getopt_long refused in word: an unknown option, or a value
 * given to one that takes none (--stdout=1).
 */
static void
opts_unknown(const char *word, opts_report_fn fn, void *arg)
{
	const struct optdef	*d;
	char			 name[64];
	size_t			 n;

	if (strncmp(word, "--", 2) == 0) {
		n = strcspn(word + 2, "=");
		snprintf(name, sizeof name, "%.*s", (int)n, word + 2);
		if (word[2 + n] == '=' && (d = opts_find(name)) != NULL &&
		    d->arg == NULL) {
			opts_report(fn, arg, "--%s takes no value", name);
			return;
		}
		opts_report(fn, arg, "unknown option '--%s'", name);
		return;
	}
	if (optopt > 0 && optopt < 256 && optopt != '?')
		opts_report(fn, arg, "unknown option '-%c'", optopt);
	else
		opts_report(fn, arg, "unknown option '%s'", word);
}

/*
 * Walk the command line once with getopt_long.  With apply NULL it only
 * checks the syntax and finds -f, -n, --help and --version (which print
 * and exit); otherwise every setting is applied to apply.  Returns the
 * number of errors.
 */
static int
opts_walk(int argc, char **argv, struct opts_cli *cli, struct options *apply,
    opts_report_fn fn, void *arg)
{
	struct option		 lo[OPTS_MAX];
	const struct optdef	*d;
	char			 so[2 * OPTS_MAX], err[OPTS_ERRLEN];
	int			 ch, errors = 0;
	bool			 netns_seen = false;

	opts_getopt_tables(lo, so, sizeof so);
	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		if (ch == ':') {
			opts_report(fn, arg, "%s: missing argument",
			    argv[optind - 1]);
			errors++;
			continue;
		}
		if (ch == '?') {
			opts_unknown(argv[optind - 1], fn, arg);
			errors++;
			continue;
		}
		d = opts_for(ch);
		if (d->type == OT_SPECIAL) {
			if (apply != NULL)
				continue;
			if (strcmp(d->name, "help") == 0) {
				opts_usage(stdout);
				exit(0);
			}
			if (strcmp(d->name, "version") == 0) {
				printf("ctstreamd %s\n", PACKAGE_VERSION);
				exit(0);
			}
			if (strcmp(d->name, "config") == 0) {
				cli->config = optarg;
				cli->config_given = true;
			} else if (strcmp(d->name, "check-config") == 0)
				cli->check = true;
			else {
				opts_report(fn, arg, "--%s: not implemented "
				    "yet", d->name);
				errors++;
			}
			continue;
		}
		/* --netns repeats; the first one replaces the file's list. */
		if (d->type == OT_NETNS && apply != NULL && !netns_seen) {
			free(apply->netns);
			apply->netns = NULL;
		}
		if (d->type == OT_NETNS)
			netns_seen = true;
		if (apply == NULL) {
			struct options	scratch;

			/* Check the value now, on a throw-away copy. */
			memset(&scratch, 0, sizeof scratch);
			if (opts_set(&scratch, d, optarg, err,
			    sizeof err) != 0) {
				opts_report(fn, arg, "--%s: %s", d->name, err);
				errors++;
			}
			opts_free(&scratch);
			continue;
		}
		if (opts_set(apply, d, optarg, err, sizeof err) != 0) {
			opts_report(fn, arg, "--%s: %s", d->name, err);
			errors++;
		} else
			apply->origin[d - optdefs] = OPTS_FROM_CLI;
	}
	if (optind < argc) {
		opts_report(fn, arg, "unexpected argument '%s'", argv[optind]);
		errors++;
	}
	return (errors);
}

/*
 * First look at the command line: syntax, values, -f and -n; --help and
 * --version print and exit.  Returns the number of errors.
 */
int
opts_scan(int argc, char **argv, struct opts_cli *cli, opts_report_fn fn,
    void *arg)
{
	memset(cli, 0, sizeof *cli);
	cli->argc = argc;
	cli->argv = argv;
	cli->config = CTSTREAMD_CONF;
	return (opts_walk(argc, argv, cli, NULL, fn, arg));
}

/*
 * Build the settings: defaults, then the configuration file, then the
 * command line, which wins; then the checks across settings.  Used at
 * startup and on every reload.  Returns 0, OPTS_BAD_CONFIG or
 * OPTS_BAD_USAGE; every problem went to fn.
 */
int
opts_load(const struct opts_cli *cli, struct options *o, opts_report_fn fn,
    void *arg)
{
	struct opts_cli	 tmp = *cli;
	char		 err[OPTS_ERRLEN], w[3][OPTS_ORIGINLEN];
	int		 r, bad = 0;

	if (opts_defaults(o, err, sizeof err) != 0) {
		opts_report(fn, arg, "bad built-in default: %s", err);
		return (OPTS_BAD_USAGE);
	}
	r = conf_load(cli->config, o, fn, arg);
	if (r == -ENOENT && !cli->config_given)
		r = 0;			/* no file at the default path: fine */
	else if (r < 0) {
		opts_report(fn, arg, "cannot read %s: %s", cli->config,
		    strerror(-r));
		r = 1;
	}
	if (r > 0)
		bad = OPTS_BAD_CONFIG;
	if (opts_walk(cli->argc, cli->argv, &tmp, o, fn, arg) != 0)
		return (OPTS_BAD_USAGE);
	/* From here on, every message says where the values were given. */
	if (!o->to_stdout && o->events_socket == NULL &&
	    o->control_socket == NULL) {
		opts_report(fn, arg, "nothing to do: stdout is off (%s), "
		    "events-socket and control-socket are none (%s, %s); give "
		    "--stdout, an --events-socket or a --control-socket",
		    opts_where(o, opts_find("stdout"), w[0], sizeof w[0]),
		    opts_where(o, opts_find("events-socket"), w[1],
		    sizeof w[1]), opts_where(o, opts_find("control-socket"),
		    w[2], sizeof w[2]));
		return (OPTS_BAD_USAGE);
	}
	if (!opts_check_marks(o, "sub-lowat", "sub-hiwat", fn, arg) ||
	    !opts_check_marks(o, "nats-lowat", "nats-hiwat", fn, arg) ||
	    !opts_check_marks(o, "nats-lowat-msgs", "nats-hiwat-msgs", fn,
	    arg))
		return (OPTS_BAD_USAGE);
	/* Users and groups must exist (the default socket group may not). */
	if (o->user != NULL && getpwnam(o->user) == NULL) {
		opts_complain(o, "user", fn, arg, "no user '%s'", o->user);
		bad = OPTS_BAD_USAGE;
	}
	if (o->socket_owner != NULL && getpwnam(o->socket_owner) == NULL) {
		opts_complain(o, "socket-owner", fn, arg, "no user '%s'",
		    o->socket_owner);
		bad = OPTS_BAD_USAGE;
	}
	if (o->admin_group != NULL && getgrnam(o->admin_group) == NULL) {
		opts_complain(o, "admin-group", fn, arg, "no group '%s'",
		    o->admin_group);
		bad = OPTS_BAD_USAGE;
	}
	if (o->socket_group != NULL && getgrnam(o->socket_group) == NULL &&
	    strcmp(o->socket_group, OPTS_SOCKET_GROUP) != 0) {
		opts_complain(o, "socket-group", fn, arg, "no group '%s'",
		    o->socket_group);
		bad = OPTS_BAD_USAGE;
	}
	return (bad);
}

/* The settings a reload (SIGHUP) applies; the rest need a restart. */
static const char *const opts_reload_names[] = {
	"rcvbuf-max", "kernel-proto", "kernel-src", "kernel-dst",
	"resync-delay", "resync-interval", "admin-group", "max-clients",
	"max-line", "sub-hiwat", "sub-lowat", "sub-policy", "debug",
	"nats-hiwat", "nats-lowat", "nats-hiwat-msgs", "nats-lowat-msgs", NULL
};

/* Tell whether a reload applies a setting. */
bool
opts_reloadable(const struct optdef *d)
{
	size_t	i;

	for (i = 0; opts_reload_names[i] != NULL; i++)
		if (strcmp(opts_reload_names[i], d->name) == 0)
			return (true);
	return (false);
}

/* Tell whether two sets of settings differ in one setting. */
bool
opts_differ(const struct options *a, const struct options *b,
    const struct optdef *d)
{
	const char	*pa = (const char *)a + d->off;
	const char	*pb = (const char *)b + d->off;
	const char	*sa, *sb;

	switch (d->type) {
	case OT_FLAG:
		return (*(const bool *)pa != *(const bool *)pb);
	case OT_COUNT:
		return (*(const int *)pa != *(const int *)pb);
	case OT_STRING:
	case OT_PATH:
	case OT_NETNS:
		sa = *(char *const *)pa;
		sb = *(char *const *)pb;
		if (sa == NULL || sb == NULL)
			return (sa != sb);
		return (strcmp(sa, sb) != 0);
	case OT_BYTES:
	case OT_UINT:
		return (*(const size_t *)pa != *(const size_t *)pb);
	case OT_TYPES:
	case OT_KINDS:
		return (*(const unsigned int *)pa != *(const unsigned int *)pb);
	case OT_MODE:
		return (*(const mode_t *)pa != *(const mode_t *)pb);
	case OT_POLICY:
		return (*(const enum sub_policy *)pa !=
		    *(const enum sub_policy *)pb);
	case OT_SPECIAL:
		break;
	}
	return (false);
}
