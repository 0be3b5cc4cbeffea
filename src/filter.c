/*
 * filter.c - the subscriber filter language.
 *
 * A filter is a JSON object; its members are clauses and all of them must
 * hold.  A list means any of its values.  Example:
 *
 *   {"types":"ct","events":["new","destroy"],"family":"ipv4",
 *    "proto":["tcp","udp"],"dst":"10.0.0.0/8","dport":["80","8000-8999"],
 *    "mark":"0x10/0xf0","not":{"src":"10.1.2.3"}}
 *
 * Clauses: types, events, family, proto, src, dst, addr (either end),
 * sport, dport, port (either end), orig and reply (objects of the address
 * and port clauses restricted to that direction), mark (N, "V/M" or
 * {"value":V,"mask":M}), zone, status (flag names, any of), state, netns
 * (the namespace an entry comes from), not (a filter object whose match
 * is negated) and any (a list of filter objects of which one must
 * match); not and any may nest.
 *
 * Address and port clauses without a direction look at both directions
 * of a conntrack, and at the master and expected tuples of an
 * expectation.  A zone the kernel left out is zone 0, for both types, and
 * so is a conntrack's mark.  Clauses about things an entry does not have
 * (a mark or a status on an expectation, a port on ICMP) do not match
 * it.  "events" selects live events only: snapshot, dump and get lines
 * always pass it.  A resync's id-only destroy line, of which only the
 * type, kind and namespace are known, passes unless the filter is false
 * whatever the rest (filter_match_partial()).
 *
 * Parsing is strict: an unknown member, a wrong type or a bad value is an
 * error naming the member, e.g. "filter.orig.dport: port 70000 out of
 * range".  The parsed form is matched against a filter_view, the facts of
 * an event extracted once however many subscribers look at it.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "cidr.h"
#include "filter.h"
#include "names.h"

#define FILTER_MAXDEPTH	8	/* nesting of "not" */
#define FILTER_MAXVALS	1024	/* values in one list */

enum fkey { K_SRC, K_DST, K_ANY };	/* which end of a tuple */
enum fdir { D_ANY = -1, D_ORIG = 0, D_REPLY = 1 };

struct prange {
	uint16_t	lo, hi;
};

struct addrclause {
	enum fkey	 key;
	enum fdir	 dir;
	struct cidr	*v;
	size_t		 n;
};

struct portclause {
	enum fkey	 key;
	enum fdir	 dir;
	struct prange	*v;
	size_t		 n;
};

struct markval {
	uint32_t	value, mask;
};

struct stateval {
	uint8_t		proto;
	uint8_t		state;
};

struct filter {
	unsigned int		 types;		/* 0: any */
	unsigned int		 kinds;		/* 0: any */
	unsigned int		 families;	/* bit 0 ipv4, 1 ipv6; 0: any */
	bool			 has_protos;
	uint64_t		 protos[4];
	struct addrclause	*addrs;
	size_t			 naddrs;
	struct portclause	*ports;
	size_t			 nports;
	struct markval		*marks;
	size_t			 nmarks;
	uint16_t		*zones;
	size_t			 nzones;
	bool			 has_status;
	uint32_t		 status;
	struct stateval		*states;
	size_t			 nstates;
	struct filter		**nots;
	size_t			 nnots;
	struct filter		**anys;		/* one list: any must match */
	size_t			 nanys;
	char			**netns;
	size_t			 nnetns;
};

/* Parsing context: where we are, for error messages. */
struct pctx {
	char		 path[128];
	char		*err;
	size_t		 errlen;
	int		 depth;
};

/* Record an error about the member being parsed; returns -1. */
static int __attribute__((format(printf, 2, 3)))
perr(struct pctx *c, const char *fmt, ...)
{
	char	msg[192];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s", c->path, msg);
	return (-1);
}

/* Call fn for a value or for each value of a list; -1 on error. */
static int
each(struct pctx *c, const json_t *v, int (*fn)(struct pctx *, const json_t *,
    void *), void *arg)
{
	size_t	 i;
	json_t	*e;

	if (!json_is_array(v))
		return (fn(c, v, arg));
	if (json_array_size(v) == 0)
		return (perr(c, "empty list"));
	if (json_array_size(v) > FILTER_MAXVALS)
		return (perr(c, "more than %d values", FILTER_MAXVALS));
	json_array_foreach(v, i, e) {
		if (json_is_array(e))
			return (perr(c, "nested list"));
		if (fn(c, e, arg) == -1)
			return (-1);
	}
	return (0);
}

/* Grow an array of n elements of size sz by one; NULL on failure. */
static void *
grow(void *p, size_t n, size_t sz)
{
	return (reallocarray(p, n + 1, sz));
}

/* Parse one name with parse() into a bit of the mask in arg. */
struct namebits {
	int		(*parse)(const char *);
	unsigned int	*mask;
	const char	*what;
};

static int
p_namebit(struct pctx *c, const json_t *v, void *arg)
{
	struct namebits	*nb = arg;
	int		 bit;

	if (!json_is_string(v))
		return (perr(c, "expected a string or a list of strings"));
	if ((bit = nb->parse(json_string_value(v))) < 0)
		return (perr(c, "unknown %s '%s'", nb->what,
		    json_string_value(v)));
	*nb->mask |= 1U << bit;
	return (0);
}

/* Map "ipv4"/"ipv6" to bits 0 and 1 for the families mask. */
static int
family_bit(const char *s)
{
	switch (names_family_parse(s)) {
	case AF_INET:
		return (0);
	case AF_INET6:
		return (1);
	default:
		return (-1);
	}
}

/* Parse a live event kind name (snapshot, dump, get are not selectable). */
static int
live_kind(const char *s)
{
	int	k = event_kind_parse(s);

	return (k >= 0 && (EV_LIVE_KINDS & EV_KIND_BIT(k)) ? k : -1);
}

/* Parse one protocol, a name or a number. */
static int
p_proto(struct pctx *c, const json_t *v, void *arg)
{
	struct filter	*f = arg;
	json_int_t	 n;
	int		 p;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
		if (n < 0 || n > 255)
			return (perr(c, "protocol %lld out of range 0-255",
			    (long long)n));
		p = (int)n;
	} else if (json_is_string(v)) {
		if ((p = names_proto_parse(json_string_value(v))) < 0)
			return (perr(c, "unknown protocol '%s'",
			    json_string_value(v)));
	} else
		return (perr(c, "expected a protocol name or number"));
	f->has_protos = true;
	f->protos[p / 64] |= 1ULL << (p % 64);
	return (0);
}

static int
p_cidr(struct pctx *c, const json_t *v, void *arg)
{
	struct addrclause	*ac = arg;
	struct cidr		 cidr, *nv;

	if (!json_is_string(v))
		return (perr(c, "expected an address or CIDR string"));
	if (cidr_parse(json_string_value(v), &cidr) == -1)
		return (perr(c, "invalid address or CIDR '%s'",
		    json_string_value(v)));
	if ((nv = grow(ac->v, ac->n, sizeof *nv)) == NULL)
		return (perr(c, "out of memory"));
	ac->v = nv;
	ac->v[ac->n++] = cidr;
	return (0);
}

/* Parse a port number (0-65535) from text; -1 if invalid. */
static int
parse_port(const char *s, const char **end)
{
	long	n = 0;

	if (*s < '0' || *s > '9')
		return (-1);
	while (*s >= '0' && *s <= '9') {
		n = n * 10 + (*s++ - '0');
		if (n > 65535)
			return (-1);
	}
	*end = s;
	return ((int)n);
}

/* Parse a port, a "LO-HI" range, or a list of those. */
static int
p_port(struct pctx *c, const json_t *v, void *arg)
{
	struct portclause	*pc = arg;
	struct prange		 r, *nv;
	const char		*s, *end;
	json_int_t		 n;
	int			 lo, hi;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
		if (n < 0 || n > 65535)
			return (perr(c, "port %lld out of range 0-65535",
			    (long long)n));
		r.lo = r.hi = (uint16_t)n;
	} else if (json_is_string(v)) {
		s = end = json_string_value(v);
		if ((lo = parse_port(s, &end)) < 0)
			return (perr(c, "invalid port or range '%s'", s));
		hi = lo;
		if (*end == '-') {
			s = end + 1;
			if ((hi = parse_port(s, &end)) < 0)
				return (perr(c, "invalid port range '%s'",
				    json_string_value(v)));
		}
		if (*end != '\0' || hi < lo)
			return (perr(c, "invalid port or range '%s'",
			    json_string_value(v)));
		r.lo = (uint16_t)lo;
		r.hi = (uint16_t)hi;
	} else
		return (perr(c, "expected a port, a \"LO-HI\" range or a list"));
	if ((nv = grow(pc->v, pc->n, sizeof *nv)) == NULL)
		return (perr(c, "out of memory"));
	pc->v = nv;
	pc->v[pc->n++] = r;
	return (0);
}

/* Parse a u32 written in decimal or 0x-hex; -1 if invalid. */
static int
parse_u32_str(const char *s, uint32_t *out)
{
	char			*end;
	unsigned long long	 n;

	if (*s < '0' || *s > '9')
		return (-1);
	errno = 0;
	n = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || n > UINT32_MAX)
		return (-1);
	*out = (uint32_t)n;
	return (0);
}

/* Parse a u32 from a JSON integer or a decimal/hex string. */
static int
parse_u32(const json_t *v, uint32_t *out)
{
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 ||
		    json_integer_value(v) > UINT32_MAX)
			return (-1);
		*out = (uint32_t)json_integer_value(v);
		return (0);
	}
	if (!json_is_string(v))
		return (-1);
	return (parse_u32_str(json_string_value(v), out));
}

/* Parse a mark: N, "V/M" or {"value":V,"mask":M}. */
static int
p_mark(struct pctx *c, const json_t *v, void *arg)
{
	struct filter	*f = arg;
	struct markval	 m = { 0, UINT32_MAX }, *nv;
	const char	*s, *slash;
	char		 tmp[32];
	json_t		*jv, *jm;

	if (json_is_object(v)) {
		jv = json_object_get(v, "value");
		jm = json_object_get(v, "mask");
		if (jv == NULL || json_object_size(v) != (jm ? 2U : 1U))
			return (perr(c, "expected {\"value\":V,\"mask\":M}"));
		if (parse_u32(jv, &m.value) == -1 ||
		    (jm != NULL && parse_u32(jm, &m.mask) == -1))
			return (perr(c, "value and mask must be 32-bit "
			    "unsigned integers"));
	} else if (json_is_string(v) &&
	    (slash = strchr(s = json_string_value(v), '/')) != NULL) {
		if ((size_t)(slash - s) >= sizeof tmp)
			return (perr(c, "invalid mark '%s'", s));
		memcpy(tmp, s, slash - s);
		tmp[slash - s] = '\0';
		if (parse_u32_str(tmp, &m.value) == -1 ||
		    parse_u32_str(slash + 1, &m.mask) == -1)
			return (perr(c, "invalid mark '%s' (expected "
			    "VALUE/MASK)", s));
	} else if (parse_u32(v, &m.value) == -1)
		return (perr(c, "expected a 32-bit mark, \"VALUE/MASK\" or "
		    "{\"value\":V,\"mask\":M}"));
	m.value &= m.mask;
	if ((nv = grow(f->marks, f->nmarks, sizeof *nv)) == NULL)
		return (perr(c, "out of memory"));
	f->marks = nv;
	f->marks[f->nmarks++] = m;
	return (0);
}

/* Parse a namespace name. */
static int
p_netns(struct pctx *c, const json_t *v, void *arg)
{
	struct filter	*f = arg;
	char		**nv;

	if (!json_is_string(v) || json_string_length(v) == 0)
		return (perr(c, "expected a namespace name or a list"));
	if ((nv = grow(f->netns, f->nnetns, sizeof *nv)) == NULL)
		return (perr(c, "out of memory"));
	f->netns = nv;
	if ((f->netns[f->nnetns] = strdup(json_string_value(v))) == NULL)
		return (perr(c, "out of memory"));
	f->nnetns++;
	return (0);
}

/* Parse a zone number. */
static int
p_zone(struct pctx *c, const json_t *v, void *arg)
{
	struct filter	*f = arg;
	uint16_t	*nv;

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 65535)
		return (perr(c, "expected a zone number 0-65535"));
	if ((nv = grow(f->zones, f->nzones, sizeof *nv)) == NULL)
		return (perr(c, "out of memory"));
	f->zones = nv;
	f->zones[f->nzones++] = (uint16_t)json_integer_value(v);
	return (0);
}

/* Parse a status flag name. */
static int
p_status(struct pctx *c, const json_t *v, void *arg)
{
	struct filter	*f = arg;
	int		 bit;

	if (!json_is_string(v))
		return (perr(c, "expected a status flag name or a list"));
	if ((bit = names_status_parse(json_string_value(v))) < 0)
		return (perr(c, "unknown status flag '%s'",
		    json_string_value(v)));
	f->has_status = true;
	f->status |= 1U << bit;
	return (0);
}

/* Parse a state name: it may name a TCP, SCTP and DCCP state at once. */
static int
p_state(struct pctx *c, const json_t *v, void *arg)
{
	static const uint8_t	 protos[] = { IPPROTO_TCP, IPPROTO_SCTP, 33 };
	struct filter		*f = arg;
	struct stateval		*nv;
	size_t			 i;
	int			 st, found = 0;

	if (!json_is_string(v))
		return (perr(c, "expected a state name or a list"));
	for (i = 0; i < sizeof protos; i++) {
		st = names_state_parse(protos[i], json_string_value(v));
		if (st < 0)
			continue;
		if ((nv = grow(f->states, f->nstates, sizeof *nv)) == NULL)
			return (perr(c, "out of memory"));
		f->states = nv;
		f->states[f->nstates].proto = protos[i];
		f->states[f->nstates++].state = (uint8_t)st;
		found = 1;
	}
	if (!found)
		return (perr(c, "unknown state '%s'", json_string_value(v)));
	return (0);
}

/* Add an address clause for key/dir from value v. */
static int
add_addr(struct pctx *c, struct filter *f, enum fkey key, enum fdir dir,
    const json_t *v)
{
	struct addrclause	 ac = { key, dir, NULL, 0 }, *nv;

	if (each(c, v, p_cidr, &ac) == -1) {
		free(ac.v);
		return (-1);
	}
	if ((nv = grow(f->addrs, f->naddrs, sizeof *nv)) == NULL) {
		free(ac.v);
		return (perr(c, "out of memory"));
	}
	f->addrs = nv;
	f->addrs[f->naddrs++] = ac;
	return (0);
}

/* Add a port clause for key/dir from value v. */
static int
add_port(struct pctx *c, struct filter *f, enum fkey key, enum fdir dir,
    const json_t *v)
{
	struct portclause	 pc = { key, dir, NULL, 0 }, *nv;

	if (each(c, v, p_port, &pc) == -1) {
		free(pc.v);
		return (-1);
	}
	if ((nv = grow(f->ports, f->nports, sizeof *nv)) == NULL) {
		free(pc.v);
		return (perr(c, "out of memory"));
	}
	f->ports = nv;
	f->ports[f->nports++] = pc;
	return (0);
}

/* The clauses that take an address or a port, with their tuple end. */
static const struct {
	const char	*name;
	enum fkey	 key;
	bool		 port;
} tuple_clauses[] = {
	{ "src", K_SRC, false },
	{ "dst", K_DST, false },
	{ "addr", K_ANY, false },
	{ "sport", K_SRC, true },
	{ "dport", K_DST, true },
	{ "port", K_ANY, true },
};

/* Parse an address or port clause; 1 if name is not one. */
static int
p_tuple_clause(struct pctx *c, struct filter *f, const char *name,
    enum fdir dir, const json_t *v)
{
	size_t	i;

	for (i = 0; i < sizeof tuple_clauses / sizeof tuple_clauses[0]; i++) {
		if (strcmp(tuple_clauses[i].name, name) != 0)
			continue;
		if (tuple_clauses[i].port)
			return (add_port(c, f, tuple_clauses[i].key, dir, v));
		return (add_addr(c, f, tuple_clauses[i].key, dir, v));
	}
	return (1);
}

/* Extend the path with ".name" for the duration of a member. */
static size_t
path_push(struct pctx *c, const char *name)
{
	size_t	len = strlen(c->path);

	snprintf(c->path + len, sizeof c->path - len, ".%s", name);
	return (len);
}

/* Parse a named direction object: {"src":..,"dport":..}. */
static int
p_direction(struct pctx *c, struct filter *f, enum fdir dir, const json_t *v)
{
	const char	*name;
	json_t		*m;
	size_t		 len;
	int		 r;

	if (!json_is_object(v))
		return (perr(c, "expected an object of address and port "
		    "clauses"));
	json_object_foreach((json_t *)v, name, m) {
		len = path_push(c, name);
		r = p_tuple_clause(c, f, name, dir, m);
		if (r == 1)
			r = perr(c, "unknown member (expected src, dst, addr, "
			    "sport, dport or port)");
		if (r == -1)
			return (-1);
		c->path[len] = '\0';
	}
	return (0);
}

static struct filter	*parse_obj(struct pctx *, const json_t *);

/* Parse one member of a filter object. */
static int
p_member(struct pctx *c, struct filter *f, const char *name, const json_t *v)
{
	struct namebits	 nb;
	struct filter	*sub, **nv;
	int		 r;

	if ((r = p_tuple_clause(c, f, name, D_ANY, v)) != 1)
		return (r);
	if (strcmp(name, "types") == 0) {
		nb = (struct namebits){ event_type_parse, &f->types, "type" };
		return (each(c, v, p_namebit, &nb));
	}
	if (strcmp(name, "events") == 0) {
		nb = (struct namebits){ live_kind, &f->kinds, "event" };
		return (each(c, v, p_namebit, &nb));
	}
	if (strcmp(name, "family") == 0) {
		nb = (struct namebits){ family_bit, &f->families, "family" };
		return (each(c, v, p_namebit, &nb));
	}
	if (strcmp(name, "proto") == 0)
		return (each(c, v, p_proto, f));
	if (strcmp(name, "orig") == 0)
		return (p_direction(c, f, D_ORIG, v));
	if (strcmp(name, "reply") == 0)
		return (p_direction(c, f, D_REPLY, v));
	if (strcmp(name, "mark") == 0)
		return (each(c, v, p_mark, f));
	if (strcmp(name, "zone") == 0)
		return (each(c, v, p_zone, f));
	if (strcmp(name, "status") == 0)
		return (each(c, v, p_status, f));
	if (strcmp(name, "state") == 0)
		return (each(c, v, p_state, f));
	if (strcmp(name, "netns") == 0)
		return (each(c, v, p_netns, f));
	if (strcmp(name, "any") == 0) {
		size_t	 i;
		json_t	*e;
		size_t	 len = strlen(c->path);

		if (!json_is_array(v) || json_array_size(v) == 0)
			return (perr(c, "expected a non-empty list of filter "
			    "objects"));
		if (json_array_size(v) > FILTER_MAXVALS)
			return (perr(c, "more than %d filters", FILTER_MAXVALS));
		json_array_foreach(v, i, e) {
			snprintf(c->path + len, sizeof c->path - len, "[%zu]",
			    i);
			if ((sub = parse_obj(c, e)) == NULL)
				return (-1);
			if ((nv = grow(f->anys, f->nanys, sizeof *nv)) ==
			    NULL) {
				filter_free(sub);
				return (perr(c, "out of memory"));
			}
			f->anys = nv;
			f->anys[f->nanys++] = sub;
		}
		c->path[len] = '\0';
		return (0);
	}
	if (strcmp(name, "not") == 0) {
		if ((sub = parse_obj(c, v)) == NULL)
			return (-1);
		if ((nv = grow(f->nots, f->nnots, sizeof *nv)) == NULL) {
			filter_free(sub);
			return (perr(c, "out of memory"));
		}
		f->nots = nv;
		f->nots[f->nnots++] = sub;
		return (0);
	}
	return (perr(c, "unknown member"));
}

/* Parse a filter object at the current path. */
static struct filter *
parse_obj(struct pctx *c, const json_t *v)
{
	struct filter	*f;
	const char	*name;
	json_t		*m;
	size_t		 len;

	if (!json_is_object(v)) {
		perr(c, "expected an object");
		return (NULL);
	}
	if (++c->depth > FILTER_MAXDEPTH) {
		perr(c, "nested more than %d deep", FILTER_MAXDEPTH);
		return (NULL);
	}
	if ((f = calloc(1, sizeof *f)) == NULL) {
		perr(c, "out of memory");
		return (NULL);
	}
	json_object_foreach((json_t *)v, name, m) {
		len = path_push(c, name);
		if (p_member(c, f, name, m) == -1) {
			filter_free(f);
			return (NULL);
		}
		c->path[len] = '\0';
	}
	c->depth--;
	return (f);
}

/*
 * Parse a filter from a JSON object.  On error returns NULL and writes a
 * message naming the member into err, e.g. "filter.proto: unknown
 * protocol 'foo'".
 */
struct filter *
filter_parse(const json_t *v, char *err, size_t errlen)
{
	struct pctx	c;

	memset(&c, 0, sizeof c);
	strcpy(c.path, "filter");
	c.err = err;
	c.errlen = errlen;
	return (parse_obj(&c, v));
}

/* Free a filter; NULL is fine. */
void
filter_free(struct filter *f)
{
	size_t	i;

	if (f == NULL)
		return;
	for (i = 0; i < f->naddrs; i++)
		free(f->addrs[i].v);
	for (i = 0; i < f->nports; i++)
		free(f->ports[i].v);
	for (i = 0; i < f->nnots; i++)
		filter_free(f->nots[i]);
	for (i = 0; i < f->nanys; i++)
		filter_free(f->anys[i]);
	free(f->anys);
	for (i = 0; i < f->nnetns; i++)
		free(f->netns[i]);
	free(f->netns);
	free(f->addrs);
	free(f->ports);
	free(f->marks);
	free(f->zones);
	free(f->states);
	free(f->nots);
	free(f);
}

/* The types a filter can match (all when it does not say). */
unsigned int
filter_types(const struct filter *f)
{
	return (f == NULL || f->types == 0 ? EV_TYPES_ALL : f->types);
}

/* The live kinds a filter can match (all when it does not say). */
unsigned int
filter_kinds(const struct filter *f)
{
	return (f == NULL || f->kinds == 0 ? EV_LIVE_KINDS : f->kinds);
}

/*
 * Find what of a filter the kernel can apply to a dump: a single family,
 * a single mark with its mask, a single zone, a single status flag.  Only
 * top-level clauses count, and the userspace match still runs, so a hint
 * is never stricter than the filter.
 */
void
filter_hints(const struct filter *f, struct filter_hints *h)
{
	memset(h, 0, sizeof *h);
	if (f == NULL)
		return;
	if (f->families == 1)
		h->family = AF_INET;
	else if (f->families == 2)
		h->family = AF_INET6;
	if (f->nmarks == 1) {
		h->has_mark = true;
		h->mark = f->marks[0].value;
		h->mark_mask = f->marks[0].mask;
	}
	if (f->nzones == 1 && f->zones[0] != 0) {
		h->has_zone = true;
		h->zone = f->zones[0];
	}
	if (f->has_status && (f->status & (f->status - 1)) == 0) {
		h->has_status = true;
		h->status = f->status;
	}
}

/* Copy one address attribute into a view tuple. */
static bool
view_addr(const struct nf_conntrack *ct, uint8_t family, int a4, int a6,
    uint8_t out[16])
{
	if (family == AF_INET && nfct_attr_is_set(ct, a4) > 0) {
		memset(out, 0, 16);
		memcpy(out, nfct_get_attr(ct, a4), 4);
		return (true);
	}
	if (family == AF_INET6 && nfct_attr_is_set(ct, a6) > 0) {
		memcpy(out, nfct_get_attr(ct, a6), 16);
		return (true);
	}
	return (false);
}

/* Fill one view tuple from a conntrack object's direction. */
static void
view_tuple(const struct nf_conntrack *ct, uint8_t family, bool reply,
    struct filter_tuple *t)
{
	int	sp = reply ? ATTR_REPL_PORT_SRC : ATTR_ORIG_PORT_SRC;
	int	dp = reply ? ATTR_REPL_PORT_DST : ATTR_ORIG_PORT_DST;

	t->has_src = view_addr(ct, family,
	    reply ? ATTR_REPL_IPV4_SRC : ATTR_ORIG_IPV4_SRC,
	    reply ? ATTR_REPL_IPV6_SRC : ATTR_ORIG_IPV6_SRC, t->src);
	t->has_dst = view_addr(ct, family,
	    reply ? ATTR_REPL_IPV4_DST : ATTR_ORIG_IPV4_DST,
	    reply ? ATTR_REPL_IPV6_DST : ATTR_ORIG_IPV6_DST, t->dst);
	if ((t->has_sport = nfct_attr_is_set(ct, sp) > 0))
		t->sport = ntohs(nfct_get_attr_u16(ct, sp));
	if ((t->has_dport = nfct_attr_is_set(ct, dp) > 0))
		t->dport = ntohs(nfct_get_attr_u16(ct, dp));
}

/* Extract the facts filters look at from an event. */
void
filter_view(const struct event *ev, struct filter_view *v)
{
	const struct nf_conntrack	*ct = ev->ct, *t;
	const struct nf_expect		*exp = ev->exp;

	memset(v, 0, sizeof *v);
	v->type = ev->type;
	v->kind = ev->kind;
	v->family = ev->family;
	v->netns = ev->netns;
	/* A vanished entry known by its id only: nothing more to see. */
	if (ev->idonly) {
		v->partial = true;
		return;
	}
	if (ev->type == EV_TYPE_CT) {
		if ((v->has_proto = nfct_attr_is_set(ct, ATTR_L4PROTO) > 0))
			v->proto = nfct_get_attr_u8(ct, ATTR_L4PROTO);
		view_tuple(ct, ev->family, false, &v->t[0]);
		view_tuple(ct, ev->family, true, &v->t[1]);
		/*
		 * The kernel leaves out a mark and a zone of 0 (the mark is
		 * sent when it changes or is not 0): absent means 0.
		 */
		v->has_mark = v->has_zone = true;
		if (nfct_attr_is_set(ct, ATTR_MARK) > 0)
			v->mark = nfct_get_attr_u32(ct, ATTR_MARK);
		if (nfct_attr_is_set(ct, ATTR_ZONE) > 0)
			v->zone = nfct_get_attr_u16(ct, ATTR_ZONE);
		if ((v->has_status = nfct_attr_is_set(ct, ATTR_STATUS) > 0))
			v->status = nfct_get_attr_u32(ct, ATTR_STATUS);
		if (nfct_attr_is_set(ct, ATTR_TCP_STATE) > 0) {
			v->has_state = true;
			v->state = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
		} else if (nfct_attr_is_set(ct, ATTR_SCTP_STATE) > 0) {
			v->has_state = true;
			v->state = nfct_get_attr_u8(ct, ATTR_SCTP_STATE);
		} else if (nfct_attr_is_set(ct, ATTR_DCCP_STATE) > 0) {
			v->has_state = true;
			v->state = nfct_get_attr_u8(ct, ATTR_DCCP_STATE);
		}
		return;
	}
	/* The protocol as the encoder writes it: expected tuple first. */
	if (nfexp_attr_is_set(exp, ATTR_EXP_EXPECTED) > 0) {
		t = nfexp_get_attr(exp, ATTR_EXP_EXPECTED);
		view_tuple(t, ev->family, false, &v->t[1]);
		if ((v->has_proto = nfct_attr_is_set(t, ATTR_L4PROTO) > 0))
			v->proto = nfct_get_attr_u8(t, ATTR_L4PROTO);
	}
	if (nfexp_attr_is_set(exp, ATTR_EXP_MASTER) > 0) {
		t = nfexp_get_attr(exp, ATTR_EXP_MASTER);
		view_tuple(t, ev->family, false, &v->t[0]);
		if (!v->has_proto &&
		    (v->has_proto = nfct_attr_is_set(t, ATTR_L4PROTO) > 0))
			v->proto = nfct_get_attr_u8(t, ATTR_L4PROTO);
	}
	/* As for a conntrack, the kernel leaves out zone 0; no mark. */
	v->has_zone = true;
	if (nfexp_attr_is_set(exp, ATTR_EXP_ZONE) > 0)
		v->zone = nfexp_get_attr_u16(exp, ATTR_EXP_ZONE);
}

/* Tell whether one tuple end's address is in any CIDR of a clause. */
static bool
addr_in(const struct addrclause *ac, uint8_t family, bool has,
    const uint8_t *addr)
{
	size_t	i;

	if (!has)
		return (false);
	for (i = 0; i < ac->n; i++)
		if (cidr_match(&ac->v[i], family, addr))
			return (true);
	return (false);
}

/* Match an address clause against the view's tuples. */
static bool
match_addr(const struct addrclause *ac, const struct filter_view *v)
{
	const struct filter_tuple	*t;
	int				 d;

	for (d = 0; d < 2; d++) {
		if (ac->dir != D_ANY && ac->dir != d)
			continue;
		if (ac->dir != D_ANY && v->type != EV_TYPE_CT)
			continue;
		t = &v->t[d];
		if (ac->key != K_DST && addr_in(ac, v->family, t->has_src,
		    t->src))
			return (true);
		if (ac->key != K_SRC && addr_in(ac, v->family, t->has_dst,
		    t->dst))
			return (true);
	}
	return (false);
}

/* Tell whether a port is in any range of a clause. */
static bool
port_in(const struct portclause *pc, bool has, uint16_t port)
{
	size_t	i;

	if (!has)
		return (false);
	for (i = 0; i < pc->n; i++)
		if (port >= pc->v[i].lo && port <= pc->v[i].hi)
			return (true);
	return (false);
}

/* Match a port clause against the view's tuples. */
static bool
match_port(const struct portclause *pc, const struct filter_view *v)
{
	const struct filter_tuple	*t;
	int				 d;

	if (!v->has_proto || !names_proto_has_ports(v->proto))
		return (false);
	for (d = 0; d < 2; d++) {
		if (pc->dir != D_ANY && pc->dir != d)
			continue;
		if (pc->dir != D_ANY && v->type != EV_TYPE_CT)
			continue;
		t = &v->t[d];
		if (pc->key != K_DST && port_in(pc, t->has_sport, t->sport))
			return (true);
		if (pc->key != K_SRC && port_in(pc, t->has_dport, t->dport))
			return (true);
	}
	return (false);
}

/* The result of a filter for a view that may lack facts. */
enum fres {
	R_FALSE,
	R_TRUE,
	R_UNKNOWN		/* it depends on facts the view lacks */
};

/*
 * Match the clauses about the entry itself, which a partial view does not
 * know: family, protocol, addresses, ports, mark, zone, status, state.
 */
static enum fres
filter_eval_entry(const struct filter *f, const struct filter_view *v)
{
	size_t	i, j;
	bool	ok;

	if (v->partial) {
		if (f->families != 0 || f->has_protos || f->naddrs > 0 ||
		    f->nports > 0 || f->nmarks > 0 || f->nzones > 0 ||
		    f->has_status || f->nstates > 0)
			return (R_UNKNOWN);
		return (R_TRUE);
	}
	if (f->families != 0) {
		if (v->family == AF_INET && (f->families & 1) == 0)
			return (R_FALSE);
		if (v->family == AF_INET6 && (f->families & 2) == 0)
			return (R_FALSE);
	}
	if (f->has_protos && (!v->has_proto ||
	    (f->protos[v->proto / 64] & (1ULL << (v->proto % 64))) == 0))
		return (R_FALSE);
	for (i = 0; i < f->naddrs; i++)
		if (!match_addr(&f->addrs[i], v))
			return (R_FALSE);
	for (i = 0; i < f->nports; i++)
		if (!match_port(&f->ports[i], v))
			return (R_FALSE);
	if (f->nmarks > 0) {
		if (!v->has_mark)
			return (R_FALSE);
		for (ok = false, i = 0; i < f->nmarks && !ok; i++)
			ok = (v->mark & f->marks[i].mask) == f->marks[i].value;
		if (!ok)
			return (R_FALSE);
	}
	if (f->nzones > 0) {
		if (!v->has_zone)
			return (R_FALSE);
		for (ok = false, i = 0; i < f->nzones && !ok; i++)
			ok = v->zone == f->zones[i];
		if (!ok)
			return (R_FALSE);
	}
	if (f->has_status && (!v->has_status || (v->status & f->status) == 0))
		return (R_FALSE);
	if (f->nstates > 0) {
		if (!v->has_state || !v->has_proto)
			return (R_FALSE);
		for (ok = false, j = 0; j < f->nstates && !ok; j++)
			ok = f->states[j].proto == v->proto &&
			    f->states[j].state == v->state;
		if (!ok)
			return (R_FALSE);
	}
	return (R_TRUE);
}

/*
 * Evaluate a filter in three-valued logic: a clause about a fact the
 * view lacks is unknown, "not" of unknown is unknown, a conjunction is
 * false if a clause is false and otherwise unknown if one is unknown, and
 * "any" is true if one filter is true and otherwise unknown if one is
 * unknown.  A full view never gives unknown.
 */
static enum fres
filter_eval(const struct filter *f, const struct filter_view *v)
{
	enum fres	r, sub;
	size_t		i;
	bool		ok;

	if (f == NULL)
		return (R_TRUE);
	/* What every view knows: the type, the kind and the namespace. */
	if (f->types != 0 && (f->types & EV_TYPE_BIT(v->type)) == 0)
		return (R_FALSE);
	if (f->kinds != 0 && (EV_LIVE_KINDS & EV_KIND_BIT(v->kind)) != 0 &&
	    (f->kinds & EV_KIND_BIT(v->kind)) == 0)
		return (R_FALSE);
	if (f->nnetns > 0) {
		if (v->netns == NULL)
			return (R_FALSE);
		for (ok = false, i = 0; i < f->nnetns && !ok; i++)
			ok = strcmp(f->netns[i], v->netns) == 0;
		if (!ok)
			return (R_FALSE);
	}
	if ((r = filter_eval_entry(f, v)) == R_FALSE)
		return (R_FALSE);
	for (i = 0; i < f->nnots; i++) {
		if ((sub = filter_eval(f->nots[i], v)) == R_TRUE)
			return (R_FALSE);
		if (sub == R_UNKNOWN)
			r = R_UNKNOWN;
	}
	if (f->nanys > 0) {
		sub = R_FALSE;
		for (i = 0; i < f->nanys && sub != R_TRUE; i++) {
			switch (filter_eval(f->anys[i], v)) {
			case R_TRUE:
				sub = R_TRUE;
				break;
			case R_UNKNOWN:
				sub = R_UNKNOWN;
				break;
			case R_FALSE:
				break;
			}
		}
		if (sub == R_FALSE)
			return (R_FALSE);
		if (sub == R_UNKNOWN)
			r = R_UNKNOWN;
	}
	return (r);
}

/* Tell whether an event's view passes a filter for sure (NULL passes all). */
bool
filter_match(const struct filter *f, const struct filter_view *v)
{
	return (filter_eval(f, v) == R_TRUE);
}

/*
 * Tell whether a partial view (a resync's id-only line: type, kind and
 * namespace known) may pass a filter: it does unless the filter is false
 * whatever the facts it lacks.  For a full view, as filter_match().
 */
bool
filter_match_partial(const struct filter *f, const struct filter_view *v)
{
	return (filter_eval(f, v) != R_FALSE);
}
