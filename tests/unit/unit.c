/*
 * unit.c - the unit test runner: one Check suite per module.
 *
 * Also the JSON helpers the suites share.  Text is parsed strictly
 * (duplicate keys are an error); jansson's integers are signed 64-bit, so
 * text holding a larger number is parsed with every number as a real, and
 * whatever it is compared with is turned into reals the same way.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "unit.h"

#define UNIT_JSON_FLAGS	(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | \
			 JSON_ALLOW_NUL)

/*
 * Parse text.  When it holds an integer jansson cannot represent and
 * asreal is not NULL, parse it again with all numbers as reals and say so.
 */
json_t *
unit_json_load(const char *text, size_t len, bool *asreal)
{
	json_error_t	 err;
	json_t		*j;

	if (asreal != NULL)
		*asreal = false;
	if ((j = json_loadb(text, len, UNIT_JSON_FLAGS, &err)) != NULL)
		return (j);
	if (asreal == NULL ||
	    json_error_code(&err) != json_error_numeric_overflow)
		return (NULL);
	*asreal = true;
	return (json_loadb(text, len, UNIT_JSON_FLAGS |
	    JSON_DECODE_INT_AS_REAL, &err));
}

/* Return a deep copy of j with every integer turned into a real. */
json_t *
unit_json_reals(const json_t *j)
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
			json_object_set_new(c, k, unit_json_reals(v));
		return (c);
	case JSON_ARRAY:
		c = json_array();
		json_array_foreach(j, i, v)
			json_array_append_new(c, unit_json_reals(v));
		return (c);
	default:
		return (json_deep_copy(j));
	}
}

/* Tell whether text parses to exactly the tree. */
bool
unit_json_same(const char *text, size_t len, const json_t *tree)
{
	json_t	*t, *r;
	bool	 asreal, same;

	if ((t = unit_json_load(text, len, &asreal)) == NULL)
		return (false);
	if (asreal) {
		r = unit_json_reals(tree);
		same = json_equal(t, r);
		json_decref(r);
	} else
		same = json_equal(t, (json_t *)tree);
	json_decref(t);
	return (same);
}

/* Tell whether text parses to the same value as the reference text. */
bool
unit_json_text_same(const char *text, size_t len, const char *ref)
{
	json_t	*r, *rr;
	bool	 asreal, same;

	if ((r = unit_json_load(ref, strlen(ref), &asreal)) == NULL)
		return (false);
	if (asreal) {
		rr = r;
		r = unit_json_reals(rr);
		json_decref(rr);
	}
	same = unit_json_same(text, len, r);
	json_decref(r);
	return (same);
}

/* Return j as compact text with sorted keys, for messages; caller frees. */
char *
unit_json_dump(const json_t *j)
{
	char	*s;

	if (j == NULL)
		return (strdup("(null)"));
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	return (s != NULL ? s : strdup("(unprintable)"));
}

/* Make ev a resync's id-only destroy line for entry id of netns. */
void
unit_idonly_event(struct event *ev, uint32_t id, const char *netns)
{
	memset(ev, 0, sizeof *ev);
	ev->type = EV_TYPE_CT;
	ev->kind = EV_DESTROY;
	ev->resync = true;
	ev->idonly = true;
	ev->ct_id = id;
	ev->netns = netns;
}

/* Write contents to a new temporary file and return its path. */
char *
unit_tmpfile(const char *contents)
{
	const char	*dir;
	char		*path;
	size_t		 len = strlen(contents);
	int		 fd;

	if ((dir = getenv("TMPDIR")) == NULL || *dir == '\0')
		dir = "/tmp";
	if (asprintf(&path, "%s/ctstreamd-unit.XXXXXX", dir) == -1)
		return (NULL);
	if ((fd = mkstemp(path)) == -1) {
		free(path);
		return (NULL);
	}
	if (write(fd, contents, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		free(path);
		return (NULL);
	}
	close(fd);
	return (path);
}

/* Run every suite; the exit status tells whether all tests passed. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	/* A subscriber whose peer went away must see EPIPE, not die. */
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(make_decode_suite());
	srunner_add_suite(sr, make_encode_suite());
	srunner_add_suite(sr, make_jw_suite());
	srunner_add_suite(sr, make_fanout_suite());
	srunner_add_suite(sr, make_buf_suite());
	srunner_add_suite(sr, make_names_suite());
	srunner_add_suite(sr, make_event_suite());
	srunner_add_suite(sr, make_netns_suite());
	srunner_add_suite(sr, make_nl_suite());
	srunner_add_suite(sr, make_filter_suite());
	srunner_add_suite(sr, make_req_suite());
	srunner_add_suite(sr, make_conf_suite());
	srunner_add_suite(sr, make_track_suite());
	srunner_add_suite(sr, make_kfilter_suite());
	srunner_add_suite(sr, make_metrics_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
