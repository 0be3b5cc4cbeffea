/*
 * mon.h - one monitored network namespace: its sockets and its index.
 */
#ifndef CTSTREAMD_MON_H
#define CTSTREAMD_MON_H

#include <stdbool.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "diag.h"
#include "query.h"

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
	char			*run_name;	/* NAME of /run/netns/NAME */
	dev_t			 ns_dev;	/* which namespace (its nsfs */
	ino_t			 ns_ino;	/* file); 0: unknown */
	struct nlsrc		*src;		/* conntrack events, or all */
	struct nlsrc		*xsrc;		/* expectations apart or NULL */
	struct query		*query;
	struct resync		*resync;	/* NULL with --no-track */
	struct diag		 diag;
};

TAILQ_HEAD(mons, mon);

#define MON_HOST	"host"

/* What the privileged part of opening a namespace sets up. */
struct mon_make {
	unsigned int	groups;
	int		rcvbuf;
	bool		reliable;
	bool		set_events, acct, timestamp;
};

/*
 * What it hands back: the sockets, and what the diagnosis found.  xev is
 * the expectation socket of reliable mode (see nl_event_split()), or -1.
 */
struct mon_fds {
	int		ev;
	int		xev;
	int		q[QUERY_SOCKETS_DEFAULT];
	struct diag	diag;
};

/* The sockets in that order, as the privileged helper passes them. */
#define MON_FD_EV	0
#define MON_FD_XEV	1
#define MON_FD_Q	2
#define MON_NFDS	(MON_FD_Q + QUERY_SOCKETS_DEFAULT)

/* The end of mon_appear(): arg, then 0 or -errno. */
typedef void	(*mon_appear_cb)(void *, int);

void		 mon_make_opts(const struct options *, struct mon_make *);
int		 mon_make(const char *, const struct mon_make *,
		     struct mon_fds *, char *, size_t);
int		 mon_attach(struct ctx *, const char *, const char *,
		     struct mon_fds *, const int *, const struct options *,
		     struct mon **);
int		 mon_open(struct ctx *, const char *, const struct options *,
		     struct mon **, char *, size_t);
void		 mon_free(struct mon *);
struct mon	*mon_find(struct ctx *, const char *);
struct mon	*mon_find_run(struct ctx *, const char *);
struct mon	*mon_find_ns(struct ctx *, dev_t, ino_t);
void		 mon_gone(struct mon *);
int		 mon_appear(struct ctx *, const char *, const struct options *,
		     mon_appear_cb, void *);
void		 mon_appear_cancel(const void *);
const char	*mon_line_name(const struct mon *);

#endif
