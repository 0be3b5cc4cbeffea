#include "config.h"
#include "unit.h"
Suite *make_fanout_suite(void) { return suite_create("fanout"); }
