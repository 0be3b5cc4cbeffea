/*
 * nlbuild.h - build ctnetlink messages, well formed or not, for tests.
 *
 * One struct nlbuild holds one message.  Numbers are given in host order
 * and written big-endian, as the kernel sends them.  Nothing is checked:
 * the raw calls put attributes of any length, strings without their NUL
 * and bytes that are no attribute at all, so decoders can be fed exactly
 * what a broken or hostile sender would produce.
 */
#ifndef CTSTREAMD_NLBUILD_H
#define CTSTREAMD_NLBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#define NLBUILD_BUFSIZE		(128 * 1024)
#define NLBUILD_MAXNEST		16

struct nlbuild {
	struct nlmsghdr	*nlh;
	struct nlattr	*nest[NLBUILD_MAXNEST];
	int		 depth;
	union {
		char		 buf[NLBUILD_BUFSIZE];
		uint64_t	 align;
	} u;
};

/* A tuple as the kernel sends it; NULL addresses and unset parts left out. */
struct nlbuild_tuple {
	const char	*src;
	const char	*dst;
	int		 proto;		/* -1: no CTA_PROTO_NUM */
	bool		 ports;
	uint16_t	 sport;
	uint16_t	 dport;
	bool		 icmp;		/* ICMP (or ICMPv6, by family) fields */
	uint8_t		 icmp_type;
	uint8_t		 icmp_code;
	uint16_t	 icmp_id;
	bool		 zone;
	uint16_t	 zone_id;
};

struct nlmsghdr	*nlbuild_msg(struct nlbuild *, uint8_t, uint8_t, uint16_t,
		    uint8_t);
struct nlmsghdr	*nlbuild_ct_new(struct nlbuild *, uint8_t, bool);
struct nlmsghdr	*nlbuild_ct_delete(struct nlbuild *, uint8_t);
struct nlmsghdr	*nlbuild_exp_new(struct nlbuild *, uint8_t, bool);
struct nlmsghdr	*nlbuild_exp_delete(struct nlbuild *, uint8_t);

void		 nlbuild_u8(struct nlbuild *, uint16_t, uint8_t);
void		 nlbuild_be16(struct nlbuild *, uint16_t, uint16_t);
void		 nlbuild_be32(struct nlbuild *, uint16_t, uint32_t);
void		 nlbuild_be64(struct nlbuild *, uint16_t, uint64_t);
void		 nlbuild_bytes(struct nlbuild *, uint16_t, const void *,
		    size_t);
void		 nlbuild_str(struct nlbuild *, uint16_t, const char *);
void		 nlbuild_fill(struct nlbuild *, uint16_t, int, size_t);
void		 nlbuild_addr(struct nlbuild *, uint16_t, uint8_t,
		    const char *);
void		 nlbuild_nest_start(struct nlbuild *, uint16_t);
void		 nlbuild_nest_end(struct nlbuild *);
void		 nlbuild_raw(struct nlbuild *, const void *, size_t);
void		 nlbuild_cut(struct nlbuild *, size_t);
void		 nlbuild_tuple(struct nlbuild *, uint16_t, uint8_t,
		    const struct nlbuild_tuple *);
size_t		 nlbuild_len(const struct nlbuild *);

#endif
