/*
 * req.h - ctnetlink requests built from JSON: pure, no sockets.
 */
#ifndef CTSTREAMD_REQ_H
#define CTSTREAMD_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define REQ_ERRLEN	256
#define REQ_BUFLEN	1024	/* == QUERY_REQLEN */
#define REQ_LABELS	16	/* bytes of connection labels (128 bits) */

/* A tuple as a request names it. */
struct req_tuple {
	uint8_t		family;		/* AF_INET or AF_INET6 */
	uint8_t		proto;
	uint8_t		src[16];
	uint8_t		dst[16];
	bool		has_ports;
	uint16_t	sport, dport;	/* host order */
	bool		has_icmp;
	uint8_t		icmp_type, icmp_code;
	uint16_t	icmp_id;	/* host order */
};

enum req_dir {
	REQ_ORIG = 0,
	REQ_REPLY,
};

/* What a change request sets on a conntrack. */
struct req_ct {
	struct req_tuple	orig;
	bool			has_reply;
	struct req_tuple	reply;
	enum req_dir		dir;		/* which tuple names the entry */
	bool			has_zone;
	uint16_t		zone;
	bool			has_id;
	uint32_t		id;
	bool			has_mark;
	uint32_t		mark;
	bool			has_labels;
	uint8_t			labels[REQ_LABELS];
	bool			has_timeout;
	uint32_t		timeout;
	bool			has_status;
	uint32_t		status;
	bool			has_state;
	uint8_t			state;
};

/* An expectation, for get, delete and create. */
struct req_exp {
	struct req_tuple	tuple;		/* the expected tuple */
	bool			has_master;
	struct req_tuple	master;
	bool			has_mask;
	struct req_tuple	mask;
	bool			has_zone;
	uint16_t		zone;
	bool			has_id;
	uint32_t		id;
	uint32_t		timeout;
	char			helper[16];
	uint32_t		flags;
	uint32_t		class;
};

int	req_parse_tuple(const json_t *, const char *, struct req_tuple *,
	    char *, size_t);
int	req_parse_ct(const json_t *, struct req_ct *, bool, char *, size_t);
int	req_parse_exp(const json_t *, struct req_exp *, bool, char *, size_t);
int	req_parse_labels(const json_t *, uint8_t [REQ_LABELS], char *,
	    size_t);
void	req_invert(const struct req_tuple *, struct req_tuple *);
struct nf_conntrack;
int	req_tuple_from_ct(const struct nf_conntrack *, uint8_t,
	    struct req_tuple *);

size_t	req_ct_get(char *, const struct req_ct *);
size_t	req_ct_delete(char *, const struct req_ct *);
size_t	req_ct_update(char *, const struct req_ct *);
size_t	req_ct_create(char *, const struct req_ct *);
size_t	req_exp_get(char *, const struct req_exp *);
size_t	req_exp_delete(char *, const struct req_exp *);
size_t	req_exp_create(char *, const struct req_exp *);
size_t	req_flush(char *, bool, uint8_t);
size_t	req_stats(char *, bool);

#endif
