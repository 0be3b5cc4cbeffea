/*
 * ctstreamctl.c - the command-line client of ctstreamd.
 *
 *   ctstreamctl [-j] [-E path] [-C path] [--netns name] command [args]
 *
 * watch subscribes on the events socket and prints events as they come;
 * the other commands send one request to the control socket and print
 * its answer, in columns for people or, with -j, as the daemon's JSON
 * lines unchanged.  --netns names the namespace a request is for (a
 * filter clause for watch) when the daemon monitors several.  Messages
 * and exit statuses follow conntrack(8): 0 for success, 1 when the
 * operation failed, 2 for a usage error.
 *
 * The options of every command are parsed in one pass (so they may come
 * before or after the command and its operands), then checked against the
 * options the command takes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "names.h"

#define CTL_EVENTS_SOCKET	"/run/ctstreamd/events.sock"
#define CTL_CONTROL_SOCKET	"/run/ctstreamd/control.sock"
#define CTL_MAXGIVEN		1024	/* options on one command line */

volatile sig_atomic_t	ctl_signalled;

/* The options that belong to commands, as bits of a mask. */
enum ctl_opt {
	O_TYPES, O_EVENTS, O_FAMILY, O_PROTO, O_SRC, O_DST, O_SPORT, O_DPORT,
	O_MARK, O_ZONE, O_STATUS, O_STATE, O_FILTER, O_SNAPSHOT, O_EXPECT,
	O_REPLY, O_ID, O_ICMP_TYPE, O_ICMP_CODE, O_ICMP_ID, O_LABEL,
	O_TIMEOUT, O_ALL, O_NETNS,
	O_MAX
};

#define B(o)		(1U << (o))
#define F_FILTER	(B(O_TYPES) | B(O_EVENTS) | B(O_FAMILY) | B(O_PROTO) | \
			 B(O_SRC) | B(O_DST) | B(O_SPORT) | B(O_DPORT) | \
			 B(O_MARK) | B(O_ZONE) | B(O_STATUS) | B(O_STATE) | \
			 B(O_FILTER))
#define F_TABLE		(F_FILTER & ~(B(O_TYPES) | B(O_EVENTS)))
#define F_ICMP		(B(O_ICMP_TYPE) | B(O_ICMP_CODE) | B(O_ICMP_ID))
#define F_ENTRY		(B(O_REPLY) | B(O_ZONE) | B(O_ID) | F_ICMP)
#define F_NS		B(O_NETNS)

/* The filter key of each filter option, NULL for the others. */
static const char *const ctl_filter_keys[O_MAX] = {
	[O_TYPES] = "types", [O_EVENTS] = "events", [O_FAMILY] = "family",
	[O_PROTO] = "proto", [O_SRC] = "src", [O_DST] = "dst",
	[O_SPORT] = "sport", [O_DPORT] = "dport", [O_MARK] = "mark",
	[O_ZONE] = "zone", [O_STATUS] = "status", [O_STATE] = "state",
	[O_NETNS] = "netns",
};

/* Global options have values above the command options. */
enum {
	G_EVENTS_SOCKET = 1000, G_CONTROL_SOCKET, G_JSON, G_HELP, G_VERSION
};

static const struct option ctl_longopts[] = {
	{ "events-socket", required_argument, NULL, G_EVENTS_SOCKET },
	{ "control-socket", required_argument, NULL, G_CONTROL_SOCKET },
	{ "json", no_argument, NULL, G_JSON },
	{ "help", no_argument, NULL, G_HELP },
	{ "version", no_argument, NULL, G_VERSION },
	{ "types", required_argument, NULL, O_TYPES },
	{ "events", required_argument, NULL, O_EVENTS },
	{ "family", required_argument, NULL, O_FAMILY },
	{ "proto", required_argument, NULL, O_PROTO },
	{ "src", required_argument, NULL, O_SRC },
	{ "dst", required_argument, NULL, O_DST },
	{ "sport", required_argument, NULL, O_SPORT },
	{ "dport", required_argument, NULL, O_DPORT },
	{ "mark", required_argument, NULL, O_MARK },
	{ "zone", required_argument, NULL, O_ZONE },
	{ "status", required_argument, NULL, O_STATUS },
	{ "state", required_argument, NULL, O_STATE },
	{ "filter", required_argument, NULL, O_FILTER },
	{ "snapshot", no_argument, NULL, O_SNAPSHOT },
	{ "expect", no_argument, NULL, O_EXPECT },
	{ "reply", no_argument, NULL, O_REPLY },
	{ "id", required_argument, NULL, O_ID },
	{ "icmp-type", required_argument, NULL, O_ICMP_TYPE },
	{ "icmp-code", required_argument, NULL, O_ICMP_CODE },
	{ "icmp-id", required_argument, NULL, O_ICMP_ID },
	{ "label", required_argument, NULL, O_LABEL },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "all", no_argument, NULL, O_ALL },
	{ "netns", required_argument, NULL, O_NETNS },
	{ NULL, 0, NULL, 0 }
};

/* Short options and what they stand for. */
static const struct {
	int	ch;
	int	val;
} ctl_shortopts[] = {
	{ 'E', G_EVENTS_SOCKET }, { 'C', G_CONTROL_SOCKET }, { 'j', G_JSON },
	{ 'h', G_HELP }, { 'V', G_VERSION }, { 't', O_TYPES },
	{ 'e', O_EVENTS }, { 'f', O_FAMILY }, { 'p', O_PROTO },
	{ 's', O_SRC }, { 'd', O_DST }, { 'm', O_MARK }, { 'z', O_ZONE },
	{ 'u', O_STATUS },
};

/* The command line, parsed but not yet checked. */
struct ctl_args {
	struct {
		enum ctl_opt	 opt;
		const char	*val;
	}		 given[CTL_MAXGIVEN];
	size_t		 ngiven;
	unsigned int	 seen;			/* B(opt) of every option */
	const char	*last[O_MAX];		/* last value of each */
	char		**operands;
	int		 noperands;
};

struct ctl_cmd {
	const char	*name;
	int		(*fn)(struct ctl *, struct ctl_args *);
	unsigned int	 opts;			/* the options it takes */
	int		 min, max;		/* operands */
	const char	*operands;		/* for errors */
};

/* Print a message to standard error, prefixed with the program's name. */
void
ctl_warnx(const char *fmt, ...)
{
	va_list	ap;

	fflush(stdout);
	fputs("ctstreamctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Report a usage error about the current command; returns 2. */
static int __attribute__((format(printf, 2, 3)))
ctl_usage_error(struct ctl *ctl, const char *fmt, ...)
{
	char	msg[CTL_ERRLEN * 2];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (ctl->cmd != NULL)
		ctl_warnx("%s: %s", ctl->cmd, msg);
	else
		ctl_warnx("%s", msg);
	return (CTL_EXIT_USAGE);
}

/* Print the help text. */
static void
ctl_help(FILE *fp)
{
	fputs(
"usage: ctstreamctl [-j] [-E path] [-C path] [--netns name] command "
    "[arguments]\n"
"Query and change ctstreamd's view of the conntrack table.\n"
"\n"
"Commands:\n"
"  watch [FILTER] [--snapshot]       print events as they happen\n"
"  get PROTO SRC[:PORT] DST[:PORT] [--reply] [--zone N] [--id N] [--expect]\n"
"  get --id N                        print one entry, of any zone\n"
"  dump [FILTER] [--expect]          print the table\n"
"  stats | diagnose                  counters; the startup self-diagnosis\n"
"  version | ping                    ask the daemon\n"
"  delete PROTO SRC[:PORT] DST[:PORT] [--reply] [--zone N] [--id N] "
    "[--expect]\n"
"  delete --id N                     delete one entry, of any zone\n"
"  update PROTO SRC[:PORT] DST[:PORT] | --id N  --mark N [--label N,...]\n"
"  flush FILTER | --all [--expect]   delete the matching entries\n"
"  create PROTO SRC[:PORT] DST[:PORT] --timeout N [--state S] [--mark N]\n"
"         [--status FLAG,...] [--label N,...] [--zone N]\n"
"\n"
"Global options:\n"
"  -E, --events-socket PATH   default " CTL_EVENTS_SOCKET "\n"
"  -C, --control-socket PATH  default " CTL_CONTROL_SOCKET "\n"
"  -j, --json                 print the daemon's JSON lines unchanged\n"
"  -h, --help, -V, --version\n"
"\n"
"Namespace option (every command but version, ping and help):\n"
"      --netns NAME           the namespace, by the label its lines carry;\n"
"                             needed by get, delete, update, flush and create\n"
"                             when the daemon monitors several; watch takes\n"
"                             a list NAME[,NAME...]\n"
"\n"
"FILTER options (watch, dump, flush):\n"
"  -t, --types ct,expect      -e, --events new,update,destroy (watch)\n"
"  -f, --family ipv4|ipv6     -p, --proto PROTO[,PROTO]\n"
"  -s, --src CIDR             -d, --dst CIDR    (original direction)\n"
"      --sport P|LO-HI            --dport P|LO-HI\n"
"  -m, --mark V[/M]           -z, --zone N\n"
"  -u, --status FLAG[,FLAG]       --state STATE\n"
"      --filter JSON          any filter of ctstreamd-protocol(7), merged\n"
"\n"
"ICMP tuples: --icmp-type T [--icmp-code C] [--icmp-id I].\n"
"IPv6 with a port: [ADDRESS]:PORT.  Exit status: 0 success, 1 failure,\n"
"2 usage error.  See ctstreamctl(1).\n", fp);
}

/* Handle SIGINT and SIGTERM: note it; the read loop returns. */
static void
ctl_on_signal(int sig)
{
	ctl_signalled = sig;
}

/*
 * Flush standard output.  Returns 0, 1 if its reader went away (EPIPE,
 * not an error for a command whose output is cut short by "| head"), or
 * -1 after a message for any other failure.
 */
static int
ctl_flush(void)
{
	struct pollfd	pfd;

	if (fflush(stdout) == 0 && !ferror(stdout))
		return (0);
	/* errno may be that of an earlier write: ask the pipe too. */
	pfd.fd = STDOUT_FILENO;
	pfd.events = 0;
	pfd.revents = 0;
	if (errno == EPIPE || (poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & POLLERR) != 0))
		return (1);
	ctl_warnx("standard output: %s", strerror(errno));
	return (-1);
}

/* Write one line to standard output, as it is. */
static void
ctl_out(const char *s, size_t len)
{
	fwrite(s, 1, len, stdout);
	putchar('\n');
}

/* Print a reply's result unchanged (or re-encoded if it cannot be cut). */
static void
ctl_out_result(const char *raw, json_t *reply)
{
	const char	*p;
	char		*s;
	size_t		 n;

	if ((p = ctl_conn_raw_result(raw, strlen(raw), &n)) != NULL) {
		ctl_out(p, n);
		return;
	}
	s = json_dumps(json_object_get(reply, "result"), JSON_COMPACT |
	    JSON_ENCODE_ANY);
	if (s != NULL)
		ctl_out(s, strlen(s));
	free(s);
}

/* Parse a number operand of an option (at most max); -1 after a message. */
static int
ctl_num(struct ctl *ctl, const char *opt, const char *v,
    unsigned long long max, json_int_t *out)
{
	unsigned long long	n;

	if (v == NULL || ctl_args_u32(v, max, &n) == -1) {
		ctl_usage_error(ctl, "--%s '%s': expected a number from 0 to "
		    "%llu", opt, v != NULL ? v : "", max);
		return (-1);
	}
	*out = (json_int_t)n;
	return (0);
}

/* Start a request object for the daemon's command name. */
static json_t *
ctl_request(const char *name)
{
	return (json_pack("{s:s,s:i}", "cmd", name, "id", 1));
}

/* Start a request of the control socket, for the namespace of --netns. */
static json_t *
ctl_request_ns(struct ctl *ctl, const char *name)
{
	json_t	*req = ctl_request(name);

	if (ctl->netns != NULL)
		json_object_set_new(req, "netns", json_string(ctl->netns));
	return (req);
}

/*
 * Check the --netns of a command that names one namespace with the netns
 * member of its request (every command but watch, whose filter takes a
 * list).  Returns 0 or an exit status after a message.
 */
static int
ctl_netns(struct ctl *ctl, struct ctl_args *a)
{
	size_t	i, n = 0;

	for (i = 0; i < a->ngiven; i++)
		if (a->given[i].opt == O_NETNS)
			n++;
	if (n > 1)
		return (ctl_usage_error(ctl, "--netns: %s takes one namespace",
		    ctl->cmd));
	if (*a->last[O_NETNS] == '\0')
		return (ctl_usage_error(ctl, "--netns: a namespace label is "
		    "needed"));
	ctl->netns = a->last[O_NETNS];
	return (0);
}

/*
 * Build the filter of watch, dump or flush from the filter options; NULL
 * if there is none.  --netns becomes a clause for watch only: dump and
 * flush send it as their netns member.  Returns 0, or an exit status after
 * a message.
 */
static int
ctl_filter(struct ctl *ctl, struct ctl_args *a, bool directed,
    bool netns_clause, json_t **out)
{
	char	 err[CTL_ERRLEN];
	json_t	*f = json_object();
	size_t	 i;

	*out = NULL;
	for (i = 0; i < a->ngiven; i++) {
		if (ctl_filter_keys[a->given[i].opt] == NULL ||
		    (a->given[i].opt == O_NETNS && !netns_clause))
			continue;
		if (ctl_args_filter_add(f, directed,
		    ctl_filter_keys[a->given[i].opt], a->given[i].val, err,
		    sizeof err) == -1)
			goto bad;
	}
	for (i = 0; i < a->ngiven; i++)
		if (a->given[i].opt == O_FILTER &&
		    ctl_args_filter_merge(f, a->given[i].val, err,
		    sizeof err) == -1)
			goto bad;
	if (json_object_size(f) == 0) {
		json_decref(f);
		return (0);
	}
	*out = f;
	return (0);
bad:
	json_decref(f);
	return (ctl_usage_error(ctl, "%s", err));
}

/*
 * Add the members that name one entry: the tuple from the operands (with
 * --reply), --zone and --id.  Returns 0 or an exit status.
 */
static int
ctl_entry(struct ctl *ctl, struct ctl_args *a, json_t *req, bool expect)
{
	struct ctl_icmp	 icmp;
	char		 err[CTL_ERRLEN];
	json_t		*t;
	json_int_t	 n;

	if (a->noperands == 0 && a->last[O_ID] == NULL)
		return (ctl_usage_error(ctl, "give PROTO SRC DST or --id N"));
	if (a->noperands == 0 && expect)
		return (ctl_usage_error(ctl, "an expectation is named by its "
		    "expected tuple: PROTO SRC DST"));
	if (a->noperands == 0 && (a->seen & (B(O_REPLY) | F_ICMP)) != 0)
		return (ctl_usage_error(ctl, "--reply and the ICMP options "
		    "need a tuple: PROTO SRC DST"));
	/* The daemon finds an id in every zone and uses the entry's own. */
	if (a->noperands == 0 && a->last[O_ZONE] != NULL)
		return (ctl_usage_error(ctl, "--zone goes with a tuple: --id "
		    "alone finds the entry in any zone"));
	if (a->noperands > 0) {
		icmp.type = a->last[O_ICMP_TYPE];
		icmp.code = a->last[O_ICMP_CODE];
		icmp.id = a->last[O_ICMP_ID];
		t = ctl_args_tuple(a->operands[0], a->operands[1],
		    a->operands[2], &icmp, err, sizeof err);
		if (t == NULL)
			return (ctl_usage_error(ctl, "%s", err));
		json_object_set_new(req, "tuple", t);
		if ((a->seen & B(O_REPLY)) != 0)
			json_object_set_new(req, "dir", json_string("reply"));
	}
	if (expect)
		json_object_set_new(req, "type", json_string("expect"));
	if (a->last[O_ZONE] != NULL) {
		if (ctl_num(ctl, "zone", a->last[O_ZONE], 65535, &n) == -1)
			return (CTL_EXIT_USAGE);
		json_object_set_new(req, "zone", json_integer(n));
	}
	if (a->last[O_ID] != NULL) {
		if (ctl_num(ctl, "id", a->last[O_ID], UINT32_MAX, &n) == -1)
			return (CTL_EXIT_USAGE);
		json_object_set_new(req, expect ? "exp_id" : "ct_id",
		    json_integer(n));
	}
	return (0);
}

/* What a not_found error means for a command naming one entry. */
static const char *
ctl_notfound(struct ctl_args *a, bool expect, char *buf, size_t len)
{
	if (expect)
		return ("such expectation doesn't exist");
	if (a->noperands == 0) {
		snprintf(buf, len, "no conntrack with id %s", a->last[O_ID]);
		return (buf);
	}
	return ("such conntrack doesn't exist");
}

/* The state of a watch. */
struct ctl_watch {
	struct ctl	*ctl;
	bool		 subscribed;
	bool		 filtered;
	json_t		*netns;		/* the filter's netns clause */
	unsigned long	 shown;
};

/*
 * Tell whether a line names a namespace that the filter's netns clause
 * leaves out: the daemon sends overrun and namespace lines, and resync
 * destroy lines, whatever the filter says.
 */
static bool
ctl_watch_other_ns(struct ctl_watch *w, json_t *v)
{
	const char	*ns = json_string_value(json_object_get(v, "netns"));
	json_t		*e;
	size_t		 i;

	if (ns == NULL || w->netns == NULL)
		return (false);
	if (json_is_string(w->netns))
		return (strcmp(json_string_value(w->netns), ns) != 0);
	json_array_foreach(w->netns, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), ns) == 0)
			return (false);
	return (true);
}

/*
 * Handle one line of the events socket.  Returns 0 to go on, or an exit
 * status to stop with.
 */
static int
ctl_watch_line(struct ctl_watch *w, char *line, size_t len)
{
	struct ctl	*ctl = w->ctl;
	json_t		*v = ctl_conn_parse(line, len), *e;
	const char	*type = json_string_value(json_object_get(v, "type"));
	int		 r = 0;

	if (type == NULL)
		type = "";
	if (strcmp(type, "reply") == 0) {
		/* The answer to subscribe; nothing else is asked. */
		if (!w->subscribed) {
			if ((r = ctl_conn_error(ctl, v, NULL)) == 0)
				w->subscribed = true;
		}
		json_decref(v);
		return (r);
	}
	if (strcmp(type, "error") == 0) {
		e = json_object_get(v, "error");
		ctl_warnx("watch: the daemon ended the connection: %s",
		    json_is_string(json_object_get(e, "message")) ?
		    json_string_value(json_object_get(e, "message")) :
		    "unknown error");
		json_decref(v);
		return (CTL_EXIT_FAIL);
	}
	/* Before the reply, lines have not been through the filter. */
	if (!w->subscribed && w->filtered) {
		json_decref(v);
		return (0);
	}
	if (v == NULL) {
		if (ctl->json)
			ctl_out(line, len);
		else
			ctl_warnx("watch: skipped a line that is not a JSON "
			    "object");
		return (0);
	}
	if (ctl_watch_other_ns(w, v)) {
		json_decref(v);
		return (0);
	}
	if (strcmp(type, "ct") == 0 || strcmp(type, "expect") == 0) {
		if (ctl->json)
			ctl_out(line, len);
		else
			ctl_print_entry(stdout, v);
		w->shown++;
	} else if (strcmp(type, "netns") == 0) {
		if (ctl->json)
			ctl_out(line, len);
		else
			ctl_print_netns(stdout, v);
	} else if (strcmp(type, "overrun") == 0 ||
	    strcmp(type, "lost") == 0 || strcmp(type, "nats") == 0) {
		if (ctl->json)
			ctl_out(line, len);
		ctl_print_notice(v);
	} else if (ctl->json)
		ctl_out(line, len);	/* sync, and types of later versions */
	else
		ctl_print_notice(v);
	json_decref(v);
	return (0);
}

/* watch [FILTER] [--snapshot] */
static int
ctl_cmd_watch(struct ctl *ctl, struct ctl_args *a)
{
	struct ctl_watch	 w;
	struct ctl_conn		 c;
	struct sigaction	 sa;
	json_t			*req, *filter;
	char			*line;
	size_t			 len, i;
	bool			 directed = false;
	int			 r;

	/* -s, -d, --sport, --dport: the original direction, unless only
	 * expectations are asked for (they have no direction). */
	for (i = 0; i < a->ngiven; i++)
		if (a->given[i].opt == O_TYPES &&
		    strcmp(a->given[i].val, "expect") != 0)
			directed = true;
	if ((a->seen & B(O_TYPES)) == 0)
		directed = true;
	if ((r = ctl_filter(ctl, a, directed, true, &filter)) != 0)
		return (r);
	memset(&w, 0, sizeof w);
	w.ctl = ctl;
	w.filtered = filter != NULL;
	w.netns = json_incref(json_object_get(filter, "netns"));
	req = ctl_request("subscribe");
	if (filter != NULL)
		json_object_set_new(req, "filter", filter);
	if ((a->seen & B(O_SNAPSHOT)) != 0)
		json_object_set_new(req, "snapshot", json_true());

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ctl_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (ctl_conn_open(&c, ctl->events_path) == -1) {
		json_decref(req);
		json_decref(w.netns);
		return (CTL_EXIT_FAIL);
	}
	if (ctl_conn_send(&c, req) == -1) {
		ctl_conn_close(&c);
		json_decref(w.netns);
		return (CTL_EXIT_FAIL);
	}
	for (;;) {
		/* Flush before waiting, not after every line. */
		if (c.end == c.start || memchr(c.buf + c.start, '\n',
		    c.end - c.start) == NULL) {
			if ((r = ctl_flush()) != 0) {
				r = r > 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
				break;
			}
		}
		switch (ctl_conn_getline(&c, true, &line, &len)) {
		case CTL_READ_LINE:
			if ((r = ctl_watch_line(&w, line, len)) != 0)
				goto out;
			continue;
		case CTL_READ_EOF:
			ctl_flush();
			ctl_warnx("watch: the daemon closed the connection");
			r = CTL_EXIT_FAIL;
			break;
		case CTL_READ_SIGNAL:
			if ((r = ctl_flush()) != 0) {
				r = r > 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
				break;
			}
			ctl_warnx("%lu flow events have been shown.",
			    w.shown);
			r = CTL_EXIT_OK;
			break;
		case CTL_READ_OUTGONE:
			r = CTL_EXIT_OK;
			break;
		default:
			r = CTL_EXIT_FAIL;
			break;
		}
		break;
	}
out:
	ctl_conn_close(&c);
	json_decref(w.netns);
	return (r);
}

/* The state of a dump. */
struct ctl_dump {
	struct ctl	*ctl;
	unsigned long	 shown;
};

/* One line of a dump: print it.  Returns 0 or the exit status. */
static int
ctl_dump_line(void *arg, const char *line, size_t len, json_t *v)
{
	struct ctl_dump	*d = arg;
	const char	*type = json_string_value(json_object_get(v, "type"));
	int		 r;

	if (type != NULL && (strcmp(type, "ct") == 0 ||
	    strcmp(type, "expect") == 0)) {
		if (d->ctl->json)
			ctl_out(line, len);
		else
			ctl_print_entry(stdout, v);
		d->shown++;
	} else if (d->ctl->json)
		ctl_out(line, len);
	else if (v == NULL)
		ctl_warnx("dump: skipped a line that is not a JSON object");
	/* A reader that went away ends the dump, quietly. */
	if (ferror(stdout) && (r = ctl_flush()) != 0)
		return (r > 0 ? CTL_STOP_OUTGONE : CTL_EXIT_FAIL);
	return (0);
}

/* dump [FILTER] [--expect] */
static int
ctl_cmd_dump(struct ctl *ctl, struct ctl_args *a)
{
	struct ctl_dump	 d;
	bool		 expect = (a->seen & B(O_EXPECT)) != 0;
	json_t		*req, *filter, *reply;
	char		*raw;
	int		 r;

	if ((r = ctl_filter(ctl, a, !expect, false, &filter)) != 0)
		return (r);
	req = ctl_request_ns(ctl, "dump");
	json_object_set_new(req, "table", json_string(expect ? "expect" :
	    "ct"));
	if (filter != NULL)
		json_object_set_new(req, "filter", filter);
	memset(&d, 0, sizeof d);
	d.ctl = ctl;
	r = ctl_conn_call(ctl, ctl->control_path, req, ctl_dump_line, &d,
	    &reply, &raw);
	if (r == CTL_STOP_OUTGONE)
		return (CTL_EXIT_OK);
	if (r != 0)
		return (r);
	if ((r = ctl_conn_error(ctl, reply, NULL)) == 0) {
		if ((r = ctl_flush()) != 0)
			r = r > 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
		else
			ctl_warnx("%lu %s been shown.", d.shown, expect ?
			    "expectations have" : "flow entries have");
	}
	json_decref(reply);
	free(raw);
	return (r);
}

/*
 * Send req to the control socket and check the reply.  Returns 0 with
 * the reply and its line (the caller's), or an exit status.
 */
static int
ctl_simple(struct ctl *ctl, json_t *req, const char *notfound,
    json_t **reply, char **raw)
{
	int	r;

	if ((r = ctl_conn_call(ctl, ctl->control_path, req, NULL, NULL,
	    reply, raw)) != 0)
		return (r);
	if ((r = ctl_conn_error(ctl, *reply, notfound)) != 0) {
		json_decref(*reply);
		free(*raw);
		*reply = NULL;
		*raw = NULL;
	}
	return (r);
}

/* get PROTO SRC DST [--reply] [--zone N] [--expect] | get --id N */
static int
ctl_cmd_get(struct ctl *ctl, struct ctl_args *a)
{
	bool	 expect = (a->seen & B(O_EXPECT)) != 0;
	json_t	*req = ctl_request_ns(ctl, "get"), *reply;
	char	*raw, buf[64];
	int	 r;

	if ((r = ctl_entry(ctl, a, req, expect)) != 0) {
		json_decref(req);
		return (r);
	}
	if ((r = ctl_simple(ctl, req, ctl_notfound(a, expect, buf,
	    sizeof buf), &reply, &raw)) != 0)
		return (r);
	if (ctl->json)
		ctl_out_result(raw, reply);
	else
		ctl_print_entry(stdout, json_object_get(reply, "result"));
	if (ctl_flush() == 0)
		ctl_warnx("1 %s been shown.", expect ? "expectations have" :
		    "flow entries have");
	json_decref(reply);
	free(raw);
	return (CTL_EXIT_OK);
}

/* stats */
static int
ctl_cmd_stats(struct ctl *ctl, struct ctl_args *a)
{
	json_t		*reply, *k;
	const char	*e;
	char		*raw;
	int		 r;

	if ((r = ctl_simple(ctl, ctl_request_ns(ctl, "stats"), NULL, &reply,
	    &raw)) != 0)
		return (r);
	if (ctl->json)
		ctl_out_result(raw, reply);
	else
		ctl_print_stats(stdout, json_object_get(reply, "result"),
		    ctl->netns);
	k = json_object_get(json_object_get(reply, "result"), "kernel");
	if ((e = json_string_value(json_object_get(k, "error"))) != NULL)
		ctl_warnx("stats: the kernel's statistics are incomplete: %s",
		    e);
	json_decref(reply);
	free(raw);
	return (CTL_EXIT_OK);
}

/* diagnose */
static int
ctl_cmd_diagnose(struct ctl *ctl, struct ctl_args *a)
{
	json_t	*reply;
	char	*raw;
	int	 r;

	if ((r = ctl_simple(ctl, ctl_request_ns(ctl, "diagnose"), NULL, &reply,
	    &raw)) != 0)
		return (r);
	if (ctl->json)
		ctl_out_result(raw, reply);
	else
		ctl_print_diagnose(stdout, json_object_get(reply, "result"),
		    ctl->netns);
	json_decref(reply);
	free(raw);
	return (CTL_EXIT_OK);
}

/* version: the client's and the daemon's. */
static int
ctl_cmd_version(struct ctl *ctl, struct ctl_args *a)
{
	json_t	*reply, *res;
	char	*raw, b[32];
	int	 r;

	if ((r = ctl_simple(ctl, ctl_request("version"), NULL, &reply,
	    &raw)) != 0)
		return (r);
	res = json_object_get(reply, "result");
	if (ctl->json)
		ctl_out_result(raw, reply);
	else {
		printf("ctstreamctl %s\n", PACKAGE_VERSION);
		snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(res, "schema")));
		printf("ctstreamd %s, schema %s\n",
		    json_is_string(json_object_get(res, "version")) ?
		    json_string_value(json_object_get(res, "version")) : "?",
		    b);
	}
	json_decref(reply);
	free(raw);
	return (CTL_EXIT_OK);
}

/* ping: is the daemon there, and how long does it take to answer? */
static int
ctl_cmd_ping(struct ctl *ctl, struct ctl_args *a)
{
	struct timespec	 t0, t1;
	json_t		*reply, *res;
	char		*raw;
	double		 ms;
	int		 r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((r = ctl_simple(ctl, ctl_request("ping"), NULL, &reply,
	    &raw)) != 0)
		return (r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	res = json_object_get(reply, "result");
	if (ctl->json)
		ctl_out_result(raw, reply);
	else
		printf("pong from %s in %.3f ms, daemon time %s\n",
		    ctl->control_path, ms,
		    json_is_string(json_object_get(res, "time")) ?
		    json_string_value(json_object_get(res, "time")) : "?");
	json_decref(reply);
	free(raw);
	return (CTL_EXIT_OK);
}

/* Print a change's result: JSON, or conntrack's count line. */
static void
ctl_changed(struct ctl *ctl, const char *raw, json_t *reply,
    const char *what)
{
	if (ctl->json)
		ctl_out_result(raw, reply);
	if (ctl_flush() == 0)
		ctl_warnx("%s", what);
}

/* delete PROTO SRC DST [--reply] [--zone N] [--expect] | delete --id N */
static int
ctl_cmd_delete(struct ctl *ctl, struct ctl_args *a)
{
	bool	 expect = (a->seen & B(O_EXPECT)) != 0;
	json_t	*req = ctl_request_ns(ctl, "delete"), *reply;
	char	*raw, buf[64];
	int	 r;

	if ((r = ctl_entry(ctl, a, req, expect)) != 0) {
		json_decref(req);
		return (r);
	}
	if ((r = ctl_simple(ctl, req, ctl_notfound(a, expect, buf,
	    sizeof buf), &reply, &raw)) != 0)
		return (r);
	ctl_changed(ctl, raw, reply, expect ?
	    "1 expectations have been deleted." :
	    "1 flow entries have been deleted.");
	json_decref(reply);
	free(raw);
	return (CTL_EXIT_OK);
}

/* update PROTO SRC DST | --id N, --mark N and/or --label N,... */
static int
ctl_cmd_update(struct ctl *ctl, struct ctl_args *a)
{
	json_t		*req = ctl_request_ns(ctl, "update"), *reply, *labels;
	char		*raw, buf[64], err[CTL_ERRLEN];
	json_int_t	 n;
	size_t		 i;
	int		 r;

	if ((a->seen & (B(O_MARK) | B(O_LABEL))) == 0) {
		json_decref(req);
		return (ctl_usage_error(ctl, "give --mark and/or --label"));
	}
	if ((r = ctl_entry(ctl, a, req, false)) != 0)
		goto fail;
	if (a->last[O_MARK] != NULL) {
		if (ctl_num(ctl, "mark", a->last[O_MARK], UINT32_MAX,
		    &n) == -1) {
			r = CTL_EXIT_USAGE;
			goto fail;
		}
		json_object_set_new(req, "mark", json_integer(n));
	}
	if ((a->seen & B(O_LABEL)) != 0) {
		labels = json_array();
		json_object_set_new(req, "labels", labels);
		for (i = 0; i < a->ngiven; i++)
			if (a->given[i].opt == O_LABEL &&
			    ctl_args_labels(labels, a->given[i].val, err,
			    sizeof err) == -1) {
				r = ctl_usage_error(ctl, "%s", err);
				goto fail;
			}
	}
	if ((r = ctl_simple(ctl, req, ctl_notfound(a, false, buf,
	    sizeof buf), &reply, &raw)) != 0)
		return (r);
	ctl_changed(ctl, raw, reply, "1 flow entries have been updated.");
	json_decref(reply);
	free(raw);
	return (CTL_EXIT_OK);
fail:
	json_decref(req);
	return (r);
}

/* flush FILTER [--expect] | flush --all [--expect] */
static int
ctl_cmd_flush(struct ctl *ctl, struct ctl_args *a)
{
	bool		 expect = (a->seen & B(O_EXPECT)) != 0;
	bool		 all = (a->seen & B(O_ALL)) != 0;
	json_t		*req, *filter, *reply, *res;
	json_int_t	 deleted, gone, failed;
	char		*raw;
	int		 r;

	if ((r = ctl_filter(ctl, a, !expect, false, &filter)) != 0)
		return (r);
	if (filter == NULL && !all)
		return (ctl_usage_error(ctl, "refusing to flush the whole "
		    "table without --all (or give a filter)"));
	if (filter != NULL && all) {
		json_decref(filter);
		return (ctl_usage_error(ctl, "give either a filter or --all, "
		    "not both"));
	}
	req = ctl_request_ns(ctl, "flush");
	json_object_set_new(req, "table", json_string(expect ? "expect" :
	    "ct"));
	if (all)
		json_object_set_new(req, "all", json_true());
	else
		json_object_set_new(req, "filter", filter);
	if ((r = ctl_simple(ctl, req, NULL, &reply, &raw)) != 0)
		return (r);
	res = json_object_get(reply, "result");
	if (ctl->json)
		ctl_out_result(raw, reply);
	if (ctl_flush() != 0) {
		json_decref(reply);
		free(raw);
		return (CTL_EXIT_OK);
	}
	if (all) {
		ctl_warnx("%s table has been emptied.", expect ?
		    "expectation" : "connection tracking");
		r = CTL_EXIT_OK;
	} else {
		deleted = json_integer_value(json_object_get(res, "deleted"));
		gone = json_integer_value(json_object_get(res, "gone"));
		failed = json_integer_value(json_object_get(res, "failed"));
		ctl_warnx("%" JSON_INTEGER_FORMAT " %s been deleted.", deleted,
		    expect ? "expectations have" : "flow entries have");
		if (gone > 0)
			ctl_warnx("%" JSON_INTEGER_FORMAT " matching entries "
			    "were gone before their turn.", gone);
		if (failed > 0)
			ctl_warnx("flush: %" JSON_INTEGER_FORMAT " entries "
			    "could not be deleted (see the daemon's log).",
			    failed);
		/* As conntrack -D: nothing deleted is a failure. */
		r = failed > 0 || deleted == 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
	}
	json_decref(reply);
	free(raw);
	return (r);
}

/* create PROTO SRC DST --timeout N [--state S] [--mark N] ... */
static int
ctl_cmd_create(struct ctl *ctl, struct ctl_args *a)
{
	json_t		*req = ctl_request_ns(ctl, "create"), *reply, *arr;
	char		*raw, err[CTL_ERRLEN];
	json_int_t	 n;
	size_t		 i;
	int		 r, p;

	if (a->last[O_TIMEOUT] == NULL) {
		r = ctl_usage_error(ctl, "--timeout SECONDS is needed");
		goto fail;
	}
	if ((r = ctl_entry(ctl, a, req, false)) != 0)
		goto fail;
	r = CTL_EXIT_USAGE;
	if (ctl_num(ctl, "timeout", a->last[O_TIMEOUT], UINT32_MAX,
	    &n) == -1)
		goto fail;
	json_object_set_new(req, "timeout", json_integer(n));
	if (a->last[O_MARK] != NULL) {
		if (ctl_num(ctl, "mark", a->last[O_MARK], UINT32_MAX,
		    &n) == -1)
			goto fail;
		json_object_set_new(req, "mark", json_integer(n));
	}
	if (a->last[O_STATE] != NULL) {
		/* The daemon refuses a state for any other protocol. */
		p = ctl_args_proto(a->operands[0]);
		if (p != IPPROTO_TCP) {
			r = ctl_usage_error(ctl, "--state: can only be set for "
			    "tcp, not %s", a->operands[0]);
			goto fail;
		}
		if (names_state_parse((uint8_t)p, a->last[O_STATE]) < 0) {
			r = ctl_usage_error(ctl, "--state '%s': not a state of "
			    "%s", a->last[O_STATE], a->operands[0]);
			goto fail;
		}
		json_object_set_new(req, "state",
		    json_string(a->last[O_STATE]));
	}
	if ((a->seen & (B(O_STATUS) | B(O_LABEL))) != 0) {
		for (i = 0; i < a->ngiven; i++) {
			if (a->given[i].opt == O_STATUS) {
				if ((arr = json_object_get(req,
				    "status")) == NULL) {
					arr = json_array();
					json_object_set_new(req, "status",
					    arr);
				}
				if (ctl_args_statuses(arr, a->given[i].val,
				    err, sizeof err) == -1) {
					r = ctl_usage_error(ctl, "%s", err);
					goto fail;
				}
			} else if (a->given[i].opt == O_LABEL) {
				if ((arr = json_object_get(req,
				    "labels")) == NULL) {
					arr = json_array();
					json_object_set_new(req, "labels",
					    arr);
				}
				if (ctl_args_labels(arr, a->given[i].val,
				    err, sizeof err) == -1) {
					r = ctl_usage_error(ctl, "%s", err);
					goto fail;
				}
			}
		}
	}
	if ((r = ctl_simple(ctl, req, NULL, &reply, &raw)) != 0)
		return (r);
	ctl_changed(ctl, raw, reply, "1 flow entries have been created.");
	json_decref(reply);
	free(raw);
	return (CTL_EXIT_OK);
fail:
	json_decref(req);
	return (r);
}

/* help: the same as -h. */
static int
ctl_cmd_help(struct ctl *ctl, struct ctl_args *a)
{
	ctl_help(stdout);
	return (CTL_EXIT_OK);
}

static const struct ctl_cmd ctl_cmds[] = {
	{ "watch", ctl_cmd_watch, F_FILTER | F_NS | B(O_SNAPSHOT), 0, 0,
	    "" },
	{ "get", ctl_cmd_get, F_ENTRY | F_NS | B(O_EXPECT), 0, 3,
	    "PROTO SRC[:PORT] DST[:PORT]" },
	{ "dump", ctl_cmd_dump, F_TABLE | F_NS | B(O_EXPECT), 0, 0, "" },
	{ "stats", ctl_cmd_stats, F_NS, 0, 0, "" },
	{ "diagnose", ctl_cmd_diagnose, F_NS, 0, 0, "" },
	{ "version", ctl_cmd_version, 0, 0, 0, "" },
	{ "ping", ctl_cmd_ping, 0, 0, 0, "" },
	{ "delete", ctl_cmd_delete, F_ENTRY | F_NS | B(O_EXPECT), 0, 3,
	    "PROTO SRC[:PORT] DST[:PORT]" },
	{ "update", ctl_cmd_update, F_ENTRY | F_NS | B(O_MARK) | B(O_LABEL),
	    0, 3, "PROTO SRC[:PORT] DST[:PORT]" },
	{ "flush", ctl_cmd_flush, F_TABLE | F_NS | B(O_EXPECT) | B(O_ALL), 0,
	    0, "" },
	{ "create", ctl_cmd_create, F_ICMP | F_NS | B(O_ZONE) |
	    B(O_TIMEOUT) | B(O_STATE) | B(O_MARK) | B(O_LABEL) | B(O_STATUS),
	    3, 3, "PROTO SRC[:PORT] DST[:PORT]" },
	{ "help", ctl_cmd_help, 0, 0, 0, "" },
};

/* Return the spelling of a command option, for messages. */
static const char *
ctl_optname(enum ctl_opt o)
{
	const struct option	*lo;

	for (lo = ctl_longopts; lo->name != NULL; lo++)
		if (lo->val == (int)o)
			return (lo->name);
	return ("?");
}

/* Map a short option to its value in ctl_longopts; -1 if unknown. */
static int
ctl_short(int ch)
{
	size_t	i;

	for (i = 0; i < sizeof ctl_shortopts / sizeof ctl_shortopts[0]; i++)
		if (ctl_shortopts[i].ch == ch)
			return (ctl_shortopts[i].val);
	return (-1);
}

/* Parse and run a command line. */
int
main(int argc, char *argv[])
{
	static const char	 shortopts[] = ":E:C:jhVt:e:f:p:s:d:m:z:u:";
	static struct ctl_args	 a;
	const struct ctl_cmd	*cmd = NULL;
	struct ctl		 ctl;
	size_t			 i;
	int			 ch, val, r, fd;

	/* A socket must never become standard output or error. */
	while ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	signal(SIGPIPE, SIG_IGN);
	memset(&ctl, 0, sizeof ctl);
	ctl.events_path = CTL_EVENTS_SOCKET;
	ctl.control_path = CTL_CONTROL_SOCKET;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, ctl_longopts,
	    NULL)) != -1) {
		if (ch == ':' || ch == '?') {
			/* A long option is named as written, a short one by
			 * its letter (it may be grouped with others). */
			if (strncmp(argv[optind - 1], "--", 2) == 0)
				return (ctl_usage_error(&ctl, "%s option '%s'",
				    ch == ':' ? "a value is needed for" :
				    "unknown, ambiguous or misused",
				    argv[optind - 1]));
			return (ctl_usage_error(&ctl, "%s option '-%c'",
			    ch == ':' ? "a value is needed for" : "unknown",
			    optopt));
		}
		if (ch < O_MAX || ch >= G_EVENTS_SOCKET)
			val = ch;
		else if ((val = ctl_short(ch)) == -1)
			return (ctl_usage_error(&ctl, "unknown option '-%c'",
			    ch));
		switch (val) {
		case G_EVENTS_SOCKET:
			ctl.events_path = optarg;
			break;
		case G_CONTROL_SOCKET:
			ctl.control_path = optarg;
			break;
		case G_JSON:
			ctl.json = true;
			break;
		case G_HELP:
			ctl_help(stdout);
			return (ctl_flush() < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK);
		case G_VERSION:
			printf("ctstreamctl %s\n", PACKAGE_VERSION);
			return (ctl_flush() < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK);
		default:
			if (a.ngiven == CTL_MAXGIVEN)
				return (ctl_usage_error(&ctl, "too many "
				    "options"));
			a.given[a.ngiven].opt = (enum ctl_opt)val;
			a.given[a.ngiven++].val = optarg;
			a.seen |= B(val);
			a.last[val] = optarg != NULL ? optarg : "";
			break;
		}
	}
	if (optind >= argc)
		return (ctl_usage_error(&ctl, "no command given (try "
		    "'ctstreamctl -h')"));
	for (i = 0; i < sizeof ctl_cmds / sizeof ctl_cmds[0]; i++)
		if (strcmp(ctl_cmds[i].name, argv[optind]) == 0)
			cmd = &ctl_cmds[i];
	if (cmd == NULL)
		return (ctl_usage_error(&ctl, "unknown command '%s' (try "
		    "'ctstreamctl -h')", argv[optind]));
	ctl.cmd = cmd->name;
	a.operands = argv + optind + 1;
	a.noperands = argc - optind - 1;
	for (i = 0; i < O_MAX; i++)
		if ((a.seen & B(i)) != 0 && (cmd->opts & B(i)) == 0)
			return (ctl_usage_error(&ctl, "option --%s does not "
			    "apply to %s", ctl_optname((enum ctl_opt)i),
			    cmd->name));
	if (a.noperands > cmd->max)
		return (ctl_usage_error(&ctl, "unexpected argument '%s'",
		    a.operands[cmd->max]));
	if (a.noperands < cmd->min ||
	    (a.noperands > 0 && a.noperands < cmd->max))
		return (ctl_usage_error(&ctl, "expected %s", cmd->operands));
	if ((a.seen & B(O_NETNS)) != 0 && cmd->fn != ctl_cmd_watch &&
	    (r = ctl_netns(&ctl, &a)) != 0)
		return (r);

	r = cmd->fn(&ctl, &a);
	if (ctl_flush() < 0 && r == CTL_EXIT_OK)
		r = CTL_EXIT_FAIL;
	return (r);
}
