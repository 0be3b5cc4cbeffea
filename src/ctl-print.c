/*
 * ctl-print.c - ctstreamctl's human-readable output.
 *
 * An entry (a live event, a snapshot, dump or get line) is one line of
 * columns separated by white space, none of them empty ("-" stands for
 * a value the line does not have), then optional KEY=VALUE fields:
 *
 *   [NETNS] KIND PROTO SRC[:SPORT] -> DST[:DPORT] STATE STATUS MARK ID
 *       [KEY=VALUE...]
 *
 * NETNS, the namespace's label, comes first when the line has one (when
 * the daemon monitors several namespaces, or all of /run/netns); KIND is
 * the line's event (new, update, destroy, snapshot, dump, get), the tuple
 * is the original direction of a conntrack or the expected tuple of an
 * expectation, whose STATE column says EXPECT and whose STATUS column
 * holds its flags.  IPv6 addresses with a port are written [ADDRESS]:PORT.  A line of a resync
 * has the field resync=yes; a resync destroy, which carries nothing but
 * the entry's id, is written
 *
 *   [NETNS] destroy id=ID (resync: vanished unseen)
 *
 * A namespace line is "netns new NAME" or "netns gone NAME".  The other
 * notices of the stream (overrun, lost, nats, sync) become messages on
 * standard error.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ctl.h"

#define CTL_PRINT_FIELD	256

/* Write a scalar member's value as text; "-" when absent, none if null. */
static const char *
ctl_print_scalar(json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		return (json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return (buf);
	}
	if (json_is_true(v))
		return ("yes");
	if (json_is_false(v))
		return ("no");
	if (json_is_null(v))
		return ("none");
	if (json_is_real(v)) {
		snprintf(buf, len, "%g", json_real_value(v));
		return (buf);
	}
	return ("-");
}

/* Write the member key of obj as text; "-" when absent. */
static const char *
ctl_print_get(json_t *obj, const char *key, char *buf, size_t len)
{
	return (ctl_print_scalar(json_object_get(obj, key), buf, len));
}

/* Join the scalars of an array with commas; "-" when absent or empty. */
static const char *
ctl_print_join(json_t *arr, char *buf, size_t len)
{
	char	 one[64];
	size_t	 i, off = 0;
	json_t	*e;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return ("-");
	buf[0] = '\0';
	json_array_foreach(arr, i, e) {
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
		    "%s%s", i > 0 ? "," : "", ctl_print_scalar(e, one,
		    sizeof one));
		if (off >= len)
			break;
	}
	return (buf);
}

/* Format one end of a tuple: ADDRESS, ADDRESS:PORT or [IPV6]:PORT. */
static const char *
ctl_print_endpoint(json_t *t, const char *akey, const char *pkey, char *buf,
    size_t len)
{
	const char	*a = json_string_value(json_object_get(t, akey));
	json_t		*p = json_object_get(t, pkey);

	if (a == NULL)
		a = "?";
	if (!json_is_integer(p))
		snprintf(buf, len, "%s", a);
	else if (strchr(a, ':') != NULL)
		snprintf(buf, len, "[%s]:%" JSON_INTEGER_FORMAT, a,
		    json_integer_value(p));
	else
		snprintf(buf, len, "%s:%" JSON_INTEGER_FORMAT, a,
		    json_integer_value(p));
	return (buf);
}

/* Format a whole tuple as SRC->DST. */
static const char *
ctl_print_tuple(json_t *t, char *buf, size_t len)
{
	char	s[CTL_PRINT_FIELD], d[CTL_PRINT_FIELD];

	snprintf(buf, len, "%s->%s", ctl_print_endpoint(t, "src", "sport", s,
	    sizeof s), ctl_print_endpoint(t, "dst", "dport", d, sizeof d));
	return (buf);
}

/* Print " key=value" if obj has the scalar member key. */
static void
ctl_print_extra(FILE *fp, const char *name, json_t *obj, const char *key)
{
	char	buf[64];
	json_t	*v = json_object_get(obj, key);

	if (v != NULL && !json_is_object(v) && !json_is_array(v))
		fprintf(fp, " %s=%s", name, ctl_print_scalar(v, buf,
		    sizeof buf));
}

/* Tell whether two members of two objects are equal (or both absent). */
static bool
ctl_print_same(json_t *a, const char *ka, json_t *b, const char *kb)
{
	json_t	*va = json_object_get(a, ka), *vb = json_object_get(b, kb);

	if (va == NULL || vb == NULL)
		return (va == vb);
	return (json_equal(va, vb) != 0);
}

/* Print the columns every entry has. */
static void
ctl_print_head(FILE *fp, json_t *ev, json_t *t, const char *state,
    json_t *flags)
{
	char	s[CTL_PRINT_FIELD], d[CTL_PRINT_FIELD];
	char	st[CTL_PRINT_FIELD], b1[32], b2[32], b3[32], b4[32];
	json_t	*proto = json_object_get(ev, "proto");

	if (proto == NULL)
		proto = json_object_get(ev, "protonum");
	fprintf(fp, "%-8s %-7s %-21s -> %-21s %-11s %-28s %-6s %s",
	    ctl_print_get(ev, "event", b1, sizeof b1),
	    ctl_print_scalar(proto, b2, sizeof b2),
	    ctl_print_endpoint(t, "src", "sport", s, sizeof s),
	    ctl_print_endpoint(t, "dst", "dport", d, sizeof d),
	    state, ctl_print_join(flags, st, sizeof st),
	    ctl_print_get(ev, "mark", b3, sizeof b3),
	    ctl_print_get(ev, "id", b4, sizeof b4));
}

/* Print a conntrack entry. */
static void
ctl_print_ct(FILE *fp, json_t *ev)
{
	char	 b[CTL_PRINT_FIELD], p1[32], p2[32];
	json_t	*orig = json_object_get(ev, "orig");
	json_t	*reply = json_object_get(ev, "reply");
	json_t	*state = json_object_get(ev, "state");
	json_t	*master = json_object_get(ev, "master");

	ctl_print_head(fp, ev, orig, json_is_string(state) ?
	    json_string_value(state) : "-", json_object_get(ev, "status"));
	if (json_is_true(json_object_get(ev, "resync")))
		fputs(" resync=yes", fp);
	ctl_print_extra(fp, "timeout", ev, "timeout");
	ctl_print_extra(fp, "zone", ev, "zone");
	ctl_print_extra(fp, "icmp_type", orig, "icmp_type");
	ctl_print_extra(fp, "icmp_code", orig, "icmp_code");
	ctl_print_extra(fp, "icmp_id", orig, "icmp_id");
	/* The reply tuple only when NAT made it more than the inverse. */
	if (json_is_object(reply) && json_is_object(orig) &&
	    (!ctl_print_same(orig, "src", reply, "dst") ||
	    !ctl_print_same(orig, "dst", reply, "src") ||
	    !ctl_print_same(orig, "sport", reply, "dport") ||
	    !ctl_print_same(orig, "dport", reply, "sport")))
		fprintf(fp, " reply=%s", ctl_print_tuple(reply, b, sizeof b));
	if (json_object_get(orig, "packets") != NULL ||
	    json_object_get(reply, "packets") != NULL) {
		fprintf(fp, " packets=%s/%s", ctl_print_get(orig, "packets",
		    p1, sizeof p1), ctl_print_get(reply, "packets", p2,
		    sizeof p2));
		fprintf(fp, " bytes=%s/%s", ctl_print_get(orig, "bytes", p1,
		    sizeof p1), ctl_print_get(reply, "bytes", p2, sizeof p2));
	}
	if (json_array_size(json_object_get(ev, "labels")) > 0)
		fprintf(fp, " labels=%s", ctl_print_join(json_object_get(ev,
		    "labels"), b, sizeof b));
	ctl_print_extra(fp, "helper", ev, "helper");
	if (json_is_object(master))
		fprintf(fp, " master=%s", ctl_print_tuple(master, b,
		    sizeof b));
}

/* Print an expectation. */
static void
ctl_print_expect(FILE *fp, json_t *ev)
{
	char	 b[CTL_PRINT_FIELD];
	json_t	*t = json_object_get(ev, "tuple");
	json_t	*master = json_object_get(ev, "master");

	ctl_print_head(fp, ev, t != NULL ? t : master, "EXPECT",
	    json_object_get(ev, "flags"));
	ctl_print_extra(fp, "timeout", ev, "timeout");
	ctl_print_extra(fp, "zone", ev, "zone");
	if (json_is_object(master))
		fprintf(fp, " master=%s", ctl_print_tuple(master, b,
		    sizeof b));
	ctl_print_extra(fp, "helper", ev, "helper");
	ctl_print_extra(fp, "class", ev, "class");
}

/* Print the namespace column of a line that names its namespace. */
static void
ctl_print_ns(FILE *fp, json_t *v)
{
	const char	*ns = json_string_value(json_object_get(v, "netns"));

	if (ns != NULL)
		fprintf(fp, "%-12s ", ns);
}

/* Print an entry line (type ct or expect) as one line of columns. */
void
ctl_print_entry(FILE *fp, json_t *ev)
{
	const char	*type = json_string_value(json_object_get(ev, "type"));
	char		 a[32], b[32];

	ctl_print_ns(fp, ev);
	if (type != NULL && strcmp(type, "expect") == 0)
		ctl_print_expect(fp, ev);
	else if (json_is_true(json_object_get(ev, "resync")) &&
	    json_object_get(ev, "orig") == NULL) {
		/* The resync's index keeps nothing of an entry but its id. */
		fprintf(fp, "%s id=%s (resync: vanished unseen)",
		    ctl_print_get(ev, "event", a, sizeof a),
		    ctl_print_get(ev, "id", b, sizeof b));
	} else
		ctl_print_ct(fp, ev);
	fputc('\n', fp);
}

/* Print a namespace line: "netns new NAME" or "netns gone NAME". */
void
ctl_print_netns(FILE *fp, json_t *v)
{
	char	a[32], b[CTL_PRINT_FIELD];

	fprintf(fp, "netns %s %s\n", ctl_print_get(v, "event", a, sizeof a),
	    ctl_print_get(v, "netns", b, sizeof b));
}

/* Turn a notice of the stream (overrun, lost, nats, sync) into a message. */
void
ctl_print_notice(json_t *v)
{
	const char	*type = json_string_value(json_object_get(v, "type"));
	const char	*ns = json_string_value(json_object_get(v, "netns"));
	char		 a[32], b[32], c[32], d[32], e[32], where[128] = "";
	json_t		*err;

	if (type == NULL)
		return;
	if (ns != NULL)
		snprintf(where, sizeof where, " in %s", ns);
	if (strcmp(type, "overrun") == 0) {
		/* The kernel counts netlink messages, one per event. */
		if (json_integer_value(json_object_get(v, "lost")) > 0)
			ctl_warnx("overrun%s: the kernel dropped %s netlink "
			    "messages (seq %s): the stream is incomplete",
			    where, ctl_print_get(v, "lost", a, sizeof a),
			    ctl_print_get(v, "seq", b, sizeof b));
		else
			ctl_warnx("overrun%s: the kernel dropped netlink "
			    "messages, how many is unknown (seq %s): the "
			    "stream is incomplete", where,
			    ctl_print_get(v, "seq", b, sizeof b));
	} else if (strcmp(type, "lost") == 0)
		ctl_warnx("lost: %s lines (seq %s to %s) were discarded: "
		    "this reader was too slow", ctl_print_get(v, "count", a,
		    sizeof a), ctl_print_get(v, "first_seq", b, sizeof b),
		    ctl_print_get(v, "last_seq", c, sizeof c));
	else if (strcmp(type, "nats") == 0)
		ctl_warnx("nats: %s lines (seq %s to %s) were not published "
		    "to NATS: %s dropped, %s failed", ctl_print_get(v, "count",
		    a, sizeof a), ctl_print_get(v, "first_seq", b, sizeof b),
		    ctl_print_get(v, "last_seq", c, sizeof c),
		    ctl_print_get(v, "dropped", d, sizeof d),
		    ctl_print_get(v, "failed", e, sizeof e));
	else if (strcmp(type, "sync") == 0) {
		err = json_object_get(v, "error");
		if (err != NULL)
			ctl_warnx("snapshot incomplete after %s entries: %s",
			    ctl_print_get(v, "entries", a, sizeof a),
			    ctl_print_get(err, "message", b, sizeof b));
		else
			ctl_warnx("snapshot: %s entries; live events follow",
			    ctl_print_get(v, "entries", a, sizeof a));
	}
}

/* Print seconds as days, hours, minutes and seconds. */
static void
ctl_print_duration(FILE *fp, json_t *v)
{
	json_int_t	s = json_integer_value(v);

	if (!json_is_integer(v)) {
		fprintf(fp, "-");
		return;
	}
	if (s >= 86400)
		fprintf(fp, "%" JSON_INTEGER_FORMAT "d ", s / 86400);
	if (s >= 3600)
		fprintf(fp, "%" JSON_INTEGER_FORMAT "h ", s / 3600 % 24);
	if (s >= 60)
		fprintf(fp, "%" JSON_INTEGER_FORMAT "m ", s / 60 % 60);
	fprintf(fp, "%" JSON_INTEGER_FORMAT "s", s % 60);
}

/*
 * Print "name value" for every scalar member of obj not in known (those
 * of later versions), indented by indent spaces.
 */
static void
ctl_print_rest(FILE *fp, json_t *obj, const char *const *known, int indent)
{
	const char	*k;
	json_t		*v;
	char		 b[64];
	size_t		 i;

	json_object_foreach(obj, k, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(known[i], k) == 0)
				break;
		if (known[i] != NULL || json_is_object(v) || json_is_array(v))
			continue;
		fprintf(fp, "%*s%-*s %s\n", indent, "", 19 - indent, k,
		    ctl_print_scalar(v, b, sizeof b));
	}
}

/* Print "k v, k v, ..." for the members of an object of counters. */
static void
ctl_print_counters(FILE *fp, json_t *obj)
{
	const char	*k;
	json_t		*v;
	char		 b[64];
	int		 n = 0;

	json_object_foreach(obj, k, v)
		fprintf(fp, "%s%s %s", n++ > 0 ? ", " : "", k,
		    ctl_print_scalar(v, b, sizeof b));
}

/* Print one subscriber of the stats' subscriber_list. */
static void
ctl_print_subscriber(FILE *fp, json_t *s)
{
	char	a[32], b[32], c[32], d[32], e[32];

	if (json_object_get(s, "client") != NULL)
		fprintf(fp, "    client %s (%s socket, pid %s, uid %s, %s): ",
		    ctl_print_get(s, "client", a, sizeof a),
		    ctl_print_get(s, "socket", b, sizeof b),
		    ctl_print_get(s, "pid", c, sizeof c),
		    ctl_print_get(s, "uid", d, sizeof d),
		    json_is_true(json_object_get(s, "active")) ? "active" :
		    "inactive");
	else
		fprintf(fp, "    %s: ", ctl_print_get(s, "socket", a,
		    sizeof a));
	fprintf(fp, "%s lines, %s bytes, %s bytes queued, %s dropped, "
	    "%s lost reports\n",
	    ctl_print_get(s, "lines", a, sizeof a),
	    ctl_print_get(s, "bytes", b, sizeof b),
	    ctl_print_get(s, "queued_bytes", c, sizeof c),
	    ctl_print_get(s, "dropped", d, sizeof d),
	    ctl_print_get(s, "lost_reports", e, sizeof e));
}

/* Print the resync counters of one namespace. */
static void
ctl_print_resync(FILE *fp, json_t *rs)
{
	char	a[32], b[32], c[32], e[32];

	if (json_is_object(rs)) {
		fprintf(fp, "    %-15s %s runs, %s added, %s removed, %s "
		    "errors%s\n", "resync",
		    ctl_print_get(rs, "runs", a, sizeof a),
		    ctl_print_get(rs, "added", b, sizeof b),
		    ctl_print_get(rs, "removed", c, sizeof c),
		    ctl_print_get(rs, "errors", e, sizeof e),
		    json_is_true(json_object_get(rs, "running")) ?
		    " (running)" : "");
		fprintf(fp, "    %-15s %s (%s older than the daemon, %s "
		    "bytes)\n", "live entries",
		    ctl_print_get(rs, "live_entries", a, sizeof a),
		    ctl_print_get(rs, "entries_older_than_daemon", b,
		    sizeof b), ctl_print_get(rs, "index_bytes", c, sizeof c));
	} else if (json_is_null(rs))
		fprintf(fp, "    %-15s off (no index of live entries)\n",
		    "resync");
}

/* Print the counters of one namespace the daemon watches. */
static void
ctl_print_stats_ns(FILE *fp, json_t *ns)
{
	static const char *const nknown[] = { "netns", "netlink_messages",
	    "netlink_bytes", "overruns", "kernel_drops", "socket_drops",
	    "retried_deliveries", "event_sockets", "rcvbuf", "rcvbuf_grown",
	    "dumps", "requests", "resync", NULL };
	char	a[32], b[32], c[32];

	fprintf(fp, "  namespace %s\n", ctl_print_get(ns, "netns", a,
	    sizeof a));
	fprintf(fp, "    %-15s %s messages, %s bytes\n", "netlink",
	    ctl_print_get(ns, "netlink_messages", a, sizeof a),
	    ctl_print_get(ns, "netlink_bytes", b, sizeof b));
	fprintf(fp, "    %-15s %s (%s messages dropped; socket drop counter "
	    "%s)\n", "overruns", ctl_print_get(ns, "overruns", a, sizeof a),
	    ctl_print_get(ns, "kernel_drops", b, sizeof b),
	    ctl_print_get(ns, "socket_drops", c, sizeof c));
	fprintf(fp, "    %-15s %s (deliveries the kernel retries, "
	    "--reliable)\n", "retried", ctl_print_get(ns,
	    "retried_deliveries", a, sizeof a));
	fprintf(fp, "    %-15s %s bytes (grown %s times", "receive buffer",
	    ctl_print_get(ns, "rcvbuf", a, sizeof a),
	    ctl_print_get(ns, "rcvbuf_grown", b, sizeof b));
	/* Two sockets in reliable mode: the larger buffer is shown. */
	if (json_integer_value(json_object_get(ns, "event_sockets")) > 1)
		fprintf(fp, "; the larger of %s event sockets",
		    ctl_print_get(ns, "event_sockets", a, sizeof a));
	fprintf(fp, ")\n");
	fprintf(fp, "    %-15s %s kernel requests, %s of them dumps\n",
	    "requests", ctl_print_get(ns, "requests", a, sizeof a),
	    ctl_print_get(ns, "dumps", b, sizeof b));
	ctl_print_resync(fp, json_object_get(ns, "resync"));
	ctl_print_rest(fp, ns, nknown, 4);
}

/* Print a string member that may be null; none for null or absent. */
static const char *
ctl_print_text(json_t *obj, const char *key)
{
	const char	*s = json_string_value(json_object_get(obj, key));

	return (s != NULL ? s : "none");
}

/* Print the NATS output's counters; off when there is no NATS output. */
static void
ctl_print_nats(FILE *fp, json_t *n)
{
	char	a[32], b[32], c[32], d[32], e[32], f[32];

	if (!json_is_object(n)) {
		fprintf(fp, "  %-17s off\n", "nats");
		return;
	}
	if (json_is_true(json_object_get(n, "connected")))
		fprintf(fp, "  %-17s connected to %s", "nats",
		    ctl_print_text(n, "server"));
	else
		fprintf(fp, "  %-17s not connected", "nats");
	fprintf(fp, ", subject %s, stream %s\n", ctl_print_text(n, "subject"),
	    ctl_print_text(n, "stream"));
	fprintf(fp, "    %-15s %s: %s published, %s acked, %s dropped, %s "
	    "failed (%s retries)\n", "lines",
	    ctl_print_get(n, "lines", a, sizeof a),
	    ctl_print_get(n, "published", b, sizeof b),
	    ctl_print_get(n, "acked", c, sizeof c),
	    ctl_print_get(n, "dropped", d, sizeof d),
	    ctl_print_get(n, "failed", e, sizeof e),
	    ctl_print_get(n, "retries", f, sizeof f));
	fprintf(fp, "    %-15s %s lines, %s bytes (%s awaiting an ack)\n",
	    "pending", ctl_print_get(n, "pending", a, sizeof a),
	    ctl_print_get(n, "pending_bytes", b, sizeof b),
	    ctl_print_get(n, "in_flight", c, sizeof c));
	fprintf(fp, "    %-15s %s connects, %s reconnects, %s disconnects\n",
	    "connections", ctl_print_get(n, "connects", a, sizeof a),
	    ctl_print_get(n, "reconnects", b, sizeof b),
	    ctl_print_get(n, "disconnects", c, sizeof c));
	fprintf(fp, "    %-15s %s\n", "lost reports", ctl_print_get(n,
	    "lost_reports", a, sizeof a));
	fprintf(fp, "    %-15s %s\n", "last error", ctl_print_text(n,
	    "last_error"));
}

/*
 * Print the result of stats as a summary: the daemon's totals, its NATS
 * output, each namespace it watches (only netns if not NULL), each
 * subscriber, then the kernel's counters of the namespace asked about.
 */
void
ctl_print_stats(FILE *fp, json_t *r, const char *netns)
{
	static const char *const dknown[] = { "uptime", "events", "lines",
	    "undecodable", "netlink_messages", "netlink_bytes", "overruns",
	    "kernel_drops", "retried_deliveries", "clients",
	    "clients_accepted", "clients_refused", "dumps", "subscribers",
	    "subscriber_list", "namespaces", "nats", NULL };
	static const char *const kknown[] = { "netns", "entries",
	    "max_entries", "cpus", "cpu_sum", "error", NULL };
	json_t		*d = json_object_get(r, "daemon");
	json_t		*k = json_object_get(r, "kernel");
	json_t		*v;
	const char	*t;
	char		 a[32], b[32], c[32];
	size_t		 i;

	fprintf(fp, "daemon\n  %-17s ", "uptime");
	ctl_print_duration(fp, json_object_get(d, "uptime"));
	fprintf(fp, "\n  %-17s ", "events");
	i = 0;
	json_object_foreach(json_object_get(d, "events"), t, v) {
		fprintf(fp, "%s%s: ", i++ > 0 ? "; " : "", t);
		ctl_print_counters(fp, v);
	}
	fprintf(fp, "\n  %-17s %s (last seq), %s undecodable\n", "lines",
	    ctl_print_get(d, "lines", a, sizeof a),
	    ctl_print_get(d, "undecodable", b, sizeof b));
	fprintf(fp, "  %-17s %s messages, %s bytes\n", "netlink",
	    ctl_print_get(d, "netlink_messages", a, sizeof a),
	    ctl_print_get(d, "netlink_bytes", b, sizeof b));
	fprintf(fp, "  %-17s %s (%s messages dropped)\n", "overruns",
	    ctl_print_get(d, "overruns", a, sizeof a),
	    ctl_print_get(d, "kernel_drops", b, sizeof b));
	fprintf(fp, "  %-17s %s (deliveries the kernel retries, "
	    "--reliable)\n", "retried", ctl_print_get(d,
	    "retried_deliveries", a, sizeof a));
	fprintf(fp, "  %-17s %s connected, %s accepted, %s refused\n",
	    "clients", ctl_print_get(d, "clients", a, sizeof a),
	    ctl_print_get(d, "clients_accepted", b, sizeof b),
	    ctl_print_get(d, "clients_refused", c, sizeof c));
	fprintf(fp, "  %-17s %s\n", "dumps", ctl_print_get(d, "dumps", a,
	    sizeof a));
	ctl_print_nats(fp, json_object_get(d, "nats"));
	ctl_print_rest(fp, d, dknown, 2);
	json_array_foreach(json_object_get(d, "namespaces"), i, v) {
		t = json_string_value(json_object_get(v, "netns"));
		if (netns == NULL || (t != NULL && strcmp(t, netns) == 0))
			ctl_print_stats_ns(fp, v);
	}
	fprintf(fp, "  %-17s %s\n", "subscribers",
	    ctl_print_get(d, "subscribers", a, sizeof a));
	json_array_foreach(json_object_get(d, "subscriber_list"), i, v)
		ctl_print_subscriber(fp, v);

	if (json_is_null(k)) {
		fprintf(fp, "kernel\n  no namespace is monitored\n");
		return;
	}
	fprintf(fp, "kernel (namespace %s)\n  %-17s %s (maximum %s)\n",
	    ctl_print_get(k, "netns", c, sizeof c), "entries",
	    ctl_print_get(k, "entries", a, sizeof a),
	    ctl_print_get(k, "max_entries", b, sizeof b));
	fprintf(fp, "  %-17s %s\n", "cpus", ctl_print_get(k, "cpus", a,
	    sizeof a));
	fprintf(fp, "  %-17s ", "per-cpu sums");
	ctl_print_counters(fp, json_object_get(k, "cpu_sum"));
	fputc('\n', fp);
	ctl_print_rest(fp, k, kknown, 2);
	if (json_object_get(k, "error") != NULL)
		fprintf(fp, "  %-17s %s\n", "error", ctl_print_get(k, "error",
		    a, sizeof a));
}

/* Print one namespace's diagnosis: its settings, then its findings. */
static void
ctl_print_diagnose_ns(FILE *fp, json_t *r)
{
	const char	*k;
	json_t		*v, *f = json_object_get(r, "findings");
	char		 a[64], b[32];
	size_t		 i;

	if (json_object_get(r, "netns") == NULL) {
		fprintf(fp, "no namespace is monitored\n");
		return;
	}
	json_object_foreach(r, k, v) {
		if (json_is_object(v) || json_is_array(v))
			continue;	/* findings, namespaces */
		if (json_is_integer(v) && json_integer_value(v) == -1)
			fprintf(fp, "%-23s unreadable\n", k);
		else
			fprintf(fp, "%-23s %s\n", k, ctl_print_scalar(v, a,
			    sizeof a));
	}
	if (json_array_size(f) == 0) {
		fprintf(fp, "no findings\n");
		return;
	}
	json_array_foreach(f, i, v)
		fprintf(fp, "%s: %s\n", ctl_print_get(v, "severity", b,
		    sizeof b), json_is_string(json_object_get(v, "message")) ?
		    json_string_value(json_object_get(v, "message")) : "-");
}

/*
 * Print the result of diagnose: the namespace asked for with netns, or
 * else every namespace the daemon monitors, one block each, separated by
 * an empty line.
 */
void
ctl_print_diagnose(FILE *fp, json_t *r, const char *netns)
{
	json_t	*all = json_object_get(r, "namespaces"), *v;
	size_t	 i;

	if (netns != NULL || json_array_size(all) <= 1) {
		ctl_print_diagnose_ns(fp, r);
		return;
	}
	json_array_foreach(all, i, v) {
		if (i > 0)
			fputc('\n', fp);
		ctl_print_diagnose_ns(fp, v);
	}
}
