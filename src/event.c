/*
 * event.c - names of event types and kinds.
 */
#include "config.h"

#include <string.h>

#include "event.h"

static const char *const type_names[EV_TYPE_MAX] = { "ct", "expect" };
static const char *const kind_names[EV_KIND_MAX] = {
	"new", "update", "destroy", "snapshot", "dump", "get",
};

/* Return the schema name of a type ("ct", "expect"). */
const char *
event_type_name(unsigned int t)
{
	return (t < EV_TYPE_MAX ? type_names[t] : "unknown");
}

/* Return the schema name of a kind ("new", "update", ...). */
const char *
event_kind_name(unsigned int k)
{
	return (k < EV_KIND_MAX ? kind_names[k] : "unknown");
}

/* Parse a type name; -1 if unknown. */
int
event_type_parse(const char *s)
{
	int	i;

	for (i = 0; i < EV_TYPE_MAX; i++)
		if (strcmp(type_names[i], s) == 0)
			return (i);
	return (-1);
}

/* Parse a kind name; -1 if unknown. */
int
event_kind_parse(const char *s)
{
	int	i;

	for (i = 0; i < EV_KIND_MAX; i++)
		if (strcmp(kind_names[i], s) == 0)
			return (i);
	return (-1);
}
