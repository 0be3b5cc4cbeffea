/*
 * ctb-ctl.c - control-socket client for the dump and get benchmarks.
 *
 *   ctb-ctl --socket PATH stats          print the reply to {"cmd":"stats"}
 *   ctb-ctl --socket PATH dump           time {"cmd":"dump"} to its end
 *   ctb-ctl --socket PATH get N SIZE [SPAWNS]
 *       N GET round trips on one connection for random entries of the
 *       synthetic table of SIZE entries (see ctb.h), then SPAWNS runs of
 *       one "conntrack -G" process per lookup (run this in the namespace
 *       for those to look at it).
 * Each prints one JSON object.
 */
#include "ctb.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>


extern char	**environ;

static int	 fd;
static char	 rbuf[1 << 20];
static size_t	 rlen, roff;

static void
send_line(const char *s)
{
	size_t	n = strlen(s), off = 0;
	ssize_t	r;

	while (off < n) {
		if ((r = write(fd, s + off, n - off)) == -1) {
			if (errno == EINTR)
				continue;
			ctb_die("write: %s", strerror(errno));
		}
		off += (size_t)r;
	}
}

/*
 * Return the next line (without its newline, NUL-terminated in place) and
 * its length; lines longer than the buffer are reported in pieces.
 */
static char *
next_line(size_t *len)
{
	char	*nl, *p;
	ssize_t	 r;

	for (;;) {
		nl = memchr(rbuf + roff, '\n', rlen - roff);
		if (nl != NULL) {
			p = rbuf + roff;
			*nl = '\0';
			*len = (size_t)(nl - p);
			roff = (size_t)(nl - rbuf) + 1;
			return (p);
		}
		if (roff > 0) {
			memmove(rbuf, rbuf + roff, rlen - roff);
			rlen -= roff;
			roff = 0;
		}
		if (rlen == sizeof rbuf - 1)
			ctb_die("line too long");
		r = read(fd, rbuf + rlen, sizeof rbuf - 1 - rlen);
		if (r == 0)
			ctb_die("connection closed");
		if (r == -1) {
			if (errno == EINTR)
				continue;
			ctb_die("read: %s", strerror(errno));
		}
		rlen += (size_t)r;
	}
}

static void
do_dump(void)
{
	uint64_t	 t0, lines = 0, bytes = 0;
	size_t		 len;
	char		*l;

	t0 = ctb_now_ns();
	send_line("{\"cmd\":\"dump\"}\n");
	for (;;) {
		l = next_line(&len);
		bytes += len + 1;
		if (len > 15 && memcmp(l, "{\"type\":\"reply\"", 15) == 0)
			break;
		lines++;
	}
	printf("{\"entries\":%llu,\"bytes\":%llu,\"wall\":%.6f,\"reply\":%s}\n",
	    (unsigned long long)lines, (unsigned long long)bytes,
	    (double)(ctb_now_ns() - t0) / 1e9, l);
}

static void
print_lat(const char *name, uint64_t *v, size_t n)
{
	uint64_t	sum = 0;
	size_t		i;

	qsort(v, n, sizeof *v, ctb_cmp_u64);
	for (i = 0; i < n; i++)
		sum += v[i];
	printf("\"%s\":{\"n\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,"
	    "\"mean_us\":%.1f,\"max_us\":%.1f}", name, n,
	    ctb_pct(v, n, 0.50) / 1e3, ctb_pct(v, n, 0.99) / 1e3,
	    n ? (double)sum / n / 1e3 : 0.0, n ? v[n - 1] / 1e3 : 0.0);
}

static void
do_get(size_t n, uint32_t size, size_t spawns)
{
	uint64_t	*lat, *slat, t0;
	size_t		 i, len, ok = 0, bad = 0, sok = 0;
	uint16_t	 sp, dp;
	uint32_t	 seed = 12345;
	char		 req[512], *l, s1[8], s2[8];

	lat = calloc(n ? n : 1, sizeof *lat);
	slat = calloc(spawns ? spawns : 1, sizeof *slat);
	for (i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		ctb_table_tuple((seed >> 8) % size, &sp, &dp);
		snprintf(req, sizeof req, "{\"cmd\":\"get\",\"tuple\":{"
		    "\"proto\":\"udp\",\"src\":\"127.0.0.1\",\"dst\":"
		    "\"127.0.0.2\",\"sport\":%u,\"dport\":%u}}\n", sp, dp);
		t0 = ctb_now_ns();
		send_line(req);
		l = next_line(&len);
		lat[i] = ctb_now_ns() - t0;
		if (strstr(l, "\"ok\":true") != NULL)
			ok++;
		else if (bad++ == 0)
			fprintf(stderr, "ctb-ctl: get failed: %s\n", l);
	}
	for (i = 0; i < spawns; i++) {
		posix_spawn_file_actions_t	fa;
		pid_t				pid;
		int				st;
		char *const argv[] = { "conntrack", "-G", "-p", "udp", "-s",
		    "127.0.0.1", "-d", "127.0.0.2", "--sport", s1, "--dport",
		    s2, NULL };

		seed = seed * 1103515245 + 12345;
		ctb_table_tuple((seed >> 8) % size, &sp, &dp);
		snprintf(s1, sizeof s1, "%u", sp);
		snprintf(s2, sizeof s2, "%u", dp);
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
		    0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY,
		    0);
		t0 = ctb_now_ns();
		if (posix_spawnp(&pid, "conntrack", &fa, NULL, argv,
		    environ) != 0)
			ctb_die("cannot run conntrack");
		waitpid(pid, &st, 0);
		slat[i] = ctb_now_ns() - t0;
		posix_spawn_file_actions_destroy(&fa);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			sok++;
	}
	printf("{\"ok\":%zu,\"errors\":%zu,", ok, bad);
	print_lat("get", lat, n);
	printf(",\"spawn_ok\":%zu,", sok);
	print_lat("conntrack_G", slat, spawns);
	printf("}\n");
}

int
main(int argc, char **argv)
{
	struct sockaddr_un	sun;
	const char		*path = NULL;
	size_t			len;
	int			c;

	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 's')
			path = optarg;
		else
			return (2);
	}
	if (path == NULL || optind >= argc)
		ctb_die("usage: ctb-ctl --socket PATH stats|dump|get N SIZE "
		    "[SPAWNS]");
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		ctb_die("connect %s: %s", path, strerror(errno));
	if (strcmp(argv[optind], "stats") == 0) {
		send_line("{\"cmd\":\"stats\"}\n");
		printf("%s\n", next_line(&len));
	} else if (strcmp(argv[optind], "dump") == 0)
		do_dump();
	else if (strcmp(argv[optind], "get") == 0 && optind + 2 < argc)
		do_get(strtoul(argv[optind + 1], NULL, 10),
		    (uint32_t)strtoul(argv[optind + 2], NULL, 10),
		    optind + 3 < argc ? strtoul(argv[optind + 3], NULL, 10) :
		    0);
	else
		ctb_die("unknown command");
	return (0);
}
