/*
 * fuzz_conf.c - libFuzzer harness: the configuration file and settings.
 *
 * The input is a configuration file.  It is read three ways:
 *   - conf_load() over the defaults, through a memory file, counting the
 *     errors it reports (each a "path:line: message", or the final
 *     "N more errors"), which must agree with what it returns; where it
 *     says a value came from (the origin that messages name) must be a
 *     line of the file that holds the setting's name, and no value may
 *     claim the command line;
 *   - opts_load(), the whole startup path: defaults, the file, an empty
 *     command line and the checks across settings, then the kernel
 *     filter the file names, as the daemon's startup does, and that
 *     filter's BPF program attached to a netlink socket, where the kernel
 *     checks it: it may be refused for its size (ENOMEM, as the daemon
 *     tells), never as invalid;
 *   - the first line of the input as the value of every setting in turn,
 *     through opts_set() as the command line and the file use it.
 * Every refusal must come with a message, and nothing may leak.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>

#include <linux/filter.h>
#include <linux/netlink.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"
#include "kfilter.h"
#include "opts.h"

#define FUZZ_CONF_MAX	8192		/* bytes of input worth reading */
#define FUZZ_VALUE_MAX	512

struct reports {
	int	n;
	int	more;			/* "N more errors" lines */
	char	path[64];
};

static char	 path[64];
static int	 memfd = -1;
static int	 nlfd = -1;		/* where kernel filters are tried */

/* Make the memory file the configuration is read from. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if ((memfd = memfd_create("fuzz-conf", 0)) == -1)
		fuzz_fail("memfd_create: %s", strerror(errno));
	/* Unbound, it needs no privilege and receives nothing. */
	if ((nlfd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
	    NETLINK_NETFILTER)) == -1)
		fuzz_fail("netlink socket: %s", strerror(errno));
	snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
	return (0);
}

/* Count and check one reported problem. */
static void
report(void *arg, const char *msg)
{
	struct reports	*r = arg;
	size_t		 n = strlen(r->path);

	if (msg == NULL || msg[0] == '\0')
		fuzz_fail("empty report");
	if (r->path[0] != '\0') {
		if (strncmp(msg, r->path, n) != 0 || msg[n] != ':')
			fuzz_fail("report without its file: %s", msg);
		if (strstr(msg, " more errors") != NULL && msg[n + 1] == ' ')
			r->more++;
	}
	r->n++;
}

/* Put the input in the memory file. */
static void
put_file(const uint8_t *data, size_t size)
{
	if (ftruncate(memfd, 0) == -1 || lseek(memfd, 0, SEEK_SET) == -1 ||
	    (size > 0 && write(memfd, data, size) != (ssize_t)size))
		fuzz_fail("cannot write the memory file");
}

/* Tell whether line (from 1) of the input exists and holds name. */
static bool
line_has(const uint8_t *data, size_t size, int line, const char *name)
{
	const uint8_t	*p = data, *end = data + size, *nl;
	size_t		 len = strlen(name);

	for (; line > 1 && p < end; line--) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return (false);
		p = nl + 1;
	}
	if (line != 1 || p >= end)
		return (false);
	if ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL)
		end = nl;
	return (memmem(p, (size_t)(end - p), name, len) != NULL);
}

/* Where conf_load() says each value came from must be true. */
static void
check_origins(const struct options *o, const uint8_t *data, size_t size)
{
	const struct optdef	*d;
	char			 w[OPTS_ORIGINLEN];
	size_t			 i;
	int			 line;

	for (d = opts_table(); d->name != NULL; d++) {
		i = (size_t)(d - opts_table());
		if ((line = o->origin[i]) == 0)
			continue;
		if (line < 0)
			fuzz_fail("%s: from the command line, which is empty",
			    d->name);
		if (!line_has(data, size, line, d->name))
			fuzz_fail("%s: said to be on line %d, which does not "
			    "name it", d->name, line);
		if (o->conf == NULL || strncmp(opts_where(o, d, w, sizeof w),
		    path, strlen(path)) != 0)
			fuzz_fail("%s: given on line %d but said to come from "
			    "%s", d->name, line, w);
	}
}

/* conf_load() alone, over the defaults. */
static void
load_conf(const uint8_t *data, size_t size)
{
	struct options	o;
	struct reports	r;
	char		err[OPTS_ERRLEN];
	int		n;

	memset(&r, 0, sizeof r);
	snprintf(r.path, sizeof r.path, "%s", path);
	if (opts_defaults(&o, err, sizeof err) != 0)
		fuzz_fail("defaults: %s", err);
	n = conf_load(path, &o, report, &r);
	if (n < 0)
		fuzz_fail("conf_load: %s", strerror(-n));
	if (r.more > 1 || (r.more == 1 && n <= 64) ||
	    r.n != (n > 64 ? 65 : n))
		fuzz_fail("conf_load returned %d but reported %d", n, r.n);
	check_origins(&o, data, size);
	opts_free(&o);
}

/* Have the kernel check a kernel filter's program, as startup loads it. */
static void
try_kfilter(const struct kfilter *kf)
{
	int	n = kfilter_length(kf), error;

	(void)kfilter_describe(kf);
	if (n < 2 || n > BPF_MAXINSNS)
		fuzz_fail("kernel filter of %d instructions", n);
	if ((error = kfilter_attach(kf, nlfd)) == -ENOMEM)
		return;
	if (error != 0)
		fuzz_fail("the kernel refused the filter (%d instructions): "
		    "%s", n, strerror(-error));
	if ((error = kfilter_detach(nlfd)) != 0)
		fuzz_fail("cannot detach the filter: %s", strerror(-error));
}

/* The daemon's startup path: opts_load() and the kernel filter. */
static void
load_all(void)
{
	static char	 arg0[] = "ctstreamd";
	static char	*argv[] = { arg0, NULL };
	struct opts_cli	 cli;
	struct options	 o;
	struct reports	 r;
	struct kfilter	*kf = NULL;
	char		 err[KFILTER_ERRLEN];
	int		 n;

	memset(&cli, 0, sizeof cli);
	memset(&r, 0, sizeof r);
	cli.argc = 1;
	cli.argv = argv;
	cli.config = path;
	cli.config_given = true;
	n = opts_load(&cli, &o, report, &r);
	if (n != 0 && r.n == 0)
		fuzz_fail("opts_load refused (%d) without a report", n);
	if (n == 0) {
		err[0] = '\0';
		if (kfilter_parse(&kf, o.kernel_proto, o.kernel_src,
		    o.kernel_dst, err, sizeof err) == 0) {
			/* NULL: no kernel filter, as the daemon checks. */
			if (kf != NULL)
				try_kfilter(kf);
			kfilter_free(kf);
		} else if (err[0] == '\0')
			fuzz_fail("kfilter_parse refused without a message");
	}
	opts_free(&o);
}

/* The first line of the input as the value of every setting. */
static void
set_each(const uint8_t *data, size_t size)
{
	const struct optdef	*d;
	struct options		 o;
	char			 v[FUZZ_VALUE_MAX], err[OPTS_ERRLEN];
	size_t			 n;

	for (n = 0; n < size && n < sizeof v - 1 && data[n] != '\n' &&
	    data[n] != '\0'; n++)
		v[n] = (char)data[n];
	v[n] = '\0';
	for (d = opts_table(); d->name != NULL; d++) {
		if (d->type == OT_SPECIAL)
			continue;
		if (opts_defaults(&o, err, sizeof err) != 0)
			fuzz_fail("defaults: %s", err);
		if (opts_find(d->name) != d)
			fuzz_fail("opts_find(%s) is another setting", d->name);
		err[0] = '\0';
		if (opts_set(&o, d, v, err, sizeof err) != 0 &&
		    err[0] == '\0')
			fuzz_fail("%s: refused without a message", d->name);
		opts_free(&o);
	}
}

/* One input: a configuration file. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_CONF_MAX)
		return (0);
	put_file(data, size);
	load_conf(data, size);
	load_all();
	set_each(data, size);
	return (0);
}
