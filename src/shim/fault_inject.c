/* fault_inject.c - TEST-ONLY allocation and decoder faults on demand
 * (fault_inject.h); linked only into libwsdbg-faulty.so. */
#define _GNU_SOURCE
#include "fault_inject.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fault_wrap.h"

enum fault_mode { FAULT_NEVER, FAULT_EVERY, FAULT_ONCE, FAULT_FROM };

struct fault_plan {
	enum fault_mode mode;
	unsigned long n;
	_Atomic unsigned long calls; /* counted while armed */
};

static struct fault_plan alloc_plan, decoder_plan;
static _Atomic bool armed;
static atomic_flag plans_read = ATOMIC_FLAG_INIT;
static __thread bool exempt __attribute__((tls_model("initial-exec")));

/* "every:K", "once:N", "from:N" with a positive decimal number. */
static void fault_plan_parse(struct fault_plan *p, const char *spec)
{
	static const struct {
		const char *prefix;
		enum fault_mode mode;
	} modes[] = {{"every:", FAULT_EVERY},
		     {"once:", FAULT_ONCE},
		     {"from:", FAULT_FROM}};
	p->mode = FAULT_NEVER;
	if (!spec)
		return;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		size_t len = strlen(modes[i].prefix);
		if (strncmp(spec, modes[i].prefix, len) != 0)
			continue;
		char *end;
		unsigned long n = strtoul(spec + len, &end, 10);
		if (end != spec + len && *end == '\0' && n > 0) {
			p->mode = modes[i].mode;
			p->n = n;
		}
		return;
	}
}

void fault_inject_arm(bool on)
{
	if (on && !atomic_flag_test_and_set(&plans_read)) {
		fault_plan_parse(&alloc_plan, getenv("WSDBG_FAULT_ALLOC"));
		fault_plan_parse(&decoder_plan, getenv("WSDBG_FAULT_DECODER"));
	}
	atomic_store(&armed, on);
}

void fault_inject_exempt_thread(void)
{
	exempt = true;
}

bool fault_inject_exempt_set(bool on)
{
	bool was = exempt;
	exempt = on;
	return was;
}

bool fault_inject_shared_fds(void)
{
	const char *v = getenv("WSDBG_FAULT_SHARED_FDS");
	return v && strcmp(v, "1") == 0;
}

/* Whether this call fails under plan p. */
static bool fault_now(struct fault_plan *p)
{
	if (p->mode == FAULT_NEVER || exempt || !atomic_load(&armed))
		return false;
	unsigned long call = atomic_fetch_add(&p->calls, 1) + 1;
	switch (p->mode) {
	case FAULT_EVERY:
		return call % p->n == 0;
	case FAULT_ONCE:
		return call == p->n;
	case FAULT_FROM:
		return call >= p->n;
	default:
		return false;
	}
}

void *__wrap_malloc(size_t n)
{
	if (fault_now(&alloc_plan)) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (fault_now(&alloc_plan)) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	if (fault_now(&alloc_plan)) {
		errno = ENOMEM;
		return NULL; /* p stays allocated, as with a real failure */
	}
	return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	if (fault_now(&alloc_plan)) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_strdup(s);
}

enum ws_decode_status __wrap_ws_decoder_feed(struct ws_decoder *d,
					     const uint8_t *buf, size_t len,
					     size_t *consumed,
					     struct ws_message *msg)
{
	enum ws_decode_status st =
		__real_ws_decoder_feed(d, buf, len, consumed, msg);
	if (fault_now(&decoder_plan))
		*consumed = len + 1;
	return st;
}
