/*
 * ctb-gen.c - conntrack load generator for the ctstreamd benchmarks.
 *
 * Traffic mode creates flows at a target rate (0: as fast as it can) by
 * sending packets on loopback inside the namespace it is run in:
 *   - UDP: one datagram per flow, from --sockets sockets bound to
 *     127.0.0.1:10000.. to 127.0.0.1:dport, every datagram to a new
 *     destination port of its socket, so every datagram is a new flow;
 *     the driver drops them in prerouting (after conntrack) and lets the
 *     namespace's short UDP timeout end them (a DESTROY event each);
 *   - TCP (--tcp-every K): one connection to a listener of its own on
 *     127.0.0.1:5555 every K flows, reset at once by the client;
 *   - UDP over IPv6 to [::1] (--v6-every K) and ICMP echo requests to
 *     127.0.0.1 (--icmp-every K), for a varied recorded corpus.
 * With --delete-after MS every UDP/IPv4 and TCP flow is deleted through
 * ctnetlink MS milliseconds after it was created (up to 32 requests to a
 * datagram, no acks): one DESTROY per flow at the rate of the NEWs,
 * instead of the bursts of the kernel's garbage collector.  At the end
 * the flows still pending are deleted at once.
 *
 * Insert mode (--insert N) creates N UDP entries of the synthetic table
 * (see ctb.h) through ctnetlink, many requests per datagram, no acks.
 *
 * Either way one JSON object with the counts is printed at the end.
 */
#include "ctb.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>


#define BATCH		32
#define TCP_PORT	5555
#define SPORT_BASE	10000
#define DPORT_BASE	1024
#define DPORT_SPAN	64000

static volatile sig_atomic_t	stop;

static void
on_signal(int sig)
{
	stop = 1;
}

#define RING		(1U << 21)
#define DBUFLEN		(64 * 1024)

/* A flow waiting for deletion: its original tuple (host order ports). */
struct pend {
	uint64_t	 when;
	uint16_t	 sport, dport;
	uint8_t		 proto;
};

struct gen {
	double		 rate;		/* flows/s, 0: max */
	double		 duration;	/* seconds, 0: until flows */
	uint64_t	 flows;		/* 0: until duration */
	int		 nsock;
	int		 tcp_every, v6_every, icmp_every;
	int		*socks;
	uint32_t	*dnext;
	int		 v6sock, icmpsock, lsock;
	uint64_t	 udp, udp6, tcp, icmp, tcp_fail, send_fail;
	/* Deletion: a ring of flows waiting, and a batch being built. */
	uint64_t	 delete_after_ns;
	int		 nlfd;
	struct pend	*ring;
	size_t		 rhead, rtail;		/* ring indexes, mod RING */
	char		*dbuf;
	size_t		 doff;
	int		 dcount;		/* requests in dbuf */
	uint32_t	 dseq;
	uint64_t	 deleted, delete_errors;
	int		 delete_first_error;
};

static int
udp_socket(int family, uint16_t port)
{
	struct sockaddr_in	sin;
	int			fd, n = 1 << 20;

	if ((fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		ctb_die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof n);
	if (family == AF_INET) {
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons(port);
		if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
			ctb_die("bind 127.0.0.1:%u: %s", port, strerror(errno));
	}
	return (fd);
}

static void	delete_flush(struct gen *);

/* Remember a flow for deletion. */
static void
pend_add(struct gen *g, uint8_t proto, uint16_t sport, uint16_t dport,
    uint64_t now)
{
	struct pend	*p;

	if (g->delete_after_ns == 0)
		return;
	if (g->rtail - g->rhead >= RING)
		ctb_die("deletion ring full");
	p = &g->ring[g->rtail++ % RING];
	p->when = now;
	p->sport = sport;
	p->dport = dport;
	p->proto = proto;
}

/* Count the error answers to deletions (ENOENT: the flow was gone). */
static void
delete_errors(struct gen *g)
{
	static char		 buf[65536];
	const struct nlmsghdr	*nlh;
	const struct nlmsgerr	*e;
	ssize_t			 r;
	int			 left;

	while ((r = recv(g->nlfd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
		left = (int)r;
		for (nlh = (void *)buf; mnl_nlmsg_ok(nlh, left);
		    nlh = mnl_nlmsg_next(nlh, &left)) {
			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error != 0) {
				g->delete_errors++;
				if (g->delete_first_error == 0)
					g->delete_first_error = e->error;
			}
		}
	}
}

/* Append a deletion request for one IPv4 flow 127.0.0.1 -> 127.0.0.1. */
static void
delete_add(struct gen *g, const struct pend *p)
{
	struct nlmsghdr	*nlh;
	struct nfgenmsg	*nfg;
	struct nlattr	*t, *ip, *pr;

	/*
	 * At most BATCH requests per datagram: the DESTROY events of one
	 * datagram reach the listeners back to back, like the NEW events of
	 * one sendmmsg(2) of BATCH datagrams.
	 */
	if (DBUFLEN - g->doff < 256 || g->dcount >= BATCH)
		delete_flush(g);
	nlh = mnl_nlmsg_put_header(g->dbuf + g->doff);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = ++g->dseq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	t = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, htonl(INADDR_LOOPBACK));
	mnl_attr_put_u32(nlh, CTA_IP_V4_DST, htonl(INADDR_LOOPBACK));
	mnl_attr_nest_end(nlh, ip);
	pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, p->proto);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(p->sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(p->dport));
	mnl_attr_nest_end(nlh, pr);
	mnl_attr_nest_end(nlh, t);
	g->doff += NLMSG_ALIGN(nlh->nlmsg_len);
	g->dcount++;
	g->deleted++;
}

static void
delete_flush(struct gen *g)
{
	if (g->doff == 0)
		return;
	if (send(g->nlfd, g->dbuf, g->doff, 0) != (ssize_t)g->doff)
		ctb_die("netlink send: %s", strerror(errno));
	g->doff = 0;
	g->dcount = 0;
	delete_errors(g);
}

/* Delete the flows older than the delay (all of them if all is set). */
static void
delete_due(struct gen *g, uint64_t now, bool all)
{
	while (g->rhead < g->rtail) {
		struct pend	*p = &g->ring[g->rhead % RING];

		if (!all && now - p->when < g->delete_after_ns)
			break;
		delete_add(g, p);
		g->rhead++;
	}
	delete_flush(g);
}

static void
delete_open(struct gen *g)
{
	struct sockaddr_nl	sa;
	int			rb = 16 << 20;

	if ((g->nlfd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
	    NETLINK_NETFILTER)) == -1)
		ctb_die("netlink socket: %s", strerror(errno));
	setsockopt(g->nlfd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof rb);
	memset(&sa, 0, sizeof sa);
	sa.nl_family = AF_NETLINK;
	if (bind(g->nlfd, (struct sockaddr *)&sa, sizeof sa) == -1)
		ctb_die("netlink bind: %s", strerror(errno));
	if ((g->ring = calloc(RING, sizeof *g->ring)) == NULL ||
	    (g->dbuf = malloc(DBUFLEN)) == NULL)
		ctb_die("out of memory");
}

/* Send up to n UDP flows on socket k; return how many went out. */
static int
send_udp(struct gen *g, int k, int n)
{
	struct sockaddr_in	dst[BATCH];
	struct mmsghdr		msg[BATCH];
	struct iovec		iov[BATCH];
	char			byte = 'x';
	int			i, r;

	for (i = 0; i < n; i++) {
		memset(&dst[i], 0, sizeof dst[i]);
		dst[i].sin_family = AF_INET;
		dst[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		dst[i].sin_port = htons(DPORT_BASE +
		    g->dnext[k]++ % DPORT_SPAN);
		iov[i].iov_base = &byte;
		iov[i].iov_len = 1;
		memset(&msg[i], 0, sizeof msg[i]);
		msg[i].msg_hdr.msg_name = &dst[i];
		msg[i].msg_hdr.msg_namelen = sizeof dst[i];
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
	}
	r = sendmmsg(g->socks[k], msg, n, 0);
	if (r < 0) {
		g->send_fail++;
		return (0);
	}
	if (g->delete_after_ns > 0) {
		uint64_t now = ctb_now_ns();

		for (i = 0; i < r; i++)
			pend_add(g, IPPROTO_UDP, SPORT_BASE + k,
			    ntohs(dst[i].sin_port), now);
	}
	return (r);
}

static void
send_udp6(struct gen *g)
{
	struct sockaddr_in6	dst;
	static uint32_t		next;

	memset(&dst, 0, sizeof dst);
	dst.sin6_family = AF_INET6;
	dst.sin6_addr = in6addr_loopback;
	dst.sin6_port = htons(DPORT_BASE + next++ % DPORT_SPAN);
	if (sendto(g->v6sock, "x", 1, 0, (struct sockaddr *)&dst,
	    sizeof dst) == 1)
		g->udp6++;
	else
		g->send_fail++;
}

static uint16_t
icmp_cksum(const void *p, size_t n)
{
	const uint16_t	*w = p;
	uint32_t	 s = 0;

	for (; n > 1; n -= 2)
		s += *w++;
	if (n)
		s += *(const uint8_t *)w;
	s = (s >> 16) + (s & 0xffff);
	s += s >> 16;
	return ((uint16_t)~s);
}

static void
send_icmp(struct gen *g)
{
	struct sockaddr_in	dst;
	struct icmphdr		h;
	static uint16_t		id;

	memset(&dst, 0, sizeof dst);
	dst.sin_family = AF_INET;
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(&h, 0, sizeof h);
	h.type = ICMP_ECHO;
	h.un.echo.id = htons(++id);
	h.un.echo.sequence = htons(1);
	h.checksum = icmp_cksum(&h, sizeof h);
	if (sendto(g->icmpsock, &h, sizeof h, 0, (struct sockaddr *)&dst,
	    sizeof dst) == (ssize_t)sizeof h)
		g->icmp++;
	else
		g->send_fail++;
}

/* One TCP connection: connect, reset from the client, reap the server. */
static void
send_tcp(struct gen *g)
{
	struct sockaddr_in	dst;
	struct linger		lg = { 1, 0 };
	int			fd, a;

	memset(&dst, 0, sizeof dst);
	dst.sin_family = AF_INET;
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.sin_port = htons(TCP_PORT);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		g->tcp_fail++;
		return;
	}
	if (connect(fd, (struct sockaddr *)&dst, sizeof dst) == -1) {
		g->tcp_fail++;
		close(fd);
		return;
	}
	g->tcp++;
	if (g->delete_after_ns > 0) {
		struct sockaddr_in	me;
		socklen_t		ml = sizeof me;

		if (getsockname(fd, (struct sockaddr *)&me, &ml) == 0)
			pend_add(g, IPPROTO_TCP, ntohs(me.sin_port), TCP_PORT,
			    ctb_now_ns());
	}
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
	while ((a = accept4(g->lsock, NULL, NULL, SOCK_CLOEXEC)) != -1)
		close(a);
}

static void
open_traffic(struct gen *g)
{
	struct sockaddr_in	sin;
	int			k, one = 1, small = 4096;

	g->socks = calloc(g->nsock, sizeof *g->socks);
	g->dnext = calloc(g->nsock, sizeof *g->dnext);
	for (k = 0; k < g->nsock; k++)
		g->socks[k] = udp_socket(AF_INET, SPORT_BASE + k);
	if (g->v6_every > 0)
		g->v6sock = udp_socket(AF_INET6, 0);
	if (g->icmp_every > 0) {
		g->icmpsock = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC,
		    IPPROTO_ICMP);
		if (g->icmpsock == -1)
			ctb_die("raw socket: %s", strerror(errno));
		setsockopt(g->icmpsock, SOL_SOCKET, SO_RCVBUF, &small,
		    sizeof small);
	}
	if (g->tcp_every > 0) {
		g->lsock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		setsockopt(g->lsock, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof one);
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons(TCP_PORT);
		if (bind(g->lsock, (struct sockaddr *)&sin, sizeof sin) == -1 ||
		    listen(g->lsock, 4096) == -1)
			ctb_die("listen: %s", strerror(errno));
	}
}

static void
run_traffic(struct gen *g)
{
	uint64_t	 t0, now, done = 0, want, n;
	uint64_t	 every_tcp = 0, every_v6 = 0, every_icmp = 0;
	double		 el;
	int		 k = 0, chunk;

	open_traffic(g);
	if (g->delete_after_ns > 0)
		delete_open(g);
	t0 = ctb_now_ns();
	while (!stop) {
		now = ctb_now_ns();
		el = (double)(now - t0) / 1e9;
		if (g->duration > 0 && el >= g->duration)
			break;
		if (g->flows > 0 && done >= g->flows)
			break;
		want = g->rate > 0 ? (uint64_t)(g->rate * el) + 1 : done + BATCH;
		if (g->flows > 0 && want > g->flows)
			want = g->flows;
		if (g->delete_after_ns > 0)
			delete_due(g, now, false);
		if (want <= done) {
			struct timespec ts = { 0, 100000 };

			nanosleep(&ts, NULL);
			continue;
		}
		while (done < want && !stop) {
			n = want - done;
			chunk = n > BATCH ? BATCH : (int)n;
			/* The extra kinds replace UDP flows one for one. */
			if (g->tcp_every > 0 && done >= every_tcp) {
				every_tcp = done + g->tcp_every;
				send_tcp(g);
				done++;
				continue;
			}
			if (g->v6_every > 0 && done >= every_v6) {
				every_v6 = done + g->v6_every;
				send_udp6(g);
				done++;
				continue;
			}
			if (g->icmp_every > 0 && done >= every_icmp) {
				every_icmp = done + g->icmp_every;
				send_icmp(g);
				done++;
				continue;
			}
			if (g->tcp_every > 0 && (uint64_t)chunk >
			    every_tcp - done)
				chunk = (int)(every_tcp - done);
			if (g->v6_every > 0 && (uint64_t)chunk > every_v6 - done)
				chunk = (int)(every_v6 - done);
			if (g->icmp_every > 0 &&
			    (uint64_t)chunk > every_icmp - done)
				chunk = (int)(every_icmp - done);
			if (chunk < 1)
				chunk = 1;
			n = send_udp(g, k, chunk);
			k = (k + 1) % g->nsock;
			g->udp += n;
			done += n;
			if (n == 0)
				break;
		}
	}
	el = (double)(ctb_now_ns() - t0) / 1e9;
	if (g->delete_after_ns > 0) {
		struct timespec ts = { 0, 50000000 };

		/* Let the last flows be confirmed before deleting them. */
		nanosleep(&ts, NULL);
		delete_due(g, ctb_now_ns(), true);
		nanosleep(&ts, NULL);
		delete_errors(g);
	}
	printf("{\"mode\":\"traffic\",\"deleted\":%llu,"
	    "\"delete_errors\":%llu,\"delete_first_error\":%d,",
	    (unsigned long long)g->deleted,
	    (unsigned long long)g->delete_errors, g->delete_first_error);
	printf("\"udp\":%llu,\"udp6\":%llu,\"tcp\":%llu,"
	    "\"icmp\":%llu,\"flows\":%llu,\"tcp_fail\":%llu,\"send_fail\":%llu,"
	    "\"elapsed\":%.6f,\"rate\":%.1f}\n",
	    (unsigned long long)g->udp, (unsigned long long)g->udp6,
	    (unsigned long long)g->tcp, (unsigned long long)g->icmp,
	    (unsigned long long)(g->udp + g->udp6 + g->tcp + g->icmp),
	    (unsigned long long)g->tcp_fail, (unsigned long long)g->send_fail,
	    el, (double)(g->udp + g->udp6 + g->tcp + g->icmp) / el);
}

/* Read and count the error answers queued on the request socket. */
static uint64_t
insert_errors(int fd, int *first)
{
	static char		 buf[65536];
	const struct nlmsghdr	*nlh;
	const struct nlmsgerr	*e;
	uint64_t		 errs = 0;
	ssize_t			 r;
	int			 left;

	while ((r = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
		left = (int)r;
		for (nlh = (void *)buf; mnl_nlmsg_ok(nlh, left);
		    nlh = mnl_nlmsg_next(nlh, &left)) {
			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error != 0) {
				errs++;
				if (*first == 0)
					*first = e->error;
			}
		}
	}
	return (errs);
}

static void
run_insert(uint64_t n, uint32_t timeout, uint32_t first_index)
{
	static char		 buf[64 * 1024];
	struct nf_conntrack	*ct;
	struct nlmsghdr		*nlh;
	struct nfgenmsg		*nfg;
	struct sockaddr_nl	 sa;
	uint64_t		 i, errs = 0, t0;
	uint16_t		 sp, dp;
	size_t			 off = 0;
	int			 fd, rb = 64 << 20, first = 0;
	double			 el;

	if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
	    NETLINK_NETFILTER)) == -1)
		ctb_die("netlink socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof rb);
	memset(&sa, 0, sizeof sa);
	sa.nl_family = AF_NETLINK;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1)
		ctb_die("bind: %s", strerror(errno));
	if ((ct = nfct_new()) == NULL)
		ctb_die("nfct_new");
	t0 = ctb_now_ns();
	for (i = 0; i < n; i++) {
		ctb_table_tuple(first_index + (uint32_t)i, &sp, &dp);
		nfct_set_attr_u8(ct, ATTR_L3PROTO, AF_INET);
		nfct_set_attr_u32(ct, ATTR_IPV4_SRC, htonl(CTB_TABLE_SRC));
		nfct_set_attr_u32(ct, ATTR_IPV4_DST, htonl(CTB_TABLE_DST));
		nfct_set_attr_u8(ct, ATTR_L4PROTO, IPPROTO_UDP);
		nfct_set_attr_u16(ct, ATTR_PORT_SRC, htons(sp));
		nfct_set_attr_u16(ct, ATTR_PORT_DST, htons(dp));
		nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, AF_INET);
		nfct_set_attr_u32(ct, ATTR_REPL_IPV4_SRC, htonl(CTB_TABLE_DST));
		nfct_set_attr_u32(ct, ATTR_REPL_IPV4_DST, htonl(CTB_TABLE_SRC));
		nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, IPPROTO_UDP);
		nfct_set_attr_u16(ct, ATTR_REPL_PORT_SRC, htons(dp));
		nfct_set_attr_u16(ct, ATTR_REPL_PORT_DST, htons(sp));
		nfct_set_attr_u32(ct, ATTR_TIMEOUT, timeout);
		if (sizeof buf - off < 1024) {
			if (send(fd, buf, off, 0) != (ssize_t)off)
				ctb_die("send: %s", strerror(errno));
			off = 0;
			errs += insert_errors(fd, &first);
		}
		nlh = mnl_nlmsg_put_header(buf + off);
		nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) |
		    IPCTNL_MSG_CT_NEW;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
		nlh->nlmsg_seq = (uint32_t)i + 1;
		nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
		nfg->nfgen_family = AF_INET;
		nfg->version = NFNETLINK_V0;
		nfg->res_id = 0;
		if (nfct_nlmsg_build(nlh, ct) == -1)
			ctb_die("nfct_nlmsg_build");
		off += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	if (off > 0 && send(fd, buf, off, 0) != (ssize_t)off)
		ctb_die("send: %s", strerror(errno));
	errs += insert_errors(fd, &first);
	el = (double)(ctb_now_ns() - t0) / 1e9;
	printf("{\"mode\":\"insert\",\"requested\":%llu,\"errors\":%llu,"
	    "\"first_error\":%d,\"elapsed\":%.6f,\"rate\":%.1f}\n",
	    (unsigned long long)n, (unsigned long long)errs, first, el,
	    (double)n / el);
	nfct_destroy(ct);
	close(fd);
}

static void
usage(void)
{
	fprintf(stderr, "usage: ctb-gen [--rate FLOWS/S] [--duration S] "
	    "[--flows N] [--sockets N]\n"
	    "               [--tcp-every K] [--v6-every K] [--icmp-every K]\n"
	    "               [--delete-after MS]\n"
	    "       ctb-gen --insert N [--timeout S] [--first I]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "flows", required_argument, NULL, 'n' },
		{ "sockets", required_argument, NULL, 's' },
		{ "tcp-every", required_argument, NULL, 't' },
		{ "v6-every", required_argument, NULL, '6' },
		{ "icmp-every", required_argument, NULL, 'i' },
		{ "insert", required_argument, NULL, 'I' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "first", required_argument, NULL, 'F' },
		{ "delete-after", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 }
	};
	struct gen	g;
	uint64_t	insert = 0;
	uint32_t	timeout = 600, first = 0;
	int		c;

	memset(&g, 0, sizeof g);
	g.nsock = 256;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': g.rate = atof(optarg); break;
		case 'd': g.duration = atof(optarg); break;
		case 'n': g.flows = strtoull(optarg, NULL, 10); break;
		case 's': g.nsock = atoi(optarg); break;
		case 't': g.tcp_every = atoi(optarg); break;
		case '6': g.v6_every = atoi(optarg); break;
		case 'i': g.icmp_every = atoi(optarg); break;
		case 'I': insert = strtoull(optarg, NULL, 10); break;
		case 'T': timeout = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'F': first = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'D':
			g.delete_after_ns = (uint64_t)(atof(optarg) * 1e6);
			break;
		default: usage();
		}
	}
	if (g.nsock < 1 || g.nsock > 4096)
		usage();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (insert > 0)
		run_insert(insert, timeout, first);
	else {
		if (g.duration <= 0 && g.flows == 0)
			usage();
		run_traffic(&g);
	}
	return (0);
}
