/*
 * nswatch.h - follow the namespaces under /run/netns.
 */
#ifndef CTSTREAMD_NSWATCH_H
#define CTSTREAMD_NSWATCH_H

#include <stdbool.h>

struct ctx;
struct options;
struct nswatch;

struct nswatch	*nswatch_new(struct ctx *, const struct options *, bool);
void		 nswatch_free(struct nswatch *);
int		 nswatch_list(void (*)(void *, const char *), void *);

#endif
