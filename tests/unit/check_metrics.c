/*
 * check_metrics.c - the stats answer as Prometheus text (metrics.c), and
 * the address of --metrics-listen.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "buf.h"
#include "metrics.h"
#include "unit.h"

/* A stats answer as the daemon gives it: two namespaces, NATS off. */
static const char stats_two[] =
    "{\"daemon\":{\"uptime\":3,"
    "\"events\":{\"ct\":{\"new\":2,\"update\":1,\"destroy\":0},"
    "\"expect\":{\"new\":0,\"update\":0,\"destroy\":0}},"
    "\"lines\":3,\"undecodable\":0,\"netlink_messages\":3,"
    "\"netlink_bytes\":480,\"overruns\":1,\"kernel_drops\":7,"
    "\"retried_deliveries\":0,\"dumps\":2,\"clients\":3,"
    "\"clients_accepted\":5,\"clients_refused\":1,\"subscribers\":4,"
    "\"subscriber_list\":["
    "{\"client\":1,\"socket\":\"events\",\"pid\":1,\"uid\":0,"
    "\"active\":true,\"queued_bytes\":100,\"lines\":1,\"bytes\":376,"
    "\"dropped\":4,\"lost_reports\":1},"
    "{\"client\":2,\"socket\":\"events\",\"pid\":2,\"uid\":0,"
    "\"active\":true,\"queued_bytes\":50,\"lines\":1,\"bytes\":376,"
    "\"dropped\":0,\"lost_reports\":0},"
    "{\"client\":3,\"socket\":\"control\",\"pid\":3,\"uid\":0,"
    "\"active\":false,\"queued_bytes\":0,\"lines\":0,\"bytes\":0,"
    "\"dropped\":0,\"lost_reports\":0},"
    "{\"socket\":\"stdout\",\"queued_bytes\":7,\"lines\":3,\"bytes\":900,"
    "\"dropped\":0,\"lost_reports\":0}],"
    "\"subscriber_totals\":{\"lines\":9,\"bytes\":2000,\"dropped\":6,"
    "\"lost_reports\":2},"
    "\"namespaces\":["
    "{\"netns\":\"blue\",\"netlink_messages\":1,\"netlink_bytes\":160,"
    "\"overruns\":0,\"kernel_drops\":0,\"socket_drops\":0,"
    "\"retried_deliveries\":0,\"event_sockets\":1,\"rcvbuf\":16777216,"
    "\"rcvbuf_grown\":0,\"dumps\":1,\"requests\":1,"
    "\"resync\":{\"runs\":0,\"added\":0,\"removed\":0,\"errors\":0,"
    "\"live_entries\":2,\"entries_older_than_daemon\":2,"
    "\"index_bytes\":8232,\"running\":false}},"
    "{\"netns\":\"green\",\"netlink_messages\":2,\"netlink_bytes\":320,"
    "\"overruns\":1,\"kernel_drops\":7,\"socket_drops\":7,"
    "\"retried_deliveries\":0,\"event_sockets\":2,\"rcvbuf\":33554432,"
    "\"rcvbuf_grown\":1,\"dumps\":1,\"requests\":3,\"resync\":null}],"
    "\"nats\":null},"
    "\"kernel\":[{\"netns\":\"blue\",\"entries\":2,\"max_entries\":262144,"
    "\"cpus\":2,\"cpu_sum\":{\"found\":1,\"invalid\":2,\"insert\":3,"
    "\"insert_failed\":0,\"drop\":0,\"early_drop\":0,\"error\":0,"
    "\"search_restart\":5,\"clash_resolve\":0,\"chain_toolong\":0}},"
    "{\"netns\":\"green\",\"entries\":0,\"max_entries\":0,\"cpus\":0,"
    "\"cpu_sum\":{\"found\":0},\"error\":\"Connection timed out\"}]}";

static const struct metrics_info info = { "1.2.3", 1790000000.25 };

/* Render JSON text; returns the text (free it) or fails the test. */
static char *
render(const char *text, const struct metrics_info *mi)
{
	struct buf	 b = { 0 };
	json_t		*j = unit_json_load(text, strlen(text), NULL);
	char		*out;

	ck_assert_msg(j != NULL, "bad test JSON");
	ck_assert_int_eq(metrics_render(j, mi, &b), 0);
	json_decref(j);
	buf_addc(&b, '\0');
	ck_assert(buf_ok(&b));
	out = strdup(b.data);
	buf_free(&b);
	return (out);
}

/* Tell whether text holds line as a whole line. */
static bool
has_line(const char *text, const char *line)
{
	const char	*p = text;
	size_t		 n = strlen(line);

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return (true);
		p += n;
	}
	return (false);
}

/* Count the lines of text that begin with prefix. */
static int
count_lines(const char *text, const char *prefix)
{
	const char	*p = text;
	int		 n = 0;

	for (; *p != '\0'; p = strchr(p, '\n') + 1) {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
		if (strchr(p, '\n') == NULL)
			break;
	}
	return (n);
}

#define HAS(t, l)	ck_assert_msg(has_line(t, l), "missing: %s\n%s", l, t)
#define HASNT(t, l)	ck_assert_msg(!has_line(t, l), "unwanted: %s", l)

/*
 * The rules of the text format, checked on every output: each sample
 * belongs to the family its HELP and TYPE lines named just before (one of
 * each, once per family, families contiguous), names are well formed,
 * counters end in _total and nothing else does, and every line ends.
 */
static void
check_format(const char *text)
{
	char		 fam[128] = "", seen[8192] = " ", name[128], type[16];
	const char	*p = text, *nl;
	size_t		 n, i;
	int		 helps = 0, types = 0;

	ck_assert(text[0] == '\0' || text[strlen(text) - 1] == '\n');
	for (; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		ck_assert(nl != NULL);
		if (strncmp(p, "# HELP ", 7) == 0) {
			n = strcspn(p + 7, " ");
			ck_assert(n > 0 && n < sizeof fam);
			memcpy(fam, p + 7, n);
			fam[n] = '\0';
			snprintf(name, sizeof name, " %s ", fam);
			ck_assert_msg(strstr(seen, name) == NULL,
			    "%s twice", fam);
			strncat(seen, name + 1, sizeof seen - strlen(seen) - 1);
			ck_assert_msg(strncmp(fam, "ctstreamd_", 10) == 0,
			    "%s: no prefix", fam);
			helps++;
			continue;
		}
		if (strncmp(p, "# TYPE ", 7) == 0) {
			ck_assert_int_eq(sscanf(p + 7, "%127s %15s", name,
			    type), 2);
			ck_assert_str_eq(name, fam);
			n = strlen(fam);
			if (strcmp(type, "counter") == 0)
				ck_assert_msg(n > 6 &&
				    strcmp(fam + n - 6, "_total") == 0,
				    "counter %s without _total", fam);
			else {
				ck_assert_str_eq(type, "gauge");
				ck_assert_msg(n <= 6 ||
				    strcmp(fam + n - 6, "_total") != 0,
				    "gauge %s with _total", fam);
			}
			types++;
			continue;
		}
		ck_assert_msg(*p != '#', "stray comment");
		n = strcspn(p, "{ ");
		ck_assert_msg(strncmp(p, fam, n) == 0 && n == strlen(fam),
		    "sample %.*s outside its family %s", (int)(nl - p), p, fam);
		for (i = 0; i < n; i++)
			ck_assert(isalnum((unsigned char)p[i]) || p[i] == '_');
	}
	ck_assert_int_eq(helps, types);
}

/* A full answer: every kind of family, with its labels. */
START_TEST(test_render_full)
{
	char	*t = render(stats_two, &info);

	check_format(t);
	HAS(t, "# TYPE ctstreamd_build_info gauge");
	HAS(t, "ctstreamd_build_info{version=\"1.2.3\"} 1");
	HAS(t, "ctstreamd_start_time_seconds 1790000000.250");
	HAS(t, "# TYPE ctstreamd_events_total counter");
	HAS(t, "ctstreamd_events_total{type=\"ct\",event=\"new\"} 2");
	HAS(t, "ctstreamd_events_total{type=\"ct\",event=\"update\"} 1");
	HAS(t, "ctstreamd_events_total{type=\"expect\",event=\"destroy\"} 0");
	ck_assert_int_eq(count_lines(t, "ctstreamd_events_total{"), 6);
	ck_assert_int_eq(count_lines(t, "# HELP ctstreamd_events_total "), 1);
	HAS(t, "ctstreamd_stream_lines_total 3");
	HAS(t, "ctstreamd_undecodable_messages_total 0");
	HAS(t, "ctstreamd_clients 3");
	HAS(t, "ctstreamd_clients_accepted_total 5");
	HAS(t, "ctstreamd_clients_refused_total 1");
	/* Subscribers: summed by socket, never one series per client. */
	HAS(t, "ctstreamd_subscribers{socket=\"events\"} 2");
	HAS(t, "ctstreamd_subscribers{socket=\"control\"} 1");
	HAS(t, "ctstreamd_subscribers{socket=\"stdout\"} 1");
	HAS(t, "ctstreamd_subscriber_queued_bytes{socket=\"events\"} 150");
	HAS(t, "ctstreamd_subscriber_queued_bytes{socket=\"stdout\"} 7");
	HAS(t, "ctstreamd_subscriber_max_queued_bytes 100");
	HAS(t, "ctstreamd_subscriber_dropped_lines_total 6");
	HAS(t, "ctstreamd_subscriber_written_bytes_total 2000");
	HAS(t, "ctstreamd_subscriber_lost_reports_total 2");
	ck_assert(strstr(t, "client=") == NULL && strstr(t, "pid=") == NULL);
	/* Per namespace, with a netns label; no daemon-wide sums. */
	HAS(t, "ctstreamd_monitored_namespaces 2");
	HAS(t, "ctstreamd_netlink_messages_total{netns=\"blue\"} 1");
	HAS(t, "ctstreamd_netlink_messages_total{netns=\"green\"} 2");
	HAS(t, "ctstreamd_netlink_bytes_total{netns=\"green\"} 320");
	HAS(t, "ctstreamd_overruns_total{netns=\"green\"} 1");
	HAS(t, "ctstreamd_kernel_dropped_messages_total{netns=\"green\"} 7");
	HAS(t, "ctstreamd_event_socket_drops_total{netns=\"green\"} 7");
	HAS(t, "ctstreamd_event_sockets{netns=\"green\"} 2");
	HAS(t, "ctstreamd_event_socket_receive_buffer_bytes{netns=\"green\"} "
	    "33554432");
	HAS(t, "ctstreamd_event_socket_receive_buffer_grown_total"
	    "{netns=\"green\"} 1");
	HAS(t, "ctstreamd_dumps_total{netns=\"blue\"} 1");
	HAS(t, "ctstreamd_kernel_requests_total{netns=\"green\"} 3");
	ck_assert_int_eq(count_lines(t, "ctstreamd_netlink_messages_total"),
	    2);
	/* Resync: only where there is one (green has null). */
	HAS(t, "ctstreamd_resync_runs_total{netns=\"blue\"} 0");
	HAS(t, "ctstreamd_resync_running{netns=\"blue\"} 0");
	HAS(t, "ctstreamd_index_entries{netns=\"blue\"} 2");
	HAS(t, "ctstreamd_index_old_entries{netns=\"blue\"} 2");
	HAS(t, "ctstreamd_index_bytes{netns=\"blue\"} 8232");
	ck_assert(strstr(t, "ctstreamd_resync_runs_total{netns=\"green\"}") ==
	    NULL);
	/* Kernel: blue answered, green did not. */
	HAS(t, "ctstreamd_kernel_stats_up{netns=\"blue\"} 1");
	HAS(t, "ctstreamd_kernel_stats_up{netns=\"green\"} 0");
	HAS(t, "# TYPE ctstreamd_kernel_conntrack_entries gauge");
	HAS(t, "ctstreamd_kernel_conntrack_entries{netns=\"blue\"} 2");
	HAS(t, "ctstreamd_kernel_conntrack_entries_limit{netns=\"blue\"} "
	    "262144");
	HAS(t, "ctstreamd_kernel_conntrack_cpus{netns=\"blue\"} 2");
	HAS(t, "# TYPE ctstreamd_kernel_conntrack_found_total counter");
	HAS(t, "ctstreamd_kernel_conntrack_found_total{netns=\"blue\"} 1");
	HAS(t, "ctstreamd_kernel_conntrack_search_restart_total"
	    "{netns=\"blue\"} 5");
	ck_assert(strstr(t, "conntrack_entries{netns=\"green\"}") == NULL);
	ck_assert(strstr(t, "found_total{netns=\"green\"}") == NULL);
	/* No NATS output: no NATS metric, not even its HELP. */
	ck_assert(strstr(t, "nats") == NULL);
	/* Nothing taken from the daemon-wide sums or uptime. */
	ck_assert(strstr(t, "uptime") == NULL);
	free(t);
}
END_TEST

/* The NATS output's counters, when it exists. */
START_TEST(test_render_nats)
{
	char	*t = render("{\"daemon\":{\"nats\":{\"server\":null,"
		    "\"stream\":\"CT\",\"subject\":\"ctstreamd.h\","
		    "\"connected\":true,\"last_error\":null,\"lines\":10,"
		    "\"published\":9,\"acked\":8,\"dropped\":1,\"failed\":0,"
		    "\"retries\":2,\"pending\":1,\"pending_bytes\":300,"
		    "\"in_flight\":1,\"lost_reports\":1,\"connects\":1,"
		    "\"reconnects\":0,\"disconnects\":0}},\"kernel\":null}",
		    &info);

	check_format(t);
	HAS(t, "ctstreamd_nats_connected 1");
	HAS(t, "ctstreamd_nats_lines_total 10");
	HAS(t, "ctstreamd_nats_published_lines_total 9");
	HAS(t, "ctstreamd_nats_acked_lines_total 8");
	HAS(t, "ctstreamd_nats_dropped_lines_total 1");
	HAS(t, "ctstreamd_nats_failed_lines_total 0");
	HAS(t, "ctstreamd_nats_republished_lines_total 2");
	HAS(t, "# TYPE ctstreamd_nats_pending_lines gauge");
	HAS(t, "ctstreamd_nats_pending_lines 1");
	HAS(t, "ctstreamd_nats_pending_bytes 300");
	HAS(t, "ctstreamd_nats_in_flight_lines 1");
	HAS(t, "ctstreamd_nats_lost_reports_total 1");
	HAS(t, "ctstreamd_nats_connects_total 1");
	HAS(t, "ctstreamd_nats_reconnects_total 0");
	HAS(t, "ctstreamd_nats_disconnects_total 0");
	/* Strings are not metrics. */
	ck_assert(strstr(t, "ctstreamd.h") == NULL);
	free(t);
}
END_TEST

/* Label values escape backslash, double quote and newline; HELP too. */
START_TEST(test_render_escaping)
{
	char	*t = render("{\"daemon\":{\"namespaces\":[{\"netns\":"
		    "\"a\\\"b\\\\c\\nd\\u00e9\",\"dumps\":1}],"
		    "\"events\":{\"c\\\"t\":{\"n\\\\ew\":1}}},"
		    "\"kernel\":{\"netns\":\"x\\ny\",\"entries\":1}}", &info);

	check_format(t);
	HAS(t, "ctstreamd_dumps_total{netns=\"a\\\"b\\\\c\\nd\xc3\xa9\"} 1");
	HAS(t, "ctstreamd_events_total{type=\"c\\\"t\",event=\"n\\\\ew\"} 1");
	HAS(t, "ctstreamd_kernel_conntrack_entries{netns=\"x\\ny\"} 1");
	free(t);
	t = render("{\"daemon\":{}}", &(struct metrics_info){ "v\"1\\\n",
	    -1 });
	HAS(t, "ctstreamd_build_info{version=\"v\\\"1\\\\\\n\"} 1");
	free(t);
}
END_TEST

/*
 * What the daemon may answer when nothing is monitored, or the kernel's
 * part is missing, null or an error: the rest is still there, and the
 * missing parts have no sample and no HELP line.
 */
START_TEST(test_render_missing)
{
	char	*t;

	t = render("{}", &info);
	check_format(t);
	HAS(t, "ctstreamd_build_info{version=\"1.2.3\"} 1");
	HAS(t, "ctstreamd_start_time_seconds 1790000000.250");
	ck_assert_int_eq(count_lines(t, "ctstreamd_"), 2);
	free(t);

	t = render("{\"daemon\":{\"namespaces\":[],\"subscriber_list\":[],"
	    "\"nats\":null,\"events\":null,\"lines\":0},\"kernel\":null}",
	    &(struct metrics_info){ NULL, -1 });
	check_format(t);
	HAS(t, "ctstreamd_monitored_namespaces 0");
	HAS(t, "ctstreamd_subscribers{socket=\"events\"} 0");
	HAS(t, "ctstreamd_subscriber_max_queued_bytes 0");
	HAS(t, "ctstreamd_stream_lines_total 0");
	ck_assert(strstr(t, "build_info") == NULL);
	ck_assert(strstr(t, "start_time") == NULL);
	ck_assert(strstr(t, "kernel") == NULL);
	ck_assert(strstr(t, "netns") == NULL);
	ck_assert(strstr(t, "events_total") == NULL);
	free(t);

	/* A kernel part with an error and no namespace: up 0, unlabelled. */
	t = render("{\"daemon\":{\"namespaces\":[]},\"kernel\":{\"error\":"
	    "\"no namespace is monitored\"}}", &info);
	check_format(t);
	HAS(t, "ctstreamd_kernel_stats_up 0");
	ck_assert(strstr(t, "conntrack") == NULL);
	free(t);

	/* One kernel object, as the JSON answer has it. */
	t = render("{\"daemon\":{},\"kernel\":{\"netns\":\"n\",\"entries\":4,"
	    "\"max_entries\":8,\"cpus\":1,\"cpu_sum\":null}}", &info);
	check_format(t);
	HAS(t, "ctstreamd_kernel_stats_up{netns=\"n\"} 1");
	HAS(t, "ctstreamd_kernel_conntrack_entries{netns=\"n\"} 4");
	HAS(t, "ctstreamd_kernel_conntrack_entries_limit{netns=\"n\"} 8");
	ck_assert(strstr(t, "found_total") == NULL);
	free(t);

	/* Members of the wrong type are left out, not guessed at. */
	t = render("{\"daemon\":{\"lines\":\"3\",\"clients\":true,"
	    "\"namespaces\":{\"netns\":\"x\"},\"subscriber_list\":[1,"
	    "{\"socket\":7},{\"socket\":\"events\",\"queued_bytes\":\"9\"}],"
	    "\"events\":[1]},\"kernel\":[null,3,{\"netns\":\"k\","
	    "\"entries\":1.5}]}", &info);
	check_format(t);
	ck_assert(strstr(t, "stream_lines") == NULL);
	HAS(t, "ctstreamd_clients 1");
	HAS(t, "ctstreamd_subscribers{socket=\"events\"} 1");
	HAS(t, "ctstreamd_subscriber_queued_bytes{socket=\"events\"} 0");
	HAS(t, "ctstreamd_kernel_conntrack_entries{netns=\"k\"} 1.5");
	ck_assert(strstr(t, "monitored_namespaces") == NULL);
	free(t);
}
END_TEST

/* Not an object: refused. */
START_TEST(test_render_not_object)
{
	struct buf	 b = { 0 };
	json_t		*j = json_array();

	ck_assert_int_eq(metrics_render(j, &info, &b), -EINVAL);
	ck_assert_int_eq(metrics_render(NULL, &info, &b), -EINVAL);
	ck_assert_uint_eq(b.len, 0);
	json_decref(j);
}
END_TEST

/* Parse spec; return "ADDR PORT" (static) or NULL with the error. */
static const char *
listen_addr(const char *spec)
{
	static char		 out[128];
	struct sockaddr_storage	 ss;
	char			 host[INET6_ADDRSTRLEN], err[256];
	socklen_t		 len;

	if (metrics_listen_parse(spec, &ss, &len, err, sizeof err) != 0) {
		ck_assert_msg(strstr(err, spec) != NULL, "%s: %s", spec, err);
		return (NULL);
	}
	if (ss.ss_family == AF_INET6) {
		ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    host, sizeof host);
		snprintf(out, sizeof out, "%s %u", host,
		    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		ck_assert_uint_eq(ss.ss_family, AF_INET);
		ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    host, sizeof host);
		snprintf(out, sizeof out, "%s %u", host,
		    ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
	return (out);
}

/* --metrics-listen: PORT, :PORT, ADDR:PORT, [V6]:PORT; loopback default. */
START_TEST(test_listen_parse)
{
	static const char *const bad[] = { "", ":", "abc", "0", "65536",
	    ":0", "127.0.0.1:", "127.0.0.1:x", "1.2.3.4:99999", "::1:80",
	    "[::1]9110", "[::1]:", "[1.2.3.4]:80", "localhost:80",
	    "[::1:80", "1.2.3:80", "-1", "+80", "80 ", " 80",
	    "[aaaa:bbbb:cccc:dddd:eeee:ffff:1111:2222:3333]:80", NULL };
	size_t	i;

	ck_assert_str_eq(listen_addr("9110"), "127.0.0.1 9110");
	ck_assert_str_eq(listen_addr(":9110"), "127.0.0.1 9110");
	ck_assert_str_eq(listen_addr("0.0.0.0:80"), "0.0.0.0 80");
	ck_assert_str_eq(listen_addr("192.0.2.7:65535"), "192.0.2.7 65535");
	ck_assert_str_eq(listen_addr("1"), "127.0.0.1 1");
	ck_assert_str_eq(listen_addr("[::1]:9110"), "::1 9110");
	ck_assert_str_eq(listen_addr("[::]:9110"), ":: 9110");
	ck_assert_str_eq(listen_addr("[2001:db8::1]:443"), "2001:db8::1 443");
	for (i = 0; bad[i] != NULL; i++)
		ck_assert_msg(listen_addr(bad[i]) == NULL, "'%s' accepted",
		    bad[i]);
}
END_TEST

Suite *
make_metrics_suite(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc = tcase_create("metrics");

	tcase_add_test(tc, test_render_full);
	tcase_add_test(tc, test_render_nats);
	tcase_add_test(tc, test_render_escaping);
	tcase_add_test(tc, test_render_missing);
	tcase_add_test(tc, test_render_not_object);
	tcase_add_test(tc, test_listen_parse);
	suite_add_tcase(s, tc);
	return (s);
}
