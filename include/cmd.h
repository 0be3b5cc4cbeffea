/*
 * cmd.h - commands on the sockets: parse first, then execute.
 */
#ifndef CTSTREAMD_CMD_H
#define CTSTREAMD_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct client;

/* A parsed request. */
struct cmd_req {
	json_t		*root;		/* the whole request object */
	const json_t	*id;		/* NULL if the request had none */
	const char	*name;
};

#define CMD_EVENTS	0x1	/* allowed on the events socket */
#define CMD_CONTROL	0x2	/* allowed on the control socket */
#define CMD_PRIV	0x4	/* changes the table: root or admin group */

struct cmd_entry {
	const char	*name;
	int		 flags;
	const char	*summary;
	const char *const *members;	/* allowed besides cmd and id */
	int		(*exec)(struct client *, struct cmd_req *);
};

#define CMD_ERRLEN	256

int	cmd_parse(const char *, size_t, struct cmd_req *, const char **,
	    char *, size_t);
int	cmd_dispatch(struct client *, const char *, size_t);
const struct cmd_entry *cmd_find(const char *);
const struct cmd_entry *const *cmd_table(void);

/* cmd-events.c */
extern const struct cmd_entry cmd_subscribe_entry;
extern const struct cmd_entry cmd_unsubscribe_entry;
extern const struct cmd_entry cmd_ping_entry;

/* cmd-query.c */
extern const struct cmd_entry cmd_get_entry;
extern const struct cmd_entry cmd_dump_entry;
extern const struct cmd_entry cmd_stats_entry;
extern const struct cmd_entry cmd_version_entry;
extern const struct cmd_entry cmd_help_entry;
extern const struct cmd_entry cmd_diagnose_entry;

/* cmd-admin.c */
extern const struct cmd_entry cmd_delete_entry;
extern const struct cmd_entry cmd_update_entry;
extern const struct cmd_entry cmd_flush_entry;
extern const struct cmd_entry cmd_create_entry;

#endif
