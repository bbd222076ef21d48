/*
 * config.c - the registry's limits: defaults, and the WSDBG_* environment
 * variables (DESIGN.md's table) read strictly. A bad value never stops the
 * host: it gets one warning line and the default; a value beyond what is
 * sensible is capped, with a warning saying so.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsdbg/registry.h"

/* Caps on the numbers a user may ask for: beyond them wsdbg would cost the
 * host more memory or time than any debugging session needs. */
#define MAX_CONNECTIONS_CAP  100000u
#define MAX_MESSAGES_CAP     100000u
#define MAX_MESSAGE_SIZE_CAP (16u << 20)
#define BINARY_PREVIEW_CAP   (1u << 20)
#define TTL_CAP		     (30u * 24 * 3600) /* 30 days */
#define MAX_MEMORY_CAP	     (UINT64_C(4) << 30)
/* 64 MiB of inflating in one host call took 0.38 s here (a message of
 * zeros, plain build): more would stall a host noticeably. */
#define MAX_INFLATE_CAP	     (UINT64_C(64) << 20)

void registry_config_defaults(struct registry_config *cfg)
{
	*cfg = (struct registry_config){
	    .max_connections = 50,
	    .max_messages = 100,
	    .max_message_size = 10240,
	    .show_binary = false,
	    .binary_preview = 256,
	    .ttl = 3600,
	    .max_memory = REGISTRY_DEFAULT_MAX_MEMORY,
	    .max_conn_memory = 100u << 10,
	    .max_held = REGISTRY_DEFAULT_MAX_MEMORY,
	    .max_conn_held = 100u << 10,
	    .max_inflate = 1u << 20,
	    .inflate = true,
	    .metadata_only = false,
	};
}

/* Where warnings go and how variables are looked up. */
struct env {
	const char *(*lookup)(const char *name, void *ctx);
	void (*warn)(const char *line, void *ctx);
	void *ctx;
	int bad;
};

static const char *env_get(struct env *e, const char *name)
{
	return e->lookup ? e->lookup(name, e->ctx) : getenv(name);
}

/* The value as shown in a warning: at most 40 bytes, anything but
 * printable ASCII as '?', so that one line stays one harmless line. */
static void shown(char out[48], const char *v)
{
	size_t i;

	for (i = 0; v[i] && i < 40; i++)
		out[i] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
	if (v[i])
		memcpy(out + i, "...", 4);
	else
		out[i] = '\0';
}

__attribute__((format(printf, 4, 5))) static void
complain(struct env *e, const char *name, const char *v, const char *fmt, ...)
{
	char value[48], rest[160], line[320];
	va_list ap;

	e->bad++;
	if (!e->warn)
		return;
	shown(value, v);
	va_start(ap, fmt);
	vsnprintf(rest, sizeof(rest), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "wsdbg: %s='%s' %s", name, value, rest);
	e->warn(line, e->ctx);
}

enum parse { PARSE_OK, PARSE_BAD, PARSE_OVERFLOW };

/* Decimal digits only (no sign, no spaces, no "0x"), then optionally one
 * of the suffixes K, M, G (powers of 1024) when suffix is set. */
static enum parse parse_number(const char *s, bool suffix, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	bool overflow = false;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return PARSE_BAD;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		/* Read on after an overflow: junk after the digits is junk. */
		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			v = v * 10 + d;
	}
	if (suffix && *p) {
		switch (*p++) {
		case 'k':
		case 'K':
			mult = UINT64_C(1) << 10;
			break;
		case 'm':
		case 'M':
			mult = UINT64_C(1) << 20;
			break;
		case 'g':
		case 'G':
			mult = UINT64_C(1) << 30;
			break;
		default:
			return PARSE_BAD;
		}
	}
	if (*p)
		return PARSE_BAD;
	if (overflow || v > UINT64_MAX / mult)
		return PARSE_OVERFLOW;
	*out = v * mult;
	return PARSE_OK;
}

/* n as a size a user would type: "8M", "100K", "1000". */
static void format_size(char out[32], uint64_t n)
{
	static const char units[] = "GMK";

	for (int i = 0; i < 3; i++) {
		unsigned shift = 30 - 10 * (unsigned)i;

		if (n != 0 && n % (UINT64_C(1) << shift) == 0) {
			snprintf(out, 32, "%" PRIu64 "%c", n >> shift,
				 units[i]);
			return;
		}
	}
	snprintf(out, 32, "%" PRIu64, n);
}

/* What a number variable accepts. */
struct number_rule {
	uint64_t min; /* 0 or 1 */
	uint64_t cap;
	bool size; /* K/M/G suffixes, shown as sizes */
};

/* Reads variable name into *value, which holds the default and keeps it
 * when the variable is unset or bad. */
static void read_number(struct env *e, const char *name,
			const struct number_rule *rule, uint64_t *value)
{
	const char *v = env_get(e, name);
	char def[32], cap[32];
	uint64_t n = 0;
	enum parse res;

	if (!v)
		return;
	if (rule->size) {
		format_size(def, *value);
		format_size(cap, rule->cap);
	} else {
		snprintf(def, sizeof(def), "%" PRIu64, *value);
		snprintf(cap, sizeof(cap), "%" PRIu64, rule->cap);
	}
	res = parse_number(v, rule->size, &n);
	if (res == PARSE_OVERFLOW) {
		complain(e, name, v, "is too large; using %s", def);
	} else if (res == PARSE_BAD || n < rule->min) {
		if (rule->size)
			complain(e, name, v,
				 "is not a size (bytes, or with K, M or G); "
				 "using %s",
				 def);
		else if (rule->min > 0)
			complain(e, name, v,
				 "is not a positive integer; using %s", def);
		else
			complain(e, name, v,
				 "is not a non-negative integer; using %s",
				 def);
	} else if (n > rule->cap) {
		complain(e, name, v, "is more than %s; using %s", cap, cap);
		*value = rule->cap;
	} else {
		*value = n;
	}
}

static void read_bool(struct env *e, const char *name, bool *value)
{
	const char *v = env_get(e, name);

	if (!v)
		return;
	if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0)
		*value = v[0] == '1';
	else
		complain(e, name, v, "is not 0 or 1; using %d", *value);
}

static void read_capture(struct env *e, bool *metadata_only)
{
	const char *v = env_get(e, "WSDBG_CAPTURE");

	if (!v)
		return;
	if (strcmp(v, "full") == 0 || strcmp(v, "metadata") == 0)
		*metadata_only = strcmp(v, "metadata") == 0;
	else
		complain(e, "WSDBG_CAPTURE", v,
			 "is not full or metadata; using %s",
			 *metadata_only ? "metadata" : "full");
}

int registry_config_from_env(struct registry_config *cfg,
			     const char *(*lookup)(const char *name, void *ctx),
			     void (*warn)(const char *line, void *ctx),
			     void *ctx)
{
	static const struct number_rule connections = {1, MAX_CONNECTIONS_CAP,
						       false};
	static const struct number_rule messages = {1, MAX_MESSAGES_CAP, false};
	static const struct number_rule message_size = {1, MAX_MESSAGE_SIZE_CAP,
							false};
	static const struct number_rule preview = {1, BINARY_PREVIEW_CAP,
						   false};
	static const struct number_rule ttl = {0, TTL_CAP, false};
	static const struct number_rule memory = {1, MAX_MEMORY_CAP, true};
	static const struct number_rule inflate = {1, MAX_INFLATE_CAP, true};
	struct env e = {lookup, warn, ctx, 0};
	uint64_t n;

	n = cfg->max_connections;
	read_number(&e, "WSDBG_MAX_CONNECTIONS", &connections, &n);
	cfg->max_connections = (unsigned)n;
	n = cfg->max_messages;
	read_number(&e, "WSDBG_MAX_MESSAGES", &messages, &n);
	cfg->max_messages = (unsigned)n;
	n = cfg->max_message_size;
	read_number(&e, "WSDBG_MAX_MESSAGE_SIZE", &message_size, &n);
	cfg->max_message_size = (size_t)n;
	read_bool(&e, "WSDBG_SHOW_BINARY", &cfg->show_binary);
	n = cfg->binary_preview;
	read_number(&e, "WSDBG_BINARY_PREVIEW", &preview, &n);
	cfg->binary_preview = (size_t)n;
	n = cfg->ttl;
	read_number(&e, "WSDBG_TTL", &ttl, &n);
	cfg->ttl = (unsigned)n;
	/* One figure for the user: everything held (max_held), and so the
	 * stored data within it (max_memory). */
	n = cfg->max_held;
	read_number(&e, "WSDBG_MAX_MEMORY", &memory, &n);
	if (env_get(&e, "WSDBG_MAX_MEMORY"))
		cfg->max_held = cfg->max_memory = (size_t)n;
	read_bool(&e, "WSDBG_INFLATE", &cfg->inflate);
	n = cfg->max_inflate;
	read_number(&e, "WSDBG_MAX_INFLATE", &inflate, &n);
	cfg->max_inflate = (size_t)n;
	read_capture(&e, &cfg->metadata_only);
	return e.bad;
}

void registry_decoder_config(const struct registry_config *cfg,
			     struct ws_decoder_config *out)
{
	out->keep_text = cfg->metadata_only ? 0 : cfg->max_message_size;
	out->keep_binary =
	    cfg->show_binary && !cfg->metadata_only ? cfg->binary_preview : 0;
	out->inflate = cfg->inflate;
	out->max_inflate = cfg->max_inflate;
	/* What is kept is copied once more, into the registry
	 * (registry_batch_message), which unmasks it on the way and judges
	 * its UTF-8 in the same pass. */
	out->borrow_masked = true;
	out->defer_utf8 = true;
}
