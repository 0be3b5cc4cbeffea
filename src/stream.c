/*
 * stream.c - the event path.
 *
 * Every message from an event source is decoded once, stamped with the
 * next sequence number, encoded once into a reused line buffer and handed
 * to the fan-out, which shares that one copy among all subscribers.
 * Overruns become {"type":"overrun",...} lines in the same stream, so a
 * subscriber sees the loss in order with the events, close to where it
 * happened (the kernel reports it ahead of the messages still queued).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <linux/netlink.h>

#include "buf.h"
#include "decode.h"
#include "encode.h"
#include "fanout.h"
#include "jw.h"
#include "log.h"
#include "stream.h"

struct stream {
	struct decoder		*dec;
	struct encoder		*enc;
	struct fanout		*fo;
	struct buf		 line;
	uint64_t		 seq;
	struct stream_stats	 st;
	stream_tap_fn		 tap;		/* another output, or NULL */
	void			*tap_arg;
};

/* Hand a finished stream line to the tap, if there is one. */
static void
stream_tap(struct stream *s, const char *type, const char *kind)
{
	if (s->tap != NULL && buf_ok(&s->line))
		s->tap(s->tap_arg, type, kind, s->line.data, s->line.len);
}

/* Make the event path feeding fo; enc stays the caller's. */
struct stream *
stream_new(struct fanout *fo, struct encoder *enc)
{
	struct stream	*s;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return (NULL);
	if ((s->dec = decoder_new()) == NULL) {
		free(s);
		return (NULL);
	}
	s->fo = fo;
	s->enc = enc;
	return (s);
}

/* Free the event path; NULL is fine. */
void
stream_free(struct stream *s)
{
	if (s == NULL)
		return;
	decoder_free(s->dec);
	buf_free(&s->line);
	free(s);
}

/*
 * Encode ev as one line (with its newline) into b, which is reset first.
 * A stream line (a live event) takes the next sequence number; a line for
 * one client only (snapshot, dump, get) carries the number of the last
 * stream line, its position in the stream, and takes none, so streams
 * have no gaps but the filtered ones.  Returns 0 or -ENOMEM.
 */
int
stream_encode(struct stream *s, struct event *ev, struct buf *b)
{
	struct jw	w;

	buf_reset(b);
	if (ev->kind == EV_SNAPSHOT || ev->kind == EV_DUMP ||
	    ev->kind == EV_GET)
		ev->seq = s->seq;
	else {
		ev->seq = ++s->seq;
		s->st.lines = s->seq;
	}
	jw_init_text(&w, b);
	encode_event(s->enc, &w, ev);
	buf_addc(b, '\n');
	return (buf_ok(b) ? 0 : -ENOMEM);
}

/*
 * One message from the namespace netns (written into the line when show
 * is set).  observe, if not NULL, sees the decoded event first.
 */
void
stream_msg(struct stream *s, const char *netns, bool show,
    const struct nlmsghdr *nlh, const struct timespec *when,
    void (*observe)(void *, const struct event *), void *arg)
{
	struct event	ev;
	int		error;

	if ((error = decode_msg(s->dec, nlh, &ev)) != 0) {
		if (error != -ENOMSG) {
			s->st.bad++;
			log_debug("undecodable message ignored (type %#x)",
			    nlh->nlmsg_type);
		}
		return;
	}
	ev.time = *when;
	ev.netns = netns;
	ev.show_netns = show;
	s->st.events[ev.type][ev.kind]++;
	if (observe != NULL)
		observe(arg, &ev);
	stream_publish(s, &ev);
}

/*
 * Encode an event made elsewhere (a resync finding) and offer it to the
 * subscribers, like one from the kernel.
 */
void
stream_publish(struct stream *s, struct event *ev)
{
	if (stream_encode(s, ev, &s->line) != 0) {
		log_warnx("out of memory encoding an event, dropped");
		return;
	}
	fanout_publish(s->fo, ev, s->line.data, s->line.len, ev->seq);
	stream_tap(s, event_type_name(ev->type), event_kind_name(ev->kind));
}


/*
 * The kernel dropped lost messages on the socket of netns: tell every
 * subscriber, in order, with a line of its own.
 */
void
stream_overrun(struct stream *s, const char *netns, uint64_t lost)
{
	struct timespec	now;
	struct jw	w;
	char		t[ENCODE_TIMELEN];
	size_t		n;

	s->st.overruns++;
	s->st.lost += lost;
	clock_gettime(CLOCK_REALTIME, &now);
	buf_reset(&s->line);
	jw_init_text(&w, &s->line);
	jw_obj_open(&w, NULL);
	jw_str(&w, "type", "overrun");
	jw_u64(&w, "lost", lost);
	jw_u64(&w, "seq", ++s->seq);
	s->st.lines = s->seq;
	n = encode_time(t, now.tv_sec, now.tv_nsec / 1000, 6);
	jw_strn(&w, "time", t, n);
	if (netns != NULL)
		jw_str(&w, "netns", netns);
	jw_obj_close(&w);
	buf_addc(&s->line, '\n');
	if (buf_ok(&s->line))
		fanout_publish(s->fo, NULL, s->line.data, s->line.len, s->seq);
	stream_tap(s, "overrun", NULL);
}

/*
 * A monitored namespace appeared or went away: tell every subscriber,
 * {"type":"netns","event":"new"|"gone","netns":NAME,...}.
 */
void
stream_netns(struct stream *s, const char *netns, const char *what)
{
	struct timespec	now;
	struct jw	w;
	char		t[ENCODE_TIMELEN];
	size_t		n;

	clock_gettime(CLOCK_REALTIME, &now);
	buf_reset(&s->line);
	jw_init_text(&w, &s->line);
	jw_obj_open(&w, NULL);
	jw_str(&w, "type", "netns");
	jw_str(&w, "event", what);
	jw_str(&w, "netns", netns);
	jw_u64(&w, "seq", ++s->seq);
	s->st.lines = s->seq;
	n = encode_time(t, now.tv_sec, now.tv_nsec / 1000, 6);
	jw_strn(&w, "time", t, n);
	jw_obj_close(&w);
	buf_addc(&s->line, '\n');
	if (buf_ok(&s->line))
		fanout_publish(s->fo, NULL, s->line.data, s->line.len, s->seq);
	stream_tap(s, "netns", what);
	fanout_flush(s->fo);
}

/*
 * The NATS output could not publish count lines numbered first to last
 * (dropped at its high watermark, or failed): tell every subscriber,
 * {"type":"nats","event":"lost","count":N,"first_seq":A,"last_seq":B,
 * "dropped":D,"failed":F,...}.
 */
void
stream_nats_lost(struct stream *s, uint64_t count, uint64_t first,
    uint64_t last, uint64_t dropped, uint64_t failed)
{
	struct timespec	now;
	struct jw	w;
	char		t[ENCODE_TIMELEN];
	size_t		n;

	clock_gettime(CLOCK_REALTIME, &now);
	buf_reset(&s->line);
	jw_init_text(&w, &s->line);
	jw_obj_open(&w, NULL);
	jw_str(&w, "type", "nats");
	jw_str(&w, "event", "lost");
	jw_u64(&w, "count", count);
	jw_u64(&w, "first_seq", first);
	jw_u64(&w, "last_seq", last);
	jw_u64(&w, "dropped", dropped);
	jw_u64(&w, "failed", failed);
	jw_u64(&w, "seq", ++s->seq);
	s->st.lines = s->seq;
	n = encode_time(t, now.tv_sec, now.tv_nsec / 1000, 6);
	jw_strn(&w, "time", t, n);
	jw_obj_close(&w);
	buf_addc(&s->line, '\n');
	if (buf_ok(&s->line))
		fanout_publish(s->fo, NULL, s->line.data, s->line.len, s->seq);
	stream_tap(s, "nats", "lost");
	fanout_flush(s->fo);
}

/* End of a batch: start the writes. */
void
stream_flush(struct stream *s)
{
	fanout_flush(s->fo);
}

/* Return the counters. */
const struct stream_stats *
stream_stats(const struct stream *s)
{
	return (&s->st);
}

/*
 * Have fn see every line of the stream (events, overruns, namespace
 * notices) after the subscribers got it: for outputs that are not
 * subscribers, such as a message bus.  type and kind name the line
 * ("ct", "new"; "overrun", NULL; "netns", "gone"; "nats", "lost"); while
 * fn runs, stream_stats()->lines is the line's seq.  NULL removes it.
 */
void
stream_set_tap(struct stream *s, stream_tap_fn fn, void *arg)
{
	s->tap = fn;
	s->tap_arg = arg;
}
