/*
 * diag.c - startup self-diagnosis.
 *
 * Reads the conntrack sysctls of the namespace the caller is in (callers
 * enter the monitored namespace first: /proc/sys/net follows the opener's
 * namespace) and the process's capabilities, and logs once each thing
 * that will make the stream incomplete.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "log.h"

#define DIAG_SYSCTL_DIR	"/proc/sys/net/netfilter/"
#define DIAG_CAP_NET_ADMIN 12

/* Read an integer sysctl under net/netfilter; -1 if unreadable. */
int
diag_sysctl_get(const char *name)
{
	char	path[128], val[32];
	ssize_t	n;
	int	fd;

	snprintf(path, sizeof path, DIAG_SYSCTL_DIR "%s", name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	n = read(fd, val, sizeof val - 1);
	close(fd);
	if (n <= 0)
		return (-1);
	val[n] = '\0';
	return (atoi(val));
}

/* Write an integer sysctl under net/netfilter; 0 or -errno. */
int
diag_sysctl_set(const char *name, int value)
{
	char	path[128], val[32];
	int	fd, len, error = 0;

	snprintf(path, sizeof path, DIAG_SYSCTL_DIR "%s", name);
	len = snprintf(val, sizeof val, "%d\n", value);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return (-errno);
	if (write(fd, val, len) != len)
		error = -errno;
	close(fd);
	return (error);
}

/* Tell whether CAP_NET_ADMIN is in our effective capability set. */
static bool
diag_net_admin(void)
{
	char		 line[256];
	uint64_t	 eff;
	FILE		*f;
	bool		 yes = false;

	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return (false);
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "CapEff: %" SCNx64, &eff) == 1) {
			yes = (eff >> DIAG_CAP_NET_ADMIN) & 1;
			break;
		}
	}
	fclose(f);
	return (yes);
}

/* Collect the findings for the current namespace. */
void
diag_collect(struct diag *d)
{
	d->events = diag_sysctl_get(DIAG_EVENTS);
	d->acct = diag_sysctl_get(DIAG_ACCT);
	d->timestamp = diag_sysctl_get(DIAG_TIMESTAMP);
	d->net_admin = diag_net_admin();
}

/* Report one finding: severity 1 is a warning, 0 a notice. */
static void
diag_add(void (*fn)(void *, int, const char *), void *arg, int severity,
    const char *fmt, ...)
{
	char	msg[256];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fn(arg, severity, msg);
}

/*
 * Hand every finding about the stream of namespace ns (a label for the
 * messages) to fn.  Returns how many there were.
 */
int
diag_findings(const struct diag *d, const char *ns,
    void (*fn)(void *, int, const char *), void *arg)
{
	int	n = 0;

	if (!d->net_admin) {
		diag_add(fn, arg, 1, "%s: no CAP_NET_ADMIN: the kernel will "
		    "refuse the conntrack event subscription (run as root)",
		    ns);
		n++;
	}
	if (d->events == 0) {
		diag_add(fn, arg, 1, "%s: net.netfilter." DIAG_EVENTS " is "
		    "0: the kernel sends no conntrack events at all", ns);
		n++;
	} else if (d->events == 2) {
		diag_add(fn, arg, 0, "%s: net.netfilter." DIAG_EVENTS " is "
		    "2: connections created while no listener existed "
		    "(before ctstreamd started) may send no events, not "
		    "even DESTROY; the resync reports those", ns);
		n++;
	} else if (d->events < 0) {
		diag_add(fn, arg, 1, "%s: cannot read net.netfilter."
		    DIAG_EVENTS, ns);
		n++;
	}
	if (d->acct == 0) {
		diag_add(fn, arg, 0, "%s: net.netfilter." DIAG_ACCT " is 0: "
		    "no packet and byte counters (use --enable-acct)", ns);
		n++;
	}
	if (d->timestamp == 0) {
		diag_add(fn, arg, 0, "%s: net.netfilter." DIAG_TIMESTAMP " is "
		    "0: no start and stop times (use --enable-timestamp)", ns);
		n++;
	}
	return (n);
}

/* Log one finding at its level. */
static void
diag_log_one(void *arg, int severity, const char *msg)
{
	if (severity)
		log_warnx("%s", msg);
	else
		log_notice("%s", msg);
}

/* Log, once, everything that makes the stream of namespace ns incomplete. */
int
diag_log(const struct diag *d, const char *ns)
{
	return (diag_findings(d, ns, diag_log_one, NULL));
}
