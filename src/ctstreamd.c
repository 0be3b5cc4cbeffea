/*
 * ctstreamd.c - main: options, start the modules in order, run the loop,
 * stop them in reverse.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ctx.h"
#include "decode.h"
#include "diag.h"
#include "encode.h"
#include "event.h"
#include "fanout.h"
#include "kfilter.h"
#include "log.h"
#include "netns.h"
#include "nl.h"
#include "opts.h"
#include "priv.h"
#include "query.h"
#include "resync.h"
#include "server.h"
#include "stream.h"

#define CTSTREAMD_DRAIN_MS	2000

struct daemon {
	struct options	 opt;
	struct opts_cli	 cli;
	struct ctx	 ctx;
	struct sub	*out;
	struct event	*sigs[3];
	int		 exit_status;
};

/* Startup: print a problem with the settings on stderr. */
static void
report_stderr(void *arg, const char *msg)
{
	fprintf(stderr, "ctstreamd: %s\n", msg);
}

/*
 * Read the settings (defaults, file, command line) and check them; exits
 * 2 on a bad command line, 1 on a bad file, and after -n.
 */
static void
parse_options(int argc, char **argv, struct options *o, struct opts_cli *cli,
    struct kfilter **kfp)
{
	char	err[KFILTER_ERRLEN];
	int	r;

	if (opts_scan(argc, argv, cli, report_stderr, NULL) != 0) {
		fprintf(stderr, "ctstreamd: see ctstreamd --help\n");
		exit(cli->check ? 1 : 2);
	}
	r = opts_load(cli, o, report_stderr, NULL);
	if (r == 0 && kfilter_parse(kfp, o->kernel_proto, o->kernel_src,
	    o->kernel_dst, err, sizeof err) != 0) {
		report_stderr(NULL, err);
		r = OPTS_BAD_USAGE;
	}
	if (r != 0)
		exit(cli->check ? 1 : r);
	if (cli->check) {
		printf("configuration OK\n");
		exit(0);
	}
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

	stream_msg(d->ctx.stream, NULL, nlh, when);
}

/* Event source callback: the kernel dropped messages. */
static void
daemon_nl_overrun(void *arg, struct nlsrc *src, uint64_t lost)
{
	struct daemon	*d = arg;

	log_warnx("%s: event socket overrun: the kernel dropped %llu "
	    "messages", nlsrc_name(src), (unsigned long long)lost);
	stream_overrun(d->ctx.stream, NULL, lost);
	resync_overrun(d->ctx.resync);
}

/* Event source callback: end of a batch. */
static void
daemon_nl_batch_end(void *arg, struct nlsrc *src)
{
	struct daemon	*d = arg;

	stream_flush(d->ctx.stream);
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
		log_info("standard output closed");
	else if (error == SUB_FAIL_SLOW)
		log_warnx("standard output too slow (policy disconnect)");
	else
		log_warnx("standard output: %s", strerror(-error));
	fanout_sub_free(d->out);
	d->out = NULL;
	d->ctx.stdout_sub = NULL;
	if (d->opt.events_socket != NULL || d->opt.control_socket != NULL)
		return;
	/* Nothing else to serve: end like any filter whose reader left. */
	d->exit_status = error == -EPIPE ? 0 : 1;
	event_base_loopbreak(d->ctx.base);
}

/* SIGTERM, SIGINT: stop the loop.  SIGHUP: nothing to reload yet. */
static void
daemon_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon	*d = arg;

	if (sig == SIGHUP) {
		log_info("SIGHUP: there is no configuration to reload in this "
		    "version, ignoring");
		return;
	}
	log_info("signal %d received, exiting", (int)sig);
	event_base_loopbreak(d->ctx.base);
}

/*
 * Open the event and request sockets in the namespace (joining the event
 * groups also loads ctnetlink and conntrack where they are modules), then
 * apply the sysctls asked for and check what the stream will lack.
 */
static void
daemon_open_netns(struct daemon *d)
{
	struct options	*o = &d->opt;
	const char	*label = o->netns != NULL ? o->netns : "host";
	struct nlsrc_opts nopts;
	char		 types[64], kinds[64];
	int		 nsfd = -1, self = -1, error;

	if (o->netns != NULL && (nsfd = netns_open(o->netns_path)) < 0) {
		errno = -nsfd;
		if (nsfd == -ENOTSUP)
			fatalx("--netns: '%s' (%s) is not a network namespace",
			    o->netns, o->netns_path);
		fatal("--netns: cannot open namespace '%s' (%s)", o->netns,
		    o->netns_path);
	}
	nopts.groups = nl_groups(o->types, o->kinds);
	nopts.rcvbuf = (int)o->rcvbuf;
	nopts.rcvbuf_max = (int)o->rcvbuf_max;
	nopts.reliable = o->reliable;
	error = nlsrc_open(&d->ctx.src, d->ctx.base, nsfd, label, &nopts,
	    &daemon_nl_ops, d);
	if (error == 0)
		error = query_open(&d->ctx.query, d->ctx.base, nsfd, label,
		    QUERY_SOCKETS_DEFAULT);
	if (error != 0) {
		errno = -error;
		if (error == -EPERM)
			fatal("%s: cannot subscribe to conntrack events "
			    "(CAP_NET_ADMIN is needed)", label);
		fatal("%s: cannot open the conntrack sockets", label);
	}
	if (d->ctx.kf != NULL) {
		if ((error = kfilter_attach(d->ctx.kf,
		    nlsrc_fd(d->ctx.src))) != 0) {
			errno = -error;
			fatal("%s: cannot attach the kernel filter", label);
		}
		log_info("%s: kernel filter:%s", label,
		    kfilter_describe(d->ctx.kf));
	}

	if (nsfd != -1 && (self = netns_enter(nsfd)) < 0) {
		errno = -self;
		fatal("--netns: cannot enter namespace '%s'", o->netns);
	}
	if (o->set_events_sysctl &&
	    (error = diag_sysctl_set(DIAG_EVENTS, 1)) != 0) {
		errno = -error;
		log_warn("%s: cannot set " DIAG_EVENTS ", ignoring", label);
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
	diag_collect(&d->ctx.diag);
	if (self != -1 && netns_leave(self) != 0)
		fatal("cannot return to the initial network namespace");
	if (nsfd != -1)
		close(nsfd);
	d->ctx.nsname = label;
	diag_log(&d->ctx.diag, label);
	log_info("monitoring %s: types %s, events %s, receive buffer %d bytes%s",
	    label, format_list(types, sizeof types, o->types, event_type_name),
	    format_list(kinds, sizeof kinds, o->kinds, event_kind_name),
	    nlsrc_stats(d->ctx.src)->rcvbuf, o->reliable ? ", reliable" : "");
}

static int	stdout_flags = -1;	/* to restore at exit; -1: untouched */

/* atexit: give standard output back its blocking mode. */
static void
daemon_restore_stdout(void)
{
	if (stdout_flags != -1)
		fcntl(STDOUT_FILENO, F_SETFL, stdout_flags);
}

/* Make standard output a non-blocking subscriber. */
static void
daemon_open_stdout(struct daemon *d)
{
	int	fl;

	if (!d->opt.to_stdout)
		return;
	d->out = fanout_sub_new(d->ctx.fo, STDOUT_FILENO, &d->ctx.subopts,
	    daemon_stdout_fail, d);
	if (d->out == NULL)
		fatalx("out of memory");
	d->ctx.stdout_sub = d->out;
	fanout_sub_set_match(d->out, d->opt.types, d->opt.kinds);
	if ((fl = fcntl(STDOUT_FILENO, F_GETFL)) != -1 &&
	    (fl & O_NONBLOCK) == 0 &&
	    fcntl(STDOUT_FILENO, F_SETFL, fl | O_NONBLOCK) != -1) {
		stdout_flags = fl;
		atexit(daemon_restore_stdout);
	}
}

/* Listen on the events and control sockets. */
static void
daemon_open_sockets(struct daemon *d)
{
	struct options		*o = &d->opt;
	struct listen_opts	 lo;
	struct passwd		*pw;
	struct group		*gr;
	char			 err[256];

	d->ctx.srv = server_new(&d->ctx, (unsigned int)o->max_clients,
	    o->max_line);
	if (d->ctx.srv == NULL)
		fatalx("out of memory");
	if (o->admin_group != NULL) {
		if ((gr = getgrnam(o->admin_group)) == NULL)
			fatalx("--admin-group: no group '%s'", o->admin_group);
		d->ctx.has_admin_gid = true;
		d->ctx.admin_gid = gr->gr_gid;
	}
	lo.mode = o->socket_mode;
	lo.uid = (uid_t)-1;
	lo.gid = (gid_t)-1;
	if (o->socket_owner != NULL) {
		if ((pw = getpwnam(o->socket_owner)) == NULL)
			fatalx("--socket-owner: no user '%s'", o->socket_owner);
		lo.uid = pw->pw_uid;
	}
	if (o->socket_group != NULL) {
		if ((gr = getgrnam(o->socket_group)) != NULL)
			lo.gid = gr->gr_gid;
		else if (strcmp(o->socket_group, "ctstreamd") != 0)
			fatalx("--socket-group: no group '%s'",
			    o->socket_group);
	}
	if ((lo.path = o->events_socket) != NULL) {
		if (server_listen(d->ctx.srv, LISTENER_EVENTS, &lo, err,
		    sizeof err) != 0)
			fatalx("events socket: %s", err);
		log_info("listening for subscribers on %s", lo.path);
	}
	if ((lo.path = o->control_socket) != NULL) {
		if (server_listen(d->ctx.srv, LISTENER_CONTROL, &lo, err,
		    sizeof err) != 0)
			fatalx("control socket: %s", err);
		log_info("listening for requests on %s", lo.path);
	}
}

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Everything privileged is done: become the user, lose the capabilities. */
static void
daemon_drop_privileges(struct daemon *d)
{
	char	err[PRIV_ERRLEN];

	if (priv_drop(d->opt.user, err, sizeof err) != 0)
		fatalx("cannot drop privileges: %s", err);
	if (getuid() == 0)
		log_notice("running as root without capabilities; --user "
		    "would run as an unprivileged user");
	else
		log_info("running as uid %ld, gid %ld, without capabilities",
		    (long)getuid(), (long)getgid());
}

/* Give subscribers what they can take, for a short while, before exit. */
static void
daemon_drain(struct daemon *d)
{
	long long	deadline = now_ms() + CTSTREAMD_DRAIN_MS;

	stream_flush(d->ctx.stream);
	client_drain_all();
	if (d->out == NULL)
		return;
	while (fanout_sub_drain(d->out) > 0 && now_ms() < deadline)
		usleep(10000);
}

int
main(int argc, char **argv)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct daemon	 d;
	struct ctx	*ctx = &d.ctx;
	size_t		 i;

	memset(&d, 0, sizeof d);
	parse_options(argc, argv, &d.opt, &d.cli, &ctx->kf);
	log_init(d.opt.debug);
	signal(SIGPIPE, SIG_IGN);

	ctx->types = d.opt.types;
	ctx->kinds = d.opt.kinds;
	ctx->subopts.hiwat = d.opt.sub_hiwat;
	ctx->subopts.lowat = d.opt.sub_lowat;
	ctx->subopts.policy = d.opt.sub_policy;
	ctx->started = time(NULL);
	if ((ctx->base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	if ((ctx->enc = encoder_new(d.opt.labelmap)) == NULL ||
	    (ctx->fo = fanout_new(ctx->base)) == NULL ||
	    (ctx->stream = stream_new(ctx->fo, ctx->enc)) == NULL ||
	    (ctx->qdec = decoder_new()) == NULL)
		fatalx("out of memory");
	daemon_open_netns(&d);
	if (!d.opt.no_track) {
		struct resync_opts	ro;

		ro.delay_ms = (long long)d.opt.resync_delay;
		ro.interval_s = (long)d.opt.resync_interval;
		if ((ctx->resync = resync_new(ctx, &ro)) == NULL)
			fatalx("out of memory");
		stream_set_observer(ctx->stream, resync_observe, ctx->resync);
	}
	daemon_open_sockets(&d);
	daemon_open_stdout(&d);
	daemon_drop_privileges(&d);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		d.sigs[i] = evsignal_new(ctx->base, sigs[i], daemon_signal, &d);
		if (d.sigs[i] == NULL || evsignal_add(d.sigs[i], NULL) == -1)
			fatalx("cannot install signal handlers");
	}

	if (event_base_dispatch(ctx->base) == -1)
		fatalx("event loop failed");

	daemon_drain(&d);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		event_free(d.sigs[i]);
	client_free_all();
	resync_free(ctx->resync);
	nlsrc_free(ctx->src);
	server_free(ctx->srv);
	query_free(ctx->query);
	stream_free(ctx->stream);
	fanout_free(ctx->fo);
	decoder_free(ctx->qdec);
	encoder_free(ctx->enc);
	event_base_free(ctx->base);
	kfilter_free(ctx->kf);
	opts_free(&d.opt);
	return (d.exit_status);
}
