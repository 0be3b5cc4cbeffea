/*
 * cidr.c - address prefixes, shared by the subscriber filters and the
 * kernel filter.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

/* Parse "ADDR" or "ADDR/LEN" into a CIDR; -1 if invalid. */
int
cidr_parse(const char *s, struct cidr *out)
{
	char		 a[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long	 plen;
	int		 max, i;

	if (strlen(s) >= sizeof a)
		return (-1);
	strcpy(a, s);
	memset(out, 0, sizeof *out);
	if ((slash = strchr(a, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, a, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, a, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else
		return (-1);
	plen = max;
	if (slash != NULL) {
		if (*slash < '0' || *slash > '9')
			return (-1);
		plen = strtoul(slash, &end, 10);
		if (*end != '\0' || plen > (unsigned long)max)
			return (-1);
	}
	out->plen = (uint8_t)plen;
	/* Clear host bits so matching can compare whole bytes. */
	for (i = 0; i < 16; i++) {
		if (i * 8 >= (int)plen)
			out->addr[i] = 0;
		else if (i * 8 + 8 > (int)plen)
			out->addr[i] &= (uint8_t)(0xff << (8 - (plen - i * 8)));
	}
	return (0);
}

/* Tell whether addr (of family) lies in cidr. */
bool
cidr_match(const struct cidr *cidr, uint8_t family, const uint8_t *addr)
{
	unsigned int	full = cidr->plen / 8, rest = cidr->plen % 8;

	if (cidr->family != family)
		return (false);
	if (memcmp(cidr->addr, addr, full) != 0)
		return (false);
	if (rest == 0)
		return (true);
	return ((addr[full] & (uint8_t)(0xff << (8 - rest))) ==
	    cidr->addr[full]);
}
