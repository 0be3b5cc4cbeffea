/*
 * netns.c - network namespaces by name or path.
 *
 * "NAME" means /run/netns/NAME, as ip-netns(8) creates them; an absolute
 * path names the namespace file itself (for example /proc/PID/ns/net).
 * Names are checked so that "../../etc" cannot walk out of /run/netns, and
 * whatever is opened must really be a network namespace.  Sockets are opened in a
 * namespace by entering it with setns(2), creating them, and returning:
 * a socket stays in the namespace it was created in.
 */
#include "config.h"

#include <sys/ioctl.h>

#include <linux/nsfs.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "netns.h"

/*
 * Turn a namespace argument into a path.  Returns 0, or -EINVAL for a name
 * that is empty, ".", "..", holds a slash without being an absolute path,
 * or holds characters ip-netns(8) would not create.
 */
int
netns_resolve(const char *spec, char *path, size_t len)
{
	const unsigned char	*p;

	if (spec == NULL || *spec == '\0')
		return (-EINVAL);
	if (spec[0] == '/') {
		if (strlen(spec) >= len)
			return (-ENAMETOOLONG);
		strcpy(path, spec);
		return (0);
	}
	if (strcmp(spec, ".") == 0 || strcmp(spec, "..") == 0)
		return (-EINVAL);
	for (p = (const unsigned char *)spec; *p != '\0'; p++) {
		if (*p <= ' ' || *p == 0x7f || *p == '/')
			return (-EINVAL);
	}
	if ((size_t)snprintf(path, len, "%s/%s", NETNS_RUN_DIR, spec) >= len)
		return (-ENAMETOOLONG);
	return (0);
}

/*
 * Open a namespace file; returns the descriptor, -errno, or -ENOTSUP if
 * the file is not a network namespace.
 */
int
netns_open(const char *path)
{
	int	fd;

	/* O_NONBLOCK: a FIFO given by mistake must not block the start. */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return (-errno);
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		return (-ENOTSUP);
	}
	return (fd);
}

/*
 * Enter the namespace nsfd.  Returns a descriptor for the namespace we
 * were in, to hand to netns_leave(), or -errno.
 */
int
netns_enter(int nsfd)
{
	int	self, error;

	if ((self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) == -1)
		return (-errno);
	if (setns(nsfd, CLONE_NEWNET) == -1) {
		error = errno;
		close(self);
		return (-error);
	}
	return (self);
}

/* Go back to the namespace netns_enter() saved, and close it. */
int
netns_leave(int self)
{
	int	error = 0;

	if (setns(self, CLONE_NEWNET) == -1)
		error = -errno;
	close(self);
	return (error);
}
