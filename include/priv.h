/*
 * priv.h - give up the user and the capabilities once set up.
 */
#ifndef CTSTREAMD_PRIV_H
#define CTSTREAMD_PRIV_H

#include <stddef.h>
#include <sys/types.h>

#define PRIV_ERRLEN	256

int	priv_lookup(const char *, uid_t *, gid_t *, char *, size_t);
int	priv_drop(const char *, char *, size_t);

#endif
