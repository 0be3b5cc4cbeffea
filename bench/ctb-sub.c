/*
 * ctb-sub.c - subscribers of ctstreamd's events socket, for benchmarks.
 *
 * Opens N connections to the events socket (events flow at once: no
 * command is needed) and reads them all with epoll, counting each one's
 * lines by kind from the start of each line.  --slow adds one more
 * connection that reads a tenth of what the first fast one received
 * in the same 10 ms tick.  --idle connects and never reads (memory test).
 * On SIGINT/SIGTERM it prints one JSON object with every connection's
 * counts.
 */
#include "ctb.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>


#define RDLEN		(256 * 1024)
#define PREFIX		160
#define TICK_NS		10000000ULL

enum { K_NEW, K_UPDATE, K_DESTROY, K_RESYNC, K_OVERRUN, K_LOST, K_REPLY,
    K_OTHER, K_MAX };
static const char *const knames[K_MAX] = { "new", "update", "destroy",
    "resync", "overrun", "lost_lines", "reply", "other" };

struct conn {
	int		 fd;
	bool		 slow;
	bool		 eof;
	uint64_t	 k[K_MAX];
	uint64_t	 lost_count;	/* sum of "count" of lost lines */
	uint64_t	 overrun_lost;	/* sum of "lost" of overrun lines */
	uint64_t	 bytes;
	size_t		 plen;		/* bytes of the current line seen */
	char		 prefix[PREFIX];
};

static volatile sig_atomic_t	stop;

static void
on_signal(int sig)
{
	stop = 1;
}

static uint64_t
num_after(const char *p, size_t n, const char *key)
{
	const char	*s = memmem(p, n, key, strlen(key));
	uint64_t	 v = 0;

	if (s == NULL)
		return (0);
	for (s += strlen(key); s < p + n && *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (uint64_t)(*s - '0');
	return (v);
}

/* Classify one finished line by its first bytes. */
static void
classify(struct conn *c)
{
	static const char	ct[] = "{\"type\":\"ct\",\"event\":\"";
	const char		*p = c->prefix;
	size_t			 n = c->plen < PREFIX ? c->plen : PREFIX;

	if (n > sizeof ct && memcmp(p, ct, sizeof ct - 1) == 0) {
		if (memmem(p, n, "\"resync\":true", 13) != NULL)
			c->k[K_RESYNC]++;
		else if (p[sizeof ct - 1] == 'n')
			c->k[K_NEW]++;
		else if (p[sizeof ct - 1] == 'u')
			c->k[K_UPDATE]++;
		else if (p[sizeof ct - 1] == 'd')
			c->k[K_DESTROY]++;
		else
			c->k[K_OTHER]++;
	} else if (n > 17 && memcmp(p, "{\"type\":\"overrun\"", 17) == 0) {
		c->k[K_OVERRUN]++;
		c->overrun_lost += num_after(p, n, "\"lost\":");
	} else if (n > 14 && memcmp(p, "{\"type\":\"lost\"", 14) == 0) {
		c->k[K_LOST]++;
		c->lost_count += num_after(p, n, "\"count\":");
	} else if (n > 15 && memcmp(p, "{\"type\":\"reply\"", 15) == 0)
		c->k[K_REPLY]++;
	else
		c->k[K_OTHER]++;
}

/* Account for n bytes read on c. */
static void
consume(struct conn *c, const char *b, size_t n)
{
	const char	*nl, *end = b + n;
	size_t		 take;

	c->bytes += n;
	while (b < end) {
		nl = memchr(b, '\n', end - b);
		take = (nl != NULL ? (size_t)(nl - b) : (size_t)(end - b));
		if (c->plen < PREFIX)
			memcpy(c->prefix + c->plen, b,
			    take < PREFIX - c->plen ? take : PREFIX - c->plen);
		c->plen += take;
		if (nl == NULL)
			break;
		classify(c);
		c->plen = 0;
		b = nl + 1;
	}
}

/* Read up to max bytes (0: all there is) from c. */
static size_t
drain(struct conn *c, size_t max)
{
	static char	buf[RDLEN];
	size_t		got = 0, want;
	ssize_t		r;

	for (;;) {
		want = sizeof buf;
		if (max > 0 && max - got < want)
			want = max - got;
		if (want == 0)
			break;
		r = read(c->fd, buf, want);
		if (r > 0) {
			consume(c, buf, (size_t)r);
			got += (size_t)r;
			if ((size_t)r < want)
				break;
			continue;
		}
		if (r == 0)
			c->eof = true;
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN)
			c->eof = true;
		break;
	}
	return (got);
}

static int
connect_to(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		ctb_die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		ctb_die("connect %s: %s", path, strerror(errno));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return (fd);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "n", required_argument, NULL, 'n' },
		{ "slow", no_argument, NULL, 'l' },
		{ "idle", no_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 }
	};
	struct epoll_event	 evs[256], ev;
	struct sigaction	 act;
	struct conn		*conns, *slow = NULL;
	const char		*path = NULL;
	uint64_t		 next_tick, fast0_mark = 0, slow_budget = 0;
	int			 ep, c, i, k, n = 1, total, r, tmo;
	bool			 want_slow = false, idle = false;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'l': want_slow = true; break;
		case 'i': idle = true; break;
		default:
			fprintf(stderr, "usage: ctb-sub --socket PATH [--n N] "
			    "[--slow] [--idle]\n");
			return (2);
		}
	}
	if (path == NULL || n < 0)
		ctb_die("--socket is needed");
	memset(&act, 0, sizeof act);
	act.sa_handler = on_signal;
	sigaction(SIGINT, &act, NULL);
	sigaction(SIGTERM, &act, NULL);

	total = n + (want_slow ? 1 : 0);
	if ((conns = calloc(total, sizeof *conns)) == NULL)
		ctb_die("out of memory");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		ctb_die("epoll: %s", strerror(errno));
	for (i = 0; i < total; i++) {
		conns[i].fd = connect_to(path);
		conns[i].slow = i == n;
		if (conns[i].slow) {
			slow = &conns[i];
			continue;	/* read on ticks only */
		}
		ev.events = EPOLLIN;
		ev.data.ptr = &conns[i];
		if (!idle && epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd,
		    &ev) == -1)
			ctb_die("epoll_ctl: %s", strerror(errno));
	}
	fprintf(stderr, "ctb-sub: %d connections ready\n", total);
	next_tick = ctb_now_ns() + TICK_NS;
	while (!stop) {
		if (idle) {
			pause();
			continue;
		}
		uint64_t now = ctb_now_ns();

		if (slow != NULL && now >= next_tick) {
			/* A tenth of what fast subscriber 0 got this tick. */
			slow_budget += (conns[0].bytes - fast0_mark) / 10;
			fast0_mark = conns[0].bytes;
			if (slow_budget > 0 && !slow->eof)
				slow_budget -= drain(slow, slow_budget);
			next_tick = now + TICK_NS;
		}
		tmo = slow != NULL ? (int)((next_tick - now) / 1000000) + 1 :
		    100;
		r = epoll_wait(ep, evs, 256, tmo);
		for (i = 0; i < r; i++) {
			struct conn *cn = evs[i].data.ptr;

			drain(cn, 0);
			if (cn->eof)
				epoll_ctl(ep, EPOLL_CTL_DEL, cn->fd, NULL);
		}
	}
	/* Whatever arrived before the signal still counts. */
	for (i = 0; i < total; i++)
		if (!idle && !conns[i].slow)
			drain(&conns[i], 0);
	printf("{\"subs\":[");
	for (i = 0; i < total; i++) {
		printf("%s{\"slow\":%s,\"eof\":%s,\"bytes\":%llu,"
		    "\"lost_count\":%llu,\"overrun_lost\":%llu", i ? "," : "",
		    conns[i].slow ? "true" : "false",
		    conns[i].eof ? "true" : "false",
		    (unsigned long long)conns[i].bytes,
		    (unsigned long long)conns[i].lost_count,
		    (unsigned long long)conns[i].overrun_lost);
		for (k = 0; k < K_MAX; k++)
			printf(",\"%s\":%llu", knames[k],
			    (unsigned long long)conns[i].k[k]);
		printf("}");
	}
	printf("]}\n");
	return (0);
}
