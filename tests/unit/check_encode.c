#include "config.h"
#include "unit.h"
Suite *make_encode_suite(void) { return suite_create("encode"); }
Suite *make_jw_suite(void) { return suite_create("jw"); }
