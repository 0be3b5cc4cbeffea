/*
 * nlbuild.c - ctnetlink messages for the unit tests, built with libmnl.
 *
 * A message for a conntrack event with an original tuple:
 *
 *	struct nlbuild		 b;
 *	struct nlbuild_tuple	 t = { "10.0.0.1", "10.0.0.2", IPPROTO_TCP,
 *				    true, 40000, 80 };
 *
 *	nlbuild_ct_new(&b, AF_INET, true);
 *	nlbuild_tuple(&b, CTA_TUPLE_ORIG, AF_INET, &t);
 *	nlbuild_be32(&b, CTA_TIMEOUT, 120);
 *	decode_msg(dec, b.nlh, &ev);
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "nlbuild.h"

/* Abort the test when a fixture would not fit: a bug in the test. */
static void
nlbuild_room(struct nlbuild *b, size_t len)
{
	if (b->nlh == NULL ||
	    b->nlh->nlmsg_len + MNL_ALIGN(len) + MNL_ATTR_HDRLEN >
	    sizeof b->u.buf)
		abort();
}

/*
 * Start a message: netlink header with the subsystem and message type,
 * then the nfgenmsg with the family.
 */
struct nlmsghdr *
nlbuild_msg(struct nlbuild *b, uint8_t subsys, uint8_t type, uint16_t flags,
    uint8_t family)
{
	struct nfgenmsg	*nfg;

	memset(b->u.buf, 0, sizeof b->u.buf);
	b->depth = 0;
	b->nlh = mnl_nlmsg_put_header(b->u.buf);
	b->nlh->nlmsg_type = (subsys << 8) | type;
	b->nlh->nlmsg_flags = flags;
	b->nlh->nlmsg_seq = 0;
	b->nlh->nlmsg_pid = 0;
	nfg = mnl_nlmsg_put_extra_header(b->nlh, sizeof *nfg);
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return (b->nlh);
}

/* Start a conntrack NEW: "new" with create set, "update" without. */
struct nlmsghdr *
nlbuild_ct_new(struct nlbuild *b, uint8_t family, bool create)
{
	return (nlbuild_msg(b, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW,
	    create ? NLM_F_CREATE | NLM_F_EXCL : 0, family));
}

/* Start a conntrack DELETE ("destroy"). */
struct nlmsghdr *
nlbuild_ct_delete(struct nlbuild *b, uint8_t family)
{
	return (nlbuild_msg(b, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE, 0,
	    family));
}

/* Start an expectation NEW. */
struct nlmsghdr *
nlbuild_exp_new(struct nlbuild *b, uint8_t family, bool create)
{
	return (nlbuild_msg(b, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_NEW,
	    create ? NLM_F_CREATE | NLM_F_EXCL : 0, family));
}

/* Start an expectation DELETE. */
struct nlmsghdr *
nlbuild_exp_delete(struct nlbuild *b, uint8_t family)
{
	return (nlbuild_msg(b, NFNL_SUBSYS_CTNETLINK_EXP,
	    IPCTNL_MSG_EXP_DELETE, 0, family));
}

/* Put a one-byte attribute. */
void
nlbuild_u8(struct nlbuild *b, uint16_t type, uint8_t v)
{
	nlbuild_room(b, sizeof v);
	mnl_attr_put_u8(b->nlh, type, v);
}

/* Put a 16-bit attribute, big-endian. */
void
nlbuild_be16(struct nlbuild *b, uint16_t type, uint16_t v)
{
	nlbuild_room(b, sizeof v);
	mnl_attr_put_u16(b->nlh, type, htons(v));
}

/* Put a 32-bit attribute, big-endian. */
void
nlbuild_be32(struct nlbuild *b, uint16_t type, uint32_t v)
{
	nlbuild_room(b, sizeof v);
	mnl_attr_put_u32(b->nlh, type, htonl(v));
}

/* Put a 64-bit attribute, big-endian. */
void
nlbuild_be64(struct nlbuild *b, uint16_t type, uint64_t v)
{
	nlbuild_room(b, sizeof v);
	mnl_attr_put_u64(b->nlh, type, htobe64(v));
}

/* Put an attribute with exactly these bytes as its payload. */
void
nlbuild_bytes(struct nlbuild *b, uint16_t type, const void *p, size_t len)
{
	nlbuild_room(b, len);
	mnl_attr_put(b->nlh, type, len, p);
}

/* Put a string attribute with its terminating NUL. */
void
nlbuild_str(struct nlbuild *b, uint16_t type, const char *s)
{
	nlbuild_bytes(b, type, s, strlen(s) + 1);
}

/* Put an attribute of len bytes, each c: for payloads of a wrong size. */
void
nlbuild_fill(struct nlbuild *b, uint16_t type, int c, size_t len)
{
	unsigned char	*p;

	if ((p = malloc(len + 1)) == NULL)
		abort();
	memset(p, c, len);
	nlbuild_bytes(b, type, p, len);
	free(p);
}

/* Put an address given as text: 4 bytes for AF_INET, 16 for AF_INET6. */
void
nlbuild_addr(struct nlbuild *b, uint16_t type, uint8_t family,
    const char *text)
{
	unsigned char	a[16];

	if (inet_pton(family, text, a) != 1)
		abort();
	nlbuild_bytes(b, type, a, family == AF_INET ? 4 : 16);
}

/* Open a nested attribute. */
void
nlbuild_nest_start(struct nlbuild *b, uint16_t type)
{
	if (b->depth >= NLBUILD_MAXNEST)
		abort();
	nlbuild_room(b, 0);
	b->nest[b->depth++] = mnl_attr_nest_start(b->nlh, type);
}

/* Close the innermost nested attribute. */
void
nlbuild_nest_end(struct nlbuild *b)
{
	if (b->depth == 0)
		abort();
	mnl_attr_nest_end(b->nlh, b->nest[--b->depth]);
}

/*
 * Append bytes that are no attribute (a header claiming more than
 * follows, garbage), unaligned; the message length grows by exactly len.
 */
void
nlbuild_raw(struct nlbuild *b, const void *p, size_t len)
{
	nlbuild_room(b, len);
	memcpy((char *)b->nlh + b->nlh->nlmsg_len, p, len);
	b->nlh->nlmsg_len += len;
}

/*
 * Shorten the message by len bytes without fixing the attributes, so the
 * last ones (and the nests around them) claim more than the message has.
 */
void
nlbuild_cut(struct nlbuild *b, size_t len)
{
	if (len > b->nlh->nlmsg_len)
		abort();
	b->nlh->nlmsg_len -= len;
}

/* Put a whole tuple nest: CTA_TUPLE_IP, CTA_TUPLE_PROTO, CTA_TUPLE_ZONE. */
void
nlbuild_tuple(struct nlbuild *b, uint16_t type, uint8_t family,
    const struct nlbuild_tuple *t)
{
	bool	v6 = family == AF_INET6;

	nlbuild_nest_start(b, type);
	nlbuild_nest_start(b, CTA_TUPLE_IP);
	if (t->src != NULL)
		nlbuild_addr(b, v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, family,
		    t->src);
	if (t->dst != NULL)
		nlbuild_addr(b, v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, family,
		    t->dst);
	nlbuild_nest_end(b);
	nlbuild_nest_start(b, CTA_TUPLE_PROTO);
	if (t->proto >= 0)
		nlbuild_u8(b, CTA_PROTO_NUM, (uint8_t)t->proto);
	if (t->ports) {
		nlbuild_be16(b, CTA_PROTO_SRC_PORT, t->sport);
		nlbuild_be16(b, CTA_PROTO_DST_PORT, t->dport);
	}
	if (t->icmp) {
		nlbuild_be16(b, v6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID,
		    t->icmp_id);
		nlbuild_u8(b, v6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE,
		    t->icmp_type);
		nlbuild_u8(b, v6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE,
		    t->icmp_code);
	}
	nlbuild_nest_end(b);
	if (t->zone)
		nlbuild_be16(b, CTA_TUPLE_ZONE, t->zone_id);
	nlbuild_nest_end(b);
}

/* Return the message's length. */
size_t
nlbuild_len(const struct nlbuild *b)
{
	return (b->nlh->nlmsg_len);
}
