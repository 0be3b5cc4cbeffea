/*
 * query.c - ctnetlink requests: dumps, gets and changes to the table.
 *
 * A namespace has a small pool of request sockets, all opened at startup
 * (or by the privileged helper, for a namespace that appears later).
 * nfnetlink checks CAP_NET_ADMIN against the credentials the socket was
 * opened with and against the task that sends each request, so once the
 * daemon has dropped its privileges the requests are sent by the helper
 * (privsep.c), which does not make the daemon wait: a request may sleep
 * for seconds on the ctnetlink mutex while another process flushes the
 * table, and the event sockets must be read meanwhile.  The answers are
 * read here; a send that failed is told by the helper and ends its job.
 * A socket runs one job at a time (a netlink dump is per socket); other
 * jobs wait in FIFO order.
 *
 * Dumps are read at the pace of their consumer: a paused job's socket is
 * not read, so the kernel stops filling it and the table is never
 * buffered in the daemon (at most one datagram of entries beyond the
 * pause).  A cancelled job's answer is read and thrown away so the socket
 * can be reused.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libmnl/libmnl.h>
#include <event2/event.h>

#include "compat.h"
#include "log.h"
#include "netns.h"
#include "privsep.h"
#include "query.h"

#define QUERY_RCVLEN	(64 * 1024)	/* a dump datagram is at most 32 KiB */
#define QUERY_BUDGET	8		/* datagrams per wakeup */

struct qsock;

struct qjob {
	TAILQ_ENTRY(qjob)	 entry;
	struct query		*q;
	struct qsock		*sock;		/* NULL while queued */
	const struct qjob_ops	*ops;
	void			*arg;
	bool			 dump;
	bool			 paused;
	bool			 cancelled;
	int			 send_error;	/* finished from the loop */
	uint32_t		 seq;
	size_t			 reqlen;
	char			 req[QUERY_REQLEN];
};

struct qsock {
	struct query		*q;
	int			 fd;
	int			 psfd;		/* the helper's number for fd */
	uint32_t		 portid;
	struct event		*ev;
	struct qjob		*job;
};

TAILQ_HEAD(qjobs, qjob);

struct query {
	char			*name;
	struct event_base	*base;
	struct qsock		*socks;
	unsigned int		 nsocks;
	struct qjobs		 queue;
	uint32_t		 seq;
	struct query_stats	 st;
	char			*rbuf;
	bool			 closing;	/* no new jobs */
};

static void	query_start_next(struct query *);

/* Finish the running job of a socket and start the next queued one. */
static void
query_job_finish(struct qsock *qs, int error)
{
	struct qjob	*j = qs->job;
	struct query	*q = qs->q;

	qs->job = NULL;
	event_del(qs->ev);
	q->st.running--;
	if (error != 0)
		q->st.errors++;
	if (!j->cancelled)
		j->ops->done(j->arg, error);
	free(j);
	query_start_next(q);
}

/*
 * Handle one datagram of an answer.  Returns 1 when the job ended (the
 * socket is then free), 0 otherwise.
 */
static int
query_datagram(struct qsock *qs, const char *buf, size_t len)
{
	const struct nlmsghdr	*nlh = (const struct nlmsghdr *)buf;
	const struct nlmsgerr	*err;
	struct qjob		*j = qs->job;
	int			 left = (int)len;

	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		if (nlh->nlmsg_seq != j->seq)
			continue;		/* a stale answer */
		if (nlh->nlmsg_type == NLMSG_DONE) {
			query_job_finish(qs, 0);
			return (1);
		}
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof *err)) {
				query_job_finish(qs, -EBADMSG);
				return (1);
			}
			err = mnl_nlmsg_get_payload(nlh);
			query_job_finish(qs, err->error);
			return (1);
		}
		if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
			continue;
		qs->q->st.msgs++;
		if (!j->cancelled)
			j->ops->msg(j->arg, nlh);
		/* A non-dump answer is one message; the ack follows. */
	}
	return (0);
}

/* A request socket is readable. */
static void
query_read(evutil_socket_t fd, short what, void *arg)
{
	struct qsock		*qs = arg;
	struct sockaddr_nl	 sa;
	socklen_t		 salen;
	ssize_t			 n;
	int			 i;

	if (qs->job != NULL && qs->job->send_error != 0) {
		query_job_finish(qs, qs->job->send_error);
		return;
	}
	for (i = 0; i < QUERY_BUDGET && qs->job != NULL; i++) {
		if (qs->job->paused && !qs->job->cancelled) {
			event_del(qs->ev);
			return;
		}
		salen = sizeof sa;
		n = recvfrom(fd, qs->q->rbuf, QUERY_RCVLEN, MSG_DONTWAIT,
		    (struct sockaddr *)&sa, &salen);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			query_job_finish(qs, -errno);
			return;
		}
		if (sa.nl_pid != 0)
			continue;
		if (query_datagram(qs, qs->q->rbuf, n))
			return;
	}
}

/*
 * The helper's verdict on the request numbered seq: a send that failed
 * ends the job that sent it, if it still runs (the kernel will not
 * answer).  This comes from the loop, on its own.
 */
static void
query_sent(void *arg, uint32_t seq, int error)
{
	struct qsock	*qs = arg;

	if (error == 0 || qs->job == NULL || qs->job->seq != seq)
		return;
	query_job_finish(qs, error);
}

/* Send a job's request on a free socket. */
static void
query_job_start(struct qsock *qs, struct qjob *j)
{
	struct nlmsghdr	*nlh = (struct nlmsghdr *)j->req;
	int		 error;

	qs->job = j;
	j->sock = qs;
	j->seq = ++qs->q->seq;
	nlh->nlmsg_seq = j->seq;
	nlh->nlmsg_pid = qs->portid;
	qs->q->st.running++;
	/*
	 * Sent by the privileged helper once the daemon has dropped, without
	 * waiting (it may sleep on the ctnetlink mutex for seconds): its
	 * verdict comes to query_sent().  A failure known at once ends the
	 * job from the loop too, never inside query_dump() or
	 * query_request(), whose caller still holds the job.
	 */
	if ((error = privsep_send(qs->psfd, qs->fd, j->req, j->reqlen,
	    query_sent, qs)) < 0) {
		j->send_error = error;
		event_add(qs->ev, NULL);
		event_active(qs->ev, EV_READ, 0);
		return;
	}
	if (!j->paused || j->cancelled)
		event_add(qs->ev, NULL);
}

/* Start queued jobs on free sockets. */
static void
query_start_next(struct query *q)
{
	struct qjob	*j;
	unsigned int	 i;

	for (i = 0; i < q->nsocks; i++) {
		if (q->socks[i].job != NULL)
			continue;
		if ((j = TAILQ_FIRST(&q->queue)) == NULL)
			return;
		TAILQ_REMOVE(&q->queue, j, entry);
		q->st.queued--;
		query_job_start(&q->socks[i], j);
	}
}

/* Queue a job (and start it if a socket is free). */
static struct qjob *
query_submit(struct query *q, const void *req, size_t len, bool dump,
    const struct qjob_ops *ops, void *arg)
{
	struct qjob	*j;

	if (q->closing || len > QUERY_REQLEN ||
	    (j = calloc(1, sizeof *j)) == NULL)
		return (NULL);
	j->q = q;
	j->ops = ops;
	j->arg = arg;
	j->dump = dump;
	memcpy(j->req, req, len);
	j->reqlen = len;
	q->st.jobs++;
	if (dump)
		q->st.dumps++;
	TAILQ_INSERT_TAIL(&q->queue, j, entry);
	q->st.queued++;
	query_start_next(q);
	return (j);
}

/* Start a dump of a table. */
struct qjob *
query_dump(struct query *q, const struct qdump *d, const struct qjob_ops *ops,
    void *arg)
{
	char		 buf[QUERY_REQLEN];
	struct nlmsghdr	*nlh;
	struct nfgenmsg	*nfg;
	int		 sub, type;

	memset(buf, 0, sizeof buf);
	if (d->table == QT_CT) {
		sub = NFNL_SUBSYS_CTNETLINK;
		type = IPCTNL_MSG_CT_GET;
	} else {
		sub = NFNL_SUBSYS_CTNETLINK_EXP;
		type = IPCTNL_MSG_EXP_GET;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (sub << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
	nfg->nfgen_family = d->family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	if (d->table == QT_CT) {
		if (d->has_mark) {
			mnl_attr_put_u32(nlh, CTA_MARK, htonl(d->mark));
			mnl_attr_put_u32(nlh, CTA_MARK_MASK,
			    htonl(d->mark_mask));
		}
		if (d->has_zone)
			mnl_attr_put_u16(nlh, CTA_ZONE, htons(d->zone));
		if (d->has_status) {
			mnl_attr_put_u32(nlh, CTA_STATUS, htonl(d->status));
			mnl_attr_put_u32(nlh, CTA_STATUS_MASK,
			    htonl(d->status_mask));
		}
	}
	return (query_submit(q, buf, nlh->nlmsg_len, true, ops, arg));
}

/*
 * Send one prepared request (GET, DELETE, NEW, a statistics dump...).
 * NLM_F_ACK is added to requests that are not dumps, so that every
 * request ends with the kernel's verdict.
 */
struct qjob *
query_request(struct query *q, const struct nlmsghdr *req,
    const struct qjob_ops *ops, void *arg)
{
	char		 buf[QUERY_REQLEN];
	struct nlmsghdr	*nlh = (struct nlmsghdr *)buf;

	if (req->nlmsg_len > sizeof buf)
		return (NULL);
	memcpy(buf, req, req->nlmsg_len);
	nlh->nlmsg_flags |= NLM_F_REQUEST;
	if ((nlh->nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP)
		nlh->nlmsg_flags |= NLM_F_ACK;
	return (query_submit(q, buf, nlh->nlmsg_len, false, ops, arg));
}

/* Stop or resume reading a job's answer. */
void
query_job_pause(struct qjob *j, bool paused)
{
	if (j->paused == paused)
		return;
	j->paused = paused;
	if (!paused && j->sock != NULL)
		event_add(j->sock->ev, NULL);
}

/* Forget a job: no more callbacks.  A running answer is discarded. */
void
query_job_cancel(struct qjob *j)
{
	struct query	*q = j->q;

	if (j->sock == NULL) {
		TAILQ_REMOVE(&q->queue, j, entry);
		q->st.queued--;
		free(j);
		return;
	}
	j->cancelled = true;
	event_add(j->sock->ev, NULL);
}

/*
 * Create one request socket in the current namespace (it must be opened
 * with CAP_NET_ADMIN to be of use).  Returns 0 or -errno.
 */
int
query_socket(int *fdp)
{
	struct sockaddr_nl	sa;
	int			fd, error;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    NETLINK_NETFILTER);
	if (fd == -1)
		return (-errno);
	memset(&sa, 0, sizeof sa);
	sa.nl_family = AF_NETLINK;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		error = -errno;
		close(fd);
		return (error);
	}
	*fdp = fd;
	return (0);
}

/*
 * Make a pool of the n request sockets made by query_socket() (they are
 * adopted, and closed with the pool).  Returns 0 or -errno.
 */
int
query_open(struct query **qp, struct event_base *base, const int *fds,
    const char *name, unsigned int n)
{
	struct sockaddr_nl	 sa;
	socklen_t		 len;
	struct query		*q;
	unsigned int		 i;
	int			 error = 0;

	if ((q = calloc(1, sizeof *q)) == NULL)
		return (-ENOMEM);
	TAILQ_INIT(&q->queue);
	q->base = base;
	q->nsocks = n;
	q->name = strdup(name);
	q->socks = calloc(n, sizeof *q->socks);
	q->rbuf = malloc(QUERY_RCVLEN);
	if (q->name == NULL || q->socks == NULL || q->rbuf == NULL) {
		for (i = 0; i < n; i++)
			close(fds[i]);
		query_free(q);
		return (-ENOMEM);
	}
	for (i = 0; i < n; i++)
		q->socks[i].fd = q->socks[i].psfd = fds[i];
	for (i = 0; i < n && error == 0; i++) {
		len = sizeof sa;
		if (getsockname(q->socks[i].fd, (struct sockaddr *)&sa,
		    &len) == -1) {
			error = -errno;
			break;
		}
		q->socks[i].portid = sa.nl_pid;
		q->socks[i].q = q;
		q->socks[i].ev = event_new(base, q->socks[i].fd,
		    EV_READ | EV_PERSIST, query_read, &q->socks[i]);
		if (q->socks[i].ev == NULL)
			error = -ENOMEM;
	}
	if (error != 0) {
		query_free(q);
		return (error);
	}
	*qp = q;
	return (0);
}

/* Close the sockets and drop every job without callbacks; NULL is ok. */
void
query_free(struct query *q)
{
	struct qjob	*j;
	unsigned int	 i;

	if (q == NULL)
		return;
	while ((j = TAILQ_FIRST(&q->queue)) != NULL) {
		TAILQ_REMOVE(&q->queue, j, entry);
		free(j);
	}
	for (i = 0; q->socks != NULL && i < q->nsocks; i++) {
		privsep_cancel(&q->socks[i]);
		free(q->socks[i].job);
		if (q->socks[i].ev != NULL)
			event_free(q->socks[i].ev);
		if (q->socks[i].fd != -1)
			close(q->socks[i].fd);
	}
	free(q->socks);
	free(q->rbuf);
	free(q->name);
	free(q);
}

/* Return the counters. */
const struct query_stats *
query_stats(const struct query *q)
{
	return (&q->st);
}

/* Return the namespace label. */
const char *
query_name(const struct query *q)
{
	return (q->name);
}

/* Let the privileged helper send on this namespace's request sockets. */
void
query_allow_privsep(const struct query *q)
{
	unsigned int	i;

	for (i = 0; i < q->nsocks; i++)
		privsep_allow(q->socks[i].fd);
}

/* Set the privileged helper's numbers for the sockets it made. */
void
query_set_psfds(struct query *q, const int *psfds)
{
	unsigned int	i;

	for (i = 0; i < q->nsocks; i++)
		q->socks[i].psfd = psfds[i];
}

/* Have the privileged helper close its copies of the sockets. */
void
query_close_psfds(const struct query *q)
{
	unsigned int	i;

	for (i = 0; i < q->nsocks; i++)
		privsep_close(q->socks[i].psfd);
}

/*
 * End every job with error (their done callbacks run, and may not start
 * new jobs here), then close the sockets and free the pool: the
 * namespace went away.
 */
void
query_shutdown(struct query *q, int error)
{
	struct qjob	*j;
	unsigned int	 i;

	q->closing = true;
	while ((j = TAILQ_FIRST(&q->queue)) != NULL) {
		TAILQ_REMOVE(&q->queue, j, entry);
		q->st.queued--;
		if (!j->cancelled)
			j->ops->done(j->arg, error);
		free(j);
	}
	for (i = 0; i < q->nsocks; i++) {
		if ((j = q->socks[i].job) == NULL)
			continue;
		q->socks[i].job = NULL;
		event_del(q->socks[i].ev);
		q->st.running--;
		if (!j->cancelled)
			j->ops->done(j->arg, error);
		free(j);
	}
	query_close_psfds(q);
	query_free(q);
}
