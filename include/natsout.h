/*
 * natsout.h - an output that publishes every stream line to NATS.
 *
 * (Not nats.h: that name is the library's own header.)  Built without
 * libnats (--with-nats=no, or not found), natsout_supported() is false
 * and natsout_new() fails with -ENOTSUP; the checks of the settings work
 * in every build.
 */
#ifndef CTSTREAMD_NATSOUT_H
#define CTSTREAMD_NATSOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct natsout;

struct natsout_opts {
	const char	*servers;	/* comma list of nats://host:port */
	const char	*stream;	/* JetStream stream, NULL: core NATS */
	const char	*prefix;	/* first subject tokens */
	const char	*host;		/* subject token, NULL: the hostname */
	size_t		 hiwat;		/* bytes pending that start dropping */
	size_t		 lowat;		/* bytes pending that stop dropping */
	size_t		 hiwat_msgs;	/* lines pending that start dropping */
	size_t		 lowat_msgs;	/* lines pending that stop dropping */
	size_t		 max_inflight;	/* JetStream: acks awaited at once */
	size_t		 ack_wait;	/* ms to wait for an ack */
	size_t		 retries;	/* republications after ack timeouts */
	size_t		 reconnect_max;	/* ms, longest wait between attempts */
};

/*
 * One report of lines the output could not publish since the previous
 * one: count lines with seq first_seq..last_seq (count may be smaller
 * than the range), of which dropped at the high watermark and failed
 * (refused, or never acknowledged).  notices_only: every one of them
 * was a "nats" line itself.
 */
struct natsout_report {
	uint64_t	count;
	uint64_t	first_seq;
	uint64_t	last_seq;
	uint64_t	dropped;
	uint64_t	failed;
	bool		notices_only;
};

#define NATSOUT_TEXTLEN		256
#define NATSOUT_ERRLEN		256

struct natsout_stats {
	bool		jetstream;
	bool		connected;
	char		server[NATSOUT_TEXTLEN];	/* "" until connected */
	char		subject[NATSOUT_TEXTLEN];	/* prefix.host */
	char		stream[NATSOUT_TEXTLEN];	/* "" for core NATS */
	char		last_error[NATSOUT_TEXTLEN];	/* "" if none */
	uint64_t	lines;		/* lines offered */
	uint64_t	published;	/* handed to the library */
	uint64_t	acked;		/* acknowledged by the stream */
	uint64_t	dropped;	/* discarded past the high watermark */
	uint64_t	failed;		/* refused or never acknowledged */
	uint64_t	retries;	/* republications */
	uint64_t	pending;	/* lines queued or awaiting an ack */
	uint64_t	pending_bytes;
	uint64_t	in_flight;	/* lines awaiting an ack */
	uint64_t	lost_reports;	/* lost messages published */
	uint64_t	connects;	/* connections made, reconnections too */
	uint64_t	reconnects;
	uint64_t	disconnects;
};

typedef void	(*natsout_report_fn)(void *, const struct natsout_report *);

bool	natsout_supported(void);
int	natsout_check_servers(const char *, char *, size_t);
int	natsout_check_prefix(const char *, char *, size_t);
int	natsout_check_token(const char *, char *, size_t);
int	natsout_check_stream(const char *, char *, size_t);
void	natsout_default_host(char *, size_t);

int	natsout_new(struct natsout **, struct event_base *,
	    const struct natsout_opts *, natsout_report_fn, void *, char *,
	    size_t);
void	natsout_line(struct natsout *, const char *, const char *, uint64_t,
	    const char *, size_t);
void	natsout_set_limits(struct natsout *, size_t, size_t, size_t, size_t);
void	natsout_stats(struct natsout *, struct natsout_stats *);
void	natsout_stop(struct natsout *);
void	natsout_free(struct natsout *);

#endif
