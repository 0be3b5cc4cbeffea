/*
 * opts.h - every setting of the daemon, its default and how to parse it.
 *
 * One table serves the command line (getopt_long), the help text and, in
 * time, the configuration file, so defaults live in exactly one place.
 */
#ifndef CTSTREAMD_OPTS_H
#define CTSTREAMD_OPTS_H

#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fanout.h"

#define OPTS_ERRLEN	256
#define OPTS_SOCKET_GROUP "ctstreamd"	/* used if it exists */
#define OPTS_MAX	96	/* room for getopt_long's table */
#define OPTS_ORIGINLEN	512	/* "FILE:LINE: name" for messages */
#define OPTS_FROM_CLI	(-1)	/* origin of a value: the command line */

struct options {
	bool		 to_stdout;
	char		*netns;			/* comma list, NULL: ours */
	bool		 netns_all;
	unsigned int	 types;
	unsigned int	 kinds;
	int		 debug;
	bool		 enable_acct;
	bool		 enable_timestamp;
	size_t		 rcvbuf;
	size_t		 rcvbuf_max;
	bool		 reliable;
	bool		 no_track;
	char		*kernel_proto;
	char		*kernel_src;
	char		*kernel_dst;
	size_t		 resync_delay;		/* ms */
	size_t		 resync_interval;	/* s */
	bool		 set_events_sysctl;
	char		*labelmap;
	char		*events_socket;		/* NULL: none */
	char		*control_socket;	/* NULL: none */
	char		*admin_group;
	char		*user;
	mode_t		 socket_mode;
	char		*socket_owner;
	char		*socket_group;
	size_t		 max_clients;
	size_t		 max_line;
	size_t		 sub_hiwat;
	size_t		 sub_lowat;
	enum sub_policy	 sub_policy;
	char		*metrics_listen;	/* NULL: no HTTP */
	char		*nats_server;		/* NULL: no NATS output */
	char		*nats_stream;		/* NULL: core NATS */
	char		*nats_prefix;
	char		*nats_host;		/* NULL: the hostname */
	size_t		 nats_hiwat;
	size_t		 nats_lowat;
	size_t		 nats_hiwat_msgs;
	size_t		 nats_lowat_msgs;
	size_t		 nats_max_inflight;
	size_t		 nats_ack_wait;		/* ms */
	size_t		 nats_retries;
	size_t		 nats_reconnect_max;	/* ms */

	/*
	 * Where each value came from, by index in the table, for messages:
	 * its line in the file conf (not owned), OPTS_FROM_CLI, or 0 for the
	 * default.
	 */
	const char	*conf;
	int		 origin[OPTS_MAX];
};

enum opt_type {
	OT_FLAG,		/* no argument: sets true */
	OT_COUNT,		/* no argument: counts */
	OT_STRING,
	OT_PATH,		/* absolute path, or "none" for NULL */
	OT_NETNS,
	OT_BYTES,		/* 123, 64K, 8M, 1G */
	OT_UINT,
	OT_TYPES,		/* ct,expect */
	OT_KINDS,		/* new,update,destroy */
	OT_MODE,		/* octal file mode */
	OT_POLICY,		/* drop|disconnect */
	OT_SPECIAL,		/* handled by the caller (help, version...) */
};

struct optdef {
	const char	*name;
	int		 short_opt;
	enum opt_type	 type;
	size_t		 off;
	const char	*def;		/* default, in the option's syntax */
	const char	*arg;		/* argument name for the help */
	const char	*help;
	unsigned long	 min, max;	/* bounds for OT_BYTES and OT_UINT */
};

/* What the command line says about where the settings come from. */
struct opts_cli {
	int		 argc;
	char		**argv;
	const char	*config;	/* -f, or the default path */
	bool		 config_given;
	bool		 check;		/* -n */
};

/* opts_load() results. */
#define OPTS_BAD_USAGE	2		/* the command line is wrong */
#define OPTS_BAD_CONFIG	1		/* the file is wrong */

typedef void	(*opts_report_fn)(void *, const char *);

const struct optdef *opts_table(void);
int	opts_defaults(struct options *, char *, size_t);
int	opts_set(struct options *, const struct optdef *, const char *,
	    char *, size_t);
const struct optdef *opts_find(const char *);
void	opts_free(struct options *);
void	opts_usage(FILE *);
const char *opts_where(const struct options *, const struct optdef *, char *,
	    size_t);
const char *opts_about(const struct options *, const struct optdef *, char *,
	    size_t);
int	opts_scan(int, char **, struct opts_cli *, opts_report_fn, void *);
bool	opts_reloadable(const struct optdef *);
bool	opts_differ(const struct options *, const struct options *,
	    const struct optdef *);
int	opts_load(const struct opts_cli *, struct options *, opts_report_fn,
	    void *);

#endif
