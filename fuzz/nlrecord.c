/*
 * nlrecord.c - record ctnetlink messages as fuzzing seeds.
 *
 *   nlrecord [-d] [-t seconds] [-n max] dir
 *
 * Joins the conntrack and expectation event groups of the network
 * namespace it runs in and writes every message it receives, one file
 * per message, into dir (dir/ev-N).  With -d it also dumps both tables
 * at the end (dir/dump-N).  It stops after -t seconds (default 5) or -n
 * messages (default 1000).  Run it as root inside a private namespace
 * (ip netns exec); it never changes anything.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

static unsigned int	nsaved;

/* Write one message to dir/prefix-N. */
static void
save(const char *dir, const char *prefix, const struct nlmsghdr *nlh)
{
	char	path[4096];
	int	fd;

	snprintf(path, sizeof path, "%s/%s-%04u", dir, prefix, nsaved++);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
	    write(fd, nlh, nlh->nlmsg_len) != (ssize_t)nlh->nlmsg_len) {
		perror(path);
		exit(1);
	}
	close(fd);
}

/* Save every conntrack or expectation message of a datagram. */
static int
save_all(const char *dir, const char *prefix, const char *buf, int len)
{
	const struct nlmsghdr	*nlh = (const struct nlmsghdr *)buf;
	int			 n = 0;

	for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type == NLMSG_DONE)
			return (-1);
		if (nlh->nlmsg_type == NLMSG_ERROR)
			return (-1);
		save(dir, prefix, nlh);
		n++;
	}
	return (n);
}

/* Dump one table (ct or expectations) and save its entries. */
static void
dump(const char *dir, int subsys, int type)
{
	struct mnl_socket	*nl;
	struct nlmsghdr		*nlh;
	struct nfgenmsg		*nfg;
	static char		 buf[32768];
	int			 n;

	if ((nl = mnl_socket_open(NETLINK_NETFILTER)) == NULL ||
	    mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == -1) {
		perror("dump socket");
		exit(1);
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (subsys << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = 1;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		perror("dump request");
		exit(1);
	}
	while ((n = (int)mnl_socket_recvfrom(nl, buf, sizeof buf)) > 0)
		if (save_all(dir, "dump", buf, n) < 0)
			break;
	mnl_socket_close(nl);
}

int
main(int argc, char **argv)
{
	static const int	 groups[] = { NFNLGRP_CONNTRACK_NEW,
				    NFNLGRP_CONNTRACK_UPDATE,
				    NFNLGRP_CONNTRACK_DESTROY,
				    NFNLGRP_CONNTRACK_EXP_NEW,
				    NFNLGRP_CONNTRACK_EXP_UPDATE,
				    NFNLGRP_CONNTRACK_EXP_DESTROY };
	struct mnl_socket	*nl;
	static char		 buf[65536];
	struct pollfd		 pfd;
	time_t			 end;
	unsigned int		 max = 1000, secs = 5;
	size_t			 i;
	int			 ch, n, dumps = 0, grp;
	const char		*dir;

	while ((ch = getopt(argc, argv, "dn:t:")) != -1) {
		switch (ch) {
		case 'd':
			dumps = 1;
			break;
		case 'n':
			max = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 't':
			secs = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	dir = argv[optind];

	if ((nl = mnl_socket_open(NETLINK_NETFILTER)) == NULL ||
	    mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == -1) {
		perror("event socket");
		return (1);
	}
	for (i = 0; i < sizeof groups / sizeof groups[0]; i++) {
		grp = groups[i];
		if (mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &grp,
		    sizeof grp) == -1) {
			perror("NETLINK_ADD_MEMBERSHIP");
			return (1);
		}
	}
	/* Tell whoever starts the traffic that we listen now. */
	printf("listening\n");
	fflush(stdout);
	pfd.fd = mnl_socket_get_fd(nl);
	pfd.events = POLLIN;
	end = time(NULL) + secs;
	while (nsaved < max && time(NULL) < end) {
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if ((n = (int)mnl_socket_recvfrom(nl, buf, sizeof buf)) < 0) {
			if (errno == ENOBUFS)
				continue;
			perror("recv");
			return (1);
		}
		(void)save_all(dir, "ev", buf, n);
	}
	mnl_socket_close(nl);
	if (dumps) {
		dump(dir, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET);
		dump(dir, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET);
	}
	fprintf(stderr, "nlrecord: %u messages saved in %s\n", nsaved, dir);
	return (0);
usage:
	fprintf(stderr, "usage: nlrecord [-d] [-t seconds] [-n max] dir\n");
	return (2);
}
