// SPDX-License-Identifier: GPL-2.0
/*
 * qmp: a minimal QMP client, to drive QEMU's monitor from test scripts.
 *
 *   qmp SOCKET COMMAND [ARGS_JSON]   run one command; print its "return"
 *                                    line as QEMU sent it
 *   qmp SOCKET -e EVENT TIMEOUT_S [COMMAND [ARGS_JSON]]
 *                                    wait for event EVENT and print it; with
 *                                    a command, run it first on the same
 *                                    connection (its return line is printed
 *                                    first), and an EVENT that arrives
 *                                    before the return counts too
 *
 * A QMP socket serves one client at a time (another one is not greeted until
 * the first disconnects), so an event caused by a command can only be seen on
 * the connection that ran it, or on a second -qmp monitor.
 *
 * Exit: 0 success; 1 QMP error (desc on stderr, error line on stdout) or
 * event timeout; 2 connection failure or QEMU closed the connection;
 * 3 timeout of a read (QMP_TIMEOUT seconds, default 30); 4 usage.
 *
 * QEMU sends one JSON object per line; a line is classified by its top-level
 * keys ("return", "error", "event"), found by a small scanner that tracks the
 * nesting depth and skips strings with their escapes.  No full JSON parser.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN	(1 << 20)	/* longest line accepted from QEMU */

#define EXIT_QMP_ERROR	1
#define EXIT_CONN	2
#define EXIT_TIMEOUT	3
#define EXIT_USAGE	4

static int sock = -1;
static const char *want_event;	/* -e EVENT */
static char *got_event;		/* a copy of its line, once seen */
static char *rbuf;		/* received bytes not yet returned */
static size_t rlen;		/* bytes in rbuf */
static size_t rskip;		/* length of the line last returned, consumed next time */

static void __attribute__((noreturn)) fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("qmp: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: qmp SOCKET COMMAND [ARGS_JSON]\n"
		"       qmp SOCKET -e EVENT TIMEOUT_S [COMMAND [ARGS_JSON]]\n"
		"Env: QMP_TIMEOUT  seconds to wait for each reply (default 30)\n"
		"Exit: 0 ok, 1 QMP error or event timeout, 2 connection, 3 timeout, 4 usage\n");
	exit(EXIT_USAGE);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool parse_secs(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 1e7)
		return false;
	*out = v;
	return true;
}

/*
 * Return the next line (without its "\r\n", NUL-terminated, valid until the
 * next call), or NULL when the deadline passed.  EOF or a read error exits.
 */
static char *read_line(double deadline)
{
	char *nl;
	ssize_t n;

	if (rskip) {
		memmove(rbuf, rbuf + rskip, rlen - rskip);
		rlen -= rskip;
		rskip = 0;
	}
	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		double left;
		int ms, r;

		nl = memchr(rbuf, '\n', rlen);
		if (nl) {
			rskip = nl - rbuf + 1;
			*nl = '\0';
			if (nl > rbuf && nl[-1] == '\r')
				nl[-1] = '\0';
			return rbuf;
		}
		if (rlen >= LINE_MAX_LEN)
			fail(EXIT_CONN, "line from QEMU longer than %d bytes", LINE_MAX_LEN);

		left = deadline - now_s();
		if (left <= 0)
			return NULL;
		ms = left * 1000 + 1;
		r = poll(&pfd, 1, ms);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fail(EXIT_CONN, "poll: %s", strerror(errno));
		}
		if (!r)
			continue;	/* the deadline check above decides */
		n = read(sock, rbuf + rlen, LINE_MAX_LEN - rlen);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fail(EXIT_CONN, "read: %s", strerror(errno));
		}
		if (!n)
			fail(EXIT_CONN, "connection closed by QEMU");
		rlen += n;
	}
}

static void send_all(const char *s, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(sock, s, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail(EXIT_CONN, "write: %s", strerror(errno));
		}
		s += n;
		len -= n;
	}
}

/* p points at an opening quote: return the character after the closing one. */
static const char *skip_string(const char *p)
{
	for (p++; *p; p++) {
		if (*p == '\\') {
			if (!*++p)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

/*
 * If obj is a JSON object with the member key at its top level, return a
 * pointer to the member's value, else NULL.  Only keys without escapes can
 * be looked for, which is all we need.
 */
static const char *find_key(const char *obj, const char *key)
{
	size_t klen = strlen(key);
	const char *p = skip_ws(obj);
	int depth = 0;

	if (*p != '{')
		return NULL;
	while (*p) {
		if (*p == '"') {
			const char *s = p + 1, *e = skip_string(p);

			if (!e)
				return NULL;
			if (depth == 1) {
				const char *q = skip_ws(e);

				if (*q == ':' && (size_t)(e - 1 - s) == klen &&
				    !memcmp(s, key, klen))
					return skip_ws(q + 1);
			}
			p = e;
			continue;
		}
		if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			if (--depth <= 0)
				return NULL;
		}
		p++;
	}
	return NULL;
}

static void put_utf8(char **out, unsigned int c)
{
	char *o = *out;

	if (c < 0x80) {
		*o++ = c;
	} else if (c < 0x800) {
		*o++ = 0xc0 | (c >> 6);
		*o++ = 0x80 | (c & 0x3f);
	} else if (c < 0x10000) {
		*o++ = 0xe0 | (c >> 12);
		*o++ = 0x80 | ((c >> 6) & 0x3f);
		*o++ = 0x80 | (c & 0x3f);
	} else {
		*o++ = 0xf0 | (c >> 18);
		*o++ = 0x80 | ((c >> 12) & 0x3f);
		*o++ = 0x80 | ((c >> 6) & 0x3f);
		*o++ = 0x80 | (c & 0x3f);
	}
	*out = o;
}

static int hex4(const char *p, unsigned int *v)
{
	unsigned int r = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		r <<= 4;
		if (c >= '0' && c <= '9')
			r |= c - '0';
		else if (c >= 'a' && c <= 'f')
			r |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			r |= c - 'A' + 10;
		else
			return -1;
	}
	*v = r;
	return 0;
}

/* Decode the JSON string at p (opening quote) into a malloc'ed C string. */
static char *decode_string(const char *p)
{
	const char *e;
	char *out, *o;

	if (!p || *p != '"')
		return NULL;
	e = skip_string(p);
	if (!e)
		return NULL;
	out = malloc(e - p + 1);	/* decoding never grows the text */
	if (!out)
		return NULL;
	for (o = out, p++; p < e - 1; p++) {
		unsigned int c, lo;

		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		switch (*++p) {
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u':
			if (hex4(p + 1, &c)) {
				*o++ = '?';
				break;
			}
			p += 4;
			if (c >= 0xd800 && c < 0xdc00 && p[1] == '\\' && p[2] == 'u' &&
			    !hex4(p + 3, &lo) && lo >= 0xdc00 && lo < 0xe000) {
				c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			put_utf8(&o, c);
			break;
		default:	/* '"', '\\', '/' */
			*o++ = *p;
			break;
		}
	}
	*o = '\0';
	return out;
}

/* Append s as a JSON string (with quotes) to the buffer at *o. */
static void put_json_string(char **o, const char *s)
{
	char *p = *o;

	*p++ = '"';
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = c;
		} else if (c < 0x20) {
			p += sprintf(p, "\\u%04x", c);
		} else {
			*p++ = c;
		}
	}
	*p++ = '"';
	*o = p;
}

/* Is line the event we wait for? */
static bool is_wanted_event(const char *line)
{
	const char *name = find_key(line, "event");
	bool ret;
	char *s;

	if (!name || !want_event)
		return false;
	s = decode_string(name);
	ret = s && !strcmp(s, want_event);
	free(s);
	return ret;
}

/*
 * Send a command and wait for its reply, skipping events (but keeping the
 * one we wait for); return the reply.
 */
static char *qmp_exec(const char *cmd, const char *args, double timeout)
{
	size_t size = 64 + 6 * strlen(cmd) + (args ? strlen(args) : 0);
	char *req = malloc(size), *o = req;
	char *line;

	if (!req)
		fail(EXIT_CONN, "out of memory");
	o += sprintf(o, "{\"execute\": ");
	put_json_string(&o, cmd);
	if (args)
		o += sprintf(o, ", \"arguments\": %s", args);
	o += sprintf(o, "}\r\n");
	send_all(req, o - req);
	free(req);

	for (;;) {
		line = read_line(now_s() + timeout);
		if (!line)
			fail(EXIT_TIMEOUT, "timeout waiting for the reply to %s", cmd);
		if (find_key(line, "event")) {
			if (!got_event && is_wanted_event(line)) {
				got_event = strdup(line);
				if (!got_event)
					fail(EXIT_CONN, "out of memory");
			}
			continue;
		}
		if (find_key(line, "return") || find_key(line, "error"))
			return line;
	}
}

/* On an error reply: desc to stderr, the line to stdout, exit 1. */
static void check_error(const char *line)
{
	const char *err = find_key(line, "error");
	char *desc;

	if (!err)
		return;
	desc = decode_string(find_key(err, "desc"));
	fprintf(stderr, "qmp: error: %s\n", desc ? desc : "(no desc)");
	printf("%s\n", line);
	fflush(stdout);
	exit(EXIT_QMP_ERROR);
}

int main(int argc, char **argv)
{
	double timeout = 30, ev_timeout = 0, deadline;
	const char *path, *cmd, *args = NULL, *env;
	struct sockaddr_un sun;
	char *line;

	if (argc < 3)
		usage();
	path = argv[1];
	cmd = argv[2];
	if (!strcmp(cmd, "-e")) {
		if (argc < 5 || argc > 7 || !*argv[3] || !parse_secs(argv[4], &ev_timeout))
			usage();
		want_event = argv[3];
		/* shift so that an optional COMMAND is argv[2] again */
		argv += 3;
		argc -= 3;
		cmd = argc > 2 ? argv[2] : NULL;
	}
	if (cmd && (argc > 4 || *cmd == '-' || !*cmd))
		usage();
	if (cmd && argc == 4)
		args = argv[3];
	env = getenv("QMP_TIMEOUT");
	if (env && *env && (!parse_secs(env, &timeout) || !timeout))
		fail(EXIT_USAGE, "bad QMP_TIMEOUT '%s'", env);

	signal(SIGPIPE, SIG_IGN);
	rbuf = malloc(LINE_MAX_LEN + 1);
	if (!rbuf)
		fail(EXIT_CONN, "out of memory");

	if (strlen(path) >= sizeof(sun.sun_path))
		fail(EXIT_CONN, "%s: socket path too long", path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		fail(EXIT_CONN, "socket: %s", strerror(errno));
	if (connect(sock, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		fail(EXIT_CONN, "connect %s: %s", path, strerror(errno));

	line = read_line(now_s() + timeout);
	if (!line)
		fail(EXIT_TIMEOUT, "timeout waiting for the QMP greeting");
	if (!find_key(line, "QMP"))
		fail(EXIT_CONN, "unexpected greeting: %.200s", line);

	check_error(qmp_exec("qmp_capabilities", NULL, timeout));

	/* The event timeout runs from here: the command's time counts. */
	deadline = now_s() + ev_timeout;
	if (cmd) {
		line = qmp_exec(cmd, args, timeout);
		check_error(line);
		printf("%s\n", line);
		fflush(stdout);
	}
	if (!want_event)
		return ferror(stdout) ? EXIT_CONN : 0;

	while (!got_event) {
		line = read_line(deadline);
		if (!line)
			fail(EXIT_QMP_ERROR, "timeout waiting for event %s", want_event);
		if (is_wanted_event(line))
			got_event = line;
	}
	printf("%s\n", got_event);
	fflush(stdout);
	return ferror(stdout) ? EXIT_CONN : 0;
}
