/*
 * priv.c - least privilege.
 *
 * Everything that needs privilege happens before the event loop starts:
 * the netlink sockets are opened, the listening sockets are bound, the
 * sysctls are set.  Then priv_drop() switches to the configured user and
 * group (clearing supplementary groups), empties the bounding set (when
 * allowed to), the effective, permitted, inheritable and ambient sets,
 * and sets no_new_privs.  The event sockets go on receiving, but nfnetlink
 * checks CAP_NET_ADMIN of the task that sends each request as well as of
 * the socket's opener: requests are therefore sent by the netlink helper
 * (privsep.c), started just before, which keeps that capability alone.
 *
 * Without a user (for example when systemd already started the daemon as
 * its own user with CAP_NET_ADMIN as an ambient capability) only the
 * capabilities go.  Capabilities are handled with capget/capset directly,
 * which is all libcap would add here.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/syscall.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/capability.h>

#include "priv.h"

/* The highest capability number this kernel knows. */
static int
priv_last_cap(void)
{
	char	buf[16];
	FILE	*f;
	int	last = CAP_LAST_CAP;

	if ((f = fopen("/proc/sys/kernel/cap_last_cap", "re")) != NULL) {
		if (fgets(buf, sizeof buf, f) != NULL)
			last = atoi(buf);
		fclose(f);
	}
	return (last);
}

/* Look up a user's uid and primary group. */
int
priv_lookup(const char *user, uid_t *uid, gid_t *gid, char *err,
    size_t errlen)
{
	struct passwd	*pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "no user '%s'", user);
		return (errno != 0 ? -errno : -ENOENT);
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return (0);
}

/* Empty the effective, permitted and inheritable capability sets. */
static int
priv_capset_zero(void)
{
	struct __user_cap_header_struct	hdr;
	struct __user_cap_data_struct	data[2];

	memset(&hdr, 0, sizeof hdr);
	memset(data, 0, sizeof data);
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	hdr.pid = 0;
	if (syscall(SYS_capset, &hdr, data) == -1)
		return (-errno);
	return (0);
}

/*
 * Drop to user (NULL: keep the current one) and to no capabilities.
 * Returns 0, or -errno with what failed in err.
 */
int
priv_drop(const char *user, char *err, size_t errlen)
{
	uid_t	uid = getuid();
	gid_t	gid = getgid();
	int	cap, last, error;

	if (user != NULL &&
	    (error = priv_lookup(user, &uid, &gid, err, errlen)) != 0)
		return (error);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(err, errlen, "no_new_privs: %s", strerror(errno));
		return (-errno);
	}
	/* Needs CAP_SETPCAP: without it the bounding set stays as given. */
	last = priv_last_cap();
	for (cap = 0; cap <= last; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 &&
		    errno != EINVAL && errno != EPERM)
			break;
	if (user != NULL) {
		if (setgroups(1, &gid) == -1 && errno != EPERM) {
			snprintf(err, errlen, "setgroups: %s", strerror(errno));
			return (-errno);
		}
		if (setresgid(gid, gid, gid) == -1) {
			snprintf(err, errlen, "cannot switch to group %ld: %s",
			    (long)gid, strerror(errno));
			return (-errno);
		}
		if (setresuid(uid, uid, uid) == -1) {
			snprintf(err, errlen, "cannot switch to user %s: %s",
			    user, strerror(errno));
			return (-errno);
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
	    errno != EINVAL) {
		snprintf(err, errlen, "clearing ambient capabilities: %s",
		    strerror(errno));
		return (-errno);
	}
	if ((error = priv_capset_zero()) != 0) {
		snprintf(err, errlen, "capset: %s", strerror(-error));
		return (error);
	}
	/* Make sure there is no way back. */
	if (user != NULL && uid != 0 && setuid(0) == 0) {
		snprintf(err, errlen, "could regain root after dropping it");
		return (-EPERM);
	}
	return (0);
}
