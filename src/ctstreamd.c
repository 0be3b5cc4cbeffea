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
#include "metrics-http.h"
#include "natsout.h"
#include "netns.h"
#include "nl.h"
#include "nswatch.h"
#include "opts.h"
#include "priv.h"
#include "privsep.h"
#include "query.h"
#include "resync.h"
#include "sd.h"
#include "server.h"
#include "stream.h"

#define CTSTREAMD_DRAIN_MS	2000
#define CTSTREAMD_LINE_MS	1000	/* then to finish a line begun */
#define CTSTREAMD_STATUS_SECS	5

struct daemon {
	struct options	 opt;
	struct opts_cli	 cli;
	struct ctx	 ctx;
	struct sub	*out;
	bool		 adopted[2];	/* by listener kind */
	struct event	*sigs[3];
	struct event	*status_ev;
	struct nswatch	*watch;
	struct metrics_http *metrics;	/* NULL without --metrics-listen */
	int		 exit_status;
};

/*
 * Startup: print a problem with the settings on stderr, one line each;
 * arg set means a command line problem, which points at --help.
 */
static void
report_stderr(void *arg, const char *msg)
{
	fputs("ctstreamd: ", stderr);
	log_puts_safe(msg, stderr);
	fprintf(stderr, "%s\n", arg != NULL ? " (see ctstreamd --help)" : "");
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

	if (opts_scan(argc, argv, cli, report_stderr, "usage") != 0)
		exit(cli->check ? 1 : 2);
	r = opts_load(cli, o, report_stderr, NULL);
	/* The values were checked as they were set: only memory can fail. */
	if (r == 0 && kfilter_parse(kfp, o->kernel_proto, o->kernel_src,
	    o->kernel_dst, err, sizeof err) != 0) {
		report_stderr(NULL, err);
		r = 1;
	}
	if (r != 0)
		exit(cli->check ? 1 : r);
	if (cli->check) {
		printf("configuration OK\n");
		exit(0);
	}
}

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

/* Make the one-line status for systemd. */
static const char *
daemon_status_line(struct daemon *d, char *buf, size_t len)
{
	const struct stream_stats	*ss = stream_stats(d->ctx.stream);
	uint64_t			 ev = 0;
	int				 t, k;

	for (t = 0; t < EV_TYPE_MAX; t++)
		for (k = 0; k < EV_KIND_MAX; k++)
			ev += ss->events[t][k];
	snprintf(buf, len, "%llu events, %u clients, %llu lost in %llu "
	    "overruns", (unsigned long long)ev,
	    server_stats(d->ctx.srv)->clients, (unsigned long long)ss->lost,
	    (unsigned long long)ss->overruns);
	return (buf);
}

/* Timer: refresh systemd's status line. */
static void
daemon_status(evutil_socket_t fd, short what, void *arg)
{
	char	buf[160];

	sd_status(daemon_status_line(arg, buf, sizeof buf));
}

/* The stream's tap: hand every line to the NATS output. */
static void
daemon_nats_tap(void *arg, const char *type, const char *kind,
    const char *line, size_t len)
{
	struct daemon	*d = arg;

	natsout_line(d->ctx.nats, type, kind,
	    stream_stats(d->ctx.stream)->lines, line, len);
}

/*
 * The NATS output could not publish some lines: tell the local
 * subscribers with a "nats" line (unless all it lost were such lines, so
 * that lines about lines cannot feed themselves).
 */
static void
daemon_nats_report(void *arg, const struct natsout_report *r)
{
	struct daemon	*d = arg;

	if (!r->notices_only)
		stream_nats_lost(d->ctx.stream, r->count, r->first_seq,
		    r->last_seq, r->dropped, r->failed);
}

/*
 * Start the NATS output, if asked for: after the privileges are gone
 * (its threads inherit what the process has then) and after the netlink
 * helper was forked, which is best done with one thread.
 */
static void
daemon_open_nats(struct daemon *d)
{
	struct options		*o = &d->opt;
	struct natsout_opts	 no;
	char			 err[NATSOUT_ERRLEN];

	if (o->nats_server == NULL)
		return;
	memset(&no, 0, sizeof no);
	no.servers = o->nats_server;
	no.stream = o->nats_stream;
	no.prefix = o->nats_prefix;
	no.host = o->nats_host;
	no.hiwat = o->nats_hiwat;
	no.lowat = o->nats_lowat;
	no.hiwat_msgs = o->nats_hiwat_msgs;
	no.lowat_msgs = o->nats_lowat_msgs;
	no.max_inflight = o->nats_max_inflight;
	no.ack_wait = o->nats_ack_wait;
	no.retries = o->nats_retries;
	no.reconnect_max = o->nats_reconnect_max;
	if (natsout_new(&d->ctx.nats, d->ctx.base, &no, daemon_nats_report, d,
	    err, sizeof err) != 0)
		fatalx("nats: %s", err);
	stream_set_tap(d->ctx.stream, daemon_nats_tap, d);
}

/* Reload: log a problem with the new settings. */
static void
report_log(void *arg, const char *msg)
{
	log_warnx("reload: %s", msg);
}

/* Reload: give every socket client the new watermarks. */
static void
daemon_reload_client(struct client *c, void *arg)
{
	fanout_sub_set_opts(client_sub(c), arg);
}

/* Put kf on a monitor's event socket in place of old (NULL: none). */
static int
daemon_set_kfilter(struct mon *m, const struct kfilter *kf,
    const struct kfilter *old)
{
	if (kf != NULL)
		return (kfilter_attach(kf, nlsrc_fd(m->src)));
	if (old != NULL)
		return (kfilter_detach(nlsrc_fd(m->src)));
	return (0);
}

/*
 * SIGHUP: build the settings again (file and command line) and apply
 * what can change without a restart; an invalid file changes nothing.
 */
static void
daemon_reload(struct daemon *d)
{
	struct options		 n;
	struct kfilter		*kf = NULL;
	const struct optdef	*def;
	struct resync_opts	 ro;
	struct mon		*m, *failed;
	struct group		*gr = NULL;
	char			 err[KFILTER_ERRLEN] = "";
	char			 about[OPTS_ORIGINLEN];
	size_t			 i;
	int			 error;

	sd_reloading();
	log_info("reloading the configuration from %s", d->cli.config);
	/*
	 * opts_load() reports every problem, saying where each value was
	 * given; what can fail after it is told here, once.
	 */
	error = opts_load(&d->cli, &n, report_log, NULL) != 0;
	if (!error && kfilter_parse(&kf, n.kernel_proto, n.kernel_src,
	    n.kernel_dst, err, sizeof err) != 0) {
		log_warnx("reload: %s", err);
		error = 1;
	}
	/* opts_load() found the group; look it up again for its id. */
	if (!error && n.admin_group != NULL &&
	    (gr = getgrnam(n.admin_group)) == NULL) {
		log_warnx("reload: %s: no group '%s'", opts_about(&n,
		    opts_find("admin-group"), about, sizeof about),
		    n.admin_group);
		error = 1;
	}
	if (error) {
		log_warnx("reload failed: keeping the running configuration");
		kfilter_free(kf);
		opts_free(&n);
		sd_ready("reload failed, running configuration kept");
		return;
	}
	for (def = opts_table(); def->name != NULL; def++)
		if (def->type != OT_SPECIAL && !opts_reloadable(def) &&
		    opts_differ(&d->opt, &n, def))
			log_warnx("reload: %s changed: it takes effect at the "
			    "next restart", def->name);

	log_set_debug(n.debug);
	d->ctx.subopts.hiwat = n.sub_hiwat;
	d->ctx.subopts.lowat = n.sub_lowat;
	d->ctx.subopts.policy = n.sub_policy;
	client_foreach(daemon_reload_client, &d->ctx.subopts);
	if (d->out != NULL)
		fanout_sub_set_opts(d->out, &d->ctx.subopts);
	server_set_limits(d->ctx.srv, (unsigned int)n.max_clients,
	    n.max_line);
	if (d->ctx.nats != NULL)
		natsout_set_limits(d->ctx.nats, n.nats_hiwat, n.nats_lowat,
		    n.nats_hiwat_msgs, n.nats_lowat_msgs);
	d->ctx.has_admin_gid = gr != NULL;
	d->ctx.admin_gid = gr != NULL ? gr->gr_gid : 0;
	ro.delay_ms = (long long)n.resync_delay;
	ro.interval_s = (long)n.resync_interval;
	error = 0;
	failed = NULL;
	TAILQ_FOREACH(m, &d->ctx.mons, entry) {
		nlsrc_set_rcvbuf_max(m->src, (int)n.rcvbuf_max);
		if (m->xsrc != NULL)
			nlsrc_set_rcvbuf_max(m->xsrc, (int)n.rcvbuf_max);
		if (m->resync != NULL)
			resync_set_opts(m->resync, &ro);
		/* A failure leaves the old program on that socket. */
		if (failed == NULL &&
		    (error = daemon_set_kfilter(m, kf, d->ctx.kf)) != 0)
			failed = m;
	}
	if (failed != NULL) {
		/*
		 * The sockets before it go back to the old program, so that
		 * every socket and kfilter_match() keep agreeing.
		 */
		TAILQ_FOREACH(m, &d->ctx.mons, entry) {
			if (m == failed)
				break;
			if (daemon_set_kfilter(m, d->ctx.kf, kf) != 0)
				log_warnx("reload: %s: cannot restore the "
				    "kernel filter", m->name);
		}
		errno = -error;
		if (kf != NULL)
			log_warn("reload: %s: cannot attach the kernel filter "
			    "(%d BPF instructions%s), keeping the old one",
			    failed->name, kfilter_length(kf), error ==
			    -ENOMEM ? ", more than net.core.optmem_max "
			    "allows" : "");
		else
			log_warn("reload: %s: cannot remove the kernel "
			    "filter, keeping it", failed->name);
		kfilter_free(kf);
	} else {
		kfilter_free(d->ctx.kf);
		d->ctx.kf = kf;
	}
	/* Only reloadable settings are taken over; the rest stays. */
	for (def = opts_table(); def->name != NULL; def++) {
		char	**pa, **pb, *t;

		if (!opts_reloadable(def))
			continue;
		/* Where the value was given goes with it. */
		i = (size_t)(def - opts_table());
		d->opt.origin[i] = n.origin[i];
		if (def->type == OT_STRING || def->type == OT_PATH ||
		    def->type == OT_NETNS) {
			pa = (char **)((char *)&d->opt + def->off);
			pb = (char **)((char *)&n + def->off);
			t = *pa;
			*pa = *pb;
			*pb = t;
		} else
			memcpy((char *)&d->opt + def->off, (char *)&n + def->off,
			    def->type == OT_FLAG ? sizeof(bool) :
			    def->type == OT_COUNT ? sizeof(int) :
			    def->type == OT_POLICY ? sizeof(enum sub_policy) :
			    sizeof(size_t));
	}
	opts_free(&n);
	log_info("configuration reloaded");
	/* READY=1 ends the reload; the counters replace its status. */
	sd_ready("configuration reloaded");
	daemon_status(-1, 0, d);
}

/* SIGTERM, SIGINT: stop the loop.  SIGHUP: reload. */
static void
daemon_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon	*d = arg;

	if (sig == SIGHUP) {
		daemon_reload(d);
		return;
	}
	log_info("signal %d received, exiting", (int)sig);
	event_base_loopbreak(d->ctx.base);
}

/*
 * Open one namespace at startup; fatal tells whether failure is.  A
 * namespace is monitored once: given again, under the same label or
 * another (a name and a path to it), it is an error, except that with
 * --netns-all a --netns value may name one of those found.
 */
static void
daemon_open_mon(struct daemon *d, const char *spec, bool fatal_error)
{
	struct mon	*m;
	char		 err[PATH_MAX + 256], about[OPTS_ORIGINLEN];
	int		 error;

	opts_about(&d->opt, opts_find("netns"), about, sizeof about);
	if (mon_find(&d->ctx, spec) != NULL) {
		/* With --netns-all, a name may be both listed and found. */
		if (fatal_error && !d->opt.netns_all)
			fatalx("%s: '%s' given twice", about, spec);
		return;
	}
	error = mon_open(&d->ctx, spec, &d->opt, &m, err, sizeof err);
	if (error == -EEXIST && (!fatal_error || d->opt.netns_all)) {
		log_notice("%s: not monitored twice: %s", spec, err);
		return;
	}
	if (error != 0) {
		if (fatal_error)
			fatalx("%s: %s: %s", about, spec, err);
		log_warnx("%s: not monitored: %s", spec, err);
		return;
	}
	TAILQ_INSERT_TAIL(&d->ctx.mons, m, entry);
	d->ctx.nmons++;
}

/* nswatch_list() callback: a namespace present at startup. */
static void
daemon_found_netns(void *arg, const char *name)
{
	daemon_open_mon(arg, name, false);
}

/*
 * Open every namespace to monitor: those under /run/netns with
 * --netns-all, the --netns list, and otherwise the daemon's own.  With
 * more than one, or --netns-all, lines carry "netns".  Named namespaces
 * are watched, to report them gone (and, with --netns-all, to add new
 * ones).
 */
static void
daemon_open_mons(struct daemon *d)
{
	struct mon	*m;
	char		*copy, *w, *save = NULL;
	bool		 named = false;

	TAILQ_INIT(&d->ctx.mons);
	/* The kernel retries conntrack events only (see nl.c). */
	if (d->opt.reliable && (d->opt.types & EV_TYPE_BIT(EV_TYPE_CT)) == 0)
		log_notice("--reliable has nothing to protect with --types "
		    "expect (the kernel never retries expectation events): "
		    "the event socket is an ordinary one");
	if (d->opt.netns_all)
		nswatch_list(daemon_found_netns, d);
	if (d->opt.netns != NULL || !d->opt.netns_all) {
		if ((copy = strdup(d->opt.netns != NULL ? d->opt.netns :
		    MON_HOST)) == NULL)
			fatalx("out of memory");
		for (w = strtok_r(copy, ",", &save); w != NULL;
		    w = strtok_r(NULL, ",", &save))
			daemon_open_mon(d, w, true);
		free(copy);
	}
	d->ctx.multi = d->opt.netns_all || d->ctx.nmons > 1;
	TAILQ_FOREACH(m, &d->ctx.mons, entry)
		if (m->run_name != NULL)
			named = true;
	if ((named || d->opt.netns_all) && (d->watch = nswatch_new(&d->ctx,
	    &d->opt, d->opt.netns_all)) == NULL)
		fatalx("cannot watch %s", NETNS_RUN_DIR);
	if (d->opt.netns_all)
		log_info("following the namespaces under %s (%u now)",
		    NETNS_RUN_DIR, d->ctx.nmons);
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

static struct server	*exit_srv;	/* its socket files, at a fatal exit */

/*
 * atexit: a fatal error after the sockets were made (the control socket
 * after the events socket, the metrics port, dropping privileges) removes
 * their files as a normal exit does, instead of leaving them to be found
 * stale at the next start.  The netlink helper is forked before.
 */
static void
daemon_unlink_sockets(void)
{
	if (exit_srv != NULL)
		server_unlink(exit_srv);
}

/*
 * Take the sockets systemd passed (ctstreamd.socket names them "events"
 * and "control"); those are not bound again.
 */
static void
daemon_adopt_sockets(struct daemon *d)
{
	struct sd_fd	fds[SD_MAXFDS];
	char		err[256];
	int		i, n, kind;

	n = sd_listen(fds, SD_MAXFDS);
	for (i = 0; i < n; i++) {
		if (strcmp(fds[i].name, "events") == 0)
			kind = LISTENER_EVENTS;
		else if (strcmp(fds[i].name, "control") == 0)
			kind = LISTENER_CONTROL;
		else {
			log_warnx("passed socket %d has an unknown name '%s' "
			    "(expected events or control), closing it",
			    fds[i].fd, fds[i].name);
			close(fds[i].fd);
			continue;
		}
		if (server_adopt(d->ctx.srv, kind, fds[i].fd, err,
		    sizeof err) != 0)
			fatalx("%s socket from systemd: %s", fds[i].name, err);
		d->adopted[kind] = true;
		log_info("using the %s socket passed by systemd", fds[i].name);
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
	char			 err[256], about[OPTS_ORIGINLEN];

	d->ctx.srv = server_new(&d->ctx, (unsigned int)o->max_clients,
	    o->max_line);
	if (d->ctx.srv == NULL)
		fatalx("out of memory");
	if (o->admin_group != NULL) {
		if ((gr = getgrnam(o->admin_group)) == NULL)
			fatalx("%s: no group '%s'", opts_about(o,
			    opts_find("admin-group"), about, sizeof about),
			    o->admin_group);
		d->ctx.has_admin_gid = true;
		d->ctx.admin_gid = gr->gr_gid;
	}
	daemon_adopt_sockets(d);
	lo.mode = o->socket_mode;
	lo.uid = (uid_t)-1;
	lo.gid = (gid_t)-1;
	lo.dir_uid = (uid_t)-1;
	lo.dir_gid = (gid_t)-1;
	/* The daemon removes the socket files at exit, as --user. */
	if (o->user != NULL && (pw = getpwnam(o->user)) != NULL) {
		lo.dir_uid = pw->pw_uid;
		lo.dir_gid = pw->pw_gid;
	}
	/* opts_load() checked that they exist. */
	if (o->socket_owner != NULL && (pw = getpwnam(o->socket_owner)) != NULL)
		lo.uid = pw->pw_uid;
	if (o->socket_group != NULL && (gr = getgrnam(o->socket_group)) != NULL)
		lo.gid = gr->gr_gid;
	exit_srv = d->ctx.srv;
	atexit(daemon_unlink_sockets);
	if ((lo.path = o->events_socket) != NULL && !d->adopted[0]) {
		if (server_listen(d->ctx.srv, LISTENER_EVENTS, &lo, err,
		    sizeof err) != 0)
			fatalx("events socket: %s", err);
		log_info("listening for subscribers on %s", lo.path);
	}
	if ((lo.path = o->control_socket) != NULL && !d->adopted[1]) {
		if (server_listen(d->ctx.srv, LISTENER_CONTROL, &lo, err,
		    sizeof err) != 0)
			fatalx("control socket: %s", err);
		log_info("listening for requests on %s", lo.path);
	}
}

/*
 * Serve /metrics over HTTP, if asked for: bound now, while any port can
 * be, and served from the loop.
 */
static void
daemon_open_metrics(struct daemon *d)
{
	char	err[256];

	if (d->opt.metrics_listen == NULL)
		return;
	if (metrics_http_new(&d->metrics, &d->ctx, d->opt.metrics_listen, err,
	    sizeof err) != 0)
		fatalx("metrics-listen: %s", err);
	log_info("listening for metrics on http://%s/metrics",
	    metrics_http_address(d->metrics));
}

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Seconds since the Unix epoch, with their fraction. */
static double
now_real(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((double)ts.tv_sec + ts.tv_nsec / 1e9);
}

/*
 * Everything privileged is done: start the helper that keeps
 * CAP_NET_ADMIN for ctnetlink requests, then become the user and lose
 * every capability.
 */
static void
daemon_drop_privileges(struct daemon *d)
{
	char		 err[PRIV_ERRLEN];
	struct mon	*m;

	TAILQ_FOREACH(m, &d->ctx.mons, entry) {
		privsep_allow(nlsrc_fd(m->src));
		if (m->xsrc != NULL)
			privsep_allow(nlsrc_fd(m->xsrc));
		query_allow_privsep(m->query);
	}
	if (privsep_start(d->opt.user, d->opt.netns_all, err,
	    sizeof err) != 0)
		fatalx("cannot start the netlink helper: %s", err);

	if (priv_drop(d->opt.user, err, sizeof err) != 0)
		fatalx("cannot drop privileges: %s", err);
	if (getuid() == 0)
		log_notice("running as root without capabilities; --user "
		    "would run as an unprivileged user");
	else
		log_info("running as uid %ld, gid %ld, without capabilities "
		    "(netlink helper: pid %ld)", (long)getuid(),
		    (long)getgid(), (long)privsep_pid());
	/* Requests to the helper never wait: its answers come to the loop. */
	privsep_attach(d->ctx.base);
}

/* Give subscribers what they can take, for a short while, before exit. */
static void
daemon_drain(struct daemon *d)
{
	long long	deadline = now_ms() + CTSTREAMD_DRAIN_MS;
	size_t		left;

	stream_flush(d->ctx.stream);
	client_drain_all();
	if (d->out == NULL)
		return;
	while (fanout_sub_drain(d->out) > 0 && now_ms() < deadline)
		usleep(10000);
	/* Never end standard output in the middle of a line. */
	if ((left = fanout_sub_finish_line(d->out, CTSTREAMD_LINE_MS)) > 0)
		log_warnx("standard output: %zu bytes not written at exit "
		    "(the reader was too slow)", left);
}

int
main(int argc, char **argv)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct daemon	 d;
	struct ctx	*ctx = &d.ctx;
	struct mon	*m;
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
	ctx->started = ctx_now_sec();
	ctx->started_real = now_real();
	if ((ctx->base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	/* First, so that a signal during startup is handled, not fatal. */
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		d.sigs[i] = evsignal_new(ctx->base, sigs[i], daemon_signal, &d);
		if (d.sigs[i] == NULL || evsignal_add(d.sigs[i], NULL) == -1)
			fatalx("cannot install signal handlers");
	}
	if ((ctx->enc = encoder_new(d.opt.labelmap)) == NULL ||
	    (ctx->fo = fanout_new(ctx->base)) == NULL ||
	    (ctx->stream = stream_new(ctx->fo, ctx->enc)) == NULL ||
	    (ctx->qdec = decoder_new()) == NULL)
		fatalx("out of memory");
	daemon_open_mons(&d);
	daemon_open_sockets(&d);
	daemon_open_metrics(&d);
	daemon_open_stdout(&d);
	daemon_drop_privileges(&d);
	daemon_open_nats(&d);
	if (sd_init(ctx->base) != 0)
		fatalx("cannot set up the systemd watchdog");

	{
		struct timeval	tv = { CTSTREAMD_STATUS_SECS, 0 };
		char		buf[160];

		d.status_ev = event_new(ctx->base, -1, EV_PERSIST,
		    daemon_status, &d);
		if (d.status_ev == NULL || event_add(d.status_ev, &tv) == -1)
			fatalx("out of memory");
		sd_ready(daemon_status_line(&d, buf, sizeof buf));
	}
	log_info("ready");
	if (event_base_dispatch(ctx->base) == -1)
		fatalx("event loop failed");
	sd_stopping();
	/* Scrapes wait for the namespaces' request sockets. */
	metrics_http_free(d.metrics);
	privsep_stop();

	/* NATS drains on its thread meanwhile; natsout_free() waits. */
	stream_set_tap(ctx->stream, NULL, NULL);
	natsout_stop(ctx->nats);
	daemon_drain(&d);
	natsout_free(ctx->nats);
	ctx->nats = NULL;
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		event_free(d.sigs[i]);
	event_free(d.status_ev);
	sd_free();
	client_free_all();
	nswatch_free(d.watch);
	while ((m = TAILQ_FIRST(&ctx->mons)) != NULL) {
		TAILQ_REMOVE(&ctx->mons, m, entry);
		mon_free(m);
	}
	exit_srv = NULL;
	server_free(ctx->srv);
	stream_free(ctx->stream);
	fanout_free(ctx->fo);
	decoder_free(ctx->qdec);
	encoder_free(ctx->enc);
	event_base_free(ctx->base);
	kfilter_free(ctx->kf);
	opts_free(&d.opt);
	return (d.exit_status);
}
