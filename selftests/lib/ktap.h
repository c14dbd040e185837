/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tiny KTAP-like reporting for the selftests.
 * Exit codes: 0 pass, 1 fail, 4 skip.
 */
#ifndef IVF_KTAP_H
#define IVF_KTAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define KTAP_PASS	0
#define KTAP_FAIL	1
#define KTAP_SKIP	4

struct ktap {
	int n;
	int failed;
};

extern struct ktap ktap_state;

static inline void ktap_header(const char *name)
{
	printf("KTAP version 1\n# %s\n", name);
	fflush(stdout);
}

__attribute__((format(printf, 2, 3)))
static inline bool ktap_check(bool ok, const char *fmt, ...)
{
	va_list ap;

	ktap_state.n++;
	if (!ok)
		ktap_state.failed++;
	printf("%sok %d - ", ok ? "" : "not ", ktap_state.n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return ok;
}

__attribute__((format(printf, 1, 2)))
static inline void ktap_info(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

__attribute__((format(printf, 1, 2), noreturn))
static inline void ktap_skip_all(const char *fmt, ...)
{
	va_list ap;

	printf("# SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n1..%d\n", ktap_state.n);
	fflush(stdout);
	exit(KTAP_SKIP);
}

__attribute__((noreturn))
static inline void ktap_finish(void)
{
	printf("1..%d\n# %d checks, %d failed\n", ktap_state.n, ktap_state.n,
	       ktap_state.failed);
	fflush(stdout);
	exit(ktap_state.failed ? KTAP_FAIL : KTAP_PASS);
}

/* define the state once per program */
#define KTAP_DEFINE_STATE() struct ktap ktap_state

#endif /* IVF_KTAP_H */
