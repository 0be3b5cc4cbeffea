/*
 * check_track.c - the index of live entries, against a simple model.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "track.h"
#include "unit.h"

#define MODEL	4096

/* A plain array model of the index: tag per id, 0 when absent. */
struct model {
	uint32_t	tag[MODEL];
	bool		old[MODEL];
};

/* Sweep callback: record the ids that went. */
static void
swept(void *arg, uint32_t id)
{
	uint8_t	*gone = arg;

	ck_assert_uint_lt(id, MODEL);
	ck_assert_uint_eq(gone[id], 0);
	gone[id] = 1;
}

START_TEST(test_put_del_has)
{
	struct track	*t = track_new();

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(track_put(t, 7, 0x100, 0), 0);
	ck_assert(track_has(t, 7, 0x100));
	ck_assert(!track_has(t, 7, 0x200));
	ck_assert(!track_has(t, 8, 0x100));
	/* by id alone, whatever the tag */
	ck_assert(track_has_id(t, 7));
	ck_assert(!track_has_id(t, 8));
	/* same id, new tag: the id was recycled, the entry is replaced */
	ck_assert_int_eq(track_put(t, 7, 0x200, TRACK_OLD), 0);
	ck_assert_uint_eq(track_count(t), 1);
	ck_assert_uint_eq(track_old(t), 1);
	ck_assert(!track_del(t, 7, 0x100));	/* wrong tag: kept */
	ck_assert(track_del(t, 7, 0x200));
	ck_assert(!track_has_id(t, 7));
	ck_assert_uint_eq(track_count(t), 0);
	ck_assert_uint_eq(track_old(t), 0);
	/* the flag bits of a tag are ignored */
	ck_assert_int_eq(track_put(t, 0, 0x107, 0), 0);
	ck_assert(track_has(t, 0, 0x100));
	track_free(t);
}
END_TEST

START_TEST(test_random_against_model)
{
	struct track	*t = track_new();
	struct model	*m = calloc(1, sizeof *m);
	uint8_t		*gone = calloc(MODEL, 1);
	uint32_t	 id, tag, seed = 12345;
	size_t		 i, n = 0, old = 0, peak = 0;
	int		 op;

	/* Many ids collide in the table: ids are multiples of 1024. */
	for (i = 0; i < 200000; i++) {
		seed = seed * 1103515245 + 12345;
		id = (seed >> 8) % MODEL;
		op = (seed >> 4) % 3;
		tag = ((seed >> 16) | 1) << 3;
		if (op < 2) {
			if (m->tag[id] == 0)
				n++;
			else if (m->old[id])
				old--;
			m->tag[id] = tag;
			m->old[id] = op == 1;
			if (op == 1)
				old++;
			ck_assert_int_eq(track_put(t, id, tag,
			    op == 1 ? TRACK_OLD : 0), 0);
		} else if (m->tag[id] != 0) {
			ck_assert(track_del(t, id, m->tag[id]));
			if (m->old[id])
				old--;
			m->tag[id] = 0;
			m->old[id] = false;
			n--;
		}
		if (n > peak)
			peak = n;
		if (i % 997 == 0) {
			ck_assert_uint_eq(track_count(t), n);
			ck_assert_uint_eq(track_old(t), old);
		}
	}
	for (id = 0; id < MODEL; id++)
		ck_assert(m->tag[id] == 0 ? !track_has(t, id, 1 << 3) :
		    track_has(t, id, m->tag[id]));

	/* A resync: half are seen again, the other half must be swept. */
	track_unmark(t);
	for (id = 0; id < MODEL; id += 2)
		if (m->tag[id] != 0)
			ck_assert(track_mark(t, id, m->tag[id]));
	ck_assert(!track_mark(t, MODEL + 1, 8));
	track_sweep(t, swept, gone);
	for (id = 0; id < MODEL; id++) {
		bool	was = m->tag[id] != 0;

		ck_assert_uint_eq(gone[id], was && (id % 2) == 1);
		ck_assert(track_has(t, id, m->tag[id]) ==
		    (was && (id % 2) == 0));
	}
	/* Memory stays proportional to the table: 8-byte slots, <= 3/4. */
	ck_assert_uint_le(track_bytes(t), 64 + 8 * 2 * 4 * peak / 3 + 8192);
	track_free(t);
	free(m);
	free(gone);
}
END_TEST

START_TEST(test_shrinks)
{
	struct track	*t = track_new();
	size_t		 big;
	uint32_t	 id;

	for (id = 1; id <= 100000; id++)
		ck_assert_int_eq(track_put(t, id, id << 3, 0), 0);
	big = track_bytes(t);
	ck_assert_uint_ge(big, 100000 * 8);
	for (id = 1; id <= 100000; id++)
		ck_assert(track_del(t, id, id << 3));
	ck_assert_uint_eq(track_count(t), 0);
	ck_assert_uint_lt(track_bytes(t), big / 16);
	track_free(t);
}
END_TEST

Suite *
make_track_suite(void)
{
	Suite	*s = suite_create("track");
	TCase	*tc = tcase_create("track");

	tcase_add_test(tc, test_put_del_has);
	tcase_add_test(tc, test_random_against_model);
	tcase_add_test(tc, test_shrinks);
	suite_add_tcase(s, tc);
	return (s);
}
