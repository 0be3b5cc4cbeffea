/*
 * privsep.h - the helper that keeps CAP_NET_ADMIN for ctnetlink requests.
 */
#ifndef CTSTREAMD_PRIVSEP_H
#define CTSTREAMD_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct mon_make;
struct mon_fds;

void	privsep_allow(int);
int	privsep_start(const char *, bool, char *, size_t);
void	privsep_stop(void);
pid_t	privsep_pid(void);
int	privsep_send(int, int, const void *, size_t);
int	privsep_rcvbuf(int, int, int);
int	privsep_open(const char *, const struct mon_make *, struct mon_fds *,
	    int *, char *, size_t);
void	privsep_close(int);

#endif
