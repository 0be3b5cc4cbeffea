/*
 * fuzz-util.c - helpers shared by the libFuzzer harnesses.
 *
 * The JSON comparison is the one the unit tests use for the equality
 * proof: text is parsed strictly, and when it holds an integer beyond
 * jansson's signed 64 bits both sides are compared as reals.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <sanitizer/common_interface_defs.h>

#include "fuzz.h"

#define FUZZ_JSON_FLAGS	(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | \
			 JSON_ALLOW_NUL)

/*
 * Parse text strictly; when an integer does not fit and asreal is not
 * NULL, parse again with every number as a real and say so.
 */
json_t *
fuzz_json_load(const char *text, size_t len, bool *asreal)
{
	json_error_t	 err;
	json_t		*j;

	if (asreal != NULL)
		*asreal = false;
	if ((j = json_loadb(text, len, FUZZ_JSON_FLAGS, &err)) != NULL)
		return (j);
	if (asreal == NULL ||
	    json_error_code(&err) != json_error_numeric_overflow)
		return (NULL);
	*asreal = true;
	return (json_loadb(text, len, FUZZ_JSON_FLAGS |
	    JSON_DECODE_INT_AS_REAL, &err));
}

/* Return a copy of j with every integer made a real. */
static json_t *
fuzz_json_reals(const json_t *j)
{
	json_t		*c, *v;
	const char	*k;
	size_t		 i;

	switch (json_typeof(j)) {
	case JSON_INTEGER:
		return (json_real((double)json_integer_value(j)));
	case JSON_OBJECT:
		c = json_object();
		json_object_foreach((json_t *)j, k, v)
			json_object_set_new(c, k, fuzz_json_reals(v));
		return (c);
	case JSON_ARRAY:
		c = json_array();
		json_array_foreach(j, i, v)
			json_array_append_new(c, fuzz_json_reals(v));
		return (c);
	default:
		return (json_deep_copy(j));
	}
}

/* Tell whether text parses to exactly the tree. */
bool
fuzz_json_same(const char *text, size_t len, const json_t *tree)
{
	json_t	*t, *r;
	bool	 asreal, same;

	if ((t = fuzz_json_load(text, len, &asreal)) == NULL)
		return (false);
	if (asreal) {
		r = fuzz_json_reals(tree);
		same = json_equal(t, r);
		json_decref(r);
	} else
		same = json_equal(t, (json_t *)tree);
	json_decref(t);
	return (same);
}

/*
 * A finding: say what, then abort so libFuzzer saves the input.  The
 * message also goes to the sanitizer's report descriptor, which survives
 * -close_fd_mask=2.
 */
void
fuzz_fail(const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "FUZZ FINDING: %s\n", msg);
	__sanitizer_report_error_summary(msg);
	abort();
}
