/*
 * names.h - the names the JSON schema uses for kernel numbers, both ways.
 */
#ifndef CTSTREAMD_NAMES_H
#define CTSTREAMD_NAMES_H

#include <stdint.h>

#define NAMES_NUMLEN	4	/* room for "255" and its NUL */

const char	*names_family(uint8_t);
int		 names_family_parse(const char *);
const char	*names_proto(uint8_t, char [NAMES_NUMLEN]);
int		 names_proto_parse(const char *);
int		 names_proto_has_ports(uint8_t);
int		 names_proto_is_icmp(uint8_t);
const char	*names_state(uint8_t, uint8_t, char [NAMES_NUMLEN]);
int		 names_state_parse(uint8_t, const char *);
const char	*names_status_bit(unsigned int);
int		 names_status_parse(const char *);
const char	*names_tcp_flag(unsigned int);
const char	*names_exp_flag(unsigned int);
const char	*names_dccp_role(uint8_t);

#endif
