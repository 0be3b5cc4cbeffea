/*
 * unit.h - the unit test runner's suites and shared helpers.
 */
#ifndef CTSTREAMD_UNIT_H
#define CTSTREAMD_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>
#include <jansson.h>

struct event;

Suite	*make_decode_suite(void);
Suite	*make_encode_suite(void);
Suite	*make_jw_suite(void);
Suite	*make_fanout_suite(void);
Suite	*make_buf_suite(void);
Suite	*make_names_suite(void);
Suite	*make_event_suite(void);
Suite	*make_netns_suite(void);
Suite	*make_nl_suite(void);
Suite	*make_filter_suite(void);
Suite	*make_req_suite(void);
Suite	*make_conf_suite(void);
Suite	*make_track_suite(void);
Suite	*make_kfilter_suite(void);
Suite	*make_metrics_suite(void);

json_t	*unit_json_load(const char *, size_t, bool *);
json_t	*unit_json_reals(const json_t *);
bool	 unit_json_same(const char *, size_t, const json_t *);
bool	 unit_json_text_same(const char *, size_t, const char *);
char	*unit_json_dump(const json_t *);
char	*unit_tmpfile(const char *);
void	 unit_idonly_event(struct event *, uint32_t, const char *);

#endif
