/*
 * fuzz_cmd.c - libFuzzer harness: a request line, parsed and validated.
 *
 * The input is one line as a client sends it.  cmd_parse() must accept it
 * or refuse it with one of its stable codes and a message.  For a line it
 * accepts, every pure validator of the commands runs on the request, as
 * the commands would run them: filter_parse() on "filter", and
 * req_parse_ct() and req_parse_exp() in both modes.  Every request that
 * validates is built into a heap buffer of exactly REQ_BUFLEN bytes (so
 * an overrun is caught by the sanitizer), must be a well-formed netlink
 * message, and the ones the decoder understands (create, update, delete)
 * must decode again to the tuple that was asked for.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "cmd.h"
#include "decode.h"
#include "event.h"
#include "filter.h"
#include "fuzz.h"
#include "names.h"
#include "req.h"

static struct decoder	*dec;
static char		*nlbuf;		/* REQ_BUFLEN bytes */

/* Make the decoder and the request buffer once. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if ((dec = decoder_new()) == NULL ||
	    (nlbuf = malloc(REQ_BUFLEN)) == NULL)
		fuzz_fail("out of memory");
	return (0);
}

/* An error message must be a non-empty string that fits. */
static void
check_err(const char *what, const char *err, size_t errlen)
{
	size_t	n = strnlen(err, errlen);

	if (n == 0 || n == errlen)
		fuzz_fail("%s: empty or unterminated error message", what);
}

/* Check that a built request is one well-formed message. */
static const struct nlmsghdr *
check_msg(const char *what, size_t len)
{
	const struct nlmsghdr	*nlh = (const struct nlmsghdr *)nlbuf;

	if (len > REQ_BUFLEN || len != nlh->nlmsg_len ||
	    !mnl_nlmsg_ok(nlh, (int)len))
		fuzz_fail("%s: malformed request (%zu bytes)", what, len);
	return (nlh);
}

/* The decoded tuple of a built message must be the requested one. */
static void
check_tuple(const char *what, const struct req_tuple *want,
    const struct nf_conntrack *ct, const struct ev_icmp *icmp)
{
	struct req_tuple	got;
	size_t			alen = want->family == AF_INET ? 4 : 16;

	if (req_tuple_from_ct(ct, want->family, &got) != 0)
		fuzz_fail("%s: the built message has no tuple", what);
	if (got.proto != want->proto ||
	    memcmp(got.src, want->src, alen) != 0 ||
	    memcmp(got.dst, want->dst, alen) != 0)
		fuzz_fail("%s: addresses or protocol differ", what);
	if (want->has_ports && (!got.has_ports || got.sport != want->sport ||
	    got.dport != want->dport))
		fuzz_fail("%s: ports differ", what);
	if (want->has_icmp && (!icmp->set || icmp->type != want->icmp_type ||
	    !icmp->has_code || icmp->code != want->icmp_code ||
	    !icmp->has_id || ntohs(icmp->id) != want->icmp_id))
		fuzz_fail("%s: ICMP fields differ", what);
}

/* Build every conntrack request of a parsed req_ct and check them. */
static void
build_ct(const struct req_ct *rc, bool change)
{
	const struct nlmsghdr	*nlh;
	struct event		 ev;
	int			 r;

	check_msg("ct get", req_ct_get(nlbuf, rc));
	nlh = check_msg("ct delete", req_ct_delete(nlbuf, rc));
	if ((r = decode_msg(dec, nlh, &ev)) != 0)
		fuzz_fail("ct delete: does not decode (%d)", r);
	if (rc->dir == REQ_ORIG)
		check_tuple("ct delete", &rc->orig, ev.ct, &ev.orig_icmp);
	if (!change)
		return;
	nlh = check_msg("ct update", req_ct_update(nlbuf, rc));
	if ((r = decode_msg(dec, nlh, &ev)) != 0)
		fuzz_fail("ct update: does not decode (%d)", r);
	nlh = check_msg("ct create", req_ct_create(nlbuf, rc));
	if ((r = decode_msg(dec, nlh, &ev)) != 0)
		fuzz_fail("ct create: does not decode (%d)", r);
	check_tuple("ct create", &rc->orig, ev.ct, &ev.orig_icmp);
	if (rc->has_mark && (nfct_attr_is_set(ev.ct, ATTR_MARK) <= 0 ||
	    nfct_get_attr_u32(ev.ct, ATTR_MARK) != rc->mark))
		fuzz_fail("ct create: mark differs");
}

/* Build every expectation request of a parsed req_exp and check them. */
static void
build_exp(const struct req_exp *re, bool create)
{
	const struct nlmsghdr	*nlh;
	struct event		 ev;
	int			 r;

	check_msg("exp get", req_exp_get(nlbuf, re));
	nlh = check_msg("exp delete", req_exp_delete(nlbuf, re));
	if ((r = decode_msg(dec, nlh, &ev)) != 0)
		fuzz_fail("exp delete: does not decode (%d)", r);
	if (!create)
		return;
	nlh = check_msg("exp create", req_exp_create(nlbuf, re));
	if ((r = decode_msg(dec, nlh, &ev)) != 0)
		fuzz_fail("exp create: does not decode (%d)", r);
}

/* Run the commands' pure validators on an accepted request. */
static void
validate(const struct cmd_req *req)
{
	char		 err[REQ_ERRLEN], ferr[FILTER_ERRLEN];
	struct req_ct	 rc;
	struct req_exp	 re;
	struct filter	*f;
	json_t		*v;
	int		 change;

	if ((v = json_object_get(req->root, "filter")) != NULL &&
	    !json_is_null(v)) {
		ferr[0] = '\0';
		if ((f = filter_parse(v, ferr, sizeof ferr)) == NULL)
			check_err("filter", ferr, sizeof ferr);
		else {
			(void)filter_types(f);
			(void)filter_kinds(f);
			filter_free(f);
		}
	}
	for (change = 0; change < 2; change++) {
		err[0] = '\0';
		if (req_parse_ct(req->root, &rc, change, err, sizeof err) == 0)
			build_ct(&rc, change);
		else
			check_err("req_parse_ct", err, sizeof err);
		err[0] = '\0';
		if (req_parse_exp(req->root, &re, change, err,
		    sizeof err) == 0)
			build_exp(&re, change);
		else
			check_err("req_parse_exp", err, sizeof err);
	}
	(void)req_flush(nlbuf, false, AF_INET);
	(void)req_stats(nlbuf, true);
}

/* One input: one request line (without its newline). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const codes[] = { "bad_json", "bad_request",
	    "unknown_command", NULL };
	struct cmd_req	 req;
	const char	*code = NULL;
	char		 err[CMD_ERRLEN];
	size_t		 i;

	err[0] = '\0';
	if (cmd_parse((const char *)data, size, &req, &code, err,
	    sizeof err) != 0) {
		for (i = 0; codes[i] != NULL; i++)
			if (code != NULL && strcmp(code, codes[i]) == 0)
				break;
		if (codes[i] == NULL)
			fuzz_fail("cmd_parse: unexpected code");
		check_err("cmd_parse", err, sizeof err);
		json_decref(req.root);
		return (0);
	}
	if (req.name == NULL || cmd_find(req.name) == NULL)
		fuzz_fail("cmd_parse accepted an unknown command");
	validate(&req);
	json_decref(req.root);
	return (0);
}
