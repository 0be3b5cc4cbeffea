/*
 * metrics-http.h - /metrics over HTTP (--metrics-listen).
 */
#ifndef CTSTREAMD_METRICS_HTTP_H
#define CTSTREAMD_METRICS_HTTP_H

#include <stddef.h>

struct ctx;
struct metrics_http;

int	metrics_http_new(struct metrics_http **, struct ctx *, const char *,
	    char *, size_t);
const char *metrics_http_address(const struct metrics_http *);
void	metrics_http_free(struct metrics_http *);

#endif
