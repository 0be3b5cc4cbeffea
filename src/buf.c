/*
 * buf.c - growth and release for struct buf.
 */
#include "config.h"

#include <stdlib.h>

#include "buf.h"

/* Grow so that n more bytes fit; on failure mark the buffer broken. */
bool
buf_grow(struct buf *b, size_t n)
{
	size_t	 cap;
	char	*p;

	if (b->broken)
		return (false);
	cap = b->cap ? b->cap : 512;
	while (cap - b->len < n) {
		if (cap > (size_t)-1 / 2) {
			b->broken = true;
			return (false);
		}
		cap *= 2;
	}
	if ((p = realloc(b->data, cap)) == NULL) {
		b->broken = true;
		return (false);
	}
	b->data = p;
	b->cap = cap;
	return (true);
}

/* Release the memory; the buffer may be used again afterwards. */
void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->broken = false;
}
