/*
 * metrics.h - the stats answer in the Prometheus text exposition format.
 */
#ifndef CTSTREAMD_METRICS_H
#define CTSTREAMD_METRICS_H

#include <sys/socket.h>

#include <stddef.h>

#include <jansson.h>

struct buf;

/* What the stats answer does not hold. */
struct metrics_info {
	const char	*version;	/* for ctstreamd_build_info */
	double		 start_time;	/* Unix seconds; < 0: unknown */
};

/* The Content-Type of the text, for HTTP. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

int	metrics_render(const json_t *, const struct metrics_info *,
	    struct buf *);
int	metrics_listen_parse(const char *, struct sockaddr_storage *,
	    socklen_t *, char *, size_t);
int	metrics_listen_check(const char *, char *, size_t);

#endif
