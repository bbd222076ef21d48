/*
 * atfork_writer.h - libwsdbg-test-atfork-writer.so: a library whose fork
 * handlers write to a socket, the model of a logging or metrics client
 * that says "forking" and "forked" on its connection from
 * pthread_atfork handlers.
 *
 * Its constructor registers a prepare, a parent and a child handler. In
 * a program that links it (DT_NEEDED), that constructor runs before a
 * preloaded libwsdbg.so's (ld.so initialises the libraries the program
 * needs before the preloaded ones), so its handlers are registered
 * before the shim's: its prepare handler runs after the shim's, its
 * parent and child handlers before the shim's - all inside the shim's
 * fork window.
 *
 * Once a connection is named, each fork writes one masked WebSocket text
 * frame (RFC 6455 5.2, a zero masking key) to it with a single write():
 * "prepare NNNNN" from the parent just before the fork, "child NNNNN"
 * from the child just after it, NNNNN the fork's number from 0.
 */
#ifndef WSDBG_TEST_ATFORK_WRITER_H
#define WSDBG_TEST_ATFORK_WRITER_H

#include <stdbool.h>

/* The connection the handlers write to from now on (-1: none). Not
 * owned: the caller closes it. */
void atfork_writer_set_fd(int fd);

/* Whether every frame this process's handlers wrote went out whole: in a
 * fork child, whether the child handler's did. */
bool atfork_writer_ok(void);

/* Forks whose prepare handler ran in this process. */
unsigned atfork_writer_forks(void);

#endif
