/*
 * privsep.h - the helper that keeps CAP_NET_ADMIN for ctnetlink requests.
 */
#ifndef CTSTREAMD_PRIVSEP_H
#define CTSTREAMD_PRIVSEP_H

#include <stddef.h>
#include <sys/types.h>

void	privsep_allow(int);
int	privsep_start(const char *);
void	privsep_stop(void);
pid_t	privsep_pid(void);
int	privsep_send(int, const void *, size_t);
int	privsep_rcvbuf(int, int);

#endif
