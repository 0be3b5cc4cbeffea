/*
 * ctl-args.c - ctstreamctl's arguments turned into the members of
 * requests: tuples from "PROTO SRC[:PORT] DST[:PORT]", filters from the
 * options of watch, dump and flush.
 *
 * Everything is checked here, with the names the daemon uses (names.c), so
 * that a mistake is a usage error naming the argument rather than a
 * daemon's message naming a JSON member.  The daemon checks again.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "names.h"

/* Record an error message; returns -1. */
static int __attribute__((format(printf, 3, 4)))
ctl_args_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return (-1);
}

/*
 * Parse an unsigned number, decimal or 0x-hexadecimal, of at most max.
 * Returns 0, or -1 if s is not such a number.
 */
int
ctl_args_u32(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long	 n;
	char			*end;
	int			 base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!isxdigit((unsigned char)s[0]) ||
	    (base == 10 && !isdigit((unsigned char)s[0])))
		return (-1);
	errno = 0;
	n = strtoull(s, &end, base);
	if (errno != 0 || *end != '\0' || n > max)
		return (-1);
	*out = n;
	return (0);
}

/* Parse a protocol name or number; -1 if unknown. */
int
ctl_args_proto(const char *s)
{
	return (names_proto_parse(s));
}

/*
 * Split an endpoint: ADDRESS, ADDRESS:PORT, [IPV6] or [IPV6]:PORT (a bare
 * IPv6 address has no port).  what names the argument in errors.
 */
static int
ctl_args_endpoint(const char *what, const char *arg, char *addr,
    size_t addrlen, int *family, long *port, char *err, size_t errlen)
{
	unsigned long long	 n;
	unsigned char		 bin[16];
	const char		*p = arg, *colon, *close, *portstr = NULL;
	size_t			 alen;
	bool			 bracket = false;

	*port = -1;
	if (arg[0] == '[') {
		bracket = true;
		if ((close = strchr(arg, ']')) == NULL)
			return (ctl_args_err(err, errlen, "%s '%s': missing "
			    "']'", what, arg));
		p = arg + 1;
		alen = (size_t)(close - p);
		if (close[1] == ':')
			portstr = close + 2;
		else if (close[1] != '\0')
			return (ctl_args_err(err, errlen, "%s '%s': expected "
			    "[ADDRESS] or [ADDRESS]:PORT", what, arg));
	} else if ((colon = strchr(arg, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		alen = (size_t)(colon - arg);
		portstr = colon + 1;
	} else
		alen = strlen(arg);
	if (alen == 0 || alen >= addrlen)
		return (ctl_args_err(err, errlen, "%s '%s': invalid address",
		    what, arg));
	memcpy(addr, p, alen);
	addr[alen] = '\0';
	if (!bracket && inet_pton(AF_INET, addr, bin) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, addr, bin) == 1)
		*family = AF_INET6;
	else
		return (ctl_args_err(err, errlen, "%s '%s': invalid address "
		    "'%s'", what, arg, addr));
	if (portstr != NULL) {
		if (ctl_args_u32(portstr, 65535, &n) == -1)
			return (ctl_args_err(err, errlen, "%s '%s': invalid "
			    "port '%s' (0 to 65535)", what, arg, portstr));
		*port = (long)n;
	}
	return (0);
}

/* Parse an optional ICMP member into obj; -1 on error. */
static int
ctl_args_icmp_member(json_t *obj, const char *name, const char *opt,
    const char *v, unsigned long long max, char *err, size_t errlen)
{
	unsigned long long	n = 0;

	if (v != NULL && ctl_args_u32(v, max, &n) == -1)
		return (ctl_args_err(err, errlen, "--%s '%s': expected a "
		    "number from 0 to %llu", opt, v, max));
	json_object_set_new(obj, name, json_integer((json_int_t)n));
	return (0);
}

/*
 * Build a request tuple from PROTO SRC[:PORT] DST[:PORT] and the ICMP
 * options.  Returns a new object, or NULL with a message in err.
 */
json_t *
ctl_args_tuple(const char *proto, const char *src, const char *dst,
    const struct ctl_icmp *icmp, char *err, size_t errlen)
{
	char		 sa[INET6_ADDRSTRLEN + 1], da[INET6_ADDRSTRLEN + 1];
	char		 num[NAMES_NUMLEN];
	const char	*pname;
	json_t		*t;
	long		 sp, dp;
	int		 p, sf, df;

	if ((p = ctl_args_proto(proto)) < 0) {
		ctl_args_err(err, errlen, "invalid protocol '%s'", proto);
		return (NULL);
	}
	pname = names_proto((uint8_t)p, num);
	if (ctl_args_endpoint("source", src, sa, sizeof sa, &sf, &sp, err,
	    errlen) == -1 || ctl_args_endpoint("destination", dst, da,
	    sizeof da, &df, &dp, err, errlen) == -1)
		return (NULL);
	if (sf != df) {
		ctl_args_err(err, errlen, "source '%s' and destination '%s' "
		    "are of different address families", src, dst);
		return (NULL);
	}
	if (names_proto_has_ports((uint8_t)p)) {
		if (sp < 0 || dp < 0) {
			ctl_args_err(err, errlen, "%s '%s': a port is needed "
			    "for %s (ADDRESS:PORT, [IPV6]:PORT)", sp < 0 ?
			    "source" : "destination", sp < 0 ? src : dst,
			    pname);
			return (NULL);
		}
	} else if (sp >= 0 || dp >= 0) {
		ctl_args_err(err, errlen, "%s '%s': ports do not apply to %s",
		    sp >= 0 ? "source" : "destination", sp >= 0 ? src : dst,
		    pname);
		return (NULL);
	}
	if ((p == IPPROTO_ICMP && sf != AF_INET) ||
	    (p == IPPROTO_ICMPV6 && sf != AF_INET6)) {
		ctl_args_err(err, errlen, "protocol '%s' needs %s addresses",
		    proto, p == IPPROTO_ICMP ? "IPv4" : "IPv6");
		return (NULL);
	}
	if (!names_proto_is_icmp((uint8_t)p) && (icmp->type != NULL ||
	    icmp->code != NULL || icmp->id != NULL)) {
		ctl_args_err(err, errlen, "--icmp-type, --icmp-code and "
		    "--icmp-id apply to icmp and icmpv6 only");
		return (NULL);
	}
	if (names_proto_is_icmp((uint8_t)p) && icmp->type == NULL) {
		ctl_args_err(err, errlen, "--icmp-type is needed for %s",
		    pname);
		return (NULL);
	}

	t = json_pack("{s:s,s:s,s:s}", "proto", pname, "src", sa, "dst", da);
	if (t == NULL) {
		ctl_args_err(err, errlen, "out of memory");
		return (NULL);
	}
	if (sp >= 0) {
		json_object_set_new(t, "sport", json_integer(sp));
		json_object_set_new(t, "dport", json_integer(dp));
	}
	if (names_proto_is_icmp((uint8_t)p) &&
	    (ctl_args_icmp_member(t, "icmp_type", "icmp-type", icmp->type,
	    255, err, errlen) == -1 ||
	    ctl_args_icmp_member(t, "icmp_code", "icmp-code", icmp->code,
	    255, err, errlen) == -1 ||
	    ctl_args_icmp_member(t, "icmp_id", "icmp-id", icmp->id, 65535,
	    err, errlen) == -1)) {
		json_decref(t);
		return (NULL);
	}
	return (t);
}

/*
 * Call fn for each word of a comma-separated list; an empty word is an
 * error.  Returns 0 or -1.
 */
static int
ctl_args_each(const char *opt, const char *list,
    int (*fn)(const char *, const char *, void *, char *, size_t), void *arg,
    char *err, size_t errlen)
{
	char	*copy, *word, *next;
	int	 r = 0;

	if ((copy = strdup(list)) == NULL)
		return (ctl_args_err(err, errlen, "out of memory"));
	for (word = copy; word != NULL && r == 0; word = next) {
		if ((next = strchr(word, ',')) != NULL)
			*next++ = '\0';
		if (*word == '\0')
			r = ctl_args_err(err, errlen, "--%s '%s': empty "
			    "value in the list", opt, list);
		else
			r = fn(opt, word, arg, err, errlen);
	}
	free(copy);
	return (r);
}

/* Append one label bit number (0 to 127) to the array arg. */
static int
ctl_args_label(const char *opt, const char *w, void *arg, char *err,
    size_t errlen)
{
	unsigned long long	n;

	if (ctl_args_u32(w, 127, &n) == -1)
		return (ctl_args_err(err, errlen, "--%s: invalid label '%s' "
		    "(a bit number from 0 to 127)", opt, w));
	json_array_append_new(arg, json_integer((json_int_t)n));
	return (0);
}

/*
 * Append the label bits of a --label list to labels; "none" (or an empty
 * argument) adds nothing, so that the result clears every label.
 */
int
ctl_args_labels(json_t *labels, const char *list, char *err, size_t errlen)
{
	if (*list == '\0' || strcmp(list, "none") == 0)
		return (0);
	return (ctl_args_each("label", list, ctl_args_label, labels, err,
	    errlen));
}

/* Append one status flag name, as the daemon spells it, to arg. */
static int
ctl_args_status(const char *opt, const char *w, void *arg, char *err,
    size_t errlen)
{
	int	bit;

	if ((bit = names_status_parse(w)) < 0)
		return (ctl_args_err(err, errlen, "--%s: unknown status flag "
		    "'%s'", opt, w));
	json_array_append_new(arg, json_string(names_status_bit(
	    (unsigned int)bit)));
	return (0);
}

/* Append the status flags of a --status list to flags. */
int
ctl_args_statuses(json_t *flags, const char *list, char *err, size_t errlen)
{
	return (ctl_args_each("status", list, ctl_args_status, flags, err,
	    errlen));
}

/* Check an address or CIDR: ADDRESS or ADDRESS/LEN. */
static int
ctl_args_cidr(const char *opt, const char *w, char *err, size_t errlen)
{
	unsigned long long	 len;
	unsigned char		 bin[16];
	char			 a[INET6_ADDRSTRLEN + 1];
	const char		*slash = strchr(w, '/');
	size_t			 alen = slash ? (size_t)(slash - w) : strlen(w);
	int			 max;

	if (alen == 0 || alen >= sizeof a)
		goto bad;
	memcpy(a, w, alen);
	a[alen] = '\0';
	if (inet_pton(AF_INET, a, bin) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, a, bin) == 1)
		max = 128;
	else
		goto bad;
	if (slash != NULL && ctl_args_u32(slash + 1, (unsigned)max, &len) == -1)
		goto bad;
	return (0);
bad:
	return (ctl_args_err(err, errlen, "--%s: invalid address or CIDR "
	    "'%s'", opt, w));
}

/* Turn a port or "LO-HI" into its filter value; NULL if invalid. */
static json_t *
ctl_args_port(const char *w)
{
	unsigned long long	 lo, hi;
	char			 a[16];
	const char		*dash = strchr(w, '-');

	if (dash == NULL)
		return (ctl_args_u32(w, 65535, &lo) == 0 ?
		    json_integer((json_int_t)lo) : NULL);
	if ((size_t)(dash - w) >= sizeof a)
		return (NULL);
	memcpy(a, w, (size_t)(dash - w));
	a[dash - w] = '\0';
	if (ctl_args_u32(a, 65535, &lo) == -1 ||
	    ctl_args_u32(dash + 1, 65535, &hi) == -1 || hi < lo)
		return (NULL);
	return (json_sprintf("%llu-%llu", lo, hi));
}

/* Turn a mark V or V/M into its filter value; NULL if invalid. */
static json_t *
ctl_args_mark(const char *w)
{
	unsigned long long	 v, m;
	char			 a[32];
	const char		*slash = strchr(w, '/');

	if (slash == NULL)
		return (ctl_args_u32(w, UINT32_MAX, &v) == 0 ?
		    json_integer((json_int_t)v) : NULL);
	if ((size_t)(slash - w) >= sizeof a)
		return (NULL);
	memcpy(a, w, (size_t)(slash - w));
	a[slash - w] = '\0';
	if (ctl_args_u32(a, UINT32_MAX, &v) == -1 ||
	    ctl_args_u32(slash + 1, UINT32_MAX, &m) == -1)
		return (NULL);
	return (json_sprintf("0x%llx/0x%llx", v, m));
}

/* Where one filter option's values go. */
struct ctl_args_clause {
	json_t		*list;
	const char	*key;
};

/* Check one value of a filter option and append its filter form. */
static int
ctl_args_value(const char *opt, const char *w, void *arg, char *err,
    size_t errlen)
{
	struct ctl_args_clause	*cl = arg;
	const char		*k = cl->key;
	char			 num[NAMES_NUMLEN], up[64];
	json_t			*v = NULL;
	unsigned long long	 n;
	size_t			 i;
	int			 p;

	if (strcmp(k, "types") == 0) {
		if (strcmp(w, "ct") == 0 || strcmp(w, "expect") == 0)
			v = json_string(w);
	} else if (strcmp(k, "events") == 0) {
		if (strcmp(w, "new") == 0 || strcmp(w, "update") == 0 ||
		    strcmp(w, "destroy") == 0)
			v = json_string(w);
	} else if (strcmp(k, "family") == 0) {
		if (strcmp(w, "ipv4") == 0 || strcmp(w, "ipv6") == 0)
			v = json_string(w);
	} else if (strcmp(k, "proto") == 0) {
		if ((p = ctl_args_proto(w)) >= 0)
			v = json_string(names_proto((uint8_t)p, num));
	} else if (strcmp(k, "src") == 0 || strcmp(k, "dst") == 0) {
		if (ctl_args_cidr(opt, w, err, errlen) == -1)
			return (-1);
		v = json_string(w);
	} else if (strcmp(k, "sport") == 0 || strcmp(k, "dport") == 0)
		v = ctl_args_port(w);
	else if (strcmp(k, "mark") == 0)
		v = ctl_args_mark(w);
	else if (strcmp(k, "zone") == 0) {
		if (ctl_args_u32(w, 65535, &n) == 0)
			v = json_integer((json_int_t)n);
	} else if (strcmp(k, "status") == 0)
		return (ctl_args_status(opt, w, cl->list, err, errlen));
	else if (strcmp(k, "netns") == 0)
		v = json_string(w);	/* a label: the daemon checks it */
	else if (strcmp(k, "state") == 0) {
		if (names_state_parse(0, w) >= 0 && strlen(w) < sizeof up) {
			for (i = 0; w[i] != '\0'; i++)
				up[i] = (char)toupper((unsigned char)w[i]);
			up[i] = '\0';
			v = json_string(up);
		}
	}
	if (v == NULL)
		return (ctl_args_err(err, errlen, "--%s: invalid value '%s'",
		    opt, w));
	json_array_append_new(cl->list, v);
	return (0);
}

/*
 * Add the values of one filter option to filter, under key (types,
 * events, family, proto, src, dst, sport, dport, mark, zone, status,
 * state, netns), the name of the option too.  With directed, src, dst,
 * sport and dport look at the original direction only, as in
 * conntrack(8).  Returns 0 or -1 with a message in err.
 */
int
ctl_args_filter_add(json_t *filter, bool directed, const char *key,
    const char *list, char *err, size_t errlen)
{
	struct ctl_args_clause	 cl;
	json_t			*parent = filter, *orig;

	if (directed && (strcmp(key, "src") == 0 || strcmp(key, "dst") == 0 ||
	    strcmp(key, "sport") == 0 || strcmp(key, "dport") == 0)) {
		if ((orig = json_object_get(filter, "orig")) == NULL) {
			orig = json_object();
			json_object_set_new(filter, "orig", orig);
		}
		parent = orig;
	}
	if ((cl.list = json_object_get(parent, key)) == NULL) {
		cl.list = json_array();
		json_object_set_new(parent, key, cl.list);
	}
	cl.key = key;
	return (ctl_args_each(key, list, ctl_args_value, &cl, err, errlen));
}

/*
 * Merge the filter object written in text (--filter) into filter.  A
 * member both give is an error, except orig and reply, whose members are
 * merged the same way.  Returns 0 or -1 with a message in err.
 */
int
ctl_args_filter_merge(json_t *filter, const char *text, char *err,
    size_t errlen)
{
	json_error_t	 jerr;
	json_t		*add, *v, *mine, *sv;
	const char	*k, *sk;

	add = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (add == NULL)
		return (ctl_args_err(err, errlen, "--filter: invalid JSON at "
		    "column %d: %s", jerr.column, jerr.text));
	if (!json_is_object(add)) {
		json_decref(add);
		return (ctl_args_err(err, errlen, "--filter: must be a JSON "
		    "object"));
	}
	json_object_foreach(add, k, v) {
		if ((mine = json_object_get(filter, k)) == NULL) {
			json_object_set(filter, k, v);
			continue;
		}
		if ((strcmp(k, "orig") != 0 && strcmp(k, "reply") != 0) ||
		    !json_is_object(v) || !json_is_object(mine))
			goto conflict;
		json_object_foreach(v, sk, sv) {
			if (json_object_get(mine, sk) != NULL) {
				k = sk;
				goto conflict;
			}
			json_object_set(mine, sk, sv);
		}
	}
	json_decref(add);
	return (0);
conflict:
	ctl_args_err(err, errlen, "--filter: member '%s' is also given by "
	    "an option", k);
	json_decref(add);
	return (-1);
}
