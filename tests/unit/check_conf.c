/*
 * check_conf.c - the configuration file and the settings table.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "conf.h"
#include "natsout.h"
#include "opts.h"
#include "unit.h"

#define MAXMSGS	32

/* The messages a load reported. */
struct msgs {
	char	m[MAXMSGS][640];
	int	n;
};

/* Report callback: keep the message. */
static void
keep(void *arg, const char *msg)
{
	struct msgs	*ms = arg;

	if (ms->n < MAXMSGS)
		snprintf(ms->m[ms->n++], sizeof ms->m[0], "%s", msg);
}

/*
 * Write len bytes of text to a temporary file; returns its path (static
 * buffer).
 */
static const char *
conf_file_len(const char *text, size_t len)
{
	static char	 path[64];
	FILE		*f;
	int		 fd;

	strcpy(path, "/tmp/ctsd-conf-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
	return (path);
}

/* Write text to a temporary file; returns its path (static buffer). */
static const char *
conf_file(const char *text)
{
	return (conf_file_len(text, strlen(text)));
}

/* Load len bytes of text as a configuration file into o. */
static int
load_len(const char *text, size_t len, struct options *o, struct msgs *ms)
{
	char		 err[OPTS_ERRLEN];
	const char	*path = conf_file_len(text, len);
	int		 r;

	memset(ms, 0, sizeof *ms);
	ck_assert_int_eq(opts_defaults(o, err, sizeof err), 0);
	r = conf_load(path, o, keep, ms);
	unlink(path);
	return (r);
}

/* Load text as a configuration file into o; returns the error count. */
static int
load(const char *text, struct options *o, struct msgs *ms)
{
	return (load_len(text, strlen(text), o, ms));
}

/* Tell whether some message contains both a and b. */
static bool
said(const struct msgs *ms, const char *a, const char *b)
{
	int	i;

	for (i = 0; i < ms->n; i++)
		if (strstr(ms->m[i], a) != NULL && strstr(ms->m[i], b) != NULL)
			return (true);
	return (false);
}

START_TEST(test_good_file)
{
	struct options	o;
	struct msgs	ms;

	ck_assert_int_eq(load(
	    "# a comment\n"
	    "; another\n"
	    "\n"
	    "stdout = yes\n"
	    "events = new, destroy\n"
	    "  sub-hiwat   =   8M\n"
	    "sub-policy=disconnect\n"
	    "events-socket = none\n"
	    "socket-mode = 0640\n"
	    "debug = 2\n"
	    "enable-acct = off\n", &o, &ms), 1);
	/* "events = new, destroy": the space makes " destroy" unknown */
	ck_assert(said(&ms, ":5: ", "events: unknown value ' destroy'"));
	opts_free(&o);

	ck_assert_int_eq(load(
	    "stdout = yes\n"
	    "events = new,destroy\n"
	    "  sub-hiwat   =   8M\n"
	    "sub-policy=disconnect\n"
	    "events-socket = none\n"
	    "socket-mode = 0640\n"
	    "debug = yes\n"
	    "enable-acct = off\n", &o, &ms), 0);
	ck_assert(o.to_stdout);
	ck_assert_uint_eq(o.kinds, EV_KIND_BIT(EV_NEW) | EV_KIND_BIT(EV_DESTROY));
	ck_assert_uint_eq(o.sub_hiwat, 8U << 20);
	ck_assert_int_eq(o.sub_policy, SUB_DISCONNECT);
	ck_assert_ptr_null(o.events_socket);
	ck_assert_uint_eq(o.socket_mode, 0640);
	ck_assert_int_eq(o.debug, 1);	/* "yes" */
	ck_assert(!o.enable_acct);
	/* defaults stay where the file says nothing */
	ck_assert_str_eq(o.control_socket, "/run/ctstreamd/control.sock");
	ck_assert_uint_eq(o.rcvbuf, 8U << 20);
	opts_free(&o);
}
END_TEST

START_TEST(test_every_error)
{
	struct options	o;
	struct msgs	ms;

	ck_assert_int_eq(load(
	    "bogus = 1\n"			/* 1: unknown key */
	    "sub-hiwat = 4M\n"			/* 2 */
	    "sub-hiwat = 5M\n"			/* 3: duplicate */
	    "rcvbuf = lots\n"			/* 4: bad size */
	    "rcvbuf-max = 1\n"			/* 5: out of range */
	    "stdout = maybe\n"			/* 6: bad boolean */
	    "events-socket = relative/path\n"	/* 7: not absolute */
	    "sub-policy = sometimes\n"		/* 8: bad policy */
	    "socket-mode = 999\n"		/* 9: not octal */
	    "netns = ../../etc\n"		/* 10: bad name */
	    "types = ct,flows\n"		/* 11: unknown type */
	    "help = yes\n"			/* 12: not a key */
	    "this is not a setting\n"		/* 13: syntax */
	    "[section]\n"			/* 14 */
	    "max-clients = 5\n",		/* 15: in a section */
	    &o, &ms), 13);
	ck_assert(said(&ms, ":1: ", "unknown key 'bogus'"));
	ck_assert(said(&ms, ":3: ", "duplicate key 'sub-hiwat' (first on "
	    "line 2)"));
	ck_assert(said(&ms, ":4: ", "rcvbuf: 'lots' is not a size"));
	ck_assert(said(&ms, ":5: ", "rcvbuf-max: '1' out of range"));
	ck_assert(said(&ms, ":6: ", "stdout: 'maybe' is not yes or no"));
	ck_assert(said(&ms, ":7: ", "not an absolute path"));
	ck_assert(said(&ms, ":8: ", "'sometimes' is not drop or disconnect"));
	ck_assert(said(&ms, ":9: ", "'999' is not an octal mode"));
	ck_assert(said(&ms, ":10: ", "invalid namespace '../../etc'"));
	ck_assert(said(&ms, ":11: ", "types: unknown value 'flows'"));
	ck_assert(said(&ms, ":12: ", "unknown key 'help'"));
	ck_assert(said(&ms, ":13: ", "syntax error"));
	ck_assert(said(&ms, ":15: ", "sections are not used ([section]"));
	/* reported in line order */
	ck_assert(strstr(ms.m[0], ":1: ") != NULL);
	ck_assert(strstr(ms.m[ms.n - 1], ":15: ") != NULL);
	opts_free(&o);
}
END_TEST

START_TEST(test_missing_file)
{
	struct options	o;
	struct msgs	ms;
	char		err[OPTS_ERRLEN];

	memset(&ms, 0, sizeof ms);
	opts_defaults(&o, err, sizeof err);
	ck_assert_int_lt(conf_load("/nonexistent/ctstreamd.conf", &o, keep,
	    &ms), 0);
	opts_free(&o);
}
END_TEST

/* Run opts_load with a command line and a file; returns its result. */
static int
load_cli(const char *text, char **argv, int argc, struct options *o,
    struct msgs *ms)
{
	struct opts_cli	 cli;
	const char	*path = conf_file(text);
	int		 r;

	memset(ms, 0, sizeof *ms);
	ck_assert_int_eq(opts_scan(argc, argv, &cli, keep, ms), 0);
	cli.config = path;
	cli.config_given = true;
	r = opts_load(&cli, o, keep, ms);
	unlink(path);
	return (r);
}

START_TEST(test_command_line_wins)
{
	struct options	 o;
	struct msgs	 ms;
	char		*argv[] = { "ctstreamd", "--sub-hiwat", "16M",
			    "--stdout", NULL };

	ck_assert_int_eq(load_cli("sub-hiwat = 2M\nsub-lowat = 1M\n"
	    "events-socket = none\ncontrol-socket = none\n", argv, 4, &o,
	    &ms), 0);
	ck_assert_uint_eq(o.sub_hiwat, 16U << 20);
	ck_assert_uint_eq(o.sub_lowat, 1U << 20);
	ck_assert(o.to_stdout);
	opts_free(&o);

	/* a bad file is a configuration error, a bad combination a usage one */
	ck_assert_int_eq(load_cli("sub-hiwat = x\n", argv, 4, &o, &ms),
	    OPTS_BAD_CONFIG);
	opts_free(&o);
	ck_assert_int_eq(load_cli("sub-lowat = 32M\n", argv, 4, &o, &ms),
	    OPTS_BAD_USAGE);
	ck_assert(said(&ms, "sub-lowat", "must not exceed"));
	opts_free(&o);
	ck_assert_int_eq(load_cli("user = no-such-user-here\n", argv, 4, &o,
	    &ms), OPTS_BAD_USAGE);
	ck_assert(said(&ms, "user", "no user 'no-such-user-here'"));
	opts_free(&o);
	ck_assert_int_eq(load_cli("events-socket = none\ncontrol-socket = "
	    "none\n", (char *[]){ "ctstreamd", NULL }, 1, &o, &ms),
	    OPTS_BAD_USAGE);
	ck_assert(said(&ms, "nothing to do", "--stdout"));
	opts_free(&o);
}
END_TEST

START_TEST(test_reloadable_and_differ)
{
	struct options		 a, b;
	char			 err[OPTS_ERRLEN];
	const struct optdef	*d;

	opts_defaults(&a, err, sizeof err);
	opts_defaults(&b, err, sizeof err);
	for (d = opts_table(); d->name != NULL; d++)
		if (d->type != OT_SPECIAL)
			ck_assert_msg(!opts_differ(&a, &b, d), "%s", d->name);
	ck_assert_int_eq(opts_set(&b, opts_find("sub-hiwat"), "1M", err,
	    sizeof err), 0);
	ck_assert(opts_differ(&a, &b, opts_find("sub-hiwat")));
	ck_assert(opts_reloadable(opts_find("sub-hiwat")));
	ck_assert_int_eq(opts_set(&b, opts_find("events-socket"), "/x/y",
	    err, sizeof err), 0);
	ck_assert(opts_differ(&a, &b, opts_find("events-socket")));
	ck_assert(!opts_reloadable(opts_find("events-socket")));
	ck_assert(!opts_reloadable(opts_find("netns")));
	opts_free(&a);
	opts_free(&b);
}
END_TEST

START_TEST(test_long_lines)
{
	struct options	o;
	struct msgs	ms;
	char		text[2048], fill[512], blank[512];

	memset(fill, 'y', sizeof fill);
	memset(blank, ' ', sizeof blank);

	/* 312 characters on line 2 of 3: told once, at line 2 */
	snprintf(text, sizeof text, "stdout = yes\nlabelmap = /%.300s\n"
	    "debug = yes\n", fill);
	ck_assert_int_eq(load(text, &o, &ms), 1);
	ck_assert_int_eq(ms.n, 1);
	ck_assert(said(&ms, ":2: ", "line too long: 312 characters"));
	ck_assert(said(&ms, ":2: ", "at most 197"));
	ck_assert_ptr_null(o.labelmap);		/* not read in part */
	ck_assert_int_eq(o.debug, 1);		/* the next line is read */
	opts_free(&o);

	/* the longest line is read whole, also with CR LF */
	snprintf(text, sizeof text, "labelmap = /%.*s\r\n", CONF_MAXLINE - 12,
	    fill);
	ck_assert_int_eq(load(text, &o, &ms), 0);
	ck_assert_uint_eq(strlen(o.labelmap), CONF_MAXLINE - 11);
	opts_free(&o);

	/* one more is refused, on a last line without a newline too */
	snprintf(text, sizeof text, "stdout = yes\nlabelmap = /%.*s",
	    CONF_MAXLINE - 11, fill);
	ck_assert_int_eq(load(text, &o, &ms), 1);
	ck_assert(said(&ms, ":2: ", "line too long: 198 characters"));
	opts_free(&o);

	/*
	 * Long comments and blank lines are fine; each long line counts
	 * once, so the errors after them name their own lines.
	 */
	snprintf(text, sizeof text, "# %.400s\n%.300s\n; %.250s\n"
	    "bogus = 1\nlabelmap = /%.250s\nnot a setting\nrcvbuf = x\n",
	    fill, blank, fill, fill);
	ck_assert_int_eq(load(text, &o, &ms), 4);
	ck_assert_int_eq(ms.n, 4);
	ck_assert(strstr(ms.m[0], ":4: unknown key 'bogus'") != NULL);
	ck_assert(strstr(ms.m[1], ":5: line too long: 262 characters") !=
	    NULL);
	ck_assert(strstr(ms.m[2], ":6: syntax error") != NULL);
	ck_assert(strstr(ms.m[3], ":7: rcvbuf: 'x'") != NULL);
	opts_free(&o);
}
END_TEST

START_TEST(test_nul_and_unreadable)
{
	static const char	 text[] = "stdout = yes\nuser = ro\0ot\n"
				    "debug = yes\n";
	struct options		 o;
	struct msgs		 ms;
	char			 err[OPTS_ERRLEN];

	ck_assert_int_eq(load_len(text, sizeof text - 1, &o, &ms), 1);
	ck_assert(said(&ms, ":2: ", "line holds a NUL character"));
	ck_assert_ptr_null(o.user);		/* not "ro" */
	ck_assert_int_eq(o.debug, 1);
	opts_free(&o);

	/* a directory opens, but cannot be read: not an empty file */
	memset(&ms, 0, sizeof ms);
	opts_defaults(&o, err, sizeof err);
	ck_assert_int_eq(conf_load("/", &o, keep, &ms), -EISDIR);
	ck_assert_int_eq(ms.n, 0);
	opts_free(&o);
}
END_TEST

/* Where a setting's value came from, as conf_load() and opts_load() say. */
static int
origin(const struct options *o, const char *name)
{
	return (o->origin[opts_find(name) - opts_table()]);
}

START_TEST(test_origins)
{
	struct options	 o;
	struct msgs	 ms;
	char		 buf[OPTS_ORIGINLEN], want[OPTS_ORIGINLEN];
	char		*argv[] = { "ctstreamd", "--sub-hiwat", "16M",
			    "--stdout", NULL };

	ck_assert_int_eq(load("stdout = yes\n\n  sub-hiwat = 8M\n", &o, &ms),
	    0);
	ck_assert_int_eq(origin(&o, "stdout"), 1);
	ck_assert_int_eq(origin(&o, "sub-hiwat"), 3);
	ck_assert_int_eq(origin(&o, "rcvbuf"), 0);
	ck_assert_ptr_nonnull(o.conf);
	snprintf(want, sizeof want, "%s:3", o.conf);
	ck_assert_str_eq(opts_where(&o, opts_find("sub-hiwat"), buf,
	    sizeof buf), want);
	snprintf(want, sizeof want, "%s:3: sub-hiwat", o.conf);
	ck_assert_str_eq(opts_about(&o, opts_find("sub-hiwat"), buf,
	    sizeof buf), want);
	ck_assert_str_eq(opts_where(&o, opts_find("rcvbuf"), buf, sizeof buf),
	    "default");
	ck_assert_str_eq(opts_about(&o, opts_find("rcvbuf"), buf, sizeof buf),
	    "rcvbuf");
	opts_free(&o);

	/* the command line wins, and says so */
	ck_assert_int_eq(load_cli("sub-hiwat = 2M\nsub-lowat = 1M\n", argv, 4,
	    &o, &ms), 0);
	ck_assert_int_eq(origin(&o, "sub-hiwat"), OPTS_FROM_CLI);
	ck_assert_int_eq(origin(&o, "stdout"), OPTS_FROM_CLI);
	ck_assert_int_eq(origin(&o, "sub-lowat"), 2);
	ck_assert_str_eq(opts_where(&o, opts_find("sub-hiwat"), buf,
	    sizeof buf), "--sub-hiwat");
	ck_assert_str_eq(opts_about(&o, opts_find("sub-hiwat"), buf,
	    sizeof buf), "--sub-hiwat");
	opts_free(&o);
}
END_TEST

START_TEST(test_checks_name_the_origin)
{
	struct options	 o;
	struct cli {
		const char	*file;
		char		*argv[6];
		int		 result;
		const char	*said[2];
	} cases[] = {
		/* values checked as they are set */
		{ "kernel-proto = bogus\n", { "ctstreamd", "--stdout" },
		    OPTS_BAD_CONFIG, { ":1: kernel-proto: unknown protocol "
		    "'bogus'", "" } },
		{ "\nkernel-src = 10.0.0.0/33\n", { "ctstreamd", "--stdout" },
		    OPTS_BAD_CONFIG, { ":2: kernel-src: invalid address or "
		    "CIDR '10.0.0.0/33'", "" } },
		{ "kernel-dst = !\n", { "ctstreamd", "--stdout" },
		    OPTS_BAD_CONFIG, { ":1: kernel-dst: empty list", "" } },
		/* users and groups, once the settings are made */
		{ "stdout = yes\nuser = no-such-user-ctsd\n", { "ctstreamd" },
		    OPTS_BAD_USAGE, { ":2: user: no user 'no-such-user-ctsd'",
		    "" } },
		{ "socket-owner = no-such-user-ctsd\n", { "ctstreamd",
		    "--stdout" }, OPTS_BAD_USAGE, { ":1: socket-owner: no "
		    "user", "" } },
		{ "admin-group = no-such-group-ctsd\n", { "ctstreamd",
		    "--stdout" }, OPTS_BAD_USAGE, { ":1: admin-group: no "
		    "group", "" } },
		{ "", { "ctstreamd", "--stdout", "--user",
		    "no-such-user-ctsd" }, OPTS_BAD_USAGE, { "--user: no user "
		    "'no-such-user-ctsd'", "" } },
		/* cross-checks name both values */
		{ "sub-lowat = 8M\nsub-hiwat = 4M\n", { "ctstreamd",
		    "--stdout" }, OPTS_BAD_USAGE, { ":1: sub-lowat: 8388608 "
		    "must not exceed sub-hiwat (4194304, ", ":2)" } },
		{ "sub-hiwat = 512K\n", { "ctstreamd", "--stdout" },
		    OPTS_BAD_USAGE, { ":1: sub-hiwat: 524288 must not be below "
		    "sub-lowat (1048576, default)", "" } },
		{ "sub-hiwat = 1M\n", { "ctstreamd", "--stdout", "--sub-lowat",
		    "2M" }, OPTS_BAD_USAGE, { "--sub-lowat: 2097152 must not "
		    "exceed sub-hiwat (1048576, ", ":1)" } },
		{ "events-socket = none\ncontrol-socket = none\n",
		    { "ctstreamd" }, OPTS_BAD_USAGE, { "nothing to do: stdout "
		    "is off (default), ", ":1, " } },
	};
	struct msgs	 ms;
	size_t		 i;
	int		 argc;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (argc = 0; cases[i].argv[argc] != NULL; argc++)
			continue;
		ck_assert_int_eq(load_cli(cases[i].file, cases[i].argv, argc,
		    &o, &ms), cases[i].result);
		ck_assert_msg(ms.n == 1 && said(&ms, cases[i].said[0],
		    cases[i].said[1]), "case %zu: %d messages, first '%s'", i,
		    ms.n, ms.m[0]);
		opts_free(&o);
	}

	/* the NATS watermarks are checked the same way */
	if (natsout_supported()) {
		ck_assert_int_eq(load_cli("nats-hiwat-msgs = 10\n",
		    cases[0].argv, 2, &o, &ms), OPTS_BAD_USAGE);
		ck_assert(said(&ms, ":1: nats-hiwat-msgs: 10 must not be below "
		    "nats-lowat-msgs (25000, default)", ""));
		opts_free(&o);
	}
}
END_TEST

START_TEST(test_kernel_filter_on_the_command_line)
{
	struct opts_cli	 cli;
	struct msgs	 ms;
	char		*argv[] = { "ctstreamd", "--stdout", "--kernel-proto",
			    "tcp,bogus", NULL };

	memset(&ms, 0, sizeof ms);
	ck_assert_int_eq(opts_scan(4, argv, &cli, keep, &ms), 1);
	ck_assert(said(&ms, "--kernel-proto: unknown protocol 'bogus'", ""));
	argv[3] = "!tcp,udp";
	memset(&ms, 0, sizeof ms);
	ck_assert_int_eq(opts_scan(4, argv, &cli, keep, &ms), 0);
}
END_TEST

/*
 * The shipped etc/ctstreamd.conf has a commented "# key = value" line for
 * every key the file takes, and reads without error as it is and with
 * them all uncommented (users and groups are not looked up here), so that
 * a new option without its line fails without root too.  make check says
 * where the source tree is.
 */
START_TEST(test_shipped_file)
{
	const struct optdef	*d;
	const char		*dir = getenv("CTSTREAMD_SRCDIR");
	struct options		 o;
	struct msgs		 ms;
	char			*path, *text, *on, *line, *save = NULL, *p;
	char			 err[OPTS_ERRLEN];
	bool			 found[OPTS_MAX];
	FILE			*f;
	size_t			 n, len = 0, k;
	long			 size;

	if (dir == NULL)
		return;
	ck_assert_int_ne(asprintf(&path, "%s/etc/ctstreamd.conf", dir), -1);
	memset(&ms, 0, sizeof ms);
	opts_defaults(&o, err, sizeof err);
	ck_assert_int_eq(conf_load(path, &o, keep, &ms), 0);
	opts_free(&o);

	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	/* on: as long, with a newline the last line may lack, and a NUL */
	ck_assert_ptr_nonnull(text = calloc(1, (size_t)size + 1));
	ck_assert_ptr_nonnull(on = calloc(1, (size_t)size + 2));
	ck_assert_uint_eq(fread(text, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	memset(found, 0, sizeof found);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		p = line;
		if (*p == '#') {
			p += 1 + strspn(p + 1, " \t");
			n = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
			for (d = opts_table(); n > 0 && d->name != NULL; d++)
				if (strlen(d->name) == n &&
				    strncmp(d->name, p, n) == 0 &&
				    p[n + strspn(p + n, " \t")] == '=')
					break;
			if (n > 0 && d->name != NULL)
				found[d - opts_table()] = true;
			else
				p = line;
		}
		k = strlen(p);
		memcpy(on + len, p, k);
		on[len + k] = '\n';
		len += k + 1;
	}
	for (d = opts_table(); d->name != NULL; d++)
		ck_assert_msg(d->type == OT_SPECIAL || found[d - opts_table()],
		    "%s: no '# %s = ...' line", path, d->name);
	/* A build without libnats refuses the nats- keys, and only them. */
	load(on, &o, &ms);
	for (n = 0; n < (size_t)ms.n; n++)
		ck_assert_msg(!natsout_supported() &&
		    strstr(ms.m[n], "built without NATS support") != NULL,
		    "uncommented: %s", ms.m[n]);
	opts_free(&o);
	free(on);
	free(text);
	free(path);
}
END_TEST

Suite *
make_conf_suite(void)
{
	Suite	*s = suite_create("conf");
	TCase	*tc = tcase_create("conf");

	tcase_add_test(tc, test_good_file);
	tcase_add_test(tc, test_every_error);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_command_line_wins);
	tcase_add_test(tc, test_reloadable_and_differ);
	tcase_add_test(tc, test_long_lines);
	tcase_add_test(tc, test_nul_and_unreadable);
	tcase_add_test(tc, test_origins);
	tcase_add_test(tc, test_checks_name_the_origin);
	tcase_add_test(tc, test_kernel_filter_on_the_command_line);
	tcase_add_test(tc, test_shipped_file);
	suite_add_tcase(s, tc);
	return (s);
}
