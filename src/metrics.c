/*
 * metrics.c - the stats answer in the Prometheus text exposition format
 * (version 0.0.4), for {"cmd":"stats","format":"prometheus"} and for
 * /metrics over HTTP.
 *
 * A part of the output, for one namespace "blue" (the families and their
 * meaning are listed in the table below and in ctstreamd(8), METRICS):
 *
 *   # HELP ctstreamd_build_info The version of the daemon, as a label.
 *   # TYPE ctstreamd_build_info gauge
 *   ctstreamd_build_info{version="0.1.0"} 1
 *   # HELP ctstreamd_events_total Live events received from the kernel.
 *   # TYPE ctstreamd_events_total counter
 *   ctstreamd_events_total{type="ct",event="new"} 2
 *   ctstreamd_events_total{type="ct",event="update"} 0
 *   ...
 *   # HELP ctstreamd_netlink_messages_total Messages read from the ...
 *   # TYPE ctstreamd_netlink_messages_total counter
 *   ctstreamd_netlink_messages_total{netns="blue"} 2
 *   ...
 *   # HELP ctstreamd_kernel_conntrack_entries Entries in the kernel's ...
 *   # TYPE ctstreamd_kernel_conntrack_entries gauge
 *   ctstreamd_kernel_conntrack_entries{netns="blue"} 2
 *
 * The input is the result of the stats command: {"daemon":{...},
 * "kernel":K}, where K is one namespace's kernel statistics, a list of
 * them, or null.  Whatever is missing, null or of another type is left
 * out (a family without a sample has no HELP or TYPE line either), so the
 * renderer follows the answer as it grows.  Per-subscriber counters are
 * not exported one series per client, which would make a series for every
 * connection ever seen: they are summed by socket kind instead.
 *
 * Also the address of --metrics-listen.  Pure: no socket, no log.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compat.h"
#include "metrics.h"

enum metrics_scope {
	MS_DAEMON,		/* result.daemon */
	MS_NETNS,		/* each of result.daemon.namespaces */
	MS_RESYNC,		/* the resync object of each of those */
	MS_KERNEL,		/* each kernel object that has no error */
	MS_KCPU,		/* cpu_sum of each of those */
	MS_SUBTOTAL,		/* result.daemon.subscriber_totals */
	MS_NATS,		/* result.daemon.nats */
	MS_CODE,		/* made by the family's function */
};

struct metrics_label {
	const char	*name;
	const char	*value;
};

struct metrics_out {
	struct buf			*b;
	const json_t			*daemon;
	const json_t			*kernel;
	const struct metrics_info	*info;
	const struct metrics_family	*cur;	/* its HELP and TYPE are out */
};

struct metrics_family {
	const char	*name;
	const char	*type;
	enum metrics_scope scope;
	const char	*key;		/* the member, for the other scopes */
	void		(*fn)(struct metrics_out *,
			    const struct metrics_family *);
	const char	*help;
};

#define C	"counter"
#define G	"gauge"

static void	metrics_build_info(struct metrics_out *,
		    const struct metrics_family *);
static void	metrics_start_time(struct metrics_out *,
		    const struct metrics_family *);
static void	metrics_events(struct metrics_out *,
		    const struct metrics_family *);
static void	metrics_namespaces(struct metrics_out *,
		    const struct metrics_family *);
static void	metrics_subscribers(struct metrics_out *,
		    const struct metrics_family *);
static void	metrics_queued(struct metrics_out *,
		    const struct metrics_family *);
static void	metrics_queued_max(struct metrics_out *,
		    const struct metrics_family *);
static void	metrics_kernel_up(struct metrics_out *,
		    const struct metrics_family *);

/* Every family, in the order of the output. */
static const struct metrics_family metrics_families[] = {
	{ "ctstreamd_build_info", G, MS_CODE, NULL, metrics_build_info,
	    "The version of the daemon, as a label." },
	{ "ctstreamd_start_time_seconds", G, MS_CODE, NULL,
	    metrics_start_time,
	    "When the daemon started, in seconds since the Unix epoch." },
	{ "ctstreamd_events_total", C, MS_CODE, NULL, metrics_events,
	    "Live events received from the kernel, by entry type and event "
	    "(resync lines not included)." },
	{ "ctstreamd_stream_lines_total", C, MS_DAEMON, "lines", NULL,
	    "Stream lines produced (the last sequence number)." },
	{ "ctstreamd_undecodable_messages_total", C, MS_DAEMON, "undecodable",
	    NULL, "Kernel messages that could not be decoded and were "
	    "skipped." },
	{ "ctstreamd_clients", G, MS_DAEMON, "clients", NULL,
	    "Clients connected to the events and control sockets." },
	{ "ctstreamd_clients_accepted_total", C, MS_DAEMON,
	    "clients_accepted", NULL,
	    "Connections accepted on the events and control sockets." },
	{ "ctstreamd_clients_refused_total", C, MS_DAEMON, "clients_refused",
	    NULL, "Connections refused over --max-clients." },
	{ "ctstreamd_subscribers", G, MS_CODE, NULL, metrics_subscribers,
	    "Readers of lines, by socket (events, control, or stdout)." },
	{ "ctstreamd_subscriber_queued_bytes", G, MS_CODE, NULL,
	    metrics_queued,
	    "Bytes queued for the readers, held lines included, by socket." },
	{ "ctstreamd_subscriber_max_queued_bytes", G, MS_CODE, NULL,
	    metrics_queued_max, "Bytes queued for the reader with the "
	    "longest queue." },
	{ "ctstreamd_subscriber_lines_total", C, MS_SUBTOTAL, "lines", NULL,
	    "Lines queued for readers, those gone included." },
	{ "ctstreamd_subscriber_written_bytes_total", C, MS_SUBTOTAL, "bytes",
	    NULL, "Bytes written to readers, those gone included." },
	{ "ctstreamd_subscriber_dropped_lines_total", C, MS_SUBTOTAL,
	    "dropped", NULL, "Lines discarded past a reader's high "
	    "watermark, readers gone included." },
	{ "ctstreamd_subscriber_lost_reports_total", C, MS_SUBTOTAL,
	    "lost_reports", NULL, "Lost lines sent to readers, readers gone "
	    "included." },
	{ "ctstreamd_monitored_namespaces", G, MS_CODE, NULL,
	    metrics_namespaces, "Network namespaces monitored." },
	{ "ctstreamd_netlink_messages_total", C, MS_NETNS, "netlink_messages",
	    NULL, "Messages read from the event sockets of a namespace." },
	{ "ctstreamd_netlink_bytes_total", C, MS_NETNS, "netlink_bytes", NULL,
	    "Bytes read from the event sockets of a namespace." },
	{ "ctstreamd_overruns_total", C, MS_NETNS, "overruns", NULL,
	    "Overruns (ENOBUFS) the kernel reported on the event sockets of "
	    "a namespace." },
	{ "ctstreamd_kernel_dropped_messages_total", C, MS_NETNS,
	    "kernel_drops", NULL, "Messages the kernel dropped, as reported "
	    "in overrun lines." },
	{ "ctstreamd_event_socket_drops_total", C, MS_NETNS, "socket_drops",
	    NULL, "The kernel's drop counter of the event sockets whose drops "
	    "are losses (not the reliable one)." },
	{ "ctstreamd_retried_deliveries_total", C, MS_NETNS,
	    "retried_deliveries", NULL, "With --reliable: deliveries the "
	    "kernel makes again after a full receive buffer (not losses)." },
	{ "ctstreamd_event_sockets", G, MS_NETNS, "event_sockets", NULL,
	    "Event sockets of a namespace (2 with --reliable and both entry "
	    "types)." },
	{ "ctstreamd_event_socket_receive_buffer_bytes", G, MS_NETNS, "rcvbuf",
	    NULL, "Receive buffer of the event socket as the kernel granted "
	    "it (the larger of two)." },
	{ "ctstreamd_event_socket_receive_buffer_grown_total", C, MS_NETNS,
	    "rcvbuf_grown", NULL, "Times a receive buffer was doubled after "
	    "an overrun or a run of retried deliveries." },
	{ "ctstreamd_dumps_total", C, MS_NETNS, "dumps", NULL,
	    "Table dumps run in a namespace." },
	{ "ctstreamd_kernel_requests_total", C, MS_NETNS, "requests", NULL,
	    "Requests (dumps included) run on the request sockets of a "
	    "namespace." },
	{ "ctstreamd_resync_runs_total", C, MS_RESYNC, "runs", NULL,
	    "Resyncs done." },
	{ "ctstreamd_resync_new_lines_total", C, MS_RESYNC, "added", NULL,
	    "Resync new lines written (entries the stream had missed)." },
	{ "ctstreamd_resync_destroy_lines_total", C, MS_RESYNC, "removed",
	    NULL, "Resync destroy lines written (entries gone unseen)." },
	{ "ctstreamd_resync_errors_total", C, MS_RESYNC, "errors", NULL,
	    "Failed resync dumps and index allocations." },
	{ "ctstreamd_resync_running", G, MS_RESYNC, "running", NULL,
	    "1 while a resync or the startup dump is under way." },
	{ "ctstreamd_index_entries", G, MS_RESYNC, "live_entries", NULL,
	    "Live conntrack entries in the daemon's index." },
	{ "ctstreamd_index_old_entries", G, MS_RESYNC,
	    "entries_older_than_daemon", NULL, "Entries of the index known "
	    "from the startup dump only." },
	{ "ctstreamd_index_bytes", G, MS_RESYNC, "index_bytes", NULL,
	    "Memory of the index of live entries." },
	{ "ctstreamd_kernel_stats_up", G, MS_CODE, NULL, metrics_kernel_up,
	    "1 if the kernel answered the statistics requests of a namespace, "
	    "0 if not (its kernel metrics are then left out)." },
	{ "ctstreamd_kernel_conntrack_entries", G, MS_KERNEL, "entries", NULL,
	    "Entries in the kernel's conntrack table." },
	{ "ctstreamd_kernel_conntrack_entries_limit", G, MS_KERNEL,
	    "max_entries", NULL, "Size limit of the kernel's conntrack table "
	    "(nf_conntrack_max)." },
	{ "ctstreamd_kernel_conntrack_cpus", G, MS_KERNEL, "cpus", NULL,
	    "CPUs that reported conntrack statistics." },
	{ "ctstreamd_kernel_conntrack_found_total", C, MS_KCPU, "found", NULL,
	    "Lookups that found an entry, summed over CPUs." },
	{ "ctstreamd_kernel_conntrack_invalid_total", C, MS_KCPU, "invalid",
	    NULL, "Packets conntrack could not track, summed over CPUs." },
	{ "ctstreamd_kernel_conntrack_insert_total", C, MS_KCPU, "insert",
	    NULL, "Entries inserted, summed over CPUs." },
	{ "ctstreamd_kernel_conntrack_insert_failed_total", C, MS_KCPU,
	    "insert_failed", NULL, "Insertions that failed, summed over "
	    "CPUs." },
	{ "ctstreamd_kernel_conntrack_drop_total", C, MS_KCPU, "drop", NULL,
	    "Packets dropped because an entry could not be made, summed over "
	    "CPUs." },
	{ "ctstreamd_kernel_conntrack_early_drop_total", C, MS_KCPU,
	    "early_drop", NULL, "Entries dropped early to make room in a full "
	    "table, summed over CPUs." },
	{ "ctstreamd_kernel_conntrack_error_total", C, MS_KCPU, "error", NULL,
	    "ICMP errors that could not be matched, summed over CPUs." },
	{ "ctstreamd_kernel_conntrack_search_restart_total", C, MS_KCPU,
	    "search_restart", NULL, "Lookups restarted after a table resize, "
	    "summed over CPUs." },
	{ "ctstreamd_kernel_conntrack_clash_resolve_total", C, MS_KCPU,
	    "clash_resolve", NULL, "Insertion clashes resolved, summed over "
	    "CPUs." },
	{ "ctstreamd_kernel_conntrack_chain_toolong_total", C, MS_KCPU,
	    "chain_toolong", NULL, "Hash chains found too long, summed over "
	    "CPUs." },
	{ "ctstreamd_nats_connected", G, MS_NATS, "connected", NULL,
	    "1 while the NATS output is connected." },
	{ "ctstreamd_nats_lines_total", C, MS_NATS, "lines", NULL,
	    "Lines offered to the NATS output." },
	{ "ctstreamd_nats_published_lines_total", C, MS_NATS, "published",
	    NULL, "Lines handed to the NATS library." },
	{ "ctstreamd_nats_acked_lines_total", C, MS_NATS, "acked", NULL,
	    "Lines the JetStream stream acknowledged." },
	{ "ctstreamd_nats_dropped_lines_total", C, MS_NATS, "dropped", NULL,
	    "Lines discarded past the NATS high watermarks." },
	{ "ctstreamd_nats_failed_lines_total", C, MS_NATS, "failed", NULL,
	    "Lines refused, or never acknowledged." },
	{ "ctstreamd_nats_republished_lines_total", C, MS_NATS, "retries",
	    NULL, "Lines published again after an acknowledgement timed "
	    "out." },
	{ "ctstreamd_nats_pending_lines", G, MS_NATS, "pending", NULL,
	    "Lines queued or awaiting an acknowledgement." },
	{ "ctstreamd_nats_pending_bytes", G, MS_NATS, "pending_bytes", NULL,
	    "Bytes of the lines pending." },
	{ "ctstreamd_nats_in_flight_lines", G, MS_NATS, "in_flight", NULL,
	    "Lines awaiting an acknowledgement." },
	{ "ctstreamd_nats_lost_reports_total", C, MS_NATS, "lost_reports",
	    NULL, "Reports of lines not published sent as nats lines." },
	{ "ctstreamd_nats_connects_total", C, MS_NATS, "connects", NULL,
	    "Connections made to a NATS server, reconnections included." },
	{ "ctstreamd_nats_reconnects_total", C, MS_NATS, "reconnects", NULL,
	    "Reconnections to a NATS server." },
	{ "ctstreamd_nats_disconnects_total", C, MS_NATS, "disconnects", NULL,
	    "Disconnections from the NATS server." },
};

#undef C
#undef G

/* The socket kinds subscribers are summed by. */
static const char *const metrics_sockets[] = { "events", "control",
    "stdout" };

/* Append text escaped for a label value (esc_quote) or a HELP line. */
static void
metrics_escape(struct buf *b, const char *s, bool esc_quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_adds(b, "\\\\");
		else if (*s == '\n')
			buf_adds(b, "\\n");
		else if (*s == '"' && esc_quote)
			buf_adds(b, "\\\"");
		else
			buf_addc(b, *s);
	}
}

/* Format a sample value from JSON; false if it is not a number. */
static bool
metrics_value(const json_t *v, char *num, size_t len)
{
	if (json_is_integer(v))
		snprintf(num, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(num, len, "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(num, len, "%d", json_is_true(v) ? 1 : 0);
	else
		return (false);
	return (true);
}

/*
 * Write one sample of family f with a formatted value: its HELP and TYPE
 * lines first if it is the family's first.  Labels whose value is NULL
 * are left out.
 */
static void
metrics_line(struct metrics_out *o, const struct metrics_family *f,
    const struct metrics_label *labels, size_t nlabels, const char *value)
{
	struct buf	*b = o->b;
	size_t		 i, n = 0;

	if (o->cur != f) {
		buf_adds(b, "# HELP ");
		buf_adds(b, f->name);
		buf_addc(b, ' ');
		metrics_escape(b, f->help, false);
		buf_adds(b, "\n# TYPE ");
		buf_adds(b, f->name);
		buf_addc(b, ' ');
		buf_adds(b, f->type);
		buf_addc(b, '\n');
		o->cur = f;
	}
	buf_adds(b, f->name);
	for (i = 0; i < nlabels; i++) {
		if (labels[i].value == NULL)
			continue;
		buf_addc(b, n++ == 0 ? '{' : ',');
		buf_adds(b, labels[i].name);
		buf_adds(b, "=\"");
		metrics_escape(b, labels[i].value, true);
		buf_addc(b, '"');
	}
	if (n > 0)
		buf_addc(b, '}');
	buf_addc(b, ' ');
	buf_adds(b, value);
	buf_addc(b, '\n');
}

/* A sample whose value is a JSON number or boolean; others are left out. */
static void
metrics_sample(struct metrics_out *o, const struct metrics_family *f,
    const struct metrics_label *labels, size_t nlabels, const json_t *v)
{
	char	num[64];

	if (metrics_value(v, num, sizeof num))
		metrics_line(o, f, labels, nlabels, num);
}

/* A sample with a plain number. */
static void
metrics_sample_int(struct metrics_out *o, const struct metrics_family *f,
    const struct metrics_label *labels, size_t nlabels, json_int_t n)
{
	char	num[32];

	snprintf(num, sizeof num, "%lld", (long long)n);
	metrics_line(o, f, labels, nlabels, num);
}

/* The label of a namespace's object, or NULL. */
static const char *
metrics_netns(const json_t *obj)
{
	return (json_string_value(json_object_get(obj, "netns")));
}

/* How many kernel objects there are: one, a list, or none. */
static size_t
metrics_nkernel(const json_t *k)
{
	if (json_is_array(k))
		return (json_array_size(k));
	return (json_is_object(k) ? 1 : 0);
}

/* The i-th kernel object, or NULL if it is not an object. */
static const json_t *
metrics_kernel(const json_t *k, size_t i)
{
	const json_t	*o = json_is_array(k) ? json_array_get(k, i) : k;

	return (json_is_object(o) ? o : NULL);
}

/* Tell whether a kernel object reports an error. */
static bool
metrics_kernel_failed(const json_t *k)
{
	const json_t	*e = json_object_get(k, "error");

	return (e != NULL && !json_is_null(e) && !json_is_false(e));
}

/* ctstreamd_build_info{version="..."} 1 */
static void
metrics_build_info(struct metrics_out *o, const struct metrics_family *f)
{
	struct metrics_label	l = { "version", o->info->version };

	if (o->info->version != NULL)
		metrics_sample_int(o, f, &l, 1, 1);
}

/* ctstreamd_start_time_seconds, when known, to the millisecond. */
static void
metrics_start_time(struct metrics_out *o, const struct metrics_family *f)
{
	char	num[64];

	if (o->info->start_time < 0)
		return;
	snprintf(num, sizeof num, "%.3f", o->info->start_time);
	metrics_line(o, f, NULL, 0, num);
}

/* ctstreamd_events_total{type=T,event=E}, from daemon.events. */
static void
metrics_events(struct metrics_out *o, const struct metrics_family *f)
{
	struct metrics_label	 l[2] = { { "type", NULL }, { "event", NULL } };
	const json_t		*kinds, *v;
	const char		*type, *kind;

	json_object_foreach((json_t *)json_object_get(o->daemon, "events"),
	    type, kinds) {
		l[0].value = type;
		json_object_foreach((json_t *)kinds, kind, v) {
			l[1].value = kind;
			metrics_sample(o, f, l, 2, v);
		}
	}
}

/* ctstreamd_monitored_namespaces */
static void
metrics_namespaces(struct metrics_out *o, const struct metrics_family *f)
{
	const json_t	*ns = json_object_get(o->daemon, "namespaces");

	if (json_is_array(ns))
		metrics_sample_int(o, f, NULL, 0, (json_int_t)json_array_size(ns));
}

/*
 * Sum key (or count, with key NULL) over the subscribers of one socket
 * kind; false without a list.
 */
static bool
metrics_subsum(struct metrics_out *o, const char *socket, const char *key,
    json_int_t *sum)
{
	const json_t	*list = json_object_get(o->daemon, "subscriber_list");
	const json_t	*s, *v;
	const char	*kind;
	size_t		 i;

	*sum = 0;
	if (!json_is_array(list))
		return (false);
	json_array_foreach(list, i, s) {
		kind = json_string_value(json_object_get(s, "socket"));
		if (kind == NULL || strcmp(kind, socket) != 0)
			continue;
		if (key == NULL)
			(*sum)++;
		else if (json_is_integer(v = json_object_get(s, key)))
			*sum += json_integer_value(v);
	}
	return (true);
}

/* One sample per socket kind of a count or a sum over subscribers. */
static void
metrics_by_socket(struct metrics_out *o, const struct metrics_family *f,
    const char *key)
{
	struct metrics_label	l = { "socket", NULL };
	json_int_t		sum;
	size_t			i;

	for (i = 0; i < nitems(metrics_sockets); i++) {
		if (!metrics_subsum(o, metrics_sockets[i], key, &sum))
			return;
		l.value = metrics_sockets[i];
		metrics_sample_int(o, f, &l, 1, sum);
	}
}

/* ctstreamd_subscribers{socket=S} */
static void
metrics_subscribers(struct metrics_out *o, const struct metrics_family *f)
{
	metrics_by_socket(o, f, NULL);
}

/* ctstreamd_subscriber_queued_bytes{socket=S} */
static void
metrics_queued(struct metrics_out *o, const struct metrics_family *f)
{
	metrics_by_socket(o, f, "queued_bytes");
}

/* ctstreamd_subscriber_max_queued_bytes */
static void
metrics_queued_max(struct metrics_out *o, const struct metrics_family *f)
{
	const json_t	*list = json_object_get(o->daemon, "subscriber_list");
	const json_t	*s, *v;
	json_int_t	 max = 0;
	size_t		 i;

	if (!json_is_array(list))
		return;
	json_array_foreach(list, i, s) {
		v = json_object_get(s, "queued_bytes");
		if (json_is_integer(v) && json_integer_value(v) > max)
			max = json_integer_value(v);
	}
	metrics_sample_int(o, f, NULL, 0, max);
}

/* ctstreamd_kernel_stats_up{netns=N} */
static void
metrics_kernel_up(struct metrics_out *o, const struct metrics_family *f)
{
	struct metrics_label	 l = { "netns", NULL };
	const json_t		*k;
	size_t			 i, n = metrics_nkernel(o->kernel);

	for (i = 0; i < n; i++) {
		if ((k = metrics_kernel(o->kernel, i)) == NULL)
			continue;
		l.value = metrics_netns(k);
		metrics_sample_int(o, f, &l, 1, metrics_kernel_failed(k) ? 0 : 1);
	}
}

/* Write the samples of a family that reads one member per object. */
static void
metrics_family(struct metrics_out *o, const struct metrics_family *f)
{
	struct metrics_label	 l = { "netns", NULL };
	const json_t		*list, *obj, *k;
	size_t			 i, n;

	switch (f->scope) {
	case MS_DAEMON:
		metrics_sample(o, f, NULL, 0, json_object_get(o->daemon,
		    f->key));
		break;
	case MS_SUBTOTAL:
	case MS_NATS:
		obj = json_object_get(o->daemon, f->scope == MS_NATS ? "nats" :
		    "subscriber_totals");
		metrics_sample(o, f, NULL, 0, json_object_get(obj, f->key));
		break;
	case MS_NETNS:
	case MS_RESYNC:
		list = json_object_get(o->daemon, "namespaces");
		json_array_foreach(list, i, obj) {
			l.value = metrics_netns(obj);
			if (f->scope == MS_RESYNC)
				obj = json_object_get(obj, "resync");
			metrics_sample(o, f, &l, 1, json_object_get(obj,
			    f->key));
		}
		break;
	case MS_KERNEL:
	case MS_KCPU:
		n = metrics_nkernel(o->kernel);
		for (i = 0; i < n; i++) {
			k = metrics_kernel(o->kernel, i);
			if (k == NULL || metrics_kernel_failed(k))
				continue;
			l.value = metrics_netns(k);
			obj = f->scope == MS_KCPU ? json_object_get(k,
			    "cpu_sum") : k;
			metrics_sample(o, f, &l, 1, json_object_get(obj,
			    f->key));
		}
		break;
	case MS_CODE:
		f->fn(o, f);
		break;
	}
}

/*
 * Append the stats result as Prometheus text to b.  Returns 0, -EINVAL if
 * the result is not an object, or -ENOMEM.
 */
int
metrics_render(const json_t *stats, const struct metrics_info *info,
    struct buf *b)
{
	struct metrics_out	o;
	size_t			i;

	if (!json_is_object(stats))
		return (-EINVAL);
	memset(&o, 0, sizeof o);
	o.b = b;
	o.daemon = json_object_get(stats, "daemon");
	o.kernel = json_object_get(stats, "kernel");
	o.info = info;
	for (i = 0; i < nitems(metrics_families); i++)
		metrics_family(&o, &metrics_families[i]);
	return (buf_ok(b) ? 0 : -ENOMEM);
}

/*
 * Parse a listen address: PORT or :PORT (127.0.0.1), IPV4:PORT or
 * [IPV6]:PORT, numeric only.  Returns 0, or -EINVAL with a message in err.
 */
int
metrics_listen_parse(const char *spec, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	char			 host[INET6_ADDRSTRLEN];
	const char		*h = spec, *port, *end;
	char			*pend;
	unsigned long		 n;
	size_t			 hlen = 0;
	bool			 v6 = false;

	memset(ss, 0, sizeof *ss);
	if (spec[0] == '[') {
		if ((end = strchr(spec, ']')) == NULL || end[1] != ':')
			goto bad;
		v6 = true;
		h = spec + 1;
		hlen = (size_t)(end - h);
		port = end + 2;
	} else if ((end = strrchr(spec, ':')) != NULL) {
		hlen = (size_t)(end - spec);
		port = end + 1;
	} else
		port = spec;
	if (hlen >= sizeof host)
		goto bad;
	if (hlen == 0 && !v6)
		snprintf(host, sizeof host, "127.0.0.1");
	else
		snprintf(host, sizeof host, "%.*s", (int)hlen, h);
	errno = 0;
	n = strtoul(port, &pend, 10);
	if (*port < '0' || *port > '9' || *pend != '\0' || errno != 0 ||
	    n == 0 || n > 65535) {
		snprintf(err, errlen, "'%s': the port must be a number from 1 "
		    "to 65535", spec);
		return (-EINVAL);
	}
	if (v6 && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)n);
		*len = sizeof *sin6;
		return (0);
	}
	if (!v6 && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)n);
		*len = sizeof *sin;
		return (0);
	}
bad:
	snprintf(err, errlen, "'%s' is not PORT, ADDRESS:PORT or "
	    "[IPV6-ADDRESS]:PORT (numeric addresses only)", spec);
	return (-EINVAL);
}

/* Check a listen address for the settings (opts.c). */
int
metrics_listen_check(const char *spec, char *err, size_t errlen)
{
	struct sockaddr_storage	ss;
	socklen_t		len;

	return (metrics_listen_parse(spec, &ss, &len, err, errlen));
}
