/*
 * check_encode.c - tests for encode.c and jw.c.
 *
 * Every fixture is a ctnetlink message that goes through decode_msg and
 * encode_event twice: once as text, which must parse to exactly the JSON
 * the fixture expects, and once as a jansson tree, which must equal the
 * parsed text (the equality proof: the hand-written text writer agrees
 * with jansson on every fixture).  The jw suite holds the writer to an
 * independent UTF-8 decoder and to jansson byte by byte, and on a fixed
 * pseudo-random corpus.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netfilter/nfnetlink_conntrack.h>

#include "buf.h"
#include "compat.h"
#include "decode.h"
#include "encode.h"
#include "jw.h"
#include "names.h"
#include "nlbuild.h"
#include "unit.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP	132
#endif
#ifndef IPPROTO_DCCP
#define IPPROTO_DCCP	33
#endif
#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE	136
#endif
#ifndef IPPROTO_GRE
#define IPPROTO_GRE	47
#endif

static struct decoder	*dec;
static struct encoder	*enc;		/* no label map */
static struct encoder	*enc_lm;	/* the label map below */
static char		*lmpath;
static struct nlbuild	 nb;

/* Label names for the fixtures; bit 12's name is refused by the library. */
static const char labelmap[] =
	"# ctstreamd unit test labels\n"
	"0 zero\n"
	"5 web\n"
	"9 my label-1\n"
	"12 bad\"name\n"
	"127 last\n";

/* Make the decoder and encoders each test uses. */
static void
encode_setup(void)
{
	dec = decoder_new();
	ck_assert_ptr_nonnull(dec);
	enc = encoder_new("");
	ck_assert_ptr_nonnull(enc);
	lmpath = unit_tmpfile(labelmap);
	ck_assert_ptr_nonnull(lmpath);
	enc_lm = encoder_new(lmpath);
	ck_assert_ptr_nonnull(enc_lm);
}

/* Free them and remove the label map. */
static void
encode_teardown(void)
{
	decoder_free(dec);
	encoder_free(enc);
	encoder_free(enc_lm);
	unlink(lmpath);
	free(lmpath);
}

#define F_LABELMAP	0x1	/* encode with the label map */
#define F_NETNS		0x2	/* set ev.netns and ev.resync */

struct fixture {
	const char	*name;
	void		(*build)(struct nlbuild *);
	const char	*expect;	/* the whole object */
	const char	*raw[4];	/* must appear in the text verbatim */
	int		 flags;
	time_t		 sec;		/* ev.time */
	long		 nsec;
};

#define T_DEF		1700000000, 123456789
#define HEAD(type, event) \
	"\"type\":\"" type "\",\"event\":\"" event "\",\"seq\":42," \
	"\"time\":\"2023-11-14T22:13:20.123456Z\""
#define CT(event)	"{" HEAD("ct", event)
#define EXP(event)	"{" HEAD("expect", event)

/* An IPv4 TCP or UDP tuple. */
static void
tuple4(struct nlbuild *b, uint16_t type, const char *src, const char *dst,
    int proto, uint16_t sport, uint16_t dport)
{
	struct nlbuild_tuple	t = { src, dst, proto, true, sport, dport,
				    false, 0, 0, 0, false, 0 };

	nlbuild_tuple(b, type, AF_INET, &t);
}

/* An IPv6 tuple with ports. */
static void
tuple6(struct nlbuild *b, uint16_t type, const char *src, const char *dst,
    int proto, uint16_t sport, uint16_t dport)
{
	struct nlbuild_tuple	t = { src, dst, proto, true, sport, dport,
				    false, 0, 0, 0, false, 0 };

	nlbuild_tuple(b, type, AF_INET6, &t);
}

/* Both directions of 10.0.0.1:40000 -> 10.0.0.2:80. */
static void
tuples_tcp4(struct nlbuild *b)
{
	tuple4(b, CTA_TUPLE_ORIG, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 40000,
	    80);
	tuple4(b, CTA_TUPLE_REPLY, "10.0.0.2", "10.0.0.1", IPPROTO_TCP, 80,
	    40000);
}

#define TCP4_TUPLES \
	"\"family\":\"ipv4\",\"proto\":\"tcp\",\"protonum\":6," \
	"\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\"," \
	"\"sport\":40000,\"dport\":80}," \
	"\"reply\":{\"src\":\"10.0.0.2\",\"dst\":\"10.0.0.1\"," \
	"\"sport\":80,\"dport\":40000}"

/* A TCP protoinfo nest with just the state. */
static void
tcp_state(struct nlbuild *b, uint8_t state)
{
	nlbuild_nest_start(b, CTA_PROTOINFO);
	nlbuild_nest_start(b, CTA_PROTOINFO_TCP);
	nlbuild_u8(b, CTA_PROTOINFO_TCP_STATE, state);
	nlbuild_nest_end(b);
	nlbuild_nest_end(b);
}

/* The example at the top of encode.c. */
static void
fx_tcp4_new(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET, true);
	tuples_tcp4(b);
	tcp_state(b, 1);
	nlbuild_be32(b, CTA_STATUS, 0);
	nlbuild_be32(b, CTA_TIMEOUT, 120);
	nlbuild_be32(b, CTA_MARK, 0);
	nlbuild_be32(b, CTA_USE, 1);
	nlbuild_be32(b, CTA_ID, 3735928559U);
}

/* IPv6 addresses in RFC 5952 form, an update. */
static void
fx_tcp6_update(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET6, false);
	tuple6(b, CTA_TUPLE_ORIG, "2001:0db8:0000:0000:0000:ff00:0042:8329",
	    "fe80:0:0:0:0:0:0:1", IPPROTO_TCP, 1024, 443);
	tuple6(b, CTA_TUPLE_REPLY, "::ffff:192.0.2.1", "2001:db8:0:1:0:0:0:0",
	    IPPROTO_TCP, 443, 1024);
	tcp_state(b, 3);
	nlbuild_be32(b, CTA_STATUS, 0xe);
	nlbuild_be32(b, CTA_TIMEOUT, 431999);
}

/* A destroyed UDP flow with counters and timestamps. */
static void
fx_udp_destroy(struct nlbuild *b)
{
	nlbuild_ct_delete(b, AF_INET);
	tuple4(b, CTA_TUPLE_ORIG, "192.168.0.10", "224.0.0.251", IPPROTO_UDP,
	    5353, 5353);
	tuple4(b, CTA_TUPLE_REPLY, "224.0.0.251", "192.168.0.10", IPPROTO_UDP,
	    5353, 5353);
	nlbuild_be32(b, CTA_STATUS, 8);
	nlbuild_nest_start(b, CTA_COUNTERS_ORIG);
	nlbuild_be64(b, CTA_COUNTERS_PACKETS, 10);
	nlbuild_be64(b, CTA_COUNTERS_BYTES, 1234);
	nlbuild_nest_end(b);
	nlbuild_nest_start(b, CTA_COUNTERS_REPLY);
	nlbuild_be64(b, CTA_COUNTERS_PACKETS, 0);
	nlbuild_be64(b, CTA_COUNTERS_BYTES, 0);
	nlbuild_nest_end(b);
	nlbuild_be32(b, CTA_ID, 7);
	nlbuild_nest_start(b, CTA_TIMESTAMP);
	nlbuild_be64(b, CTA_TIMESTAMP_START, 1700000000123456789ULL);
	nlbuild_be64(b, CTA_TIMESTAMP_STOP, 1700000060000000001ULL);
	nlbuild_nest_end(b);
}

/* UDP-Lite, extreme ports. */
static void
fx_udplite(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET, true);
	tuple4(b, CTA_TUPLE_ORIG, "1.2.3.4", "5.6.7.8", IPPROTO_UDPLITE, 1,
	    65535);
	tuple4(b, CTA_TUPLE_REPLY, "5.6.7.8", "1.2.3.4", IPPROTO_UDPLITE,
	    65535, 1);
}

/* ICMP echo: ICMP fields in both directions, the reply's from ev. */
static void
fx_icmp(struct nlbuild *b)
{
	struct nlbuild_tuple	t = { "10.1.1.1", "10.1.1.2", IPPROTO_ICMP,
				    false, 0, 0, true, 8, 0, 4660, false, 0 };

	nlbuild_ct_new(b, AF_INET, true);
	nlbuild_tuple(b, CTA_TUPLE_ORIG, AF_INET, &t);
	t.src = "10.1.1.2";
	t.dst = "10.1.1.1";
	t.icmp_type = 0;
	nlbuild_tuple(b, CTA_TUPLE_REPLY, AF_INET, &t);
	nlbuild_be32(b, CTA_TIMEOUT, 30);
}

/* ICMPv6 echo, with a code in the reply. */
static void
fx_icmpv6(struct nlbuild *b)
{
	struct nlbuild_tuple	t = { "2001:db8::1", "2001:db8::2",
				    IPPROTO_ICMPV6, false, 0, 0, true, 128, 0,
				    1, false, 0 };

	nlbuild_ct_delete(b, AF_INET6);
	nlbuild_tuple(b, CTA_TUPLE_ORIG, AF_INET6, &t);
	t.src = "2001:db8::2";
	t.dst = "2001:db8::1";
	t.icmp_type = 129;
	t.icmp_code = 255;
	t.icmp_id = 65535;
	nlbuild_tuple(b, CTA_TUPLE_REPLY, AF_INET6, &t);
}

/* SCTP with its state and verification tags. */
static void
fx_sctp(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET, false);
	tuple4(b, CTA_TUPLE_ORIG, "10.0.0.1", "10.0.0.2", IPPROTO_SCTP, 5000,
	    6000);
	tuple4(b, CTA_TUPLE_REPLY, "10.0.0.2", "10.0.0.1", IPPROTO_SCTP, 6000,
	    5000);
	nlbuild_nest_start(b, CTA_PROTOINFO);
	nlbuild_nest_start(b, CTA_PROTOINFO_SCTP);
	nlbuild_u8(b, CTA_PROTOINFO_SCTP_STATE, 4);
	nlbuild_be32(b, CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, 0x01020304);
	nlbuild_be32(b, CTA_PROTOINFO_SCTP_VTAG_REPLY, 0xfffffffe);
	nlbuild_nest_end(b);
	nlbuild_nest_end(b);
}

/* DCCP with state, role and handshake sequence. */
static void
fx_dccp(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET, false);
	tuple4(b, CTA_TUPLE_ORIG, "10.0.0.1", "10.0.0.2", IPPROTO_DCCP, 5001,
	    6001);
	nlbuild_nest_start(b, CTA_PROTOINFO);
	nlbuild_nest_start(b, CTA_PROTOINFO_DCCP);
	nlbuild_u8(b, CTA_PROTOINFO_DCCP_STATE, 4);
	nlbuild_u8(b, CTA_PROTOINFO_DCCP_ROLE, 1);
	nlbuild_be64(b, CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ, 0xfeedfacecafeULL);
	nlbuild_nest_end(b);
	nlbuild_nest_end(b);
}

/* DCCP with a role and a state that have no name. */
static void
fx_dccp_unnamed(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET, false);
	tuple4(b, CTA_TUPLE_ORIG, "10.0.0.1", "10.0.0.2", IPPROTO_DCCP, 5001,
	    6001);
	nlbuild_nest_start(b, CTA_PROTOINFO);
	nlbuild_nest_start(b, CTA_PROTOINFO_DCCP);
	nlbuild_u8(b, CTA_PROTOINFO_DCCP_STATE, 10);
	nlbuild_u8(b, CTA_PROTOINFO_DCCP_ROLE, 2);
	nlbuild_nest_end(b);
	nlbuild_nest_end(b);
}

/* DCCP client in state NONE, handshake sequence 0. */
static void
fx_dccp_client(struct nlbuild *b)
{
	nlbuild_ct_delete(b, AF_INET);
	tuple4(b, CTA_TUPLE_ORIG, "10.0.0.1", "10.0.0.2", IPPROTO_DCCP, 5001,
	    6001);
	nlbuild_nest_start(b, CTA_PROTOINFO);
	nlbuild_nest_start(b, CTA_PROTOINFO_DCCP);
	nlbuild_u8(b, CTA_PROTOINFO_DCCP_STATE, 0);
	nlbuild_u8(b, CTA_PROTOINFO_DCCP_ROLE, 0);
	nlbuild_be64(b, CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ, 0);
	nlbuild_nest_end(b);
	nlbuild_nest_end(b);
}

/* GRE: keys travel as ports. */
static void
fx_gre(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET, true);
	tuple4(b, CTA_TUPLE_ORIG, "10.0.0.1", "10.0.0.2", IPPROTO_GRE, 0x1234,
	    0x5678);
	tuple4(b, CTA_TUPLE_REPLY, "10.0.0.2", "10.0.0.1", IPPROTO_GRE, 0x5678,
	    0x1234);
}

/* A protocol without a name and without ports. */
static void
fx_proto253(struct nlbuild *b)
{
	struct nlbuild_tuple	t = { "10.0.0.1", "10.0.0.2", 253, false, 0,
				    0, false, 0, 0, 0, false, 0 };

	nlbuild_ct_new(b, AF_INET, true);
	nlbuild_tuple(b, CTA_TUPLE_ORIG, AF_INET, &t);
	t.src = "10.0.0.2";
	t.dst = "10.0.0.1";
	nlbuild_tuple(b, CTA_TUPLE_REPLY, AF_INET, &t);
}

/* Labels: bits 0, 5 and 127 of a 128-bit set. */
static void
put_labels(struct nlbuild *b, const unsigned int *bits, size_t n,
    size_t bytes)
{
	unsigned char	l[64];
	size_t		i;

	memset(l, 0, sizeof l);
	/* Host-order longs, as the kernel sends them (little-endian here). */
	for (i = 0; i < n; i++)
		l[bits[i] / 8] |= 1U << (bits[i] % 8);
	nlbuild_bytes(b, CTA_LABELS, l, bytes);
}

/* Every conntrack attribute there is. */
static void
fx_all(struct nlbuild *b)
{
	static const unsigned int	 bits[] = { 0, 5, 127 };
	static const unsigned char	 info[] = { 0x00, 0x01, 0xfe, 0xff,
					    0x80, 0x7f };
	struct nlbuild_tuple		 t = { "10.0.0.1", "10.0.0.2",
					    IPPROTO_TCP, true, 40000, 80,
					    false, 0, 0, 0, true, 7 };
	unsigned char			 fl[2];

	nlbuild_ct_new(b, AF_INET, true);
	nlbuild_tuple(b, CTA_TUPLE_ORIG, AF_INET, &t);
	t.src = "10.0.0.2";
	t.dst = "10.0.0.1";
	t.sport = 80;
	t.dport = 40000;
	t.zone_id = 9;
	nlbuild_tuple(b, CTA_TUPLE_REPLY, AF_INET, &t);
	tuple4(b, CTA_TUPLE_MASTER, "192.168.1.1", "192.168.1.2", IPPROTO_TCP,
	    1111, 21);
	nlbuild_be32(b, CTA_STATUS, (1U << 3) | (1U << 13) | (1U << 20) |
	    (1U << 31));
	nlbuild_nest_start(b, CTA_PROTOINFO);
	nlbuild_nest_start(b, CTA_PROTOINFO_TCP);
	nlbuild_u8(b, CTA_PROTOINFO_TCP_STATE, 3);
	nlbuild_u8(b, CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, 7);
	nlbuild_u8(b, CTA_PROTOINFO_TCP_WSCALE_REPLY, 14);
	fl[0] = 0x03;
	fl[1] = 0xff;
	nlbuild_bytes(b, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, fl, 2);
	fl[0] = 0x88;
	nlbuild_bytes(b, CTA_PROTOINFO_TCP_FLAGS_REPLY, fl, 2);
	nlbuild_nest_end(b);
	nlbuild_nest_end(b);
	nlbuild_be32(b, CTA_TIMEOUT, 431999);
	nlbuild_be32(b, CTA_MARK, 3735928559U);
	nlbuild_nest_start(b, CTA_COUNTERS_ORIG);
	nlbuild_be64(b, CTA_COUNTERS_PACKETS, 10);
	nlbuild_be64(b, CTA_COUNTERS_BYTES, 5000);
	nlbuild_nest_end(b);
	nlbuild_nest_start(b, CTA_COUNTERS_REPLY);
	nlbuild_be64(b, CTA_COUNTERS_PACKETS, 20);
	nlbuild_be64(b, CTA_COUNTERS_BYTES, 6000);
	nlbuild_nest_end(b);
	nlbuild_be32(b, CTA_USE, 2);
	nlbuild_be32(b, CTA_ID, 1);
	nlbuild_nest_start(b, CTA_SEQ_ADJ_ORIG);
	nlbuild_be32(b, CTA_SEQADJ_CORRECTION_POS, 100);
	nlbuild_be32(b, CTA_SEQADJ_OFFSET_BEFORE, 200);
	nlbuild_be32(b, CTA_SEQADJ_OFFSET_AFTER, 300);
	nlbuild_nest_end(b);
	nlbuild_nest_start(b, CTA_SEQ_ADJ_REPLY);
	nlbuild_be32(b, CTA_SEQADJ_CORRECTION_POS, 101);
	nlbuild_be32(b, CTA_SEQADJ_OFFSET_BEFORE, 201);
	nlbuild_be32(b, CTA_SEQADJ_OFFSET_AFTER, 301);
	nlbuild_nest_end(b);
	nlbuild_be32(b, CTA_SECMARK, 77);
	nlbuild_be16(b, CTA_ZONE, 513);
	nlbuild_nest_start(b, CTA_SECCTX);
	nlbuild_str(b, CTA_SECCTX_NAME, "system_u:object_r:unlabeled_t:s0");
	nlbuild_nest_end(b);
	nlbuild_nest_start(b, CTA_TIMESTAMP);
	nlbuild_be64(b, CTA_TIMESTAMP_START, 1700000000123456789ULL);
	nlbuild_be64(b, CTA_TIMESTAMP_STOP, 1700000060000000001ULL);
	nlbuild_nest_end(b);
	put_labels(b, bits, nitems(bits), 16);
	nlbuild_nest_start(b, CTA_SYNPROXY);
	nlbuild_be32(b, CTA_SYNPROXY_ISN, 11);
	nlbuild_be32(b, CTA_SYNPROXY_ITS, 12);
	nlbuild_be32(b, CTA_SYNPROXY_TSOFF, 13);
	nlbuild_nest_end(b);
	nlbuild_nest_start(b, CTA_HELP);
	nlbuild_str(b, CTA_HELP_NAME, "ftp");
	nlbuild_bytes(b, CTA_HELP_INFO, info, sizeof info);
	nlbuild_nest_end(b);
}

/* A label set with no bit set. */
static void
fx_labels_empty(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET, false);
	tuples_tcp4(b);
	put_labels(b, NULL, 0, 16);
}

/* Labels of which most have names in the map. */
static void
fx_labels_named(struct nlbuild *b)
{
	static const unsigned int	bits[] = { 0, 5, 9, 12, 127 };

	nlbuild_ct_new(b, AF_INET, false);
	tuples_tcp4(b);
	put_labels(b, bits, nitems(bits), 16);
}

/* Labels of which none has a name, one past the map's last bit. */
static void
fx_labels_unnamed(struct nlbuild *b)
{
	static const unsigned int	bits[] = { 1, 2, 100, 126 };

	nlbuild_ct_new(b, AF_INET, false);
	tuples_tcp4(b);
	put_labels(b, bits, nitems(bits), 16);
}

/* Zero ports and the largest values every field can hold. */
static void
fx_extremes(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET, true);
	tuple4(b, CTA_TUPLE_ORIG, "0.0.0.0", "255.255.255.255", IPPROTO_TCP,
	    0, 0);
	tuple4(b, CTA_TUPLE_REPLY, "255.255.255.255", "0.0.0.0", IPPROTO_TCP,
	    65535, 65535);
	nlbuild_nest_start(b, CTA_COUNTERS_ORIG);
	nlbuild_be64(b, CTA_COUNTERS_PACKETS, UINT64_MAX);
	nlbuild_be64(b, CTA_COUNTERS_BYTES, UINT64_MAX);
	nlbuild_nest_end(b);
	nlbuild_nest_start(b, CTA_COUNTERS_REPLY);
	nlbuild_be64(b, CTA_COUNTERS_PACKETS, (uint64_t)INT64_MAX);
	nlbuild_be64(b, CTA_COUNTERS_BYTES, 0);
	nlbuild_nest_end(b);
	nlbuild_be32(b, CTA_MARK, UINT32_MAX);
	nlbuild_be32(b, CTA_TIMEOUT, 0);
	nlbuild_be32(b, CTA_USE, UINT32_MAX);
	nlbuild_be32(b, CTA_ID, 0);
	nlbuild_be32(b, CTA_SECMARK, 0);
	nlbuild_be16(b, CTA_ZONE, 65535);
	nlbuild_be32(b, CTA_STATUS, UINT32_MAX);
}

/* Nothing but the header: only what is always there. */
static void
fx_empty(struct nlbuild *b)
{
	nlbuild_ct_delete(b, AF_INET);
}

/* An original tuple without protocol, and helper info without a name. */
static void
fx_partial(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET6, false);
	nlbuild_nest_start(b, CTA_TUPLE_ORIG);
	nlbuild_nest_start(b, CTA_TUPLE_IP);
	nlbuild_addr(b, CTA_IP_V6_SRC, AF_INET6, "::1");
	nlbuild_nest_end(b);
	nlbuild_nest_end(b);
	nlbuild_nest_start(b, CTA_HELP);
	nlbuild_bytes(b, CTA_HELP_INFO, "\xab\xcd", 2);
	nlbuild_nest_end(b);
}

/* A TCP state without a name; all TCP flags one way, none the other. */
static void
fx_tcp_odd(struct nlbuild *b)
{
	unsigned char	fl[2] = { 0xff, 0xff };

	nlbuild_ct_new(b, AF_INET, false);
	tuples_tcp4(b);
	nlbuild_nest_start(b, CTA_PROTOINFO);
	nlbuild_nest_start(b, CTA_PROTOINFO_TCP);
	nlbuild_u8(b, CTA_PROTOINFO_TCP_STATE, 42);
	nlbuild_bytes(b, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, fl, 2);
	fl[0] = 0;
	nlbuild_bytes(b, CTA_PROTOINFO_TCP_FLAGS_REPLY, fl, 2);
	nlbuild_nest_end(b);
	nlbuild_nest_end(b);
}

/* A large helper info, past the encoder's stack buffer. */
static void
fx_helper_info_big(struct nlbuild *b)
{
	unsigned char	info[100];
	size_t		i;

	for (i = 0; i < sizeof info; i++)
		info[i] = (unsigned char)i;
	nlbuild_ct_new(b, AF_INET, false);
	tuples_tcp4(b);
	nlbuild_nest_start(b, CTA_HELP);
	nlbuild_str(b, CTA_HELP_NAME, "sip");
	nlbuild_bytes(b, CTA_HELP_INFO, info, sizeof info);
	nlbuild_nest_end(b);
}

/* A conntrack with a helper of the given name. */
static void
ct_helper(struct nlbuild *b, const char *name)
{
	nlbuild_ct_new(b, AF_INET, false);
	tuples_tcp4(b);
	nlbuild_nest_start(b, CTA_HELP);
	nlbuild_str(b, CTA_HELP_NAME, name);
	nlbuild_nest_end(b);
}

/* Every character JSON must escape, in a helper name. */
static void
fx_esc_helper(struct nlbuild *b)
{
	ct_helper(b, "q\"\\\b\f\n\r\t\x01\x1f/");
}

/* The library keeps 15 bytes of a helper name. */
static void
fx_esc_helper_long(struct nlbuild *b)
{
	ct_helper(b, "abcdefghijklmnopqrstuvwxyz");
}

/* ... even when that cuts a UTF-8 sequence in two. */
static void
fx_esc_helper_cut(struct nlbuild *b)
{
	ct_helper(b, "abcdefghijklmn\xc3\xa9");
}

/* Escapes, valid multi-byte UTF-8 and every kind of invalid UTF-8. */
static void
fx_esc_secctx(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET, false);
	tuples_tcp4(b);
	nlbuild_nest_start(b, CTA_SECCTX);
	nlbuild_str(b, CTA_SECCTX_NAME,
	    "a\"b\\c/\x7f\x01\x02\x1b \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
	    "|\xff|\xc3(|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\x80\xbf"
	    "|\xf8\x88\x80\x80\x80|\xe2\x82");
	nlbuild_nest_end(b);
}

/* The expectation example at the top of encode.c. */
static void
fx_exp_ftp(struct nlbuild *b)
{
	nlbuild_exp_new(b, AF_INET, true);
	tuple4(b, CTA_EXPECT_MASTER, "10.0.0.1", "10.0.0.2", IPPROTO_TCP,
	    40001, 21);
	tuple4(b, CTA_EXPECT_TUPLE, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 0,
	    51210);
	tuple4(b, CTA_EXPECT_MASK, "255.255.255.255", "255.255.255.255",
	    IPPROTO_TCP, 0, 65535);
	nlbuild_be32(b, CTA_EXPECT_TIMEOUT, 300);
	nlbuild_be32(b, CTA_EXPECT_ID, 1234);
	nlbuild_str(b, CTA_EXPECT_HELP_NAME, "ftp");
	nlbuild_be32(b, CTA_EXPECT_CLASS, 0);
	nlbuild_be32(b, CTA_EXPECT_FLAGS, 0);
	nlbuild_be16(b, CTA_EXPECT_ZONE, 0);
}

/* An expectation with every attribute. */
static void
fx_exp_all(struct nlbuild *b)
{
	struct nlbuild_tuple	t = { "192.168.7.7", "10.0.0.9", IPPROTO_UDP,
				    true, 0, 5062, false, 0, 0, 0, true, 5 };

	nlbuild_exp_new(b, AF_INET, true);
	tuple4(b, CTA_EXPECT_MASTER, "10.0.0.9", "192.168.7.7", IPPROTO_UDP,
	    5060, 5060);
	tuple4(b, CTA_EXPECT_TUPLE, "192.168.7.7", "10.0.0.9", IPPROTO_UDP, 0,
	    5062);
	tuple4(b, CTA_EXPECT_MASK, "255.255.255.255", "255.255.255.255",
	    IPPROTO_UDP, 0, 65535);
	nlbuild_be32(b, CTA_EXPECT_TIMEOUT, 0xffffffff);
	nlbuild_be32(b, CTA_EXPECT_ID, 0xffffffff);
	nlbuild_str(b, CTA_EXPECT_HELP_NAME, "sip");
	nlbuild_be16(b, CTA_EXPECT_ZONE, 65535);
	nlbuild_be32(b, CTA_EXPECT_FLAGS, 0x1f);
	nlbuild_be32(b, CTA_EXPECT_CLASS, 1);
	nlbuild_nest_start(b, CTA_EXPECT_NAT);
	nlbuild_be32(b, CTA_EXPECT_NAT_DIR, 1);
	nlbuild_tuple(b, CTA_EXPECT_NAT_TUPLE, AF_INET, &t);
	nlbuild_nest_end(b);
	nlbuild_str(b, CTA_EXPECT_FN, "nat-follow-master");
}

/* An IPv6 expectation going away, NAT in the original direction. */
static void
fx_exp_v6(struct nlbuild *b)
{
	nlbuild_exp_delete(b, AF_INET6);
	tuple6(b, CTA_EXPECT_MASTER, "2001:db8::1", "2001:db8::2",
	    IPPROTO_TCP, 40001, 21);
	tuple6(b, CTA_EXPECT_TUPLE, "2001:db8::1", "2001:db8::2",
	    IPPROTO_TCP, 0, 50000);
	tuple6(b, CTA_EXPECT_MASK, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IPPROTO_TCP, 0, 65535);
	nlbuild_be32(b, CTA_EXPECT_FLAGS, 0x2);
	nlbuild_nest_start(b, CTA_EXPECT_NAT);
	nlbuild_be32(b, CTA_EXPECT_NAT_DIR, 0);
	nlbuild_nest_end(b);
}

/* Escaping in the expectation's helper and function names. */
static void
fx_exp_esc(struct nlbuild *b)
{
	nlbuild_exp_new(b, AF_INET, true);
	tuple4(b, CTA_EXPECT_MASTER, "10.0.0.1", "10.0.0.2", IPPROTO_TCP,
	    40001, 21);
	nlbuild_str(b, CTA_EXPECT_HELP_NAME, "x\ty\"z\\\x7f");
	nlbuild_str(b, CTA_EXPECT_FN, "f\n\x05\xff\xe2\x82\xac/");
}

/* A conntrack for the namespace, resync and time fixtures. */
static void
fx_plain(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET, true);
	tuples_tcp4(b);
}

static const struct fixture fixtures[] = {
	{ "tcp4_new", fx_tcp4_new,
	    CT("new") ",\"id\":3735928559," TCP4_TUPLES ","
	    "\"state\":\"SYN_SENT\",\"status\":[],\"timeout\":120,"
	    "\"mark\":0,\"use\":1}",
	    { NULL }, 0, T_DEF },
	{ "tcp6_update", fx_tcp6_update,
	    CT("update") ",\"family\":\"ipv6\",\"proto\":\"tcp\","
	    "\"protonum\":6,"
	    "\"orig\":{\"src\":\"2001:db8::ff00:42:8329\","
	    "\"dst\":\"fe80::1\",\"sport\":1024,\"dport\":443},"
	    "\"reply\":{\"src\":\"::ffff:192.0.2.1\","
	    "\"dst\":\"2001:db8:0:1::\",\"sport\":443,\"dport\":1024},"
	    "\"state\":\"ESTABLISHED\","
	    "\"status\":[\"SEEN_REPLY\",\"ASSURED\",\"CONFIRMED\"],"
	    "\"timeout\":431999}",
	    { "\"status\":[\"SEEN_REPLY\",\"ASSURED\",\"CONFIRMED\"]" },
	    0, T_DEF },
	{ "udp_destroy", fx_udp_destroy,
	    CT("destroy") ",\"id\":7,\"family\":\"ipv4\",\"proto\":\"udp\","
	    "\"protonum\":17,"
	    "\"orig\":{\"src\":\"192.168.0.10\",\"dst\":\"224.0.0.251\","
	    "\"sport\":5353,\"dport\":5353,\"packets\":10,\"bytes\":1234},"
	    "\"reply\":{\"src\":\"224.0.0.251\",\"dst\":\"192.168.0.10\","
	    "\"sport\":5353,\"dport\":5353,\"packets\":0,\"bytes\":0},"
	    "\"status\":[\"CONFIRMED\"],"
	    "\"start\":\"2023-11-14T22:13:20.123456789Z\","
	    "\"stop\":\"2023-11-14T22:14:20.000000001Z\"}",
	    { "\"start\":\"2023-11-14T22:13:20.123456789Z\"" }, 0, T_DEF },
	{ "udplite", fx_udplite,
	    CT("new") ",\"family\":\"ipv4\",\"proto\":\"udplite\","
	    "\"protonum\":136,"
	    "\"orig\":{\"src\":\"1.2.3.4\",\"dst\":\"5.6.7.8\","
	    "\"sport\":1,\"dport\":65535},"
	    "\"reply\":{\"src\":\"5.6.7.8\",\"dst\":\"1.2.3.4\","
	    "\"sport\":65535,\"dport\":1}}",
	    { NULL }, 0, T_DEF },
	{ "icmp", fx_icmp,
	    CT("new") ",\"family\":\"ipv4\",\"proto\":\"icmp\","
	    "\"protonum\":1,"
	    "\"orig\":{\"src\":\"10.1.1.1\",\"dst\":\"10.1.1.2\","
	    "\"icmp_type\":8,\"icmp_code\":0,\"icmp_id\":4660},"
	    "\"reply\":{\"src\":\"10.1.1.2\",\"dst\":\"10.1.1.1\","
	    "\"icmp_type\":0,\"icmp_code\":0,\"icmp_id\":4660},"
	    "\"timeout\":30}",
	    { NULL }, 0, T_DEF },
	{ "icmpv6", fx_icmpv6,
	    CT("destroy") ",\"family\":\"ipv6\",\"proto\":\"icmpv6\","
	    "\"protonum\":58,"
	    "\"orig\":{\"src\":\"2001:db8::1\",\"dst\":\"2001:db8::2\","
	    "\"icmp_type\":128,\"icmp_code\":0,\"icmp_id\":1},"
	    "\"reply\":{\"src\":\"2001:db8::2\",\"dst\":\"2001:db8::1\","
	    "\"icmp_type\":129,\"icmp_code\":255,\"icmp_id\":65535}}",
	    { NULL }, 0, T_DEF },
	{ "sctp", fx_sctp,
	    CT("update") ",\"family\":\"ipv4\",\"proto\":\"sctp\","
	    "\"protonum\":132,"
	    "\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\","
	    "\"sport\":5000,\"dport\":6000},"
	    "\"reply\":{\"src\":\"10.0.0.2\",\"dst\":\"10.0.0.1\","
	    "\"sport\":6000,\"dport\":5000},"
	    "\"state\":\"ESTABLISHED\","
	    "\"sctp\":{\"vtag_orig\":16909060,\"vtag_reply\":4294967294}}",
	    { NULL }, 0, T_DEF },
	{ "dccp", fx_dccp,
	    CT("update") ",\"family\":\"ipv4\",\"proto\":\"dccp\","
	    "\"protonum\":33,"
	    "\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\","
	    "\"sport\":5001,\"dport\":6001},"
	    "\"state\":\"OPEN\","
	    "\"dccp\":{\"role\":\"server\",\"handshake_seq\":280298068560638}}",
	    { NULL }, 0, T_DEF },
	{ "dccp_unnamed", fx_dccp_unnamed,
	    CT("update") ",\"family\":\"ipv4\",\"proto\":\"dccp\","
	    "\"protonum\":33,"
	    "\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\","
	    "\"sport\":5001,\"dport\":6001},"
	    "\"state\":\"10\",\"dccp\":{\"role\":2}}",
	    { NULL }, 0, T_DEF },
	{ "dccp_client", fx_dccp_client,
	    CT("destroy") ",\"family\":\"ipv4\",\"proto\":\"dccp\","
	    "\"protonum\":33,"
	    "\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\","
	    "\"sport\":5001,\"dport\":6001},"
	    "\"state\":\"NONE\",\"dccp\":{\"role\":\"client\","
	    "\"handshake_seq\":0}}",
	    { NULL }, 0, T_DEF },
	{ "gre", fx_gre,
	    CT("new") ",\"family\":\"ipv4\",\"proto\":\"gre\","
	    "\"protonum\":47,"
	    "\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\","
	    "\"sport\":4660,\"dport\":22136},"
	    "\"reply\":{\"src\":\"10.0.0.2\",\"dst\":\"10.0.0.1\","
	    "\"sport\":22136,\"dport\":4660}}",
	    { NULL }, 0, T_DEF },
	{ "proto253", fx_proto253,
	    CT("new") ",\"family\":\"ipv4\",\"proto\":\"253\","
	    "\"protonum\":253,"
	    "\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\"},"
	    "\"reply\":{\"src\":\"10.0.0.2\",\"dst\":\"10.0.0.1\"}}",
	    { "\"proto\":\"253\"" }, 0, T_DEF },
	{ "all", fx_all,
	    CT("new") ",\"id\":1,\"family\":\"ipv4\",\"proto\":\"tcp\","
	    "\"protonum\":6,"
	    "\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\","
	    "\"sport\":40000,\"dport\":80,\"packets\":10,\"bytes\":5000,"
	    "\"zone\":7},"
	    "\"reply\":{\"src\":\"10.0.0.2\",\"dst\":\"10.0.0.1\","
	    "\"sport\":80,\"dport\":40000,\"packets\":20,\"bytes\":6000,"
	    "\"zone\":9},"
	    "\"master\":{\"src\":\"192.168.1.1\",\"dst\":\"192.168.1.2\","
	    "\"sport\":1111,\"dport\":21},"
	    "\"state\":\"ESTABLISHED\","
	    "\"status\":[\"CONFIRMED\",\"HELPER\",\"BIT20\",\"BIT31\"],"
	    "\"timeout\":431999,\"mark\":3735928559,\"secmark\":77,"
	    "\"secctx\":\"system_u:object_r:unlabeled_t:s0\","
	    "\"zone\":513,\"use\":2,\"labels\":[0,5,127],"
	    "\"helper\":\"ftp\",\"helper_info\":\"0001feff807f\","
	    "\"start\":\"2023-11-14T22:13:20.123456789Z\","
	    "\"stop\":\"2023-11-14T22:14:20.000000001Z\","
	    "\"tcp\":{\"wscale_orig\":7,\"wscale_reply\":14,"
	    "\"flags_orig\":[\"WINDOW_SCALE\",\"SACK_PERM\"],"
	    "\"flags_reply\":[\"BE_LIBERAL\",\"SIMULTANEOUS_OPEN\"]},"
	    "\"seqadj\":{\"orig\":{\"correction_pos\":100,"
	    "\"offset_before\":200,\"offset_after\":300},"
	    "\"reply\":{\"correction_pos\":101,\"offset_before\":201,"
	    "\"offset_after\":301}},"
	    "\"synproxy\":{\"isn\":11,\"its\":12,\"tsoff\":13}}",
	    { "\"BIT20\",\"BIT31\"]", "\"mark\":3735928559" }, 0, T_DEF },
	{ "all_labelmap", fx_all,
	    CT("new") ",\"id\":1,\"family\":\"ipv4\",\"proto\":\"tcp\","
	    "\"protonum\":6,"
	    "\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\","
	    "\"sport\":40000,\"dport\":80,\"packets\":10,\"bytes\":5000,"
	    "\"zone\":7},"
	    "\"reply\":{\"src\":\"10.0.0.2\",\"dst\":\"10.0.0.1\","
	    "\"sport\":80,\"dport\":40000,\"packets\":20,\"bytes\":6000,"
	    "\"zone\":9},"
	    "\"master\":{\"src\":\"192.168.1.1\",\"dst\":\"192.168.1.2\","
	    "\"sport\":1111,\"dport\":21},"
	    "\"state\":\"ESTABLISHED\","
	    "\"status\":[\"CONFIRMED\",\"HELPER\",\"BIT20\",\"BIT31\"],"
	    "\"timeout\":431999,\"mark\":3735928559,\"secmark\":77,"
	    "\"secctx\":\"system_u:object_r:unlabeled_t:s0\","
	    "\"zone\":513,\"use\":2,\"labels\":[0,5,127],"
	    "\"label_names\":{\"0\":\"zero\",\"5\":\"web\",\"127\":\"last\"},"
	    "\"helper\":\"ftp\",\"helper_info\":\"0001feff807f\","
	    "\"start\":\"2023-11-14T22:13:20.123456789Z\","
	    "\"stop\":\"2023-11-14T22:14:20.000000001Z\","
	    "\"tcp\":{\"wscale_orig\":7,\"wscale_reply\":14,"
	    "\"flags_orig\":[\"WINDOW_SCALE\",\"SACK_PERM\"],"
	    "\"flags_reply\":[\"BE_LIBERAL\",\"SIMULTANEOUS_OPEN\"]},"
	    "\"seqadj\":{\"orig\":{\"correction_pos\":100,"
	    "\"offset_before\":200,\"offset_after\":300},"
	    "\"reply\":{\"correction_pos\":101,\"offset_before\":201,"
	    "\"offset_after\":301}},"
	    "\"synproxy\":{\"isn\":11,\"its\":12,\"tsoff\":13}}",
	    { NULL }, F_LABELMAP, T_DEF },
	{ "labels_empty", fx_labels_empty,
	    CT("update") "," TCP4_TUPLES ",\"labels\":[]}",
	    { "\"labels\":[]" }, F_LABELMAP, T_DEF },
	{ "labels_named", fx_labels_named,
	    CT("update") "," TCP4_TUPLES ",\"labels\":[0,5,9,12,127],"
	    "\"label_names\":{\"0\":\"zero\",\"5\":\"web\",\"9\":\"my label-1\",\"127\":\"last\"}}",
	    { "\"label_names\":{\"0\":\"zero\",\"5\":\"web\",\"9\":\"my label-1\",\"127\":\"last\"}" },
	    F_LABELMAP, T_DEF },
	{ "labels_unnamed", fx_labels_unnamed,
	    CT("update") "," TCP4_TUPLES ",\"labels\":[1,2,100,126]}",
	    { NULL }, F_LABELMAP, T_DEF },
	{ "extremes", fx_extremes,
	    CT("new") ",\"id\":0,\"family\":\"ipv4\",\"proto\":\"tcp\","
	    "\"protonum\":6,"
	    "\"orig\":{\"src\":\"0.0.0.0\",\"dst\":\"255.255.255.255\","
	    "\"sport\":0,\"dport\":0,\"packets\":18446744073709551615,"
	    "\"bytes\":18446744073709551615},"
	    "\"reply\":{\"src\":\"255.255.255.255\",\"dst\":\"0.0.0.0\","
	    "\"sport\":65535,\"dport\":65535,"
	    "\"packets\":9223372036854775807,\"bytes\":0},"
	    "\"status\":[\"EXPECTED\",\"SEEN_REPLY\",\"ASSURED\","
	    "\"CONFIRMED\",\"SRC_NAT\",\"DST_NAT\",\"SEQ_ADJUST\","
	    "\"SRC_NAT_DONE\",\"DST_NAT_DONE\",\"DYING\",\"FIXED_TIMEOUT\","
	    "\"TEMPLATE\",\"NAT_CLASH\",\"HELPER\",\"OFFLOAD\",\"HW_OFFLOAD\","
	    "\"BIT16\",\"BIT17\",\"BIT18\",\"BIT19\",\"BIT20\",\"BIT21\","
	    "\"BIT22\",\"BIT23\",\"BIT24\",\"BIT25\",\"BIT26\",\"BIT27\","
	    "\"BIT28\",\"BIT29\",\"BIT30\",\"BIT31\"],"
	    "\"timeout\":0,\"mark\":4294967295,\"secmark\":0,"
	    "\"zone\":65535,\"use\":4294967295}",
	    { "\"packets\":18446744073709551615,"
	    "\"bytes\":18446744073709551615",
	    "\"packets\":9223372036854775807", "\"sport\":0,\"dport\":0" },
	    0, T_DEF },
	{ "empty", fx_empty,
	    CT("destroy") ",\"family\":\"ipv4\"}",
	    { NULL }, 0, T_DEF },
	{ "partial", fx_partial,
	    CT("update") ",\"family\":\"ipv6\",\"orig\":{\"src\":\"::1\"},"
	    "\"helper_info\":\"abcd\"}",
	    { NULL }, 0, T_DEF },
	{ "tcp_odd", fx_tcp_odd,
	    CT("update") "," TCP4_TUPLES ",\"state\":\"42\","
	    "\"tcp\":{\"flags_orig\":[\"WINDOW_SCALE\",\"SACK_PERM\","
	    "\"CLOSE_INIT\",\"BE_LIBERAL\",\"DATA_UNACKNOWLEDGED\","
	    "\"MAXACK_SET\",\"CHALLENGE_ACK\",\"SIMULTANEOUS_OPEN\"],"
	    "\"flags_reply\":[]}}",
	    { "\"flags_reply\":[]" }, 0, T_DEF },
	{ "helper_info_big", fx_helper_info_big,
	    CT("update") "," TCP4_TUPLES ",\"helper\":\"sip\","
	    "\"helper_info\":\"000102030405060708090a0b0c0d0e0f101112131415"
	    "161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435"
	    "363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455"
	    "565758595a5b5c5d5e5f60616263\"}",
	    { NULL }, 0, T_DEF },
	{ "esc_helper", fx_esc_helper,
	    CT("update") "," TCP4_TUPLES ","
	    "\"helper\":\"q\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f/\"}",
	    { "\"helper\":\"q\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f/\"" },
	    0, T_DEF },
	{ "esc_helper_long", fx_esc_helper_long,
	    CT("update") "," TCP4_TUPLES ",\"helper\":\"abcdefghijklmno\"}",
	    { NULL }, 0, T_DEF },
	{ "esc_helper_cut", fx_esc_helper_cut,
	    CT("update") "," TCP4_TUPLES ","
	    "\"helper\":\"abcdefghijklmn\\ufffd\"}",
	    { "\"helper\":\"abcdefghijklmn\xef\xbf\xbd\"" }, 0, T_DEF },
	{ "esc_secctx", fx_esc_secctx,
	    CT("update") "," TCP4_TUPLES ","
	    "\"secctx\":\"a\\\"b\\\\c/\\u007f\\u0001\\u0002\\u001b "
	    "\\u00e9\\u20ac\\ud83d\\ude00|\\ufffd|\\ufffd(|\\ufffd\\ufffd|"
	    "\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd|"
	    "\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd|"
	    "\\ufffd\\ufffd\"}",
	    { "a\\\"b\\\\c/\x7f\\u0001\\u0002\\u001b ",
	    " \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|",
	    "|\xef\xbf\xbd(|\xef\xbf\xbd\xef\xbf\xbd|",
	    "|\xef\xbf\xbd\xef\xbf\xbd\"" }, 0, T_DEF },
	{ "exp_ftp", fx_exp_ftp,
	    EXP("new") ",\"id\":1234,\"family\":\"ipv4\",\"proto\":\"tcp\","
	    "\"protonum\":6,"
	    "\"master\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\","
	    "\"sport\":40001,\"dport\":21},"
	    "\"tuple\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\","
	    "\"sport\":0,\"dport\":51210},"
	    "\"mask\":{\"src\":\"255.255.255.255\","
	    "\"dst\":\"255.255.255.255\",\"sport\":0,\"dport\":65535},"
	    "\"timeout\":300,\"helper\":\"ftp\",\"class\":0,\"flags\":[],"
	    "\"zone\":0}",
	    { NULL }, 0, T_DEF },
	{ "exp_all", fx_exp_all,
	    EXP("new") ",\"id\":4294967295,\"family\":\"ipv4\","
	    "\"proto\":\"udp\",\"protonum\":17,"
	    "\"master\":{\"src\":\"10.0.0.9\",\"dst\":\"192.168.7.7\","
	    "\"sport\":5060,\"dport\":5060},"
	    "\"tuple\":{\"src\":\"192.168.7.7\",\"dst\":\"10.0.0.9\","
	    "\"sport\":0,\"dport\":5062},"
	    "\"mask\":{\"src\":\"255.255.255.255\","
	    "\"dst\":\"255.255.255.255\",\"sport\":0,\"dport\":65535},"
	    "\"timeout\":4294967295,\"helper\":\"sip\",\"class\":1,"
	    "\"flags\":[\"PERMANENT\",\"INACTIVE\",\"USERSPACE\",\"BIT3\","
	    "\"BIT4\"],\"zone\":65535,\"nat_dir\":\"reply\","
	    "\"nat\":{\"src\":\"192.168.7.7\",\"dst\":\"10.0.0.9\","
	    "\"sport\":0,\"dport\":5062,\"zone\":5},"
	    "\"fn\":\"nat-follow-master\"}",
	    { "\"BIT3\",\"BIT4\"]" }, 0, T_DEF },
	{ "exp_v6", fx_exp_v6,
	    EXP("destroy") ",\"family\":\"ipv6\",\"proto\":\"tcp\","
	    "\"protonum\":6,"
	    "\"master\":{\"src\":\"2001:db8::1\",\"dst\":\"2001:db8::2\","
	    "\"sport\":40001,\"dport\":21},"
	    "\"tuple\":{\"src\":\"2001:db8::1\",\"dst\":\"2001:db8::2\","
	    "\"sport\":0,\"dport\":50000},"
	    "\"mask\":{\"src\":\"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\","
	    "\"dst\":\"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\","
	    "\"sport\":0,\"dport\":65535},"
	    "\"flags\":[\"INACTIVE\"],\"nat_dir\":\"orig\"}",
	    { NULL }, 0, T_DEF },
	{ "exp_esc", fx_exp_esc,
	    EXP("new") ",\"family\":\"ipv4\",\"proto\":\"tcp\","
	    "\"protonum\":6,"
	    "\"master\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\","
	    "\"sport\":40001,\"dport\":21},"
	    "\"helper\":\"x\\ty\\\"z\\\\\\u007f\","
	    "\"fn\":\"f\\n\\u0005\\ufffd\\u20ac/\"}",
	    { "\"helper\":\"x\\ty\\\"z\\\\\x7f\"",
	    "\"fn\":\"f\\n\\u0005\xef\xbf\xbd\xe2\x82\xac/\"" }, 0, T_DEF },
	{ "netns_resync", fx_plain,
	    CT("new") ",\"netns\":\"blue \\\"ns\\\"\\n\\u00ff\","
	    "\"resync\":true," TCP4_TUPLES "}",
	    { "\"resync\":true" }, F_NETNS, T_DEF },
	{ "time_epoch", fx_plain,
	    "{\"type\":\"ct\",\"event\":\"new\",\"seq\":42,"
	    "\"time\":\"1970-01-01T00:00:00.000000Z\"," TCP4_TUPLES "}",
	    { NULL }, 0, 0, 0 },
	{ "time_leap", fx_plain,
	    "{\"type\":\"ct\",\"event\":\"new\",\"seq\":42,"
	    "\"time\":\"2000-02-29T23:59:59.999999Z\"," TCP4_TUPLES "}",
	    { NULL }, 0, 951868799, 999999999 },
};

/*
 * Regression fixtures: what the encoder writes for them differs from what it
 * should.  Each goes through the equality proof like every fixture; the
 * expected values are checked by test_bug_partial, which fails.
 */

/*
 * Regression test, was a bug (src/encode.c, encode_protoinfo): the "tcp" object is only written
 * when ATTR_TCP_WSCALE_ORIG or ATTR_TCP_FLAGS_ORIG is set, so the reply
 * direction's window scale and flags the kernel sent are dropped when
 * the original direction's are absent.
 */
static void
fx_bug_tcp_reply(struct nlbuild *b)
{
	unsigned char	fl[2] = { 0x01, 0x01 };

	nlbuild_ct_new(b, AF_INET, false);
	tuples_tcp4(b);
	nlbuild_nest_start(b, CTA_PROTOINFO);
	nlbuild_nest_start(b, CTA_PROTOINFO_TCP);
	nlbuild_u8(b, CTA_PROTOINFO_TCP_WSCALE_REPLY, 9);
	nlbuild_bytes(b, CTA_PROTOINFO_TCP_FLAGS_REPLY, fl, 2);
	nlbuild_nest_end(b);
	nlbuild_nest_end(b);
}

/*
 * Regression test, was a bug (src/encode.c, encode_seqadj_synproxy): "seqadj" is only written
 * when a CORRECTION_POS is set; a direction with offsets but no
 * correction position is dropped although encode_seqadj_dir handles it.
 */
static void
fx_bug_seqadj(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET, false);
	tuples_tcp4(b);
	nlbuild_nest_start(b, CTA_SEQ_ADJ_REPLY);
	nlbuild_be32(b, CTA_SEQADJ_OFFSET_BEFORE, 5);
	nlbuild_be32(b, CTA_SEQADJ_OFFSET_AFTER, 6);
	nlbuild_nest_end(b);
}

/*
 * Regression test, was a bug (src/encode.c, encode_tuple, and decode.c's struct ev_icmp): a
 * reply tuple with only an ICMP type gets "icmp_code":0 and "icmp_id":0
 * the kernel never sent; ICMP fields only in the reply tuple also make
 * the library set ATTR_ICMP_*, so the original tuple gets invented
 * "icmp_type":0,"icmp_code":0,"icmp_id":0.  Absent must stay absent.
 */
static void
fx_bug_icmp(struct nlbuild *b)
{
	nlbuild_ct_new(b, AF_INET, true);
	nlbuild_nest_start(b, CTA_TUPLE_ORIG);
	nlbuild_nest_start(b, CTA_TUPLE_IP);
	nlbuild_addr(b, CTA_IP_V4_SRC, AF_INET, "10.1.1.1");
	nlbuild_nest_end(b);
	nlbuild_nest_start(b, CTA_TUPLE_PROTO);
	nlbuild_u8(b, CTA_PROTO_NUM, IPPROTO_ICMP);
	nlbuild_nest_end(b);
	nlbuild_nest_end(b);
	nlbuild_nest_start(b, CTA_TUPLE_REPLY);
	nlbuild_nest_start(b, CTA_TUPLE_IP);
	nlbuild_addr(b, CTA_IP_V4_SRC, AF_INET, "10.1.1.2");
	nlbuild_nest_end(b);
	nlbuild_nest_start(b, CTA_TUPLE_PROTO);
	nlbuild_u8(b, CTA_PROTO_NUM, IPPROTO_ICMP);
	nlbuild_u8(b, CTA_PROTO_ICMP_TYPE, 11);
	nlbuild_nest_end(b);
	nlbuild_nest_end(b);
}

static const struct fixture bug_fixtures[] = {
	{ "bug_tcp_reply", fx_bug_tcp_reply,
	    CT("update") "," TCP4_TUPLES ","
	    "\"tcp\":{\"wscale_reply\":9,\"flags_reply\":[\"WINDOW_SCALE\"]}}",
	    { NULL }, 0, T_DEF },
	{ "bug_seqadj", fx_bug_seqadj,
	    CT("update") "," TCP4_TUPLES ","
	    "\"seqadj\":{\"reply\":{\"offset_before\":5,"
	    "\"offset_after\":6}}}",
	    { NULL }, 0, T_DEF },
	{ "bug_icmp", fx_bug_icmp,
	    CT("new") ",\"family\":\"ipv4\",\"proto\":\"icmp\","
	    "\"protonum\":1,\"orig\":{\"src\":\"10.1.1.1\"},"
	    "\"reply\":{\"src\":\"10.1.1.2\",\"icmp_type\":11}}",
	    { NULL }, 0, T_DEF },
};

/*
 * Decode a fixture's message and encode it both ways: text into out (the
 * line, checked for balance and raw control characters) and a tree.
 */
static json_t *
encode_fixture(const struct fixture *f, struct buf *out)
{
	struct encoder	*e = (f->flags & F_LABELMAP) ? enc_lm : enc;
	struct event	 ev;
	struct jw	 w;
	json_t		*tree;
	size_t		 i;

	f->build(&nb);
	ck_assert_msg(decode_msg(dec, nb.nlh, &ev) == 0, "%s: decode",
	    f->name);
	ev.seq = 42;
	ev.time.tv_sec = f->sec;
	ev.time.tv_nsec = f->nsec;
	if (f->flags & F_NETNS) {
		ev.netns = "blue \"ns\"\n\xc3\xbf";
		ev.show_netns = true;
		ev.resync = true;
	}
	buf_reset(out);
	jw_init_text(&w, out);
	encode_event(e, &w, &ev);
	ck_assert(buf_ok(out));
	ck_assert_int_eq(w.depth, 0);
	for (i = 0; i < out->len; i++)
		ck_assert_msg((unsigned char)out->data[i] >= 0x20,
		    "%s: raw control character %#x at %zu", f->name,
		    (unsigned char)out->data[i], i);

	jw_init_jansson(&w);
	encode_event(e, &w, &ev);
	ck_assert_int_eq(w.depth, 0);
	tree = jw_take(&w);
	ck_assert_ptr_nonnull(tree);
	ck_assert_ptr_null(jw_take(&w));
	return (tree);
}

/* Check a fixture's text against what it expects. */
static void
encode_check(const struct fixture *f)
{
	struct buf	 out = { 0 };
	json_t		*tree;
	size_t		 i;

	tree = encode_fixture(f, &out);
	ck_assert_msg(unit_json_text_same(out.data, out.len, f->expect),
	    "%s:\n got  %.*s\n want %s", f->name, (int)out.len, out.data,
	    f->expect);
	for (i = 0; i < nitems(f->raw) && f->raw[i] != NULL; i++)
		ck_assert_msg(memmem(out.data, out.len, f->raw[i],
		    strlen(f->raw[i])) != NULL, "%s: %s not in %.*s", f->name,
		    f->raw[i], (int)out.len, out.data);
	/* Absent members are absent, never null. */
	ck_assert(memmem(out.data, out.len, "null", 4) == NULL);
	json_decref(tree);
	buf_free(&out);
}

/* A fixture's text is exactly the object it expects. */
START_TEST(test_fixture)
{
	encode_check(&fixtures[_i]);
}
END_TEST

/* The regression fixtures: see above each one. */
START_TEST(test_bug_partial)
{
	encode_check(&bug_fixtures[_i]);
}
END_TEST

/* The equality proof: the text parses to exactly the jansson tree. */
static void
encode_equal(const struct fixture *f)
{
	struct buf	 out = { 0 };
	json_t		*tree;
	char		*d;

	tree = encode_fixture(f, &out);
	if (!unit_json_same(out.data, out.len, tree)) {
		d = unit_json_dump(tree);
		ck_abort_msg("%s: text and tree differ:\n text %.*s\n tree %s",
		    f->name, (int)out.len, out.data, d);
	}
	json_decref(tree);
	buf_free(&out);
}

/* The equality proof for one fixture. */
START_TEST(test_equal)
{
	encode_equal(&fixtures[_i]);
}
END_TEST

/* The equality proof for one regression fixture. */
START_TEST(test_equal_bug)
{
	encode_equal(&bug_fixtures[_i]);
}
END_TEST

/* The fixtures one after another through one decoder: no carry-over. */
START_TEST(test_sequence)
{
	struct buf	 a = { 0 }, b = { 0 };
	json_t		*t;
	size_t		 i, j;

	for (i = 0; i < nitems(fixtures); i++) {
		t = encode_fixture(&fixtures[i], &a);
		json_decref(t);
		for (j = 0; j < nitems(fixtures); j++) {
			if (j == i)
				continue;
			t = encode_fixture(&fixtures[j], &b);
			json_decref(t);
		}
		t = encode_fixture(&fixtures[i], &b);
		json_decref(t);
		ck_assert_msg(a.len == b.len &&
		    memcmp(a.data, b.data, a.len) == 0,
		    "%s differs after the other fixtures", fixtures[i].name);
	}
	buf_free(&a);
	buf_free(&b);
}
END_TEST

/* A missing label map is no error: labels are numbers only. */
START_TEST(test_labelmap_missing)
{
	struct encoder	*e;
	struct event	 ev;
	struct buf	 out = { 0 };
	struct jw	 w;

	e = encoder_new("/nonexistent/ctstreamd/connlabel.conf");
	ck_assert_ptr_nonnull(e);
	fx_labels_named(&nb);
	ck_assert_int_eq(decode_msg(dec, nb.nlh, &ev), 0);
	ev.seq = 1;
	jw_init_text(&w, &out);
	encode_event(e, &w, &ev);
	ck_assert(memmem(out.data, out.len, "\"labels\":[0,5,9,12,127]",
	    23) != NULL);
	ck_assert(memmem(out.data, out.len, "label_names", 11) == NULL);
	encoder_free(e);
	encoder_free(NULL);
	buf_free(&out);
}
END_TEST

/* encode_time: calendar, leap years, precision, the returned length. */
START_TEST(test_time)
{
	static const struct {
		time_t		 sec;
		long		 frac;
		int		 digits;
		const char	*want;
	} t[] = {
		{ 0, 0, 0, "1970-01-01T00:00:00Z" },
		{ 0, 0, 6, "1970-01-01T00:00:00.000000Z" },
		{ 0, 0, 9, "1970-01-01T00:00:00.000000000Z" },
		{ 0, 1, 9, "1970-01-01T00:00:00.000000001Z" },
		{ 59, 999999, 6, "1970-01-01T00:00:59.999999Z" },
		{ 86399, 5, 3, "1970-01-01T23:59:59.005Z" },
		{ -1, 0, 0, "1969-12-31T23:59:59Z" },
		{ 951782400, 0, 6, "2000-02-29T00:00:00.000000Z" },
		{ 951868799, 999999999, 9, "2000-02-29T23:59:59.999999999Z" },
		{ 951868800, 0, 0, "2000-03-01T00:00:00Z" },
		{ 1709164800, 5, 6, "2024-02-29T00:00:00.000005Z" },
		{ 1735689599, 123456789, 9, "2024-12-31T23:59:59.123456789Z" },
		{ 1735689599, 123456, 6, "2024-12-31T23:59:59.123456Z" },
		{ 1735689600, 0, 9, "2025-01-01T00:00:00.000000000Z" },
		{ 1700000000, 123456, 6, "2023-11-14T22:13:20.123456Z" },
		{ 4107456000, 0, 0, "2100-02-28T00:00:00Z" },
		{ 4107542400, 0, 0, "2100-03-01T00:00:00Z" },
		{ 253402300799, 0, 0, "9999-12-31T23:59:59Z" },
	};
	char	out[ENCODE_TIMELEN];
	size_t	i, n;

	for (i = 0; i < nitems(t); i++) {
		memset(out, 'x', sizeof out);
		n = encode_time(out, t[i].sec, t[i].frac, t[i].digits);
		ck_assert_str_eq(out, t[i].want);
		ck_assert_uint_eq(n, strlen(t[i].want));
	}
	/* Whatever the time, the result fits. */
	n = encode_time(out, (time_t)INT64_MAX, 999999999, 9);
	ck_assert_uint_eq(n, strlen("9999-12-31T23:59:59.999999999Z"));
	ck_assert_uint_lt(n, ENCODE_TIMELEN);
	ck_assert_uint_eq(strlen(out), n);
}
END_TEST

/*
 * The time of day is formatted once per second: events in the same
 * second, in the next one, and back again, all as encode_time writes them.
 */
START_TEST(test_time_cache)
{
	static const struct {
		time_t	sec;
		long	nsec;
	} t[] = {
		{ 1700000000, 0 }, { 1700000000, 999999999 },
		{ 1700000000, 5000 }, { 1700000001, 1000 }, { 1700000000, 7 },
		{ 1700086400, 123456789 }, { 0, 0 }, { 951868799, 999999000 },
	};
	struct buf	 out = { 0 };
	struct event	 ev;
	struct jw	 w;
	char		 want[ENCODE_TIMELEN + 16];
	size_t		 i, n;

	fx_plain(&nb);
	ck_assert_int_eq(decode_msg(dec, nb.nlh, &ev), 0);
	for (i = 0; i < nitems(t); i++) {
		ev.seq = 1;
		ev.time.tv_sec = t[i].sec;
		ev.time.tv_nsec = t[i].nsec;
		buf_reset(&out);
		jw_init_text(&w, &out);
		encode_event(enc, &w, &ev);
		memcpy(want, "\"time\":\"", 8);
		n = encode_time(want + 8, t[i].sec, t[i].nsec / 1000, 6);
		want[8 + n] = '"';
		ck_assert_msg(memmem(out.data, out.len, want, n + 9) != NULL,
		    "%zu: %.*s not in %.*s", i, (int)n + 9, want, (int)out.len,
		    out.data);
	}
	buf_free(&out);
}
END_TEST

/*
 * The encoder writes names, numbers it formats, addresses and times with
 * jw_safe(), unescaped: every name it can write must need no escaping.
 */
START_TEST(test_names_safe)
{
	static const uint8_t	 protos[] = { IPPROTO_TCP, IPPROTO_SCTP,
				    IPPROTO_DCCP, IPPROTO_UDP, 0, 255 };
	char			 num[NAMES_NUMLEN];
	const char		*n;
	unsigned int		 i, j;

	for (i = 0; i < 256; i++) {
		if ((n = names_family(i)) != NULL)
			ck_assert_msg(jw_is_safe(n, strlen(n)), "family %u", i);
		n = names_proto(i, num);
		ck_assert_msg(jw_is_safe(n, strlen(n)), "proto %u", i);
		for (j = 0; j < nitems(protos); j++) {
			n = names_state(protos[j], i, num);
			ck_assert_msg(jw_is_safe(n, strlen(n)), "state %u/%u",
			    protos[j], i);
		}
		if ((n = names_dccp_role(i)) != NULL)
			ck_assert_msg(jw_is_safe(n, strlen(n)), "role %u", i);
	}
	for (i = 0; i < 32; i++) {
		if ((n = names_status_bit(i)) != NULL)
			ck_assert_msg(jw_is_safe(n, strlen(n)), "status %u", i);
		if ((n = names_tcp_flag(i)) != NULL)
			ck_assert_msg(jw_is_safe(n, strlen(n)), "tcp %u", i);
		if ((n = names_exp_flag(i)) != NULL)
			ck_assert_msg(jw_is_safe(n, strlen(n)), "exp %u", i);
	}
	for (i = 0; i < EV_TYPE_MAX; i++) {
		n = event_type_name(i);
		ck_assert(jw_is_safe(n, strlen(n)));
	}
	for (i = 0; i < EV_KIND_MAX; i++) {
		n = event_kind_name(i);
		ck_assert(jw_is_safe(n, strlen(n)));
	}
}
END_TEST

/* The suite for encode.c. */
Suite *
make_encode_suite(void)
{
	Suite	*s = suite_create("encode");
	TCase	*tc = tcase_create("encode");

	tcase_add_checked_fixture(tc, encode_setup, encode_teardown);
	tcase_add_loop_test(tc, test_fixture, 0, nitems(fixtures));
	tcase_add_loop_test(tc, test_equal, 0, nitems(fixtures));
	tcase_add_loop_test(tc, test_bug_partial, 0, nitems(bug_fixtures));
	tcase_add_loop_test(tc, test_equal_bug, 0, nitems(bug_fixtures));
	tcase_add_test(tc, test_sequence);
	tcase_add_test(tc, test_labelmap_missing);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_time_cache);
	tcase_add_test(tc, test_names_safe);
	suite_add_tcase(s, tc);
	return (s);
}

/*
 * The jw tests.  ref_utf8() decodes by the Unicode rules (code point
 * arithmetic, not byte ranges), so it is an independent oracle for
 * jw_utf8_len; ref_escape() builds the text jw_escape must produce.
 */

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t
ref_utf8(const unsigned char *p, size_t n)
{
	uint32_t	c, min;
	size_t		len, i;

	if (p[0] < 0x80)
		return (1);
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		c = p[0] & 0x1f;
		min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		c = p[0] & 0x0f;
		min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		c = p[0] & 0x07;
		min = 0x10000;
	} else
		return (0);
	if (n < len)
		return (0);
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return (0);
	return (len);
}

/* The escaped form of s, as jw_escape must write it. */
static void
ref_escape(struct buf *b, const unsigned char *s, size_t n)
{
	char	u[8];
	size_t	i = 0, l;

	while (i < n) {
		switch (s[i]) {
		case '"':
			buf_adds(b, "\\\"");
			break;
		case '\\':
			buf_adds(b, "\\\\");
			break;
		case 0x08:
			buf_adds(b, "\\b");
			break;
		case 0x0c:
			buf_adds(b, "\\f");
			break;
		case 0x0a:
			buf_adds(b, "\\n");
			break;
		case 0x0d:
			buf_adds(b, "\\r");
			break;
		case 0x09:
			buf_adds(b, "\\t");
			break;
		default:
			if (s[i] < 0x20) {
				snprintf(u, sizeof u, "\\u%04x", s[i]);
				buf_adds(b, u);
				break;
			}
			if ((l = ref_utf8(s + i, n - i)) == 0) {
				buf_adds(b, "\xef\xbf\xbd");
				break;
			}
			buf_add(b, s + i, l);
			i += l;
			continue;
		}
		i++;
	}
}

/*
 * Check one string: jw_escape against the reference, and a document
 * holding it as text against the same document as a jansson tree.
 */
static void
jw_check_string(const unsigned char *s, size_t n)
{
	struct buf	 got = { 0 }, want = { 0 }, doc = { 0 };
	struct jw	 w;
	json_t		*tree;

	jw_escape(&got, (const char *)s, n);
	ref_escape(&want, s, n);
	ck_assert_msg(got.len == want.len && (got.len == 0 ||
	    memcmp(got.data, want.data, got.len) == 0),
	    "escape of %zu bytes (first %#x): got %.*s, want %.*s", n,
	    n ? s[0] : 0, (int)got.len, got.data, (int)want.len, want.data);

	jw_init_text(&w, &doc);
	jw_obj_open(&w, NULL);
	jw_strn(&w, "s", (const char *)s, n);
	jw_arr_open(&w, "a");
	jw_strn(&w, NULL, (const char *)s, n);
	jw_arr_close(&w);
	jw_obj_close(&w);
	jw_init_jansson(&w);
	jw_obj_open(&w, NULL);
	jw_strn(&w, "s", (const char *)s, n);
	jw_arr_open(&w, "a");
	jw_strn(&w, NULL, (const char *)s, n);
	jw_arr_close(&w);
	jw_obj_close(&w);
	tree = jw_take(&w);
	ck_assert_msg(unit_json_same(doc.data, doc.len, tree),
	    "text %.*s differs from the tree", (int)doc.len, doc.data);
	json_decref(tree);
	buf_free(&got);
	buf_free(&want);
	buf_free(&doc);
}

/* Every byte alone, against the reference and jansson. */
START_TEST(test_jw_escape_bytes)
{
	unsigned char	 c;
	struct buf	 b = { 0 };
	json_t		*j;
	char		 q[16];
	int		 i;

	for (i = 0; i < 256; i++) {
		c = (unsigned char)i;
		jw_check_string(&c, 1);
		/* The text decodes to the byte, or to U+FFFD past ASCII. */
		buf_reset(&b);
		buf_addc(&b, '"');
		jw_escape(&b, (const char *)&c, 1);
		buf_addc(&b, '"');
		j = unit_json_load(b.data, b.len, NULL);
		ck_assert_ptr_nonnull(j);
		if (i < 0x80) {
			ck_assert_uint_eq(json_string_length(j), 1);
			ck_assert_uint_eq(
			    (unsigned char)json_string_value(j)[0], c);
		} else
			ck_assert_str_eq(json_string_value(j), "\xef\xbf\xbd");
		json_decref(j);
	}
	/* A few written out, lowercase hex for \u. */
	buf_reset(&b);
	jw_escape(&b, "\x00\x1f\x7f\x20", 4);
	ck_assert_uint_eq(b.len, 14);
	ck_assert_mem_eq(b.data, "\\u0000\\u001f\x7f ", 14);
	snprintf(q, sizeof q, "%s", "\"\\/");
	buf_reset(&b);
	jw_escape(&b, q, 3);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_mem_eq(b.data, "\\\"\\\\/", 5);
	buf_free(&b);
}
END_TEST

/* Every two-byte sequence, against the reference and jansson. */
START_TEST(test_jw_escape_pairs)
{
	unsigned char	s[4];
	int		i, j;

	/* Every pair of bytes, alone and between ASCII. */
	for (i = 0; i < 256; i++) {
		for (j = 0; j < 256; j++) {
			s[0] = (unsigned char)i;
			s[1] = (unsigned char)j;
			jw_check_string(s, 2);
			if ((i + j) % 16 == 0) {
				s[0] = 'a';
				s[1] = (unsigned char)i;
				s[2] = (unsigned char)j;
				s[3] = 'z';
				jw_check_string(s, 4);
			}
		}
	}
}
END_TEST

/*
 * jw_utf8_len on the edges: overlongs, surrogates, past U+10FFFF, cut
 * short.
 */
START_TEST(test_jw_utf8_edges)
{
	static const struct {
		const char	*s;
		size_t		 n;
		size_t		 len;
	} t[] = {
		{ "A", 1, 1 },
		{ "\x7f", 1, 1 },
		{ "\x80", 1, 0 },		/* lone continuation */
		{ "\xbf", 1, 0 },
		{ "\xc0\x80", 2, 0 },		/* overlong NUL */
		{ "\xc1\xbf", 2, 0 },		/* overlong U+007F */
		{ "\xc2\x80", 2, 2 },		/* U+0080 */
		{ "\xdf\xbf", 2, 2 },		/* U+07FF */
		{ "\xc2", 1, 0 },		/* truncated */
		{ "\xc2\x41", 2, 0 },		/* bad continuation */
		{ "\xc2\xc0", 2, 0 },
		{ "\xe0\x80\x80", 3, 0 },	/* overlong */
		{ "\xe0\x9f\xbf", 3, 0 },	/* overlong U+07FF */
		{ "\xe0\xa0\x80", 3, 3 },	/* U+0800 */
		{ "\xed\x9f\xbf", 3, 3 },	/* U+D7FF */
		{ "\xed\xa0\x80", 3, 0 },	/* U+D800, surrogate */
		{ "\xed\xbf\xbf", 3, 0 },	/* U+DFFF, surrogate */
		{ "\xee\x80\x80", 3, 3 },	/* U+E000 */
		{ "\xef\xbf\xbf", 3, 3 },	/* U+FFFF */
		{ "\xef\xbf\xbd", 3, 3 },	/* U+FFFD */
		{ "\xe2\x82", 2, 0 },		/* truncated */
		{ "\xe2\x82\xac", 2, 0 },	/* cut by n */
		{ "\xe2\x28\xa1", 3, 0 },
		{ "\xf0\x80\x80\x80", 4, 0 },	/* overlong */
		{ "\xf0\x8f\xbf\xbf", 4, 0 },	/* overlong U+FFFF */
		{ "\xf0\x90\x80\x80", 4, 4 },	/* U+10000 */
		{ "\xf4\x8f\xbf\xbf", 4, 4 },	/* U+10FFFF */
		{ "\xf4\x90\x80\x80", 4, 0 },	/* U+110000 */
		{ "\xf5\x80\x80\x80", 4, 0 },
		{ "\xf7\xbf\xbf\xbf", 4, 0 },
		{ "\xf0\x9f\x98", 3, 0 },	/* truncated */
		{ "\xf0\x9f\x98\x80", 3, 0 },	/* cut by n */
		{ "\xf0\x9f\x98\x80", 4, 4 },	/* U+1F600 */
		{ "\xf0\x9f\x28\x80", 4, 0 },
		{ "\xf8\x88\x80\x80\x80", 5, 0 },	/* 5-byte form */
		{ "\xfc\x84\x80\x80\x80\x80", 6, 0 },	/* 6-byte form */
		{ "\xfe", 1, 0 },
		{ "\xff", 1, 0 },
	};
	size_t	i;

	for (i = 0; i < nitems(t); i++)
		ck_assert_msg(jw_utf8_len((const unsigned char *)t[i].s,
		    t[i].n) == t[i].len, "case %zu", i);
}
END_TEST

/* jw_utf8_len against the reference for every 1-, 2- and 3-byte input. */
START_TEST(test_jw_utf8_exhaustive)
{
	static const unsigned char	 tails[] = { 0x00, 0x41, 0x7f, 0x80,
					    0x8f, 0x90, 0x9f, 0xa0, 0xbf,
					    0xc0, 0xff };
	unsigned char			 p[4];
	unsigned int			 a, b, c, d;

	for (a = 0; a < 256; a++) {
		p[0] = a;
		ck_assert_uint_eq(jw_utf8_len(p, 1), ref_utf8(p, 1));
		for (b = 0; b < 256; b++) {
			p[1] = b;
			ck_assert_uint_eq(jw_utf8_len(p, 2), ref_utf8(p, 2));
			for (c = 0; c < 256; c++) {
				p[2] = c;
				if (jw_utf8_len(p, 3) != ref_utf8(p, 3))
					ck_abort_msg("%02x %02x %02x", a, b, c);
			}
		}
	}
	for (a = 0xf0; a < 0x100; a++)
		for (b = 0; b < 256; b++)
			for (c = 0; c < nitems(tails); c++)
				for (d = 0; d < nitems(tails); d++) {
					p[0] = a;
					p[1] = b;
					p[2] = tails[c];
					p[3] = tails[d];
					ck_assert_uint_eq(jw_utf8_len(p, 4),
					    ref_utf8(p, 4));
				}
}
END_TEST

/* A small xorshift generator: the same strings on every run. */
static uint64_t
jw_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (*s);
}

/*
 * Pseudo-random strings (fixed seed): text against the reference and
 * jansson.
 */
START_TEST(test_jw_fuzz)
{
	static const uint32_t	 cps[] = { 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff,
				    0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff,
				    0xe9, 0x20ac, 0x1f600 };
	static const char	 specials[] =
	    "\x00\x01\x08\x09\x0a\x0c\x0d\x1f\"\\\x7f";
	unsigned char		 s[64];
	uint64_t		 seed = 0x2545f4914f6cdd1dULL;
	uint32_t		 cp;
	size_t			 n, len;
	int			 i;

	for (i = 0; i < 4000; i++) {
		len = jw_rand(&seed) % 48;
		for (n = 0; n < len; ) {
			switch (jw_rand(&seed) % 8) {
			case 0:		/* printable ASCII */
			case 1:
				s[n++] = 0x20 + jw_rand(&seed) % 0x5f;
				break;
			case 2:		/* control, quote, backslash, DEL */
				s[n++] = specials[jw_rand(&seed) %
				    (sizeof specials - 1)];
				break;
			case 3:		/* any byte */
				s[n++] = jw_rand(&seed) & 0xff;
				break;
			case 4:		/* a continuation byte */
				s[n++] = 0x80 | (jw_rand(&seed) & 0x3f);
				break;
			case 5:		/* a lead byte */
				s[n++] = 0xc0 | (jw_rand(&seed) & 0x3f);
				break;
			default:	/* a whole sequence, maybe invalid */
				cp = jw_rand(&seed) % 2 ?
				    cps[jw_rand(&seed) % nitems(cps)] :
				    (uint32_t)(jw_rand(&seed) % 0x110000);
				if (n + 4 > sizeof s)
					break;
				if (cp < 0x80)
					s[n++] = cp;
				else if (cp < 0x800) {
					s[n++] = 0xc0 | cp >> 6;
					s[n++] = 0x80 | (cp & 0x3f);
				} else if (cp < 0x10000) {
					s[n++] = 0xe0 | cp >> 12;
					s[n++] = 0x80 | (cp >> 6 & 0x3f);
					s[n++] = 0x80 | (cp & 0x3f);
				} else {
					s[n++] = 0xf0 | cp >> 18;
					s[n++] = 0x80 | (cp >> 12 & 0x3f);
					s[n++] = 0x80 | (cp >> 6 & 0x3f);
					s[n++] = 0x80 | (cp & 0x3f);
				}
				break;
			}
			if (n > len)
				len = n;
		}
		jw_check_string(s, len);
	}
}
END_TEST

/* Containers, numbers and booleans, as text and as a tree. */
START_TEST(test_jw_doc)
{
	static const char	 want[] =
	    "{\"a\":\"x\\\"y\",\"b\":[1],\"c\":{},\"d\":[],"
	    "\"e\":[{\"f\":[[0,18446744073709551615,-9223372036854775808,"
	    "9223372036854775807,-1]],\"g\":true,\"h\":false}],"
	    "\"i\":\"\",\"j\":\"a\\u0000b\",\"k\":\"10.0.0.1\","
	    "\"l\":[\"BIT7\",\"\"]}";
	struct buf		 b = { 0 };
	struct jw		 w;
	json_t			*tree;
	int			 pass;

	buf_adds(&b, "prefix:");
	for (pass = 0; pass < 2; pass++) {
		if (pass == 0)
			jw_init_text(&w, &b);
		else
			jw_init_jansson(&w);
		jw_obj_open(&w, NULL);
		jw_str(&w, "a", "x\"y");
		jw_arr_open(&w, "b");
		jw_u64(&w, NULL, 1);
		jw_arr_close(&w);
		jw_obj_open(&w, "c");
		jw_obj_close(&w);
		jw_arr_open(&w, "d");
		jw_arr_close(&w);
		jw_arr_open(&w, "e");
		jw_obj_open(&w, NULL);
		jw_arr_open(&w, "f");
		jw_arr_open(&w, NULL);
		jw_u64(&w, NULL, 0);
		jw_u64(&w, NULL, UINT64_MAX);
		jw_i64(&w, NULL, INT64_MIN);
		jw_i64(&w, NULL, INT64_MAX);
		jw_i64(&w, NULL, -1);
		jw_arr_close(&w);
		jw_arr_close(&w);
		jw_bool(&w, "g", true);
		jw_bool(&w, "h", false);
		jw_obj_close(&w);
		jw_arr_close(&w);
		jw_str(&w, "i", "");
		jw_strn(&w, "j", "a\0b", 3);
		jw_safe(&w, "k", "10.0.0.1", 8);
		jw_arr_open(&w, "l");
		jw_safe(&w, NULL, "BIT7", 4);
		jw_safe(&w, NULL, "", 0);
		jw_arr_close(&w);
		jw_obj_close(&w);
		ck_assert_int_eq(w.depth, 0);
	}
	/* Text mode appends to what the buffer holds. */
	ck_assert_uint_eq(b.len, 7 + strlen(want));
	ck_assert_mem_eq(b.data, "prefix:", 7);
	ck_assert_mem_eq(b.data + 7, want, strlen(want));
	tree = jw_take(&w);
	ck_assert(unit_json_same(b.data + 7, b.len - 7, tree));
	/* Past INT64_MAX jansson holds a real, as jw.c documents. */
	ck_assert(json_is_real(json_array_get(json_array_get(json_object_get(
	    json_array_get(json_object_get(tree, "e"), 0), "f"), 0), 1)));
	json_decref(tree);
	buf_free(&b);
}
END_TEST

/* Decimal formatting of the extremes. */
START_TEST(test_jw_fmt_u64)
{
	static const struct {
		uint64_t	 v;
		const char	*s;
	} t[] = {
		{ 0, "0" }, { 9, "9" }, { 10, "10" }, { 4294967296ULL,
		"4294967296" }, { UINT64_MAX, "18446744073709551615" },
	};
	char	 d[32], *p;
	size_t	 i;

	for (i = 0; i < nitems(t); i++) {
		d[31] = '\0';
		p = jw_fmt_u64(d + 31, t[i].v);
		ck_assert_str_eq(p, t[i].s);
	}
}
END_TEST

/* The deepest nesting allowed: JW_MAXDEPTH - 1 containers. */
START_TEST(test_jw_max_depth)
{
	struct buf	 b = { 0 };
	struct jw	 w;
	json_t		*tree;
	int		 i, pass;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 0)
			jw_init_text(&w, &b);
		else
			jw_init_jansson(&w);
		for (i = 0; i < JW_MAXDEPTH - 1; i++)
			jw_arr_open(&w, NULL);
		jw_u64(&w, NULL, 7);
		for (i = 0; i < JW_MAXDEPTH - 1; i++)
			jw_arr_close(&w);
		ck_assert_int_eq(w.depth, 0);
	}
	ck_assert_uint_eq(b.len, 2 * (JW_MAXDEPTH - 1) + 1);
	ck_assert_mem_eq(b.data, "[[[[[[[[[[[[[[[7]]]]]]]]]]]]]]]", b.len);
	tree = jw_take(&w);
	ck_assert(unit_json_same(b.data, b.len, tree));
	json_decref(tree);
	buf_free(&b);
}
END_TEST

/* Opening JW_MAXDEPTH containers aborts. */
START_TEST(test_jw_too_deep)
{
	struct buf	b = { 0 };
	struct jw	w;
	int		i;

	jw_init_text(&w, &b);
	for (i = 0; i < JW_MAXDEPTH; i++)
		jw_arr_open(&w, NULL);
	ck_abort_msg("opened %d containers", JW_MAXDEPTH);
}
END_TEST

/* Closing at the top level aborts. */
START_TEST(test_jw_close_unopened)
{
	struct jw	w;

	jw_init_jansson(&w);
	jw_obj_close(&w);
	ck_abort_msg("closed a container that was never opened");
}
END_TEST

/* Which bytes jw_safe() may copy as they are. */
START_TEST(test_jw_is_safe)
{
	char	c;
	int	i;

	for (i = 0; i < 256; i++) {
		c = (char)i;
		ck_assert_int_eq(jw_is_safe(&c, 1), i >= 0x20 && i < 0x7f &&
		    i != '"' && i != '\\');
	}
	ck_assert(jw_is_safe("", 0));
	ck_assert(jw_is_safe("2001:db8::1", 11));
	ck_assert(!jw_is_safe("ab\xc3\xa9", 4));
}
END_TEST

/* A string that needs escaping given to jw_safe() in jansson mode aborts. */
START_TEST(test_jw_safe_unsafe)
{
	struct jw	w;

	jw_init_jansson(&w);
	jw_obj_open(&w, NULL);
	jw_safe(&w, "a", "x\"y", 3);
	ck_abort_msg("jw_safe took a quote");
}
END_TEST

/* The suite for jw.c. */
Suite *
make_jw_suite(void)
{
	Suite	*s = suite_create("jw");
	TCase	*tc = tcase_create("jw");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_jw_escape_bytes);
	tcase_add_test(tc, test_jw_escape_pairs);
	tcase_add_test(tc, test_jw_utf8_edges);
	tcase_add_test(tc, test_jw_utf8_exhaustive);
	tcase_add_test(tc, test_jw_fuzz);
	tcase_add_test(tc, test_jw_doc);
	tcase_add_test(tc, test_jw_fmt_u64);
	tcase_add_test(tc, test_jw_max_depth);
	tcase_add_test(tc, test_jw_is_safe);
	tcase_add_test_raise_signal(tc, test_jw_safe_unsafe, SIGABRT);
	tcase_add_test_raise_signal(tc, test_jw_too_deep, SIGABRT);
	tcase_add_test_raise_signal(tc, test_jw_close_unopened, SIGABRT);
	suite_add_tcase(s, tc);
	return (s);
}
