/*
 * fuzz_decode.c - libFuzzer harness: netlink bytes, decode, encode.
 *
 * The input is what one recv() on the event socket could return: a run
 * of netlink messages, walked with mnl_nlmsg_ok() as the daemon does.
 * Every message goes through decode_msg().  One that does not decode
 * must be refused with -ENOMSG or -EINVAL, and nothing else may happen
 * (the sanitizers watch).  One that decodes is encoded twice, as text and
 * as a jansson tree (the unit tests' equality proof): the text must be one
 * line of valid JSON without raw control characters, and must parse to
 * exactly the tree.  Any difference aborts.  The event is also matched
 * against a few filters, through filter_view() as the fan-out does, and
 * against a few kernel filters with kfilter_match(), as snapshots and
 * resyncs are (an expectation must pass every one).
 *
 * Bits of each message's nlmsg_seq choose the variant: bit 0 sets a netns
 * label and the resync flag, bit 1 encodes with a label map; nlmsg_pid
 * is the event's time in seconds.
 */
#include "config.h"

#include <sys/mman.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "buf.h"
#include "decode.h"
#include "encode.h"
#include "filter.h"
#include "fuzz.h"
#include "jw.h"
#include "kfilter.h"

static struct decoder	*dec;
static struct encoder	*enc;		/* no label map */
static struct encoder	*enc_lm;	/* labelmap below */
static struct buf	 line;
static struct filter	*filters[4];
static struct kfilter	*kfilters[3];

/* Kernel filters: protocol, source and destination lists. */
static const char *const kfilter_texts[][3] = {
	{ "tcp,udp", NULL, "10.0.0.0/8,fd00::/8" },
	{ "!icmp", "!127.0.0.0/8,::1,2001:db8::/32", NULL },
	{ NULL, "192.0.2.1", "!0.0.0.0/1,8000::/1" },
};

static const char labelmap[] =
	"# ctstreamd fuzzing labels\n"
	"0 zero\n"
	"3 web\n"
	"9 two words\n"
	"12 quote\"d\n"
	"31 \xc3\xa9t\xc3\xa9\n"
	"127 last\n";

static const char *const filter_texts[] = {
	"{\"types\":\"ct\",\"events\":[\"new\",\"destroy\"],\"family\":\"ipv4\","
	"\"proto\":[\"tcp\",\"udp\"],\"dst\":\"10.0.0.0/8\","
	"\"dport\":[\"80\",\"8000-8999\"],\"mark\":\"0x10/0xf0\","
	"\"not\":{\"src\":\"10.1.2.3\"}}",
	"{\"addr\":[\"::/0\",\"127.0.0.0/8\"],\"port\":[22,\"1-1024\"]}",
	"{\"types\":\"expect\",\"orig\":{\"src\":\"192.0.2.0/24\"},"
	"\"reply\":{\"dport\":21},\"zone\":[0,1]}",
	"{\"status\":[\"ASSURED\",\"SEEN_REPLY\"],\"state\":"
	"[\"ESTABLISHED\",\"SYN_SENT\"],\"not\":{\"proto\":\"icmp\"}}",
};

/* Make the decoder, the encoders and the filters once. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 path[64], err[FILTER_ERRLEN];
	json_t	*j;
	size_t	 i;
	int	 fd;

	if ((fd = memfd_create("fuzz-labelmap", 0)) == -1 ||
	    write(fd, labelmap, sizeof labelmap - 1) !=
	    (ssize_t)(sizeof labelmap - 1))
		fuzz_fail("cannot write the label map");
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if ((dec = decoder_new()) == NULL || (enc = encoder_new("")) == NULL ||
	    (enc_lm = encoder_new(path)) == NULL)
		fuzz_fail("cannot make the decoder or the encoders");
	close(fd);
	for (i = 0; i < sizeof filters / sizeof filters[0]; i++) {
		j = json_loads(filter_texts[i], 0, NULL);
		if (j == NULL ||
		    (filters[i] = filter_parse(j, err, sizeof err)) == NULL)
			fuzz_fail("filter %zu: %s", i, j == NULL ? "json" : err);
		json_decref(j);
	}
	for (i = 0; i < sizeof kfilters / sizeof kfilters[0]; i++)
		if (kfilter_parse(&kfilters[i], kfilter_texts[i][0],
		    kfilter_texts[i][1], kfilter_texts[i][2], err,
		    sizeof err) != 0 || kfilters[i] == NULL)
			fuzz_fail("kernel filter %zu: %s", i, err);
	return (0);
}

/* Encode ev both ways and hold the text to the tree. */
static void
check_event(struct encoder *e, struct event *ev)
{
	struct filter_view	 view;
	struct jw		 w;
	json_t			*tree;
	size_t			 i;

	buf_reset(&line);
	jw_init_text(&w, &line);
	encode_event(e, &w, ev);
	if (!buf_ok(&line))
		fuzz_fail("text encoding ran out of memory");
	if (w.depth != 0)
		fuzz_fail("text encoding left %d containers open", w.depth);
	for (i = 0; i < line.len; i++)
		if ((unsigned char)line.data[i] < 0x20)
			fuzz_fail("raw control character %#x at %zu",
			    (unsigned char)line.data[i], i);

	jw_init_jansson(&w);
	encode_event(e, &w, ev);
	if (w.depth != 0)
		fuzz_fail("tree encoding left %d containers open", w.depth);
	if ((tree = jw_take(&w)) == NULL)
		fuzz_fail("tree encoding failed");
	if (!json_is_object(tree))
		fuzz_fail("the tree is not an object");
	if (!fuzz_json_same(line.data, line.len, tree)) {
		char	*s = json_dumps(tree, JSON_COMPACT | JSON_SORT_KEYS);

		fuzz_fail("text and tree differ:\n text: %.*s\n tree: %s",
		    (int)line.len, line.data, s != NULL ? s : "?");
	}
	json_decref(tree);

	filter_view(ev, &view);
	for (i = 0; i < sizeof filters / sizeof filters[0]; i++)
		(void)filter_match(filters[i], &view);
	for (i = 0; i < sizeof kfilters / sizeof kfilters[0]; i++)
		if (!kfilter_match(kfilters[i], &view) &&
		    view.type != EV_TYPE_CT)
			fuzz_fail("kernel filter %zu refused an expectation",
			    i);
}

/* One input: a receive buffer of netlink messages. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct nlmsghdr	*nlh;
	struct event		 ev;
	void			*copy;
	int			 len, r;

	if (size > 65536)
		return (0);
	/* malloc'd memory is aligned as a receive buffer is. */
	if ((copy = malloc(size == 0 ? 1 : size)) == NULL)
		return (0);
	memcpy(copy, data, size);
	nlh = copy;
	len = (int)size;
	/*
	 * mnl_nlmsg_ok() compares nlmsg_len as a signed int, so it would
	 * take a length of 2 GiB or more for a short one; the kernel never
	 * sends such a length, and the daemon reads only the kernel's
	 * messages, so such input is not a message at all.
	 */
	while (len >= (int)sizeof *nlh && mnl_nlmsg_ok(nlh, len) &&
	    nlh->nlmsg_len <= (uint32_t)len) {
		r = decode_msg(dec, nlh, &ev);
		if (r == 0) {
			ev.seq = nlh->nlmsg_seq;
			ev.time.tv_sec = (time_t)nlh->nlmsg_pid;
			ev.time.tv_nsec = (long)(nlh->nlmsg_seq % 1000000000U);
			if (nlh->nlmsg_seq & 1) {
				ev.netns = "fz \"ns\"\n\xff";
				ev.resync = true;
			}
			check_event((nlh->nlmsg_seq & 2) ? enc_lm : enc, &ev);
		} else if (r != -ENOMSG && r != -EINVAL)
			fuzz_fail("decode_msg returned %d", r);
		nlh = mnl_nlmsg_next(nlh, &len);
	}
	free(copy);
	return (0);
}
