/*
 * check_decode.c - tests for decode.c: messages in, struct event out.
 *
 * Malformed messages are decoded from the end of a page followed by an
 * inaccessible one, so reading a byte past the message faults, and every
 * test runs in its own process (Check's fork mode), so an abort() in
 * libnetfilter_conntrack shows up as an error of that test alone.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "compat.h"
#include "decode.h"
#include "nlbuild.h"
#include "unit.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP	132
#endif
#ifndef IPPROTO_DCCP
#define IPPROTO_DCCP	33
#endif

static struct nlbuild	 nb;
static struct decoder	*dec;

static const struct nlbuild_tuple t_orig = {
	"10.0.0.1", "10.0.0.2", IPPROTO_TCP, true, 40000, 80,
	false, 0, 0, 0, false, 0
};
static const struct nlbuild_tuple t_reply = {
	"10.0.0.2", "10.0.0.1", IPPROTO_TCP, true, 80, 40000,
	false, 0, 0, 0, false, 0
};

/* Make the decoder each test uses. */
static void
decode_setup(void)
{
	dec = decoder_new();
	ck_assert_ptr_nonnull(dec);
}

/* Free it. */
static void
decode_teardown(void)
{
	decoder_free(dec);
	dec = NULL;
}

#if defined(__SANITIZE_ADDRESS__)
#define DECODE_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DECODE_ASAN	1
#endif
#endif

/*
 * Copy a message so that its last byte is the last of a page and the
 * next page cannot be read.  The mapping is left for the process to end.
 * Under AddressSanitizer the copy is a heap block of exactly the message's
 * length instead: the sanitizer catches a read past its end to the byte,
 * and the message starts aligned, as in a receive buffer (the page-end
 * copy is misaligned whenever the length is not a multiple of 4, which
 * UBSan reports in the decoder).
 */
static struct nlmsghdr *
decode_guarded(const struct nlmsghdr *nlh)
{
#ifdef DECODE_ASAN
	static char	*prev;		/* the previous copy, freed now */
	size_t		 len = nlh->nlmsg_len;

	free(prev);
	prev = malloc(len);
	ck_assert_ptr_nonnull(prev);
	memcpy(prev, nlh, len);
	return ((struct nlmsghdr *)(void *)prev);
#else
	long	 pg = sysconf(_SC_PAGESIZE);
	size_t	 len = nlh->nlmsg_len, n;
	char	*m;

	n = (len + pg - 1) / pg * pg;
	m = mmap(NULL, n + pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	ck_assert_int_eq(mprotect(m + n, pg, PROT_NONE), 0);
	memcpy(m + n - len, nlh, len);
	return ((struct nlmsghdr *)(m + n - len));
#endif
}

/* Validate and decode the message in nb from a guarded copy. */
static int
decode_nb(struct event *ev)
{
	struct nlmsghdr	*g = decode_guarded(nb.nlh);
	int		 v, r;

	v = decode_validate(g);
	r = decode_msg(dec, g, ev);
	ck_assert_int_eq(v, r);
	return (r);
}

/* Start a conntrack message with an original and a reply tuple. */
static void
decode_ct_base(bool create)
{
	nlbuild_ct_new(&nb, AF_INET, create);
	nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET, &t_orig);
	nlbuild_tuple(&nb, CTA_TUPLE_REPLY, AF_INET, &t_reply);
}

/* Event type and kind from message type and flags. */
static const struct {
	uint8_t		subsys;
	uint8_t		msg;
	uint16_t	flags;
	uint8_t		type;
	uint8_t		kind;
} kinds[] = {
	{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW,
	    NLM_F_CREATE | NLM_F_EXCL, EV_TYPE_CT, EV_NEW },
	{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW, NLM_F_CREATE,
	    EV_TYPE_CT, EV_NEW },
	{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW, NLM_F_EXCL,
	    EV_TYPE_CT, EV_NEW },
	{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW, 0, EV_TYPE_CT, EV_UPDATE },
	{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW, NLM_F_REPLACE | NLM_F_ACK,
	    EV_TYPE_CT, EV_UPDATE },
	{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE, 0,
	    EV_TYPE_CT, EV_DESTROY },
	{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE,
	    NLM_F_CREATE | NLM_F_EXCL, EV_TYPE_CT, EV_DESTROY },
	{ NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_NEW,
	    NLM_F_CREATE | NLM_F_EXCL, EV_TYPE_EXPECT, EV_NEW },
	{ NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_NEW, 0,
	    EV_TYPE_EXPECT, EV_UPDATE },
	{ NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_DELETE, 0,
	    EV_TYPE_EXPECT, EV_DESTROY },
};

/* Each message type and flag set gives its event type and kind. */
START_TEST(test_kind)
{
	struct event	ev;

	memset(&ev, 0xa5, sizeof ev);
	nlbuild_msg(&nb, kinds[_i].subsys, kinds[_i].msg, kinds[_i].flags,
	    AF_INET);
	if (kinds[_i].subsys == NFNL_SUBSYS_CTNETLINK)
		nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET, &t_orig);
	else
		nlbuild_tuple(&nb, CTA_EXPECT_MASTER, AF_INET, &t_orig);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_uint_eq(ev.type, kinds[_i].type);
	ck_assert_uint_eq(ev.kind, kinds[_i].kind);
	ck_assert_uint_eq(ev.family, AF_INET);
	if (ev.type == EV_TYPE_CT) {
		ck_assert_ptr_nonnull(ev.ct);
		ck_assert_ptr_null(ev.exp);
	} else {
		ck_assert_ptr_nonnull(ev.exp);
		ck_assert_ptr_null(ev.ct);
	}
	/* Everything the caller sets is cleared, not left over. */
	ck_assert(!ev.resync);
	ck_assert_ptr_null(ev.netns);
	ck_assert_uint_eq(ev.seq, 0);
	ck_assert(!ev.has_exp_id);
	ck_assert(!ev.repl_icmp.set);
	ck_assert_ptr_null(ev.helper_info);
}
END_TEST

/* IPv6 goes through; families other than IPv4 and IPv6 are refused. */
START_TEST(test_family)
{
	static const uint8_t	 bad[] = { AF_UNSPEC, AF_UNIX, AF_BRIDGE,
				    AF_DECnet, 255 };
	static const struct nlbuild_tuple t6 = {
		"2001:db8::1", "2001:db8::2", IPPROTO_UDP, true, 5353, 53,
		false, 0, 0, 0, false, 0
	};
	struct event		 ev;
	size_t			 i;

	nlbuild_ct_new(&nb, AF_INET6, true);
	nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET6, &t6);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_uint_eq(ev.family, AF_INET6);
	ck_assert_int_eq(nfct_get_attr_u8(ev.ct, ATTR_ORIG_L3PROTO), AF_INET6);

	nlbuild_exp_delete(&nb, AF_INET6);
	nlbuild_tuple(&nb, CTA_EXPECT_MASTER, AF_INET6, &t6);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_uint_eq(ev.family, AF_INET6);

	for (i = 0; i < nitems(bad); i++) {
		nlbuild_ct_new(&nb, bad[i], true);
		nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET, &t_orig);
		ck_assert_int_eq(decode_nb(&ev), -EINVAL);
		nlbuild_exp_new(&nb, bad[i], true);
		ck_assert_int_eq(decode_nb(&ev), -EINVAL);
	}
}
END_TEST

/* Other subsystems and message types are not ours: -ENOMSG. */
START_TEST(test_not_conntrack)
{
	static const struct {
		uint8_t	subsys;
		uint8_t	msg;
	} other[] = {
		{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET },
		{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_CTRZERO },
		{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS_CPU },
		{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS },
		{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_DYING },
		{ NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_MAX },
		{ NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET },
		{ NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET_STATS_CPU },
		{ NFNL_SUBSYS_NONE, IPCTNL_MSG_CT_NEW },
		{ NFNL_SUBSYS_QUEUE, IPCTNL_MSG_CT_NEW },
		{ NFNL_SUBSYS_ULOG, IPCTNL_MSG_CT_DELETE },
		{ NFNL_SUBSYS_CTNETLINK_TIMEOUT, IPCTNL_MSG_CT_NEW },
		{ NFNL_SUBSYS_NFTABLES, IPCTNL_MSG_CT_NEW },
		{ 0xff, IPCTNL_MSG_CT_NEW },
	};
	struct event	ev;
	size_t		i;

	for (i = 0; i < nitems(other); i++) {
		nlbuild_msg(&nb, other[i].subsys, other[i].msg,
		    NLM_F_CREATE, AF_INET);
		nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET, &t_orig);
		ck_assert_msg(decode_nb(&ev) == -ENOMSG, "subsys %u msg %u",
		    other[i].subsys, other[i].msg);
	}
	/* Netlink control messages (NLMSG_ERROR, NLMSG_DONE). */
	nlbuild_msg(&nb, 0, NLMSG_ERROR, 0, AF_INET);
	ck_assert_int_eq(decode_nb(&ev), -ENOMSG);
	nlbuild_msg(&nb, 0, NLMSG_DONE, 0, AF_INET);
	ck_assert_int_eq(decode_nb(&ev), -ENOMSG);
}
END_TEST

/* Messages too short for their headers are refused. */
START_TEST(test_short)
{
	struct event	ev;
	uint32_t	len;

	/* Shorter than a netlink header. */
	for (len = 0; len < NLMSG_HDRLEN; len++) {
		nlbuild_ct_new(&nb, AF_INET, true);
		nb.nlh->nlmsg_len = len;
		ck_assert_int_eq(decode_validate(nb.nlh), -EINVAL);
		ck_assert_int_eq(decode_msg(dec, nb.nlh, &ev), -EINVAL);
	}
	/* A header but no complete nfgenmsg. */
	for (len = NLMSG_HDRLEN; len < NLMSG_HDRLEN + 4; len++) {
		nlbuild_ct_new(&nb, AF_INET, true);
		nb.nlh->nlmsg_len = len;
		ck_assert_int_eq(decode_nb(&ev), -EINVAL);
		nlbuild_exp_delete(&nb, AF_INET);
		nb.nlh->nlmsg_len = len;
		ck_assert_int_eq(decode_nb(&ev), -EINVAL);
	}
	/* Just the nfgenmsg: a valid, empty event. */
	nlbuild_ct_delete(&nb, AF_INET);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_uint_eq(ev.kind, EV_DESTROY);
	ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_ORIG_IPV4_SRC), 0);
}
END_TEST

/* Check that a v4 address attribute holds text. */
static void
decode_check_v4(const struct nf_conntrack *ct, int attr, const char *text)
{
	struct in_addr	a;

	ck_assert_int_eq(inet_pton(AF_INET, text, &a), 1);
	ck_assert_int_gt(nfct_attr_is_set(ct, attr), 0);
	ck_assert_uint_eq(nfct_get_attr_u32(ct, attr), a.s_addr);
}

/* Check that a v6 address attribute holds text. */
static void
decode_check_v6(const struct nf_conntrack *ct, int attr, const char *text)
{
	struct in6_addr	a;

	ck_assert_int_eq(inet_pton(AF_INET6, text, &a), 1);
	ck_assert_int_gt(nfct_attr_is_set(ct, attr), 0);
	ck_assert_mem_eq(nfct_get_attr(ct, attr), &a, sizeof a);
}

/*
 * Every conntrack attribute reaches the object, in host order where the
 * library converts.
 */
START_TEST(test_ct_attrs)
{
	static const struct nlbuild_tuple tm = {
		"192.168.1.1", "192.168.1.2", IPPROTO_TCP, true, 1111, 21,
		false, 0, 0, 0, false, 0
	};
	struct nlbuild_tuple	 to = t_orig, tr = t_reply;
	const struct nfct_bitmask *lb;
	unsigned char		 labels[16] = { 0x21, 0, 0, 0x80 };
	unsigned char		 tcpf[2] = { 0x03, 0xff };
	struct event		 ev;

	to.zone = true;
	to.zone_id = 7;
	tr.zone = true;
	tr.zone_id = 9;
	nlbuild_ct_new(&nb, AF_INET, true);
	nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET, &to);
	nlbuild_tuple(&nb, CTA_TUPLE_REPLY, AF_INET, &tr);
	nlbuild_tuple(&nb, CTA_TUPLE_MASTER, AF_INET, &tm);
	nlbuild_be32(&nb, CTA_STATUS, 0x10000e);
	nlbuild_nest_start(&nb, CTA_PROTOINFO);
	nlbuild_nest_start(&nb, CTA_PROTOINFO_TCP);
	nlbuild_u8(&nb, CTA_PROTOINFO_TCP_STATE, 3);
	nlbuild_u8(&nb, CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, 7);
	nlbuild_u8(&nb, CTA_PROTOINFO_TCP_WSCALE_REPLY, 14);
	nlbuild_bytes(&nb, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, tcpf, 2);
	tcpf[0] = 0x88;
	nlbuild_bytes(&nb, CTA_PROTOINFO_TCP_FLAGS_REPLY, tcpf, 2);
	nlbuild_nest_end(&nb);
	nlbuild_nest_end(&nb);
	nlbuild_be32(&nb, CTA_TIMEOUT, 431999);
	nlbuild_be32(&nb, CTA_MARK, 0xdeadbeef);
	nlbuild_nest_start(&nb, CTA_COUNTERS_ORIG);
	nlbuild_be64(&nb, CTA_COUNTERS_PACKETS, 10);
	nlbuild_be64(&nb, CTA_COUNTERS_BYTES, 0x123456789aULL);
	nlbuild_nest_end(&nb);
	nlbuild_nest_start(&nb, CTA_COUNTERS_REPLY);
	nlbuild_be64(&nb, CTA_COUNTERS_PACKETS, 20);
	nlbuild_be64(&nb, CTA_COUNTERS_BYTES, 3000);
	nlbuild_nest_end(&nb);
	nlbuild_be32(&nb, CTA_USE, 2);
	nlbuild_be32(&nb, CTA_ID, 3735928559U);
	nlbuild_nest_start(&nb, CTA_SEQ_ADJ_ORIG);
	nlbuild_be32(&nb, CTA_SEQADJ_CORRECTION_POS, 100);
	nlbuild_be32(&nb, CTA_SEQADJ_OFFSET_BEFORE, 200);
	nlbuild_be32(&nb, CTA_SEQADJ_OFFSET_AFTER, 300);
	nlbuild_nest_end(&nb);
	nlbuild_nest_start(&nb, CTA_SEQ_ADJ_REPLY);
	nlbuild_be32(&nb, CTA_SEQADJ_CORRECTION_POS, 101);
	nlbuild_be32(&nb, CTA_SEQADJ_OFFSET_BEFORE, 201);
	nlbuild_be32(&nb, CTA_SEQADJ_OFFSET_AFTER, 301);
	nlbuild_nest_end(&nb);
	nlbuild_be32(&nb, CTA_SECMARK, 77);
	nlbuild_be16(&nb, CTA_ZONE, 513);
	nlbuild_nest_start(&nb, CTA_SECCTX);
	nlbuild_str(&nb, CTA_SECCTX_NAME, "system_u:object_r:unlabeled_t:s0");
	nlbuild_nest_end(&nb);
	nlbuild_nest_start(&nb, CTA_TIMESTAMP);
	nlbuild_be64(&nb, CTA_TIMESTAMP_START, 1700000000123456789ULL);
	nlbuild_be64(&nb, CTA_TIMESTAMP_STOP, 1700000060000000001ULL);
	nlbuild_nest_end(&nb);
	nlbuild_bytes(&nb, CTA_LABELS, labels, sizeof labels);
	nlbuild_nest_start(&nb, CTA_SYNPROXY);
	nlbuild_be32(&nb, CTA_SYNPROXY_ISN, 11);
	nlbuild_be32(&nb, CTA_SYNPROXY_ITS, 12);
	nlbuild_be32(&nb, CTA_SYNPROXY_TSOFF, 13);
	nlbuild_nest_end(&nb);
	nlbuild_nest_start(&nb, CTA_HELP);
	nlbuild_str(&nb, CTA_HELP_NAME, "ftp");
	nlbuild_nest_end(&nb);

	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_uint_eq(ev.type, EV_TYPE_CT);
	decode_check_v4(ev.ct, ATTR_ORIG_IPV4_SRC, "10.0.0.1");
	decode_check_v4(ev.ct, ATTR_ORIG_IPV4_DST, "10.0.0.2");
	decode_check_v4(ev.ct, ATTR_REPL_IPV4_SRC, "10.0.0.2");
	decode_check_v4(ev.ct, ATTR_REPL_IPV4_DST, "10.0.0.1");
	decode_check_v4(ev.ct, ATTR_MASTER_IPV4_SRC, "192.168.1.1");
	decode_check_v4(ev.ct, ATTR_MASTER_IPV4_DST, "192.168.1.2");
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_ORIG_L4PROTO), 6);
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_REPL_L4PROTO), 6);
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_MASTER_L4PROTO), 6);
	ck_assert_uint_eq(ntohs(nfct_get_attr_u16(ev.ct, ATTR_ORIG_PORT_SRC)),
	    40000);
	ck_assert_uint_eq(ntohs(nfct_get_attr_u16(ev.ct, ATTR_ORIG_PORT_DST)),
	    80);
	ck_assert_uint_eq(ntohs(nfct_get_attr_u16(ev.ct, ATTR_REPL_PORT_SRC)),
	    80);
	ck_assert_uint_eq(ntohs(nfct_get_attr_u16(ev.ct, ATTR_REPL_PORT_DST)),
	    40000);
	ck_assert_uint_eq(ntohs(nfct_get_attr_u16(ev.ct,
	    ATTR_MASTER_PORT_SRC)), 1111);
	ck_assert_uint_eq(ntohs(nfct_get_attr_u16(ev.ct,
	    ATTR_MASTER_PORT_DST)), 21);
	ck_assert_uint_eq(nfct_get_attr_u16(ev.ct, ATTR_ORIG_ZONE), 7);
	ck_assert_uint_eq(nfct_get_attr_u16(ev.ct, ATTR_REPL_ZONE), 9);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_STATUS), 0x10000e);
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_TCP_STATE), 3);
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_TCP_WSCALE_ORIG), 7);
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_TCP_WSCALE_REPL), 14);
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_TCP_FLAGS_ORIG), 0x03);
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_TCP_FLAGS_REPL), 0x88);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_TIMEOUT), 431999);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_MARK), 0xdeadbeef);
	ck_assert_uint_eq(nfct_get_attr_u64(ev.ct, ATTR_ORIG_COUNTER_PACKETS),
	    10);
	ck_assert_uint_eq(nfct_get_attr_u64(ev.ct, ATTR_ORIG_COUNTER_BYTES),
	    0x123456789aULL);
	ck_assert_uint_eq(nfct_get_attr_u64(ev.ct, ATTR_REPL_COUNTER_PACKETS),
	    20);
	ck_assert_uint_eq(nfct_get_attr_u64(ev.ct, ATTR_REPL_COUNTER_BYTES),
	    3000);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_USE), 2);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_ID), 3735928559U);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct,
	    ATTR_ORIG_NAT_SEQ_CORRECTION_POS), 100);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct,
	    ATTR_ORIG_NAT_SEQ_OFFSET_BEFORE), 200);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct,
	    ATTR_ORIG_NAT_SEQ_OFFSET_AFTER), 300);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct,
	    ATTR_REPL_NAT_SEQ_CORRECTION_POS), 101);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct,
	    ATTR_REPL_NAT_SEQ_OFFSET_BEFORE), 201);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct,
	    ATTR_REPL_NAT_SEQ_OFFSET_AFTER), 301);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_SECMARK), 77);
	ck_assert_uint_eq(nfct_get_attr_u16(ev.ct, ATTR_ZONE), 513);
	ck_assert_str_eq(nfct_get_attr(ev.ct, ATTR_SECCTX),
	    "system_u:object_r:unlabeled_t:s0");
	ck_assert_uint_eq(nfct_get_attr_u64(ev.ct, ATTR_TIMESTAMP_START),
	    1700000000123456789ULL);
	ck_assert_uint_eq(nfct_get_attr_u64(ev.ct, ATTR_TIMESTAMP_STOP),
	    1700000060000000001ULL);
	ck_assert_int_gt(nfct_attr_is_set(ev.ct, ATTR_CONNLABELS), 0);
	lb = nfct_get_attr(ev.ct, ATTR_CONNLABELS);
	ck_assert_int_eq(nfct_bitmask_test_bit(lb, 0), 1);
	ck_assert_int_eq(nfct_bitmask_test_bit(lb, 5), 1);
	ck_assert_int_eq(nfct_bitmask_test_bit(lb, 31), 1);
	ck_assert_int_eq(nfct_bitmask_test_bit(lb, 1), 0);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_SYNPROXY_ISN), 11);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_SYNPROXY_ITS), 12);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_SYNPROXY_TSOFF), 13);
	ck_assert_str_eq(nfct_get_attr(ev.ct, ATTR_HELPER_NAME), "ftp");
	/* No CTA_HELP_INFO was sent. */
	ck_assert_ptr_null(ev.helper_info);
	ck_assert_uint_eq(ev.helper_info_len, 0);
	/* No ICMP in the reply tuple. */
	ck_assert(!ev.repl_icmp.set);
}
END_TEST

/* IPv6 tuples, SCTP and DCCP details, one message after the other. */
START_TEST(test_ct_attrs_v6_sctp_dccp)
{
	struct nlbuild_tuple	 t6 = {
		"2001:db8::1", "fe80::1:2:3:4", IPPROTO_SCTP, true, 5000, 6000,
		false, 0, 0, 0, false, 0
	};
	struct event		 ev;

	nlbuild_ct_new(&nb, AF_INET6, false);
	nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET6, &t6);
	t6.src = "fe80::1:2:3:4";
	t6.dst = "2001:db8::1";
	nlbuild_tuple(&nb, CTA_TUPLE_REPLY, AF_INET6, &t6);
	nlbuild_tuple(&nb, CTA_TUPLE_MASTER, AF_INET6, &t6);
	nlbuild_nest_start(&nb, CTA_PROTOINFO);
	nlbuild_nest_start(&nb, CTA_PROTOINFO_SCTP);
	nlbuild_u8(&nb, CTA_PROTOINFO_SCTP_STATE, 4);
	nlbuild_be32(&nb, CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, 0x01020304);
	nlbuild_be32(&nb, CTA_PROTOINFO_SCTP_VTAG_REPLY, 0xfffffffe);
	nlbuild_nest_end(&nb);
	nlbuild_nest_end(&nb);
	/* The old 32-bit counters. */
	nlbuild_nest_start(&nb, CTA_COUNTERS_REPLY);
	nlbuild_be32(&nb, CTA_COUNTERS32_PACKETS, 4000000000U);
	nlbuild_be32(&nb, CTA_COUNTERS32_BYTES, 7);
	nlbuild_nest_end(&nb);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_uint_eq(ev.kind, EV_UPDATE);
	ck_assert_uint_eq(nfct_get_attr_u64(ev.ct, ATTR_REPL_COUNTER_PACKETS),
	    4000000000U);
	ck_assert_uint_eq(nfct_get_attr_u64(ev.ct, ATTR_REPL_COUNTER_BYTES), 7);
	decode_check_v6(ev.ct, ATTR_ORIG_IPV6_SRC, "2001:db8::1");
	decode_check_v6(ev.ct, ATTR_ORIG_IPV6_DST, "fe80::1:2:3:4");
	decode_check_v6(ev.ct, ATTR_REPL_IPV6_SRC, "fe80::1:2:3:4");
	decode_check_v6(ev.ct, ATTR_REPL_IPV6_DST, "2001:db8::1");
	decode_check_v6(ev.ct, ATTR_MASTER_IPV6_SRC, "fe80::1:2:3:4");
	decode_check_v6(ev.ct, ATTR_MASTER_IPV6_DST, "2001:db8::1");
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_SCTP_STATE), 4);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_SCTP_VTAG_ORIG),
	    0x01020304);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_SCTP_VTAG_REPL),
	    0xfffffffe);
	ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_TCP_STATE), 0);

	t6.proto = IPPROTO_DCCP;
	nlbuild_ct_delete(&nb, AF_INET6);
	nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET6, &t6);
	nlbuild_nest_start(&nb, CTA_PROTOINFO);
	nlbuild_nest_start(&nb, CTA_PROTOINFO_DCCP);
	nlbuild_u8(&nb, CTA_PROTOINFO_DCCP_STATE, 4);
	nlbuild_u8(&nb, CTA_PROTOINFO_DCCP_ROLE, 1);
	nlbuild_be64(&nb, CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ,
	    0x0000feedfacecafeULL);
	nlbuild_nest_end(&nb);
	nlbuild_nest_end(&nb);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_uint_eq(ev.kind, EV_DESTROY);
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_DCCP_STATE), 4);
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_DCCP_ROLE), 1);
	ck_assert_uint_eq(nfct_get_attr_u64(ev.ct, ATTR_DCCP_HANDSHAKE_SEQ),
	    0x0000feedfacecafeULL);
	/* The previous message's SCTP state is gone. */
	ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_SCTP_STATE), 0);
	ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_REPL_IPV6_SRC), 0);
}
END_TEST

/* The reply tuple's ICMP fields, which only ev carries. */
START_TEST(test_reply_icmp)
{
	struct nlbuild_tuple	 t = {
		"10.1.1.1", "10.1.1.2", IPPROTO_ICMP, false, 0, 0,
		true, 8, 0, 0x1234, false, 0
	};
	struct event		 ev;

	nlbuild_ct_new(&nb, AF_INET, true);
	nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET, &t);
	t.icmp_type = 0;
	t.icmp_code = 3;
	t.icmp_id = 0xfedc;
	nlbuild_tuple(&nb, CTA_TUPLE_REPLY, AF_INET, &t);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert(ev.repl_icmp.set);
	ck_assert_uint_eq(ev.repl_icmp.type, 0);
	ck_assert_uint_eq(ev.repl_icmp.code, 3);
	ck_assert_uint_eq(ev.repl_icmp.id, htons(0xfedc));
	/* The library keeps the original direction's. */
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_ICMP_TYPE), 8);
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_ICMP_CODE), 0);
	ck_assert_uint_eq(nfct_get_attr_u16(ev.ct, ATTR_ICMP_ID),
	    htons(0x1234));

	/* ICMPv6 uses its own attribute types. */
	t.src = "2001:db8::1";
	t.dst = "2001:db8::2";
	t.proto = IPPROTO_ICMPV6;
	t.icmp_type = 128;
	t.icmp_code = 0;
	t.icmp_id = 7;
	nlbuild_ct_new(&nb, AF_INET6, true);
	nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET6, &t);
	t.icmp_type = 129;
	t.icmp_code = 1;
	t.icmp_id = 65535;
	nlbuild_tuple(&nb, CTA_TUPLE_REPLY, AF_INET6, &t);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert(ev.repl_icmp.set);
	ck_assert_uint_eq(ev.repl_icmp.type, 129);
	ck_assert_uint_eq(ev.repl_icmp.code, 1);
	ck_assert_uint_eq(ev.repl_icmp.id, htons(65535));

	/* Only a type: code and id stay zero. */
	nlbuild_ct_new(&nb, AF_INET, true);
	nlbuild_nest_start(&nb, CTA_TUPLE_REPLY);
	nlbuild_nest_start(&nb, CTA_TUPLE_PROTO);
	nlbuild_u8(&nb, CTA_PROTO_NUM, IPPROTO_ICMP);
	nlbuild_u8(&nb, CTA_PROTO_ICMP_TYPE, 14);
	nlbuild_nest_end(&nb);
	nlbuild_nest_end(&nb);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert(ev.repl_icmp.set);
	ck_assert_uint_eq(ev.repl_icmp.type, 14);
	ck_assert_uint_eq(ev.repl_icmp.code, 0);
	ck_assert_uint_eq(ev.repl_icmp.id, 0);

	/* ICMP only in the original direction: the reply has none. */
	t.src = "10.1.1.1";
	t.dst = "10.1.1.2";
	t.proto = IPPROTO_ICMP;
	nlbuild_ct_new(&nb, AF_INET, true);
	nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET, &t);
	nlbuild_tuple(&nb, CTA_TUPLE_REPLY, AF_INET, &t_reply);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert(!ev.repl_icmp.set);
}
END_TEST

/* Helper info: a pointer into the message and its length. */
START_TEST(test_helper_info)
{
	static const unsigned char	 info[] = { 0x00, 0x01, 0xfe, 0xff,
					    0x80, 0x7f, 0x10 };
	const char			*lo, *hi;
	struct event			 ev;

	decode_ct_base(true);
	nlbuild_nest_start(&nb, CTA_HELP);
	nlbuild_str(&nb, CTA_HELP_NAME, "sip");
	nlbuild_bytes(&nb, CTA_HELP_INFO, info, sizeof info);
	nlbuild_nest_end(&nb);
	nlbuild_be32(&nb, CTA_MARK, 1);
	ck_assert_int_eq(decode_msg(dec, nb.nlh, &ev), 0);
	ck_assert_ptr_nonnull(ev.helper_info);
	ck_assert_uint_eq(ev.helper_info_len, sizeof info);
	ck_assert_mem_eq(ev.helper_info, info, sizeof info);
	/* It points into the message itself, not into a copy. */
	lo = (const char *)nb.nlh;
	hi = lo + nb.nlh->nlmsg_len;
	ck_assert((const char *)ev.helper_info > lo);
	ck_assert((const char *)ev.helper_info + sizeof info <= hi);
	ck_assert_str_eq(nfct_get_attr(ev.ct, ATTR_HELPER_NAME), "sip");

	/* An empty CTA_HELP_INFO: present, length 0. */
	decode_ct_base(true);
	nlbuild_nest_start(&nb, CTA_HELP);
	nlbuild_str(&nb, CTA_HELP_NAME, "sip");
	nlbuild_bytes(&nb, CTA_HELP_INFO, NULL, 0);
	nlbuild_nest_end(&nb);
	ck_assert_int_eq(decode_msg(dec, nb.nlh, &ev), 0);
	ck_assert_ptr_nonnull(ev.helper_info);
	ck_assert_uint_eq(ev.helper_info_len, 0);

	/* No CTA_HELP at all. */
	decode_ct_base(true);
	ck_assert_int_eq(decode_msg(dec, nb.nlh, &ev), 0);
	ck_assert_ptr_null(ev.helper_info);
	ck_assert_uint_eq(ev.helper_info_len, 0);
}
END_TEST

/*
 * Every expectation attribute, the id in ev, and nothing left for the next
 * one.
 */
START_TEST(test_exp)
{
	struct nlbuild_tuple		 t = t_orig;
	const struct nf_conntrack	*c;
	struct event			 ev;

	nlbuild_exp_new(&nb, AF_INET, true);
	nlbuild_tuple(&nb, CTA_EXPECT_MASTER, AF_INET, &t_orig);
	t.sport = 0;
	t.dport = 51210;
	nlbuild_tuple(&nb, CTA_EXPECT_TUPLE, AF_INET, &t);
	nlbuild_be32(&nb, CTA_EXPECT_TIMEOUT, 300);
	nlbuild_be32(&nb, CTA_EXPECT_ID, 0xdeadbeef);
	nlbuild_str(&nb, CTA_EXPECT_HELP_NAME, "ftp");
	nlbuild_be16(&nb, CTA_EXPECT_ZONE, 4);
	nlbuild_be32(&nb, CTA_EXPECT_FLAGS, 5);
	nlbuild_be32(&nb, CTA_EXPECT_CLASS, 1);
	nlbuild_nest_start(&nb, CTA_EXPECT_NAT);
	nlbuild_be32(&nb, CTA_EXPECT_NAT_DIR, 1);
	nlbuild_tuple(&nb, CTA_EXPECT_NAT_TUPLE, AF_INET, &t_reply);
	nlbuild_nest_end(&nb);
	nlbuild_str(&nb, CTA_EXPECT_FN, "nat-follow-master");
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_uint_eq(ev.type, EV_TYPE_EXPECT);
	ck_assert(ev.has_exp_id);
	ck_assert_uint_eq(ev.exp_id, 0xdeadbeef);
	ck_assert_uint_eq(nfexp_get_attr_u32(ev.exp, ATTR_EXP_TIMEOUT), 300);
	ck_assert_str_eq(nfexp_get_attr(ev.exp, ATTR_EXP_HELPER_NAME), "ftp");
	ck_assert_uint_eq(nfexp_get_attr_u16(ev.exp, ATTR_EXP_ZONE), 4);
	ck_assert_uint_eq(nfexp_get_attr_u32(ev.exp, ATTR_EXP_FLAGS), 5);
	ck_assert_uint_eq(nfexp_get_attr_u32(ev.exp, ATTR_EXP_CLASS), 1);
	ck_assert_uint_eq(nfexp_get_attr_u32(ev.exp, ATTR_EXP_NAT_DIR), 1);
	ck_assert_str_eq(nfexp_get_attr(ev.exp, ATTR_EXP_FN),
	    "nat-follow-master");
	c = nfexp_get_attr(ev.exp, ATTR_EXP_MASTER);
	decode_check_v4(c, ATTR_ORIG_IPV4_SRC, "10.0.0.1");
	ck_assert_uint_eq(ntohs(nfct_get_attr_u16(c, ATTR_ORIG_PORT_DST)), 80);
	c = nfexp_get_attr(ev.exp, ATTR_EXP_EXPECTED);
	ck_assert_uint_eq(ntohs(nfct_get_attr_u16(c, ATTR_ORIG_PORT_DST)),
	    51210);
	c = nfexp_get_attr(ev.exp, ATTR_EXP_NAT_TUPLE);
	decode_check_v4(c, ATTR_ORIG_IPV4_SRC, "10.0.0.2");
	ck_assert_int_le(nfexp_attr_is_set(ev.exp, ATTR_EXP_MASK), 0);

	/* The next expectation has none of it. */
	nlbuild_exp_delete(&nb, AF_INET);
	nlbuild_tuple(&nb, CTA_EXPECT_MASTER, AF_INET, &t_orig);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_uint_eq(ev.kind, EV_DESTROY);
	ck_assert(!ev.has_exp_id);
	ck_assert_uint_eq(ev.exp_id, 0);
	ck_assert_int_le(nfexp_attr_is_set(ev.exp, ATTR_EXP_TIMEOUT), 0);
	ck_assert_int_le(nfexp_attr_is_set(ev.exp, ATTR_EXP_HELPER_NAME), 0);
	ck_assert_int_le(nfexp_attr_is_set(ev.exp, ATTR_EXP_FN), 0);
	ck_assert_int_le(nfexp_attr_is_set(ev.exp, ATTR_EXP_NAT_TUPLE), 0);
	ck_assert_int_le(nfexp_attr_is_set(ev.exp, ATTR_EXP_NAT_DIR), 0);
	ck_assert_int_le(nfexp_attr_is_set(ev.exp, ATTR_EXP_EXPECTED), 0);
	ck_assert_int_gt(nfexp_attr_is_set(ev.exp, ATTR_EXP_MASTER), 0);
}
END_TEST

/*
 * The policy rules, one per attribute: the path of nests to it, its type
 * and what its payload must be.  Each is tried with payloads of the wrong
 * size (and strings without NUL), which must be refused, and with a good
 * one, which must decode.
 */
enum rule_kind { R_U8, R_U16, R_U32, R_U64, R_EX2, R_EX16, R_STR, R_STR24,
    R_NEST };

struct rule {
	bool		 exp;
	uint16_t	 path[4];	/* 0-terminated */
	uint16_t	 type;
	enum rule_kind	 kind;
};

#define P0		{ 0 }
#define P1(a)		{ a, 0 }
#define P2(a, b)	{ a, b, 0 }
#define P3(a, b, c)	{ a, b, c, 0 }

static const struct rule rules[] = {
	/* Conntrack, top level. */
	{ false, P0, CTA_TUPLE_ORIG, R_NEST },
	{ false, P0, CTA_TUPLE_REPLY, R_NEST },
	{ false, P0, CTA_TUPLE_MASTER, R_NEST },
	{ false, P0, CTA_STATUS, R_U32 },
	{ false, P0, CTA_PROTOINFO, R_NEST },
	{ false, P0, CTA_HELP, R_NEST },
	{ false, P0, CTA_TIMEOUT, R_U32 },
	{ false, P0, CTA_MARK, R_U32 },
	{ false, P0, CTA_COUNTERS_ORIG, R_NEST },
	{ false, P0, CTA_COUNTERS_REPLY, R_NEST },
	{ false, P0, CTA_USE, R_U32 },
	{ false, P0, CTA_ID, R_U32 },
	{ false, P0, CTA_SEQ_ADJ_ORIG, R_NEST },
	{ false, P0, CTA_SEQ_ADJ_REPLY, R_NEST },
	{ false, P0, CTA_SECMARK, R_U32 },
	{ false, P0, CTA_ZONE, R_U16 },
	{ false, P0, CTA_SECCTX, R_NEST },
	{ false, P0, CTA_TIMESTAMP, R_NEST },
	{ false, P0, CTA_SYNPROXY, R_NEST },
	/* Tuples, in every direction. */
	{ false, P1(CTA_TUPLE_ORIG), CTA_TUPLE_IP, R_NEST },
	{ false, P1(CTA_TUPLE_ORIG), CTA_TUPLE_PROTO, R_NEST },
	{ false, P1(CTA_TUPLE_ORIG), CTA_TUPLE_ZONE, R_U16 },
	{ false, P1(CTA_TUPLE_REPLY), CTA_TUPLE_ZONE, R_U16 },
	{ false, P1(CTA_TUPLE_MASTER), CTA_TUPLE_ZONE, R_U16 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_IP), CTA_IP_V4_SRC, R_U32 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_IP), CTA_IP_V4_DST, R_U32 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_IP), CTA_IP_V6_SRC, R_EX16 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_IP), CTA_IP_V6_DST, R_EX16 },
	{ false, P2(CTA_TUPLE_REPLY, CTA_TUPLE_IP), CTA_IP_V4_SRC, R_U32 },
	{ false, P2(CTA_TUPLE_MASTER, CTA_TUPLE_IP), CTA_IP_V6_DST, R_EX16 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_PROTO), CTA_PROTO_NUM, R_U8 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_PROTO), CTA_PROTO_SRC_PORT,
	    R_U16 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_PROTO), CTA_PROTO_DST_PORT,
	    R_U16 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_PROTO), CTA_PROTO_ICMP_ID,
	    R_U16 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_PROTO), CTA_PROTO_ICMP_TYPE,
	    R_U8 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_PROTO), CTA_PROTO_ICMP_CODE,
	    R_U8 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_PROTO), CTA_PROTO_ICMPV6_ID,
	    R_U16 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_PROTO), CTA_PROTO_ICMPV6_TYPE,
	    R_U8 },
	{ false, P2(CTA_TUPLE_ORIG, CTA_TUPLE_PROTO), CTA_PROTO_ICMPV6_CODE,
	    R_U8 },
	{ false, P2(CTA_TUPLE_REPLY, CTA_TUPLE_PROTO), CTA_PROTO_ICMP_TYPE,
	    R_U8 },
	{ false, P2(CTA_TUPLE_REPLY, CTA_TUPLE_PROTO), CTA_PROTO_ICMP_ID,
	    R_U16 },
	{ false, P2(CTA_TUPLE_REPLY, CTA_TUPLE_PROTO), CTA_PROTO_ICMPV6_CODE,
	    R_U8 },
	{ false, P2(CTA_TUPLE_MASTER, CTA_TUPLE_PROTO), CTA_PROTO_DST_PORT,
	    R_U16 },
	/* Protocol details. */
	{ false, P1(CTA_PROTOINFO), CTA_PROTOINFO_TCP, R_NEST },
	{ false, P1(CTA_PROTOINFO), CTA_PROTOINFO_DCCP, R_NEST },
	{ false, P1(CTA_PROTOINFO), CTA_PROTOINFO_SCTP, R_NEST },
	{ false, P2(CTA_PROTOINFO, CTA_PROTOINFO_TCP),
	    CTA_PROTOINFO_TCP_STATE, R_U8 },
	{ false, P2(CTA_PROTOINFO, CTA_PROTOINFO_TCP),
	    CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, R_U8 },
	{ false, P2(CTA_PROTOINFO, CTA_PROTOINFO_TCP),
	    CTA_PROTOINFO_TCP_WSCALE_REPLY, R_U8 },
	{ false, P2(CTA_PROTOINFO, CTA_PROTOINFO_TCP),
	    CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, R_EX2 },
	{ false, P2(CTA_PROTOINFO, CTA_PROTOINFO_TCP),
	    CTA_PROTOINFO_TCP_FLAGS_REPLY, R_EX2 },
	{ false, P2(CTA_PROTOINFO, CTA_PROTOINFO_DCCP),
	    CTA_PROTOINFO_DCCP_STATE, R_U8 },
	{ false, P2(CTA_PROTOINFO, CTA_PROTOINFO_DCCP),
	    CTA_PROTOINFO_DCCP_ROLE, R_U8 },
	{ false, P2(CTA_PROTOINFO, CTA_PROTOINFO_DCCP),
	    CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ, R_U64 },
	{ false, P2(CTA_PROTOINFO, CTA_PROTOINFO_SCTP),
	    CTA_PROTOINFO_SCTP_STATE, R_U8 },
	{ false, P2(CTA_PROTOINFO, CTA_PROTOINFO_SCTP),
	    CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, R_U32 },
	{ false, P2(CTA_PROTOINFO, CTA_PROTOINFO_SCTP),
	    CTA_PROTOINFO_SCTP_VTAG_REPLY, R_U32 },
	/* Counters, sequence adjustment, helper, context, time, synproxy. */
	{ false, P1(CTA_COUNTERS_ORIG), CTA_COUNTERS_PACKETS, R_U64 },
	{ false, P1(CTA_COUNTERS_ORIG), CTA_COUNTERS_BYTES, R_U64 },
	{ false, P1(CTA_COUNTERS_ORIG), CTA_COUNTERS32_PACKETS, R_U32 },
	{ false, P1(CTA_COUNTERS_ORIG), CTA_COUNTERS32_BYTES, R_U32 },
	{ false, P1(CTA_COUNTERS_REPLY), CTA_COUNTERS_PACKETS, R_U64 },
	{ false, P1(CTA_COUNTERS_REPLY), CTA_COUNTERS32_BYTES, R_U32 },
	{ false, P1(CTA_SEQ_ADJ_ORIG), CTA_SEQADJ_CORRECTION_POS, R_U32 },
	{ false, P1(CTA_SEQ_ADJ_ORIG), CTA_SEQADJ_OFFSET_BEFORE, R_U32 },
	{ false, P1(CTA_SEQ_ADJ_ORIG), CTA_SEQADJ_OFFSET_AFTER, R_U32 },
	{ false, P1(CTA_SEQ_ADJ_REPLY), CTA_SEQADJ_CORRECTION_POS, R_U32 },
	{ false, P1(CTA_SEQ_ADJ_REPLY), CTA_SEQADJ_OFFSET_AFTER, R_U32 },
	{ false, P1(CTA_HELP), CTA_HELP_NAME, R_STR },
	{ false, P1(CTA_SECCTX), CTA_SECCTX_NAME, R_STR },
	{ false, P1(CTA_TIMESTAMP), CTA_TIMESTAMP_START, R_U64 },
	{ false, P1(CTA_TIMESTAMP), CTA_TIMESTAMP_STOP, R_U64 },
	{ false, P1(CTA_SYNPROXY), CTA_SYNPROXY_ISN, R_U32 },
	{ false, P1(CTA_SYNPROXY), CTA_SYNPROXY_ITS, R_U32 },
	{ false, P1(CTA_SYNPROXY), CTA_SYNPROXY_TSOFF, R_U32 },
	/* Expectations. */
	{ true, P0, CTA_EXPECT_MASTER, R_NEST },
	{ true, P0, CTA_EXPECT_TUPLE, R_NEST },
	{ true, P0, CTA_EXPECT_MASK, R_NEST },
	{ true, P0, CTA_EXPECT_TIMEOUT, R_U32 },
	{ true, P0, CTA_EXPECT_ID, R_U32 },
	{ true, P0, CTA_EXPECT_HELP_NAME, R_STR },
	{ true, P0, CTA_EXPECT_ZONE, R_U16 },
	{ true, P0, CTA_EXPECT_FLAGS, R_U32 },
	{ true, P0, CTA_EXPECT_CLASS, R_U32 },
	{ true, P0, CTA_EXPECT_NAT, R_NEST },
	{ true, P0, CTA_EXPECT_FN, R_STR24 },
	{ true, P1(CTA_EXPECT_NAT), CTA_EXPECT_NAT_DIR, R_U32 },
	{ true, P1(CTA_EXPECT_NAT), CTA_EXPECT_NAT_TUPLE, R_NEST },
	{ true, P2(CTA_EXPECT_NAT, CTA_EXPECT_NAT_TUPLE), CTA_TUPLE_ZONE,
	    R_U16 },
	{ true, P3(CTA_EXPECT_NAT, CTA_EXPECT_NAT_TUPLE, CTA_TUPLE_IP),
	    CTA_IP_V4_DST, R_U32 },
	{ true, P2(CTA_EXPECT_MASTER, CTA_TUPLE_IP), CTA_IP_V4_SRC, R_U32 },
	{ true, P2(CTA_EXPECT_TUPLE, CTA_TUPLE_IP), CTA_IP_V6_SRC, R_EX16 },
	{ true, P2(CTA_EXPECT_MASK, CTA_TUPLE_PROTO), CTA_PROTO_NUM, R_U8 },
	{ true, P2(CTA_EXPECT_MASK, CTA_TUPLE_PROTO), CTA_PROTO_SRC_PORT,
	    R_U16 },
	{ true, P1(CTA_EXPECT_TUPLE), CTA_TUPLE_ZONE, R_U16 },
	{ true, P1(CTA_EXPECT_MASTER), CTA_TUPLE_PROTO, R_NEST },
};

/* A payload of one rule: len bytes of c, or a string with its NUL. */
struct payload {
	size_t		 len;
	int		 c;
	bool		 nul;		/* the last byte is NUL */
};

/* Return the good payload (i < 0) or the i-th bad one; false past the end. */
static bool
decode_rule_payload(enum rule_kind k, int i, struct payload *p)
{
	static const size_t	 u8[] = { 0, 2, 3, 4, 8 };
	static const size_t	 u16[] = { 0, 1, 3, 4, 8 };
	static const size_t	 u32[] = { 0, 1, 2, 3, 5, 8 };
	static const size_t	 u64[] = { 0, 1, 4, 7, 9, 16 };
	static const size_t	 ex2[] = { 0, 1, 3, 4 };
	static const size_t	 ex16[] = { 0, 4, 8, 15, 17, 32 };
	static const size_t	 nest[] = { 1, 2, 3 };
	const size_t		*bad;
	size_t			 nbad, good;

	p->c = 0x5a;
	p->nul = false;
	switch (k) {
	case R_U8:
		bad = u8, nbad = nitems(u8), good = 1;
		break;
	case R_U16:
		bad = u16, nbad = nitems(u16), good = 2;
		break;
	case R_U32:
		bad = u32, nbad = nitems(u32), good = 4;
		break;
	case R_U64:
		bad = u64, nbad = nitems(u64), good = 8;
		break;
	case R_EX2:
		bad = ex2, nbad = nitems(ex2), good = 2;
		break;
	case R_EX16:
		bad = ex16, nbad = nitems(ex16), good = 16;
		break;
	case R_NEST:
		/* A good nest is empty; bad ones are too short for a header. */
		bad = nest, nbad = nitems(nest), good = 0;
		break;
	case R_STR:
	case R_STR24:
		/*
		 * Bad: empty, or without a NUL (lengths that need no padding,
		 * so nothing but the guard page follows).  For the expectfn
		 * also 25 bytes, NUL included.
		 */
		if (i < 0) {
			p->len = k == R_STR24 ? 24 : 40;
			p->c = 'a';
			p->nul = true;
			return (true);
		}
		if (i < 3) {
			p->len = i == 0 ? 0 : i == 1 ? 8 : 64;
			p->c = 'a';
			return (true);
		}
		if (k == R_STR24 && i == 3) {
			p->len = 25;
			p->c = 'a';
			p->nul = true;
			return (true);
		}
		return (false);
	default:
		abort();
	}
	if (i < 0) {
		p->len = good;
		return (true);
	}
	if ((size_t)i >= nbad)
		return (false);
	p->len = bad[i];
	return (true);
}

/*
 * Build a message holding one attribute of a rule with payload p, as the
 * last bytes of the message when last is true (a NUL-less string then
 * ends right at the guard page).
 */
static void
decode_rule_build(const struct rule *r, const struct payload *p)
{
	unsigned char	buf[128];
	int		i, n;

	if (r->exp) {
		nlbuild_exp_new(&nb, AF_INET, true);
		nlbuild_tuple(&nb, CTA_EXPECT_TUPLE, AF_INET, &t_orig);
	} else
		decode_ct_base(true);
	for (n = 0; n < 4 && r->path[n] != 0; n++)
		nlbuild_nest_start(&nb, r->path[n]);
	if (p->len > sizeof buf)
		abort();
	memset(buf, p->c, p->len);
	if (p->nul && p->len > 0)
		buf[p->len - 1] = '\0';
	nlbuild_bytes(&nb, r->type, buf, p->len);
	for (i = 0; i < n; i++)
		nlbuild_nest_end(&nb);
}

/* One policy rule: its good payload decodes, every bad one is refused. */
START_TEST(test_policy)
{
	const struct rule	*r = &rules[_i];
	struct payload		 p;
	struct event		 ev;
	int			 i;

	/* The right size decodes, and the value gets through. */
	ck_assert(decode_rule_payload(r->kind, -1, &p));
	decode_rule_build(r, &p);
	ck_assert_msg(decode_nb(&ev) == 0, "rule %d (type %u) good payload",
	    _i, r->type);
	for (i = 0; decode_rule_payload(r->kind, i, &p); i++) {
		decode_rule_build(r, &p);
		ck_assert_msg(decode_nb(&ev) == -EINVAL,
		    "rule %d (type %u): payload of %zu bytes accepted", _i,
		    r->type, p.len);
	}
	ck_assert_int_gt(i, 0);
}
END_TEST

/*
 * Attribute types the decoder does not know are ignored at every level,
 * with any payload, as libnetfilter_conntrack ignores them.
 */
START_TEST(test_unknown_types)
{
	struct event	ev;

	decode_ct_base(true);
	nlbuild_fill(&nb, CTA_MAX + 2, 0x11, 3);	/* 27 is CTA_TIMESTAMP_EVENT */
	nlbuild_fill(&nb, 1000, 0x11, 9);
	nlbuild_fill(&nb, CTA_NAT_SRC, 0x22, 5);
	nlbuild_fill(&nb, CTA_MARK_MASK, 0x22, 1);
	nlbuild_fill(&nb, CTA_LABELS_MASK, 0x22, 7);
	nlbuild_nest_start(&nb, CTA_TUPLE_MASTER);
	nlbuild_fill(&nb, CTA_TUPLE_MAX + 1, 0x33, 1);
	nlbuild_nest_start(&nb, CTA_TUPLE_IP);
	nlbuild_fill(&nb, CTA_IP_MAX + 1, 0x33, 1);
	nlbuild_addr(&nb, CTA_IP_V4_SRC, AF_INET, "1.2.3.4");
	nlbuild_nest_end(&nb);
	nlbuild_nest_end(&nb);
	nlbuild_nest_start(&nb, CTA_HELP);
	nlbuild_fill(&nb, CTA_HELP_MAX + 1, 0x33, 1);
	nlbuild_nest_end(&nb);
	nlbuild_be32(&nb, CTA_MARK, 42);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_MARK), 42);
	decode_check_v4(ev.ct, ATTR_MASTER_IPV4_SRC, "1.2.3.4");

	nlbuild_exp_new(&nb, AF_INET, true);
	nlbuild_tuple(&nb, CTA_EXPECT_MASTER, AF_INET, &t_orig);
	nlbuild_fill(&nb, CTA_EXPECT_MAX + 1, 0x44, 2);
	nlbuild_be32(&nb, CTA_EXPECT_TIMEOUT, 5);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_uint_eq(nfexp_get_attr_u32(ev.exp, ATTR_EXP_TIMEOUT), 5);
}
END_TEST

/*
 * Regression test, was a bug (src/decode.c, pol_protoinfo): libnetfilter_conntrack's callback
 * for CTA_PROTOINFO accepts types up to CTA_PROTOINFO_TCP_MAX (5) into a
 * table of CTA_PROTOINFO_MAX + 1 (4) entries, so a type 4 or 5 attribute
 * there is written past the end of a stack array.  decode_validate skips
 * types above CTA_PROTOINFO_MAX as unknown, so the message reaches the
 * library.  It must be refused.
 */
START_TEST(test_bug_protoinfo_overflow)
{
	struct event	ev;
	uint16_t	type;

	for (type = CTA_PROTOINFO_MAX + 1; type <= CTA_PROTOINFO_TCP_MAX;
	    type++) {
		decode_ct_base(true);
		nlbuild_nest_start(&nb, CTA_PROTOINFO);
		nlbuild_fill(&nb, type, 0x41, 8);
		nlbuild_nest_end(&nb);
		ck_assert_msg(decode_validate(nb.nlh) == -EINVAL,
		    "CTA_PROTOINFO holding type %u reaches the library, "
		    "which writes it past its table", type);
		ck_assert_int_eq(decode_nb(&ev), -EINVAL);
	}
}
END_TEST

/*
 * Regression test, was a bug (src/decode.c, pol_expnat): libnetfilter_conntrack's callback for
 * CTA_EXPECT_NAT accepts types up to CTA_MAX (26) into a table of
 * CTA_EXPECT_NAT_MAX + 1 (3) entries.  decode_validate lets them through
 * as unknown types; with the library in Debian 12 one attribute of type
 * 17 there ends in "stack smashing detected" (abort) and one of type 21
 * or 24 in SIGSEGV.  They must be refused.
 */
START_TEST(test_bug_expnat_overflow)
{
	struct event	ev;
	uint16_t	type;

	for (type = CTA_EXPECT_NAT_MAX + 1; type <= CTA_MAX; type++) {
		nlbuild_exp_new(&nb, AF_INET, true);
		nlbuild_tuple(&nb, CTA_EXPECT_MASTER, AF_INET, &t_orig);
		nlbuild_nest_start(&nb, CTA_EXPECT_NAT);
		nlbuild_fill(&nb, type, 0x41, 8);
		nlbuild_nest_end(&nb);
		ck_assert_msg(decode_validate(nb.nlh) == -EINVAL,
		    "CTA_EXPECT_NAT holding type %u reaches the library, "
		    "which writes it past its table", type);
		ck_assert_int_eq(decode_nb(&ev), -EINVAL);
	}
}
END_TEST

/*
 * Regression test, was a bug (src/decode.c, decode_validate_top(); found
 * by fuzz_decode): libmnl parses attributes up to the aligned end of a
 * message, the validation walked up to nlmsg_len.  A wrong-sized
 * CTA_EXPECT_ID that ends in the padding of an unaligned length reached
 * the library, which calls exit() ("ABI breakage").
 */
START_TEST(test_bug_unaligned_tail)
{
	struct event	ev;
	uint32_t	cut;

	for (cut = 1; cut < NLMSG_ALIGNTO; cut++) {
		nlbuild_exp_new(&nb, AF_INET, true);
		nlbuild_tuple(&nb, CTA_EXPECT_MASTER, AF_INET, &t_orig);
		nlbuild_fill(&nb, CTA_EXPECT_ID, 0x41, 8);
		nb.nlh->nlmsg_len -= cut;
		ck_assert_int_eq(decode_validate(nb.nlh), -EINVAL);
		ck_assert_int_eq(decode_nb(&ev), -EINVAL);
	}
}
END_TEST

/*
 * Regression test, was a bug (src/decode.c, pol_ct): libnetfilter_conntrack 1.1.0 and later
 * (configure accepts any version from 1.0.9) know CTA_TIMESTAMP_EVENT,
 * type 27, and abort ("ABI breakage") unless it holds exactly 8 bytes.
 * pol_ct is sized by the kernel headers it is built with; Debian 12's
 * stop at CTA_STATUS_MASK (26), so type 27 is skipped as unknown and a
 * wrong-sized one reaches the library.  It must be refused.
 */
START_TEST(test_bug_timestamp_event)
{
	struct event	ev;

	decode_ct_base(true);
	nlbuild_be64(&nb, 27, 1);
	ck_assert_int_eq(decode_nb(&ev), 0);
	decode_ct_base(true);
	nlbuild_fill(&nb, 27, 0x41, 3);
	ck_assert_msg(decode_validate(nb.nlh) == -EINVAL,
	    "a 3-byte CTA_TIMESTAMP_EVENT (type 27) passes decode_validate");
}
END_TEST

/*
 * Regression test, was a bug (src/decode.c, decode_find): when an attribute comes twice,
 * libnetfilter_conntrack keeps the last one (its tables are overwritten)
 * but decode_reply_icmp and decode_helper_info take the first, so
 * ev->repl_icmp and ev->helper_info describe another tuple or helper
 * than the one in ev->ct ("reply" in the JSON mixes the two).  The kernel never repeats attributes; decode_validate should
 * refuse such messages, or the lookups take the last one.
 */
START_TEST(test_bug_duplicates)
{
	struct nlbuild_tuple	 t = {
		"10.1.1.2", "10.1.1.1", IPPROTO_ICMP, false, 0, 0,
		true, 1, 1, 1, false, 0
	};
	struct event		 ev;
	int			 r;

	nlbuild_ct_new(&nb, AF_INET, true);
	nlbuild_tuple(&nb, CTA_TUPLE_REPLY, AF_INET, &t);
	t.src = "10.9.9.9";
	t.icmp_type = 2;
	t.icmp_code = 2;
	t.icmp_id = 2;
	nlbuild_tuple(&nb, CTA_TUPLE_REPLY, AF_INET, &t);
	nlbuild_nest_start(&nb, CTA_HELP);
	nlbuild_str(&nb, CTA_HELP_NAME, "first");
	nlbuild_bytes(&nb, CTA_HELP_INFO, "\x01", 1);
	nlbuild_nest_end(&nb);
	nlbuild_nest_start(&nb, CTA_HELP);
	nlbuild_str(&nb, CTA_HELP_NAME, "last");
	nlbuild_bytes(&nb, CTA_HELP_INFO, "\x02\x02", 2);
	nlbuild_nest_end(&nb);
	r = decode_nb(&ev);
	if (r == -EINVAL)
		return;
	ck_assert_int_eq(r, 0);
	/* The library took the last reply tuple and the last helper... */
	decode_check_v4(ev.ct, ATTR_REPL_IPV4_SRC, "10.9.9.9");
	ck_assert_str_eq(nfct_get_attr(ev.ct, ATTR_HELPER_NAME), "last");
	/* ...so must what the decoder adds. */
	ck_assert_msg(ev.repl_icmp.type == 2, "reply ICMP type %u is from "
	    "the other reply tuple", ev.repl_icmp.type);
	ck_assert_uint_eq(ev.helper_info_len, 2);
	ck_assert_mem_eq(ev.helper_info, "\x02\x02", 2);
}
END_TEST

/*
 * Truncated messages: a nest or attribute claiming more than the message
 * holds.  Nothing may be read past the message; what is cut off is not
 * decoded (the decoder may refuse the message or decode what is whole).
 */
START_TEST(test_truncated)
{
	static const struct {
		uint16_t	len;
		uint16_t	type;
	} hdr[] = {
		{ 200, CTA_TUPLE_MASTER | NLA_F_NESTED },
		{ 8, CTA_MARK },
		{ 2, CTA_MARK },
		{ 0, CTA_MARK },
		{ 65535, CTA_SECCTX },
	};
	struct nlattr	 a;
	struct event	 ev;
	size_t		 i, cut;
	int		 r;

	/* A whole message cut short by 1 to 12 bytes. */
	for (cut = 1; cut <= 12; cut++) {
		decode_ct_base(true);
		nlbuild_be32(&nb, CTA_MARK, 9);
		nlbuild_nest_start(&nb, CTA_SECCTX);
		nlbuild_str(&nb, CTA_SECCTX_NAME, "abcdefg");
		nlbuild_nest_end(&nb);
		nlbuild_cut(&nb, cut);
		r = decode_nb(&ev);
		ck_assert_msg(r == 0 || r == -EINVAL, "cut %zu: %d", cut, r);
		if (r == 0) {
			ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_SECCTX),
			    0);
			ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_MARK),
			    9);
		}
	}
	/* A nest cut inside: its last attribute claims more than it has. */
	decode_ct_base(true);
	nlbuild_nest_start(&nb, CTA_TUPLE_MASTER);
	nlbuild_nest_start(&nb, CTA_TUPLE_IP);
	nlbuild_addr(&nb, CTA_IP_V4_SRC, AF_INET, "1.1.1.1");
	a.nla_len = 64;
	a.nla_type = CTA_IP_V4_DST;
	nlbuild_raw(&nb, &a, sizeof a);
	nlbuild_nest_end(&nb);
	nlbuild_nest_end(&nb);
	r = decode_nb(&ev);
	ck_assert(r == 0 || r == -EINVAL);
	if (r == 0)
		ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_MASTER_IPV4_DST),
		    0);

	/* Headers alone at the very end of the message. */
	for (i = 0; i < nitems(hdr); i++) {
		decode_ct_base(true);
		a.nla_len = hdr[i].len;
		a.nla_type = hdr[i].type;
		nlbuild_raw(&nb, &a, sizeof a);
		r = decode_nb(&ev);
		ck_assert_msg(r == 0 || r == -EINVAL, "header %zu: %d", i, r);
		if (r == 0)
			ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_MARK), 0);
		/* Expectations walk their attributes differently. */
		nlbuild_exp_new(&nb, AF_INET, true);
		nlbuild_tuple(&nb, CTA_EXPECT_MASTER, AF_INET, &t_orig);
		a.nla_type = hdr[i].type == CTA_MARK ? CTA_EXPECT_TIMEOUT :
		    CTA_EXPECT_HELP_NAME;
		nlbuild_raw(&nb, &a, sizeof a);
		r = decode_nb(&ev);
		ck_assert(r == 0 || r == -EINVAL);
		if (r == 0)
			ck_assert_int_le(nfexp_attr_is_set(ev.exp,
			    ATTR_EXP_TIMEOUT), 0);
	}
	/* Odd bytes after the last attribute. */
	decode_ct_base(true);
	nlbuild_be32(&nb, CTA_MARK, 3);
	nlbuild_raw(&nb, "\x05\x00\x08", 3);
	r = decode_nb(&ev);
	ck_assert(r == 0 || r == -EINVAL);
	if (r == 0)
		ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_MARK), 3);
}
END_TEST

/* The conntrack attributes a message with everything sets. */
static const int ct_all_attrs[] = {
	ATTR_ORIG_IPV4_SRC, ATTR_REPL_IPV4_SRC, ATTR_MASTER_IPV4_SRC,
	ATTR_ORIG_PORT_SRC, ATTR_ORIG_ZONE, ATTR_REPL_ZONE, ATTR_STATUS,
	ATTR_TCP_STATE, ATTR_TCP_WSCALE_ORIG, ATTR_TCP_FLAGS_REPL,
	ATTR_TIMEOUT, ATTR_MARK, ATTR_ORIG_COUNTER_PACKETS,
	ATTR_REPL_COUNTER_BYTES, ATTR_USE, ATTR_ID,
	ATTR_ORIG_NAT_SEQ_CORRECTION_POS, ATTR_REPL_NAT_SEQ_OFFSET_AFTER,
	ATTR_SECMARK, ATTR_ZONE, ATTR_SECCTX, ATTR_TIMESTAMP_START,
	ATTR_TIMESTAMP_STOP, ATTR_CONNLABELS, ATTR_SYNPROXY_ISN,
	ATTR_HELPER_NAME, ATTR_HELPER_INFO, ATTR_ICMP_TYPE,
};

/* Build a conntrack message with every attribute, secctx and labels too. */
static void
decode_build_full(uint32_t mark)
{
	struct nlbuild_tuple	 to = t_orig, tm = t_orig;
	unsigned char		 labels[8] = { 0xff, 0, 0, 0, 0, 0, 0, 1 };
	unsigned char		 tcpf[2] = { 1, 1 };

	to.zone = true;
	to.zone_id = 1;
	to.icmp = true;
	to.icmp_type = 3;
	tm.src = "9.9.9.9";
	nlbuild_ct_new(&nb, AF_INET, true);
	nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET, &to);
	to.zone_id = 2;
	nlbuild_tuple(&nb, CTA_TUPLE_REPLY, AF_INET, &to);
	nlbuild_tuple(&nb, CTA_TUPLE_MASTER, AF_INET, &tm);
	nlbuild_be32(&nb, CTA_STATUS, 8);
	nlbuild_nest_start(&nb, CTA_PROTOINFO);
	nlbuild_nest_start(&nb, CTA_PROTOINFO_TCP);
	nlbuild_u8(&nb, CTA_PROTOINFO_TCP_STATE, 3);
	nlbuild_u8(&nb, CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, 7);
	nlbuild_bytes(&nb, CTA_PROTOINFO_TCP_FLAGS_REPLY, tcpf, 2);
	nlbuild_nest_end(&nb);
	nlbuild_nest_end(&nb);
	nlbuild_be32(&nb, CTA_TIMEOUT, 30);
	nlbuild_be32(&nb, CTA_MARK, mark);
	nlbuild_nest_start(&nb, CTA_COUNTERS_ORIG);
	nlbuild_be64(&nb, CTA_COUNTERS_PACKETS, 1);
	nlbuild_nest_end(&nb);
	nlbuild_nest_start(&nb, CTA_COUNTERS_REPLY);
	nlbuild_be64(&nb, CTA_COUNTERS_BYTES, 2);
	nlbuild_nest_end(&nb);
	nlbuild_be32(&nb, CTA_USE, 1);
	nlbuild_be32(&nb, CTA_ID, 99);
	nlbuild_nest_start(&nb, CTA_SEQ_ADJ_ORIG);
	nlbuild_be32(&nb, CTA_SEQADJ_CORRECTION_POS, 1);
	nlbuild_nest_end(&nb);
	nlbuild_nest_start(&nb, CTA_SEQ_ADJ_REPLY);
	nlbuild_be32(&nb, CTA_SEQADJ_OFFSET_AFTER, 1);
	nlbuild_nest_end(&nb);
	nlbuild_be32(&nb, CTA_SECMARK, 5);
	nlbuild_be16(&nb, CTA_ZONE, 6);
	nlbuild_nest_start(&nb, CTA_SECCTX);
	nlbuild_str(&nb, CTA_SECCTX_NAME, "ctx");
	nlbuild_nest_end(&nb);
	nlbuild_nest_start(&nb, CTA_TIMESTAMP);
	nlbuild_be64(&nb, CTA_TIMESTAMP_START, 1);
	nlbuild_be64(&nb, CTA_TIMESTAMP_STOP, 2);
	nlbuild_nest_end(&nb);
	nlbuild_bytes(&nb, CTA_LABELS, labels, sizeof labels);
	nlbuild_nest_start(&nb, CTA_SYNPROXY);
	nlbuild_be32(&nb, CTA_SYNPROXY_ISN, 1);
	nlbuild_nest_end(&nb);
	nlbuild_nest_start(&nb, CTA_HELP);
	nlbuild_str(&nb, CTA_HELP_NAME, "h");
	nlbuild_bytes(&nb, CTA_HELP_INFO, "\1\2\3\4", 4);
	nlbuild_nest_end(&nb);
}

/* One decoder, many messages: nothing of one shows up in the next. */
START_TEST(test_reuse)
{
	struct event	ev;
	size_t		i;

	decode_build_full(1);
	ck_assert_int_eq(decode_nb(&ev), 0);
	for (i = 0; i < nitems(ct_all_attrs); i++)
		ck_assert_msg(nfct_attr_is_set(ev.ct, ct_all_attrs[i]) > 0,
		    "attribute %d not set by the full message",
		    ct_all_attrs[i]);
	ck_assert(ev.repl_icmp.set);
	ck_assert_ptr_nonnull(ev.helper_info);

	/* A bare message after it carries nothing over. */
	nlbuild_ct_new(&nb, AF_INET, true);
	ck_assert_int_eq(decode_nb(&ev), 0);
	for (i = 0; i < nitems(ct_all_attrs); i++)
		ck_assert_msg(nfct_attr_is_set(ev.ct, ct_all_attrs[i]) <= 0,
		    "attribute %d leaked into the next message",
		    ct_all_attrs[i]);
	ck_assert(!ev.repl_icmp.set);
	ck_assert_ptr_null(ev.helper_info);

	/* The same without the attributes that own memory (a plain copy). */
	decode_ct_base(true);
	nlbuild_be32(&nb, CTA_MARK, 5);
	nlbuild_be32(&nb, CTA_USE, 5);
	nlbuild_nest_start(&nb, CTA_TIMESTAMP);
	nlbuild_be64(&nb, CTA_TIMESTAMP_START, 1);
	nlbuild_nest_end(&nb);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_int_gt(nfct_attr_is_set(ev.ct, ATTR_MARK), 0);
	nlbuild_ct_delete(&nb, AF_INET);
	nlbuild_tuple(&nb, CTA_TUPLE_ORIG, AF_INET, &t_orig);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_MARK), 0);
	ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_USE), 0);
	ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_TIMESTAMP_START), 0);
	ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_REPL_IPV4_SRC), 0);

	/* Conntrack, expectation, conntrack: each sees only its own. */
	nlbuild_exp_new(&nb, AF_INET, true);
	nlbuild_tuple(&nb, CTA_EXPECT_MASTER, AF_INET, &t_orig);
	nlbuild_be32(&nb, CTA_EXPECT_ID, 8);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_ptr_null(ev.ct);
	ck_assert(ev.has_exp_id);
	decode_ct_base(false);
	ck_assert_int_eq(decode_nb(&ev), 0);
	ck_assert_ptr_null(ev.exp);
	ck_assert(!ev.has_exp_id);
	ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_SECCTX), 0);
}
END_TEST

/*
 * Many messages through one decoder: what the attributes that own memory
 * (labels, security context, helper info) allocate is given back.
 */
START_TEST(test_reuse_no_leak)
{
	struct event	ev;
	size_t		before, after;
	int		i;

	for (i = 0; i < 200; i++) {
		decode_build_full((uint32_t)i);
		ck_assert_int_eq(decode_msg(dec, nb.nlh, &ev), 0);
	}
	before = mallinfo2().uordblks;
	for (i = 0; i < 5000; i++) {
		if (i % 3 == 2)
			decode_ct_base(true);
		else
			decode_build_full((uint32_t)i);
		ck_assert_int_eq(decode_msg(dec, nb.nlh, &ev), 0);
		if (i % 3 != 2)
			ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_MARK),
			    (uint32_t)i);
	}
	after = mallinfo2().uordblks;
	/* 3333 leaked label sets alone would be well over 64 KiB. */
	ck_assert_msg(after < before + 16384, "heap grew from %zu to %zu",
	    before, after);
}
END_TEST

/* The suite for decode.c. */
Suite *
make_decode_suite(void)
{
	Suite	*s = suite_create("decode");
	TCase	*tc = tcase_create("decode");

	tcase_add_checked_fixture(tc, decode_setup, decode_teardown);
	tcase_add_loop_test(tc, test_kind, 0, nitems(kinds));
	tcase_add_test(tc, test_family);
	tcase_add_test(tc, test_not_conntrack);
	tcase_add_test(tc, test_short);
	tcase_add_test(tc, test_ct_attrs);
	tcase_add_test(tc, test_ct_attrs_v6_sctp_dccp);
	tcase_add_test(tc, test_reply_icmp);
	tcase_add_test(tc, test_helper_info);
	tcase_add_test(tc, test_exp);
	tcase_add_loop_test(tc, test_policy, 0, nitems(rules));
	tcase_add_test(tc, test_unknown_types);
	tcase_add_test(tc, test_bug_protoinfo_overflow);
	tcase_add_test(tc, test_bug_expnat_overflow);
	tcase_add_test(tc, test_bug_unaligned_tail);
	tcase_add_test(tc, test_bug_timestamp_event);
	tcase_add_test(tc, test_bug_duplicates);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_reuse);
	tcase_add_test(tc, test_reuse_no_leak);
	suite_add_tcase(s, tc);
	return (s);
}
