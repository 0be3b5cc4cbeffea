/*
 * conf.h - the configuration file: "key = value" lines, strict.
 */
#ifndef CTSTREAMD_CONF_H
#define CTSTREAMD_CONF_H

#define CONF_MAXKEYS	96	/* at least the number of settings */
#define CONF_MAXLINE	197	/* inih's line buffer, less CR, LF, NUL */

#ifndef CTSTREAMD_CONF
#define CTSTREAMD_CONF	"/etc/ctstreamd/ctstreamd.conf"
#endif

struct options;

int	conf_load(const char *, struct options *,
	    void (*)(void *, const char *), void *);

#endif
