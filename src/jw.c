/*
 * jw.c - the JSON writer: compact text, or a jansson tree for tests.
 *
 * Sample of the text it produces for the calls
 *   obj_open(NULL) str("a","x\"y") arr_open("b") u64(NULL,1) arr_close
 *   obj_close:
 *
 *   {"a":"x\"y","b":[1]}
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "jw.h"

#define JW_DIGITS	20	/* UINT64_MAX has 20 digits */

/* Start writing text into b (appending to what is there). */
void
jw_init_text(struct jw *w, struct buf *b)
{
	memset(w, 0, sizeof *w);
	w->out = b;
}

/* Start building a jansson tree. */
void
jw_init_jansson(struct jw *w)
{
	memset(w, 0, sizeof *w);
	w->jansson = true;
}

/* Return the finished tree (jansson mode); the caller owns it. */
json_t *
jw_take(struct jw *w)
{
	json_t	*root = w->root;

	w->root = NULL;
	return (root);
}

/*
 * Return the length of the valid UTF-8 sequence at p (at most n bytes
 * available), or 0 if p does not start one: overlong forms, surrogates
 * and code points above U+10FFFF are invalid.
 */
size_t
jw_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char	c = p[0];

	if (c < 0x80)
		return (1);
	if (c >= 0xc2 && c <= 0xdf) {
		if (n >= 2 && (p[1] & 0xc0) == 0x80)
			return (2);
		return (0);
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return (0);
		if (c == 0xe0 && p[1] < 0xa0)
			return (0);		/* overlong */
		if (c == 0xed && p[1] >= 0xa0)
			return (0);		/* surrogate */
		return (3);
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 ||
		    (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return (0);
		if (c == 0xf0 && p[1] < 0x90)
			return (0);		/* overlong */
		if (c == 0xf4 && p[1] >= 0x90)
			return (0);		/* above U+10FFFF */
		return (4);
	}
	return (0);
}

/* Append s as the inside of a JSON string: escaped, UTF-8 repaired. */
void
jw_escape(struct buf *b, const char *s, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)s;
	const unsigned char	*end = p + n;
	const unsigned char	*run;
	size_t			 l;

	while (p < end) {
		run = p;
		while (p < end && *p >= 0x20 && *p < 0x80 &&
		    *p != '"' && *p != '\\')
			p++;
		if (p > run)
			buf_add(b, run, p - run);
		if (p == end)
			break;
		switch (*p) {
		case '"':
			buf_add(b, "\\\"", 2);
			break;
		case '\\':
			buf_add(b, "\\\\", 2);
			break;
		case '\b':
			buf_add(b, "\\b", 2);
			break;
		case '\f':
			buf_add(b, "\\f", 2);
			break;
		case '\n':
			buf_add(b, "\\n", 2);
			break;
		case '\r':
			buf_add(b, "\\r", 2);
			break;
		case '\t':
			buf_add(b, "\\t", 2);
			break;
		default:
			if (*p < 0x20) {
				char	u[6] = { '\\', 'u', '0', '0',
				    hex[*p >> 4], hex[*p & 0xf] };

				buf_add(b, u, sizeof u);
				break;
			}
			if ((l = jw_utf8_len(p, end - p)) == 0) {
				buf_add(b, "\xef\xbf\xbd", 3);	/* U+FFFD */
				break;
			}
			buf_add(b, p, l);
			p += l;
			continue;
		}
		p++;
	}
}

/*
 * Copy s with invalid UTF-8 repaired (NUL-terminated, for jansson, and
 * for messages that quote what a client sent); caller frees.
 */
char *
jw_repair(const char *s, size_t n, size_t *outlen)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			*r, *q;
	size_t			 i, l;

	if ((r = malloc(n * 3 + 1)) == NULL)
		return (NULL);
	q = r;
	for (i = 0; i < n; i += l) {
		if ((l = jw_utf8_len(p + i, n - i)) == 0) {
			memcpy(q, "\xef\xbf\xbd", 3);
			q += 3;
			l = 1;
			continue;
		}
		memcpy(q, p + i, l);
		q += l;
	}
	*q = '\0';
	*outlen = q - r;
	return (r);
}

/*
 * Format v in decimal, ending at end (exclusive); return the first digit.
 * The caller's buffer must hold JW_DIGITS bytes before end.
 */
char *
jw_fmt_u64(char *end, uint64_t v)
{
	char	*p = end;

	do {
		*--p = '0' + v % 10;
		v /= 10;
	} while (v != 0);
	return (p);
}

/*
 * Text mode: write the separator and the key of the next member, with room
 * for n more bytes after them in one reservation.  Returns where the value
 * goes, or NULL if the buffer is broken.
 */
static char *
jw_key_room(struct jw *w, struct jw_key k, size_t n)
{
	struct buf	*b = w->out;
	char		*p;

	if (!buf_reserve(b, k.len + 4 + n))
		return (NULL);
	p = b->data + b->len;
	if (w->comma[w->depth])
		*p++ = ',';
	w->comma[w->depth] = true;
	if (k.s != NULL) {
		*p++ = '"';
		memcpy(p, k.s, k.len);
		p += k.len;
		*p++ = '"';
		*p++ = ':';
	}
	return (p);
}

/* Text mode: the value ends at p. */
static void
jw_done(struct jw *w, const char *p)
{
	w->out->len = p - w->out->data;
}

/* Jansson mode: attach v to the open container (or make it the root). */
static void
jw_attach(struct jw *w, struct jw_key k, json_t *v)
{
	json_t	*parent;

	if (v == NULL)
		return;
	if (w->depth == 0) {
		json_decref(w->root);
		w->root = v;
		return;
	}
	parent = w->stack[w->depth - 1];
	if (json_is_object(parent))
		json_object_setn_new(parent, k.s != NULL ? k.s : "", k.len, v);
	else
		json_array_append_new(parent, v);
}

/* Open a container; depth beyond JW_MAXDEPTH is a programming error. */
static void
jw_open(struct jw *w, struct jw_key k, bool obj)
{
	json_t	*c;
	char	*p;

	if (w->depth + 1 >= JW_MAXDEPTH)
		abort();
	if (w->jansson) {
		c = obj ? json_object() : json_array();
		json_incref(c);
		jw_attach(w, k, c);
		w->stack[w->depth++] = c;
		return;
	}
	if ((p = jw_key_room(w, k, 1)) != NULL) {
		*p++ = obj ? '{' : '[';
		jw_done(w, p);
	}
	w->comma[++w->depth] = false;
}

/* Close the innermost container. */
static void
jw_close(struct jw *w, bool obj)
{
	if (w->depth == 0)
		abort();
	if (w->jansson) {
		json_decref(w->stack[--w->depth]);
		return;
	}
	w->depth--;
	buf_addc(w->out, obj ? '}' : ']');
}

/* Open an object as member k (no key inside arrays and at the top). */
void
jw_obj_open_k(struct jw *w, struct jw_key k)
{
	jw_open(w, k, true);
}

/* Close the innermost object. */
void
jw_obj_close(struct jw *w)
{
	jw_close(w, true);
}

/* Open an array as member k. */
void
jw_arr_open_k(struct jw *w, struct jw_key k)
{
	jw_open(w, k, false);
}

/* Close the innermost array. */
void
jw_arr_close(struct jw *w)
{
	jw_close(w, false);
}

/*
 * Write an unsigned integer.  jansson's integers are signed 64-bit, so in
 * jansson mode values above INT64_MAX become reals; the kernel's counters
 * are signed 64-bit and never get there.
 */
void
jw_u64_k(struct jw *w, struct jw_key k, uint64_t v)
{
	char	 d[JW_DIGITS], *p, *q;
	size_t	 n;

	if (w->jansson) {
		jw_attach(w, k, v > INT64_MAX ? json_real((double)v) :
		    json_integer((json_int_t)v));
		return;
	}
	q = jw_fmt_u64(d + sizeof d, v);
	n = d + sizeof d - q;
	if ((p = jw_key_room(w, k, n)) == NULL)
		return;
	memcpy(p, q, n);
	jw_done(w, p + n);
}

/* Write a signed integer. */
void
jw_i64_k(struct jw *w, struct jw_key k, int64_t v)
{
	char	 d[JW_DIGITS + 1], *p, *q;
	uint64_t u;
	size_t	 n;

	if (w->jansson) {
		jw_attach(w, k, json_integer((json_int_t)v));
		return;
	}
	u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	q = jw_fmt_u64(d + sizeof d, u);
	if (v < 0)
		*--q = '-';
	n = d + sizeof d - q;
	if ((p = jw_key_room(w, k, n)) == NULL)
		return;
	memcpy(p, q, n);
	jw_done(w, p + n);
}

/* Write a boolean. */
void
jw_bool_k(struct jw *w, struct jw_key k, bool v)
{
	char	*p;

	if (w->jansson) {
		jw_attach(w, k, json_boolean(v));
		return;
	}
	if ((p = jw_key_room(w, k, 5)) == NULL)
		return;
	if (v)
		memcpy(p, "true", 4);
	else
		memcpy(p, "false", 5);
	jw_done(w, p + (v ? 4 : 5));
}

/* Write a string of n bytes (it may hold NULs and invalid UTF-8). */
void
jw_strn_k(struct jw *w, struct jw_key k, const char *s, size_t n)
{
	char	*p, *r;
	size_t	 rn;

	if (w->jansson) {
		if ((r = jw_repair(s, n, &rn)) == NULL)
			return;
		jw_attach(w, k, json_stringn(r, rn));
		free(r);
		return;
	}
	if ((p = jw_key_room(w, k, 1)) == NULL)
		return;
	*p++ = '"';
	jw_done(w, p);
	jw_escape(w->out, s, n);
	buf_addc(w->out, '"');
}

/*
 * Tell whether s needs no escaping: printable ASCII without a quote or a
 * backslash.
 */
bool
jw_is_safe(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '"' || p[i] == '\\')
			return (false);
	return (true);
}

/*
 * Write a string known to need no escaping, as it is.  In jansson mode,
 * which the tests use, a string that does need it is a programming error.
 */
void
jw_safe_k(struct jw *w, struct jw_key k, const char *s, size_t n)
{
	char	*p;

	if (w->jansson) {
		if (!jw_is_safe(s, n))
			abort();
		jw_attach(w, k, json_stringn(s, n));
		return;
	}
	if ((p = jw_key_room(w, k, n + 2)) == NULL)
		return;
	*p++ = '"';
	memcpy(p, s, n);
	p += n;
	*p++ = '"';
	jw_done(w, p);
}
