/*
 * kfilter.h - the daemon-wide filter that the kernel applies.
 */
#ifndef CTSTREAMD_KFILTER_H
#define CTSTREAMD_KFILTER_H

#include <stdbool.h>
#include <stddef.h>

struct kfilter;
struct filter_view;

#define KFILTER_ERRLEN	256

int		 kfilter_parse(struct kfilter **, const char *, const char *,
		     const char *, char *, size_t);
int		 kfilter_check_proto(const char *, char *, size_t);
int		 kfilter_check_src(const char *, char *, size_t);
int		 kfilter_check_dst(const char *, char *, size_t);
void		 kfilter_free(struct kfilter *);
int		 kfilter_attach(const struct kfilter *, int);
int		 kfilter_detach(int);
int		 kfilter_length(const struct kfilter *);
bool		 kfilter_match(const struct kfilter *,
		     const struct filter_view *);
const char	*kfilter_describe(const struct kfilter *);

#endif
