/*
 * cmd.c - the command table, request parsing and dispatch.
 *
 * A request is one JSON object on one line:
 *   {"cmd":"NAME","id":ANY,...members...}
 * Parsing is separate from execution: cmd_parse() checks the framing
 * (valid JSON, an object, a string "cmd", an "id" that is a string or a
 * number) and the command's allowed members; only then does the command
 * run.  Every failure is a reply with a stable error code:
 *   bad_json         the line is not valid JSON (or holds a duplicate
 *                    key or a NUL byte)
 *   bad_request      not an object, missing or mistyped member, unknown
 *                    member
 *   unknown_command  no such command on this socket
 *   denied           the command changes the table and the peer is
 *                    neither root nor in the admin group
 * Commands add their own (bad_filter, not_found, exists, kernel_error,
 * internal).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "compat.h"
#include "log.h"
#include "server.h"

static const struct cmd_entry *const cmd_entries[] = {
	&cmd_subscribe_entry,
	&cmd_unsubscribe_entry,
	&cmd_ping_entry,
	&cmd_get_entry,
	&cmd_dump_entry,
	&cmd_stats_entry,
	&cmd_version_entry,
	&cmd_help_entry,
	&cmd_diagnose_entry,
	&cmd_delete_entry,
	&cmd_update_entry,
	&cmd_flush_entry,
	&cmd_create_entry,
	NULL
};

/* Return the table of commands, NULL-terminated. */
const struct cmd_entry *const *
cmd_table(void)
{
	return (cmd_entries);
}

/* Find a command by name. */
const struct cmd_entry *
cmd_find(const char *name)
{
	size_t	i;

	for (i = 0; cmd_entries[i] != NULL; i++)
		if (strcmp(cmd_entries[i]->name, name) == 0)
			return (cmd_entries[i]);
	return (NULL);
}

/* Tell whether member is allowed for entry. */
static bool
cmd_member_allowed(const struct cmd_entry *e, const char *member)
{
	size_t	i;

	if (strcmp(member, "cmd") == 0 || strcmp(member, "id") == 0)
		return (true);
	for (i = 0; e->members != NULL && e->members[i] != NULL; i++)
		if (strcmp(e->members[i], member) == 0)
			return (true);
	return (false);
}

/*
 * Parse one request line.  Returns 0 and fills req (the caller owns
 * req->root), or -1 with *code and a message in err.  req->id is set as
 * soon as it is known, so even an error can echo it.
 */
int
cmd_parse(const char *line, size_t len, struct cmd_req *req,
    const char **code, char *err, size_t errlen)
{
	const struct cmd_entry	*e;
	json_error_t		 jerr;
	const char		*member;
	json_t			*v, *cmd;

	memset(req, 0, sizeof *req);
	if (memchr(line, '\0', len) != NULL) {
		*code = "bad_json";
		snprintf(err, errlen, "NUL byte in request");
		return (-1);
	}
	req->root = json_loadb(line, len, JSON_REJECT_DUPLICATES |
	    JSON_DECODE_ANY, &jerr);
	if (req->root == NULL) {
		*code = "bad_json";
		snprintf(err, errlen, "invalid JSON at column %d: %s",
		    jerr.column, jerr.text);
		return (-1);
	}
	if (!json_is_object(req->root)) {
		*code = "bad_request";
		snprintf(err, errlen, "a request must be a JSON object");
		return (-1);
	}
	if ((v = json_object_get(req->root, "id")) != NULL) {
		if (!json_is_string(v) && !json_is_number(v)) {
			*code = "bad_request";
			snprintf(err, errlen, "id: must be a string or a "
			    "number");
			return (-1);
		}
		req->id = v;
	}
	if ((cmd = json_object_get(req->root, "cmd")) == NULL) {
		*code = "bad_request";
		snprintf(err, errlen, "missing member 'cmd'");
		return (-1);
	}
	if (!json_is_string(cmd)) {
		*code = "bad_request";
		snprintf(err, errlen, "cmd: must be a string");
		return (-1);
	}
	req->name = json_string_value(cmd);
	if ((e = cmd_find(req->name)) == NULL) {
		*code = "unknown_command";
		snprintf(err, errlen, "unknown command '%.64s'", req->name);
		return (-1);
	}
	json_object_foreach(req->root, member, v) {
		if (!cmd_member_allowed(e, member)) {
			*code = "bad_request";
			snprintf(err, errlen, "%s: unknown member '%.64s'",
			    e->name, member);
			return (-1);
		}
	}
	return (0);
}

/*
 * Parse and run one request from a client.  Returns 0 to go on, -1 to
 * close the client.
 */
int
cmd_dispatch(struct client *c, const char *line, size_t len)
{
	const struct cmd_entry	*e;
	struct cmd_req		 req;
	const char		*code;
	char			 err[CMD_ERRLEN];
	int			 want, r;

	if (len == 0 || (len == 1 && line[0] == '\r'))
		return (0);		/* blank lines are ignored */
	if (cmd_parse(line, len, &req, &code, err, sizeof err) == -1) {
		client_reply_error(c, req.id, code, "%s", err);
		json_decref(req.root);
		return (0);
	}
	e = cmd_find(req.name);
	want = client_kind(c) == LISTENER_EVENTS ? CMD_EVENTS : CMD_CONTROL;
	if ((e->flags & want) == 0) {
		client_reply_error(c, req.id, "unknown_command",
		    "command '%s' is not available on the %s socket", e->name,
		    want == CMD_EVENTS ? "events" : "control");
		json_decref(req.root);
		return (0);
	}
	if ((e->flags & CMD_PRIV) != 0 && !client_privileged(c)) {
		pid_t	pid;
		uid_t	uid;

		client_peer(c, &pid, &uid, NULL);
		log_warnx("client %u (uid %ld, pid %ld): %s denied: not root "
		    "and not in the admin group", client_id(c), (long)uid,
		    (long)pid, e->name);
		client_reply_error(c, req.id, "denied", "%s: only root or the "
		    "admin group may change the table", e->name);
		json_decref(req.root);
		return (0);
	}
	r = e->exec(c, &req);
	json_decref(req.root);
	return (r);
}
