/*
 * conf.c - the configuration file.
 *
 *   # /etc/ctstreamd/ctstreamd.conf
 *   events-socket = /run/ctstreamd/events.sock
 *   sub-hiwat = 8M
 *   enable-acct = yes
 *
 * One "key = value" per line, keys are the long option names, "#" or ";"
 * start a comment line.  Parsing is done by inih (ini_parse_stream) fed
 * through a reader that counts lines, so every message names file:line.
 * Strict: an unknown key, a bad value, a duplicate key, a [section], a
 * line that is not "key = value" or one longer than CONF_MAXLINE is an
 * error; every error is reported, not only the first.  The line of each
 * value is kept in the options, for the checks made once everything is
 * read.  Options given on the command line win over the file (the caller
 * applies them afterwards).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "conf.h"
#include "opts.h"

#define CONF_MAXERRS	64

struct conf_err {
	int	line;
	char	msg[512];
};

struct conf_ctx {
	const char		*path;
	FILE			*f;
	char			*buf;		/* the line last read, whole */
	size_t			 bufsz;
	int			 rerrno;	/* a read failed: why */
	int			 line;		/* of the line last read */
	int			 errors;
	struct conf_err		 errs[CONF_MAXERRS];
	char			 section[64];	/* last one complained about */
	struct options		*o;
	int			 seen[CONF_MAXKEYS];	/* line of each key */
	void			(*report)(void *, const char *);
	void			*arg;
};

/* Record one error; they are reported in line order at the end. */
static void __attribute__((format(printf, 3, 4)))
conf_error(struct conf_ctx *c, int line, const char *fmt, ...)
{
	va_list	ap;

	if (c->errors < CONF_MAXERRS) {
		c->errs[c->errors].line = line;
		va_start(ap, fmt);
		vsnprintf(c->errs[c->errors].msg, sizeof c->errs[0].msg, fmt,
		    ap);
		va_end(ap);
	}
	c->errors++;
}

/* Order errors by line. */
static int
conf_errcmp(const void *a, const void *b)
{
	return (((const struct conf_err *)a)->line -
	    ((const struct conf_err *)b)->line);
}

/* Hand the recorded errors to the caller, as file:line: message. */
static void
conf_report(struct conf_ctx *c)
{
	char	full[640];
	int	i, n = c->errors < CONF_MAXERRS ? c->errors : CONF_MAXERRS;

	qsort(c->errs, n, sizeof c->errs[0], conf_errcmp);
	for (i = 0; i < n; i++) {
		snprintf(full, sizeof full, "%s:%d: %s", c->path,
		    c->errs[i].line, c->errs[i].msg);
		c->report(c->arg, full);
	}
	if (c->errors > n) {
		snprintf(full, sizeof full, "%s: %d more errors", c->path,
		    c->errors - n);
		c->report(c->arg, full);
	}
}

/*
 * inih reader: hand inih one whole line of the file per call, so that its
 * count of lines and ours are the file's.  (fgets() into inih's buffer of
 * num bytes would cut a long line, and inih would take the rest for the
 * next line.)  A setting longer than CONF_MAXLINE, or a line holding a
 * NUL, is an error of its own line, told once, and inih sees an empty
 * line instead; so does a comment or a blank line, which may be of any
 * length.  Leading blanks are dropped, so that an indented line is a
 * setting of its own and never inih's continuation of the previous value.
 */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct conf_ctx	*c = stream;
	const char	*p;
	ssize_t		 n;
	size_t		 len, max = CONF_MAXLINE;

	errno = 0;
	if ((n = getline(&c->buf, &c->bufsz, c->f)) == -1) {
		if (!feof(c->f))
			c->rerrno = errno != 0 ? errno : EIO;
		return (NULL);
	}
	c->line++;
	len = (size_t)n;
	if (len > 0 && c->buf[len - 1] == '\n')
		len--;
	if (len > 0 && c->buf[len - 1] == '\r')
		len--;
	c->buf[len] = '\0';
	p = c->buf + strspn(c->buf, " \t");
	if ((size_t)num - 1 < max)	/* inih built with a smaller buffer */
		max = (size_t)num - 1;
	if (memchr(c->buf, '\0', len) != NULL) {
		conf_error(c, c->line, "line holds a NUL character");
		p = "";
	} else if (*p == '\0' || *p == '#' || *p == ';')
		p = "";
	else if (len > max) {
		conf_error(c, c->line, "line too long: %zu characters, lines "
		    "hold at most %zu", len, max);
		p = "";
	}
	memcpy(str, p, strlen(p) + 1);
	return (str);
}

/* Parse a boolean: yes/no, true/false, on/off, 1/0. */
static int
conf_bool(const char *v)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
	    strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0)
		return (1);
	if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
	    strcasecmp(v, "off") == 0 || strcmp(v, "0") == 0)
		return (0);
	return (-1);
}

/* inih handler: one key = value, on line c->line. */
static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct conf_ctx		*c = user;
	const struct optdef	*d;
	char			 err[OPTS_ERRLEN];
	size_t			 i;
	int			 b;

	if (section[0] != '\0' && strcmp(section, c->section) != 0) {
		/* inih shows sections only with their first key. */
		conf_error(c, c->line, "sections are not used ([%s] before "
		    "this line)", section);
		snprintf(c->section, sizeof c->section, "%s", section);
	}
	if ((d = opts_find(name)) == NULL || d->type == OT_SPECIAL) {
		conf_error(c, c->line, "unknown key '%s'", name);
		return (1);
	}
	i = (size_t)(d - opts_table());
	if (c->seen[i]) {
		conf_error(c, c->line, "duplicate key '%s' (first on line %d)",
		    name, c->seen[i]);
		return (1);
	}
	c->seen[i] = c->line;
	c->o->origin[i] = c->line;
	if (d->type == OT_COUNT && value[0] >= '0' && value[0] <= '9' &&
	    value[1] == '\0') {
		*(int *)((char *)c->o + d->off) = value[0] - '0';
		return (1);
	}
	if (d->type == OT_FLAG || d->type == OT_COUNT) {
		if ((b = conf_bool(value)) == -1) {
			conf_error(c, c->line, "%s: '%s' is not yes or no",
			    name, value);
			return (1);
		}
		if (d->type == OT_COUNT)
			*(int *)((char *)c->o + d->off) = b;
		else
			*(bool *)((char *)c->o + d->off) = b;
		return (1);
	}
	if (opts_set(c->o, d, value, err, sizeof err) != 0)
		conf_error(c, c->line, "%s: %s", name, err);
	return (1);
}

/*
 * Read the configuration file at path into o (already holding the
 * defaults), and the line of each value into o->origin; o->conf points
 * to path, which must outlive o.  Every error goes to report(arg,
 * "file:line: message").  Returns the number of errors, or -errno if the
 * file cannot be read.
 */
int
conf_load(const char *path, struct options *o,
    void (*report)(void *, const char *), void *arg)
{
	struct conf_ctx	c;
	int		r;

	memset(&c, 0, sizeof c);
	c.path = path;
	c.o = o;
	c.report = report;
	c.arg = arg;
	if ((c.f = fopen(path, "re")) == NULL)
		return (-errno);
	o->conf = path;
	r = ini_parse_stream(conf_reader, &c, conf_handler, &c);
	fclose(c.f);
	free(c.buf);
	if (c.rerrno != 0)		/* such as a directory: EISDIR */
		return (-c.rerrno);
	if (r == -1)
		return (-EIO);
	if (r == -2)
		return (-ENOMEM);
	/*
	 * The handler never fails, so a line number from inih is its own
	 * error: a line that is not key = value.  The reader hands inih one
	 * line of the file per call, so the number is right.  inih reports
	 * the first such line only.
	 */
	if (r > 0)
		conf_error(&c, r, "syntax error: expected 'key = value'");
	conf_report(&c);
	return (c.errors);
}
