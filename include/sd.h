/*
 * sd.h - systemd: readiness, status, watchdog, socket activation.
 * Built without libsystemd, every call is a no-op.
 */
#ifndef CTSTREAMD_SD_H
#define CTSTREAMD_SD_H

struct event_base;

#define SD_MAXFDS	8

struct sd_fd {
	int		 fd;
	char		 name[256];	/* FileDescriptorName= */
};

int	sd_init(struct event_base *);
void	sd_free(void);
int	sd_listen(struct sd_fd *, int);
void	sd_ready(const char *);
void	sd_status(const char *);
void	sd_reloading(void);
void	sd_stopping(void);

#endif
