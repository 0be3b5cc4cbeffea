/*
 * req.c - parse the tuples of requests and build ctnetlink messages.
 *
 * A tuple in a request looks like an "orig" object of the event schema:
 *
 *   {"family":"ipv4","proto":"tcp","src":"192.168.50.40",
 *    "dst":"192.168.50.50","sport":58198,"dport":21}
 *   {"proto":"icmp","src":"10.0.0.1","dst":"10.0.0.2",
 *    "icmp_type":8,"icmp_code":0,"icmp_id":1234}
 *
 * "family" may be left out: the addresses tell it, and a family that
 * disagrees with them is an error.  Every error names the member and what
 * is wrong with it.  The builders write one request into a caller buffer
 * of REQ_BUFLEN bytes and return its length; the sequence number and port
 * id are filled in when it is sent.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "names.h"
#include "req.h"

/* Record an error about member path; returns -1. */
static int __attribute__((format(printf, 4, 5)))
req_err(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
	char	msg[192];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", path, msg);
	return (-1);
}

/* Read an optional unsigned integer member within [0, max]. */
static int
req_uint(const json_t *obj, const char *path, const char *name,
    unsigned long long max, bool *has, unsigned long long *out, char *err,
    size_t errlen)
{
	json_t	*v = json_object_get(obj, name);

	*has = false;
	*out = 0;
	if (v == NULL)
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (unsigned long long)json_integer_value(v) > max) {
		/* "zone: must be ..." at the top, "tuple: sport must be ..." */
		if (strcmp(path, name) == 0)
			return (req_err(err, errlen, path, "must be an integer "
			    "from 0 to %llu", max));
		return (req_err(err, errlen, path, "%s must be an integer "
		    "from 0 to %llu", name, max));
	}
	*has = true;
	*out = (unsigned long long)json_integer_value(v);
	return (0);
}

/* Parse an address member; returns its family or -1. */
static int
req_addr(const json_t *obj, const char *path, const char *name,
    uint8_t out[16], char *err, size_t errlen)
{
	json_t		*v = json_object_get(obj, name);
	const char	*s;

	if (v == NULL)
		return (req_err(err, errlen, path, "missing member '%s'",
		    name));
	if (!json_is_string(v))
		return (req_err(err, errlen, path, "%s must be an address "
		    "string", name));
	s = json_string_value(v);
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1)
		return (AF_INET);
	if (inet_pton(AF_INET6, s, out) == 1)
		return (AF_INET6);
	return (req_err(err, errlen, path, "%s: invalid address '%.64s'",
	    name, s));
}

/*
 * Parse a tuple object; path names it in errors ("tuple", "reply", ...).
 * Returns 0 or -1 with a message in err.
 */
int
req_parse_tuple(const json_t *obj, const char *path, struct req_tuple *t,
    char *err, size_t errlen)
{
	static const char *const known[] = { "family", "proto", "src", "dst",
	    "sport", "dport", "icmp_type", "icmp_code", "icmp_id", NULL };
	unsigned long long	 n;
	const char		*name;
	json_t			*v;
	bool			 has, has_s, has_d;
	int			 f1, f2, i, proto;

	memset(t, 0, sizeof *t);
	if (!json_is_object(obj))
		return (req_err(err, errlen, path, "must be an object"));
	json_object_foreach((json_t *)obj, name, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(known[i], name) == 0)
				break;
		if (known[i] == NULL)
			return (req_err(err, errlen, path, "unknown member "
			    "'%.64s'", name));
	}
	if ((f1 = req_addr(obj, path, "src", t->src, err, errlen)) < 0 ||
	    (f2 = req_addr(obj, path, "dst", t->dst, err, errlen)) < 0)
		return (-1);
	if (f1 != f2)
		return (req_err(err, errlen, path, "src and dst are of "
		    "different families"));
	t->family = (uint8_t)f1;
	if ((v = json_object_get(obj, "family")) != NULL) {
		if (!json_is_string(v) ||
		    names_family_parse(json_string_value(v)) < 0)
			return (req_err(err, errlen, path, "family must be "
			    "\"ipv4\" or \"ipv6\""));
		if (names_family_parse(json_string_value(v)) != f1)
			return (req_err(err, errlen, path, "family %s does "
			    "not match the addresses", json_string_value(v)));
	}
	if ((v = json_object_get(obj, "proto")) == NULL)
		return (req_err(err, errlen, path, "missing member 'proto'"));
	if (json_is_string(v))
		proto = names_proto_parse(json_string_value(v));
	else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= 255)
		proto = (int)json_integer_value(v);
	else
		proto = -1;
	if (proto < 0)
		return (req_err(err, errlen, path, "proto must be a protocol "
		    "name or a number from 0 to 255"));
	t->proto = (uint8_t)proto;
	if ((proto == IPPROTO_ICMP && f1 != AF_INET) ||
	    (proto == IPPROTO_ICMPV6 && f1 != AF_INET6))
		return (req_err(err, errlen, path, "proto %s does not match "
		    "the address family", names_proto(t->proto,
		    (char [NAMES_NUMLEN]){ 0 })));

	if (req_uint(obj, path, "sport", 65535, &has_s, &n, err, errlen))
		return (-1);
	t->sport = (uint16_t)n;
	if (req_uint(obj, path, "dport", 65535, &has_d, &n, err, errlen))
		return (-1);
	t->dport = (uint16_t)n;
	if (names_proto_has_ports(t->proto)) {
		if (!has_s || !has_d)
			return (req_err(err, errlen, path, "sport and dport "
			    "are needed for %s", names_proto(t->proto,
			    (char [NAMES_NUMLEN]){ 0 })));
		t->has_ports = true;
	} else if (has_s || has_d)
		return (req_err(err, errlen, path, "ports do not apply to "
		    "this protocol"));

	if (names_proto_is_icmp(t->proto)) {
		t->has_icmp = true;
		if (req_uint(obj, path, "icmp_type", 255, &has, &n, err,
		    errlen))
			return (-1);
		if (!has)
			return (req_err(err, errlen, path, "missing member "
			    "'icmp_type'"));
		t->icmp_type = (uint8_t)n;
		if (req_uint(obj, path, "icmp_code", 255, &has, &n, err,
		    errlen))
			return (-1);
		t->icmp_code = (uint8_t)n;
		if (req_uint(obj, path, "icmp_id", 65535, &has, &n, err,
		    errlen))
			return (-1);
		t->icmp_id = (uint16_t)n;
	} else if (json_object_get(obj, "icmp_type") != NULL ||
	    json_object_get(obj, "icmp_code") != NULL ||
	    json_object_get(obj, "icmp_id") != NULL)
		return (req_err(err, errlen, path, "ICMP fields do not apply "
		    "to this protocol"));
	return (0);
}

/* Fill inv with the tuple of the other direction (no NAT). */
void
req_invert(const struct req_tuple *t, struct req_tuple *inv)
{
	*inv = *t;
	memcpy(inv->src, t->dst, sizeof inv->src);
	memcpy(inv->dst, t->src, sizeof inv->dst);
	inv->sport = t->dport;
	inv->dport = t->sport;
	if (t->has_icmp) {
		/* Echo request/reply and their ICMPv6 counterparts. */
		switch (t->icmp_type) {
		case 8:
			inv->icmp_type = t->proto == IPPROTO_ICMP ? 0 : 8;
			break;
		case 0:
			inv->icmp_type = t->proto == IPPROTO_ICMP ? 8 : 0;
			break;
		case 128:
			inv->icmp_type = 129;
			break;
		case 129:
			inv->icmp_type = 128;
			break;
		}
	}
}

/*
 * Fill t from the original tuple of a conntrack object (or of the tuple
 * objects inside an expectation).  Returns -1 if it has no full tuple.
 */
int
req_tuple_from_ct(const struct nf_conntrack *ct, uint8_t family,
    struct req_tuple *t)
{
	int	a4s = ATTR_ORIG_IPV4_SRC, a4d = ATTR_ORIG_IPV4_DST;
	int	a6s = ATTR_ORIG_IPV6_SRC, a6d = ATTR_ORIG_IPV6_DST;

	memset(t, 0, sizeof *t);
	t->family = family;
	if (family == AF_INET && nfct_attr_is_set(ct, a4s) > 0 &&
	    nfct_attr_is_set(ct, a4d) > 0) {
		memcpy(t->src, nfct_get_attr(ct, a4s), 4);
		memcpy(t->dst, nfct_get_attr(ct, a4d), 4);
	} else if (family == AF_INET6 && nfct_attr_is_set(ct, a6s) > 0 &&
	    nfct_attr_is_set(ct, a6d) > 0) {
		memcpy(t->src, nfct_get_attr(ct, a6s), 16);
		memcpy(t->dst, nfct_get_attr(ct, a6d), 16);
	} else
		return (-1);
	if (nfct_attr_is_set(ct, ATTR_ORIG_L4PROTO) <= 0)
		return (-1);
	t->proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
	if (nfct_attr_is_set(ct, ATTR_ORIG_PORT_SRC) > 0 &&
	    nfct_attr_is_set(ct, ATTR_ORIG_PORT_DST) > 0) {
		t->has_ports = true;
		t->sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
		t->dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
	}
	if (names_proto_is_icmp(t->proto) &&
	    nfct_attr_is_set(ct, ATTR_ICMP_TYPE) > 0) {
		t->has_icmp = true;
		t->icmp_type = nfct_get_attr_u8(ct, ATTR_ICMP_TYPE);
		if (nfct_attr_is_set(ct, ATTR_ICMP_CODE) > 0)
			t->icmp_code = nfct_get_attr_u8(ct, ATTR_ICMP_CODE);
		if (nfct_attr_is_set(ct, ATTR_ICMP_ID) > 0)
			t->icmp_id = ntohs(nfct_get_attr_u16(ct,
			    ATTR_ICMP_ID));
	}
	return (0);
}

/* Parse a label list [bit, ...] (bits 0-127) into a bit set. */
int
req_parse_labels(const json_t *v, uint8_t bits[REQ_LABELS], char *err,
    size_t errlen)
{
	json_t		*e;
	size_t		 i;
	json_int_t	 b;
	uint32_t	 w;

	memset(bits, 0, REQ_LABELS);
	if (!json_is_array(v))
		return (req_err(err, errlen, "labels", "must be a list of "
		    "bit numbers"));
	json_array_foreach(v, i, e) {
		if (!json_is_integer(e) || (b = json_integer_value(e)) < 0 ||
		    b >= REQ_LABELS * 8)
			return (req_err(err, errlen, "labels", "bit numbers "
			    "must be integers from 0 to %d",
			    REQ_LABELS * 8 - 1));
		/*
		 * The kernel's label words are host-order u32s; bits need
		 * not be aligned for one (it is a member of struct req_ct).
		 */
		memcpy(&w, bits + b / 32 * 4, sizeof w);
		w |= 1U << (b % 32);
		memcpy(bits + b / 32 * 4, &w, sizeof w);
	}
	return (0);
}

/* Read an optional u32 member into *out, setting *has. */
static int
req_u32(const json_t *obj, const char *name, bool *has, uint32_t *out,
    char *err, size_t errlen)
{
	unsigned long long	n;

	if (req_uint(obj, name, name, UINT32_MAX, has, &n, err, errlen))
		return (-1);
	if (*has)
		*out = (uint32_t)n;
	return (0);
}

/*
 * Parse the conntrack part of a request: "tuple", "dir",
 * "zone", "ct_id", and, when change is set, "reply", "mark", "labels",
 * "timeout", "status", "state".
 */
int
req_parse_ct(const json_t *obj, struct req_ct *r, bool change, char *err,
    size_t errlen)
{
	unsigned long long	 n;
	const char		*s;
	json_t			*v;
	int			 bit, st;
	size_t			 i;

	memset(r, 0, sizeof *r);
	if ((v = json_object_get(obj, "tuple")) == NULL)
		return (req_err(err, errlen, "tuple", "missing"));
	if (req_parse_tuple(v, "tuple", &r->orig, err, errlen) == -1)
		return (-1);
	if ((v = json_object_get(obj, "dir")) != NULL) {
		if (!json_is_string(v) ||
		    (strcmp(json_string_value(v), "orig") != 0 &&
		    strcmp(json_string_value(v), "reply") != 0))
			return (req_err(err, errlen, "dir", "must be \"orig\" "
			    "or \"reply\""));
		r->dir = strcmp(json_string_value(v), "reply") == 0 ?
		    REQ_REPLY : REQ_ORIG;
	}
	if (req_uint(obj, "zone", "zone", 65535, &r->has_zone, &n, err,
	    errlen))
		return (-1);
	r->zone = (uint16_t)n;
	if (req_u32(obj, "ct_id", &r->has_id, &r->id, err, errlen))
		return (-1);
	if (!change)
		return (0);
	if ((v = json_object_get(obj, "reply")) != NULL) {
		if (req_parse_tuple(v, "reply", &r->reply, err, errlen) == -1)
			return (-1);
		if (r->reply.family != r->orig.family)
			return (req_err(err, errlen, "reply", "family differs "
			    "from the tuple's"));
		r->has_reply = true;
	}
	if (req_u32(obj, "mark", &r->has_mark, &r->mark, err, errlen) ||
	    req_u32(obj, "timeout", &r->has_timeout, &r->timeout, err,
	    errlen))
		return (-1);
	if ((v = json_object_get(obj, "labels")) != NULL) {
		if (req_parse_labels(v, r->labels, err, errlen) == -1)
			return (-1);
		r->has_labels = true;
	}
	if ((v = json_object_get(obj, "status")) != NULL) {
		json_t	*e;

		if (!json_is_array(v))
			return (req_err(err, errlen, "status", "must be a list "
			    "of flag names"));
		json_array_foreach(v, i, e) {
			if (!json_is_string(e) || (bit =
			    names_status_parse(json_string_value(e))) < 0)
				return (req_err(err, errlen, "status",
				    "unknown flag"));
			r->status |= 1U << bit;
		}
		r->has_status = true;
	}
	if ((v = json_object_get(obj, "state")) != NULL) {
		if (!json_is_string(v))
			return (req_err(err, errlen, "state", "must be a state "
			    "name"));
		s = json_string_value(v);
		if (r->orig.proto != IPPROTO_TCP)
			return (req_err(err, errlen, "state", "can only be set "
			    "for tcp"));
		if ((st = names_state_parse(r->orig.proto, s)) < 0)
			return (req_err(err, errlen, "state", "unknown state "
			    "'%.32s' for this protocol", s));
		r->state = (uint8_t)st;
		r->has_state = true;
	}
	return (0);
}

/* Parse an expectation: "tuple", and for create "master", "mask", ... */
int
req_parse_exp(const json_t *obj, struct req_exp *r, bool create, char *err,
    size_t errlen)
{
	unsigned long long	 n;
	json_t			*v;
	bool			 has;
	size_t			 i;
	int			 bit;

	memset(r, 0, sizeof *r);
	if ((v = json_object_get(obj, "tuple")) == NULL)
		return (req_err(err, errlen, "tuple", "missing"));
	if (req_parse_tuple(v, "tuple", &r->tuple, err, errlen) == -1)
		return (-1);
	if (req_uint(obj, "zone", "zone", 65535, &r->has_zone, &n, err,
	    errlen))
		return (-1);
	r->zone = (uint16_t)n;
	if (req_u32(obj, "exp_id", &r->has_id, &r->id, err, errlen))
		return (-1);
	if (!create)
		return (0);
	if ((v = json_object_get(obj, "master")) == NULL)
		return (req_err(err, errlen, "master", "missing"));
	if (req_parse_tuple(v, "master", &r->master, err, errlen) == -1)
		return (-1);
	r->has_master = true;
	if ((v = json_object_get(obj, "mask")) != NULL) {
		if (req_parse_tuple(v, "mask", &r->mask, err, errlen) == -1)
			return (-1);
	} else {
		/*
		 * By default: both addresses and the destination port must
		 * match, any source port will do (as helpers expect data
		 * connections), and ICMP fields must match.
		 */
		r->mask = r->tuple;
		memset(r->mask.src, 0xff, 16);
		memset(r->mask.dst, 0xff, 16);
		r->mask.sport = 0;
		r->mask.dport = 0xffff;
		r->mask.icmp_type = r->mask.icmp_code = 0xff;
		r->mask.icmp_id = 0xffff;
	}
	r->has_mask = true;
	if (r->master.family != r->tuple.family ||
	    r->mask.family != r->tuple.family)
		return (req_err(err, errlen, "master", "family differs from "
		    "the tuple's"));
	r->timeout = 60;
	if (req_u32(obj, "timeout", &has, &r->timeout, err, errlen) ||
	    req_u32(obj, "class", &has, &r->class, err, errlen))
		return (-1);
	if ((v = json_object_get(obj, "helper")) != NULL) {
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) >= sizeof r->helper)
			return (req_err(err, errlen, "helper", "must be a "
			    "helper name of at most %zu characters",
			    sizeof r->helper - 1));
		strcpy(r->helper, json_string_value(v));
	}
	if ((v = json_object_get(obj, "flags")) != NULL) {
		json_t	*e;

		if (!json_is_array(v))
			return (req_err(err, errlen, "flags", "must be a list "
			    "of flag names"));
		json_array_foreach(v, i, e) {
			for (bit = 0; names_exp_flag(bit) != NULL; bit++)
				if (json_is_string(e) && strcmp(json_string_value(e),
				    names_exp_flag(bit)) == 0)
					break;
			if (names_exp_flag(bit) == NULL)
				return (req_err(err, errlen, "flags",
				    "unknown flag"));
			r->flags |= 1U << bit;
		}
	}
	return (0);
}

/* Start a ctnetlink message of a subsystem and type in buf. */
static struct nlmsghdr *
req_start(char *buf, int subsys, int type, uint16_t flags, uint8_t family)
{
	struct nlmsghdr	*nlh;
	struct nfgenmsg	*nfg;

	memset(buf, 0, REQ_BUFLEN);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (subsys << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	return (nlh);
}

/* Put a tuple as a nested attribute of the given type. */
static void
req_put_tuple(struct nlmsghdr *nlh, uint16_t type, const struct req_tuple *t)
{
	struct nlattr	*tn, *n;
	bool		 v6 = t->family == AF_INET6;

	tn = mnl_attr_nest_start(nlh, type);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	if (v6) {
		mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, t->src);
		mnl_attr_put(nlh, CTA_IP_V6_DST, 16, t->dst);
	} else {
		mnl_attr_put(nlh, CTA_IP_V4_SRC, 4, t->src);
		mnl_attr_put(nlh, CTA_IP_V4_DST, 4, t->dst);
	}
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, t->proto);
	if (t->has_ports) {
		mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t->dport));
	}
	if (t->has_icmp) {
		mnl_attr_put_u16(nlh, v6 ? CTA_PROTO_ICMPV6_ID :
		    CTA_PROTO_ICMP_ID, htons(t->icmp_id));
		mnl_attr_put_u8(nlh, v6 ? CTA_PROTO_ICMPV6_TYPE :
		    CTA_PROTO_ICMP_TYPE, t->icmp_type);
		mnl_attr_put_u8(nlh, v6 ? CTA_PROTO_ICMPV6_CODE :
		    CTA_PROTO_ICMP_CODE, t->icmp_code);
	}
	mnl_attr_nest_end(nlh, n);
	mnl_attr_nest_end(nlh, tn);
}

/* Put the tuple that names a conntrack, its zone and its id. */
static void
req_put_ct_key(struct nlmsghdr *nlh, const struct req_ct *r)
{
	req_put_tuple(nlh, r->dir == REQ_REPLY ? CTA_TUPLE_REPLY :
	    CTA_TUPLE_ORIG, &r->orig);
	if (r->has_zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, htons(r->zone));
	if (r->has_id)
		mnl_attr_put_u32(nlh, CTA_ID, htonl(r->id));
}

/* Build a GET of one conntrack by tuple. */
size_t
req_ct_get(char *buf, const struct req_ct *r)
{
	struct nlmsghdr	*nlh;

	nlh = req_start(buf, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET, 0,
	    r->orig.family);
	req_put_ct_key(nlh, r);
	return (nlh->nlmsg_len);
}

/* Build a DELETE of one conntrack by tuple (and id, if given). */
size_t
req_ct_delete(char *buf, const struct req_ct *r)
{
	struct nlmsghdr	*nlh;

	nlh = req_start(buf, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE, 0,
	    r->orig.family);
	req_put_ct_key(nlh, r);
	return (nlh->nlmsg_len);
}

/* Put the attributes a change sets: mark, labels, timeout, status. */
static void
req_put_changes(struct nlmsghdr *nlh, const struct req_ct *r)
{
	static const uint8_t	ones[REQ_LABELS] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	struct nlattr		*n, *t;

	if (r->has_timeout)
		mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(r->timeout));
	if (r->has_mark)
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(r->mark));
	if (r->has_status)
		mnl_attr_put_u32(nlh, CTA_STATUS, htonl(r->status));
	if (r->has_labels) {
		mnl_attr_put(nlh, CTA_LABELS, REQ_LABELS, r->labels);
		mnl_attr_put(nlh, CTA_LABELS_MASK, REQ_LABELS, ones);
	}
	if (r->has_state) {
		n = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
		t = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
		mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, r->state);
		mnl_attr_nest_end(nlh, t);
		mnl_attr_nest_end(nlh, n);
	}
}

/* Build an update (mark, labels) of an existing conntrack. */
size_t
req_ct_update(char *buf, const struct req_ct *r)
{
	struct nlmsghdr	*nlh;

	nlh = req_start(buf, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW, 0,
	    r->orig.family);
	req_put_ct_key(nlh, r);
	req_put_changes(nlh, r);
	return (nlh->nlmsg_len);
}

/* Build the creation of a conntrack (reply tuple inverted if absent). */
size_t
req_ct_create(char *buf, const struct req_ct *r)
{
	struct nlmsghdr		*nlh;
	struct req_tuple	 inv;

	nlh = req_start(buf, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW,
	    NLM_F_CREATE | NLM_F_EXCL, r->orig.family);
	req_put_tuple(nlh, CTA_TUPLE_ORIG, &r->orig);
	if (r->has_reply)
		req_put_tuple(nlh, CTA_TUPLE_REPLY, &r->reply);
	else {
		req_invert(&r->orig, &inv);
		req_put_tuple(nlh, CTA_TUPLE_REPLY, &inv);
	}
	if (r->has_zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, htons(r->zone));
	req_put_changes(nlh, r);
	return (nlh->nlmsg_len);
}

/* Build a GET of an expectation by its expected tuple. */
size_t
req_exp_get(char *buf, const struct req_exp *r)
{
	struct nlmsghdr	*nlh;

	nlh = req_start(buf, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET, 0,
	    r->tuple.family);
	req_put_tuple(nlh, CTA_EXPECT_TUPLE, &r->tuple);
	if (r->has_zone)
		mnl_attr_put_u16(nlh, CTA_EXPECT_ZONE, htons(r->zone));
	if (r->has_id)
		mnl_attr_put_u32(nlh, CTA_EXPECT_ID, htonl(r->id));
	return (nlh->nlmsg_len);
}

/* Build a DELETE of an expectation by its expected tuple. */
size_t
req_exp_delete(char *buf, const struct req_exp *r)
{
	struct nlmsghdr	*nlh;

	nlh = req_start(buf, NFNL_SUBSYS_CTNETLINK_EXP,
	    IPCTNL_MSG_EXP_DELETE, 0, r->tuple.family);
	req_put_tuple(nlh, CTA_EXPECT_TUPLE, &r->tuple);
	if (r->has_zone)
		mnl_attr_put_u16(nlh, CTA_EXPECT_ZONE, htons(r->zone));
	if (r->has_id)
		mnl_attr_put_u32(nlh, CTA_EXPECT_ID, htonl(r->id));
	return (nlh->nlmsg_len);
}

/* Build the creation of an expectation. */
size_t
req_exp_create(char *buf, const struct req_exp *r)
{
	struct nlmsghdr	*nlh;

	nlh = req_start(buf, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_NEW,
	    NLM_F_CREATE | NLM_F_EXCL, r->tuple.family);
	req_put_tuple(nlh, CTA_EXPECT_MASTER, &r->master);
	req_put_tuple(nlh, CTA_EXPECT_TUPLE, &r->tuple);
	req_put_tuple(nlh, CTA_EXPECT_MASK, &r->mask);
	mnl_attr_put_u32(nlh, CTA_EXPECT_TIMEOUT, htonl(r->timeout));
	if (r->has_zone)
		mnl_attr_put_u16(nlh, CTA_EXPECT_ZONE, htons(r->zone));
	if (r->flags != 0)
		mnl_attr_put_u32(nlh, CTA_EXPECT_FLAGS, htonl(r->flags));
	if (r->class != 0)
		mnl_attr_put_u32(nlh, CTA_EXPECT_CLASS, htonl(r->class));
	if (r->helper[0] != '\0')
		mnl_attr_put_strz(nlh, CTA_EXPECT_HELP_NAME, r->helper);
	return (nlh->nlmsg_len);
}

/* Build a flush of the whole conntrack or expectation table. */
size_t
req_flush(char *buf, bool exp, uint8_t family)
{
	struct nlmsghdr	*nlh;

	if (exp)
		nlh = req_start(buf, NFNL_SUBSYS_CTNETLINK_EXP,
		    IPCTNL_MSG_EXP_DELETE, 0, family);
	else
		nlh = req_start(buf, NFNL_SUBSYS_CTNETLINK,
		    IPCTNL_MSG_CT_DELETE, 0, family);
	return (nlh->nlmsg_len);
}

/* Build a request for the table's global or per-CPU statistics. */
size_t
req_stats(char *buf, bool cpu)
{
	struct nlmsghdr	*nlh;

	nlh = req_start(buf, NFNL_SUBSYS_CTNETLINK, cpu ?
	    IPCTNL_MSG_CT_GET_STATS_CPU : IPCTNL_MSG_CT_GET_STATS,
	    cpu ? NLM_F_DUMP : 0, AF_UNSPEC);
	return (nlh->nlmsg_len);
}
