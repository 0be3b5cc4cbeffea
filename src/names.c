/*
 * names.c - names for protocol numbers, states and flag bits.
 *
 * These are the names of the JSON schema (docs/ctstreamd-event.schema.json):
 * kernel enum names without their prefixes, as conntrack(8) prints them.
 * A number without a name is written as its decimal string.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "compat.h"
#include "names.h"

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE	136
#endif
#ifndef IPPROTO_DCCP
#define IPPROTO_DCCP	33
#endif
#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP	132
#endif
#ifndef IPPROTO_GRE
#define IPPROTO_GRE	47
#endif

struct name {
	int		 num;
	const char	*name;
};

static const struct name protos[] = {
	{ IPPROTO_TCP, "tcp" },
	{ IPPROTO_UDP, "udp" },
	{ IPPROTO_UDPLITE, "udplite" },
	{ IPPROTO_ICMP, "icmp" },
	{ IPPROTO_ICMPV6, "icmpv6" },
	{ IPPROTO_SCTP, "sctp" },
	{ IPPROTO_DCCP, "dccp" },
	{ IPPROTO_GRE, "gre" },
};

/* enum tcp_conntrack */
static const char *const tcp_states[] = {
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
};

/* enum sctp_conntrack */
static const char *const sctp_states[] = {
	"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED",
	"SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT",
	"HEARTBEAT_SENT", "HEARTBEAT_ACKED",
};

/* enum ct_dccp_states */
static const char *const dccp_states[] = {
	"NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ",
	"CLOSING", "TIMEWAIT", "IGNORE", "INVALID",
};

/* enum ip_conntrack_status, by bit */
static const char *const status_bits[] = {
	"EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT",
	"DST_NAT", "SEQ_ADJUST", "SRC_NAT_DONE", "DST_NAT_DONE", "DYING",
	"FIXED_TIMEOUT", "TEMPLATE", "NAT_CLASH", "HELPER", "OFFLOAD",
	"HW_OFFLOAD",
};

/* IP_CT_TCP_FLAG_*, by bit */
static const char *const tcp_flags[] = {
	"WINDOW_SCALE", "SACK_PERM", "CLOSE_INIT", "BE_LIBERAL",
	"DATA_UNACKNOWLEDGED", "MAXACK_SET", "CHALLENGE_ACK",
	"SIMULTANEOUS_OPEN",
};

/* NF_CT_EXPECT_*, by bit */
static const char *const exp_flags[] = {
	"PERMANENT", "INACTIVE", "USERSPACE",
};

/* Return "ipv4", "ipv6", or NULL. */
const char *
names_family(uint8_t family)
{
	switch (family) {
	case AF_INET:
		return ("ipv4");
	case AF_INET6:
		return ("ipv6");
	default:
		return (NULL);
	}
}

/* Parse "ipv4"/"ipv6"; -1 if neither. */
int
names_family_parse(const char *s)
{
	if (strcmp(s, "ipv4") == 0)
		return (AF_INET);
	if (strcmp(s, "ipv6") == 0)
		return (AF_INET6);
	return (-1);
}

/* Write n in decimal into num and return it. */
static const char *
names_num(unsigned int n, char num[NAMES_NUMLEN])
{
	char	*p = num + NAMES_NUMLEN - 1;

	*p = '\0';
	do {
		*--p = '0' + n % 10;
		n /= 10;
	} while (n != 0 && p > num);
	return (p);
}

/* Return a protocol's name, or its number as a string in num. */
const char *
names_proto(uint8_t proto, char num[NAMES_NUMLEN])
{
	size_t	i;

	for (i = 0; i < nitems(protos); i++)
		if (protos[i].num == proto)
			return (protos[i].name);
	return (names_num(proto, num));
}

/* Parse a protocol name or number (0-255); -1 if invalid. */
int
names_proto_parse(const char *s)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < nitems(protos); i++)
		if (strcasecmp(protos[i].name, s) == 0)
			return (protos[i].num);
	if (*s == '\0' || strlen(s) > 3)
		return (-1);
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return (-1);
		n = n * 10 + (*s - '0');
	}
	return (n <= 255 ? n : -1);
}

/* Tell whether a protocol's tuple carries ports (or GRE keys). */
int
names_proto_has_ports(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
	case IPPROTO_GRE:
		return (1);
	default:
		return (0);
	}
}

/* Tell whether a protocol is ICMP or ICMPv6. */
int
names_proto_is_icmp(uint8_t proto)
{
	return (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6);
}

/* Return the state table of a protocol, or NULL. */
static const char *const *
names_state_table(uint8_t proto, size_t *n)
{
	switch (proto) {
	case IPPROTO_TCP:
		*n = nitems(tcp_states);
		return (tcp_states);
	case IPPROTO_SCTP:
		*n = nitems(sctp_states);
		return (sctp_states);
	case IPPROTO_DCCP:
		*n = nitems(dccp_states);
		return (dccp_states);
	default:
		*n = 0;
		return (NULL);
	}
}

/* Return the name of a TCP, SCTP or DCCP state. */
const char *
names_state(uint8_t proto, uint8_t state, char num[NAMES_NUMLEN])
{
	const char *const	*t;
	size_t			 n;

	t = names_state_table(proto, &n);
	if (t != NULL && state < n)
		return (t[state]);
	return (names_num(state, num));
}

/*
 * Parse a state name for proto, or for any of TCP, SCTP and DCCP when
 * proto is 0 (then the TCP number wins for names they share); -1 if
 * unknown.
 */
int
names_state_parse(uint8_t proto, const char *s)
{
	static const uint8_t	 all[] = { IPPROTO_TCP, IPPROTO_SCTP,
				    IPPROTO_DCCP };
	const char *const	*t;
	size_t			 i, j, n;

	for (j = 0; j < nitems(all); j++) {
		if (proto != 0 && proto != all[j])
			continue;
		t = names_state_table(all[j], &n);
		for (i = 0; i < n; i++)
			if (strcasecmp(t[i], s) == 0)
				return ((int)i);
	}
	return (-1);
}

/* Return the name of a status bit, or NULL past the known ones. */
const char *
names_status_bit(unsigned int bit)
{
	return (bit < nitems(status_bits) ? status_bits[bit] : NULL);
}

/* Parse a status flag name into its bit number; -1 if unknown. */
int
names_status_parse(const char *s)
{
	size_t	i;

	for (i = 0; i < nitems(status_bits); i++)
		if (strcasecmp(status_bits[i], s) == 0)
			return ((int)i);
	return (-1);
}

/* Return the name of a TCP conntrack flag bit, or NULL. */
const char *
names_tcp_flag(unsigned int bit)
{
	return (bit < nitems(tcp_flags) ? tcp_flags[bit] : NULL);
}

/* Return the name of an expectation flag bit, or NULL. */
const char *
names_exp_flag(unsigned int bit)
{
	return (bit < nitems(exp_flags) ? exp_flags[bit] : NULL);
}

/* Return the name of a DCCP role. */
const char *
names_dccp_role(uint8_t role)
{
	switch (role) {
	case 0:
		return ("client");
	case 1:
		return ("server");
	default:
		return (NULL);
	}
}
