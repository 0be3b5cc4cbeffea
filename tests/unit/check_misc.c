#include "config.h"
#include "unit.h"
Suite *make_buf_suite(void) { return suite_create("buf"); }
Suite *make_names_suite(void) { return suite_create("names"); }
Suite *make_event_suite(void) { return suite_create("event"); }
Suite *make_netns_suite(void) { return suite_create("netns"); }
