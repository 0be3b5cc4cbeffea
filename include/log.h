/*
 * log.h - logging to stderr, with sd-daemon priority prefixes under systemd.
 *
 * The _warn/fatal variants append strerror(errno); the _warnx/fatalx
 * variants do not.  Pure modules never log: they return -errno and the
 * caller logs once, at the level that decides.
 */
#ifndef CTSTREAMD_LOG_H
#define CTSTREAMD_LOG_H

#include <stdarg.h>
#include <stdio.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void	log_init(int debug);
void	log_puts_safe(const char *, FILE *);
void	log_set_debug(int debug);
int	log_get_debug(void);

void	log_warn(const char *, ...) LOG_PRINTF(1, 2);
void	log_warnx(const char *, ...) LOG_PRINTF(1, 2);
void	log_info(const char *, ...) LOG_PRINTF(1, 2);
void	log_notice(const char *, ...) LOG_PRINTF(1, 2);
void	log_debug(const char *, ...) LOG_PRINTF(1, 2);
void	fatal(const char *, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));
void	fatalx(const char *, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));

#endif
