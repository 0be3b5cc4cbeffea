/*
 * track.c - which conntrack entries are alive, as far as the stream says.
 *
 * An entry is its id plus a 29-bit tag hashed from its original tuple and
 * zone (ids are recycled; the tag tells a new entry from an old one with
 * the same id).  The index is an open-addressing table of 8-byte slots
 * with linear probing and backward-shift deletion, kept at most 3/4 full:
 * about 11-16 bytes per live entry, nothing per event.
 *
 * It serves the resync after an overrun: unmark everything, mark what the
 * kernel's dump shows (adding what is missing), then sweep what was not
 * marked: those entries vanished while the stream was losing events.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "track.h"

#define SLOT_USED	0x1U
#define SLOT_SEEN	0x2U
#define SLOT_OLD	0x4U
#define SLOT_FLAGS	0x7U
#define TRACK_MINCAP	1024

struct slot {
	uint32_t	id;
	uint32_t	tag;		/* hash bits | SLOT_* flags */
};

struct track {
	struct slot	*slots;
	size_t		 cap;		/* a power of two */
	size_t		 count;
	size_t		 old;		/* slots with SLOT_OLD */
	bool		 sweeping;	/* no shrinking: indices must hold */
};

/* Mix a 32-bit id into a table index. */
static size_t
track_index(const struct track *t, uint32_t id)
{
	uint64_t	h = (uint64_t)id * 0x9e3779b97f4a7c15ULL;

	return ((size_t)(h >> 32) & (t->cap - 1));
}

/* FNV-1a over some bytes, continuing from h. */
static uint32_t
track_fnv(uint32_t h, const void *p, size_t n)
{
	const unsigned char	*b = p;

	while (n-- > 0) {
		h ^= *b++;
		h *= 16777619U;
	}
	return (h);
}

/* Hash one attribute of ct into h if it is set. */
static uint32_t
track_attr(uint32_t h, const struct nf_conntrack *ct, int attr, size_t len)
{
	if (nfct_attr_is_set(ct, attr) > 0)
		h = track_fnv(h, nfct_get_attr(ct, attr), len);
	return (track_fnv(h, &attr, sizeof attr));
}

/* The tag of a conntrack: its original tuple and zone, hashed. */
uint32_t
track_tag(const struct nf_conntrack *ct, uint8_t family)
{
	uint32_t	h = 2166136261U;

	h = track_fnv(h, &family, 1);
	if (family == AF_INET6) {
		h = track_attr(h, ct, ATTR_ORIG_IPV6_SRC, 16);
		h = track_attr(h, ct, ATTR_ORIG_IPV6_DST, 16);
	} else {
		h = track_attr(h, ct, ATTR_ORIG_IPV4_SRC, 4);
		h = track_attr(h, ct, ATTR_ORIG_IPV4_DST, 4);
	}
	h = track_attr(h, ct, ATTR_ORIG_L4PROTO, 1);
	h = track_attr(h, ct, ATTR_ORIG_PORT_SRC, 2);
	h = track_attr(h, ct, ATTR_ORIG_PORT_DST, 2);
	h = track_attr(h, ct, ATTR_ICMP_TYPE, 1);
	h = track_attr(h, ct, ATTR_ICMP_CODE, 1);
	h = track_attr(h, ct, ATTR_ICMP_ID, 2);
	h = track_attr(h, ct, ATTR_ZONE, 2);
	return (h & ~SLOT_FLAGS);
}

/* Make an empty index. */
struct track *
track_new(void)
{
	struct track	*t;

	if ((t = calloc(1, sizeof *t)) == NULL)
		return (NULL);
	t->cap = TRACK_MINCAP;
	if ((t->slots = calloc(t->cap, sizeof *t->slots)) == NULL) {
		free(t);
		return (NULL);
	}
	return (t);
}

/* Free an index; NULL is fine. */
void
track_free(struct track *t)
{
	if (t == NULL)
		return;
	free(t->slots);
	free(t);
}

/* Return the slot holding id, or NULL. */
static struct slot *
track_find(const struct track *t, uint32_t id)
{
	size_t	i = track_index(t, id);

	for (;; i = (i + 1) & (t->cap - 1)) {
		if ((t->slots[i].tag & SLOT_USED) == 0)
			return (NULL);
		if (t->slots[i].id == id)
			return (&t->slots[i]);
	}
}

/* Place a slot's contents into a table known to have room. */
static void
track_place(struct track *t, const struct slot *s)
{
	size_t	i = track_index(t, s->id);

	while (t->slots[i].tag & SLOT_USED)
		i = (i + 1) & (t->cap - 1);
	t->slots[i] = *s;
}

/* Resize the table to cap slots. */
static int
track_resize(struct track *t, size_t cap)
{
	struct slot	*old = t->slots;
	size_t		 oldcap = t->cap, i;

	if ((t->slots = calloc(cap, sizeof *t->slots)) == NULL) {
		t->slots = old;
		return (-ENOMEM);
	}
	t->cap = cap;
	for (i = 0; i < oldcap; i++)
		if (old[i].tag & SLOT_USED)
			track_place(t, &old[i]);
	free(old);
	return (0);
}

/*
 * Record that entry id with tag is alive (flags: TRACK_OLD).  A different
 * tag under the same id replaces it: the id was recycled.  The entry
 * counts as seen by a resync under way.  Returns 0 or -ENOMEM.
 */
int
track_put(struct track *t, uint32_t id, uint32_t tag, unsigned int flags)
{
	struct slot	*s, n;

	if ((s = track_find(t, id)) != NULL) {
		if (s->tag & SLOT_OLD)
			t->old--;
		s->tag = (tag & ~SLOT_FLAGS) | SLOT_USED | SLOT_SEEN;
		if (flags & TRACK_OLD) {
			s->tag |= SLOT_OLD;
			t->old++;
		}
		return (0);
	}
	if ((t->count + 1) * 4 > t->cap * 3 &&
	    track_resize(t, t->cap * 2) != 0)
		return (-ENOMEM);
	n.id = id;
	n.tag = (tag & ~SLOT_FLAGS) | SLOT_USED | SLOT_SEEN;
	if (flags & TRACK_OLD) {
		n.tag |= SLOT_OLD;
		t->old++;
	}
	track_place(t, &n);
	t->count++;
	return (0);
}

/* Empty the slot at i, shifting later members of its run back. */
static void
track_remove_at(struct track *t, size_t i)
{
	size_t	j = i, k;

	if (t->slots[i].tag & SLOT_OLD)
		t->old--;
	t->count--;
	for (;;) {
		j = (j + 1) & (t->cap - 1);
		if ((t->slots[j].tag & SLOT_USED) == 0)
			break;
		k = track_index(t, t->slots[j].id);
		/* Move j back to i unless its home lies in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t->slots[i] = t->slots[j];
		i = j;
	}
	t->slots[i].id = 0;
	t->slots[i].tag = 0;
	if (!t->sweeping && t->cap > TRACK_MINCAP && t->count * 8 < t->cap)
		track_resize(t, t->cap / 2);
}

/* Forget entry id if its tag matches; returns whether it was there. */
bool
track_del(struct track *t, uint32_t id, uint32_t tag)
{
	struct slot	*s = track_find(t, id);

	if (s == NULL || ((s->tag ^ tag) & ~SLOT_FLAGS) != 0)
		return (false);
	track_remove_at(t, s - t->slots);
	return (true);
}

/* Tell whether entry id with tag is known. */
bool
track_has(const struct track *t, uint32_t id, uint32_t tag)
{
	struct slot	*s = track_find(t, id);

	return (s != NULL && ((s->tag ^ tag) & ~SLOT_FLAGS) == 0);
}

/* Tell whether an entry with id is known, whatever its tag. */
bool
track_has_id(const struct track *t, uint32_t id)
{
	return (track_find(t, id) != NULL);
}

/* Return the number of live entries. */
size_t
track_count(const struct track *t)
{
	return (t->count);
}

/* Return the number of entries known from before the daemon started. */
size_t
track_old(const struct track *t)
{
	return (t->old);
}

/* Return the memory the index uses. */
size_t
track_bytes(const struct track *t)
{
	return (sizeof *t + t->cap * sizeof *t->slots);
}

/* Start a resync: no entry is seen yet. */
void
track_unmark(struct track *t)
{
	size_t	i;

	for (i = 0; i < t->cap; i++)
		t->slots[i].tag &= ~SLOT_SEEN;
}

/*
 * The kernel's dump shows entry id with tag: mark it seen.  Returns false
 * if it was not known (the caller adds it and reports it).
 */
bool
track_mark(struct track *t, uint32_t id, uint32_t tag)
{
	struct slot	*s = track_find(t, id);

	if (s == NULL || ((s->tag ^ tag) & ~SLOT_FLAGS) != 0)
		return (false);
	s->tag |= SLOT_SEEN;
	return (true);
}

/*
 * End a resync: remove every entry not seen, calling fn with its id.
 * Returns how many went.
 */
size_t
track_sweep(struct track *t, void (*fn)(void *, uint32_t), void *arg)
{
	size_t		i, n = 0;
	uint32_t	id;

	t->sweeping = true;
	for (i = 0; i < t->cap;) {
		if ((t->slots[i].tag & (SLOT_USED | SLOT_SEEN)) != SLOT_USED) {
			i++;
			continue;
		}
		id = t->slots[i].id;
		/* Removal may shift another slot into i: look at i again. */
		track_remove_at(t, i);
		fn(arg, id);
		n++;
	}
	t->sweeping = false;
	while (t->cap > TRACK_MINCAP && t->count * 8 < t->cap &&
	    track_resize(t, t->cap / 2) == 0)
		;
	return (n);
}
