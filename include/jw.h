/*
 * jw.h - a small JSON writer with two back ends.
 *
 * In text mode it appends compact JSON to a struct buf: this is the hot
 * path that writes every event line.  In jansson mode the very same calls
 * build a json_t tree instead; the tests encode every fixture both ways and
 * require the parsed text to equal the tree, which holds the hand-written
 * text path (escaping, numbers, nesting) to jansson's reference.
 *
 * Strings that are not valid UTF-8 are repaired the same way in both
 * modes: every byte that does not start a valid sequence becomes U+FFFD.
 * Keys are string literals of the caller and are written unescaped.
 */
#ifndef CTSTREAMD_JW_H
#define CTSTREAMD_JW_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"

#define JW_MAXDEPTH	16

struct jw {
	struct buf	*out;			/* text mode */
	bool		 jansson;
	int		 depth;
	bool		 comma[JW_MAXDEPTH];	/* text: a member was written */
	json_t		*stack[JW_MAXDEPTH];	/* jansson: open containers */
	json_t		*root;
};

void	 jw_init_text(struct jw *, struct buf *);
void	 jw_init_jansson(struct jw *);
json_t	*jw_take(struct jw *);
void	 jw_obj_open(struct jw *, const char *);
void	 jw_obj_close(struct jw *);
void	 jw_arr_open(struct jw *, const char *);
void	 jw_arr_close(struct jw *);
void	 jw_u64(struct jw *, const char *, uint64_t);
void	 jw_i64(struct jw *, const char *, int64_t);
void	 jw_bool(struct jw *, const char *, bool);
void	 jw_str(struct jw *, const char *, const char *);
void	 jw_strn(struct jw *, const char *, const char *, size_t);

size_t	 jw_utf8_len(const unsigned char *, size_t);
char	*jw_repair(const char *, size_t, size_t *);
void	 jw_escape(struct buf *, const char *, size_t);
char	*jw_fmt_u64(char *, uint64_t);

#endif
