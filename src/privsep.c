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
 *   - set the receive buffer of one of them (SO_RCVBUFFORCE);
 *   - with --netns-all only (it then also keeps CAP_SYS_ADMIN, for
 *     setns), make the sockets of a namespace that appeared, and pass
 *     them to the daemon (SCM_RIGHTS), keeping its own copies to act on;
 *     and close its copies when the namespace goes.
 *
 * Sockets are named in requests by the helper's descriptor numbers: the
 * same as the daemon's for those inherited at the fork.
 * Answers from the kernel arrive on the shared socket and are read by the
 * daemon itself.  The daemon, which parses everything clients send, runs
 * with no capability; the helper parses nothing but this fixed request.
 * The daemon goes on only once the helper has said that it restricted
 * itself, or stops with the helper's reason (--netns-all without
 * CAP_SYS_ADMIN, say).  Each side exits when the other goes away.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
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
#include <event2/event.h>

#include "compat.h"
#include "log.h"
#include "mon.h"
#include "privsep.h"

#define PS_MAXMSG	(PATH_MAX + 256)
#define PS_MAXFDS	4096
#define PS_MAXQUEUE	1024		/* requests the daemon may have out */
#define PS_BUDGET	64		/* answers read per wakeup */

enum ps_op {
	PS_SEND = 1,
	PS_RCVBUF,
	PS_OPEN,
	PS_CLOSE,
};

/* PS_OPEN's request and answer. */
struct ps_open {
	struct mon_make	mk;
	char		path[PATH_MAX];
};

/*
 * Every answer starts so: the request it answers (its operation, socket
 * and, for PS_SEND, the netlink sequence number of the message; for
 * PS_RCVBUF, the size) and its result, 0 or -errno.
 */
struct ps_ans {
	uint32_t	op;
	int32_t		fd;
	uint32_t	seq;
	int32_t		result;
};

/*
 * PS_OPEN's answer.  psfds are the helper's numbers in the order of
 * MON_FD_*, -1 for a socket not made (the expectation socket outside
 * reliable mode); the descriptors passed are the others, in the same
 * order.
 */
struct ps_opened {
	struct ps_ans	ans;
	struct diag	diag;
	int32_t		psfds[MON_NFDS];
	char		err[256];
};

struct ps_req {
	uint32_t	op;
	int32_t		fd;
	int32_t		arg;
	uint32_t	len;
};

/* A request of the daemon's, not yet answered. */
struct ps_pending {
	TAILQ_ENTRY(ps_pending)	 entry;
	struct ps_req		 r;
	uint32_t		 seq;		/* what the answer must name */
	privsep_done_cb		 done;		/* NULL: nobody waits */
	privsep_open_cb		 opened;
	void			*arg;
	char			 msg[];		/* r.len bytes */
};

TAILQ_HEAD(ps_queue, ps_pending);

static int	ps_chan = -1;		/* the daemon's end */
static pid_t	ps_pid = -1;
static int	ps_fds[PS_MAXFDS];	/* the sockets the helper may use */
static int	ps_nfds;
static bool	ps_can_open;

/* The daemon's side of the requests (see privsep_attach()). */
static struct ps_queue	 ps_sent = TAILQ_HEAD_INITIALIZER(ps_sent);
static struct ps_queue	 ps_unsent = TAILQ_HEAD_INITIALIZER(ps_unsent);
static unsigned int	 ps_queued;	/* in either */
static struct event	*ps_rev;
static struct event	*ps_wev;

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

/* Helper: forget a socket and close it. */
static int
ps_forget(int fd)
{
	int	i;

	for (i = 0; i < ps_nfds; i++) {
		if (ps_fds[i] != fd)
			continue;
		ps_fds[i] = ps_fds[--ps_nfds];
		close(fd);
		return (0);
	}
	return (-EBADF);
}

/* Put a namespace's sockets in the order of MON_FD_*. */
static void
ps_order(const struct mon_fds *fds, int all[MON_NFDS])
{
	int	i;

	all[MON_FD_EV] = fds->ev;
	all[MON_FD_XEV] = fds->xev;
	for (i = 0; i < QUERY_SOCKETS_DEFAULT; i++)
		all[MON_FD_Q + i] = fds->q[i];
}

/* Helper: make a namespace's sockets and send them to the daemon. */
static void
ps_open(int chan, const struct ps_open *o)
{
	struct ps_opened	 a;
	struct mon_fds		 fds;
	struct msghdr		 mh;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	union {
		char		buf[CMSG_SPACE(sizeof(int) * MON_NFDS)];
		struct cmsghdr	align;
	}			 cbuf;
	int			 i, n, all[MON_NFDS], pass[MON_NFDS];

	memset(&a, 0, sizeof a);
	memset(&mh, 0, sizeof mh);
	iov.iov_base = &a;
	iov.iov_len = sizeof a;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	a.ans.op = PS_OPEN;
	a.ans.fd = -1;
	if (!ps_can_open)
		a.ans.result = -EPERM;
	else if (ps_nfds + MON_NFDS > PS_MAXFDS)
		a.ans.result = -EMFILE;
	else if (memchr(o->path, '\0', sizeof o->path) == NULL)
		a.ans.result = -EINVAL;
	else
		a.ans.result = mon_make(o->path, &o->mk, &fds, a.err,
		    sizeof a.err);
	if (a.ans.result == 0) {
		a.diag = fds.diag;
		ps_order(&fds, all);
		for (i = n = 0; i < MON_NFDS; i++) {
			a.psfds[i] = all[i];
			if (all[i] == -1)
				continue;
			ps_fds[ps_nfds++] = all[i];
			pass[n++] = all[i];
		}
		memset(&cbuf, 0, sizeof cbuf);
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(cm), pass, sizeof(int) * n);
	}
	if (sendmsg(chan, &mh, 0) == -1)
		_exit(1);
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

/* Put what failed, and how, in err; returns -error. */
static int
ps_fail(char *err, size_t errlen, const char *what, int error)
{
	snprintf(err, errlen, "%s: %s", what, strerror(error));
	return (-error);
}

/*
 * Helper: keep CAP_NET_ADMIN alone (and CAP_SYS_ADMIN, for setns, if
 * namespaces are to be opened later), as user (NULL: the current one).
 * Returns 0, or -errno with what failed in err.
 */
static int
ps_restrict(const char *user, char *err, size_t errlen)
{
	struct __user_cap_header_struct	hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct	data[2];
	struct passwd			*pw;
	int				 cap;

	/* What capset() would refuse, said in words. */
	if (syscall(SYS_capget, &hdr, data) == -1)
		return (ps_fail(err, errlen, "capget", errno));
	if ((data[0].permitted & (1U << CAP_NET_ADMIN)) == 0) {
		snprintf(err, errlen, "the netlink helper needs CAP_NET_ADMIN "
		    "for ctnetlink requests");
		return (-EPERM);
	}
	if (ps_can_open && (data[0].permitted & (1U << CAP_SYS_ADMIN)) == 0) {
		snprintf(err, errlen, "--netns-all needs CAP_SYS_ADMIN for the "
		    "netlink helper (setns)");
		return (-EPERM);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return (ps_fail(err, errlen, "no_new_privs", errno));
	for (cap = 0; cap <= 63; cap++)
		if (cap != CAP_NET_ADMIN &&
		    (cap != CAP_SYS_ADMIN || !ps_can_open))
			(void)prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL) {
			snprintf(err, errlen, "no user '%s'", user);
			return (-ENOENT);
		}
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1 ||
		    (setgroups(1, &pw->pw_gid) == -1 && errno != EPERM) ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
			return (ps_fail(err, errlen, "cannot switch to the user",
			    errno));
	}
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(data, 0, sizeof data);
	data[0].effective = data[0].permitted = 1U << CAP_NET_ADMIN;
	if (ps_can_open)
		data[0].effective = data[0].permitted |= 1U << CAP_SYS_ADMIN;
	if (syscall(SYS_capset, &hdr, data) == -1)
		return (ps_fail(err, errlen, "capset", errno));
	return (0);
}

/* Helper: check and carry out one request; returns 0 or -errno. */
static int
ps_do(const struct ps_req *r, const char *msg, size_t len)
{
	const struct nlmsghdr	*nlh = (const struct nlmsghdr *)msg;
	int			 sub;

	if (r->op == PS_CLOSE)
		return (len == 0 ? ps_forget(r->fd) : -EINVAL);
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

/*
 * Helper: what names a request in its answer besides its operation and
 * socket: a message's netlink sequence number, or the size asked for.
 */
static uint32_t
ps_ident(const struct ps_req *r, const char *msg, size_t len)
{
	struct nlmsghdr	nlh;

	if (r->op == PS_SEND && len >= sizeof nlh) {
		memcpy(&nlh, msg, sizeof nlh);
		return (nlh.nlmsg_seq);
	}
	if (r->op == PS_RCVBUF)
		return ((uint32_t)r->arg);
	return (0);
}

/*
 * Helper: serve requests until the daemon goes away.  Each gets one
 * answer, in order, naming it; the daemon does not wait for them.
 */
static void __attribute__((noreturn))
ps_serve(int chan)
{
	char		 buf[sizeof(struct ps_req) + PS_MAXMSG];
	struct ps_req	 r;
	struct ps_ans	 a;
	ssize_t		 n;

	for (;;) {
		n = recv(chan, buf, sizeof buf, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		memset(&a, 0, sizeof a);
		if ((size_t)n < sizeof r) {
			a.fd = -1;
			a.result = -EINVAL;
		} else if (memcpy(&r, buf, sizeof r), r.op == PS_OPEN) {
			struct ps_open	o;

			if ((size_t)n - sizeof r != sizeof o)
				_exit(1);
			memcpy(&o, buf + sizeof r, sizeof o);
			ps_open(chan, &o);
			continue;
		} else {
			a.op = r.op;
			a.fd = r.fd;
			a.seq = ps_ident(&r, buf + sizeof r, (size_t)n - sizeof r);
			a.result = r.len != (uint32_t)((size_t)n - sizeof r) ?
			    -EINVAL : ps_do(&r, buf + sizeof r, r.len);
		}
		while (send(chan, &a, sizeof a, 0) == -1)
			if (errno != EINTR)
				_exit(1);
	}
}

/*
 * Daemon: wait for the helper to say it is set up (one NUL byte) or why it
 * is not (a message).  Returns 0, or -errno with the reason in err.
 */
static int
ps_wait_ready(int chan, char *err, size_t errlen)
{
	char	msg[256];
	ssize_t	n;

	while ((n = recv(chan, msg, sizeof msg - 1, 0)) == -1 &&
	    errno == EINTR)
		;
	if (n == 1 && msg[0] == '\0')
		return (0);
	if (n > 0) {
		msg[n] = '\0';
		snprintf(err, errlen, "%s", msg);
		return (-EPERM);
	}
	if (n == -1)
		return (ps_fail(err, errlen, "recv", errno));
	snprintf(err, errlen, "it exited while starting");
	return (-ECHILD);
}

/*
 * Start the helper, as user (NULL: the current one), with the sockets
 * registered by privsep_allow(), and wait until it has restricted itself.
 * Returns 0, or -errno with what failed in err.
 */
int
privsep_start(const char *user, bool can_open, char *err, size_t errlen)
{
	char	msg[256];
	int	sp[2], error;

	ps_can_open = can_open;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
		return (ps_fail(err, errlen, "socketpair", errno));
	switch ((ps_pid = fork())) {
	case -1:
		error = ps_fail(err, errlen, "fork", errno);
		close(sp[0]);
		close(sp[1]);
		return (error);
	case 0:
		close(sp[0]);
		(void)prctl(PR_SET_NAME, "ctstreamd-nl", 0, 0, 0);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		/*
		 * The daemon's handlers (libevent's) mean nothing here, and
		 * the helper ends when the daemon does (the end of its
		 * channel, or the parent-death signal), not on a signal sent
		 * to them both: systemctl stop sends SIGTERM to the whole
		 * unit, and a helper gone first would fail the requests the
		 * daemon still makes while it stops.
		 */
		signal(SIGPIPE, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		ps_close_others(sp[1]);
		/* The daemon waits for either answer before it goes on. */
		if (ps_restrict(user, msg, sizeof msg) != 0) {
			(void)send(sp[1], msg, strlen(msg), MSG_NOSIGNAL);
			_exit(1);
		}
		if (send(sp[1], "", 1, MSG_NOSIGNAL) != 1)
			_exit(1);
		ps_serve(sp[1]);
	default:
		close(sp[1]);
		if ((error = ps_wait_ready(sp[0], err, errlen)) != 0) {
			close(sp[0]);
			(void)waitpid(ps_pid, NULL, 0);
			ps_pid = -1;
			return (error);
		}
		ps_chan = sp[0];
		return (0);
	}
}

/*
 * The daemon's side of the requests.  They do not wait for the helper:
 * nfnetlink serves the ctnetlink requests of the whole system under one
 * mutex, which a flush of a large table holds for seconds, and while the
 * helper sleeps in send() the daemon must go on reading its event
 * sockets.  So a request is queued and the call returns; the queue is
 * written to the channel as it takes it, in order (at most PS_MAXQUEUE
 * requests are out at once).  The helper answers every request, in
 * order, naming it; the daemon reads the answers from its event loop and
 * hands each to the callback given with its request.  Before the helper
 * runs, the calls act directly.
 */

/* Daemon: write queued requests while the channel takes them. */
static void
ps_flush(void)
{
	struct ps_pending	*p;
	struct iovec		 iov[2];
	struct msghdr		 mh;
	ssize_t			 n;

	while ((p = TAILQ_FIRST(&ps_unsent)) != NULL) {
		iov[0].iov_base = &p->r;
		iov[0].iov_len = sizeof p->r;
		iov[1].iov_base = p->msg;
		iov[1].iov_len = p->r.len;
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = iov;
		mh.msg_iovlen = p->r.len > 0 ? 2 : 1;
		n = sendmsg(ps_chan, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			event_add(ps_wev, NULL);
			return;
		}
		if (n == -1)
			fatal("netlink helper is gone");
		TAILQ_REMOVE(&ps_unsent, p, entry);
		TAILQ_INSERT_TAIL(&ps_sent, p, entry);
	}
}

/* Daemon: the channel has room again. */
static void
ps_writable(evutil_socket_t fd, short what, void *arg)
{
	ps_flush();
}

/*
 * Daemon: queue a request for the helper; done or opened gets its answer
 * (with arg).  Returns PRIVSEP_QUEUED or -errno.
 */
static int
ps_enqueue(uint32_t op, int fd, int arg, uint32_t seq, const void *msg,
    size_t len, privsep_done_cb done, privsep_open_cb opened, void *cbarg)
{
	struct ps_pending	*p;

	if (ps_rev == NULL)
		fatalx("netlink helper: no event loop to read its answers");
	/* A close is never refused: the helper's copy would stay open. */
	if (op != PS_CLOSE && ps_queued >= PS_MAXQUEUE)
		return (-ENOBUFS);
	if ((p = malloc(sizeof *p + len)) == NULL)
		return (-ENOMEM);
	p->r.op = op;
	p->r.fd = fd;
	p->r.arg = arg;
	p->r.len = (uint32_t)len;
	p->seq = seq;
	p->done = done;
	p->opened = opened;
	p->arg = cbarg;
	if (len > 0)
		memcpy(p->msg, msg, len);
	TAILQ_INSERT_TAIL(&ps_unsent, p, entry);
	ps_queued++;
	if (!event_pending(ps_wev, EV_WRITE, NULL))
		ps_flush();
	return (PRIVSEP_QUEUED);
}

/* Daemon: close descriptors passed with an answer that wants none. */
static void
ps_close_passed(struct msghdr *mh)
{
	struct cmsghdr	*cm;
	size_t		 i, n;
	int		 fd;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof fd;
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof fd, sizeof fd);
			close(fd);
		}
	}
}

/*
 * Daemon: a namespace's sockets came: hand them to whoever asked, or
 * close them again (ours and the helper's) if nobody waits any more.
 */
static void
ps_answer_open(struct ps_pending *p, struct ps_opened *a, struct msghdr *mh)
{
	struct mon_fds	 fds;
	struct cmsghdr	*cm;
	int		 all[MON_NFDS], got[MON_NFDS], psfds[MON_NFDS];
	int		 i, k, want;

	if (a->ans.result != 0) {
		ps_close_passed(mh);
		a->err[sizeof a->err - 1] = '\0';
		if (p->opened != NULL)
			p->opened(p->arg, a->ans.result, NULL, NULL,
			    a->err[0] != '\0' ? a->err :
			    strerror(-a->ans.result));
		return;
	}
	for (i = want = 0; i < MON_NFDS; i++)
		if (a->psfds[i] != -1)
			want++;
	cm = CMSG_FIRSTHDR(mh);
	if (a->psfds[MON_FD_EV] == -1 || cm == NULL ||
	    cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int) * want))
		fatalx("netlink helper sent no sockets");
	memcpy(got, CMSG_DATA(cm), sizeof(int) * want);
	for (i = k = 0; i < MON_NFDS; i++)
		all[i] = a->psfds[i] == -1 ? -1 : got[k++];
	fds.ev = all[MON_FD_EV];
	fds.xev = all[MON_FD_XEV];
	for (i = 0; i < QUERY_SOCKETS_DEFAULT; i++)
		fds.q[i] = all[MON_FD_Q + i];
	for (i = 0; i < MON_NFDS; i++)
		psfds[i] = a->psfds[i];
	fds.diag = a->diag;
	if (p->opened != NULL)
		p->opened(p->arg, 0, &fds, psfds, NULL);
	else
		privsep_discard(&fds, psfds);
}

/*
 * Daemon: the helper answered.  Answers come in the order of the
 * requests, each naming its own; anything else means the two sides are
 * out of step, and the daemon stops.
 */
static void
ps_read(evutil_socket_t fd, short what, void *arg)
{
	struct ps_pending	*p;
	struct ps_opened	 a;
	struct msghdr		 mh;
	struct iovec		 iov;
	union {
		char		buf[CMSG_SPACE(sizeof(int) * MON_NFDS)];
		struct cmsghdr	align;
	}			 cbuf;
	ssize_t			 n;
	size_t			 want;
	int			 i;

	for (i = 0; i < PS_BUDGET; i++) {
		memset(&mh, 0, sizeof mh);
		iov.iov_base = &a;
		iov.iov_len = sizeof a;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof cbuf.buf;
		n = recvmsg(ps_chan, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n == -1)
			fatal("netlink helper is gone");
		if (n == 0)
			fatalx("netlink helper is gone");
		p = TAILQ_FIRST(&ps_sent);
		want = p != NULL && p->r.op == PS_OPEN ? sizeof a :
		    sizeof a.ans;
		if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
		    p == NULL || (size_t)n != want || a.ans.op != p->r.op ||
		    a.ans.fd != p->r.fd || a.ans.seq != p->seq)
			fatalx("netlink helper out of step");
		TAILQ_REMOVE(&ps_sent, p, entry);
		ps_queued--;
		if (p->r.op == PS_OPEN)
			ps_answer_open(p, &a, &mh);
		else {
			ps_close_passed(&mh);
			if (p->done != NULL)
				p->done(p->arg, p->seq, a.ans.result);
		}
		free(p);
	}
}

/* Daemon: drop every request still out (the helper is gone). */
static void
ps_forget_all(void)
{
	struct ps_pending	*p;

	while ((p = TAILQ_FIRST(&ps_sent)) != NULL) {
		TAILQ_REMOVE(&ps_sent, p, entry);
		free(p);
	}
	while ((p = TAILQ_FIRST(&ps_unsent)) != NULL) {
		TAILQ_REMOVE(&ps_unsent, p, entry);
		free(p);
	}
	ps_queued = 0;
	if (ps_rev != NULL)
		event_free(ps_rev);
	if (ps_wev != NULL)
		event_free(ps_wev);
	ps_rev = ps_wev = NULL;
}

/*
 * Read the helper's answers from the event loop of base: call once the
 * helper runs, before any request.
 */
void
privsep_attach(struct event_base *base)
{
	if (ps_chan == -1 || ps_rev != NULL)
		return;
	ps_rev = event_new(base, ps_chan, EV_READ | EV_PERSIST, ps_read, NULL);
	ps_wev = event_new(base, ps_chan, EV_WRITE, ps_writable, NULL);
	if (ps_rev == NULL || ps_wev == NULL || event_add(ps_rev, NULL) == -1)
		fatalx("out of memory");
}

/*
 * Send a ctnetlink message on fd (psfd to the helper): directly while the
 * daemon is still privileged (0 or -errno), through the helper once it
 * runs: PRIVSEP_QUEUED, and done later gets arg, the message's sequence
 * number and the result of the send (0 or -errno); or -errno at once.
 */
int
privsep_send(int psfd, int fd, const void *msg, size_t len,
    privsep_done_cb done, void *arg)
{
	struct nlmsghdr	nlh;

	if (ps_chan == -1) {
		if (send(fd, msg, len, 0) != (ssize_t)len)
			return (errno != 0 ? -errno : -EIO);
		return (0);
	}
	if (len > PS_MAXMSG)
		return (-EMSGSIZE);
	if (len < sizeof nlh)
		return (-EINVAL);
	memcpy(&nlh, msg, sizeof nlh);
	return (ps_enqueue(PS_SEND, psfd, 0, nlh.nlmsg_seq, msg, len, done,
	    NULL, arg));
}

/*
 * Force fd's receive buffer to n bytes: directly before the helper runs
 * (0 or -errno), else through it, as privsep_send() (done gets n).
 */
int
privsep_rcvbuf(int psfd, int fd, int n, privsep_done_cb done, void *arg)
{
	if (ps_chan == -1) {
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &n,
		    sizeof n) == -1)
			return (-errno);
		return (0);
	}
	return (ps_enqueue(PS_RCVBUF, psfd, n, (uint32_t)n, NULL, 0, done,
	    NULL, arg));
}

/*
 * Have the helper make the sockets of the namespace at path.  Returns
 * PRIVSEP_QUEUED, and opened later gets arg with 0, the daemon's
 * descriptors and the helper's numbers for them (MON_FD_* order), or
 * -errno with a message; or -errno at once.
 */
int
privsep_open(const char *path, const struct mon_make *mk,
    privsep_open_cb opened, void *arg)
{
	struct ps_open	o;

	if (ps_chan == -1)
		return (-ENOSYS);
	if (strlen(path) >= sizeof o.path)
		return (-ENAMETOOLONG);
	memset(&o, 0, sizeof o);
	o.mk = *mk;
	strcpy(o.path, path);
	return (ps_enqueue(PS_OPEN, -1, 0, 0, &o, sizeof o, NULL, opened,
	    arg));
}

/* Have the helper close its copy of a socket it made. */
void
privsep_close(int psfd)
{
	int	error;

	if (ps_chan == -1 || psfd == -1)
		return;
	if ((error = ps_enqueue(PS_CLOSE, psfd, 0, 0, NULL, 0, NULL, NULL,
	    NULL)) < 0) {
		errno = -error;
		log_warn("cannot have the netlink helper close a socket");
	}
}

/*
 * Close the sockets of a namespace that nobody wants after all: ours, and
 * the helper's copies.
 */
void
privsep_discard(struct mon_fds *fds, const int *psfds)
{
	int	i;

	if (fds->ev != -1)
		close(fds->ev);
	if (fds->xev != -1)
		close(fds->xev);
	for (i = 0; i < QUERY_SOCKETS_DEFAULT; i++)
		if (fds->q[i] != -1)
			close(fds->q[i]);
	for (i = 0; i < MON_NFDS; i++)
		privsep_close(psfds[i]);
}

/*
 * arg goes away: its requests get no answer.  Those not written yet are
 * dropped; a namespace opened for it is closed when it comes.
 */
void
privsep_cancel(const void *arg)
{
	struct ps_pending	*p, *next;

	if (arg == NULL)
		return;
	TAILQ_FOREACH(p, &ps_sent, entry) {
		if (p->arg == arg) {
			p->done = NULL;
			p->opened = NULL;
		}
	}
	TAILQ_FOREACH_SAFE(p, &ps_unsent, entry, next) {
		if (p->arg != arg)
			continue;
		TAILQ_REMOVE(&ps_unsent, p, entry);
		ps_queued--;
		free(p);
	}
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
	ps_forget_all();
}
