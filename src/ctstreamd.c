/*
 * ctstreamd.c - main: options, start the modules in order, run the loop,
 * stop them in reverse.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "diag.h"
#include "encode.h"
#include "event.h"
#include "fanout.h"
#include "log.h"
#include "netns.h"
#include "nl.h"
#include "stream.h"

#define CTSTREAMD_RCVBUF_DEFAULT	(8 * 1024 * 1024)
#define CTSTREAMD_DRAIN_SECS		2

struct options {
	bool		 to_stdout;
	const char	*netns;
	char		 netns_path[PATH_MAX];
	unsigned int	 types;
	unsigned int	 kinds;
	int		 debug;
	bool		 enable_acct;
	bool		 enable_timestamp;
	int		 rcvbuf;
	const char	*labelmap;
};

struct daemon {
	struct options	 opt;
	struct event_base *base;
	struct fanout	*fo;
	struct encoder	*enc;
	struct stream	*stream;
	struct nlsrc	*src;
	struct sub	*out;
	int		 stdout_flags;	/* to restore; -1 if untouched */
	struct event	*sigs[3];
	int		 exit_status;
};

enum {
	OPT_STDOUT = 256,
	OPT_NETNS,
	OPT_EVENTS,
	OPT_TYPES,
	OPT_EVENTS_SOCKET,
	OPT_CONTROL_SOCKET,
	OPT_USER,
	OPT_ENABLE_ACCT,
	OPT_ENABLE_TIMESTAMP,
	OPT_RCVBUF,
	OPT_LABELMAP,
};

static const struct option longopts[] = {
	{ "stdout", no_argument, NULL, OPT_STDOUT },
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "events", required_argument, NULL, OPT_EVENTS },
	{ "types", required_argument, NULL, OPT_TYPES },
	{ "enable-acct", no_argument, NULL, OPT_ENABLE_ACCT },
	{ "enable-timestamp", no_argument, NULL, OPT_ENABLE_TIMESTAMP },
	{ "rcvbuf", required_argument, NULL, OPT_RCVBUF },
	{ "labelmap", required_argument, NULL, OPT_LABELMAP },
	{ "debug", no_argument, NULL, 'd' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ "config", required_argument, NULL, 'f' },
	{ "check-config", no_argument, NULL, 'n' },
	{ "events-socket", required_argument, NULL, OPT_EVENTS_SOCKET },
	{ "control-socket", required_argument, NULL, OPT_CONTROL_SOCKET },
	{ "user", required_argument, NULL, OPT_USER },
	{ NULL, 0, NULL, 0 }
};

/* Print the usage summary. */
static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ctstreamd [options]\n"
	    "Stream the kernel's conntrack and expectation events as JSON lines.\n"
	    "\n"
	    "  --stdout                write events to standard output\n"
	    "  --netns NAME|PATH       monitor this network namespace\n"
	    "  --events LIST           new,update,destroy (default: all)\n"
	    "  --types LIST            ct,expect (default: all)\n"
	    "  --enable-acct           turn on nf_conntrack_acct (counters)\n"
	    "  --enable-timestamp      turn on nf_conntrack_timestamp\n"
	    "  --rcvbuf BYTES          event socket receive buffer (default %d)\n"
	    "  --labelmap FILE         connlabel.conf for label names\n"
	    "  -d, --debug             log debugging messages\n"
	    "  -V, --version           print the version and exit\n"
	    "  -h, --help              print this help and exit\n"
	    "\n"
	    "See ctstreamd(8) and ctstreamd-protocol(7).\n",
	    CTSTREAMD_RCVBUF_DEFAULT);
}

/* Report a command line error and exit 2. */
static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list	ap;

	fputs("ctstreamd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see ctstreamd --help)\n", stderr);
	exit(2);
}

/*
 * Parse a comma-separated list of names into a bit mask with parse();
 * "all" means every bit of all.  Exits 2 naming the bad word.
 */
static unsigned int
parse_list(const char *opt, const char *arg, int (*parse)(const char *),
    unsigned int all, unsigned int allowed)
{
	char		*copy, *word, *save = NULL;
	unsigned int	 mask = 0;
	int		 v;

	if ((copy = strdup(arg)) == NULL)
		fatal("strdup");
	for (word = strtok_r(copy, ",", &save); word != NULL;
	    word = strtok_r(NULL, ",", &save)) {
		if (strcmp(word, "all") == 0) {
			mask |= all;
			continue;
		}
		v = parse(word);
		if (v < 0 || ((1U << v) & allowed) == 0)
			usage_error("%s: unknown value '%s'", opt, word);
		mask |= 1U << v;
	}
	free(copy);
	if (mask == 0)
		usage_error("%s: empty list", opt);
	return (mask);
}

/* Parse a byte count with an optional K, M or G suffix. */
static int
parse_bytes(const char *opt, const char *arg)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || arg[0] == '-')
		usage_error("%s: not a size: '%s'", opt, arg);
	switch (*end) {
	case 'G': case 'g':
		v *= 1024;
		/* FALLTHROUGH */
	case 'M': case 'm':
		v *= 1024;
		/* FALLTHROUGH */
	case 'K': case 'k':
		v *= 1024;
		end++;
		break;
	}
	if (*end != '\0' || v > INT_MAX)
		usage_error("%s: not a size (at most 2G): '%s'", opt, arg);
	return ((int)v);
}

/* Return "--name" (or "-c") of an option, for messages. */
static const char *
option_name(int ch)
{
	static char	 buf[64];
	size_t		 i;

	for (i = 0; longopts[i].name != NULL; i++) {
		if (longopts[i].val == ch) {
			snprintf(buf, sizeof buf, "--%s", longopts[i].name);
			return (buf);
		}
	}
	snprintf(buf, sizeof buf, "-%c", ch);
	return (buf);
}

/* Parse the command line into o; exits on error, --help or --version. */
static void
parse_options(int argc, char **argv, struct options *o)
{
	int	ch;

	memset(o, 0, sizeof *o);
	o->types = EV_TYPES_ALL;
	o->kinds = EV_LIVE_KINDS;
	o->rcvbuf = CTSTREAMD_RCVBUF_DEFAULT;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":dVhf:n", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_STDOUT:
			o->to_stdout = true;
			break;
		case OPT_NETNS:
			if (o->netns != NULL)
				usage_error("--netns: only one namespace is "
				    "supported so far");
			if (netns_resolve(optarg, o->netns_path,
			    sizeof o->netns_path) != 0)
				usage_error("--netns: invalid namespace '%s': "
				    "give a name under " NETNS_RUN_DIR " or an "
				    "absolute path", optarg);
			o->netns = optarg;
			break;
		case OPT_EVENTS:
			o->kinds = parse_list("--events", optarg,
			    event_kind_parse, EV_LIVE_KINDS, EV_LIVE_KINDS);
			break;
		case OPT_TYPES:
			o->types = parse_list("--types", optarg,
			    event_type_parse, EV_TYPES_ALL, EV_TYPES_ALL);
			break;
		case OPT_ENABLE_ACCT:
			o->enable_acct = true;
			break;
		case OPT_ENABLE_TIMESTAMP:
			o->enable_timestamp = true;
			break;
		case OPT_RCVBUF:
			o->rcvbuf = parse_bytes("--rcvbuf", optarg);
			break;
		case OPT_LABELMAP:
			o->labelmap = optarg;
			break;
		case 'd':
			o->debug++;
			break;
		case 'V':
			printf("ctstreamd %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		case 'f':
		case 'n':
		case OPT_EVENTS_SOCKET:
		case OPT_CONTROL_SOCKET:
		case OPT_USER:
			usage_error("%s: not implemented yet", option_name(ch));
		case ':':
			usage_error("%s: missing argument", argv[optind - 1]);
		default:
			if (optopt != 0)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->to_stdout)
		usage_error("no output: give --stdout");
}

/* Write the names of the bits set in mask, comma-separated, into buf. */
static const char *
format_list(char *buf, size_t len, unsigned int mask,
    const char *(*name)(unsigned int))
{
	unsigned int	bit;
	size_t		off = 0;

	buf[0] = '\0';
	for (bit = 0; bit < 32; bit++) {
		if ((mask & (1U << bit)) == 0)
			continue;
		off += snprintf(buf + off, len - off, "%s%s", off ? "," : "",
		    name(bit));
		if (off >= len)
			break;
	}
	return (buf);
}

/* Event source callback: one message. */
static void
daemon_nl_msg(void *arg, struct nlsrc *src, const struct nlmsghdr *nlh,
    const struct timespec *when)
{
	struct daemon	*d = arg;

	stream_msg(d->stream, NULL, nlh, when);
}

/* Event source callback: the kernel dropped messages. */
static void
daemon_nl_overrun(void *arg, struct nlsrc *src, uint64_t lost)
{
	struct daemon	*d = arg;

	log_warnx("%s: event socket overrun: the kernel dropped %llu "
	    "messages", nlsrc_name(src), (unsigned long long)lost);
	stream_overrun(d->stream, NULL, lost);
}

/* Event source callback: end of a batch. */
static void
daemon_nl_batch_end(void *arg, struct nlsrc *src)
{
	struct daemon	*d = arg;

	stream_flush(d->stream);
}

static const struct nlsrc_ops daemon_nl_ops = {
	daemon_nl_msg,
	daemon_nl_overrun,
	daemon_nl_batch_end,
};

/* stdout cannot be written any more. */
static void
daemon_stdout_fail(struct sub *s, int error, void *arg)
{
	struct daemon	*d = arg;

	if (error == -EPIPE)
		log_info("standard output closed, exiting");
	else if (error == SUB_FAIL_SLOW)
		log_warnx("standard output too slow, exiting");
	else
		log_warnx("standard output: %s, exiting", strerror(-error));
	d->exit_status = error == -EPIPE ? 0 : 1;
	fanout_sub_free(d->out);
	d->out = NULL;
	event_base_loopbreak(d->base);
}

/* SIGTERM, SIGINT: stop the loop. */
static void
daemon_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon	*d = arg;

	log_info("signal %d received, exiting", (int)sig);
	event_base_loopbreak(d->base);
}

/*
 * Open the namespace, check what the stream will lack, apply the sysctls
 * asked for, and open the event socket there.
 */
static void
daemon_open_source(struct daemon *d)
{
	struct options	*o = &d->opt;
	struct diag	 dg;
	const char	*path;
	const char	*label = o->netns != NULL ? o->netns : "host";
	char		 types[64], kinds[64];
	int		 nsfd = -1, self = -1, error;

	if (o->netns != NULL) {
		path = o->netns_path;
		if ((nsfd = netns_open(path)) < 0) {
			errno = -nsfd;
			if (nsfd == -ENOTSUP)
				fatalx("--netns: '%s' (%s) is not a network "
				    "namespace", o->netns, path);
			fatal("--netns: cannot open namespace '%s' (%s)",
			    o->netns, path);
		}
		if ((self = netns_enter(nsfd)) < 0) {
			errno = -self;
			fatal("--netns: cannot enter namespace '%s'", o->netns);
		}
	}
	if (o->enable_acct && (error = diag_sysctl_set(DIAG_ACCT, 1)) != 0) {
		errno = -error;
		log_warn("%s: cannot set " DIAG_ACCT ", ignoring", label);
	}
	if (o->enable_timestamp &&
	    (error = diag_sysctl_set(DIAG_TIMESTAMP, 1)) != 0) {
		errno = -error;
		log_warn("%s: cannot set " DIAG_TIMESTAMP ", ignoring", label);
	}
	diag_collect(&dg);
	if (self != -1 && netns_leave(self) != 0)
		fatal("cannot return to the initial network namespace");
	diag_log(&dg, label);

	error = nlsrc_open(&d->src, d->base, nsfd, label,
	    nl_groups(o->types, o->kinds), o->rcvbuf, &daemon_nl_ops, d);
	if (nsfd != -1)
		close(nsfd);
	if (error != 0) {
		errno = -error;
		if (error == -EPERM)
			fatal("%s: cannot subscribe to conntrack events "
			    "(CAP_NET_ADMIN is needed)", label);
		fatal("%s: cannot open the conntrack event socket", label);
	}
	log_info("monitoring %s: types %s, events %s, receive buffer %d bytes",
	    label, format_list(types, sizeof types, o->types, event_type_name),
	    format_list(kinds, sizeof kinds, o->kinds, event_kind_name),
	    nlsrc_stats(d->src)->rcvbuf);
}

/* Make standard output a non-blocking subscriber. */
static void
daemon_open_stdout(struct daemon *d)
{
	struct sub_opts	 so = { SUB_HIWAT_DEFAULT, SUB_LOWAT_DEFAULT, SUB_DROP };
	int		 fl;

	d->stdout_flags = -1;
	d->out = fanout_sub_new(d->fo, STDOUT_FILENO, &so, daemon_stdout_fail,
	    d);
	if (d->out == NULL)
		fatalx("out of memory");
	if ((fl = fcntl(STDOUT_FILENO, F_GETFL)) != -1 &&
	    (fl & O_NONBLOCK) == 0 &&
	    fcntl(STDOUT_FILENO, F_SETFL, fl | O_NONBLOCK) != -1)
		d->stdout_flags = fl;
}

/* Give subscribers what they can take, for a short while, before exit. */
static void
daemon_drain(struct daemon *d)
{
	time_t	deadline = time(NULL) + CTSTREAMD_DRAIN_SECS;

	stream_flush(d->stream);
	if (d->out == NULL)
		return;
	while (fanout_sub_drain(d->out) > 0 && time(NULL) < deadline)
		usleep(10000);
}

int
main(int argc, char **argv)
{
	struct daemon	 d;
	size_t		 i;
	static const int sigs[] = { SIGTERM, SIGINT };

	memset(&d, 0, sizeof d);
	parse_options(argc, argv, &d.opt);
	log_init(d.opt.debug);
	signal(SIGPIPE, SIG_IGN);

	if ((d.base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	if ((d.enc = encoder_new(d.opt.labelmap)) == NULL ||
	    (d.fo = fanout_new(d.base)) == NULL ||
	    (d.stream = stream_new(d.fo, d.enc)) == NULL)
		fatalx("out of memory");
	daemon_open_source(&d);
	daemon_open_stdout(&d);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		d.sigs[i] = evsignal_new(d.base, sigs[i], daemon_signal, &d);
		if (d.sigs[i] == NULL || evsignal_add(d.sigs[i], NULL) == -1)
			fatalx("cannot install signal handlers");
	}

	if (event_base_dispatch(d.base) == -1)
		fatalx("event loop failed");

	daemon_drain(&d);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (d.sigs[i] != NULL)
			event_free(d.sigs[i]);
	nlsrc_free(d.src);
	if (d.stdout_flags != -1)
		fcntl(STDOUT_FILENO, F_SETFL, d.stdout_flags);
	stream_free(d.stream);
	fanout_free(d.fo);
	encoder_free(d.enc);
	event_base_free(d.base);
	return (d.exit_status);
}
