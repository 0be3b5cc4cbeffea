/*
 * ctb-floor.c - the floor: the least a conntrack event consumer can do.
 *
 * Joins the conntrack event groups of the namespace it runs in, reads
 * with recvmmsg(2) and counts messages by kind from their headers only.
 * With --record FILE it also writes every message, as received, to FILE
 * (one netlink message after another, each NLMSG_ALIGNed): the corpus the
 * encode benchmark replays.  On SIGINT/SIGTERM (or after --max messages)
 * it prints one JSON object with its counts.
 */
#include "ctb.h"

#include <sys/socket.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libmnl/libmnl.h>


#define SLOTS	64
#define SLOTLEN	8192

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

static volatile sig_atomic_t	stop;

static void
on_signal(int sig)
{
	stop = 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rcvbuf", required_argument, NULL, 'b' },
		{ "expect", no_argument, NULL, 'e' },
		{ "record", required_argument, NULL, 'r' },
		{ "max", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	static char		 bufs[SLOTS][SLOTLEN];
	struct mmsghdr		 msgs[SLOTS];
	struct iovec		 iov[SLOTS];
	struct sockaddr_nl	 sa;
	struct sigaction	 act;
	uint64_t		 cnt[4] = { 0 }, exp = 0, other = 0, enobufs = 0;
	uint64_t		 datagrams = 0, bytes = 0, total = 0, max = 0;
	uint32_t		 mi[SK_MEMINFO_VARS];
	socklen_t		 mlen = sizeof mi;
	FILE			*rec = NULL;
	const struct nlmsghdr	*nlh;
	int			 fd, c, i, n, g, left, rcvbuf = 8 << 20;
	bool			 expect = false;
	static const char *const names[4] = { "new", "update", "destroy",
	    "bad" };

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': rcvbuf = atoi(optarg); break;
		case 'e': expect = true; break;
		case 'r':
			if ((rec = fopen(optarg, "w")) == NULL)
				ctb_die("%s: %s", optarg, strerror(errno));
			break;
		case 'm': max = strtoull(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: ctb-floor [--rcvbuf BYTES] "
			    "[--expect] [--record FILE] [--max N]\n");
			return (2);
		}
	}
	memset(&act, 0, sizeof act);
	act.sa_handler = on_signal;	/* no SA_RESTART: recvmmsg returns */
	sigaction(SIGINT, &act, NULL);
	sigaction(SIGTERM, &act, NULL);

	if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
	    NETLINK_NETFILTER)) == -1)
		ctb_die("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof sa);
	sa.nl_family = AF_NETLINK;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1)
		ctb_die("bind: %s", strerror(errno));
	for (g = NFNLGRP_CONNTRACK_NEW; g <= NFNLGRP_CONNTRACK_DESTROY; g++)
		setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g,
		    sizeof g);
	if (expect)
		for (g = NFNLGRP_CONNTRACK_EXP_NEW;
		    g <= NFNLGRP_CONNTRACK_EXP_DESTROY; g++)
			setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
			    &g, sizeof g);
	if (rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
	    sizeof rcvbuf) == -1)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

	for (i = 0; i < SLOTS; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = SLOTLEN;
		memset(&msgs[i], 0, sizeof msgs[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (!stop && (max == 0 || total < max)) {
		n = recvmmsg(fd, msgs, SLOTS, MSG_WAITFORONE, NULL);
		if (n == -1) {
			if (errno == ENOBUFS) {
				enobufs++;
				continue;
			}
			if (errno == EINTR)
				continue;
			ctb_die("recvmmsg: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			datagrams++;
			bytes += msgs[i].msg_len;
			left = (int)msgs[i].msg_len;
			for (nlh = (void *)bufs[i]; mnl_nlmsg_ok(nlh, left);
			    nlh = mnl_nlmsg_next(nlh, &left)) {
				if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
					continue;
				total++;
				if (rec != NULL)
					fwrite(nlh, 1,
					    NLMSG_ALIGN(nlh->nlmsg_len), rec);
				if (NFNL_SUBSYS_ID(nlh->nlmsg_type) ==
				    NFNL_SUBSYS_CTNETLINK_EXP) {
					exp++;
					continue;
				}
				if (NFNL_SUBSYS_ID(nlh->nlmsg_type) !=
				    NFNL_SUBSYS_CTNETLINK) {
					other++;
					continue;
				}
				if (NFNL_MSG_TYPE(nlh->nlmsg_type) ==
				    IPCTNL_MSG_CT_DELETE)
					cnt[2]++;
				else if (nlh->nlmsg_flags &
				    (NLM_F_CREATE | NLM_F_EXCL))
					cnt[0]++;
				else
					cnt[1]++;
			}
		}
	}
	memset(mi, 0, sizeof mi);
	getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &mlen);
	if (rec != NULL)
		fclose(rec);
	printf("{");
	for (i = 0; i < 3; i++)
		printf("\"%s\":%llu,", names[i], (unsigned long long)cnt[i]);
	printf("\"expect\":%llu,\"other\":%llu,\"messages\":%llu,"
	    "\"datagrams\":%llu,\"bytes\":%llu,\"enobufs\":%llu,"
	    "\"socket_drops\":%u}\n", (unsigned long long)exp,
	    (unsigned long long)other, (unsigned long long)total,
	    (unsigned long long)datagrams, (unsigned long long)bytes,
	    (unsigned long long)enobufs, mi[SK_MEMINFO_DROPS]);
	return (0);
}
