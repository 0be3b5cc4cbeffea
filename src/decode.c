/*
 * decode.c - turn one ctnetlink message into a struct event.
 *
 * Decoding is done by libnetfilter_conntrack (nfct_nlmsg_parse and
 * nfexp_nlmsg_parse).  Those functions trust the kernel: an attribute of
 * the wrong size makes them call abort() ("ABI breakage"), and a string
 * without its terminating NUL is read past its end.  Messages from the
 * kernel are well formed, but the decoder is also fed recorded corpora
 * and fuzz input, so decode_validate() first walks the whole attribute
 * tree against a policy at least as strict as libnetfilter_conntrack's
 * and rejects anything it would choke on.  Unknown attribute types are
 * accepted and ignored, as the library does, so newer kernels work.
 *
 * This file never touches a socket: it is unit tested without root.
 */
#include "config.h"

#include <sys/socket.h>

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "decode.h"

struct decoder {
	struct nf_conntrack	*ct;
	struct nf_conntrack	*blank;
	struct nf_expect	*exp;
};

/* What an attribute must look like. */
enum pol_type {
	P_ANY = 0,		/* not interpreted: any payload */
	P_U8,
	P_U16,
	P_U32,
	P_U64,
	P_EXACT,		/* binary of exactly len bytes */
	P_STR,			/* NUL-terminated, at most len bytes with NUL */
	P_WORDS,		/* 32-bit words, at most len bytes */
	P_NEST,
};

struct pol {
	unsigned char		 type;
	unsigned short		 len;
	const struct polset	*nest;
};

struct polset {
	unsigned int		 max;
	const struct pol	*p;
	bool			 closed;	/* unknown types are refused */
};

#define POLSET(name, arr) \
	static const struct polset name = { \
	    sizeof(arr) / sizeof(arr[0]) - 1, arr, false }

/*
 * A closed set: libnetfilter_conntrack 1.0.9 accepts attribute types
 * beyond the end of its own table in these nests (CTA_PROTOINFO up to
 * CTA_PROTOINFO_TCP_MAX into a table of CTA_PROTOINFO_MAX + 1 entries,
 * CTA_EXPECT_NAT up to CTA_MAX into one of CTA_EXPECT_NAT_MAX + 1) and
 * writes past its stack array: such types must never reach it.
 */
#define POLSET_CLOSED(name, arr) \
	static const struct polset name = { \
	    sizeof(arr) / sizeof(arr[0]) - 1, arr, true }

static const struct pol pol_ip[CTA_IP_MAX + 1] = {
	[CTA_IP_V4_SRC] = { P_U32, 0, NULL },
	[CTA_IP_V4_DST] = { P_U32, 0, NULL },
	[CTA_IP_V6_SRC] = { P_EXACT, 16, NULL },
	[CTA_IP_V6_DST] = { P_EXACT, 16, NULL },
};
POLSET(ps_ip, pol_ip);

static const struct pol pol_proto[CTA_PROTO_MAX + 1] = {
	[CTA_PROTO_NUM] = { P_U8, 0, NULL },
	[CTA_PROTO_SRC_PORT] = { P_U16, 0, NULL },
	[CTA_PROTO_DST_PORT] = { P_U16, 0, NULL },
	[CTA_PROTO_ICMP_ID] = { P_U16, 0, NULL },
	[CTA_PROTO_ICMP_TYPE] = { P_U8, 0, NULL },
	[CTA_PROTO_ICMP_CODE] = { P_U8, 0, NULL },
	[CTA_PROTO_ICMPV6_ID] = { P_U16, 0, NULL },
	[CTA_PROTO_ICMPV6_TYPE] = { P_U8, 0, NULL },
	[CTA_PROTO_ICMPV6_CODE] = { P_U8, 0, NULL },
};
POLSET(ps_proto, pol_proto);

static const struct pol pol_tuple[CTA_TUPLE_MAX + 1] = {
	[CTA_TUPLE_IP] = { P_NEST, 0, &ps_ip },
	[CTA_TUPLE_PROTO] = { P_NEST, 0, &ps_proto },
	[CTA_TUPLE_ZONE] = { P_U16, 0, NULL },
};
POLSET(ps_tuple, pol_tuple);

static const struct pol pol_tcp[CTA_PROTOINFO_TCP_MAX + 1] = {
	[CTA_PROTOINFO_TCP_STATE] = { P_U8, 0, NULL },
	[CTA_PROTOINFO_TCP_WSCALE_ORIGINAL] = { P_U8, 0, NULL },
	[CTA_PROTOINFO_TCP_WSCALE_REPLY] = { P_U8, 0, NULL },
	[CTA_PROTOINFO_TCP_FLAGS_ORIGINAL] = { P_EXACT, 2, NULL },
	[CTA_PROTOINFO_TCP_FLAGS_REPLY] = { P_EXACT, 2, NULL },
};
POLSET(ps_tcp, pol_tcp);

static const struct pol pol_dccp[CTA_PROTOINFO_DCCP_MAX + 1] = {
	[CTA_PROTOINFO_DCCP_STATE] = { P_U8, 0, NULL },
	[CTA_PROTOINFO_DCCP_ROLE] = { P_U8, 0, NULL },
	[CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ] = { P_U64, 0, NULL },
};
POLSET(ps_dccp, pol_dccp);

static const struct pol pol_sctp[CTA_PROTOINFO_SCTP_MAX + 1] = {
	[CTA_PROTOINFO_SCTP_STATE] = { P_U8, 0, NULL },
	[CTA_PROTOINFO_SCTP_VTAG_ORIGINAL] = { P_U32, 0, NULL },
	[CTA_PROTOINFO_SCTP_VTAG_REPLY] = { P_U32, 0, NULL },
};
POLSET(ps_sctp, pol_sctp);

static const struct pol pol_protoinfo[CTA_PROTOINFO_MAX + 1] = {
	[CTA_PROTOINFO_TCP] = { P_NEST, 0, &ps_tcp },
	[CTA_PROTOINFO_DCCP] = { P_NEST, 0, &ps_dccp },
	[CTA_PROTOINFO_SCTP] = { P_NEST, 0, &ps_sctp },
};
POLSET_CLOSED(ps_protoinfo, pol_protoinfo);

static const struct pol pol_counters[CTA_COUNTERS_MAX + 1] = {
	[CTA_COUNTERS_PACKETS] = { P_U64, 0, NULL },
	[CTA_COUNTERS_BYTES] = { P_U64, 0, NULL },
	[CTA_COUNTERS32_PACKETS] = { P_U32, 0, NULL },
	[CTA_COUNTERS32_BYTES] = { P_U32, 0, NULL },
};
POLSET(ps_counters, pol_counters);

static const struct pol pol_seqadj[CTA_SEQADJ_MAX + 1] = {
	[CTA_SEQADJ_CORRECTION_POS] = { P_U32, 0, NULL },
	[CTA_SEQADJ_OFFSET_BEFORE] = { P_U32, 0, NULL },
	[CTA_SEQADJ_OFFSET_AFTER] = { P_U32, 0, NULL },
};
POLSET(ps_seqadj, pol_seqadj);

static const struct pol pol_help[CTA_HELP_MAX + 1] = {
	[CTA_HELP_NAME] = { P_STR, 0, NULL },
};
POLSET(ps_help, pol_help);

static const struct pol pol_secctx[CTA_SECCTX_MAX + 1] = {
	[CTA_SECCTX_NAME] = { P_STR, 0, NULL },
};
POLSET(ps_secctx, pol_secctx);

static const struct pol pol_tstamp[CTA_TIMESTAMP_MAX + 1] = {
	[CTA_TIMESTAMP_START] = { P_U64, 0, NULL },
	[CTA_TIMESTAMP_STOP] = { P_U64, 0, NULL },
};
POLSET(ps_tstamp, pol_tstamp);

static const struct pol pol_synproxy[CTA_SYNPROXY_MAX + 1] = {
	[CTA_SYNPROXY_ISN] = { P_U32, 0, NULL },
	[CTA_SYNPROXY_ITS] = { P_U32, 0, NULL },
	[CTA_SYNPROXY_TSOFF] = { P_U32, 0, NULL },
};
POLSET(ps_synproxy, pol_synproxy);

/* The kernel's label area is 128 bits (NF_CT_LABELS_MAX_SIZE). */
#define DECODE_LABELS_MAX	16

/* Linux 6.14 added the time of the event; older headers lack it. */
#ifndef CTA_TIMESTAMP_EVENT
#define CTA_TIMESTAMP_EVENT	27
#endif

static const struct pol pol_ct[CTA_TIMESTAMP_EVENT + 1] = {
	[CTA_TUPLE_ORIG] = { P_NEST, 0, &ps_tuple },
	[CTA_TUPLE_REPLY] = { P_NEST, 0, &ps_tuple },
	[CTA_TUPLE_MASTER] = { P_NEST, 0, &ps_tuple },
	[CTA_STATUS] = { P_U32, 0, NULL },
	[CTA_PROTOINFO] = { P_NEST, 0, &ps_protoinfo },
	[CTA_HELP] = { P_NEST, 0, &ps_help },
	[CTA_TIMEOUT] = { P_U32, 0, NULL },
	[CTA_MARK] = { P_U32, 0, NULL },
	[CTA_COUNTERS_ORIG] = { P_NEST, 0, &ps_counters },
	[CTA_COUNTERS_REPLY] = { P_NEST, 0, &ps_counters },
	[CTA_USE] = { P_U32, 0, NULL },
	[CTA_ID] = { P_U32, 0, NULL },
	[CTA_SEQ_ADJ_ORIG] = { P_NEST, 0, &ps_seqadj },
	[CTA_SEQ_ADJ_REPLY] = { P_NEST, 0, &ps_seqadj },
	[CTA_SECMARK] = { P_U32, 0, NULL },
	[CTA_ZONE] = { P_U16, 0, NULL },
	[CTA_SECCTX] = { P_NEST, 0, &ps_secctx },
	[CTA_TIMESTAMP] = { P_NEST, 0, &ps_tstamp },
	[CTA_SYNPROXY] = { P_NEST, 0, &ps_synproxy },
	[CTA_LABELS] = { P_WORDS, DECODE_LABELS_MAX, NULL },
	[CTA_TIMESTAMP_EVENT] = { P_U64, 0, NULL },
};
POLSET(ps_ct, pol_ct);

static const struct pol pol_expnat[CTA_EXPECT_NAT_MAX + 1] = {
	[CTA_EXPECT_NAT_DIR] = { P_U32, 0, NULL },
	[CTA_EXPECT_NAT_TUPLE] = { P_NEST, 0, &ps_tuple },
};
POLSET_CLOSED(ps_expnat, pol_expnat);

/* libnetfilter_conntrack asserts the expectfn fits 24 bytes. */
#define DECODE_EXPECTFN_MAX	24

static const struct pol pol_exp[CTA_EXPECT_MAX + 1] = {
	[CTA_EXPECT_MASTER] = { P_NEST, 0, &ps_tuple },
	[CTA_EXPECT_TUPLE] = { P_NEST, 0, &ps_tuple },
	[CTA_EXPECT_MASK] = { P_NEST, 0, &ps_tuple },
	[CTA_EXPECT_TIMEOUT] = { P_U32, 0, NULL },
	[CTA_EXPECT_ID] = { P_U32, 0, NULL },
	[CTA_EXPECT_HELP_NAME] = { P_STR, 0, NULL },
	[CTA_EXPECT_ZONE] = { P_U16, 0, NULL },
	[CTA_EXPECT_FLAGS] = { P_U32, 0, NULL },
	[CTA_EXPECT_CLASS] = { P_U32, 0, NULL },
	[CTA_EXPECT_NAT] = { P_NEST, 0, &ps_expnat },
	[CTA_EXPECT_FN] = { P_STR, DECODE_EXPECTFN_MAX, NULL },
};
POLSET(ps_exp, pol_exp);

/* Check one attribute against its policy entry. */
static int
decode_check_attr(const struct nlattr *a, const struct pol *p)
{
	const char	*data = mnl_attr_get_payload(a);
	uint16_t	 len = mnl_attr_get_payload_len(a);

	switch (p->type) {
	case P_U8:
		return (len == 1 ? 0 : -EINVAL);
	case P_U16:
		return (len == 2 ? 0 : -EINVAL);
	case P_U32:
		return (len == 4 ? 0 : -EINVAL);
	case P_U64:
		return (len == 8 ? 0 : -EINVAL);
	case P_EXACT:
		return (len == p->len ? 0 : -EINVAL);
	case P_STR:
		if (len == 0 || memchr(data, '\0', len) == NULL)
			return (-EINVAL);
		if (p->len != 0 && len > p->len)
			return (-EINVAL);
		return (0);
	case P_WORDS:
		return (len % 4 == 0 && len <= p->len ? 0 : -EINVAL);
	case P_NEST:
		if (len != 0 && len < MNL_ATTR_HDRLEN)
			return (-EINVAL);
		return (0);
	default:
		return (0);
	}
}

/*
 * Walk a run of attributes, recursing into nested ones.  If top is not
 * NULL it gets, by type, the last attribute of this level (the one the
 * library keeps), so that nothing needs to walk the message again.
 */
static int
decode_check_attrs(const void *payload, size_t len, const struct polset *ps,
    const struct nlattr **top)
{
	const struct nlattr	*attr;	/* named for mnl_attr_for_each_payload */
	uint16_t		 type;
	int			 error;

	mnl_attr_for_each_payload(payload, len) {
		type = mnl_attr_get_type(attr);
		if (type > ps->max) {
			if (ps->closed)
				return (-EINVAL);
			continue;
		}
		if ((error = decode_check_attr(attr, &ps->p[type])) != 0)
			return (error);
		if (ps->p[type].type == P_NEST && ps->p[type].nest != NULL) {
			error = decode_check_attrs(mnl_attr_get_payload(attr),
			    mnl_attr_get_payload_len(attr), ps->p[type].nest,
			    NULL);
			if (error != 0)
				return (error);
		}
		if (top != NULL)
			top[type] = attr;
	}
	return (0);
}

/* Room for the top-level attributes of both kinds of message. */
#define DECODE_TOP	(CTA_TIMESTAMP_EVENT > CTA_EXPECT_MAX ? \
			    CTA_TIMESTAMP_EVENT + 1 : CTA_EXPECT_MAX + 1)

static int	decode_validate_top(const struct nlmsghdr *,
		    const struct nlattr *[DECODE_TOP]);

/*
 * Check that a message is a conntrack or expectation message that
 * libnetfilter_conntrack can parse safely.  Returns 0, -ENOMSG for a
 * message of another kind, -EINVAL for a malformed one.
 */
int
decode_validate(const struct nlmsghdr *nlh)
{
	return (decode_validate_top(nlh, NULL));
}

/* decode_validate(), keeping the top-level attributes in top. */
static int
decode_validate_top(const struct nlmsghdr *nlh,
    const struct nlattr *top[DECODE_TOP])
{
	const struct polset	*ps;
	const struct nfgenmsg	*nfg;
	size_t			 hlen;

	if (nlh->nlmsg_len < NLMSG_HDRLEN)
		return (-EINVAL);
	/*
	 * libmnl walks the attributes up to the aligned end of the message
	 * (mnl_nlmsg_get_payload_tail()), this walk up to nlmsg_len: with an
	 * unaligned length, an attribute that ends in the padding is one the
	 * library parses and this walk never checks (and a wrong-sized
	 * CTA_EXPECT_ID there made the library exit()).  The kernel's
	 * messages are always aligned.
	 */
	if (nlh->nlmsg_len % NLMSG_ALIGNTO != 0)
		return (-EINVAL);
	switch (NFNL_SUBSYS_ID(nlh->nlmsg_type)) {
	case NFNL_SUBSYS_CTNETLINK:
		ps = &ps_ct;
		break;
	case NFNL_SUBSYS_CTNETLINK_EXP:
		ps = &ps_exp;
		break;
	default:
		return (-ENOMSG);
	}
	switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
	case IPCTNL_MSG_CT_NEW:		/* == IPCTNL_MSG_EXP_NEW */
	case IPCTNL_MSG_CT_DELETE:	/* == IPCTNL_MSG_EXP_DELETE */
		break;
	default:
		return (-ENOMSG);
	}
	hlen = mnl_nlmsg_get_payload_len(nlh);
	if (hlen < sizeof(*nfg))
		return (-EINVAL);
	nfg = mnl_nlmsg_get_payload(nlh);
	if (nfg->nfgen_family != AF_INET && nfg->nfgen_family != AF_INET6)
		return (-EINVAL);
	if (top != NULL)
		memset(top, 0, DECODE_TOP * sizeof top[0]);
	return (decode_check_attrs((const char *)nfg + sizeof(*nfg),
	    hlen - sizeof(*nfg), ps, top));
}

/* Allocate a decoder and its reusable objects. */
struct decoder *
decoder_new(void)
{
	struct decoder	*d;

	if ((d = calloc(1, sizeof *d)) == NULL)
		return (NULL);
	d->ct = nfct_new();
	d->blank = nfct_new();
	d->exp = nfexp_new();
	if (d->ct == NULL || d->blank == NULL || d->exp == NULL) {
		decoder_free(d);
		errno = ENOMEM;
		return (NULL);
	}
	return (d);
}

/* Free a decoder; NULL is fine. */
void
decoder_free(struct decoder *d)
{
	if (d == NULL)
		return;
	if (d->ct != NULL)
		nfct_destroy(d->ct);
	if (d->blank != NULL)
		nfct_destroy(d->blank);
	if (d->exp != NULL)
		nfexp_destroy(d->exp);
	free(d);
}

/*
 * Make the reusable conntrack object empty again.  nfct_nlmsg_parse only
 * adds attributes, so the previous message's must go.  The common case is
 * a plain copy of a blank object; only when an attribute that owns memory
 * (security context, helper info, labels) was set is the object freed and
 * made anew, since the library would otherwise leak it.
 */
static int
decode_reset_ct(struct decoder *d)
{
	if (nfct_attr_is_set(d->ct, ATTR_SECCTX) > 0 ||
	    nfct_attr_is_set(d->ct, ATTR_HELPER_INFO) > 0 ||
	    nfct_attr_is_set(d->ct, ATTR_CONNLABELS) > 0 ||
	    nfct_attr_is_set(d->ct, ATTR_CONNLABELS_MASK) > 0) {
		nfct_destroy(d->ct);
		if ((d->ct = nfct_new()) == NULL)
			return (-ENOMEM);
		return (0);
	}
	nfct_copy(d->ct, d->blank, NFCT_CP_OVERRIDE);
	return (0);
}

/*
 * Fill a tuple's ICMP type, code and id from the message itself.  The
 * library keeps one set of ICMP attributes for both directions (the
 * reply's land where its getters do not reach, and mark the original's
 * as set), so both directions are read here instead.
 */
static void
decode_icmp(const struct nlattr *tuple, struct ev_icmp *icmp)
{
	const struct nlattr	*attr;	/* named for mnl_attr_for_each_nested */
	const struct nlattr	*proto = NULL;

	if (tuple == NULL)
		return;
	mnl_attr_for_each_nested(attr, tuple)
		if (mnl_attr_get_type(attr) == CTA_TUPLE_PROTO)
			proto = attr;
	if (proto == NULL)
		return;
	/* Validated: the last of each type counts, as in the library. */
	mnl_attr_for_each_nested(attr, proto) {
		switch (mnl_attr_get_type(attr)) {
		case CTA_PROTO_ICMP_TYPE:
		case CTA_PROTO_ICMPV6_TYPE:
			icmp->set = true;
			icmp->type = mnl_attr_get_u8(attr);
			break;
		case CTA_PROTO_ICMP_CODE:
		case CTA_PROTO_ICMPV6_CODE:
			icmp->has_code = true;
			icmp->code = mnl_attr_get_u8(attr);
			break;
		case CTA_PROTO_ICMP_ID:
		case CTA_PROTO_ICMPV6_ID:
			icmp->has_id = true;
			icmp->id = mnl_attr_get_u16(attr);
			break;
		}
	}
	if (!icmp->set)
		icmp->has_code = icmp->has_id = false;
}

/* Point ev at the helper's private data, whose length the library hides. */
static void
decode_helper_info(const struct nlattr *help, struct event *ev)
{
	const struct nlattr	*attr;	/* named for mnl_attr_for_each_nested */

	if (help == NULL)
		return;
	mnl_attr_for_each_nested(attr, help) {
		if (mnl_attr_get_type(attr) != CTA_HELP_INFO)
			continue;
		ev->helper_info = mnl_attr_get_payload(attr);
		ev->helper_info_len = mnl_attr_get_payload_len(attr);
	}
}

/*
 * Decode one message into ev.  ev->ct or ev->exp point into the decoder
 * and stay valid until the next call.  Returns 0, -ENOMSG when the
 * message is not a conntrack or expectation message, -EINVAL when it is
 * malformed.  The caller sets ev->time and, for dumps, ev->kind.
 */
int
decode_msg(struct decoder *d, const struct nlmsghdr *nlh, struct event *ev)
{
	const struct nlattr	*top[DECODE_TOP];
	const struct nfgenmsg	*nfg;
	int			 error, is_new;

	if ((error = decode_validate_top(nlh, top)) != 0)
		return (error);
	nfg = mnl_nlmsg_get_payload(nlh);

	memset(ev, 0, sizeof *ev);
	ev->family = nfg->nfgen_family;
	is_new = NFNL_MSG_TYPE(nlh->nlmsg_type) == IPCTNL_MSG_CT_NEW;
	if (!is_new)
		ev->kind = EV_DESTROY;
	else if ((nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)) != 0)
		ev->kind = EV_NEW;
	else
		ev->kind = EV_UPDATE;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_CTNETLINK) {
		if ((error = decode_reset_ct(d)) != 0)
			return (error);
		if (nfct_nlmsg_parse(nlh, d->ct) < 0)
			return (-EINVAL);
		ev->type = EV_TYPE_CT;
		ev->ct = d->ct;
		decode_icmp(top[CTA_TUPLE_ORIG], &ev->orig_icmp);
		decode_icmp(top[CTA_TUPLE_REPLY], &ev->repl_icmp);
		decode_helper_info(top[CTA_HELP], ev);
		if (top[CTA_TIMESTAMP_EVENT] != NULL) {
			/* Not reported by libnetfilter_conntrack 1.0.9. */
			ev->has_event_time = true;
			ev->event_time = be64toh(mnl_attr_get_u64(
			    top[CTA_TIMESTAMP_EVENT]));
		}
	} else {
		/* Expectations are rare: a fresh object costs nothing. */
		if (d->exp != NULL)
			nfexp_destroy(d->exp);
		if ((d->exp = nfexp_new()) == NULL)
			return (-ENOMEM);
		if (nfexp_nlmsg_parse(nlh, d->exp) < 0)
			return (-EINVAL);
		ev->type = EV_TYPE_EXPECT;
		ev->exp = d->exp;
		if (top[CTA_EXPECT_ID] != NULL) {
			/* CTA_EXPECT_ID, which the library does not report. */
			ev->has_exp_id = true;
			ev->exp_id = ntohl(mnl_attr_get_u32(top[CTA_EXPECT_ID]));
		}
	}
	return (0);
}
