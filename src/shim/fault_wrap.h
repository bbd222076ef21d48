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

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
enum ws_decode_status __real_ws_decoder_feed(struct ws_decoder *d,
					     const uint8_t *buf, size_t len,
					     size_t *consumed,
					     struct ws_message *msg);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
enum ws_decode_status __wrap_ws_decoder_feed(struct ws_decoder *d,
					     const uint8_t *buf, size_t len,
					     size_t *consumed,
					     struct ws_message *msg);

#endif
