/*
 * filter.h - a subscriber's filter: parsed from JSON, matched per event.
 */
#ifndef CTSTREAMD_FILTER_H
#define CTSTREAMD_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "event.h"

/*
 * The facts about one event that filters look at, extracted once per event
 * however many subscribers test it.  For expectations, tuple 0 is the
 * master and tuple 1 the expected tuple.  A partial view (a resync's
 * id-only line) knows the type, the kind and the namespace only.
 */
struct filter_tuple {
	bool		has_src, has_dst, has_sport, has_dport;
	uint8_t		src[16];
	uint8_t		dst[16];
	uint16_t	sport, dport;		/* host order */
};

struct filter_view {
	uint8_t			type, kind, family, proto;
	bool			has_proto;
	struct filter_tuple	t[2];
	bool			has_mark, has_zone, has_status, has_state;
	uint32_t		mark;
	uint16_t		zone;
	uint32_t		status;
	uint8_t			state;
	const char		*netns;
	bool			partial;	/* only type, kind, netns */
};

struct filter;

/* What of a filter a kernel dump request can apply itself. */
struct filter_hints {
	uint8_t		family;		/* 0: both */
	bool		has_mark;
	uint32_t	mark, mark_mask;
	bool		has_zone;
	uint16_t	zone;
	bool		has_status;
	uint32_t	status;
};

#define FILTER_ERRLEN	256

struct filter	*filter_parse(const json_t *, char *, size_t);
void		 filter_free(struct filter *);
void		 filter_view(const struct event *, struct filter_view *);
bool		 filter_match(const struct filter *, const struct filter_view *);
bool		 filter_match_partial(const struct filter *,
		     const struct filter_view *);
unsigned int	 filter_types(const struct filter *);
unsigned int	 filter_kinds(const struct filter *);
void		 filter_hints(const struct filter *, struct filter_hints *);

#endif
