/*
 * netns.h - naming, opening and entering network namespaces.
 */
#ifndef CTSTREAMD_NETNS_H
#define CTSTREAMD_NETNS_H

#include <stddef.h>
#include <sys/types.h>

#define NETNS_RUN_DIR	"/run/netns"

int	netns_resolve(const char *, char *, size_t);
int	netns_run_name(const char *, char *, size_t);
int	netns_ident(const char *, dev_t *, ino_t *);
int	netns_open(const char *);
int	netns_enter(int);
int	netns_leave(int);

#endif
