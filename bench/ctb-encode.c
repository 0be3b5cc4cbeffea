/*
 * ctb-encode.c - offline cost of ctstreamd's event path per event.
 *
 * Replays a corpus of real ctnetlink event messages (recorded by
 * "ctb-floor --record" in a namespace) through:
 *   parse    nfct_nlmsg_parse alone, into one reused object
 *   validate decode_validate (src/decode.c) alone
 *   reset    nfct_copy(NFCT_CP_OVERRIDE) of a blank object, which is how
 *            decode_msg empties its object before each parse
 *   walk     not ctstreamd code: one bounds-checked pass over every
 *            attribute, nested ones included, with inline code (no libmnl
 *            calls), keeping a pointer to each by type: what validating
 *            and finding attributes costs when done once (a lower bound
 *            for a native decoder)
 *   decode   decode_msg (src/decode.c): validate, reset, parse, extras
 *   encode   encode_event in text mode, plus the newline (as stream.c)
 *   both     decode_msg + encode_event: ctstreamd's path minus fan-out
 *   jansson  the same fields as a json_t tree (jw's jansson back end, so
 *            exactly the members ctstreamd writes) + json_dumps(COMPACT)
 *   xml      nfct_snprintf(NFCT_O_XML), what "conntrack -o xml" prints
 *   plain    nfct_snprintf(NFCT_O_DEFAULT, NFCT_OF_ID), what
 *            "conntrack -E -o id" prints
 * Every row runs over the same conntrack messages in the same process.
 * The rows are interleaved: REPS rounds, each timing one pass of every
 * row in turn, with the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID), so
 * that other processes on a busy machine slow each row alike and do not
 * count.  The fastest pass of each row is reported as ns_per_event (the
 * least disturbed), the median as ns_per_event_median.  Prints one JSON
 * object.
 */
#include "ctb.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "buf.h"
#include "decode.h"
#include "encode.h"
#include "event.h"
#include "jw.h"


#define REPS	15

static const struct nlmsghdr	**msgs;
static struct event		 *evs;
static size_t			  nmsg;
static volatile size_t		  sink;

typedef void	(*pass_fn)(void);

static struct decoder	*dec;
static struct encoder	*enc;
static struct buf	 line;
static struct nf_conntrack *pct;

static void
pass_parse(void)
{
	size_t	i;

	for (i = 0; i < nmsg; i++)
		sink += nfct_nlmsg_parse(msgs[i], pct);
}

static struct nf_conntrack *blank;

static void
pass_reset(void)
{
	size_t	i;

	for (i = 0; i < nmsg; i++)
		nfct_copy(pct, blank, NFCT_CP_OVERRIDE);
	sink += nfct_attr_is_set(pct, ATTR_ID);
}

/* Attributes kept by walk_attrs: [nest level][type]. */
#define WALK_LEVELS	4
#define WALK_TYPES	32
static const struct nlattr	*walked[WALK_LEVELS][WALK_TYPES];

/* Walk a run of attributes once, recursing into the nested ones. */
static int
walk_attrs(const char *p, size_t len, int level)
{
	const struct nlattr	*a;
	uint16_t		 alen, type;
	int			 n = 0;

	while (len >= sizeof *a) {
		a = (const struct nlattr *)p;
		alen = a->nla_len;
		if (alen < sizeof *a || alen > len)
			return (-1);
		type = a->nla_type & NLA_TYPE_MASK;
		if (type < WALK_TYPES && level < WALK_LEVELS)
			walked[level][type] = a;
		n++;
		if ((a->nla_type & NLA_F_NESTED) && level + 1 < WALK_LEVELS) {
			int	m = walk_attrs(p + NLA_HDRLEN, alen - NLA_HDRLEN,
			    level + 1);

			if (m < 0)
				return (-1);
			n += m;
		}
		alen = NLA_ALIGN(alen);
		if (alen > len)
			break;
		p += alen;
		len -= alen;
	}
	return (n);
}

static void
pass_walk(void)
{
	size_t	i, off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));

	for (i = 0; i < nmsg; i++)
		sink += walk_attrs((const char *)msgs[i] + off,
		    msgs[i]->nlmsg_len - off, 0);
	sink += (size_t)walked[0][1];
}

static void
pass_validate(void)
{
	size_t	i;

	for (i = 0; i < nmsg; i++)
		sink += decode_validate(msgs[i]);
}

static void
pass_decode(void)
{
	struct event	ev;
	size_t		i;

	for (i = 0; i < nmsg; i++)
		sink += decode_msg(dec, msgs[i], &ev);
}

static void
encode_one(struct event *ev)
{
	struct jw	w;

	buf_reset(&line);
	jw_init_text(&w, &line);
	encode_event(enc, &w, ev);
	buf_addc(&line, '\n');
	sink += line.len;
}

static void
pass_encode(void)
{
	size_t	i;

	for (i = 0; i < nmsg; i++)
		encode_one(&evs[i]);
}

static void
pass_both(void)
{
	struct event	ev;
	size_t		i;

	for (i = 0; i < nmsg; i++) {
		if (decode_msg(dec, msgs[i], &ev) != 0)
			continue;
		ev.seq = i + 1;
		ev.time = evs[i].time;
		encode_one(&ev);
	}
}

static void
pass_jansson(void)
{
	struct jw	 w;
	json_t		*j;
	char		*s;
	size_t		 i;

	for (i = 0; i < nmsg; i++) {
		jw_init_jansson(&w);
		encode_event(enc, &w, &evs[i]);
		j = jw_take(&w);
		s = json_dumps(j, JSON_COMPACT);
		sink += strlen(s);
		free(s);
		json_decref(j);
	}
}

static unsigned int
msgtype(const struct event *ev)
{
	return (ev->kind == EV_NEW ? NFCT_T_NEW : ev->kind == EV_UPDATE ?
	    NFCT_T_UPDATE : NFCT_T_DESTROY);
}

static void
pass_xml(void)
{
	char	b[4096];
	size_t	i;

	for (i = 0; i < nmsg; i++)
		sink += nfct_snprintf(b, sizeof b, evs[i].ct, msgtype(&evs[i]),
		    NFCT_O_XML, NFCT_OF_SHOW_LAYER3 | NFCT_OF_TIME);
}

static void
pass_plain(void)
{
	char	b[4096];
	size_t	i;

	for (i = 0; i < nmsg; i++)
		sink += nfct_snprintf(b, sizeof b, evs[i].ct, msgtype(&evs[i]),
		    NFCT_O_DEFAULT, NFCT_OF_ID | NFCT_OF_SHOW_LAYER3);
}

/* CPU time of this thread: what other processes take does not count. */
static uint64_t
cpu_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

static uint64_t
measure(pass_fn fn)
{
	uint64_t	t0 = cpu_ns();

	fn();
	return (cpu_ns() - t0);
}

int
main(int argc, char **argv)
{
	static const struct { const char *name; pass_fn fn; } rows[] = {
		{ "parse", pass_parse },
		{ "validate", pass_validate },
		{ "reset", pass_reset },
		{ "walk", pass_walk },
		{ "decode", pass_decode },
		{ "encode", pass_encode },
		{ "both", pass_both },
		{ "jansson", pass_jansson },
		{ "xml", pass_xml },
		{ "plain", pass_plain },
	};
	struct stat		 st;
	struct event		 ev;
	const struct nlmsghdr	*nlh;
	char			*data;
	size_t			 i, cap = 0, total = 0, kinds[3] = { 0 };
	size_t			 textbytes = 0, jbytes = 0, msgbytes = 0;
	size_t			 nattrs = 0;
	int			 fd, left;

	if (argc != 2)
		ctb_die("usage: ctb-encode CORPUS");
	if ((fd = open(argv[1], O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		ctb_die("%s: %s", argv[1], strerror(errno));
	if ((data = malloc(st.st_size + 1)) == NULL ||
	    read(fd, data, st.st_size) != st.st_size)
		ctb_die("%s: cannot read", argv[1]);
	close(fd);

	dec = decoder_new();
	enc = encoder_new("");
	pct = nfct_new();
	blank = nfct_new();
	left = (int)st.st_size;
	for (nlh = (void *)data; mnl_nlmsg_ok(nlh, left);
	    nlh = mnl_nlmsg_next(nlh, &left)) {
		total++;
		/* Conntrack events only, so that every row does the same. */
		if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK ||
		    decode_msg(dec, nlh, &ev) != 0)
			continue;
		if (nmsg == cap) {
			cap = cap ? cap * 2 : 1024;
			msgs = realloc(msgs, cap * sizeof *msgs);
			evs = realloc(evs, cap * sizeof *evs);
		}
		ev.ct = nfct_clone(ev.ct);
		ev.seq = nmsg + 1;
		clock_gettime(CLOCK_REALTIME, &ev.time);
		msgs[nmsg] = nlh;
		evs[nmsg] = ev;
		kinds[ev.kind < 3 ? ev.kind : 0]++;
		msgbytes += nlh->nlmsg_len;
		nmsg++;
	}
	if (nmsg == 0)
		ctb_die("no conntrack event in %s", argv[1]);
	for (i = 0; i < nmsg; i++) {
		size_t	off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
		int	na = walk_attrs((const char *)msgs[i] + off,
		    msgs[i]->nlmsg_len - off, 0);

		if (na > 0)
			nattrs += (size_t)na;
	}
	for (i = 0; i < nmsg; i++) {
		struct jw	 w;
		json_t		*j;
		char		*s;

		encode_one(&evs[i]);
		textbytes += line.len;
		jw_init_jansson(&w);
		encode_event(enc, &w, &evs[i]);
		j = jw_take(&w);
		s = json_dumps(j, JSON_COMPACT);
		jbytes += strlen(s) + 1;
		free(s);
		json_decref(j);
	}
	{
		enum { NROWS = sizeof rows / sizeof rows[0] };
		uint64_t	t[NROWS][REPS];
		int		r;
		size_t		k;

		for (k = 0; k < NROWS; k++)
			rows[k].fn();		/* warm up */
		for (r = 0; r < REPS; r++)
			for (k = 0; k < NROWS; k++)
				t[k][r] = measure(rows[k].fn);
		for (k = 0; k < NROWS; k++)
			qsort(t[k], REPS, sizeof t[k][0], ctb_cmp_u64);
		printf("{\"messages\":%zu,\"ct_events\":%zu,\"new\":%zu,"
		    "\"update\":%zu,\"destroy\":%zu,\"avg_msg_bytes\":%.1f,"
		    "\"avg_line_bytes\":%.1f,\"avg_jansson_bytes\":%.1f,"
		    "\"avg_attrs\":%.1f,"
		    "\"reps\":%d,\"clock\":\"thread_cputime\",", total, nmsg,
		    kinds[0], kinds[1], kinds[2], (double)msgbytes / nmsg,
		    (double)textbytes / nmsg, (double)jbytes / nmsg,
		    (double)nattrs / nmsg, REPS);
		printf("\"ns_per_event\":{");
		for (k = 0; k < NROWS; k++)
			printf("%s\"%s\":%.1f", k ? "," : "", rows[k].name,
			    (double)t[k][0] / nmsg);
		printf("},\"ns_per_event_median\":{");
		for (k = 0; k < NROWS; k++)
			printf("%s\"%s\":%.1f", k ? "," : "", rows[k].name,
			    (double)t[k][REPS / 2] / nmsg);
		printf("}}\n");
	}
	return (0);
}
