/*
 * sd.c - talking to systemd.
 *
 * READY=1 once every socket listens, STATUS= with live counters,
 * RELOADING=1/READY=1 around a reload, STOPPING=1 at exit, WATCHDOG=1 at
 * half the WatchdogSec= interval, and the listening sockets handed over
 * by ctstreamd.socket (named "events" and "control" with
 * FileDescriptorName=).  Without libsystemd (--with-systemd=no) these are
 * no-ops and the daemon binds its sockets itself.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "sd.h"

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static struct event	*sd_watchdog_ev;

/* Timer: tell the watchdog we are alive. */
static void
sd_watchdog(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

/* Start the watchdog pings if systemd asked for them. */
int
sd_init(struct event_base *base)
{
	struct timeval	tv;
	uint64_t	usec;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return (0);
	usec /= 2;
	tv.tv_sec = usec / 1000000;
	tv.tv_usec = usec % 1000000;
	sd_watchdog_ev = event_new(base, -1, EV_PERSIST, sd_watchdog, NULL);
	if (sd_watchdog_ev == NULL || event_add(sd_watchdog_ev, &tv) == -1)
		return (-1);
	log_debug("systemd watchdog every %lld ms", (long long)usec / 1000);
	return (0);
}

/* Stop the watchdog pings. */
void
sd_free(void)
{
	if (sd_watchdog_ev != NULL)
		event_free(sd_watchdog_ev);
	sd_watchdog_ev = NULL;
}

/*
 * Collect the sockets passed by socket activation (at most max).  Returns
 * how many, each with its FileDescriptorName=.
 */
int
sd_listen(struct sd_fd *fds, int max)
{
	char	**names = NULL;
	int	  n, i;

	if ((n = sd_listen_fds_with_names(1, &names)) <= 0)
		return (n < 0 ? 0 : n);
	for (i = 0; i < n; i++) {
		if (i < max) {
			fds[i].fd = SD_LISTEN_FDS_START + i;
			snprintf(fds[i].name, sizeof fds[i].name, "%s",
			    names != NULL && names[i] != NULL ? names[i] :
			    "unknown");
		} else {
			log_warnx("passed socket %d: more than %d, closing it",
			    SD_LISTEN_FDS_START + i, max);
			close(SD_LISTEN_FDS_START + i);
		}
		if (names != NULL)
			free(names[i]);
	}
	free(names);
	return (n < max ? n : max);
}

/* Say we are ready, with a status line. */
void
sd_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

/* Update the status line. */
void
sd_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

/* Say a reload has begun (READY=1 ends it). */
void
sd_reloading(void)
{
	sd_notify(0, "RELOADING=1");
}

/* Say we are stopping. */
void
sd_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

#else /* !HAVE_SYSTEMD */

int
sd_init(struct event_base *base)
{
	return (0);
}

void
sd_free(void)
{
}

int
sd_listen(struct sd_fd *fds, int max)
{
	return (0);
}

void
sd_ready(const char *status)
{
}

void
sd_status(const char *status)
{
}

void
sd_reloading(void)
{
}

void
sd_stopping(void)
{
}

#endif
