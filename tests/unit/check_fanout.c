/*
 * check_fanout.c - tests for fanout.c over socketpairs and a real
 * libevent loop.
 *
 * Every subscriber writes into one end of a non-blocking AF_UNIX stream
 * socketpair; the test reads the other end.  The loop is only ever run
 * with EVLOOP_NONBLOCK, so nothing waits and nothing depends on timing.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "compat.h"
#include "event.h"
#include "fanout.h"
#include "filter.h"
#include "unit.h"

#define NPEERS		50
#define CHUNK		(256U * 1024)	/* fanout.c's chunk size */

struct peer {
	int		 fd[2];		/* [0] the subscriber's, [1] ours */
	struct sub	*sub;
	struct buf	 got;		/* everything read from fd[1] */
	int		 error;		/* from the fail callback */
	int		 fails;		/* calls of the fail callback */
	struct buf	 want;		/* what it should get */
};

static struct event_base	*base;
static struct fanout		*fo;
static struct peer		 peers[NPEERS];
static int			 npeers;
static int			 peer_sndbuf;	/* for the next peer_new() */

/* Make the loop and the fan-out; SIGPIPE must not kill the test. */
static void
fanout_setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	fo = fanout_new(base);
	ck_assert_ptr_nonnull(fo);
	npeers = 0;
}

/* Free the fan-out (with its subscribers) and close everything. */
static void
fanout_teardown(void)
{
	int	i;

	fanout_free(fo);
	event_base_free(base);
	for (i = 0; i < npeers; i++) {
		if (peers[i].fd[0] != -1)
			close(peers[i].fd[0]);
		if (peers[i].fd[1] != -1)
			close(peers[i].fd[1]);
		buf_free(&peers[i].got);
		buf_free(&peers[i].want);
	}
}

/* The fail callback: remember why. */
static void
fanout_fail(struct sub *s, int error, void *arg)
{
	struct peer	*p = arg;

	ck_assert_ptr_eq(s, p->sub);
	p->error = error;
	p->fails++;
}

/* Add a subscriber on a new socketpair; NULL opts for the defaults. */
static struct peer *
peer_new(const struct sub_opts *opts)
{
	static const struct sub_opts	 def = { SUB_HIWAT_DEFAULT,
					    SUB_LOWAT_DEFAULT, SUB_DROP };
	struct peer			*p;

	ck_assert_int_lt(npeers, NPEERS);
	p = &peers[npeers++];
	memset(p, 0, sizeof *p);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, p->fd), 0);
	if (peer_sndbuf > 0)
		ck_assert_int_eq(setsockopt(p->fd[0], SOL_SOCKET, SO_SNDBUF,
		    &peer_sndbuf, sizeof peer_sndbuf), 0);
	peer_sndbuf = 0;
	p->sub = fanout_sub_new(fo, p->fd[0], opts != NULL ? opts : &def,
	    fanout_fail, p);
	ck_assert_ptr_nonnull(p->sub);
	ck_assert_int_eq(fanout_sub_fd(p->sub), p->fd[0]);
	return (p);
}

/* Read whatever the peer's socket holds. */
static void
peer_read(struct peer *p)
{
	char	b[65536];
	ssize_t	n;

	if (p->fd[1] == -1)
		return;
	while ((n = read(p->fd[1], b, sizeof b)) > 0)
		buf_add(&p->got, b, n);
	ck_assert(n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

/* Run the loop without waiting, reading every peer but skip, n times. */
static void
pump(int n, const struct peer *skip)
{
	int	i;

	while (n-- > 0) {
		ck_assert_int_ge(event_base_loop(base, EVLOOP_NONBLOCK), 0);
		for (i = 0; i < npeers; i++)
			if (&peers[i] != skip)
				peer_read(&peers[i]);
	}
}

/* Tell whether p got exactly what it wants. */
static bool
peer_done(const struct peer *p)
{
	return (p->got.len == p->want.len &&
	    memcmp(p->got.data, p->want.data, p->got.len) == 0);
}

/* Check p got exactly what it wants. */
static void
peer_check(const struct peer *p)
{
	size_t	i;

	for (i = 0; i < p->got.len && i < p->want.len; i++)
		if (p->got.data[i] != p->want.data[i])
			break;
	ck_assert_msg(peer_done(p), "peer %td: got %zu bytes, want %zu, "
	    "first difference at %zu", p - peers, p->got.len, p->want.len, i);
}

/*
 * Make line seq of exactly len bytes (at least 24), newline included:
 * {"seq":N,"pad":"..."}.
 */
static size_t
mkline(char *out, uint64_t seq, size_t len)
{
	int	n;

	n = snprintf(out, len + 1, "{\"seq\":%llu,\"pad\":\"",
	    (unsigned long long)seq);
	ck_assert(n > 0 && (size_t)n + 3 <= len);
	memset(out + n, 'a' + seq % 26, len - n - 3);
	memcpy(out + len - 3, "\"}\n", 3);
	return (len);
}

/* Publish one line for ev to everyone; note who should get it. */
static void
publish(const struct event *ev, const char *line, size_t len, uint64_t seq,
    bool (*wants)(const struct peer *, const struct event *))
{
	int	i;

	for (i = 0; i < npeers; i++)
		if (wants != NULL && wants(&peers[i], ev))
			buf_add(&peers[i].want, line, len);
	fanout_publish(fo, ev, line, len, seq);
}

/* Everybody wants everything. */
static bool
wants_all(const struct peer *p, const struct event *ev)
{
	return (true);
}

/* One line reaches 50 subscribers byte-exact; then many, in order. */
START_TEST(test_fanout_many)
{
	struct event	ev = { 0 };
	char		line[512];
	size_t		len;
	uint64_t	seq;
	int		i;

	for (i = 0; i < NPEERS; i++)
		peer_new(NULL);
	ck_assert_uint_eq(fanout_count(fo), NPEERS);
	len = mkline(line, 1, 80);
	publish(&ev, line, len, 1, wants_all);
	fanout_flush(fo);
	pump(2, NULL);
	for (i = 0; i < NPEERS; i++) {
		peer_check(&peers[i]);
		ck_assert_uint_eq(fanout_sub_stats(peers[i].sub)->lines, 1);
		ck_assert_uint_eq(fanout_sub_stats(peers[i].sub)->bytes, 80);
	}
	for (seq = 2; seq <= 300; seq++) {
		ev.kind = seq % 3;
		len = mkline(line, seq, 24 + seq % 400);
		publish(&ev, line, len, seq, wants_all);
		if (seq % 7 == 0) {
			fanout_flush(fo);
			pump(1, NULL);
		}
	}
	fanout_flush(fo);
	pump(3, NULL);
	for (i = 0; i < NPEERS; i++) {
		peer_check(&peers[i]);
		ck_assert_uint_eq(fanout_sub_stats(peers[i].sub)->lines, 300);
		ck_assert_uint_eq(fanout_sub_stats(peers[i].sub)->bytes,
		    peers[i].want.len);
		ck_assert_uint_eq(fanout_sub_stats(peers[i].sub)->dropped, 0);
		ck_assert_uint_eq(fanout_sub_queued(peers[i].sub), 0);
		ck_assert_int_eq(peers[i].fails, 0);
	}
	/* Freeing subscribers one by one. */
	fanout_sub_free(peers[0].sub);
	fanout_sub_free(NULL);
	ck_assert_uint_eq(fanout_count(fo), NPEERS - 1);
	peers[0].sub = NULL;
}
END_TEST

/*
 * Consecutive lines without a flush wait, coalesced, as one pending range
 * (counted as queued), and arrive intact; past a chunk's worth they spill
 * into new chunks, and the first chunk comes back as the spare.
 */
START_TEST(test_fanout_coalesce)
{
	struct event	 ev = { 0 };
	struct peer	*p, *q;
	char		 line[600];
	size_t		 len, total = 0;
	uint64_t	 seq;

	p = peer_new(NULL);
	q = peer_new(NULL);
	for (seq = 1; seq <= 100; seq++) {
		len = mkline(line, seq, 100 + seq);
		publish(&ev, line, len, seq, wants_all);
		total += len;
		ck_assert_uint_eq(fanout_sub_queued(p->sub), total);
	}
	/* Nothing is written before the batch ends. */
	peer_read(p);
	ck_assert_uint_eq(p->got.len, 0);
	fanout_flush(fo);
	pump(2, NULL);
	peer_check(p);
	peer_check(q);

	/* Well over three chunks, in one batch. */
	for (seq = 101; seq <= 2000; seq++) {
		len = mkline(line, seq, 300 + seq % 300);
		publish(&ev, line, len, seq, wants_all);
		if (seq % 50 == 0)
			pump(1, NULL);
	}
	ck_assert_uint_gt(q->want.len, 3 * CHUNK);
	fanout_flush(fo);
	while (!peer_done(p) || !peer_done(q)) {
		ck_assert_uint_lt(seq++, 100000);
		pump(1, NULL);
	}
	peer_check(p);
	peer_check(q);
	ck_assert_uint_eq(fanout_sub_stats(q->sub)->lines, 2000);
}
END_TEST

/* Peers and the types and kinds they want. */
struct want_mask {
	unsigned int	types;
	unsigned int	kinds;
};

static struct want_mask	masks[NPEERS];

/* A peer wants what its mask selects; NULL events go to everyone. */
static bool
wants_mask(const struct peer *p, const struct event *ev)
{
	const struct want_mask	*m = &masks[p - peers];

	if (ev == NULL)
		return (true);
	return ((m->types & EV_TYPE_BIT(ev->type)) != 0 &&
	    (m->kinds & EV_KIND_BIT(ev->kind)) != 0);
}

/* Type and kind masks select the lines each subscriber gets. */
START_TEST(test_fanout_match)
{
	static const struct want_mask	 m[] = {
		{ EV_TYPES_ALL, EV_LIVE_KINDS },		/* default */
		{ EV_TYPE_BIT(EV_TYPE_CT), EV_LIVE_KINDS },
		{ EV_TYPE_BIT(EV_TYPE_EXPECT), EV_LIVE_KINDS },
		{ EV_TYPES_ALL, EV_KIND_BIT(EV_DESTROY) },
		{ EV_TYPE_BIT(EV_TYPE_EXPECT), EV_KIND_BIT(EV_NEW) },
		{ EV_TYPES_ALL, EV_KIND_BIT(EV_SNAPSHOT) |
		    EV_KIND_BIT(EV_DUMP) },
		{ EV_TYPES_ALL, (1U << EV_KIND_MAX) - 1 },
		{ 0, 0 },
	};
	struct event			 ev = { 0 };
	char				 line[128];
	size_t				 i, len;
	uint64_t			 seq = 0;
	int				 t, k, r;

	for (i = 0; i < nitems(m); i++) {
		masks[i] = m[i];
		peer_new(NULL);
		if (i > 0)
			fanout_sub_set_match(peers[i].sub, m[i].types,
			    m[i].kinds);
	}
	for (r = 0; r < 3; r++) {
		for (t = 0; t < EV_TYPE_MAX; t++) {
			for (k = 0; k < EV_KIND_MAX; k++) {
				ev.type = t;
				ev.kind = k;
				seq++;
				len = mkline(line, seq, 40 + seq);
				publish(&ev, line, len, seq, wants_mask);
			}
		}
		/* No event: a stream notice for everyone. */
		seq++;
		len = mkline(line, seq, 60);
		publish(NULL, line, len, seq, wants_mask);
		fanout_flush(fo);
		pump(1, NULL);
	}
	for (i = 0; i < nitems(m); i++) {
		peer_check(&peers[i]);
		ck_assert_uint_gt(peers[i].got.len, 0);
	}
	/* The last one got the notices only. */
	ck_assert_uint_eq(fanout_sub_stats(peers[nitems(m) - 1].sub)->lines,
	    3);
	ck_assert_uint_eq(fanout_sub_stats(peers[0].sub)->lines,
	    3 * (EV_TYPE_MAX * 3 + 1));
}
END_TEST

/* Make a filter of one JSON text, or fail the test. */
static struct filter *
mkfilter(const char *text)
{
	json_error_t	 jerr;
	json_t		*j = json_loads(text, 0, &jerr);
	struct filter	*f;
	char		 err[256];

	ck_assert_ptr_nonnull(j);
	f = filter_parse(j, err, sizeof err);
	json_decref(j);
	ck_assert_msg(f != NULL, "%s: %s", text, err);
	return (f);
}

/*
 * The daemon's limit (--types, --events) and a client's filter combine:
 * a filter narrows the limit but never widens it, in either order, and
 * dropping the filter goes back to the limit.
 */
START_TEST(test_fanout_match_limit)
{
	static const struct want_mask	 m[] = {
		{ EV_TYPES_ALL, EV_KIND_BIT(EV_DESTROY) },
		{ EV_TYPES_ALL, EV_KIND_BIT(EV_NEW) },
		{ EV_TYPES_ALL, EV_KIND_BIT(EV_NEW) | EV_KIND_BIT(EV_UPDATE) },
		{ EV_TYPE_BIT(EV_TYPE_CT), EV_KIND_BIT(EV_DESTROY) |
		    EV_KIND_BIT(EV_UPDATE) },
	};
	struct event			 ev = { 0 };
	char				 line[128];
	size_t				 i, len;
	uint64_t			 seq = 0;
	int				 t, k;

	for (i = 0; i < nitems(m); i++) {
		masks[i] = m[i];
		peer_new(NULL);
	}
	/* Limit first, then a wider filter. */
	fanout_sub_set_match(peers[0].sub, EV_TYPES_ALL,
	    EV_KIND_BIT(EV_DESTROY));
	fanout_sub_set_filter(peers[0].sub,
	    mkfilter("{\"events\":[\"new\",\"destroy\"]}"));
	/* A narrower filter. */
	fanout_sub_set_filter(peers[1].sub, mkfilter("{\"events\":[\"new\"]}"));
	/* A filter, then the limit, then no filter. */
	fanout_sub_set_filter(peers[2].sub, mkfilter("{\"events\":[\"new\"]}"));
	fanout_sub_set_match(peers[2].sub, EV_TYPES_ALL,
	    EV_KIND_BIT(EV_NEW) | EV_KIND_BIT(EV_UPDATE));
	fanout_sub_set_filter(peers[2].sub, NULL);
	/* Filter first, then a limit on types. */
	fanout_sub_set_filter(peers[3].sub,
	    mkfilter("{\"types\":[\"ct\",\"expect\"],"
	    "\"events\":[\"destroy\",\"update\"]}"));
	fanout_sub_set_match(peers[3].sub, EV_TYPE_BIT(EV_TYPE_CT),
	    EV_LIVE_KINDS);

	/* Known by id only: its type and kind are known, the masks apply. */
	ev.idonly = true;
	for (t = 0; t < EV_TYPE_MAX; t++) {
		for (k = 0; k < EV_KIND_MAX; k++) {
			if ((EV_LIVE_KINDS & EV_KIND_BIT(k)) == 0)
				continue;
			ev.type = t;
			ev.kind = k;
			seq++;
			len = mkline(line, seq, 40 + seq);
			publish(&ev, line, len, seq, wants_mask);
		}
	}
	fanout_flush(fo);
	pump(1, NULL);
	for (i = 0; i < nitems(m); i++)
		peer_check(&peers[i]);
	ck_assert_uint_eq(fanout_sub_stats(peers[0].sub)->lines, EV_TYPE_MAX);
	ck_assert_uint_eq(fanout_sub_stats(peers[1].sub)->lines, EV_TYPE_MAX);
	ck_assert_uint_eq(fanout_sub_stats(peers[2].sub)->lines,
	    2 * EV_TYPE_MAX);
	ck_assert_uint_eq(fanout_sub_stats(peers[3].sub)->lines, 2);
}
END_TEST

/* Whether each peer of test_fanout_idonly wants an id-only line. */
static const bool	idonly_wants[] = { true, false, true, false, true,
			    false, false, true };

static bool
wants_idonly(const struct peer *p, const struct event *ev)
{
	return (ev == NULL || idonly_wants[p - peers]);
}

/*
 * A resync's id-only destroy line goes to a subscriber unless what is
 * known of it (type, kind, namespace) rules its filter out.
 */
START_TEST(test_fanout_idonly)
{
	static const char *const	 filters[] = {
		"{\"netns\":\"blue\"}",
		"{\"netns\":\"red\"}",
		"{\"proto\":\"tcp\",\"dport\":443}",
		"{\"netns\":\"red\",\"proto\":\"tcp\"}",
		"{\"not\":{\"proto\":\"udp\"}}",
		"{\"not\":{\"netns\":\"blue\"}}",
		"{\"any\":[{\"events\":\"new\"},{\"netns\":\"red\"}]}",
		"{\"any\":[{\"netns\":\"red\"},{\"mark\":1}]}",
	};
	struct event			 ev;
	char				 line[128];
	size_t				 i, len;

	ck_assert_uint_eq(nitems(filters), nitems(idonly_wants));
	for (i = 0; i < nitems(filters); i++) {
		peer_new(NULL);
		fanout_sub_set_filter(peers[i].sub, mkfilter(filters[i]));
	}
	unit_idonly_event(&ev, 7, "blue");
	len = mkline(line, 1, 60);
	publish(&ev, line, len, 1, wants_idonly);
	/* A stream notice still reaches everyone. */
	len = mkline(line, 2, 70);
	publish(NULL, line, len, 2, wants_idonly);
	fanout_flush(fo);
	pump(1, NULL);
	for (i = 0; i < nitems(filters); i++)
		peer_check(&peers[i]);
}
END_TEST

/* Inactive subscribers get nothing, not even notices. */
static bool
wants_active(const struct peer *p, const struct event *ev)
{
	return (fanout_sub_active(p->sub));
}

/* Inactive subscribers get nothing until made active again. */
START_TEST(test_fanout_inactive)
{
	struct event	 ev = { 0 };
	struct peer	*on, *off;
	char		 line[128];
	size_t		 len;
	uint64_t	 seq;

	on = peer_new(NULL);
	off = peer_new(NULL);
	ck_assert(fanout_sub_active(off->sub));
	fanout_sub_set_active(off->sub, false);
	ck_assert(!fanout_sub_active(off->sub));
	for (seq = 1; seq <= 20; seq++) {
		len = mkline(line, seq, 50);
		publish(seq % 2 ? &ev : NULL, line, len, seq, wants_active);
		if (seq == 10) {
			fanout_flush(fo);
			pump(1, NULL);
			ck_assert_uint_eq(off->got.len, 0);
			fanout_sub_set_active(off->sub, true);
		}
	}
	fanout_flush(fo);
	pump(1, NULL);
	peer_check(on);
	peer_check(off);
	ck_assert_uint_eq(fanout_sub_stats(on->sub)->lines, 20);
	ck_assert_uint_eq(fanout_sub_stats(off->sub)->lines, 10);
	ck_assert_uint_eq(fanout_sub_stats(off->sub)->dropped, 0);
}
END_TEST

/* Parse a lost line; check it is one and return it. */
static json_t *
lost_line(const char *p, size_t len)
{
	json_t	*j;

	j = unit_json_load(p, len, NULL);
	ck_assert_msg(j != NULL, "not JSON: %.*s", (int)len, p);
	ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
	    "lost");
	ck_assert(json_is_string(json_object_get(j, "time")));
	ck_assert_uint_eq(json_object_size(j), 5);
	return (j);
}

/*
 * A subscriber that never reads stays within its high watermark and
 * loses lines, while a fast one beside it gets them all; once the slow
 * one drains below its low watermark it is told exactly what it lost,
 * before the next line.
 */
START_TEST(test_fanout_slow)
{
	struct sub_opts		 so = { 64 * 1024, 16 * 1024, SUB_DROP };
	struct event		 ev = { 0 };
	struct peer		*slow, *fast;
	const struct sub_stats	*st;
	char			 line[512], *p, *nl;
	size_t			 len, maxlen = 0, off;
	uint64_t		 seq, expect, first = 0, last = 0, count;
	json_t			*j;
	int			 sndbuf = 4096, lost = 0, i;

	slow = peer_new(&so);
	fast = peer_new(NULL);
	ck_assert_int_eq(setsockopt(slow->fd[0], SOL_SOCKET, SO_SNDBUF,
	    &sndbuf, sizeof sndbuf), 0);
	for (seq = 1; seq <= 5000; seq++) {
		len = mkline(line, seq, 60 + seq * 37 % 400);
		if (len > maxlen)
			maxlen = len;
		publish(&ev, line, len, seq, NULL);
		buf_add(&fast->want, line, len);
		/* Below the mark plus the line that crossed it. */
		ck_assert_msg(fanout_sub_queued(slow->sub) < so.hiwat + maxlen,
		    "slow subscriber holds %zu bytes at seq %llu",
		    fanout_sub_queued(slow->sub), (unsigned long long)seq);
		if (seq % 10 == 0) {
			fanout_flush(fo);
			pump(1, slow);
		}
	}
	fanout_flush(fo);
	pump(3, slow);
	peer_check(fast);
	ck_assert_uint_le(fanout_sub_queued(slow->sub), so.hiwat + maxlen);
	ck_assert(fanout_sub_over(slow->sub));
	st = fanout_sub_stats(slow->sub);
	ck_assert_uint_gt(st->dropped, 0);
	ck_assert_uint_eq(st->lines + st->dropped, 5000);
	ck_assert_uint_eq(st->lost_reports, 0);
	ck_assert_uint_eq(fanout_sub_stats(fast->sub)->dropped, 0);

	/* Drain the slow one: the lost line comes when it is low enough. */
	for (i = 0; i < 10000 && (fanout_sub_queued(slow->sub) > 0 ||
	    st->lost_reports == 0); i++)
		pump(1, NULL);
	ck_assert_uint_eq(fanout_sub_queued(slow->sub), 0);
	ck_assert(!fanout_sub_over(slow->sub));
	ck_assert_uint_eq(st->lost_reports, 1);

	/* One more line: it comes after the lost line. */
	len = mkline(line, 5001, 100);
	fanout_publish(fo, &ev, line, len, 5001);
	fanout_flush(fo);
	pump(2, NULL);

	/* Event lines 1..A-1, the lost line for A..B, then 5001. */
	expect = 1;
	for (off = 0; off < slow->got.len; off = nl + 1 - slow->got.data) {
		p = slow->got.data + off;
		nl = memchr(p, '\n', slow->got.len - off);
		ck_assert_ptr_nonnull(nl);
		if (strncmp(p, "{\"type\":\"lost\"", 14) == 0) {
			ck_assert_int_eq(lost++, 0);
			j = lost_line(p, nl - p);
			count = json_integer_value(json_object_get(j, "count"));
			first = json_integer_value(json_object_get(j,
			    "first_seq"));
			last = json_integer_value(json_object_get(j,
			    "last_seq"));
			json_decref(j);
			ck_assert_uint_eq(first, expect);
			ck_assert_uint_eq(last, 5000);
			ck_assert_uint_eq(count, last - first + 1);
			ck_assert_uint_eq(count, st->dropped);
			expect = last + 1;
			continue;
		}
		len = mkline(line, expect, nl + 1 - p);
		ck_assert_msg(memcmp(p, line, len) == 0,
		    "line at %zu is not seq %llu: %.40s", off,
		    (unsigned long long)expect, p);
		expect++;
	}
	ck_assert_int_eq(lost, 1);
	ck_assert_uint_eq(expect, 5002);
	ck_assert_uint_gt(first, 1);
	ck_assert_int_eq(slow->fails, 0);
}
END_TEST

/*
 * The totals over subscribers keep the counters of those freed, so that
 * they never go down.
 */
START_TEST(test_fanout_totals)
{
	struct event		 ev = { 0 };
	struct sub_stats	 t0, t1, t2;
	struct peer		*a, *b;
	char			 line[128];
	size_t			 len;
	uint64_t		 seq;

	fanout_totals(fo, &t0);
	ck_assert_uint_eq(t0.lines + t0.bytes + t0.dropped + t0.lost_reports,
	    0);
	a = peer_new(NULL);
	b = peer_new(NULL);
	for (seq = 1; seq <= 10; seq++) {
		len = mkline(line, seq, 100);
		publish(&ev, line, len, seq, wants_all);
	}
	fanout_flush(fo);
	pump(2, NULL);
	peer_check(a);
	peer_check(b);
	fanout_totals(fo, &t1);
	ck_assert_uint_eq(t1.lines, 20);
	ck_assert_uint_eq(t1.bytes, 2000);
	ck_assert_uint_eq(t1.lines, fanout_sub_stats(a->sub)->lines +
	    fanout_sub_stats(b->sub)->lines);
	fanout_sub_free(b->sub);
	b->sub = NULL;
	fanout_totals(fo, &t2);
	ck_assert_uint_eq(t2.lines, 20);
	ck_assert_uint_eq(t2.bytes, 2000);
	ck_assert_uint_eq(t2.dropped, 0);
}
END_TEST

/* Policy disconnect: past the high mark the owner is told, from the loop. */
START_TEST(test_fanout_disconnect)
{
	struct sub_opts	 so = { 8192, 1024, SUB_DISCONNECT };
	struct event	 ev = { 0 };
	struct peer	*slow, *fast;
	char		 line[256];
	size_t		 len;
	uint64_t	 seq;
	int		 sndbuf = 4096;

	slow = peer_new(&so);
	fast = peer_new(NULL);
	ck_assert_int_eq(setsockopt(slow->fd[0], SOL_SOCKET, SO_SNDBUF,
	    &sndbuf, sizeof sndbuf), 0);
	for (seq = 1; seq <= 2000 && !fanout_sub_over(slow->sub); seq++) {
		len = mkline(line, seq, 200);
		publish(&ev, line, len, seq, NULL);
		buf_add(&fast->want, line, len);
		fanout_flush(fo);
		pump(1, slow);
	}
	ck_assert(fanout_sub_over(slow->sub));
	/* One more line: over the mark, so it fails, but not right away. */
	len = mkline(line, seq, 200);
	publish(&ev, line, len, seq, NULL);
	buf_add(&fast->want, line, len);
	ck_assert_int_eq(slow->fails, 0);
	fanout_flush(fo);
	ck_assert_int_eq(slow->fails, 0);
	pump(1, slow);
	ck_assert_int_eq(slow->fails, 1);
	ck_assert_int_eq(slow->error, SUB_FAIL_SLOW);
	ck_assert_uint_eq(fanout_sub_stats(slow->sub)->dropped, 0);
	/* A failed subscriber refuses private lines too. */
	ck_assert_int_eq(fanout_sub_send(slow->sub, "x\n", 2), -EPIPE);
	/* The owner frees it; the others go on. */
	fanout_sub_free(slow->sub);
	slow->sub = NULL;
	ck_assert_uint_eq(fanout_count(fo), 1);
	len = mkline(line, ++seq, 200);
	fanout_publish(fo, &ev, line, len, seq);
	buf_add(&fast->want, line, len);
	fanout_flush(fo);
	pump(2, slow);
	peer_check(fast);
	ck_assert_int_eq(fast->fails, 0);
}
END_TEST

/* A peer that closes: the write fails with EPIPE, reported from the loop. */
START_TEST(test_fanout_epipe)
{
	struct event	 ev = { 0 };
	struct peer	*gone, *stay;
	char		 line[128];
	size_t		 len;

	gone = peer_new(NULL);
	stay = peer_new(NULL);
	close(gone->fd[1]);
	gone->fd[1] = -1;
	len = mkline(line, 1, 100);
	publish(&ev, line, len, 1, NULL);
	buf_add(&stay->want, line, len);
	fanout_flush(fo);
	ck_assert_int_eq(gone->fails, 0);
	pump(1, NULL);
	ck_assert_int_eq(gone->fails, 1);
	ck_assert_int_eq(gone->error, -EPIPE);
	ck_assert_int_eq(fanout_sub_send(gone->sub, "x\n", 2), -EPIPE);
	/* Later lines skip it; the other subscriber is unaffected. */
	len = mkline(line, 2, 100);
	publish(&ev, line, len, 2, NULL);
	buf_add(&stay->want, line, len);
	fanout_flush(fo);
	pump(1, NULL);
	peer_check(stay);
	ck_assert_uint_eq(fanout_sub_stats(gone->sub)->lines, 1);
}
END_TEST

/* A private line goes after the events already queued, before later ones. */
START_TEST(test_fanout_send_order)
{
	struct event	 ev = { 0 };
	struct peer	*p, *other;
	char		 line[128];
	size_t		 len;

	p = peer_new(NULL);
	other = peer_new(NULL);
	len = mkline(line, 1, 70);
	publish(&ev, line, len, 1, wants_all);
	len = mkline(line, 2, 71);
	publish(&ev, line, len, 2, wants_all);
	/* Still pending (no flush): the reply must not overtake them. */
	ck_assert_int_eq(fanout_sub_send(p->sub, "{\"reply\":1}\n", 12), 0);
	buf_add(&p->want, "{\"reply\":1}\n", 12);
	len = mkline(line, 3, 72);
	publish(&ev, line, len, 3, wants_all);
	fanout_flush(fo);
	pump(1, NULL);
	/* With nothing queued it goes out at once. */
	ck_assert_int_eq(fanout_sub_send(p->sub, "{\"reply\":2}\n", 12), 0);
	buf_add(&p->want, "{\"reply\":2}\n", 12);
	peer_read(p);
	pump(1, NULL);
	peer_check(p);
	peer_check(other);
	ck_assert_uint_eq(fanout_sub_stats(p->sub)->lines, 5);
}
END_TEST

/* Lines larger than a chunk, between small ones. */
START_TEST(test_fanout_big_line)
{
	static const size_t	 sizes[] = { 100, CHUNK + 1, 50, CHUNK,
				    3 * CHUNK + 17, 60, CHUNK - 10, 70 };
	struct event		 ev = { 0 };
	struct peer		*p, *q;
	char			*line;
	size_t			 i, len;
	int			 n;

	p = peer_new(NULL);
	q = peer_new(NULL);
	line = malloc(4 * CHUNK);
	ck_assert_ptr_nonnull(line);
	for (i = 0; i < nitems(sizes); i++) {
		len = mkline(line, i + 1, sizes[i]);
		publish(&ev, line, len, i + 1, wants_all);
		if (i % 2 == 1)
			fanout_flush(fo);
	}
	fanout_flush(fo);
	for (n = 0; n < 100000 && !(peer_done(p) && peer_done(q)); n++)
		pump(1, NULL);
	peer_check(p);
	peer_check(q);
	ck_assert_uint_eq(fanout_sub_queued(p->sub), 0);
	free(line);
}
END_TEST

/* A regular file cannot be polled: it gets everything at once. */
START_TEST(test_fanout_file)
{
	struct event	 ev = { 0 };
	struct sub_opts	 so = { SUB_HIWAT_DEFAULT, SUB_LOWAT_DEFAULT,
			    SUB_DROP };
	struct sub	*s;
	struct buf	 want = { 0 };
	char		*path, line[1024], got[1 << 16];
	ssize_t		 n;
	uint64_t	 seq;
	int		 fd;

	path = unit_tmpfile("");
	ck_assert_ptr_nonnull(path);
	fd = open(path, O_RDWR | O_APPEND);
	ck_assert_int_ge(fd, 0);
	s = fanout_sub_new(fo, fd, &so, NULL, NULL);
	ck_assert_ptr_nonnull(s);
	for (seq = 1; seq <= 40; seq++) {
		n = mkline(line, seq, 500 + seq);
		buf_add(&want, line, n);
		fanout_publish(fo, &ev, line, n, seq);
	}
	fanout_flush(fo);
	ck_assert_uint_eq(fanout_sub_queued(s), 0);
	n = pread(fd, got, sizeof got, 0);
	ck_assert_int_eq(n, (ssize_t)want.len);
	ck_assert_mem_eq(got, want.data, want.len);
	fanout_sub_free(s);
	close(fd);
	unlink(path);
	free(path);
	buf_free(&want);
}
END_TEST

/* Draining for shutdown writes what the socket takes, says what is left. */
START_TEST(test_fanout_drain)
{
	struct sub_opts	 so = { 1 << 20, 1 << 18, SUB_DROP };
	struct event	 ev = { 0 };
	struct peer	*p;
	char		 line[1024];
	size_t		 len;
	uint64_t	 seq;
	int		 left, sndbuf = 4096, n;

	p = peer_new(&so);
	ck_assert_int_eq(setsockopt(p->fd[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof sndbuf), 0);
	for (seq = 1; seq <= 200; seq++) {
		len = mkline(line, seq, 1000);
		publish(&ev, line, len, seq, wants_all);
	}
	left = fanout_sub_drain(p->sub);
	ck_assert_int_gt(left, 0);
	ck_assert_uint_eq((size_t)left, fanout_sub_queued(p->sub));
	for (n = 0; n < 10000 && left > 0; n++) {
		peer_read(p);
		left = fanout_sub_drain(p->sub);
	}
	ck_assert_int_eq(left, 0);
	peer_read(p);
	peer_check(p);
}
END_TEST

/*
 * Shutdown: a reader that took part of a line is given the rest of that
 * line (and no more) by fanout_sub_finish_line(), so the output ends on a
 * line boundary; without room it gives up after its timeout.
 */
START_TEST(test_fanout_finish_line)
{
	struct sub_opts	 so = { 1 << 20, 1 << 18, SUB_DROP };
	struct event	 ev = { 0 };
	struct peer	*p;
	char		 line[4096];
	size_t		 len, left, before;
	uint64_t	 seq;
	int		 sndbuf = 4096;

	p = peer_new(&so);
	ck_assert_int_eq(setsockopt(p->fd[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof sndbuf), 0);
	for (seq = 1; seq <= 100; seq++) {
		len = mkline(line, seq, 3001);
		publish(&ev, line, len, seq, wants_all);
	}
	ck_assert_int_gt(fanout_sub_drain(p->sub), 0);
	/* Nothing read: no room, so it gives up, leaving the line cut. */
	before = fanout_sub_queued(p->sub);
	left = fanout_sub_finish_line(p->sub, 50);
	peer_read(p);
	ck_assert_uint_gt(p->got.len, 0);
	if (p->got.data[p->got.len - 1] == '\n') {
		/* The socket happened to take whole lines: nothing to do. */
		ck_assert_uint_eq(left, before);
		return;
	}
	/* Now there is room: exactly the rest of the cut line follows. */
	left = fanout_sub_finish_line(p->sub, 1000);
	peer_read(p);
	ck_assert_uint_gt(left, 0);
	ck_assert_uint_eq(p->got.len % 3001, 0);
	ck_assert_int_eq(p->got.data[p->got.len - 1], '\n');
	ck_assert_mem_eq(p->got.data, p->want.data, p->got.len);
	ck_assert_uint_eq(p->got.len + left, p->want.len);
	/* Done: a second call writes nothing more. */
	ck_assert_uint_eq(fanout_sub_finish_line(p->sub, 50), left);
}
END_TEST

/*
 * To a Unix stream socket the fan-out writes whole lines only: however
 * full the socket, what the reader finds there ends with a newline, and
 * what is left begins a line.
 */
START_TEST(test_fanout_unix_whole_lines)
{
	struct sub_opts	 so = { 8 << 20, 1 << 20, SUB_DROP };
	struct event	 ev = { 0 };
	struct peer	*p;
	char		 line[2048];
	size_t		 len, got;
	uint64_t	 seq;
	int		 round;

	peer_sndbuf = 16384;
	p = peer_new(&so);
	for (round = 0; round < 20; round++) {
		/* Lines of odd sizes, far more than the socket takes. */
		for (seq = 1; seq <= 300; seq++) {
			len = mkline(line, round * 1000 + seq,
			    100 + (seq * 37) % 1900);
			publish(&ev, line, len, seq, wants_all);
		}
		fanout_flush(fo);
		fanout_sub_drain(p->sub);
		got = p->got.len;
		peer_read(p);
		ck_assert_uint_gt(p->got.len, got);
		ck_assert_int_eq(p->got.data[p->got.len - 1], '\n');
		ck_assert_mem_eq(p->got.data, p->want.data, p->got.len);
	}
	/* And everything arrives in the end. */
	while (fanout_sub_drain(p->sub) > 0)
		peer_read(p);
	peer_read(p);
	peer_check(p);
}
END_TEST

/*
 * Regression test, was a bug (src/fanout.c, fanout_sub_fail / fanout_sub_drain): a subscriber
 * that fails under policy disconnect in fanout_publish keeps its pending
 * range (pchunk, poff, plen), which holds no reference to the chunk.
 * fanout_flush skips failed subscribers, so the range is never queued,
 * and once the chunk is recycled for other lines (or freed) the range
 * points at bytes that are not this subscriber's.  fanout_sub_drain()
 * calls fanout_sub_queue_pending() without looking at s->failed: it takes
 * a reference to that chunk (a use after free when the chunk was freed)
 * and reports those bytes as left to write, although nothing will ever
 * be written to a failed subscriber.  It must return 0 here.
 */
START_TEST(test_bug_fanout_failed_pending)
{
	struct sub_opts	 so = { 1000, 100, SUB_DISCONNECT };
	struct event	 ev = { 0 };
	struct peer	*fast, *slow;
	char		 line[1024];
	size_t		 len;
	uint64_t	 seq;

	fast = peer_new(NULL);
	slow = peer_new(&so);
	/* Three lines in one batch: the third finds it over its mark. */
	for (seq = 1; seq <= 3; seq++) {
		len = mkline(line, seq, 600);
		publish(&ev, line, len, seq, NULL);
	}
	ck_assert_uint_eq(fanout_sub_stats(slow->sub)->lines, 2);
	/* Enough lines for the chunk to be given up and used again. */
	for (; seq <= 800; seq++) {
		len = mkline(line, seq, 1000);
		publish(&ev, line, len, seq, NULL);
		if (seq % 20 == 0) {
			fanout_flush(fo);
			pump(1, NULL);
		}
	}
	fanout_flush(fo);
	pump(5, NULL);
	ck_assert_int_eq(slow->fails, 1);
	ck_assert_int_eq(slow->error, SUB_FAIL_SLOW);
	ck_assert_uint_eq(fanout_sub_queued(fast->sub), 0);
	/* Nothing was ever written to it, and nothing will be. */
	ck_assert_uint_eq(slow->got.len, 0);
	ck_assert_int_eq(fanout_sub_drain(slow->sub), 0);
}
END_TEST

/* A paced producer's waiter: count the calls. */
static void
pace_woken(void *arg)
{
	(*(int *)arg)++;
}

/*
 * Publish lines to everyone, reading every peer but a, until a's queue
 * holds at least n bytes or a drops a line.
 */
static uint64_t
fill_until(struct peer *a, size_t n, uint64_t seq)
{
	struct event	 ev = { 0 };
	char		 line[1000];
	size_t		 len;
	uint64_t	 dropped = fanout_sub_stats(a->sub)->dropped;

	while (fanout_sub_queued(a->sub) < n &&
	    fanout_sub_stats(a->sub)->dropped == dropped) {
		len = mkline(line, ++seq, sizeof line);
		publish(&ev, line, len, seq, NULL);
		fanout_flush(fo);
		pump(1, a);
	}
	return (seq);
}

/*
 * Producers of lines for everyone (a resync) pace on the subscribers that
 * keep up: fanout_over() holds once one has half its high mark queued, a
 * waiter armed then is called once, when it has drained to its low mark;
 * stalled, dropping and inactive subscribers hold nobody back.
 */
START_TEST(test_fanout_pace)
{
	struct sub_opts		 so = { 64 * 1024, 16 * 1024, SUB_DROP };
	struct fanout_waiter	*w;
	struct peer		*a, *b;
	uint64_t		 seq = 0;
	int			 woken = 0, i;

	fanout_set_stall_ms(fo, 3600 * 1000);
	peer_sndbuf = 4096;
	a = peer_new(&so);
	peer_sndbuf = 4096;
	b = peer_new(&so);
	w = fanout_waiter_new(fo, pace_woken, &woken);
	ck_assert_ptr_nonnull(w);

	/* Nothing queued: go on; an armed waiter is called from the loop. */
	ck_assert(!fanout_over(fo));
	fanout_waiter_arm(w);
	ck_assert_int_eq(woken, 0);
	pump(1, NULL);
	ck_assert_int_eq(woken, 1);

	/* a does not read (b does): at half its mark, producers pause. */
	seq = fill_until(a, so.hiwat / 2, seq);
	ck_assert(fanout_over(fo));
	ck_assert(!fanout_sub_over(a->sub));
	fanout_waiter_arm(w);
	fanout_waiter_arm(w);
	pump(3, a);
	ck_assert_int_eq(woken, 1);

	/* Once a has drained to its low mark: called, once. */
	for (i = 0; i < 1000 && woken == 1; i++)
		pump(1, NULL);
	ck_assert_int_eq(woken, 2);
	ck_assert_uint_le(fanout_sub_queued(a->sub), so.lowat);
	ck_assert(!fanout_over(fo));
	pump(3, NULL);
	ck_assert_int_eq(woken, 2);

	/* A stalled subscriber (nothing taken for the stall time) does not
	 * count; the waiting producers notice it within a few turns. */
	seq = fill_until(a, so.hiwat / 2, seq);
	ck_assert(fanout_over(fo));
	fanout_waiter_arm(w);
	pump(1, a);
	ck_assert_int_eq(woken, 2);
	fanout_set_stall_ms(fo, 0);
	ck_assert(!fanout_over(fo));
	for (i = 0; i < 100 && woken == 2; i++) {
		usleep(50 * 1000);
		pump(1, a);
	}
	ck_assert_int_eq(woken, 3);
	fanout_set_stall_ms(fo, 3600 * 1000);
	ck_assert(fanout_over(fo));

	/* A dropping one does not count either: it gets a lost line. */
	seq = fill_until(a, SIZE_MAX, seq);
	ck_assert_uint_gt(fanout_sub_stats(a->sub)->dropped, 0);
	ck_assert(!fanout_over(fo));

	/* Nor an inactive one. */
	for (i = 0; i < 1000 && fanout_sub_queued(a->sub) > 0; i++)
		pump(1, NULL);
	ck_assert_uint_eq(fanout_sub_stats(a->sub)->lost_reports, 1);
	seq = fill_until(a, so.hiwat / 2, seq);
	ck_assert(fanout_over(fo));
	fanout_sub_set_active(a->sub, false);
	ck_assert(!fanout_over(fo));
	ck_assert_uint_eq(fanout_sub_stats(b->sub)->dropped, 0);
	fanout_waiter_free(w);
}
END_TEST

/* The suite for fanout.c. */
Suite *
make_fanout_suite(void)
{
	Suite	*s = suite_create("fanout");
	TCase	*tc = tcase_create("fanout");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, fanout_setup, fanout_teardown);
	tcase_add_test(tc, test_fanout_many);
	tcase_add_test(tc, test_fanout_coalesce);
	tcase_add_test(tc, test_fanout_match);
	tcase_add_test(tc, test_fanout_match_limit);
	tcase_add_test(tc, test_fanout_idonly);
	tcase_add_test(tc, test_fanout_inactive);
	tcase_add_test(tc, test_fanout_slow);
	tcase_add_test(tc, test_fanout_disconnect);
	tcase_add_test(tc, test_fanout_epipe);
	tcase_add_test(tc, test_fanout_send_order);
	tcase_add_test(tc, test_fanout_big_line);
	tcase_add_test(tc, test_fanout_file);
	tcase_add_test(tc, test_fanout_drain);
	tcase_add_test(tc, test_fanout_finish_line);
	tcase_add_test(tc, test_fanout_unix_whole_lines);
	tcase_add_test(tc, test_fanout_totals);
	tcase_add_test(tc, test_bug_fanout_failed_pending);
	tcase_add_test(tc, test_fanout_pace);
	suite_add_tcase(s, tc);
	return (s);
}
