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
#include <string.h>

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

/* A member's key and its length; s is NULL inside arrays. */
struct jw_key {
	const char	*s;
	size_t		 len;
};

void	 jw_init_text(struct jw *, struct buf *);
void	 jw_init_jansson(struct jw *);
json_t	*jw_take(struct jw *);
void	 jw_obj_open_k(struct jw *, struct jw_key);
void	 jw_obj_close(struct jw *);
void	 jw_arr_open_k(struct jw *, struct jw_key);
void	 jw_arr_close(struct jw *);
void	 jw_u64_k(struct jw *, struct jw_key, uint64_t);
void	 jw_i64_k(struct jw *, struct jw_key, int64_t);
void	 jw_bool_k(struct jw *, struct jw_key, bool);
void	 jw_strn_k(struct jw *, struct jw_key, const char *, size_t);
void	 jw_safe_k(struct jw *, struct jw_key, const char *, size_t);

size_t	 jw_utf8_len(const unsigned char *, size_t);
char	*jw_repair(const char *, size_t, size_t *);
void	 jw_escape(struct buf *, const char *, size_t);
char	*jw_fmt_u64(char *, uint64_t);
bool	 jw_is_safe(const char *, size_t);

/*
 * The calls take the key as a string.  These inline forms pass its length
 * along: for a string literal, and the encoder's keys are literals, the
 * compiler works it out, so no member costs a strlen().
 */
static inline struct jw_key
jw_key(const char *s)
{
	struct jw_key	k = { s, s != NULL ? strlen(s) : 0 };

	return (k);
}

/* Open an object as member key (NULL inside arrays and at the top). */
static inline void
jw_obj_open(struct jw *w, const char *key)
{
	jw_obj_open_k(w, jw_key(key));
}

/* Open an array as member key. */
static inline void
jw_arr_open(struct jw *w, const char *key)
{
	jw_arr_open_k(w, jw_key(key));
}

/* Write an unsigned integer. */
static inline void
jw_u64(struct jw *w, const char *key, uint64_t v)
{
	jw_u64_k(w, jw_key(key), v);
}

/* Write a signed integer. */
static inline void
jw_i64(struct jw *w, const char *key, int64_t v)
{
	jw_i64_k(w, jw_key(key), v);
}

/* Write a boolean. */
static inline void
jw_bool(struct jw *w, const char *key, bool v)
{
	jw_bool_k(w, jw_key(key), v);
}

/* Write a string of n bytes (it may hold NULs and invalid UTF-8). */
static inline void
jw_strn(struct jw *w, const char *key, const char *s, size_t n)
{
	jw_strn_k(w, jw_key(key), s, n);
}

/* Write a NUL-terminated string. */
static inline void
jw_str(struct jw *w, const char *key, const char *s)
{
	jw_strn_k(w, jw_key(key), s, strlen(s));
}

/*
 * Write a string the caller formatted or chose itself and knows to need no
 * escaping (see jw_is_safe()): names, numbers, addresses, times.  It is
 * copied as it is.
 */
static inline void
jw_safe(struct jw *w, const char *key, const char *s, size_t n)
{
	jw_safe_k(w, jw_key(key), s, n);
}

#endif
