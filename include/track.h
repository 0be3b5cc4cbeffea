/*
 * track.h - the daemon's lean index of live conntrack entries.
 */
#ifndef CTSTREAMD_TRACK_H
#define CTSTREAMD_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct track;
struct nf_conntrack;

#define TRACK_OLD	0x1	/* known from before the daemon started */

struct track	*track_new(void);
void		 track_free(struct track *);
uint32_t	 track_tag(const struct nf_conntrack *, uint8_t);
int		 track_put(struct track *, uint32_t, uint32_t, unsigned int);
bool		 track_del(struct track *, uint32_t, uint32_t);
bool		 track_has(const struct track *, uint32_t, uint32_t);
bool		 track_has_id(const struct track *, uint32_t);
size_t		 track_count(const struct track *);
size_t		 track_old(const struct track *);
size_t		 track_bytes(const struct track *);
void		 track_unmark(struct track *);
bool		 track_mark(struct track *, uint32_t, uint32_t);
size_t		 track_sweep(struct track *, void (*)(void *, uint32_t),
		     void *);

#endif
