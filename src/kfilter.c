/*
 * kfilter.c - a daemon-wide filter pushed into the kernel.
 *
 * --kernel-proto, --kernel-src and --kernel-dst each take a comma-separated
 * list (protocols; addresses or CIDRs, IPv4 and IPv6 mixed); a leading "!"
 * inverts the whole list.  Lists are any-of; the options must all hold.
 * They become a BPF program on the event socket (libnetfilter_conntrack's
 * nfct_filter), so the kernel drops unwanted conntrack events before they
 * are queued: the daemon never reads them.  As the kernel program does:
 * addresses are those of the original direction, an address list of one
 * family does not restrict entries of the other, and expectation events
 * always pass.
 *
 * kfilter_match() applies the same selection in userspace to what does
 * not come through the event socket (snapshots, resync dumps, the startup
 * index), so they all agree with the stream.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "cidr.h"
#include "filter.h"
#include "kfilter.h"
#include "names.h"

#define KF_MAX4		127	/* libnetfilter_conntrack's limits */
#define KF_MAX6		20
#define KF_WORDS	(KF_MAX4 + KF_MAX6)

/* One address option: CIDRs of both families, maybe negated. */
struct kf_addrs {
	bool		set, neg;
	struct cidr	v[KF_WORDS];
	int		n, n4, n6;
};

struct kfilter {
	struct nfct_filter	*nf;
	bool			 has_proto, neg_proto;
	uint64_t		 protos[4];
	struct kf_addrs		 src, dst;
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

/* Add one address option's CIDRs to the kernel filter. */
static int
kf_addrs(struct kfilter *k, struct kf_addrs *a, const char *name,
    const char *spec, bool dst, char *err, size_t errlen)
{
	struct nfct_filter_ipv4	 f4;
	struct nfct_filter_ipv6	 f6;
	char			*copy, *words[KF_WORDS + 1];
	const struct cidr	*c;
	uint32_t		 w;
	int			 i, j, n, bits;

	if ((copy = strdup(spec)) == NULL)
		return (-ENOMEM);
	n = kf_split(copy, words, KF_WORDS, &a->neg);
	if (n <= 0) {
		snprintf(err, errlen, "--%s: %s", name, n == 0 ? "empty list" :
		    "too many addresses");
		free(copy);
		return (-EINVAL);
	}
	for (i = 0; i < n; i++) {
		c = &a->v[a->n];
		if (cidr_parse(words[i], &a->v[a->n]) == -1) {
			snprintf(err, errlen, "--%s: invalid address or CIDR "
			    "'%s'", name, words[i]);
			free(copy);
			return (-EINVAL);
		}
		if ((c->family == AF_INET ? ++a->n4 > KF_MAX4 :
		    ++a->n6 > KF_MAX6)) {
			snprintf(err, errlen, "--%s: the kernel filter takes "
			    "at most %d IPv4 and %d IPv6 prefixes", name,
			    KF_MAX4, KF_MAX6);
			free(copy);
			return (-E2BIG);
		}
		a->n++;
		if (c->family == AF_INET) {
			memcpy(&w, c->addr, 4);
			f4.addr = ntohl(w);
			f4.mask = c->plen == 0 ? 0 : ~0U << (32 - c->plen);
			nfct_filter_add_attr(k->nf, dst ? NFCT_FILTER_DST_IPV4 :
			    NFCT_FILTER_SRC_IPV4, &f4);
			continue;
		}
		for (j = 0; j < 4; j++) {
			memcpy(&w, c->addr + 4 * j, 4);
			f6.addr[j] = ntohl(w);
			bits = c->plen - 32 * j;
			f6.mask[j] = bits >= 32 ? ~0U : bits <= 0 ? 0 :
			    ~0U << (32 - bits);
		}
		nfct_filter_add_attr(k->nf, dst ? NFCT_FILTER_DST_IPV6 :
		    NFCT_FILTER_SRC_IPV6, &f6);
	}
	free(copy);
	a->set = true;
	nfct_filter_set_logic(k->nf, dst ? NFCT_FILTER_DST_IPV4 :
	    NFCT_FILTER_SRC_IPV4, a->neg ? NFCT_FILTER_LOGIC_NEGATIVE :
	    NFCT_FILTER_LOGIC_POSITIVE);
	nfct_filter_set_logic(k->nf, dst ? NFCT_FILTER_DST_IPV6 :
	    NFCT_FILTER_SRC_IPV6, a->neg ? NFCT_FILTER_LOGIC_NEGATIVE :
	    NFCT_FILTER_LOGIC_POSITIVE);
	return (0);
}

/* Add the protocol option to the kernel filter. */
static int
kf_protos(struct kfilter *k, const char *spec, char *err, size_t errlen)
{
	char	*copy, *words[256];
	int	 i, n, p;

	if ((copy = strdup(spec)) == NULL)
		return (-ENOMEM);
	n = kf_split(copy, words, 255, &k->neg_proto);
	if (n <= 0) {
		snprintf(err, errlen, "--kernel-proto: %s", n == 0 ?
		    "empty list" : "too many protocols");
		free(copy);
		return (-EINVAL);
	}
	for (i = 0; i < n; i++) {
		if ((p = names_proto_parse(words[i])) < 0) {
			snprintf(err, errlen, "--kernel-proto: unknown "
			    "protocol '%s'", words[i]);
			free(copy);
			return (-EINVAL);
		}
		k->protos[p / 64] |= 1ULL << (p % 64);
		nfct_filter_add_attr_u32(k->nf, NFCT_FILTER_L4PROTO, p);
	}
	free(copy);
	k->has_proto = true;
	nfct_filter_set_logic(k->nf, NFCT_FILTER_L4PROTO, k->neg_proto ?
	    NFCT_FILTER_LOGIC_NEGATIVE : NFCT_FILTER_LOGIC_POSITIVE);
	return (0);
}

/*
 * Build the filter from the three option values (NULL when not given);
 * *kp stays NULL when none was.  Returns 0 or -errno with a message
 * naming the option in err.
 */
int
kfilter_parse(struct kfilter **kp, const char *proto, const char *src,
    const char *dst, char *err, size_t errlen)
{
	struct kfilter	*k;
	int		 error = 0;

	*kp = NULL;
	if (proto == NULL && src == NULL && dst == NULL)
		return (0);
	if ((k = calloc(1, sizeof *k)) == NULL ||
	    (k->nf = nfct_filter_create()) == NULL) {
		free(k);
		return (-ENOMEM);
	}
	if (proto != NULL)
		error = kf_protos(k, proto, err, errlen);
	if (error == 0 && src != NULL)
		error = kf_addrs(k, &k->src, "kernel-src", src, false, err,
		    errlen);
	if (error == 0 && dst != NULL)
		error = kf_addrs(k, &k->dst, "kernel-dst", dst, true, err,
		    errlen);
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

/* Free a filter; NULL is fine. */
void
kfilter_free(struct kfilter *k)
{
	if (k == NULL)
		return;
	if (k->nf != NULL)
		nfct_filter_destroy(k->nf);
	free(k);
}

/* Attach the BPF program to an event socket; 0 or -errno. */
int
kfilter_attach(const struct kfilter *k, int fd)
{
	if (nfct_filter_attach(fd, k->nf) == -1)
		return (-errno);
	return (0);
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
	/* No prefix of this family: the kernel's check is skipped. */
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
