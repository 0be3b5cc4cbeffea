/*
 * check_filter.c - the filter language: parsing, errors, matching.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "event.h"
#include "filter.h"
#include "unit.h"

/* A conntrack built attribute by attribute, as an event. */
struct fx {
	struct nf_conntrack	*ct;
	struct event		 ev;
	struct filter_view	 view;
};

/* Make an IPv4 or IPv6 conntrack event with the given tuple. */
static void
fx_ct(struct fx *x, int family, int proto, const char *src, const char *dst,
    uint16_t sport, uint16_t dport)
{
	uint8_t	s[16], d[16];

	memset(x, 0, sizeof *x);
	x->ct = nfct_new();
	ck_assert_ptr_nonnull(x->ct);
	ck_assert_int_eq(inet_pton(family, src, s), 1);
	ck_assert_int_eq(inet_pton(family, dst, d), 1);
	nfct_set_attr_u8(x->ct, ATTR_L3PROTO, family);
	nfct_set_attr_u8(x->ct, ATTR_L4PROTO, proto);
	if (family == AF_INET) {
		nfct_set_attr(x->ct, ATTR_ORIG_IPV4_SRC, s);
		nfct_set_attr(x->ct, ATTR_ORIG_IPV4_DST, d);
		nfct_set_attr(x->ct, ATTR_REPL_IPV4_SRC, d);
		nfct_set_attr(x->ct, ATTR_REPL_IPV4_DST, s);
	} else {
		nfct_set_attr(x->ct, ATTR_ORIG_IPV6_SRC, s);
		nfct_set_attr(x->ct, ATTR_ORIG_IPV6_DST, d);
		nfct_set_attr(x->ct, ATTR_REPL_IPV6_SRC, d);
		nfct_set_attr(x->ct, ATTR_REPL_IPV6_DST, s);
	}
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		nfct_set_attr_u16(x->ct, ATTR_ORIG_PORT_SRC, htons(sport));
		nfct_set_attr_u16(x->ct, ATTR_ORIG_PORT_DST, htons(dport));
		nfct_set_attr_u16(x->ct, ATTR_REPL_PORT_SRC, htons(dport));
		nfct_set_attr_u16(x->ct, ATTR_REPL_PORT_DST, htons(sport));
	}
	x->ev.type = EV_TYPE_CT;
	x->ev.kind = EV_NEW;
	x->ev.family = family;
	x->ev.ct = x->ct;
}

/* Refresh the view after changing the fixture. */
static const struct filter_view *
fx_view(struct fx *x)
{
	filter_view(&x->ev, &x->view);
	return (&x->view);
}

/* Parse a filter from text; fail the test on a parse error. */
static struct filter *
parse_ok(const char *text)
{
	char		 err[FILTER_ERRLEN] = "";
	json_error_t	 jerr;
	json_t		*v = json_loads(text, 0, &jerr);
	struct filter	*f;

	ck_assert_msg(v != NULL, "bad test JSON %s: %s", text, jerr.text);
	f = filter_parse(v, err, sizeof err);
	ck_assert_msg(f != NULL, "filter %s rejected: %s", text, err);
	json_decref(v);
	return (f);
}

/* Parse a filter that must fail with an error containing want. */
static void
parse_bad(const char *text, const char *want)
{
	char		 err[FILTER_ERRLEN] = "";
	json_t		*v = json_loads(text, 0, NULL);
	struct filter	*f;

	ck_assert_msg(v != NULL, "bad test JSON %s", text);
	f = filter_parse(v, err, sizeof err);
	ck_assert_msg(f == NULL, "filter %s accepted", text);
	ck_assert_msg(strstr(err, want) != NULL, "filter %s: error '%s' "
	    "lacks '%s'", text, err, want);
	json_decref(v);
}

/* Tell whether the text filter matches the fixture. */
static bool
matches(struct fx *x, const char *text)
{
	struct filter	*f = parse_ok(text);
	bool		 r = filter_match(f, fx_view(x));

	filter_free(f);
	return (r);
}

START_TEST(test_empty_matches_all)
{
	struct fx	x;

	fx_ct(&x, AF_INET, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 1000, 80);
	ck_assert(matches(&x, "{}"));
	ck_assert(filter_match(NULL, fx_view(&x)));
	nfct_destroy(x.ct);
}
END_TEST

START_TEST(test_types_events_family_proto)
{
	struct fx	x;

	fx_ct(&x, AF_INET, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 1000, 80);
	ck_assert(matches(&x, "{\"types\":\"ct\"}"));
	ck_assert(!matches(&x, "{\"types\":\"expect\"}"));
	ck_assert(matches(&x, "{\"types\":[\"expect\",\"ct\"]}"));
	ck_assert(matches(&x, "{\"events\":\"new\"}"));
	ck_assert(!matches(&x, "{\"events\":[\"update\",\"destroy\"]}"));
	x.ev.kind = EV_DESTROY;
	ck_assert(matches(&x, "{\"events\":[\"update\",\"destroy\"]}"));
	/* snapshot and dump lines pass an events clause */
	x.ev.kind = EV_SNAPSHOT;
	ck_assert(matches(&x, "{\"events\":\"update\"}"));
	ck_assert(matches(&x, "{\"family\":\"ipv4\"}"));
	ck_assert(!matches(&x, "{\"family\":\"ipv6\"}"));
	ck_assert(matches(&x, "{\"proto\":\"tcp\"}"));
	ck_assert(matches(&x, "{\"proto\":6}"));
	ck_assert(matches(&x, "{\"proto\":[\"udp\",\"TCP\"]}"));
	ck_assert(!matches(&x, "{\"proto\":[\"udp\",17,\"icmp\"]}"));
	nfct_destroy(x.ct);
}
END_TEST

START_TEST(test_addresses)
{
	struct fx	x;

	fx_ct(&x, AF_INET, IPPROTO_TCP, "10.1.2.3", "192.168.7.9", 1000, 80);
	ck_assert(matches(&x, "{\"src\":\"10.0.0.0/8\"}"));
	/* src matches either direction's source: the reply's is the server */
	ck_assert(matches(&x, "{\"src\":\"192.168.7.0/24\"}"));
	ck_assert(!matches(&x, "{\"src\":\"172.16.0.0/12\"}"));
	ck_assert(matches(&x, "{\"dst\":\"192.168.7.9\"}"));
	ck_assert(matches(&x, "{\"addr\":[\"1.1.1.1\",\"10.1.2.3/32\"]}"));
	ck_assert(matches(&x, "{\"orig\":{\"src\":\"10.1.2.0/24\"}}"));
	ck_assert(!matches(&x, "{\"orig\":{\"src\":\"192.168.7.9\"}}"));
	ck_assert(matches(&x, "{\"reply\":{\"src\":\"192.168.7.9\"}}"));
	ck_assert(matches(&x, "{\"src\":\"10.1.2.3/31\"}"));
	ck_assert(!matches(&x, "{\"src\":\"10.1.2.4/31\"}"));
	ck_assert(matches(&x, "{\"src\":\"0.0.0.0/0\"}"));
	/* an IPv6 CIDR never matches an IPv4 entry */
	ck_assert(!matches(&x, "{\"src\":\"::/0\"}"));
	/* host bits in the CIDR are ignored */
	ck_assert(matches(&x, "{\"src\":\"10.1.2.99/24\"}"));
	nfct_destroy(x.ct);

	fx_ct(&x, AF_INET6, IPPROTO_UDP, "2001:db8::1", "fe80::2", 5353, 53);
	ck_assert(matches(&x, "{\"src\":\"2001:db8::/32\"}"));
	ck_assert(matches(&x, "{\"orig\":{\"dst\":\"fe80::/10\"}}"));
	ck_assert(!matches(&x, "{\"orig\":{\"dst\":\"fe80::/128\"}}"));
	ck_assert(matches(&x, "{\"dst\":\"fe80::2/127\"}"));
	ck_assert(!matches(&x, "{\"src\":\"2001:db9::/32\"}"));
	ck_assert(!matches(&x, "{\"src\":\"0.0.0.0/0\"}"));
	ck_assert(matches(&x, "{\"src\":\"::/0\"}"));
	nfct_destroy(x.ct);
}
END_TEST

START_TEST(test_ports)
{
	struct fx	x;

	fx_ct(&x, AF_INET, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 40000, 443);
	ck_assert(matches(&x, "{\"dport\":443}"));
	ck_assert(matches(&x, "{\"dport\":\"443\"}"));
	ck_assert(matches(&x, "{\"dport\":\"400-500\"}"));
	ck_assert(!matches(&x, "{\"orig\":{\"dport\":\"1-442\"}}"));
	/* either direction: the reply's dport is the client's port */
	ck_assert(matches(&x, "{\"dport\":40000}"));
	ck_assert(!matches(&x, "{\"orig\":{\"dport\":40000}}"));
	ck_assert(matches(&x, "{\"port\":[22,\"39000-41000\"]}"));
	ck_assert(matches(&x, "{\"sport\":\"443-443\"}"));
	ck_assert(!matches(&x, "{\"orig\":{\"sport\":443}}"));
	nfct_destroy(x.ct);

	/* a port clause never matches a protocol without ports */
	fx_ct(&x, AF_INET, IPPROTO_ICMP, "10.0.0.1", "10.0.0.2", 0, 0);
	ck_assert(!matches(&x, "{\"dport\":\"0-65535\"}"));
	nfct_destroy(x.ct);
}
END_TEST

START_TEST(test_mark_zone_status_state)
{
	struct fx	x;

	fx_ct(&x, AF_INET, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 1, 2);
	/* no mark or zone sent: the kernel leaves out zeros */
	ck_assert(matches(&x, "{\"mark\":0}"));
	ck_assert(!matches(&x, "{\"mark\":1}"));
	ck_assert(matches(&x, "{\"zone\":0}"));
	nfct_set_attr_u32(x.ct, ATTR_MARK, 0x1234);
	ck_assert(matches(&x, "{\"mark\":4660}"));
	ck_assert(matches(&x, "{\"mark\":\"0x1234\"}"));
	ck_assert(matches(&x, "{\"mark\":\"0x30/0xf0\"}"));
	ck_assert(!matches(&x, "{\"mark\":\"0x40/0xf0\"}"));
	ck_assert(matches(&x, "{\"mark\":{\"value\":4096,\"mask\":61440}}"));
	ck_assert(matches(&x, "{\"mark\":[1,2,4660]}"));
	nfct_set_attr_u16(x.ct, ATTR_ZONE, 7);
	ck_assert(!matches(&x, "{\"zone\":0}"));
	ck_assert(matches(&x, "{\"zone\":[1,7]}"));
	ck_assert(!matches(&x, "{\"zone\":8}"));
	nfct_set_attr_u32(x.ct, ATTR_STATUS, (1 << 2) | (1 << 3));
	ck_assert(matches(&x, "{\"status\":\"ASSURED\"}"));
	ck_assert(matches(&x, "{\"status\":[\"SRC_NAT\",\"confirmed\"]}"));
	ck_assert(!matches(&x, "{\"status\":[\"SRC_NAT\",\"DST_NAT\"]}"));
	ck_assert(!matches(&x, "{\"state\":\"ESTABLISHED\"}"));
	nfct_set_attr_u8(x.ct, ATTR_TCP_STATE, 3);
	ck_assert(matches(&x, "{\"state\":\"ESTABLISHED\"}"));
	ck_assert(matches(&x, "{\"state\":[\"TIME_WAIT\",\"established\"]}"));
	ck_assert(!matches(&x, "{\"state\":\"SYN_SENT\"}"));
	nfct_destroy(x.ct);
}
END_TEST

START_TEST(test_expect_zone_mark)
{
	struct nf_expect	*exp;
	struct fx		 x;

	memset(&x, 0, sizeof x);
	exp = nfexp_new();
	ck_assert_ptr_nonnull(exp);
	x.ev.type = EV_TYPE_EXPECT;
	x.ev.kind = EV_NEW;
	x.ev.family = AF_INET;
	x.ev.exp = exp;
	/* the kernel leaves out zone 0, as for a conntrack */
	ck_assert(matches(&x, "{\"zone\":0}"));
	ck_assert(matches(&x, "{\"zone\":[5,0]}"));
	ck_assert(!matches(&x, "{\"zone\":5}"));
	ck_assert(!matches(&x, "{\"not\":{\"zone\":0}}"));
	/* an expectation has no mark: a mark clause never holds */
	ck_assert(!matches(&x, "{\"mark\":0}"));
	ck_assert(!matches(&x, "{\"mark\":\"0/0\"}"));
	ck_assert(matches(&x, "{\"not\":{\"mark\":0}}"));
	ck_assert(!matches(&x, "{\"status\":\"CONFIRMED\"}"));
	nfexp_set_attr_u16(exp, ATTR_EXP_ZONE, 5);
	ck_assert(matches(&x, "{\"zone\":5}"));
	ck_assert(!matches(&x, "{\"zone\":0}"));
	nfexp_destroy(exp);
}
END_TEST

START_TEST(test_not_and_conjunction)
{
	struct fx	x;

	fx_ct(&x, AF_INET, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 1000, 22);
	ck_assert(!matches(&x, "{\"not\":{\"dport\":22}}"));
	ck_assert(matches(&x, "{\"not\":{\"dport\":80}}"));
	ck_assert(matches(&x, "{\"proto\":\"tcp\",\"not\":{\"dport\":80}}"));
	ck_assert(!matches(&x, "{\"proto\":\"udp\",\"not\":{\"dport\":80}}"));
	/* all clauses of a not must hold for it to exclude */
	ck_assert(matches(&x,
	    "{\"not\":{\"dport\":22,\"src\":\"192.168.0.0/16\"}}"));
	/* not inside not */
	ck_assert(matches(&x, "{\"not\":{\"not\":{\"dport\":22}}}"));
	ck_assert(!matches(&x, "{\"not\":{\"not\":{\"dport\":23}}}"));
	nfct_destroy(x.ct);
}
END_TEST

START_TEST(test_any)
{
	struct fx	x;

	fx_ct(&x, AF_INET, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 1000, 22);
	ck_assert(matches(&x, "{\"any\":[{\"dport\":80},{\"dport\":22}]}"));
	ck_assert(!matches(&x, "{\"any\":[{\"dport\":80},"
	    "{\"proto\":\"udp\"}]}"));
	/* any of: a ct by its original source, or any expectation */
	ck_assert(matches(&x, "{\"any\":[{\"types\":\"expect\"},"
	    "{\"orig\":{\"src\":\"10.0.0.0/8\"}}]}"));
	ck_assert(!matches(&x, "{\"any\":[{\"types\":\"expect\"},"
	    "{\"orig\":{\"src\":\"10.0.0.2\"}}]}"));
	ck_assert(matches(&x, "{\"proto\":\"tcp\",\"any\":[{\"not\":"
	    "{\"dport\":22}},{\"sport\":1000}]}"));
	nfct_destroy(x.ct);
	parse_bad("{\"any\":[]}", "filter.any: expected a non-empty list");
	parse_bad("{\"any\":{}}", "filter.any: expected a non-empty list");
	parse_bad("{\"any\":[{\"dport\":1},{\"dport\":70000}]}",
	    "filter.any[1].dport: port 70000");
}
END_TEST

START_TEST(test_netns)
{
	struct fx	x;

	fx_ct(&x, AF_INET, IPPROTO_UDP, "10.0.0.1", "10.0.0.2", 1, 2);
	x.ev.netns = "blue";
	ck_assert(matches(&x, "{\"netns\":\"blue\"}"));
	ck_assert(matches(&x, "{\"netns\":[\"red\",\"blue\"]}"));
	ck_assert(!matches(&x, "{\"netns\":\"red\"}"));
	ck_assert(matches(&x, "{\"not\":{\"netns\":\"red\"}}"));
	x.ev.netns = NULL;
	ck_assert(!matches(&x, "{\"netns\":\"blue\"}"));
	nfct_destroy(x.ct);
	parse_bad("{\"netns\":\"\"}", "filter.netns: expected a namespace");
	parse_bad("{\"netns\":7}", "filter.netns: expected a namespace");
}
END_TEST

/* What a filter says of a resync's id-only destroy line in netns blue. */
static int
partial(const char *text)
{
	struct filter_view	 v;
	struct filter		*f = parse_ok(text);
	struct event		 ev;
	bool			 sure, may;

	unit_idonly_event(&ev, 42, "blue");
	filter_view(&ev, &v);
	ck_assert(v.partial);
	sure = filter_match(f, &v);
	may = filter_match_partial(f, &v);
	filter_free(f);
	/* What passes for sure may pass. */
	ck_assert(!sure || may);
	return (sure ? 1 : may ? -1 : 0);	/* -1: it depends */
}

START_TEST(test_partial_view)
{
	struct filter	*f;
	struct fx	 x;

	/* Known: the type, the kind, the namespace. */
	ck_assert_int_eq(partial("{}"), 1);
	ck_assert_int_eq(partial("{\"types\":\"ct\"}"), 1);
	ck_assert_int_eq(partial("{\"types\":\"expect\"}"), 0);
	ck_assert_int_eq(partial("{\"types\":[\"expect\",\"ct\"]}"), 1);
	ck_assert_int_eq(partial("{\"events\":\"destroy\"}"), 1);
	ck_assert_int_eq(partial("{\"events\":[\"new\",\"update\"]}"), 0);
	ck_assert_int_eq(partial("{\"netns\":\"blue\"}"), 1);
	ck_assert_int_eq(partial("{\"netns\":[\"red\",\"blue\"]}"), 1);
	ck_assert_int_eq(partial("{\"netns\":\"red\"}"), 0);
	/* Not known: every clause about the entry itself. */
	ck_assert_int_eq(partial("{\"family\":\"ipv4\"}"), -1);
	ck_assert_int_eq(partial("{\"proto\":\"tcp\"}"), -1);
	ck_assert_int_eq(partial("{\"src\":\"10.0.0.0/8\"}"), -1);
	ck_assert_int_eq(partial("{\"orig\":{\"dport\":80}}"), -1);
	ck_assert_int_eq(partial("{\"port\":\"1-65535\"}"), -1);
	ck_assert_int_eq(partial("{\"mark\":0}"), -1);
	ck_assert_int_eq(partial("{\"zone\":0}"), -1);
	ck_assert_int_eq(partial("{\"status\":\"ASSURED\"}"), -1);
	ck_assert_int_eq(partial("{\"state\":\"ESTABLISHED\"}"), -1);
	/* and: false wins over unknown, unknown over true */
	ck_assert_int_eq(partial("{\"netns\":\"blue\",\"proto\":\"udp\"}"),
	    -1);
	ck_assert_int_eq(partial("{\"netns\":\"red\",\"proto\":\"udp\"}"), 0);
	ck_assert_int_eq(partial("{\"types\":\"expect\",\"dport\":21}"), 0);
	ck_assert_int_eq(partial("{\"events\":\"new\",\"dport\":21}"), 0);
	/* not: of true is false, of false true, of unknown unknown */
	ck_assert_int_eq(partial("{\"not\":{\"netns\":\"blue\"}}"), 0);
	ck_assert_int_eq(partial("{\"not\":{\"netns\":\"red\"}}"), 1);
	ck_assert_int_eq(partial("{\"not\":{\"proto\":\"tcp\"}}"), -1);
	ck_assert_int_eq(partial("{\"not\":{\"not\":{\"netns\":\"red\"}}}"),
	    0);
	ck_assert_int_eq(partial("{\"not\":{\"not\":{\"proto\":\"tcp\"}}}"),
	    -1);
	ck_assert_int_eq(partial("{\"not\":{\"netns\":\"red\","
	    "\"proto\":\"tcp\"}}"), 1);
	ck_assert_int_eq(partial("{\"not\":{\"netns\":\"blue\","
	    "\"proto\":\"tcp\"}}"), -1);
	ck_assert_int_eq(partial("{\"not\":{\"types\":\"ct\","
	    "\"events\":\"destroy\"}}"), 0);
	ck_assert_int_eq(partial("{\"netns\":\"blue\",\"not\":{\"netns\":"
	    "\"red\"}}"), 1);
	ck_assert_int_eq(partial("{\"proto\":\"tcp\",\"not\":{\"netns\":"
	    "\"blue\"}}"), 0);
	/* any: true wins over unknown, unknown over false */
	ck_assert_int_eq(partial("{\"any\":[{\"netns\":\"red\"},"
	    "{\"netns\":\"blue\"}]}"), 1);
	ck_assert_int_eq(partial("{\"any\":[{\"netns\":\"red\"},"
	    "{\"types\":\"expect\"}]}"), 0);
	ck_assert_int_eq(partial("{\"any\":[{\"netns\":\"red\"},"
	    "{\"proto\":\"tcp\"}]}"), -1);
	ck_assert_int_eq(partial("{\"any\":[{\"proto\":\"tcp\"},"
	    "{\"netns\":\"blue\"}]}"), 1);
	ck_assert_int_eq(partial("{\"any\":[{\"netns\":\"red\",\"proto\":"
	    "\"tcp\"},{\"types\":\"expect\"}]}"), 0);
	ck_assert_int_eq(partial("{\"any\":[{\"not\":{\"netns\":\"blue\"}},"
	    "{\"events\":\"new\"}]}"), 0);
	ck_assert_int_eq(partial("{\"netns\":\"red\",\"any\":[{\"netns\":"
	    "\"blue\"}]}"), 0);
	ck_assert_int_eq(partial("{\"not\":{\"any\":[{\"netns\":\"red\"},"
	    "{\"dport\":53}]}}"), -1);
	ck_assert_int_eq(partial("{\"not\":{\"any\":[{\"netns\":\"blue\"},"
	    "{\"dport\":53}]}}"), 0);
	ck_assert_int_eq(partial("{\"any\":[{}]}"), 1);

	/* A full view is never in doubt: both functions agree. */
	fx_ct(&x, AF_INET, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 1000, 22);
	x.ev.netns = "blue";
	ck_assert(!fx_view(&x)->partial);
	ck_assert(filter_match_partial(NULL, &x.view));
	f = parse_ok("{\"not\":{\"proto\":\"tcp\"}}");
	ck_assert(!filter_match(f, &x.view));
	ck_assert(!filter_match_partial(f, &x.view));
	filter_free(f);
	f = parse_ok("{\"any\":[{\"netns\":\"red\"},{\"dport\":22}]}");
	ck_assert(filter_match(f, &x.view));
	ck_assert(filter_match_partial(f, &x.view));
	filter_free(f);
	nfct_destroy(x.ct);
}
END_TEST

START_TEST(test_bad_filters_name_the_field)
{
	parse_bad("[]", "filter: expected an object");
	parse_bad("{\"bogus\":1}", "filter.bogus: unknown member");
	parse_bad("{\"types\":\"flow\"}", "filter.types: unknown type 'flow'");
	parse_bad("{\"events\":\"snapshot\"}", "filter.events: unknown event");
	parse_bad("{\"events\":[]}", "filter.events: empty list");
	parse_bad("{\"family\":\"ipv5\"}", "filter.family: unknown family");
	parse_bad("{\"proto\":\"foo\"}", "filter.proto: unknown protocol");
	parse_bad("{\"proto\":256}", "filter.proto: protocol 256 out of range");
	parse_bad("{\"proto\":true}", "filter.proto: expected a protocol");
	parse_bad("{\"src\":\"10.0.0.0/33\"}", "filter.src: invalid address");
	parse_bad("{\"src\":\"::1/129\"}", "filter.src: invalid address");
	parse_bad("{\"dst\":\"example.com\"}", "filter.dst: invalid address");
	parse_bad("{\"dst\":5}", "filter.dst: expected an address");
	parse_bad("{\"dport\":70000}", "filter.dport: port 70000 out of range");
	parse_bad("{\"dport\":-1}", "filter.dport: port -1 out of range");
	parse_bad("{\"dport\":\"90-80\"}", "filter.dport: invalid port");
	parse_bad("{\"dport\":\"80-\"}", "filter.dport: invalid port range");
	parse_bad("{\"dport\":[[80]]}", "filter.dport: nested list");
	parse_bad("{\"orig\":{\"dport\":70000}}",
	    "filter.orig.dport: port 70000");
	parse_bad("{\"orig\":{\"mark\":1}}", "filter.orig.mark: unknown member");
	parse_bad("{\"reply\":5}", "filter.reply: expected an object");
	parse_bad("{\"mark\":\"0x1/zz\"}", "filter.mark: invalid mark");
	parse_bad("{\"mark\":4294967296}", "filter.mark: expected a 32-bit");
	parse_bad("{\"mark\":{\"value\":1,\"mask\":-1}}", "filter.mark: value");
	parse_bad("{\"mark\":{\"val\":1}}", "filter.mark: expected {");
	parse_bad("{\"zone\":65536}", "filter.zone: expected a zone");
	parse_bad("{\"status\":\"SOMETIMES\"}",
	    "filter.status: unknown status flag 'SOMETIMES'");
	parse_bad("{\"state\":\"DANCING\"}", "filter.state: unknown state");
	parse_bad("{\"not\":[]}", "filter.not: expected an object");
	parse_bad("{\"not\":{\"not\":{\"proto\":\"x\"}}}",
	    "filter.not.not.proto: unknown protocol");
	parse_bad("{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":"
	    "{\"not\":{\"not\":{}}}}}}}}}", "nested more than");
}
END_TEST

START_TEST(test_masks_and_hints)
{
	struct filter_hints	 h;
	struct filter		*f;

	ck_assert_uint_eq(filter_types(NULL), EV_TYPES_ALL);
	f = parse_ok("{\"types\":\"expect\",\"events\":\"destroy\"}");
	ck_assert_uint_eq(filter_types(f), EV_TYPE_BIT(EV_TYPE_EXPECT));
	ck_assert_uint_eq(filter_kinds(f), EV_KIND_BIT(EV_DESTROY));
	filter_free(f);

	f = parse_ok("{\"family\":\"ipv6\",\"mark\":\"0x10/0xf0\",\"zone\":3,"
	    "\"status\":\"ASSURED\"}");
	filter_hints(f, &h);
	ck_assert_int_eq(h.family, AF_INET6);
	ck_assert(h.has_mark);
	ck_assert_uint_eq(h.mark, 0x10);
	ck_assert_uint_eq(h.mark_mask, 0xf0);
	ck_assert(h.has_zone);
	ck_assert_uint_eq(h.zone, 3);
	ck_assert(h.has_status);
	ck_assert_uint_eq(h.status, 1 << 2);
	filter_free(f);

	/* any-of lists cannot be pushed to the kernel */
	f = parse_ok("{\"family\":[\"ipv4\",\"ipv6\"],\"mark\":[1,2],"
	    "\"status\":[\"ASSURED\",\"SRC_NAT\"],\"not\":{\"zone\":4}}");
	filter_hints(f, &h);
	ck_assert_int_eq(h.family, 0);
	ck_assert(!h.has_mark);
	ck_assert(!h.has_zone);
	ck_assert(!h.has_status);
	filter_free(f);
}
END_TEST

Suite *
make_filter_suite(void)
{
	Suite	*s = suite_create("filter");
	TCase	*tc = tcase_create("filter");

	tcase_add_test(tc, test_empty_matches_all);
	tcase_add_test(tc, test_types_events_family_proto);
	tcase_add_test(tc, test_addresses);
	tcase_add_test(tc, test_ports);
	tcase_add_test(tc, test_mark_zone_status_state);
	tcase_add_test(tc, test_expect_zone_mark);
	tcase_add_test(tc, test_not_and_conjunction);
	tcase_add_test(tc, test_netns);
	tcase_add_test(tc, test_any);
	tcase_add_test(tc, test_partial_view);
	tcase_add_test(tc, test_bad_filters_name_the_field);
	tcase_add_test(tc, test_masks_and_hints);
	suite_add_tcase(s, tc);
	return (s);
}
