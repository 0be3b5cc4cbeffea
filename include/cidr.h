/*
 * cidr.h - IPv4 and IPv6 prefixes: parse "ADDR[/LEN]", test membership.
 */
#ifndef CTSTREAMD_CIDR_H
#define CTSTREAMD_CIDR_H

#include <stdbool.h>
#include <stdint.h>

struct cidr {
	uint8_t		family;		/* AF_INET or AF_INET6 */
	uint8_t		plen;
	uint8_t		addr[16];	/* host bits cleared */
};

int	cidr_parse(const char *, struct cidr *);
bool	cidr_match(const struct cidr *, uint8_t, const uint8_t *);

#endif
