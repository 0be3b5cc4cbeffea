/*
 * mon.h - one monitored network namespace: its sockets and its index.
 */
#ifndef CTSTREAMD_MON_H
#define CTSTREAMD_MON_H

#include <stdbool.h>
#include <sys/queue.h>

#include "diag.h"

struct ctx;
struct nlsrc;
struct query;
struct resync;
struct options;

struct mon {
	TAILQ_ENTRY(mon)	 entry;
	struct ctx		*ctx;
	char			*name;		/* "host", a name or a path */
	char			*path;		/* NULL: the daemon's own */
	struct nlsrc		*src;
	struct query		*query;
	struct resync		*resync;	/* NULL with --no-track */
	struct diag		 diag;
};

TAILQ_HEAD(mons, mon);

#define MON_HOST	"host"

int		 mon_open(struct ctx *, const char *, const struct options *,
		     struct mon **);
void		 mon_free(struct mon *);
struct mon	*mon_find(struct ctx *, const char *);
const char	*mon_line_name(const struct mon *);

#endif
