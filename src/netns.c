/*
 * netns.c - network namespaces by name or path.
 *
 * "NAME" means /run/netns/NAME, as ip-netns(8) creates them; an absolute
 * path names the namespace file itself (for example /proc/PID/ns/net).
 * Names are checked so that "../../etc" cannot walk out of /run/netns, and
 * whatever is opened must really be a network namespace.  Sockets are
 * opened in a namespace by entering it with setns(2), creating them, and
 * returning: a socket stays in the namespace it was created in.  A
 * namespace is known by the device and inode of its nsfs file, whatever
 * the path that leads there, and a path that leads to /run/netns/NAME by
 * NAME.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <linux/magic.h>
#include <linux/nsfs.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Copy dir without its trailing slashes into buf ("/" stays). */
static void
netns_trim(const char *dir, char *buf, size_t len)
{
	size_t	n;

	snprintf(buf, len, "%s", dir);
	for (n = strlen(buf); n > 1 && buf[n - 1] == '/'; n--)
		buf[n - 1] = '\0';
}

/*
 * Tell whether path is /run/netns/NAME, directly or through symbolic links
 * in its directories (/var/run/netns/NAME, /run/netns//NAME): returns 0
 * with NAME in name, or -ENOENT.  Paths are compared after realpath(3)
 * where the directories exist, as given where they do not.
 */
int
netns_run_name(const char *path, char *name, size_t len)
{
	char		 dir[PATH_MAX], real[PATH_MAX], run[PATH_MAX];
	const char	*base;

	if ((base = strrchr(path, '/')) == NULL)
		return (-ENOENT);
	base++;
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return (-ENOENT);
	if ((size_t)(base - path) >= sizeof dir)
		return (-ENAMETOOLONG);
	memcpy(dir, path, base - path);
	dir[base - path] = '\0';
	if (realpath(dir, real) == NULL)
		netns_trim(dir, real, sizeof real);
	if (realpath(NETNS_RUN_DIR, run) == NULL)
		netns_trim(NETNS_RUN_DIR, run, sizeof run);
	if (strcmp(real, run) != 0)
		return (-ENOENT);
	if ((size_t)snprintf(name, len, "%s", base) >= len)
		return (-ENAMETOOLONG);
	return (0);
}

/*
 * Identify the namespace at path (NULL: ours) by the device and inode of
 * its nsfs file, the same for every path to it.  Returns 0, -errno, or
 * -ENOTSUP if path is not a namespace (yet: ip netns add mounts it on the
 * file after creating it).
 */
int
netns_ident(const char *path, dev_t *dev, ino_t *ino)
{
	struct stat	st;
	struct statfs	sf;

	if (path == NULL)
		path = "/proc/self/ns/net";
	if (statfs(path, &sf) == -1 || stat(path, &st) == -1)
		return (-errno);
	if (sf.f_type != NSFS_MAGIC)
		return (-ENOTSUP);
	*dev = st.st_dev;
	*ino = st.st_ino;
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
