/*
 * fuzz_filter.c - libFuzzer harness: the subscriber filter language.
 *
 * The input is a JSON text.  Whatever it is, filter_parse() must either
 * return a filter or refuse with a message; a filter is then matched
 * against fixed views of every kind of event (IPv4 and IPv6 conntracks
 * with and without ports, ICMP, an expectation, a view with nothing set,
 * snapshot and dump kinds), and its types, kinds and kernel hints are
 * read, as the fan-out and the dump path do.  Two checks tie the parts
 * together: a filter whose types or kinds leave an event out must not
 * match it, a kernel hint must never be stricter than the filter (every
 * view the filter matches passes the hint), and {"not": F} must match
 * exactly where F does not, {"any": [F]} exactly where F does.
 *
 * Each view also has a partial twin, as a resync's id-only destroy line
 * is seen (type, kind and namespace only), which filter_match_partial()
 * decides in three-valued logic: a partial line may never be withheld
 * from a filter that its full entry matches, filter_match_partial() is
 * filter_match() on a full view, and on a partial view "not" turns one
 * into the other.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "filter.h"
#include "fuzz.h"

#define NVIEWS	8

static struct filter_view	views[NVIEWS];
static struct filter_view	partial[NVIEWS];	/* id-only twins */

/* Fill one tuple of a view from text addresses and ports. */
static void
view_tuple(struct filter_tuple *t, int family, const char *src,
    const char *dst, int sport, int dport)
{
	if (src != NULL)
		t->has_src = inet_pton(family, src, t->src) == 1;
	if (dst != NULL)
		t->has_dst = inet_pton(family, dst, t->dst) == 1;
	if (sport >= 0) {
		t->has_sport = true;
		t->sport = (uint16_t)sport;
	}
	if (dport >= 0) {
		t->has_dport = true;
		t->dport = (uint16_t)dport;
	}
}

/* Make the fixed views. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct filter_view	*v;
	size_t			 i;

	/* 0: IPv4 TCP, new, with mark, zone, status and state. */
	v = &views[0];
	v->type = EV_TYPE_CT;
	v->kind = EV_NEW;
	v->family = AF_INET;
	v->has_proto = true;
	v->proto = IPPROTO_TCP;
	view_tuple(&v->t[0], AF_INET, "10.1.2.3", "192.0.2.80", 40000, 80);
	view_tuple(&v->t[1], AF_INET, "192.0.2.80", "10.1.2.3", 80, 40000);
	v->has_mark = v->has_zone = v->has_status = v->has_state = true;
	v->mark = 0x12345678;
	v->zone = 1;
	v->status = 0xe;
	v->state = 3;

	/* 1: IPv6 UDP, destroy, labelled with a namespace. */
	v = &views[1];
	v->type = EV_TYPE_CT;
	v->kind = EV_DESTROY;
	v->family = AF_INET6;
	v->has_proto = true;
	v->proto = IPPROTO_UDP;
	view_tuple(&v->t[0], AF_INET6, "2001:db8::1", "fe80::2", 5353, 53);
	view_tuple(&v->t[1], AF_INET6, "fe80::2", "2001:db8::1", 53, 5353);
	v->netns = "blue";

	/* 2: ICMP echo, update: no ports. */
	v = &views[2];
	v->type = EV_TYPE_CT;
	v->kind = EV_UPDATE;
	v->family = AF_INET;
	v->has_proto = true;
	v->proto = IPPROTO_ICMP;
	view_tuple(&v->t[0], AF_INET, "127.0.0.1", "127.0.0.2", -1, -1);
	view_tuple(&v->t[1], AF_INET, "127.0.0.2", "127.0.0.1", -1, -1);
	v->has_status = true;
	v->status = 0x8;

	/* 3: an FTP expectation (master and expected tuples). */
	v = &views[3];
	v->type = EV_TYPE_EXPECT;
	v->kind = EV_NEW;
	v->family = AF_INET;
	v->has_proto = true;
	v->proto = IPPROTO_TCP;
	view_tuple(&v->t[0], AF_INET, "192.0.2.1", "192.0.2.2", 43312, 21);
	view_tuple(&v->t[1], AF_INET, "192.0.2.1", "192.0.2.2", 0, 51210);
	v->has_zone = true;

	/* 4: nothing known but the family (the decoder insists on one). */
	views[4].type = EV_TYPE_CT;
	views[4].kind = EV_NEW;
	views[4].family = AF_INET;

	/* 5, 6: a snapshot and a dump line (events clauses pass them). */
	views[5] = views[0];
	views[5].kind = EV_SNAPSHOT;
	views[6] = views[3];
	views[6].kind = EV_DUMP;

	/* 7: SCTP over IPv6 with half a tuple. */
	v = &views[7];
	v->type = EV_TYPE_CT;
	v->kind = EV_UPDATE;
	v->family = AF_INET6;
	v->has_proto = true;
	v->proto = 132;
	view_tuple(&v->t[0], AF_INET6, "::1", NULL, 1, -1);
	v->has_state = true;
	v->state = 3;
	v->netns = "host";

	/* What an id-only line of each would show. */
	for (i = 0; i < NVIEWS; i++) {
		partial[i].type = views[i].type;
		partial[i].kind = views[i].kind;
		partial[i].family = views[i].family;
		partial[i].netns = views[i].netns;
		partial[i].partial = true;
	}
	return (0);
}

/* Tell whether a view passes what a kernel dump would filter. */
static bool
hint_passes(const struct filter_hints *h, const struct filter_view *v)
{
	if (h->family != 0 && v->family != h->family)
		return (false);
	if (h->has_mark && (!v->has_mark ||
	    (v->mark & h->mark_mask) != h->mark))
		return (false);
	if (h->has_zone && (!v->has_zone || v->zone != h->zone))
		return (false);
	if (h->has_status && (!v->has_status ||
	    (v->status & h->status) == 0))
		return (false);
	return (true);
}

/*
 * Parse {key: j} ({"not": F} or {"any": [F]}) where j is a valid filter;
 * only the nesting limit may refuse it.
 */
static struct filter *
wrap(const char *fmt, const char *key, json_t *j, json_t **wp)
{
	struct filter	*f;
	char		 err[FILTER_ERRLEN];

	if ((*wp = json_pack(fmt, key, j)) == NULL)
		return (NULL);
	err[0] = '\0';
	if ((f = filter_parse(*wp, err, sizeof err)) == NULL &&
	    strstr(err, "deep") == NULL)
		fuzz_fail("\"%s\" of a valid filter refused: %s", key, err);
	return (f);
}

/* One input: a JSON text that may be a filter. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct filter_hints	 h;
	struct filter		*f, *nf, *af;
	json_t			*j, *n, *a;
	char			 err[FILTER_ERRLEN];
	size_t			 i, len;
	bool			 m, mp;

	if ((j = json_loadb((const char *)data, size, JSON_DECODE_ANY |
	    JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return (0);
	err[0] = '\0';
	if ((f = filter_parse(j, err, sizeof err)) == NULL) {
		len = strnlen(err, sizeof err);
		if (len == 0 || len == sizeof err)
			fuzz_fail("refused without a message");
		json_decref(j);
		return (0);
	}
	filter_hints(f, &h);
	nf = wrap("{s:O}", "not", j, &n);
	af = wrap("{s:[O]}", "any", j, &a);
	for (i = 0; i < NVIEWS; i++) {
		m = filter_match(f, &views[i]);
		if (m && (filter_types(f) & EV_TYPE_BIT(views[i].type)) == 0)
			fuzz_fail("view %zu matched outside the filter's "
			    "types", i);
		if (m && views[i].kind <= EV_DESTROY &&
		    (filter_kinds(f) & EV_KIND_BIT(views[i].kind)) == 0)
			fuzz_fail("view %zu matched outside the filter's "
			    "kinds", i);
		if (m && !hint_passes(&h, &views[i]))
			fuzz_fail("view %zu matched but fails the kernel hint",
			    i);
		if (nf != NULL && filter_match(nf, &views[i]) == m)
			fuzz_fail("view %zu: \"not\" matched like the filter",
			    i);
		if (af != NULL && filter_match(af, &views[i]) != m)
			fuzz_fail("view %zu: \"any\" of one filter matched "
			    "unlike it", i);
		if (filter_match_partial(f, &views[i]) != m)
			fuzz_fail("view %zu: the partial match of a full view "
			    "differs", i);

		mp = filter_match_partial(f, &partial[i]);
		if (m && !mp)
			fuzz_fail("view %zu matched, its id-only line not", i);
		if (filter_match(f, &partial[i]) && !mp)
			fuzz_fail("partial view %zu matched for sure but not "
			    "maybe", i);
		if (nf != NULL &&
		    (filter_match_partial(nf, &partial[i]) !=
		    !filter_match(f, &partial[i]) ||
		    filter_match(nf, &partial[i]) != !mp))
			fuzz_fail("partial view %zu: \"not\" is not the "
			    "converse", i);
	}
	filter_free(af);
	json_decref(a);
	filter_free(nf);
	json_decref(n);
	filter_free(f);
	json_decref(j);
	return (0);
}
