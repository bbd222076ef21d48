/*
 * fault_wrap.h - TEST-ONLY: the functions the linker's --wrap redirects
 * (fault_inject_wrapped in src/shim/meson.build). A program linked with
 * fault_inject_link_args defines the __wrap_ ones; the __real_ ones are
 * the originals. Used by fault_inject.c (libwsdbg-faulty.so) and by
 * tests/test_registry_faults.c, each with its own failing allocator.
 */
#ifndef WSDBG_SHIM_FAULT_WRAP_H
#define WSDBG_SHIM_FAULT_WRAP_H

#include <stddef.h>
#include <stdint.h>

#include "wsdbg/ws_decoder.h"

/* The original (__real_) and the replacement (__wrap_) of each one. */
#define FAULT_WRAP(ret, name, params) \
	ret __real_##name params;      \
	ret __wrap_##name params;

FAULT_WRAP(void *, malloc, (size_t n))
FAULT_WRAP(void *, calloc, (size_t n, size_t size))
FAULT_WRAP(void *, realloc, (void *p, size_t n))
FAULT_WRAP(char *, strdup, (const char *s))
FAULT_WRAP(enum ws_decode_status, ws_decoder_feed,
	   (struct ws_decoder *d, const uint8_t *buf, size_t len,
	    size_t *consumed, struct ws_message *msg))

#undef FAULT_WRAP

#endif
