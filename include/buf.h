/*
 * buf.h - a growable byte buffer for building lines.
 *
 * Appends never fail: on allocation failure the buffer is marked broken,
 * further appends are ignored and buf_ok() reports it once the line is
 * done.  That keeps encoders free of error checks on every field.
 */
#ifndef CTSTREAMD_BUF_H
#define CTSTREAMD_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	bool	 broken;
};

bool	buf_grow(struct buf *, size_t);
void	buf_free(struct buf *);

/* Make room for n more bytes; false if the buffer is broken. */
static inline bool
buf_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->len >= n && !b->broken)
		return (true);
	return (buf_grow(b, n));
}

/* Forget the contents, keep the memory. */
static inline void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->broken = false;
}

/* Tell whether every append since the last reset succeeded. */
static inline bool
buf_ok(const struct buf *b)
{
	return (!b->broken);
}

/* Append n bytes. */
static inline void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Append one byte. */
static inline void
buf_addc(struct buf *b, char c)
{
	if (!buf_reserve(b, 1))
		return;
	b->data[b->len++] = c;
}

/* Append a NUL-terminated string. */
static inline void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

#endif
