/*
 * fault_inject.h - TEST-ONLY fault injection, built into
 * libwsdbg-faulty.so (tests/shim) and never into libwsdbg.so.
 *
 * The faulty library is linked from the same objects as the real one
 * with the linker's --wrap for malloc, calloc, realloc, strdup and
 * ws_decoder_feed, so every allocation wsdbg makes (core, registry,
 * capture, shim) and every call capture makes into the frame decoder goes
 * through fault_inject.c, which fails them as the environment asks:
 *
 *   WSDBG_FAULT_ALLOC=PLAN    allocations return NULL (errno ENOMEM)
 *   WSDBG_FAULT_DECODER=PLAN  ws_decoder_feed claims to have used one byte
 *                             more than it was given (a broken contract,
 *                             which capture must catch)
 *   WSDBG_FAULT_SHARED_FDS=1  the stats server keeps its descriptors in
 *                             the host's table (fault_inject_shared_fds)
 *
 * PLAN counts the calls made while armed on a thread that is not exempt,
 * from 1: "every:K" fails every K-th (every:1, all of them), "once:N" only
 * the N-th, "from:N" the N-th and every one after. Unset or malformed:
 * nothing fails.
 *
 * Armed only once the shim is set up (the constructor) and until its
 * destructor starts; the stats server thread is exempt, so snapshots can
 * still be taken of what the faults did.
 */
#ifndef WSDBG_SHIM_FAULT_INJECT_H
#define WSDBG_SHIM_FAULT_INJECT_H

#include <stdbool.h>

/* Reads the plans (first arming only) and arms or disarms them. */
void fault_inject_arm(bool on);

/* Nothing fails on the calling thread from now on. */
void fault_inject_exempt_thread(void);

/* Exempts the calling thread (on) or not; returns what it was. */
bool fault_inject_exempt_set(bool on);

/* WSDBG_FAULT_SHARED_FDS=1: the stats server's thread is refused a
 * descriptor table of its own, as by a kernel older than Linux 5.9, so
 * its descriptors live in the host's table (own_fds.h). */
bool fault_inject_shared_fds(void);

#endif
