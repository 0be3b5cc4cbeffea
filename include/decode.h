/*
 * decode.h - netlink message in, struct event out.  Pure: no sockets.
 */
#ifndef CTSTREAMD_DECODE_H
#define CTSTREAMD_DECODE_H

#include <stddef.h>

#include "event.h"

struct nlmsghdr;
struct decoder;

struct decoder	*decoder_new(void);
void		 decoder_free(struct decoder *);
int		 decode_validate(const struct nlmsghdr *);
int		 decode_msg(struct decoder *, const struct nlmsghdr *,
		     struct event *);

#endif
