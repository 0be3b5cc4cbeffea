/*
 * conf.h - the configuration file: "key = value" lines, strict.
 */
#ifndef CTSTREAMD_CONF_H
#define CTSTREAMD_CONF_H

#define CONF_MAXKEYS	96	/* at least the number of settings */
/*
 * The longest line, line end not counted: what inih's default buffer of
 * 200 bytes holds with CR, LF and NUL.  A longer line is an error; a
 * longer value can be given on the command line.
 */
#define CONF_MAXLINE	197

#ifndef CTSTREAMD_CONF
#define CTSTREAMD_CONF	"/etc/ctstreamd/ctstreamd.conf"
#endif

struct options;

int	conf_load(const char *, struct options *,
	    void (*)(void *, const char *), void *);

#endif
