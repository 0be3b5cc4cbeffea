/*
 * fuzz.h - helpers shared by the libFuzzer harnesses.
 */
#ifndef CTSTREAMD_FUZZ_H
#define CTSTREAMD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

json_t	*fuzz_json_load(const char *, size_t, bool *);
bool	 fuzz_json_same(const char *, size_t, const json_t *);
void	 fuzz_fail(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
