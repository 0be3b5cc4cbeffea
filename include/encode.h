/*
 * encode.h - struct event in, one JSON object out.  Pure: no sockets.
 */
#ifndef CTSTREAMD_ENCODE_H
#define CTSTREAMD_ENCODE_H

#include <stddef.h>
#include <time.h>

#include "event.h"
#include "jw.h"

#define ENCODE_TIMELEN	40	/* room for an RFC 3339 time with ns */

struct encoder;

struct encoder	*encoder_new(const char *);
void		 encoder_free(struct encoder *);
void		 encode_event(struct encoder *, struct jw *,
		     const struct event *);
size_t		 encode_time(char [ENCODE_TIMELEN], time_t, long, int);

#endif
