/*
 * kfilter.c - a daemon-wide filter pushed into the kernel.
 *
 * --kernel-proto, --kernel-src and --kernel-dst each take a comma-separated
 * list (protocols; addresses or CIDRs, IPv4 and IPv6 mixed); a leading "!"
 * inverts the whole list.  Lists are any-of; the options must all hold.
 * They become a classic BPF program on the event socket, so the kernel
 * drops unwanted conntrack events before they are queued: the daemon never
 * reads them.  The selection: addresses are those of the original
 * direction; an address list restricts only entries of the families it
 * has prefixes of; an entry without the attribute an option looks at
 * passes that option; expectation events (and any message of another
 * subsystem) always pass.
 *
 * kfilter_match() applies the same selection in userspace to what does
 * not come through the event socket (snapshots, resync dumps, the startup
 * index), so they all agree with the stream.
 *
 * The program is our own, not libnetfilter_conntrack's nfct_filter: the
 * library's generator (1.0.9) finds the IPv4 address with a flat attribute
 * search that, in an IPv6 message, runs out of CTA_TUPLE_IP and takes
 * CTA_TUPLE_PROTO (also type 2) for CTA_IP_V4_DST, so an IPv4 destination
 * list dropped every IPv6 event; it gives up on an IPv6 list at the first
 * prefix whose leading words differ; and its 8-bit jump offsets wrap in
 * long lists.  Here every attribute is found inside its own nest with the
 * kernel's SKF_AD_NLATTR_NEST, the family comes from the nfgenmsg, and
 * every jump that may be long is an unconditional one (32-bit offset).
 *
 * The program for --kernel-proto udp --kernel-dst 10.77.0.0/30:
 *
 *	ldb [5]			subsystem: the high byte of nlmsg_type
 *	jeq #1, +1		conntrack?
 *	ret #-1			no (expectations): keep
 *	ld #20			past nlmsghdr and nfgenmsg
 *	ldx #1			CTA_TUPLE_ORIG ...
 *	ld nlattr		... among the top-level attributes
 *	jeq #0, +0, +1
 *	ja PROTO_DONE		not there: this option does not apply
 *	ldx #2			CTA_TUPLE_PROTO inside it
 *	ld nlattr_nest
 *	...			(CTA_PROTO_NUM likewise)
 *	tax
 *	ldb [x + 4]		the protocol number
 *	jeq #17, +0, +1
 *	ja PROTO_DONE		in the list
 *	ret #0			not in the list: drop
 *  PROTO_DONE:
 *	ldb [16]		nfgen_family
 *	jeq #2, +0, +1
 *	ja DST_V4
 *	ja DST_DONE		no IPv4 prefix for another family
 *  DST_V4:
 *	...			CTA_TUPLE_ORIG, CTA_TUPLE_IP, CTA_IP_V4_DST
 *	tax
 *	ld [x + 4]		the address
 *	tax			kept in X for the next prefix
 *	and #0xfffffffc
 *	jeq #0x0a4d0000, +0, +1
 *	ja DST_DONE
 *	ret #0
 *  DST_DONE:
 *	ret #-1
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/filter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include "cidr.h"
#include "filter.h"
#include "kfilter.h"
#include "names.h"

/*
 * Prefixes per address option.  The program stays far below the kernel's
 * BPF_MAXINSNS with all three options full (about 2,000 instructions);
 * the numbers are those of libnetfilter_conntrack, which ctstreamd used
 * before, so that every configuration that was valid still is.
 */
#define KF_MAX4		127
#define KF_MAX6		20
#define KF_WORDS	(KF_MAX4 + KF_MAX6)

#define KF_LABELS	16		/* jump targets in one program */
#define KF_ACCEPT	0xffffffffU	/* keep the whole message */
#define KF_REJECT	0U		/* drop it */
#define KF_ATTRS	(NLMSG_HDRLEN + sizeof(struct nfgenmsg))

/* One address option: CIDRs of both families, maybe negated. */
struct kf_addrs {
	bool		set, neg;
	struct cidr	v[KF_WORDS];
	int		n, n4, n6;
};

/* A program being written; jumps name labels until it is finished. */
struct kf_prog {
	struct sock_filter	ins[BPF_MAXINSNS];
	int			len;
	int			label[KF_LABELS];
	int			nlabels;
	bool			overflow;
};

struct kfilter {
	bool			 has_proto, neg_proto;
	uint64_t		 protos[4];
	struct kf_addrs		 src, dst;
	struct kf_prog		 prog;
	char			 desc[512];
};

/* Split a list spec into words (at most max); returns the count or -1. */
static int
kf_split(char *copy, char **words, int max, bool *neg)
{
	char	*w, *save = NULL, *p = copy;
	int	 n = 0;

	*neg = p[0] == '!';
	if (*neg)
		p++;
	for (w = strtok_r(p, ",", &save); w != NULL;
	    w = strtok_r(NULL, ",", &save)) {
		if (n == max)
			return (-1);
		words[n++] = w;
	}
	return (n);
}

/*
 * Parse one address option into its CIDRs; a message says what is wrong,
 * without the option's name.
 */
static int
kf_addrs(struct kf_addrs *a, const char *spec, char *err, size_t errlen)
{
	char			*copy, *words[KF_WORDS + 1];
	const struct cidr	*c;
	int			 i, n;

	if ((copy = strdup(spec)) == NULL)
		return (-ENOMEM);
	n = kf_split(copy, words, KF_WORDS, &a->neg);
	if (n == 0) {
		snprintf(err, errlen, "empty list");
		free(copy);
		return (-EINVAL);
	}
	for (i = 0; i < n; i++) {
		c = &a->v[a->n];
		if (cidr_parse(words[i], &a->v[a->n]) == -1) {
			snprintf(err, errlen, "invalid address or CIDR '%s'",
			    words[i]);
			free(copy);
			return (-EINVAL);
		}
		if ((c->family == AF_INET ? ++a->n4 > KF_MAX4 :
		    ++a->n6 > KF_MAX6))
			break;
		a->n++;
	}
	free(copy);
	/* More words than both limits together exceed one of them too. */
	if (n < 0 || i < n) {
		snprintf(err, errlen, "the kernel filter takes at most %d IPv4 "
		    "and %d IPv6 prefixes", KF_MAX4, KF_MAX6);
		return (-E2BIG);
	}
	a->set = true;
	return (0);
}

/* Parse the protocol option into its set; as kf_addrs(). */
static int
kf_protos(struct kfilter *k, const char *spec, char *err, size_t errlen)
{
	char	*copy, *words[256];
	int	 i, n, p;

	if ((copy = strdup(spec)) == NULL)
		return (-ENOMEM);
	n = kf_split(copy, words, 255, &k->neg_proto);
	if (n <= 0) {
		snprintf(err, errlen, "%s", n == 0 ? "empty list" :
		    "too many protocols");
		free(copy);
		return (-EINVAL);
	}
	for (i = 0; i < n; i++) {
		if ((p = names_proto_parse(words[i])) < 0) {
			snprintf(err, errlen, "unknown protocol '%s'",
			    words[i]);
			free(copy);
			return (-EINVAL);
		}
		k->protos[p / 64] |= 1ULL << (p % 64);
	}
	free(copy);
	k->has_proto = true;
	return (0);
}

/* Append one instruction; a full program is noted, not overrun. */
static void
kf_op(struct kf_prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	if (p->len == BPF_MAXINSNS) {
		p->overflow = true;
		return;
	}
	p->ins[p->len++] = (struct sock_filter){ code, jt, jf, k };
}

/* Make a label, placed later with kf_place(). */
static int
kf_label(struct kf_prog *p)
{
	if (p->nlabels == KF_LABELS)
		abort();	/* the generator makes a fixed few */
	p->label[p->nlabels] = -1;
	return (p->nlabels++);
}

/* Put a label at the next instruction. */
static void
kf_place(struct kf_prog *p, int l)
{
	p->label[l] = p->len;
}

/*
 * Jump to a label.  Conditional jumps carry 8-bit offsets, so the
 * generator uses them only to step over the next instruction or two;
 * anything further is this jump, whose label becomes a 32-bit offset.
 */
static void
kf_ja(struct kf_prog *p, int l)
{
	kf_op(p, BPF_JMP | BPF_JA, 0, 0, (uint32_t)l);
}

/* Jump to a label when A == v. */
static void
kf_jeq_ja(struct kf_prog *p, uint32_t v, int l)
{
	kf_op(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, v);
	kf_ja(p, l);
}

/* Drop the message, or go on to the next option. */
static void
kf_verdict(struct kf_prog *p, bool drop, int next)
{
	if (drop)
		kf_op(p, BPF_RET | BPF_K, 0, 0, KF_REJECT);
	else
		kf_ja(p, next);
}

/*
 * On A == v, the verdict on a member of a list: drop for a "!" list, go
 * on otherwise.  Past the last member, kf_verdict(p, !neg, next).
 */
static void
kf_member(struct kf_prog *p, uint32_t v, bool neg, int next)
{
	kf_op(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, v);
	kf_verdict(p, neg, next);
}

/*
 * Leave in X the offset of the attribute at the end of a path of nested
 * attributes from the top level (CTA_TUPLE_ORIG, ...), or jump to skip
 * when one is missing.  The kernel's helpers return 0 for "not found",
 * which no attribute's offset can be; the nested one looks only inside
 * the attribute at A, so a search never strays into a sibling.
 */
static void
kf_find(struct kf_prog *p, const uint16_t *path, int n, int skip)
{
	int	i;

	kf_op(p, BPF_LD | BPF_IMM, 0, 0, KF_ATTRS);
	for (i = 0; i < n; i++) {
		kf_op(p, BPF_LDX | BPF_IMM, 0, 0, path[i]);
		kf_op(p, BPF_LD | BPF_B | BPF_ABS, 0, 0, SKF_AD_OFF +
		    (i == 0 ? SKF_AD_NLATTR : SKF_AD_NLATTR_NEST));
		kf_jeq_ja(p, 0, skip);
	}
	kf_op(p, BPF_MISC | BPF_TAX, 0, 0, 0);
}

/* The --kernel-proto test. */
static void
kf_gen_proto(const struct kfilter *k, struct kf_prog *p)
{
	static const uint16_t	 path[] = {
		CTA_TUPLE_ORIG, CTA_TUPLE_PROTO, CTA_PROTO_NUM
	};
	int			 next = kf_label(p), i;

	kf_find(p, path, 3, next);
	kf_op(p, BPF_LD | BPF_B | BPF_IND, 0, 0, NLA_HDRLEN);
	for (i = 0; i < 256; i++)
		if ((k->protos[i / 64] >> (i % 64)) & 1)
			kf_member(p, (uint32_t)i, k->neg_proto, next);
	kf_verdict(p, !k->neg_proto, next);
	kf_place(p, next);
}

/* Mask word j (network order, as loads give it) of a prefix. */
static uint32_t
kf_mask(const struct cidr *c, int j)
{
	int	bits = c->plen - 32 * j;

	return (bits >= 32 ? 0xffffffffU : bits <= 0 ? 0 :
	    0xffffffffU << (32 - bits));
}

/* Word j of a prefix's address, host bits already clear. */
static uint32_t
kf_word(const struct cidr *c, int j)
{
	uint32_t	w;

	memcpy(&w, c->addr + 4 * j, 4);
	return (ntohl(w));
}

/* The IPv4 prefixes of an option, with X at the address attribute. */
static void
kf_gen_v4(const struct kf_addrs *a, struct kf_prog *p, int next)
{
	const struct cidr	*c;
	uint32_t		 m;
	bool			 intact = true;
	int			 i;

	/* The address stays in X; a masked compare spoils A. */
	kf_op(p, BPF_LD | BPF_W | BPF_IND, 0, 0, NLA_HDRLEN);
	kf_op(p, BPF_MISC | BPF_TAX, 0, 0, 0);
	for (i = 0; i < a->n; i++) {
		c = &a->v[i];
		if (c->family != AF_INET)
			continue;
		if ((m = kf_mask(c, 0)) == 0) {
			kf_verdict(p, a->neg, next);
			continue;
		}
		if (!intact)
			kf_op(p, BPF_MISC | BPF_TXA, 0, 0, 0);
		intact = m == 0xffffffffU;
		if (!intact)
			kf_op(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, m);
		kf_member(p, kf_word(c, 0), a->neg, next);
	}
	kf_verdict(p, !a->neg, next);
}

/* The IPv6 prefixes of an option, with X at the address attribute. */
static void
kf_gen_v6(const struct kf_addrs *a, struct kf_prog *p, int next)
{
	const struct cidr	*c;
	uint32_t		 m;
	int			 i, j, last, miss[4], nmiss;

	/* The four words go to scratch memory, loaded once. */
	for (j = 0; j < 4; j++) {
		kf_op(p, BPF_LD | BPF_W | BPF_IND, 0, 0, NLA_HDRLEN + 4 * j);
		kf_op(p, BPF_ST, 0, 0, (uint32_t)j);
	}
	for (i = 0; i < a->n; i++) {
		c = &a->v[i];
		if (c->family != AF_INET6)
			continue;
		for (last = 3; last >= 0 && kf_mask(c, last) == 0; last--)
			;
		if (last < 0) {
			kf_verdict(p, a->neg, next);
			continue;
		}
		/* A word that differs skips to the next prefix. */
		nmiss = 0;
		for (j = 0; j <= last; j++) {
			kf_op(p, BPF_LD | BPF_MEM, 0, 0, (uint32_t)j);
			if ((m = kf_mask(c, j)) != 0xffffffffU)
				kf_op(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, m);
			if (j < last) {
				miss[nmiss++] = p->len;
				kf_op(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 0,
				    kf_word(c, j));
			}
		}
		kf_member(p, kf_word(c, last), a->neg, next);
		/* At most 3 words of 3 instructions and 2 more: short. */
		while (nmiss-- > 0 && !p->overflow)
			p->ins[miss[nmiss]].jf = (uint8_t)(p->len -
			    miss[nmiss] - 1);
	}
	kf_verdict(p, !a->neg, next);
}

/* The --kernel-src or --kernel-dst test: by family, then by prefix. */
static void
kf_gen_addrs(const struct kf_addrs *a, bool dst, struct kf_prog *p)
{
	uint16_t	path[3] = { CTA_TUPLE_ORIG, CTA_TUPLE_IP, 0 };
	int		next, l4, l6;

	next = kf_label(p);
	l4 = kf_label(p);
	l6 = kf_label(p);
	kf_op(p, BPF_LD | BPF_B | BPF_ABS, 0, 0,
	    NLMSG_HDRLEN + offsetof(struct nfgenmsg, nfgen_family));
	if (a->n4 > 0)
		kf_jeq_ja(p, AF_INET, l4);
	if (a->n6 > 0)
		kf_jeq_ja(p, AF_INET6, l6);
	kf_ja(p, next);
	if (a->n4 > 0) {
		kf_place(p, l4);
		path[2] = dst ? CTA_IP_V4_DST : CTA_IP_V4_SRC;
		kf_find(p, path, 3, next);
		kf_gen_v4(a, p, next);
	}
	if (a->n6 > 0) {
		kf_place(p, l6);
		path[2] = dst ? CTA_IP_V6_DST : CTA_IP_V6_SRC;
		kf_find(p, path, 3, next);
		kf_gen_v6(a, p, next);
	}
	kf_place(p, next);
}

/* Write the whole program; 0, or -E2BIG if it would not fit. */
static int
kf_gen(struct kfilter *k)
{
	struct kf_prog	*p = &k->prog;
	struct sock_filter *ins;
	uint16_t	 one = 1;
	int		 i;

	p->len = p->nlabels = 0;
	p->overflow = false;
	/*
	 * The subsystem is the high byte of the host-order nlmsg_type:
	 * which byte that is depends on this machine's byte order.
	 */
	kf_op(p, BPF_LD | BPF_B | BPF_ABS, 0, 0,
	    offsetof(struct nlmsghdr, nlmsg_type) + (*(uint8_t *)&one == 1));
	kf_op(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, NFNL_SUBSYS_CTNETLINK);
	kf_op(p, BPF_RET | BPF_K, 0, 0, KF_ACCEPT);
	if (k->has_proto)
		kf_gen_proto(k, p);
	if (k->src.set)
		kf_gen_addrs(&k->src, false, p);
	if (k->dst.set)
		kf_gen_addrs(&k->dst, true, p);
	kf_op(p, BPF_RET | BPF_K, 0, 0, KF_ACCEPT);
	if (p->overflow)
		return (-E2BIG);
	/* Labels to offsets: every unconditional jump names one. */
	for (i = 0; i < p->len; i++) {
		ins = &p->ins[i];
		if (ins->code == (BPF_JMP | BPF_JA))
			ins->k = (uint32_t)(p->label[ins->k] - i - 1);
	}
	return (0);
}

/*
 * Build the filter from the three option values (NULL when not given);
 * *kp stays NULL when none was.  Returns 0 or -errno with a message in
 * err, and in *bad the option it is about (NULL: none, or out of memory).
 */
static int
kf_build(struct kfilter **kp, const char *proto, const char *src,
    const char *dst, char *err, size_t errlen, const char **bad)
{
	struct kfilter	*k;
	const char	*name = NULL;
	int		 error = 0;

	*kp = NULL;
	*bad = NULL;
	if (proto == NULL && src == NULL && dst == NULL)
		return (0);
	/* The message unless a value is wrong, which says more. */
	snprintf(err, errlen, "out of memory");
	if ((k = calloc(1, sizeof *k)) == NULL)
		return (-ENOMEM);
	if (proto != NULL) {
		name = "kernel-proto";
		error = kf_protos(k, proto, err, errlen);
	}
	if (error == 0 && src != NULL) {
		name = "kernel-src";
		error = kf_addrs(&k->src, src, err, errlen);
	}
	if (error == 0 && dst != NULL) {
		name = "kernel-dst";
		error = kf_addrs(&k->dst, dst, err, errlen);
	}
	if (error != 0 && error != -ENOMEM)
		*bad = name;
	/* Not with the limits above; kept so a change to them is caught. */
	if (error == 0 && (error = kf_gen(k)) != 0)
		snprintf(err, errlen, "the kernel filter would exceed %d "
		    "instructions", BPF_MAXINSNS);
	if (error != 0) {
		kfilter_free(k);
		return (error);
	}
	snprintf(k->desc, sizeof k->desc, "%s%s%s%s%s%s",
	    proto ? " proto=" : "", proto ? proto : "",
	    src ? " src=" : "", src ? src : "", dst ? " dst=" : "",
	    dst ? dst : "");
	*kp = k;
	return (0);
}

/*
 * Build the filter from the three option values (NULL when not given);
 * *kp stays NULL when none was.  Returns 0 or -errno with a message
 * naming the option in err.  The settings check each value as it is set
 * (kfilter_check_proto() and the others), where they can say where it
 * came from; what is left to fail here is mostly memory.
 */
int
kfilter_parse(struct kfilter **kp, const char *proto, const char *src,
    const char *dst, char *err, size_t errlen)
{
	const char	*bad;
	char		 msg[KFILTER_ERRLEN];
	int		 error;

	if ((error = kf_build(kp, proto, src, dst, msg, sizeof msg,
	    &bad)) != 0)
		snprintf(err, errlen, "%s%s%s%s", bad != NULL ? "--" : "",
		    bad != NULL ? bad : "", bad != NULL ? ": " : "", msg);
	return (error);
}

/* Check one option's value on its own, by building a filter of it. */
static int
kf_check(const char *proto, const char *src, const char *dst, char *err,
    size_t errlen)
{
	struct kfilter	*k;
	const char	*bad;
	int		 error;

	error = kf_build(&k, proto, src, dst, err, errlen, &bad);
	kfilter_free(k);
	return (error);
}

/*
 * Check a --kernel-proto value.  Returns 0 or -errno with a message
 * (without the option's name) in err.
 */
int
kfilter_check_proto(const char *spec, char *err, size_t errlen)
{
	return (kf_check(spec, NULL, NULL, err, errlen));
}

/* Check a --kernel-src value; as kfilter_check_proto(). */
int
kfilter_check_src(const char *spec, char *err, size_t errlen)
{
	return (kf_check(NULL, spec, NULL, err, errlen));
}

/* Check a --kernel-dst value; as kfilter_check_proto(). */
int
kfilter_check_dst(const char *spec, char *err, size_t errlen)
{
	return (kf_check(NULL, NULL, spec, err, errlen));
}

/* Free a filter; NULL is fine. */
void
kfilter_free(struct kfilter *k)
{
	free(k);
}

/* Attach the BPF program to an event socket, replacing any; 0 or -errno. */
int
kfilter_attach(const struct kfilter *k, int fd)
{
	struct sock_fprog	fp;

	fp.len = (unsigned short)k->prog.len;
	fp.filter = (struct sock_filter *)k->prog.ins;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) == -1)
		return (-errno);
	return (0);
}

/* Take the program off an event socket; 0 or -errno. */
int
kfilter_detach(int fd)
{
	int	dummy = 0;

	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy,
	    sizeof dummy) == -1)
		return (-errno);
	return (0);
}

/* The program's length in instructions, for the log and the tests. */
int
kfilter_length(const struct kfilter *k)
{
	return (k->prog.len);
}

/* Apply one address option to one address, as the kernel does. */
static bool
kf_addr_ok(const struct kf_addrs *a, uint8_t family, bool has,
    const uint8_t *addr)
{
	bool	any = false, in = false;
	int	i;

	if (!a->set)
		return (true);
	for (i = 0; i < a->n; i++) {
		if (a->v[i].family != family)
			continue;
		any = true;
		if (has && cidr_match(&a->v[i], family, addr))
			in = true;
	}
	/* No prefix of this family, or no address: the test is skipped. */
	if (!any || !has)
		return (true);
	return (in != a->neg);
}

/* Tell whether an entry passes the filter, as the kernel decides. */
bool
kfilter_match(const struct kfilter *k, const struct filter_view *v)
{
	bool	in;

	if (k == NULL || v->type != EV_TYPE_CT)
		return (true);
	if (k->has_proto && v->has_proto) {
		in = (k->protos[v->proto / 64] >> (v->proto % 64)) & 1;
		if (in == k->neg_proto)
			return (false);
	}
	return (kf_addr_ok(&k->src, v->family, v->t[0].has_src, v->t[0].src) &&
	    kf_addr_ok(&k->dst, v->family, v->t[0].has_dst, v->t[0].dst));
}

/* Describe the filter for the log. */
const char *
kfilter_describe(const struct kfilter *k)
{
	return (k->desc);
}
