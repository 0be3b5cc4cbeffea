/*
 * fuzz_client.c - libFuzzer harness: a client connection, end to end.
 *
 * The daemon's context is built as main() builds it, with a real libevent
 * loop, the fan-out, the stream, and one monitored namespace opened by
 * mon_open() from the default settings (its ctnetlink event socket, its
 * request sockets, its index and resync), but in a private network
 * namespace made at startup (as root, or in a new user namespace
 * otherwise): that namespace is the daemon's own, "host", so what the
 * input asks the kernel for, even "flush" or "create", only ever touches
 * its empty table, which the harness flushes again after every input.
 * No privileged helper is started: requests go out on the sockets
 * directly, as they do before privsep_start().
 *
 * Each input is one connection.  Its first byte chooses the socket kind
 * (bit 0: control, else events), the maximum line length (bits 1-2: 16,
 * 256, 4096 or 65536 bytes) and how the rest is written (bits 3-4: in
 * one go, or in pieces of 7, 61 or 509 bytes with the loop run between
 * them, which splits lines across reads).  The rest is written to a
 * socketpair whose other end is a client made by client_new(), then the
 * write side is shut, and the loop runs until the client closes or stays
 * idle.  Everything the daemon writes back must be whole lines of JSON
 * objects with a "type"; a control client must close by itself once it
 * said everything; an events client is closed by the harness.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libmnl/libmnl.h>

#include "buf.h"
#include "ctx.h"
#include "decode.h"
#include "encode.h"
#include "fanout.h"
#include "fuzz.h"
#include "log.h"
#include "mon.h"
#include "opts.h"
#include "req.h"
#include "server.h"
#include "stream.h"

#define FUZZ_INPUT_MAX	(256U * 1024)
#define FUZZ_ROUNDS	2000		/* loop passes per input, at most */
#define FUZZ_IDLE	8		/* idle passes that end the input */

static struct ctx		 ctx;
static struct mnl_socket	*flusher;
static struct buf		 out;

/* Go into a network namespace of our own, or give up. */
static void
private_netns(void)
{
	if (unshare(CLONE_NEWNET) == 0)
		return;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0)
		return;
	fuzz_fail("cannot make a private network namespace (%s): run as "
	    "root or allow unprivileged user namespaces", strerror(errno));
}

/* Build the daemon's context, as main() does, in a private namespace. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct options	 o;
	struct mon	*m;
	char		 err[256];

	signal(SIGPIPE, SIG_IGN);
	private_netns();
	log_init(0);
	if (opts_defaults(&o, err, sizeof err) != 0)
		fuzz_fail("defaults: %s", err);
	ctx.types = o.types;
	ctx.kinds = o.kinds;
	ctx.subopts.hiwat = o.sub_hiwat;
	ctx.subopts.lowat = o.sub_lowat;
	ctx.subopts.policy = o.sub_policy;
	ctx.started = ctx_now_sec();
	ctx.started_real = (double)time(NULL);
	TAILQ_INIT(&ctx.mons);
	if ((ctx.base = event_base_new()) == NULL ||
	    (ctx.enc = encoder_new("")) == NULL ||
	    (ctx.fo = fanout_new(ctx.base)) == NULL ||
	    (ctx.stream = stream_new(ctx.fo, ctx.enc)) == NULL ||
	    (ctx.qdec = decoder_new()) == NULL ||
	    (ctx.srv = server_new(&ctx, SERVER_MAX_CLIENTS,
	    SERVER_MAX_LINE)) == NULL)
		fuzz_fail("out of memory");
	if (mon_open(&ctx, MON_HOST, &o, &m, err, sizeof err) != 0)
		fuzz_fail("cannot monitor the private namespace: %s", err);
	TAILQ_INSERT_TAIL(&ctx.mons, m, entry);
	ctx.nmons = 1;
	opts_free(&o);
	if ((flusher = mnl_socket_open(NETLINK_NETFILTER)) == NULL ||
	    mnl_socket_bind(flusher, 0, MNL_SOCKET_AUTOPID) == -1)
		fuzz_fail("cannot open the flush socket: %s", strerror(errno));
	/* Let the startup dump of the (empty) table finish. */
	event_base_loop(ctx.base, EVLOOP_NONBLOCK);
	return (0);
}

/* Empty the private namespace's tables, whatever the input made. */
static void
flush_tables(void)
{
	char	b[REQ_BUFLEN], ack[8192];
	int	exp;

	for (exp = 0; exp < 2; exp++) {
		req_flush(b, exp, 0);
		((struct nlmsghdr *)b)->nlmsg_flags |= NLM_F_ACK;
		if (mnl_socket_sendto(flusher, b,
		    ((struct nlmsghdr *)b)->nlmsg_len) < 0 ||
		    mnl_socket_recvfrom(flusher, ack, sizeof ack) < 0)
			fuzz_fail("flush: %s", strerror(errno));
	}
}

/* Check the complete lines in out and keep the rest. */
static void
check_lines(void)
{
	json_error_t	 jerr;
	json_t		*j, *t;
	char		*nl;
	size_t		 off = 0, n;

	if (out.len == 0)
		return;
	while ((nl = memchr(out.data + off, '\n', out.len - off)) != NULL) {
		n = (size_t)(nl - (out.data + off));
		j = json_loadb(out.data + off, n, JSON_REJECT_DUPLICATES, &jerr);
		if (j == NULL)
			fuzz_fail("reply is not JSON (%s): %.*s", jerr.text,
			    (int)(n > 300 ? 300 : n), out.data + off);
		if (!json_is_object(j) ||
		    !json_is_string(t = json_object_get(j, "type")))
			fuzz_fail("reply without a type: %.*s",
			    (int)(n > 300 ? 300 : n), out.data + off);
		json_decref(j);
		off += n + 1;
	}
	memmove(out.data, out.data + off, out.len - off);
	out.len -= off;
}

/* Read what the daemon wrote; 1 if something came, -1 at end of file. */
static int
read_replies(int fd)
{
	char	b[65536];
	ssize_t	n;
	int	got = 0, error;

	while ((n = read(fd, b, sizeof b)) > 0) {
		buf_add(&out, b, (size_t)n);
		got = 1;
	}
	error = n == -1 ? errno : 0;
	if (!buf_ok(&out))
		fuzz_fail("out of memory");
	check_lines();
	if (n == 0)
		return (-1);
	if (error != EAGAIN && error != ECONNRESET)
		fuzz_fail("read: %s", strerror(error));
	return (got);
}

/* client_foreach callback: is the client still there? */
static void
find_client(struct client *c, void *arg)
{
	struct client	**want = arg;

	if (c == *want)
		*want = NULL;
}

/* Tell whether c has not been freed yet. */
static bool
client_alive(struct client *c)
{
	struct client	*probe = c;

	client_foreach(find_client, &probe);
	return (probe == NULL);
}

/* One input: the first byte chooses, the rest is what the client sends. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t	 maxlines[] = { 16, 256, 4096, 65536 };
	static const size_t	 pieces[] = { 0, 7, 61, 509 };
	enum listener_kind	 kind;
	struct client		*c;
	size_t			 maxline, piece, off = 0, n;
	ssize_t			 w;
	bool			 shut = false, eof = false;
	int			 fd[2], rounds, idle = 0, r;

	if (size < 1 || size > FUZZ_INPUT_MAX)
		return (0);
	kind = (data[0] & 1) ? LISTENER_CONTROL : LISTENER_EVENTS;
	maxline = maxlines[(data[0] >> 1) & 3];
	piece = pieces[(data[0] >> 3) & 3];
	data++;
	size--;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    fd) == -1)
		fuzz_fail("socketpair: %s", strerror(errno));
	if ((c = client_new(ctx.srv, &ctx, fd[0], kind, maxline)) == NULL)
		fuzz_fail("client_new failed");
	buf_reset(&out);

	for (rounds = 0; rounds < FUZZ_ROUNDS && !eof; rounds++) {
		if (off < size) {
			n = size - off;
			if (piece != 0 && n > piece)
				n = piece;
			w = write(fd[1], data + off, n);
			if (w > 0)
				off += (size_t)w;
			else if (w == -1 && errno != EAGAIN)
				off = size;	/* the client is gone */
		} else if (!shut) {
			shutdown(fd[1], SHUT_WR);
			shut = true;
		}
		event_base_loop(ctx.base, EVLOOP_NONBLOCK);
		if ((r = read_replies(fd[1])) == -1)
			eof = true;
		else if (r == 0 && shut)
			idle++;
		else
			idle = 0;
		if (idle >= FUZZ_IDLE)
			break;
	}
	if (!eof) {
		if (kind == LISTENER_CONTROL && rounds < FUZZ_ROUNDS &&
		    client_alive(c) && client_job(c) == NULL)
			fuzz_fail("a control client that said everything "
			    "was not closed");
		if (client_alive(c)) {
			client_close(c);
			event_base_loop(ctx.base, EVLOOP_NONBLOCK);
		}
		if (client_alive(c))
			fuzz_fail("a closed client was not freed");
		(void)read_replies(fd[1]);
	} else if (out.len != 0)
		fuzz_fail("the last reply has no newline");
	close(fd[1]);
	flush_tables();
	/* Let the stream see the flush's events before the next input. */
	event_base_loop(ctx.base, EVLOOP_NONBLOCK);
	return (0);
}
