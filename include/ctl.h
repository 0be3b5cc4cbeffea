/*
 * ctl.h - ctstreamctl, the command-line client of ctstreamd's sockets.
 */
#ifndef CTSTREAMD_CTL_H
#define CTSTREAMD_CTL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Exit statuses, as conntrack(8) uses them. */
#define CTL_EXIT_OK	0
#define CTL_EXIT_FAIL	1
#define CTL_EXIT_USAGE	2

#define CTL_STOP_OUTGONE	(-1)	/* the reader of the output went away */

#define CTL_ERRLEN	256
#define CTL_LINEMAX	(64U * 1024 * 1024)	/* longest line read */

/* What every command needs to know. */
struct ctl {
	const char	*events_path;
	const char	*control_path;
	bool		 json;
	const char	*cmd;		/* the command, for messages */
	const char	*netns;		/* --netns of a command naming one */
};

/* One connection to a socket of the daemon, read line by line. */
struct ctl_conn {
	int		 fd;
	const char	*path;
	char		*buf;
	size_t		 size;		/* allocated */
	size_t		 start;		/* first byte not handed out yet */
	size_t		 end;		/* end of the bytes read */
	bool		 eof;
};

/* What reading a line can end in. */
enum ctl_read {
	CTL_READ_LINE,		/* a line was read */
	CTL_READ_EOF,		/* the daemon closed the connection */
	CTL_READ_ERROR,		/* a read error (message printed) */
	CTL_READ_SIGNAL,	/* interrupted by SIGINT or SIGTERM */
	CTL_READ_OUTGONE,	/* the reader of standard output went away */
};

extern volatile sig_atomic_t	ctl_signalled;

void		 ctl_warnx(const char *, ...)
		     __attribute__((format(printf, 1, 2)));

/* ctl-conn.c */
int		 ctl_conn_open(struct ctl_conn *, const char *);
void		 ctl_conn_close(struct ctl_conn *);
int		 ctl_conn_send(struct ctl_conn *, json_t *);
enum ctl_read	 ctl_conn_getline(struct ctl_conn *, bool, char **,
		     size_t *);
json_t		*ctl_conn_parse(const char *, size_t);
int		 ctl_conn_call(struct ctl *, const char *, json_t *,
		     int (*)(void *, const char *, size_t, json_t *), void *,
		     json_t **, char **);
int		 ctl_conn_error(struct ctl *, json_t *, const char *);
const char	*ctl_conn_raw_result(const char *, size_t, size_t *);

/* ctl-args.c */
struct ctl_icmp {
	const char	*type, *code, *id;	/* as given, or NULL */
};

int		 ctl_args_u32(const char *, unsigned long long,
		     unsigned long long *);
json_t		*ctl_args_tuple(const char *, const char *, const char *,
		     const struct ctl_icmp *, char *, size_t);
int		 ctl_args_labels(json_t *, const char *, char *, size_t);
int		 ctl_args_statuses(json_t *, const char *, char *, size_t);
int		 ctl_args_filter_add(json_t *, bool, const char *,
		     const char *, char *, size_t);
int		 ctl_args_filter_merge(json_t *, const char *, char *,
		     size_t);
int		 ctl_args_proto(const char *);

/* ctl-print.c */
void		 ctl_print_entry(FILE *, json_t *);
void		 ctl_print_netns(FILE *, json_t *);
void		 ctl_print_notice(json_t *);
void		 ctl_print_stats(FILE *, json_t *, const char *);
void		 ctl_print_diagnose(FILE *, json_t *, const char *);

#endif
