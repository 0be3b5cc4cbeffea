/*
 * diag.h - what will make the event stream incomplete, found at startup.
 */
#ifndef CTSTREAMD_DIAG_H
#define CTSTREAMD_DIAG_H

#include <stdbool.h>

/* The conntrack sysctls we look at, under /proc/sys/net/netfilter. */
#define DIAG_EVENTS	"nf_conntrack_events"
#define DIAG_ACCT	"nf_conntrack_acct"
#define DIAG_TIMESTAMP	"nf_conntrack_timestamp"

struct diag {
	int	events;		/* sysctl values, -1 when unreadable */
	int	acct;
	int	timestamp;
	bool	net_admin;	/* CAP_NET_ADMIN in the effective set */
};

int	diag_sysctl_get(const char *);
int	diag_sysctl_set(const char *, int);
void	diag_collect(struct diag *);
int	diag_findings(const struct diag *, const char *,
	    void (*)(void *, int, const char *), void *);
int	diag_log(const struct diag *, const char *);

#endif
