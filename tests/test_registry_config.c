/* test_registry_config.c - defaults, the WSDBG_* variables good and bad
 * (DESIGN.md's environment table), and the decoder settings they imply. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "wsdbg/registry.h"

/* A fake environment: NULL-terminated name/value pairs, and the warnings
 * it received. */
struct env {
	const char *const *vars;
	char warnings[8][256];
	int nwarnings;
};

static const char *lookup(const char *name, void *ctx)
{
	struct env *e = ctx;

	for (size_t i = 0; e->vars[i]; i += 2)
		if (strcmp(e->vars[i], name) == 0)
			return e->vars[i + 1];
	return NULL;
}

static void warn(const char *line, void *ctx)
{
	struct env *e = ctx;

	cr_assert_lt(e->nwarnings, 8);
	snprintf(e->warnings[e->nwarnings++], 256, "%s", line);
}

/* cfg from defaults plus one variable; *e holds the warnings. */
static struct registry_config read_one(struct env *e, const char *name,
				       const char *value, int want_bad)
{
	const char *vars[] = {name, value, NULL};
	struct registry_config cfg;

	*e = (struct env){.vars = vars};
	registry_config_defaults(&cfg);
	cr_assert_eq(registry_config_from_env(&cfg, lookup, warn, e),
		     want_bad, "%s='%s'", name, value);
	cr_assert_eq(e->nwarnings, want_bad);
	e->vars = NULL;
	return cfg;
}

Test(registry_config, defaults_are_the_documented_ones)
{
	struct registry_config cfg;

	registry_config_defaults(&cfg);
	cr_assert_eq(cfg.max_connections, 50);
	cr_assert_eq(cfg.max_messages, 100);
	cr_assert_eq(cfg.max_message_size, 10240);
	cr_assert_not(cfg.show_binary);
	cr_assert_eq(cfg.binary_preview, 256);
	cr_assert_eq(cfg.ttl, 3600);
	cr_assert_eq(cfg.max_memory, 8u << 20);
	cr_assert_eq(cfg.max_conn_memory, 100u << 10);
	cr_assert_eq(cfg.max_held, 8u << 20);
	cr_assert_eq(cfg.max_conn_held, 100u << 10);
	cr_assert_eq(cfg.max_inflate, 1u << 20);
	cr_assert(cfg.inflate);
	cr_assert_not(cfg.metadata_only);
}

Test(registry_config, an_empty_environment_changes_nothing)
{
	const char *vars[] = {NULL};
	struct env e = {.vars = vars};
	struct registry_config cfg, def;

	registry_config_defaults(&cfg);
	registry_config_defaults(&def);
	cr_assert_eq(registry_config_from_env(&cfg, lookup, warn, &e), 0);
	cr_assert_eq(e.nwarnings, 0);
	cr_assert_eq(cfg.max_connections, def.max_connections);
	cr_assert_eq(cfg.max_messages, def.max_messages);
	cr_assert_eq(cfg.max_message_size, def.max_message_size);
	cr_assert_eq(cfg.show_binary, def.show_binary);
	cr_assert_eq(cfg.binary_preview, def.binary_preview);
	cr_assert_eq(cfg.ttl, def.ttl);
	cr_assert_eq(cfg.max_memory, def.max_memory);
	cr_assert_eq(cfg.inflate, def.inflate);
	cr_assert_eq(cfg.max_inflate, def.max_inflate);
	cr_assert_eq(cfg.metadata_only, def.metadata_only);
}

Test(registry_config, every_variable_is_read_when_good)
{
	const char *vars[] = {
		"WSDBG_MAX_CONNECTIONS", "7",  "WSDBG_MAX_MESSAGES", "12",
		"WSDBG_MAX_MESSAGE_SIZE", "300", "WSDBG_SHOW_BINARY", "1",
		"WSDBG_BINARY_PREVIEW", "16", "WSDBG_TTL", "0",
		"WSDBG_MAX_MEMORY", "65536", "WSDBG_INFLATE", "0",
		"WSDBG_CAPTURE", "metadata", "WSDBG_MAX_INFLATE", "20000",
		NULL};
	struct env e = {.vars = vars};
	struct registry_config cfg;

	registry_config_defaults(&cfg);
	cr_assert_eq(registry_config_from_env(&cfg, lookup, warn, &e), 0);
	cr_assert_eq(e.nwarnings, 0);
	cr_assert_eq(cfg.max_connections, 7);
	cr_assert_eq(cfg.max_messages, 12);
	cr_assert_eq(cfg.max_message_size, 300);
	cr_assert(cfg.show_binary);
	cr_assert_eq(cfg.binary_preview, 16);
	cr_assert_eq(cfg.ttl, 0);
	cr_assert_eq(cfg.max_memory, 65536);
	cr_assert_not(cfg.inflate);
	cr_assert(cfg.metadata_only);
	cr_assert_eq(cfg.max_inflate, 20000);
}

Test(registry_config, max_inflate_takes_suffixes_and_is_capped_at_64m)
{
	struct env e;

	cr_assert_eq(read_one(&e, "WSDBG_MAX_INFLATE", "256K", 0).max_inflate,
		     256u << 10);
	cr_assert_eq(read_one(&e, "WSDBG_MAX_INFLATE", "16M", 0).max_inflate,
		     16u << 20);
	cr_assert_eq(read_one(&e, "WSDBG_MAX_INFLATE", "1G", 1).max_inflate,
		     64u << 20);
	cr_assert_str_eq(e.warnings[0], "wsdbg: WSDBG_MAX_INFLATE='1G' is "
					"more than 64M; using 64M");
	cr_assert_eq(read_one(&e, "WSDBG_MAX_INFLATE", "0", 1).max_inflate,
		     1u << 20);
	cr_assert_str_eq(e.warnings[0], "wsdbg: WSDBG_MAX_INFLATE='0' is not "
					"a size (bytes, or with K, M or G); "
					"using 1M");
}

Test(registry_config, max_memory_takes_k_m_and_g_suffixes)
{
	struct env e;

	cr_assert_eq(read_one(&e, "WSDBG_MAX_MEMORY", "8M", 0).max_memory,
		     8u << 20);
	cr_assert_eq(read_one(&e, "WSDBG_MAX_MEMORY", "512k", 0).max_memory,
		     512u << 10);
	cr_assert_eq(read_one(&e, "WSDBG_MAX_MEMORY", "1G", 0).max_memory,
		     1u << 30);
	cr_assert_eq(read_one(&e, "WSDBG_MAX_MEMORY", "1000", 0).max_memory,
		     1000);
}

Test(registry_config, capture_full_keeps_content)
{
	struct env e;

	cr_assert_not(read_one(&e, "WSDBG_CAPTURE", "full", 0).metadata_only);
}

Test(registry_config, a_word_where_a_number_belongs_warns_and_keeps_default)
{
	struct env e;

	cr_assert_eq(read_one(&e, "WSDBG_MAX_MESSAGES", "abc", 1).max_messages,
		     100);
	cr_assert_str_eq(e.warnings[0], "wsdbg: WSDBG_MAX_MESSAGES='abc' is "
					"not a positive integer; using 100");
}

Test(registry_config, zero_where_a_positive_number_belongs_is_refused)
{
	struct env e;

	cr_assert_eq(read_one(&e, "WSDBG_MAX_CONNECTIONS", "0", 1)
			     .max_connections,
		     50);
	cr_assert_str_eq(e.warnings[0], "wsdbg: WSDBG_MAX_CONNECTIONS='0' is "
					"not a positive integer; using 50");
	cr_assert_eq(read_one(&e, "WSDBG_MAX_MESSAGE_SIZE", "0", 1)
			     .max_message_size,
		     10240);
	cr_assert_eq(read_one(&e, "WSDBG_BINARY_PREVIEW", "0", 1)
			     .binary_preview,
		     256);
}

Test(registry_config, trailing_junk_signs_and_spaces_are_refused)
{
	static const char *const bad[] = {"12x", "-5", "+5", " 5", "5 ",
					  "0x10", "", "1.5"};
	struct env e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[128];

		cr_assert_eq(read_one(&e, "WSDBG_MAX_MESSAGES", bad[i], 1)
				     .max_messages,
			     100);
		snprintf(want, sizeof(want),
			 "wsdbg: WSDBG_MAX_MESSAGES='%s' is not a positive "
			 "integer; using 100",
			 bad[i]);
		cr_assert_str_eq(e.warnings[0], want);
	}
}

Test(registry_config, a_number_beyond_64_bits_warns_and_keeps_default)
{
	struct env e;

	cr_assert_eq(read_one(&e, "WSDBG_TTL", "99999999999999999999999", 1)
			     .ttl,
		     3600);
	cr_assert_str_eq(e.warnings[0], "wsdbg: WSDBG_TTL='99999999999999999999"
					"999' is too large; using 3600");
}

Test(registry_config, an_absurdly_large_value_is_capped_with_a_warning)
{
	struct env e;

	cr_assert_eq(read_one(&e, "WSDBG_MAX_MESSAGES", "5000000000", 1)
			     .max_messages,
		     100000);
	cr_assert_str_eq(e.warnings[0], "wsdbg: WSDBG_MAX_MESSAGES='5000000000'"
					" is more than 100000; using 100000");
	cr_assert_eq(read_one(&e, "WSDBG_MAX_CONNECTIONS", "4294967297", 1)
			     .max_connections,
		     100000);
	cr_assert_eq(read_one(&e, "WSDBG_MAX_MESSAGE_SIZE", "999999999", 1)
			     .max_message_size,
		     16u << 20);
	cr_assert_eq(read_one(&e, "WSDBG_BINARY_PREVIEW", "999999999", 1)
			     .binary_preview,
		     1u << 20);
	cr_assert_eq(read_one(&e, "WSDBG_TTL", "999999999", 1).ttl,
		     30u * 24 * 3600);
	cr_assert_eq(read_one(&e, "WSDBG_MAX_MEMORY", "64G", 1).max_memory,
		     (size_t)4 << 30);
	cr_assert_str_eq(e.warnings[0], "wsdbg: WSDBG_MAX_MEMORY='64G' is more "
					"than 4G; using 4G");
}

Test(registry_config, a_bad_size_names_the_accepted_forms)
{
	struct env e;

	cr_assert_eq(read_one(&e, "WSDBG_MAX_MEMORY", "8MB", 1).max_memory,
		     8u << 20);
	cr_assert_str_eq(e.warnings[0],
			 "wsdbg: WSDBG_MAX_MEMORY='8MB' is not a size (bytes, "
			 "or with K, M or G); using 8M");
	read_one(&e, "WSDBG_MAX_MEMORY", "0", 1);
	read_one(&e, "WSDBG_MAX_MEMORY", "M", 1);
	read_one(&e, "WSDBG_MAX_MEMORY", "99999999999G", 1);
	cr_assert_str_eq(e.warnings[0], "wsdbg: WSDBG_MAX_MEMORY='99999999999G'"
					" is too large; using 8M");
}

Test(registry_config, switches_accept_only_0_and_1)
{
	struct env e;

	cr_assert_not(read_one(&e, "WSDBG_SHOW_BINARY", "yes", 1).show_binary);
	cr_assert_str_eq(e.warnings[0], "wsdbg: WSDBG_SHOW_BINARY='yes' is not "
					"0 or 1; using 0");
	cr_assert(read_one(&e, "WSDBG_INFLATE", "true", 1).inflate);
	cr_assert_str_eq(e.warnings[0], "wsdbg: WSDBG_INFLATE='true' is not 0 "
					"or 1; using 1");
	cr_assert(read_one(&e, "WSDBG_INFLATE", "1", 0).inflate);
	cr_assert_not(read_one(&e, "WSDBG_SHOW_BINARY", "0", 0).show_binary);
}

Test(registry_config, capture_accepts_only_full_and_metadata)
{
	struct env e;

	cr_assert_not(read_one(&e, "WSDBG_CAPTURE", "none", 1).metadata_only);
	cr_assert_str_eq(e.warnings[0], "wsdbg: WSDBG_CAPTURE='none' is not "
					"full or metadata; using full");
	read_one(&e, "WSDBG_CAPTURE", "FULL", 1);
}

Test(registry_config, a_hostile_value_is_shown_on_one_short_line)
{
	struct env e;

	read_one(&e, "WSDBG_MAX_MESSAGES",
		 "a\nb\033[31m" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		 1);
	cr_assert_str_eq(e.warnings[0],
			 "wsdbg: WSDBG_MAX_MESSAGES='a?b?[31mxxxxxxxxxxxxxxxx"
			 "xxxxxxxxxxxxxxxx...' is not a positive integer; using "
			 "100");
}

Test(registry_config, each_bad_variable_warns_once_and_the_count_adds_up)
{
	const char *vars[] = {"WSDBG_MAX_CONNECTIONS", "x", "WSDBG_TTL", "-1",
			      "WSDBG_INFLATE", "2", "WSDBG_MAX_MESSAGES", "7",
			      NULL};
	struct env e = {.vars = vars};
	struct registry_config cfg;

	registry_config_defaults(&cfg);
	cr_assert_eq(registry_config_from_env(&cfg, lookup, warn, &e), 3);
	cr_assert_eq(e.nwarnings, 3);
	cr_assert_str_eq(e.warnings[1], "wsdbg: WSDBG_TTL='-1' is not a "
					"non-negative integer; using 3600");
	cr_assert_eq(cfg.max_messages, 7);
}

Test(registry_config, decoder_keeps_text_up_to_max_message_size)
{
	struct registry_config cfg;
	struct ws_decoder_config dc = {.from_client = true, .deflate = true};

	registry_config_defaults(&cfg);
	registry_decoder_config(&cfg, &dc);
	cr_assert_eq(dc.keep_text, 10240);
	cr_assert_eq(dc.keep_binary, 0, "binary hidden by default");
	cr_assert(dc.inflate);
	cr_assert_eq(dc.max_inflate, 1u << 20, "inflating is capped");
	cr_assert(dc.from_client, "direction settings are left alone");
	cr_assert(dc.deflate);
	cr_assert(dc.borrow_masked, "the registry unmasks what it stores");
	cr_assert(dc.defer_utf8, "and judges its UTF-8 as it copies it");
}

Test(registry_config, decoder_keeps_a_binary_preview_when_shown)
{
	struct registry_config cfg;
	struct ws_decoder_config dc = {0};

	registry_config_defaults(&cfg);
	cfg.show_binary = true;
	cfg.binary_preview = 64;
	cfg.inflate = false;
	registry_decoder_config(&cfg, &dc);
	cr_assert_eq(dc.keep_binary, 64);
	cr_assert_not(dc.inflate);
}

Test(registry_config, metadata_capture_keeps_no_content_in_the_decoder)
{
	struct registry_config cfg;
	struct ws_decoder_config dc = {0};

	registry_config_defaults(&cfg);
	cfg.show_binary = true;
	cfg.metadata_only = true;
	registry_decoder_config(&cfg, &dc);
	cr_assert_eq(dc.keep_text, 0);
	cr_assert_eq(dc.keep_binary, 0);
}

Test(registry_config, max_memory_caps_everything_held_and_so_the_stored_data)
{
	struct env e;
	struct registry_config cfg = read_one(&e, "WSDBG_MAX_MEMORY", "2M", 0);

	cr_assert_eq(cfg.max_held, 2u << 20);
	cr_assert_eq(cfg.max_memory, 2u << 20);
	/* Per connection nothing changes. */
	cr_assert_eq(cfg.max_conn_held, 100u << 10);
	cfg = read_one(&e, "WSDBG_MAX_MEMORY", "lots", 1);
	cr_assert_eq(cfg.max_held, 8u << 20);
	cr_assert_eq(cfg.max_memory, 8u << 20);
}
