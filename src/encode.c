/*
 * encode.c - write one event as a JSON object (schema version 1).
 *
 * A conntrack event, as one line (wrapped here), as Linux 6.18 sends it:
 *
 *   {"type":"ct","event":"new","seq":2,"time":"2026-11-27T01:16:53.781636Z",
 *    "id":88211084,"family":"ipv4","proto":"tcp","protonum":6,
 *    "orig":{"src":"127.0.0.1","dst":"127.0.0.1","sport":59822,"dport":1},
 *    "reply":{"src":"127.0.0.1","dst":"127.0.0.1","sport":1,"dport":59822},
 *    "state":"SYN_SENT","status":["CONFIRMED"],"timeout":120,
 *    "tcp":{"wscale_orig":10,"wscale_reply":0,
 *           "flags_orig":["WINDOW_SCALE","SACK_PERM"],"flags_reply":[]}}
 *
 * An expectation event (FTP, active mode):
 *
 *   {"type":"expect","event":"new","seq":7,
 *    "time":"2026-11-27T01:40:12.551208Z","id":2191537216,
 *    "family":"ipv4","proto":"tcp","protonum":6,
 *    "master":{"src":"127.0.0.1","dst":"127.0.0.1","sport":43312,"dport":21},
 *    "tuple":{"src":"127.0.0.1","dst":"127.0.0.1","sport":0,"dport":51210},
 *    "mask":{"src":"255.255.255.255","dst":"255.255.255.255","sport":0,
 *            "dport":65535},
 *    "timeout":300,"helper":"ftp","class":0,"flags":[]}
 *
 * The full list of members is in docs/ctstreamd-event.schema.json and in
 * ctstreamd-protocol(7).  A member the kernel did not send is absent.
 *
 * Everything goes through the jw writer, so the same code builds the text
 * line in production and a jansson tree in the equality tests.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "compat.h"
#include "encode.h"
#include "names.h"

/* "2026-11-27T01:16:53." : the date and time of one second, cached. */
#define ENCODE_SECLEN	20

struct encoder {
	struct nfct_labelmap	*labelmap;
	time_t			 sec;		/* of the cached prefix */
	bool			 have_sec;
	char			 secstr[ENCODE_SECLEN];
};

/* The attributes that make up one direction's tuple of a conntrack. */
struct tuple_attrs {
	int	v4src, v4dst, v6src, v6dst;
	int	sport, dport;
	int	zone;			/* -1: none */
	int	packets, bytes;		/* -1: none */
};

static const struct tuple_attrs ta_orig = {
	ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV4_DST,
	ATTR_ORIG_IPV6_SRC, ATTR_ORIG_IPV6_DST,
	ATTR_ORIG_PORT_SRC, ATTR_ORIG_PORT_DST,
	ATTR_ORIG_ZONE, ATTR_ORIG_COUNTER_PACKETS, ATTR_ORIG_COUNTER_BYTES
};

static const struct tuple_attrs ta_reply = {
	ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV4_DST,
	ATTR_REPL_IPV6_SRC, ATTR_REPL_IPV6_DST,
	ATTR_REPL_PORT_SRC, ATTR_REPL_PORT_DST,
	ATTR_REPL_ZONE, ATTR_REPL_COUNTER_PACKETS, ATTR_REPL_COUNTER_BYTES
};

static const struct tuple_attrs ta_master = {
	ATTR_MASTER_IPV4_SRC, ATTR_MASTER_IPV4_DST,
	ATTR_MASTER_IPV6_SRC, ATTR_MASTER_IPV6_DST,
	ATTR_MASTER_PORT_SRC, ATTR_MASTER_PORT_DST,
	-1, -1, -1
};

/*
 * Make an encoder.  labelmap names the connlabel.conf to read label names
 * from: NULL for libnetfilter_conntrack's default, "" for none.  A missing
 * map is not an error: labels are then written as numbers only.
 */
struct encoder *
encoder_new(const char *labelmap)
{
	struct encoder	*e;

	if ((e = calloc(1, sizeof *e)) == NULL)
		return (NULL);
	if (labelmap == NULL || *labelmap != '\0')
		e->labelmap = nfct_labelmap_new(labelmap);
	return (e);
}

/* Free an encoder; NULL is fine. */
void
encoder_free(struct encoder *e)
{
	if (e == NULL)
		return;
	if (e->labelmap != NULL)
		nfct_labelmap_destroy(e->labelmap);
	free(e);
}

/* Turn days since 1970-01-01 into a civil date (proleptic Gregorian). */
static void
encode_civil(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t		era, z = days + 719468;
	unsigned	doe, yoe, doy, mp;

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Write n as exactly w decimal digits at p. */
static char *
encode_digits(char *p, uint64_t n, int w)
{
	int	i;

	for (i = w - 1; i >= 0; i--) {
		p[i] = '0' + n % 10;
		n /= 10;
	}
	return (p + w);
}

/*
 * Format sec plus frac (in units of 10^-digits seconds) as RFC 3339 UTC,
 * e.g. "2026-11-27T10:00:00.123456Z".  Returns the length.
 */
size_t
encode_time(char out[ENCODE_TIMELEN], time_t sec, long frac, int digits)
{
	int64_t		 days, rem, y;
	unsigned	 m, d;
	char		*p = out;

	days = sec / 86400;
	rem = sec % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	encode_civil(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = y < 0 ? 0 : 9999;
	p = encode_digits(p, (uint64_t)y, 4);
	*p++ = '-';
	p = encode_digits(p, m, 2);
	*p++ = '-';
	p = encode_digits(p, d, 2);
	*p++ = 'T';
	p = encode_digits(p, (uint64_t)(rem / 3600), 2);
	*p++ = ':';
	p = encode_digits(p, (uint64_t)(rem / 60 % 60), 2);
	*p++ = ':';
	p = encode_digits(p, (uint64_t)(rem % 60), 2);
	if (digits > 0) {
		*p++ = '.';
		p = encode_digits(p, (uint64_t)frac, digits);
	}
	*p++ = 'Z';
	*p = '\0';
	return (p - out);
}

/* Write a kernel timestamp (ns since the epoch) with nanoseconds. */
static void
encode_ns(struct jw *w, const char *key, uint64_t ns)
{
	char	t[ENCODE_TIMELEN];
	size_t	n;

	n = encode_time(t, (time_t)(ns / 1000000000), ns % 1000000000, 9);
	jw_safe(w, key, t, n);
}

/* Write an IPv4 address in dotted-quad form. */
static void
encode_ipv4(struct jw *w, const char *key, const void *addr)
{
	const unsigned char	*a = addr;
	char			 s[INET_ADDRSTRLEN], *p = s;
	int			 i;

	for (i = 0; i < 4; i++) {
		if (i > 0)
			*p++ = '.';
		if (a[i] >= 100)
			*p++ = '0' + a[i] / 100;
		if (a[i] >= 10)
			*p++ = '0' + a[i] / 10 % 10;
		*p++ = '0' + a[i] % 10;
	}
	jw_safe(w, key, s, p - s);
}

/* Write an IPv6 address in RFC 5952 form. */
static void
encode_ipv6(struct jw *w, const char *key, const void *addr)
{
	char	s[INET6_ADDRSTRLEN];

	if (inet_ntop(AF_INET6, addr, s, sizeof s) != NULL)
		jw_safe(w, key, s, strlen(s));
}

/* Write an address attribute of a conntrack if it is set. */
static void
encode_addr(struct jw *w, const char *key, const struct nf_conntrack *ct,
    uint8_t family, int a4, int a6)
{
	if (family == AF_INET && nfct_attr_is_set(ct, a4) > 0)
		encode_ipv4(w, key, nfct_get_attr(ct, a4));
	else if (family == AF_INET6 && nfct_attr_is_set(ct, a6) > 0)
		encode_ipv6(w, key, nfct_get_attr(ct, a6));
}

/* Write a u8/u16/u32/u64 attribute if it is set. */
static void
encode_u8(struct jw *w, const char *key, const struct nf_conntrack *ct,
    int attr)
{
	if (attr >= 0 && nfct_attr_is_set(ct, attr) > 0)
		jw_u64(w, key, nfct_get_attr_u8(ct, attr));
}

static void
encode_u16(struct jw *w, const char *key, const struct nf_conntrack *ct,
    int attr)
{
	if (attr >= 0 && nfct_attr_is_set(ct, attr) > 0)
		jw_u64(w, key, nfct_get_attr_u16(ct, attr));
}

static void
encode_u32(struct jw *w, const char *key, const struct nf_conntrack *ct,
    int attr)
{
	if (attr >= 0 && nfct_attr_is_set(ct, attr) > 0)
		jw_u64(w, key, nfct_get_attr_u32(ct, attr));
}

static void
encode_u64(struct jw *w, const char *key, const struct nf_conntrack *ct,
    int attr)
{
	if (attr >= 0 && nfct_attr_is_set(ct, attr) > 0)
		jw_u64(w, key, nfct_get_attr_u64(ct, attr));
}

/* Write a port-like u16 attribute (network order) if it is set. */
static void
encode_port(struct jw *w, const char *key, const struct nf_conntrack *ct,
    int attr)
{
	if (nfct_attr_is_set(ct, attr) > 0)
		jw_u64(w, key, ntohs(nfct_get_attr_u16(ct, attr)));
}

/*
 * Write one tuple as an object: addresses, then ports or ICMP fields,
 * then the direction's zone and counters.  A conntrack's ICMP fields come
 * from icmp (read from the message, see decode.c); for the tuples inside
 * an expectation (icmp NULL) the library's attributes serve.
 */
static void
encode_tuple(struct jw *w, const char *key, const struct nf_conntrack *ct,
    uint8_t family, const struct tuple_attrs *ta, const struct ev_icmp *icmp)
{
	jw_obj_open(w, key);
	encode_addr(w, "src", ct, family, ta->v4src, ta->v6src);
	encode_addr(w, "dst", ct, family, ta->v4dst, ta->v6dst);
	encode_port(w, "sport", ct, ta->sport);
	encode_port(w, "dport", ct, ta->dport);
	if (icmp != NULL) {
		if (icmp->set) {
			jw_u64(w, "icmp_type", icmp->type);
			if (icmp->has_code)
				jw_u64(w, "icmp_code", icmp->code);
			if (icmp->has_id)
				jw_u64(w, "icmp_id", ntohs(icmp->id));
		}
	} else {
		encode_u8(w, "icmp_type", ct, ATTR_ICMP_TYPE);
		encode_u8(w, "icmp_code", ct, ATTR_ICMP_CODE);
		if (nfct_attr_is_set(ct, ATTR_ICMP_ID) > 0)
			jw_u64(w, "icmp_id",
			    ntohs(nfct_get_attr_u16(ct, ATTR_ICMP_ID)));
	}
	encode_u64(w, "packets", ct, ta->packets);
	encode_u64(w, "bytes", ct, ta->bytes);
	encode_u16(w, "zone", ct, ta->zone);
	jw_obj_close(w);
}

/* Tell whether any of a tuple's address attributes is set. */
static int
encode_tuple_present(const struct nf_conntrack *ct, const struct tuple_attrs *ta)
{
	return (nfct_attr_is_set(ct, ta->v4src) > 0 ||
	    nfct_attr_is_set(ct, ta->v4dst) > 0 ||
	    nfct_attr_is_set(ct, ta->v6src) > 0 ||
	    nfct_attr_is_set(ct, ta->v6dst) > 0);
}

/* Write a bit set as an array of names (unnamed bits as "BITn"). */
static void
encode_flags(struct jw *w, const char *key, uint32_t v,
    const char *(*name)(unsigned int))
{
	char		 s[8];
	const char	*n;
	unsigned int	 bit;

	jw_arr_open(w, key);
	for (bit = 0; bit < 32; bit++) {
		if ((v & (1U << bit)) == 0)
			continue;
		if ((n = name(bit)) != NULL) {
			jw_safe(w, NULL, n, strlen(n));
			continue;
		}
		s[0] = 'B'; s[1] = 'I'; s[2] = 'T';
		s[3] = bit >= 10 ? '0' + bit / 10 : '0' + bit;
		s[4] = '0' + bit % 10;
		jw_safe(w, NULL, s, bit >= 10 ? 5 : 4);
	}
	jw_arr_close(w);
}

/* Write the connection labels as bit numbers, and names where mapped. */
static void
encode_labels(struct encoder *e, struct jw *w, const struct nf_conntrack *ct)
{
	const struct nfct_bitmask	*b;
	const char			*name;
	unsigned int			 bit, max;
	int				 named = 0;

	if (nfct_attr_is_set(ct, ATTR_CONNLABELS) <= 0)
		return;
	b = nfct_get_attr(ct, ATTR_CONNLABELS);
	max = nfct_bitmask_maxbit(b);
	jw_arr_open(w, "labels");
	for (bit = 0; bit <= max; bit++)
		if (nfct_bitmask_test_bit(b, bit))
			jw_u64(w, NULL, bit);
	jw_arr_close(w);
	if (e->labelmap == NULL)
		return;
	for (bit = 0; bit <= max && !named; bit++) {
		if (!nfct_bitmask_test_bit(b, bit))
			continue;
		name = nfct_labelmap_get_name(e->labelmap, bit);
		named = name != NULL && *name != '\0';
	}
	if (!named)
		return;
	/* An object from bit number to name: unnamed bits are left out. */
	jw_obj_open(w, "label_names");
	for (bit = 0; bit <= max; bit++) {
		char	k[8];

		if (!nfct_bitmask_test_bit(b, bit))
			continue;
		name = nfct_labelmap_get_name(e->labelmap, bit);
		if (name == NULL || *name == '\0')
			continue;
		snprintf(k, sizeof k, "%u", bit);
		jw_str(w, k, name);
	}
	jw_obj_close(w);
}

/* Write binary data as a lowercase hex string. */
static void
encode_hex(struct jw *w, const char *key, const unsigned char *p, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	char			 small[128], *s = small;
	size_t			 i;

	if (n * 2 > sizeof small && (s = malloc(n * 2)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		s[2 * i] = hex[p[i] >> 4];
		s[2 * i + 1] = hex[p[i] & 0xf];
	}
	jw_safe(w, key, s, n * 2);
	if (s != small)
		free(s);
}

/* Write the TCP, SCTP and DCCP details the kernel sent. */
static void
encode_protoinfo(struct jw *w, const struct nf_conntrack *ct)
{
	if (nfct_attr_is_set(ct, ATTR_TCP_WSCALE_ORIG) > 0 ||
	    nfct_attr_is_set(ct, ATTR_TCP_WSCALE_REPL) > 0 ||
	    nfct_attr_is_set(ct, ATTR_TCP_FLAGS_ORIG) > 0 ||
	    nfct_attr_is_set(ct, ATTR_TCP_FLAGS_REPL) > 0) {
		jw_obj_open(w, "tcp");
		encode_u8(w, "wscale_orig", ct, ATTR_TCP_WSCALE_ORIG);
		encode_u8(w, "wscale_reply", ct, ATTR_TCP_WSCALE_REPL);
		if (nfct_attr_is_set(ct, ATTR_TCP_FLAGS_ORIG) > 0)
			encode_flags(w, "flags_orig",
			    nfct_get_attr_u8(ct, ATTR_TCP_FLAGS_ORIG),
			    names_tcp_flag);
		if (nfct_attr_is_set(ct, ATTR_TCP_FLAGS_REPL) > 0)
			encode_flags(w, "flags_reply",
			    nfct_get_attr_u8(ct, ATTR_TCP_FLAGS_REPL),
			    names_tcp_flag);
		jw_obj_close(w);
	}
	if (nfct_attr_is_set(ct, ATTR_SCTP_VTAG_ORIG) > 0 ||
	    nfct_attr_is_set(ct, ATTR_SCTP_VTAG_REPL) > 0) {
		jw_obj_open(w, "sctp");
		encode_u32(w, "vtag_orig", ct, ATTR_SCTP_VTAG_ORIG);
		encode_u32(w, "vtag_reply", ct, ATTR_SCTP_VTAG_REPL);
		jw_obj_close(w);
	}
	if (nfct_attr_is_set(ct, ATTR_DCCP_ROLE) > 0 ||
	    nfct_attr_is_set(ct, ATTR_DCCP_HANDSHAKE_SEQ) > 0) {
		jw_obj_open(w, "dccp");
		if (nfct_attr_is_set(ct, ATTR_DCCP_ROLE) > 0) {
			uint8_t		 r = nfct_get_attr_u8(ct, ATTR_DCCP_ROLE);
			const char	*n = names_dccp_role(r);

			if (n != NULL)
				jw_safe(w, "role", n, strlen(n));
			else
				jw_u64(w, "role", r);
		}
		encode_u64(w, "handshake_seq", ct, ATTR_DCCP_HANDSHAKE_SEQ);
		jw_obj_close(w);
	}
}

/* Write one direction's NAT sequence adjustment. */
static void
encode_seqadj_dir(struct jw *w, const char *key, const struct nf_conntrack *ct,
    int pos, int before, int after)
{
	if (nfct_attr_is_set(ct, pos) <= 0 &&
	    nfct_attr_is_set(ct, before) <= 0 &&
	    nfct_attr_is_set(ct, after) <= 0)
		return;
	jw_obj_open(w, key);
	encode_u32(w, "correction_pos", ct, pos);
	/* The offsets are signed 32-bit numbers in the kernel. */
	if (nfct_attr_is_set(ct, before) > 0)
		jw_i64(w, "offset_before",
		    (int32_t)nfct_get_attr_u32(ct, before));
	if (nfct_attr_is_set(ct, after) > 0)
		jw_i64(w, "offset_after",
		    (int32_t)nfct_get_attr_u32(ct, after));
	jw_obj_close(w);
}

static const int seqadj_attrs[] = {
	ATTR_ORIG_NAT_SEQ_CORRECTION_POS, ATTR_ORIG_NAT_SEQ_OFFSET_BEFORE,
	ATTR_ORIG_NAT_SEQ_OFFSET_AFTER, ATTR_REPL_NAT_SEQ_CORRECTION_POS,
	ATTR_REPL_NAT_SEQ_OFFSET_BEFORE, ATTR_REPL_NAT_SEQ_OFFSET_AFTER,
};

/* Tell whether any of n attributes is set. */
static int
encode_any_set(const struct nf_conntrack *ct, const int *attrs, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (nfct_attr_is_set(ct, attrs[i]) > 0)
			return (1);
	return (0);
}

/* Write the sequence adjustments and the SYN proxy state if present. */
static void
encode_seqadj_synproxy(struct jw *w, const struct nf_conntrack *ct)
{
	if (encode_any_set(ct, seqadj_attrs, nitems(seqadj_attrs))) {
		jw_obj_open(w, "seqadj");
		encode_seqadj_dir(w, "orig", ct,
		    ATTR_ORIG_NAT_SEQ_CORRECTION_POS,
		    ATTR_ORIG_NAT_SEQ_OFFSET_BEFORE,
		    ATTR_ORIG_NAT_SEQ_OFFSET_AFTER);
		encode_seqadj_dir(w, "reply", ct,
		    ATTR_REPL_NAT_SEQ_CORRECTION_POS,
		    ATTR_REPL_NAT_SEQ_OFFSET_BEFORE,
		    ATTR_REPL_NAT_SEQ_OFFSET_AFTER);
		jw_obj_close(w);
	}
	if (nfct_attr_is_set(ct, ATTR_SYNPROXY_ISN) > 0 ||
	    nfct_attr_is_set(ct, ATTR_SYNPROXY_ITS) > 0 ||
	    nfct_attr_is_set(ct, ATTR_SYNPROXY_TSOFF) > 0) {
		jw_obj_open(w, "synproxy");
		encode_u32(w, "isn", ct, ATTR_SYNPROXY_ISN);
		encode_u32(w, "its", ct, ATTR_SYNPROXY_ITS);
		encode_u32(w, "tsoff", ct, ATTR_SYNPROXY_TSOFF);
		jw_obj_close(w);
	}
}

/* Write family, proto and protonum. */
static void
encode_proto(struct jw *w, uint8_t family, int has_proto, uint8_t proto)
{
	char		 num[NAMES_NUMLEN];
	const char	*f;

	if ((f = names_family(family)) != NULL)
		jw_safe(w, "family", f, strlen(f));
	if (has_proto) {
		f = names_proto(proto, num);
		jw_safe(w, "proto", f, strlen(f));
		jw_u64(w, "protonum", proto);
	}
}

/* Write the members of a conntrack. */
static void
encode_ct(struct encoder *e, struct jw *w, const struct event *ev)
{
	static const struct ev_icmp	 none;
	const struct nf_conntrack	*ct = ev->ct;
	char				 num[NAMES_NUMLEN];
	const char			*n;
	uint8_t				 proto = 0;
	int				 has_proto, state = -1;

	encode_u32(w, "id", ct, ATTR_ID);
	has_proto = nfct_attr_is_set(ct, ATTR_ORIG_L4PROTO) > 0;
	if (has_proto)
		proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
	encode_proto(w, ev->family, has_proto, proto);
	if (encode_tuple_present(ct, &ta_orig))
		encode_tuple(w, "orig", ct, ev->family, &ta_orig,
		    &ev->orig_icmp);
	if (encode_tuple_present(ct, &ta_reply))
		encode_tuple(w, "reply", ct, ev->family, &ta_reply,
		    &ev->repl_icmp);
	if (encode_tuple_present(ct, &ta_master))
		encode_tuple(w, "master", ct, ev->family, &ta_master, &none);

	if (nfct_attr_is_set(ct, ATTR_TCP_STATE) > 0)
		state = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
	else if (nfct_attr_is_set(ct, ATTR_SCTP_STATE) > 0)
		state = nfct_get_attr_u8(ct, ATTR_SCTP_STATE);
	else if (nfct_attr_is_set(ct, ATTR_DCCP_STATE) > 0)
		state = nfct_get_attr_u8(ct, ATTR_DCCP_STATE);
	if (state >= 0) {
		n = names_state(proto, state, num);
		jw_safe(w, "state", n, strlen(n));
	}
	if (nfct_attr_is_set(ct, ATTR_STATUS) > 0)
		encode_flags(w, "status", nfct_get_attr_u32(ct, ATTR_STATUS),
		    names_status_bit);
	encode_u32(w, "timeout", ct, ATTR_TIMEOUT);
	encode_u32(w, "mark", ct, ATTR_MARK);
	encode_u32(w, "secmark", ct, ATTR_SECMARK);
	if (nfct_attr_is_set(ct, ATTR_SECCTX) > 0)
		jw_str(w, "secctx", nfct_get_attr(ct, ATTR_SECCTX));
	encode_u16(w, "zone", ct, ATTR_ZONE);
	encode_u32(w, "use", ct, ATTR_USE);
	encode_labels(e, w, ct);
	if (nfct_attr_is_set(ct, ATTR_HELPER_NAME) > 0)
		jw_str(w, "helper", nfct_get_attr(ct, ATTR_HELPER_NAME));
	if (ev->helper_info != NULL)
		encode_hex(w, "helper_info", ev->helper_info,
		    ev->helper_info_len);
	if (nfct_attr_is_set(ct, ATTR_TIMESTAMP_START) > 0)
		encode_ns(w, "start",
		    nfct_get_attr_u64(ct, ATTR_TIMESTAMP_START));
	if (nfct_attr_is_set(ct, ATTR_TIMESTAMP_STOP) > 0)
		encode_ns(w, "stop", nfct_get_attr_u64(ct, ATTR_TIMESTAMP_STOP));
	if (ev->has_event_time)
		encode_ns(w, "event_time", ev->event_time);
	encode_protoinfo(w, ct);
	encode_seqadj_synproxy(w, ct);
}

/* Write one tuple-valued attribute of an expectation if it is set. */
static void
encode_exp_tuple(struct jw *w, const char *key, const struct nf_expect *exp,
    int attr, uint8_t family)
{
	const struct nf_conntrack	*t;

	if (nfexp_attr_is_set(exp, attr) <= 0)
		return;
	t = nfexp_get_attr(exp, attr);
	encode_tuple(w, key, t, family, &ta_orig, NULL);
}

/* Write the members of an expectation. */
static void
encode_exp(struct jw *w, const struct event *ev)
{
	const struct nf_expect		*exp = ev->exp;
	const struct nf_conntrack	*t = NULL;
	uint8_t				 proto = 0;
	int				 has_proto = 0;

	if (ev->has_exp_id)
		jw_u64(w, "id", ev->exp_id);
	if (nfexp_attr_is_set(exp, ATTR_EXP_EXPECTED) > 0)
		t = nfexp_get_attr(exp, ATTR_EXP_EXPECTED);
	else if (nfexp_attr_is_set(exp, ATTR_EXP_MASTER) > 0)
		t = nfexp_get_attr(exp, ATTR_EXP_MASTER);
	if (t != NULL && nfct_attr_is_set(t, ATTR_ORIG_L4PROTO) > 0) {
		has_proto = 1;
		proto = nfct_get_attr_u8(t, ATTR_ORIG_L4PROTO);
	}
	encode_proto(w, ev->family, has_proto, proto);
	encode_exp_tuple(w, "master", exp, ATTR_EXP_MASTER, ev->family);
	encode_exp_tuple(w, "tuple", exp, ATTR_EXP_EXPECTED, ev->family);
	encode_exp_tuple(w, "mask", exp, ATTR_EXP_MASK, ev->family);
	if (nfexp_attr_is_set(exp, ATTR_EXP_TIMEOUT) > 0)
		jw_u64(w, "timeout", nfexp_get_attr_u32(exp, ATTR_EXP_TIMEOUT));
	if (nfexp_attr_is_set(exp, ATTR_EXP_HELPER_NAME) > 0)
		jw_str(w, "helper", nfexp_get_attr(exp, ATTR_EXP_HELPER_NAME));
	if (nfexp_attr_is_set(exp, ATTR_EXP_CLASS) > 0)
		jw_u64(w, "class", nfexp_get_attr_u32(exp, ATTR_EXP_CLASS));
	if (nfexp_attr_is_set(exp, ATTR_EXP_FLAGS) > 0)
		encode_flags(w, "flags", nfexp_get_attr_u32(exp, ATTR_EXP_FLAGS),
		    names_exp_flag);
	if (nfexp_attr_is_set(exp, ATTR_EXP_ZONE) > 0)
		jw_u64(w, "zone", nfexp_get_attr_u16(exp, ATTR_EXP_ZONE));
	if (nfexp_attr_is_set(exp, ATTR_EXP_NAT_DIR) > 0) {
		uint32_t	dir = nfexp_get_attr_u32(exp, ATTR_EXP_NAT_DIR);

		if (dir == 0)
			jw_safe(w, "nat_dir", "orig", 4);
		else if (dir == 1)
			jw_safe(w, "nat_dir", "reply", 5);
		else
			jw_u64(w, "nat_dir", dir);
	}
	encode_exp_tuple(w, "nat", exp, ATTR_EXP_NAT_TUPLE, ev->family);
	if (nfexp_attr_is_set(exp, ATTR_EXP_FN) > 0)
		jw_str(w, "fn", nfexp_get_attr(exp, ATTR_EXP_FN));
}

/*
 * Write the time of an event, with microseconds.  Every event of a read
 * has the same time, and most of a second's events share its date and
 * time of day: that part is formatted once per second and kept.
 */
static void
encode_now(struct encoder *e, struct jw *w, const struct timespec *ts)
{
	char	t[ENCODE_TIMELEN];

	if (!e->have_sec || e->sec != ts->tv_sec) {
		encode_time(t, ts->tv_sec, 0, 0);
		memcpy(e->secstr, t, ENCODE_SECLEN - 1);
		e->secstr[ENCODE_SECLEN - 1] = '.';
		e->sec = ts->tv_sec;
		e->have_sec = true;
	}
	memcpy(t, e->secstr, ENCODE_SECLEN);
	encode_digits(t + ENCODE_SECLEN, (uint64_t)ts->tv_nsec / 1000, 6);
	t[ENCODE_SECLEN + 6] = 'Z';
	jw_safe(w, "time", t, ENCODE_SECLEN + 7);
}

/*
 * Write one event as a JSON object (no newline).  ev->seq and ev->time
 * must be set.
 */
void
encode_event(struct encoder *e, struct jw *w, const struct event *ev)
{
	const char	*s;

	jw_obj_open(w, NULL);
	s = event_type_name(ev->type);
	jw_safe(w, "type", s, strlen(s));
	s = event_kind_name(ev->kind);
	jw_safe(w, "event", s, strlen(s));
	jw_u64(w, "seq", ev->seq);
	encode_now(e, w, &ev->time);
	if (ev->netns != NULL && ev->show_netns)
		jw_str(w, "netns", ev->netns);
	if (ev->resync)
		jw_bool(w, "resync", true);
	if (ev->idonly)
		jw_u64(w, "id", ev->ct_id);
	else if (ev->type == EV_TYPE_CT)
		encode_ct(e, w, ev);
	else
		encode_exp(w, ev);
	jw_obj_close(w);
}
