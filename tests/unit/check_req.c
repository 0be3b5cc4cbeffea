/*
 * check_req.c - request tuples from JSON, and the messages built from them,
 * and the framing and validation of command lines.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "cmd.h"
#include "decode.h"
#include "req.h"
#include "unit.h"

/* Parse a request object from text. */
static json_t *
j(const char *text)
{
	json_error_t	 e;
	json_t		*v = json_loads(text, 0, &e);

	ck_assert_msg(v != NULL, "bad test JSON %s: %s", text, e.text);
	return (v);
}

/* A request whose conntrack part must parse. */
static void
ct_ok(const char *text, bool change, struct req_ct *rc)
{
	char	 err[REQ_ERRLEN] = "";
	json_t	*v = j(text);

	ck_assert_msg(req_parse_ct(v, rc, change, err, sizeof err) == 0,
	    "%s rejected: %s", text, err);
	json_decref(v);
}

/* A request whose conntrack part must fail with an error naming want. */
static void
ct_bad(const char *text, const char *want)
{
	char		 err[REQ_ERRLEN] = "";
	struct req_ct	 rc;
	json_t		*v = j(text);

	ck_assert_msg(req_parse_ct(v, &rc, true, err, sizeof err) == -1,
	    "%s accepted", text);
	ck_assert_msg(strstr(err, want) != NULL, "%s: error '%s' lacks '%s'",
	    text, err, want);
	json_decref(v);
}

START_TEST(test_tuple_parse)
{
	struct req_ct	rc;
	uint8_t		a[16];
	uint32_t	words[REQ_LABELS / 4];

	ct_ok("{\"tuple\":{\"family\":\"ipv4\",\"proto\":\"tcp\",\"src\":"
	    "\"192.168.50.40\",\"dst\":\"192.168.50.50\",\"sport\":58198,"
	    "\"dport\":21},\"dir\":\"orig\"}", false, &rc);
	ck_assert_int_eq(rc.orig.family, AF_INET);
	ck_assert_int_eq(rc.orig.proto, IPPROTO_TCP);
	inet_pton(AF_INET, "192.168.50.40", a);
	ck_assert_mem_eq(rc.orig.src, a, 4);
	ck_assert_uint_eq(rc.orig.sport, 58198);
	ck_assert_uint_eq(rc.orig.dport, 21);
	ck_assert(rc.orig.has_ports);
	ck_assert_int_eq(rc.dir, REQ_ORIG);

	/* family deduced; reply direction; zone; id */
	ct_ok("{\"tuple\":{\"proto\":\"udp\",\"src\":\"::1\",\"dst\":"
	    "\"2001:db8::5\",\"sport\":1,\"dport\":53},\"dir\":\"reply\","
	    "\"zone\":7,\"ct_id\":4294967295}", false, &rc);
	ck_assert_int_eq(rc.orig.family, AF_INET6);
	ck_assert_int_eq(rc.dir, REQ_REPLY);
	ck_assert(rc.has_zone);
	ck_assert_uint_eq(rc.zone, 7);
	ck_assert(rc.has_id);
	ck_assert_uint_eq(rc.id, 4294967295U);

	ct_ok("{\"tuple\":{\"proto\":\"icmp\",\"src\":\"10.0.0.1\",\"dst\":"
	    "\"10.0.0.2\",\"icmp_type\":8,\"icmp_code\":0,\"icmp_id\":77}}",
	    false, &rc);
	ck_assert(rc.orig.has_icmp);
	ck_assert(!rc.orig.has_ports);
	ck_assert_uint_eq(rc.orig.icmp_type, 8);
	ck_assert_uint_eq(rc.orig.icmp_id, 77);

	ct_ok("{\"tuple\":{\"proto\":\"tcp\",\"src\":\"1.1.1.1\",\"dst\":"
	    "\"2.2.2.2\",\"sport\":0,\"dport\":65535},\"mark\":42,"
	    "\"labels\":[0,5,127],\"timeout\":30,\"status\":[\"ASSURED\","
	    "\"SEEN_REPLY\"],\"state\":\"ESTABLISHED\"}", true, &rc);
	ck_assert(rc.has_mark);
	ck_assert_uint_eq(rc.mark, 42);
	ck_assert(rc.has_labels);
	/* rc.labels is not aligned for a uint32_t: copy the words out. */
	memcpy(words, rc.labels, sizeof words);
	ck_assert_uint_eq(words[0], (1U << 0) | (1U << 5));
	ck_assert_uint_eq(words[3], 1U << 31);
	ck_assert_uint_eq(rc.status, (1U << 2) | (1U << 1));
	ck_assert_uint_eq(rc.state, 3);
}
END_TEST

START_TEST(test_tuple_errors)
{
	ct_bad("{}", "tuple: missing");
	ct_bad("{\"tuple\":[]}", "tuple: must be an object");
	ct_bad("{\"tuple\":{\"proto\":\"tcp\",\"dst\":\"1.1.1.1\","
	    "\"sport\":1,\"dport\":2}}", "missing member 'src'");
	ct_bad("{\"tuple\":{\"proto\":\"tcp\",\"src\":\"1.1.1.300\","
	    "\"dst\":\"1.1.1.1\",\"sport\":1,\"dport\":2}}",
	    "src: invalid address '1.1.1.300'");
	ct_bad("{\"tuple\":{\"proto\":\"tcp\",\"src\":\"1.1.1.1\","
	    "\"dst\":\"::1\",\"sport\":1,\"dport\":2}}", "different families");
	ct_bad("{\"tuple\":{\"family\":\"ipv6\",\"proto\":\"tcp\",\"src\":"
	    "\"1.1.1.1\",\"dst\":\"1.1.1.2\",\"sport\":1,\"dport\":2}}",
	    "family ipv6 does not match");
	ct_bad("{\"tuple\":{\"family\":\"inet\",\"proto\":\"tcp\",\"src\":"
	    "\"1.1.1.1\",\"dst\":\"1.1.1.2\",\"sport\":1,\"dport\":2}}",
	    "family must be");
	ct_bad("{\"tuple\":{\"proto\":\"tcp\",\"src\":\"1.1.1.1\","
	    "\"dst\":\"1.1.1.2\",\"sport\":1,\"dport\":65536}}",
	    "dport must be an integer from 0 to 65535");
	ct_bad("{\"tuple\":{\"proto\":\"tcp\",\"src\":\"1.1.1.1\","
	    "\"dst\":\"1.1.1.2\",\"sport\":\"1\",\"dport\":2}}",
	    "sport must be an integer");
	ct_bad("{\"tuple\":{\"proto\":\"tcp\",\"src\":\"1.1.1.1\","
	    "\"dst\":\"1.1.1.2\",\"sport\":1}}", "sport and dport are needed");
	ct_bad("{\"tuple\":{\"proto\":\"icmp\",\"src\":\"1.1.1.1\","
	    "\"dst\":\"1.1.1.2\",\"sport\":1,\"icmp_type\":8}}",
	    "ports do not apply");
	ct_bad("{\"tuple\":{\"proto\":\"icmp\",\"src\":\"::1\","
	    "\"dst\":\"::2\",\"icmp_type\":8}}", "does not match the address");
	ct_bad("{\"tuple\":{\"proto\":\"icmp\",\"src\":\"1.1.1.1\","
	    "\"dst\":\"1.1.1.2\"}}", "missing member 'icmp_type'");
	ct_bad("{\"tuple\":{\"proto\":\"udp\",\"src\":\"1.1.1.1\","
	    "\"dst\":\"1.1.1.2\",\"sport\":1,\"dport\":2,\"icmp_id\":3}}",
	    "ICMP fields do not apply");
	ct_bad("{\"tuple\":{\"proto\":\"nope\",\"src\":\"1.1.1.1\","
	    "\"dst\":\"1.1.1.2\"}}", "proto must be");
	ct_bad("{\"tuple\":{\"proto\":6,\"src\":\"1.1.1.1\",\"dst\":"
	    "\"1.1.1.2\",\"sport\":1,\"dport\":2,\"extra\":1}}",
	    "unknown member 'extra'");
	ct_bad("{\"tuple\":{\"proto\":6,\"src\":\"1.1.1.1\",\"dst\":"
	    "\"1.1.1.2\",\"sport\":1,\"dport\":2},\"dir\":\"sideways\"}",
	    "dir: must be");
	ct_bad("{\"tuple\":{\"proto\":6,\"src\":\"1.1.1.1\",\"dst\":"
	    "\"1.1.1.2\",\"sport\":1,\"dport\":2},\"zone\":70000}",
	    "zone: must be an integer from 0 to 65535");
	ct_bad("{\"tuple\":{\"proto\":6,\"src\":\"1.1.1.1\",\"dst\":"
	    "\"1.1.1.2\",\"sport\":1,\"dport\":2},\"labels\":[128]}",
	    "labels: bit numbers must be");
	ct_bad("{\"tuple\":{\"proto\":6,\"src\":\"1.1.1.1\",\"dst\":"
	    "\"1.1.1.2\",\"sport\":1,\"dport\":2},\"mark\":-1}",
	    "mark: must be an integer");
	ct_bad("{\"tuple\":{\"proto\":6,\"src\":\"1.1.1.1\",\"dst\":"
	    "\"1.1.1.2\",\"sport\":1,\"dport\":2},\"status\":[\"NOPE\"]}",
	    "status: unknown flag");
	ct_bad("{\"tuple\":{\"proto\":6,\"src\":\"1.1.1.1\",\"dst\":"
	    "\"1.1.1.2\",\"sport\":1,\"dport\":2},\"state\":\"OPEN\"}",
	    "state: unknown state");
	ct_bad("{\"tuple\":{\"proto\":6,\"src\":\"1.1.1.1\",\"dst\":"
	    "\"1.1.1.2\",\"sport\":1,\"dport\":2},\"reply\":{\"proto\":6,"
	    "\"src\":\"::1\",\"dst\":\"::2\",\"sport\":1,\"dport\":2}}",
	    "reply: family differs");
}
END_TEST

/* Decode a request message built by req.c as if the kernel sent it. */
static void
decode_req(const char *buf, struct decoder *d, struct event *ev)
{
	ck_assert_int_eq(decode_msg(d, (const struct nlmsghdr *)buf, ev), 0);
}

START_TEST(test_messages)
{
	char		 buf[REQ_BUFLEN], buf2[REQ_BUFLEN];
	struct decoder	*d = decoder_new();
	struct req_ct	 rc;
	struct event	 ev;
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	size_t		 len, len2;

	ct_ok("{\"tuple\":{\"proto\":\"tcp\",\"src\":\"10.0.0.1\",\"dst\":"
	    "\"10.0.0.2\",\"sport\":1234,\"dport\":80},\"zone\":3,"
	    "\"ct_id\":99,\"mark\":7,\"timeout\":50,\"state\":\"ESTABLISHED\"}",
	    true, &rc);

	/* create: both tuples (reply inverted), zone, timeout, mark, state */
	len = req_ct_create(buf, &rc);
	ck_assert_uint_eq(len, nlh->nlmsg_len);
	ck_assert_uint_eq(nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL),
	    NLM_F_CREATE | NLM_F_EXCL);
	decode_req(buf, d, &ev);
	ck_assert_int_eq(ev.kind, EV_NEW);
	ck_assert_uint_eq(ntohs(nfct_get_attr_u16(ev.ct, ATTR_ORIG_PORT_SRC)),
	    1234);
	ck_assert_uint_eq(ntohs(nfct_get_attr_u16(ev.ct, ATTR_REPL_PORT_SRC)),
	    80);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_REPL_IPV4_SRC),
	    inet_addr("10.0.0.2"));
	ck_assert_uint_eq(nfct_get_attr_u16(ev.ct, ATTR_ZONE), 3);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_TIMEOUT), 50);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_MARK), 7);
	ck_assert_uint_eq(nfct_get_attr_u8(ev.ct, ATTR_TCP_STATE), 3);

	/* delete: the key tuple and the id, nothing else */
	req_ct_delete(buf, &rc);
	decode_req(buf, d, &ev);
	ck_assert_int_eq(ev.kind, EV_DESTROY);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_ID), 99);
	ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_MARK), 0);
	ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_REPL_IPV4_SRC), 0);

	/* update: no create flag, the changes, and the id (not checked) */
	req_ct_update(buf, &rc);
	ck_assert_uint_eq(nlh->nlmsg_flags & NLM_F_CREATE, 0);
	decode_req(buf, d, &ev);
	ck_assert_int_eq(ev.kind, EV_UPDATE);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_MARK), 7);
	ck_assert_uint_eq(nfct_get_attr_u32(ev.ct, ATTR_ID), 99);

	/* get: same key as delete, GET type */
	len = req_ct_get(buf, &rc);
	len2 = req_ct_delete(buf2, &rc);
	ck_assert_uint_eq(len, len2);
	ck_assert_uint_eq(NFNL_MSG_TYPE(nlh->nlmsg_type), IPCTNL_MSG_CT_GET);
	ck_assert_mem_eq(buf + sizeof *nlh, buf2 + sizeof *nlh,
	    len - sizeof *nlh);

	/* reply direction puts the tuple in CTA_TUPLE_REPLY */
	rc.dir = REQ_REPLY;
	req_ct_delete(buf, &rc);
	decode_req(buf, d, &ev);
	ck_assert_int_le(nfct_attr_is_set(ev.ct, ATTR_ORIG_IPV4_SRC), 0);
	ck_assert_int_gt(nfct_attr_is_set(ev.ct, ATTR_REPL_IPV4_SRC), 0);

	/* flush and stats */
	req_flush(buf, false, 0);
	ck_assert_uint_eq(NFNL_SUBSYS_ID(nlh->nlmsg_type),
	    NFNL_SUBSYS_CTNETLINK);
	ck_assert_uint_eq(NFNL_MSG_TYPE(nlh->nlmsg_type), IPCTNL_MSG_CT_DELETE);
	ck_assert_uint_eq(nlh->nlmsg_len, NLMSG_LENGTH(sizeof(struct nfgenmsg)));
	req_flush(buf, true, 0);
	ck_assert_uint_eq(NFNL_SUBSYS_ID(nlh->nlmsg_type),
	    NFNL_SUBSYS_CTNETLINK_EXP);
	req_stats(buf, true);
	ck_assert_uint_eq(nlh->nlmsg_flags & NLM_F_DUMP, NLM_F_DUMP);
	decoder_free(d);
}
END_TEST

START_TEST(test_invert_and_from_ct)
{
	struct req_tuple	 t, inv, back;
	struct req_ct		 rc;
	struct nf_conntrack	*ct;

	ct_ok("{\"tuple\":{\"proto\":\"icmp\",\"src\":\"10.0.0.1\",\"dst\":"
	    "\"10.0.0.2\",\"icmp_type\":8,\"icmp_id\":5}}", false, &rc);
	t = rc.orig;
	req_invert(&t, &inv);
	ck_assert_uint_eq(inv.icmp_type, 0);
	ck_assert_mem_eq(inv.src, t.dst, 16);

	ct_ok("{\"tuple\":{\"proto\":\"udp\",\"src\":\"fe80::1\",\"dst\":"
	    "\"fe80::2\",\"sport\":7,\"dport\":9}}", false, &rc);
	ct = nfct_new();
	nfct_set_attr(ct, ATTR_ORIG_IPV6_SRC, rc.orig.src);
	nfct_set_attr(ct, ATTR_ORIG_IPV6_DST, rc.orig.dst);
	nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, IPPROTO_UDP);
	nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(7));
	nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(9));
	ck_assert_int_eq(req_tuple_from_ct(ct, AF_INET6, &back), 0);
	ck_assert_mem_eq(back.src, rc.orig.src, 16);
	ck_assert_uint_eq(back.sport, 7);
	ck_assert_uint_eq(back.dport, 9);
	ck_assert(back.has_ports);
	/* wrong family: no addresses of that family */
	ck_assert_int_eq(req_tuple_from_ct(ct, AF_INET, &back), -1);
	nfct_destroy(ct);
}
END_TEST

/* A command line must fail to parse with code and message containing. */
static void
cmd_bad(const char *line, size_t len, const char *code, const char *want)
{
	struct cmd_req	 req;
	const char	*got = NULL;
	char		 err[CMD_ERRLEN] = "";

	ck_assert_int_eq(cmd_parse(line, len, &req, &got, err, sizeof err),
	    -1);
	ck_assert_str_eq(got, code);
	ck_assert_msg(strstr(err, want) != NULL, "'%.*s': error '%s' lacks "
	    "'%s'", (int)len, line, err, want);
	json_decref(req.root);
}

START_TEST(test_cmd_parse)
{
	struct cmd_req	 req;
	const char	*code;
	char		 err[CMD_ERRLEN];
	const char	*ok = "{\"cmd\":\"ping\",\"id\":\"a\"}";

	ck_assert_int_eq(cmd_parse(ok, strlen(ok), &req, &code, err,
	    sizeof err), 0);
	ck_assert_str_eq(req.name, "ping");
	ck_assert_str_eq(json_string_value(req.id), "a");
	json_decref(req.root);

	cmd_bad("{", 1, "bad_json", "invalid JSON");
	cmd_bad("{\"cmd\":\"ping\"}x", 15, "bad_json", "invalid JSON");
	cmd_bad("{\"cmd\":\"p\0ng\"}", 14, "bad_json", "NUL");
	cmd_bad("\"ping\"", 6, "bad_request", "must be a JSON object");
	cmd_bad("[1,2]", 5, "bad_request", "must be a JSON object");
	cmd_bad("{\"id\":1}", 8, "bad_request", "missing member 'cmd'");
	cmd_bad("{\"cmd\":5}", 9, "bad_request", "cmd: must be a string");
	cmd_bad("{\"cmd\":\"ping\",\"id\":{}}", 22, "bad_request", "id: must");
	cmd_bad("{\"cmd\":\"ping\",\"id\":[1]}", 23, "bad_request", "id: must");
	cmd_bad("{\"cmd\":\"launch\"}", 16, "unknown_command",
	    "unknown command 'launch'");
	cmd_bad("{\"cmd\":\"ping\",\"extra\":1}", 24, "bad_request",
	    "ping: unknown member 'extra'");
	cmd_bad("{\"cmd\":\"ping\",\"cmd\":\"ping\"}", 26, "bad_json",
	    "duplicate");
	/* the id is known even when the request is otherwise bad */
	ck_assert_int_eq(cmd_parse("{\"id\":9,\"cmd\":\"x\"}", 18, &req, &code,
	    err, sizeof err), -1);
	ck_assert_ptr_nonnull(req.id);
	ck_assert_int_eq(json_integer_value(req.id), 9);
	json_decref(req.root);
}
END_TEST

Suite *
make_req_suite(void)
{
	Suite	*s = suite_create("req");
	TCase	*tc = tcase_create("req");

	tcase_add_test(tc, test_tuple_parse);
	tcase_add_test(tc, test_tuple_errors);
	tcase_add_test(tc, test_messages);
	tcase_add_test(tc, test_invert_and_from_ct);
	tcase_add_test(tc, test_cmd_parse);
	suite_add_tcase(s, tc);
	return (s);
}
