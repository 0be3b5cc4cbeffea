/*
 * privsep.c - the one thing that keeps a capability.
 *
 * nfnetlink checks CAP_NET_ADMIN twice for every request: against the
 * credentials the socket was opened with, and against the task sending
 * it.  A daemon with no capability at all can therefore receive events
 * but cannot ask the kernel anything.  So, as OpenBSD daemons do, the
 * work is split: before dropping its privileges the daemon forks a small
 * helper that keeps CAP_NET_ADMIN and nothing else, shares the netlink
 * sockets (they are inherited), and does exactly two things on request
 * from the daemon over a socketpair:
 *
 *   - send a message on one of those sockets, if it is a conntrack or
 *     expectation message (the ctnetlink subsystems) of sane length;
 *   - set the receive buffer of one of them (SO_RCVBUFFORCE).
 *
 * Answers from the kernel arrive on the shared socket and are read by the
 * daemon itself.  The daemon, which parses everything clients send, runs
 * with no capability; the helper parses nothing but this fixed request.
 * Each side exits when the other goes away.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>

#include "log.h"
#include "privsep.h"

#define PS_MAXMSG	4096
#define PS_MAXFDS	64

enum ps_op {
	PS_SEND = 1,
	PS_RCVBUF,
};

struct ps_req {
	uint32_t	op;
	int32_t		fd;
	int32_t		arg;
	uint32_t	len;
};

static int	ps_chan = -1;		/* the daemon's end */
static pid_t	ps_pid = -1;
static int	ps_fds[PS_MAXFDS];	/* the sockets the helper may use */
static int	ps_nfds;

/* Register a netlink socket the helper may act on (before the fork). */
void
privsep_allow(int fd)
{
	if (ps_nfds < PS_MAXFDS)
		ps_fds[ps_nfds++] = fd;
}

/* Tell whether the helper may use fd. */
static int
ps_allowed(int fd)
{
	int	i;

	for (i = 0; i < ps_nfds; i++)
		if (ps_fds[i] == fd)
			return (1);
	return (0);
}

/* Helper: close every descriptor but the channel and the sockets. */
static void
ps_close_others(int chan)
{
	DIR		*d;
	struct dirent	*e;
	int		 fd, dfd;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return;
	dfd = dirfd(d);
	while ((e = readdir(d)) != NULL) {
		fd = atoi(e->d_name);
		if (e->d_name[0] == '.' || fd <= STDERR_FILENO || fd == dfd ||
		    fd == chan || ps_allowed(fd))
			continue;
		close(fd);
	}
	closedir(d);
}

/* Helper: keep CAP_NET_ADMIN alone, as user (NULL: the current one). */
static int
ps_restrict(const char *user)
{
	struct __user_cap_header_struct	hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct	data[2];
	struct passwd			*pw;
	int				 cap;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return (-errno);
	for (cap = 0; cap <= 63; cap++)
		if (cap != CAP_NET_ADMIN)
			(void)prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL)
			return (-ENOENT);
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1 ||
		    (setgroups(1, &pw->pw_gid) == -1 && errno != EPERM) ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
			return (-errno);
	}
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(data, 0, sizeof data);
	data[0].effective = data[0].permitted = 1U << CAP_NET_ADMIN;
	if (syscall(SYS_capset, &hdr, data) == -1)
		return (-errno);
	return (0);
}

/* Helper: check and carry out one request; returns 0 or -errno. */
static int
ps_do(const struct ps_req *r, const char *msg, size_t len)
{
	const struct nlmsghdr	*nlh = (const struct nlmsghdr *)msg;
	int			 sub;

	if (!ps_allowed(r->fd))
		return (-EBADF);
	switch (r->op) {
	case PS_SEND:
		if (len < NLMSG_HDRLEN || nlh->nlmsg_len != len)
			return (-EINVAL);
		sub = NFNL_SUBSYS_ID(nlh->nlmsg_type);
		if (sub != NFNL_SUBSYS_CTNETLINK &&
		    sub != NFNL_SUBSYS_CTNETLINK_EXP)
			return (-EPERM);
		if (send(r->fd, msg, len, 0) != (ssize_t)len)
			return (errno != 0 ? -errno : -EIO);
		return (0);
	case PS_RCVBUF:
		if (r->arg <= 0 || len != 0)
			return (-EINVAL);
		if (setsockopt(r->fd, SOL_SOCKET, SO_RCVBUFFORCE, &r->arg,
		    sizeof r->arg) == -1)
			return (-errno);
		return (0);
	default:
		return (-EINVAL);
	}
}

/* Helper: serve requests until the daemon goes away. */
static void __attribute__((noreturn))
ps_serve(int chan)
{
	char		 buf[sizeof(struct ps_req) + PS_MAXMSG];
	struct ps_req	 r;
	ssize_t		 n;
	int32_t		 result;

	for (;;) {
		n = recv(chan, buf, sizeof buf, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		if ((size_t)n < sizeof r) {
			result = -EINVAL;
		} else {
			memcpy(&r, buf, sizeof r);
			result = r.len != (uint32_t)((size_t)n - sizeof r) ? -EINVAL :
			    ps_do(&r, buf + sizeof r, r.len);
		}
		errno = 0;
		if (send(chan, &result, sizeof result, 0) == -1 &&
		    errno != EINTR)
			_exit(1);
	}
}

/*
 * Start the helper, as user (NULL: the current one), with the sockets
 * registered by privsep_allow().  Returns 0 or -errno.
 */
int
privsep_start(const char *user)
{
	int	sp[2], error;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
		return (-errno);
	switch ((ps_pid = fork())) {
	case -1:
		error = -errno;
		close(sp[0]);
		close(sp[1]);
		return (error);
	case 0:
		close(sp[0]);
		(void)prctl(PR_SET_NAME, "ctstreamd-nl", 0, 0, 0);
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		ps_close_others(sp[1]);
		if ((error = ps_restrict(user)) != 0) {
			fprintf(stderr, "ctstreamd: netlink helper: cannot "
			    "restrict itself: %s\n", strerror(-error));
			_exit(1);
		}
		ps_serve(sp[1]);
	default:
		close(sp[1]);
		ps_chan = sp[0];
		return (0);
	}
}

/* Daemon: send one request to the helper and wait for its verdict. */
static int
ps_call(const struct ps_req *r, const void *msg)
{
	struct iovec	iov[2];
	struct msghdr	mh;
	int32_t		result;
	ssize_t		n;

	if (ps_chan == -1)
		return (-ENOSYS);
	iov[0].iov_base = (void *)r;
	iov[0].iov_len = sizeof *r;
	iov[1].iov_base = (void *)msg;
	iov[1].iov_len = r->len;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = r->len > 0 ? 2 : 1;
	while ((n = sendmsg(ps_chan, &mh, MSG_NOSIGNAL)) == -1 &&
	    errno == EINTR)
		;
	if (n == -1)
		fatal("netlink helper is gone");
	while ((n = recv(ps_chan, &result, sizeof result, 0)) == -1 &&
	    errno == EINTR)
		;
	if (n != sizeof result)
		fatalx("netlink helper is gone");
	return (result);
}

/*
 * Send a ctnetlink message on fd: directly while the daemon is still
 * privileged, through the helper once it runs.  Returns 0 or -errno.
 */
int
privsep_send(int fd, const void *msg, size_t len)
{
	struct ps_req	r;

	if (ps_chan == -1) {
		if (send(fd, msg, len, 0) != (ssize_t)len)
			return (errno != 0 ? -errno : -EIO);
		return (0);
	}
	if (len > PS_MAXMSG)
		return (-EMSGSIZE);
	r.op = PS_SEND;
	r.fd = fd;
	r.arg = 0;
	r.len = (uint32_t)len;
	return (ps_call(&r, msg));
}

/* Force fd's receive buffer to n bytes, through the helper if running. */
int
privsep_rcvbuf(int fd, int n)
{
	struct ps_req	r;

	if (ps_chan == -1) {
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &n,
		    sizeof n) == -1)
			return (-errno);
		return (0);
	}
	r.op = PS_RCVBUF;
	r.fd = fd;
	r.arg = n;
	r.len = 0;
	return (ps_call(&r, NULL));
}

/* Return the helper's pid, or -1. */
pid_t
privsep_pid(void)
{
	return (ps_pid);
}

/* Stop the helper (at exit). */
void
privsep_stop(void)
{
	if (ps_chan == -1)
		return;
	close(ps_chan);
	ps_chan = -1;
	if (ps_pid > 0)
		(void)waitpid(ps_pid, NULL, 0);
	ps_pid = -1;
}
