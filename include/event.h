/*
 * event.h - one decoded conntrack or expectation event.
 *
 * The decoder fills it from a netlink message; the encoder turns it into
 * one JSON line; filters match against it.  The conntrack and expectation
 * objects belong to the decoder and are valid until the next decode.
 */
#ifndef CTSTREAMD_EVENT_H
#define CTSTREAMD_EVENT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct nf_conntrack;
struct nf_expect;

enum ev_type {
	EV_TYPE_CT = 0,
	EV_TYPE_EXPECT,
	EV_TYPE_MAX
};

enum ev_kind {
	EV_NEW = 0,
	EV_UPDATE,
	EV_DESTROY,
	EV_SNAPSHOT,		/* an entry of a subscriber's initial snapshot */
	EV_DUMP,		/* an entry of a dump on the control socket */
	EV_GET,			/* the answer to a get */
	EV_KIND_MAX
};

/* Bit masks over types and kinds, for quick matching. */
#define EV_TYPE_BIT(t)	(1U << (t))
#define EV_KIND_BIT(k)	(1U << (k))
#define EV_TYPES_ALL	(EV_TYPE_BIT(EV_TYPE_CT) | EV_TYPE_BIT(EV_TYPE_EXPECT))
#define EV_LIVE_KINDS	(EV_KIND_BIT(EV_NEW) | EV_KIND_BIT(EV_UPDATE) | \
			 EV_KIND_BIT(EV_DESTROY))

/* ICMP fields of a tuple, read from the message (see decode.c). */
struct ev_icmp {
	bool			 set;		/* the type was sent */
	bool			 has_code;
	bool			 has_id;
	uint8_t			 type;
	uint8_t			 code;
	uint16_t		 id;		/* network order */
};

struct event {
	uint8_t			 type;		/* enum ev_type */
	uint8_t			 kind;		/* enum ev_kind */
	uint8_t			 family;	/* AF_INET or AF_INET6 */
	bool			 has_exp_id;
	uint32_t		 exp_id;	/* CTA_EXPECT_ID, host order */
	bool			 resync;	/* emitted by a resync */
	bool			 idonly;	/* a vanished entry: id only */
	uint32_t		 ct_id;		/* its id, when idonly */
	struct ev_icmp		 orig_icmp;
	struct ev_icmp		 repl_icmp;
	const void		*helper_info;	/* CTA_HELP_INFO, in the message */
	size_t			 helper_info_len;
	bool			 has_event_time;
	uint64_t		 event_time;	/* CTA_TIMESTAMP_EVENT, ns */
	struct nf_conntrack	*ct;		/* type == EV_TYPE_CT */
	struct nf_expect	*exp;		/* type == EV_TYPE_EXPECT */
	const char		*netns;		/* the namespace it came from */
	bool			 show_netns;	/* write it: several are watched */
	uint64_t		 seq;		/* set when encoded */
	struct timespec		 time;		/* when it was received */
};

const char	*event_type_name(unsigned int);
const char	*event_kind_name(unsigned int);
int		 event_type_parse(const char *);
int		 event_kind_parse(const char *);

#endif
