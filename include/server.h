/*
 * server.h - the listening Unix sockets and their clients.
 */
#ifndef CTSTREAMD_SERVER_H
#define CTSTREAMD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct ctx;
struct server;
struct client;
struct sub;
struct qjob;

enum listener_kind {
	LISTENER_EVENTS = 0,	/* subscribers: events by default */
	LISTENER_CONTROL,	/* requests and replies */
};

struct listen_opts {
	const char	*path;
	mode_t		 mode;
	uid_t		 uid;		/* (uid_t)-1: leave as is */
	gid_t		 gid;		/* (gid_t)-1: leave as is */
	uid_t		 dir_uid;	/* of a directory made for it, so */
	gid_t		 dir_gid;	/* that --user can remove it */
};

#define SERVER_MAX_CLIENTS	1024
#define SERVER_MAX_LINE		(64U * 1024)

struct server_stats {
	unsigned long long	accepted;
	unsigned long long	refused;	/* over the client limit */
	unsigned long long	backoffs;	/* out of descriptors */
	unsigned int		clients;
};

struct server	*server_new(struct ctx *, unsigned int, size_t);
void		 server_free(struct server *);
void		 server_unlink(struct server *);
int		 server_listen(struct server *, enum listener_kind,
		     const struct listen_opts *, char *, size_t);
int		 server_adopt(struct server *, enum listener_kind, int,
		     char *, size_t);
void		 server_set_limits(struct server *, unsigned int, size_t);
void		 server_client_gone(struct server *);
const struct server_stats *server_stats(const struct server *);

/* client.c */
struct client	*client_new(struct server *, struct ctx *, int,
		     enum listener_kind, size_t);
void		 client_free(struct client *);
void		 client_free_all(void);
void		 client_foreach(void (*)(struct client *, void *), void *);
void		 client_drain_all(void);
void		 client_close(struct client *);
struct sub	*client_sub(struct client *);
struct ctx	*client_ctx(struct client *);
enum listener_kind client_kind(const struct client *);
unsigned int	 client_id(const struct client *);
void		 client_peer(const struct client *, pid_t *, uid_t *, gid_t *);
void		 client_reply_ok(struct client *, const json_t *, json_t *);
void		 client_reply_error(struct client *, const json_t *,
		     const char *, const char *, ...)
		     __attribute__((format(printf, 4, 5)));
int		 client_send_json(struct client *, json_t *);
void		 client_reply_raw(struct client *, const json_t *,
		     const char *, size_t);
bool		 client_privileged(const struct client *);
void		 client_set_job(struct client *, struct qjob *);
struct qjob	*client_job(const struct client *);
void		 client_job_done(struct client *);
void		 client_pause_job(struct client *);
void		*client_cmdstate(struct client *);
void		 client_set_cmdstate(struct client *, void *,
		     void (*)(void *));

#endif
