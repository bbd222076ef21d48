/*
 * atfork_writer.c - fork handlers that write a WebSocket frame
 * (atfork_writer.h). The handlers only format into a stack buffer and
 * call write(), so that they are safe in the child of a threaded
 * process.
 */
#include "atfork_writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define ATFORK_WRITER_API __attribute__((visibility("default")))

static atomic_int writer_fd = -1;
/* The number of the fork under way; the child inherits it. */
static unsigned writer_forks;
static atomic_bool writer_ok = true;

/* Writes "<what> NNNNN" as one masked text frame with one write(). */
static void writer_frame(const char *what, unsigned n)
{
	int fd = atomic_load(&writer_fd);
	if (fd < 0)
		return;
	uint8_t frame[2 + 4 + 32];
	size_t len = strlen(what);
	uint8_t *payload = frame + 6;
	memcpy(payload, what, len);
	payload[len++] = ' ';
	for (int d = 4; d >= 0; d--, n /= 10)
		payload[len + (size_t)d] = (uint8_t)('0' + n % 10);
	len += 5;
	frame[0] = 0x80 | 0x1;		/* FIN, text */
	frame[1] = 0x80 | (uint8_t)len; /* masked, len < 126 */
	memset(frame + 2, 0, 4);	/* masking key 0 */
	ssize_t sent = write(fd, frame, 6 + len);
	if (sent != (ssize_t)(6 + len))
		atomic_store(&writer_ok, false);
}

static void writer_prepare(void)
{
	writer_frame("prepare", writer_forks);
}

static void writer_child(void)
{
	atomic_store(&writer_ok, true); /* the child's own frame from here */
	writer_frame("child", writer_forks);
}

static void writer_parent(void)
{
	writer_forks++;
}

__attribute__((constructor)) static void writer_init(void)
{
	pthread_atfork(writer_prepare, writer_parent, writer_child);
}

ATFORK_WRITER_API void atfork_writer_set_fd(int fd)
{
	atomic_store(&writer_fd, fd);
}

ATFORK_WRITER_API bool atfork_writer_ok(void)
{
	return atomic_load(&writer_ok);
}

ATFORK_WRITER_API unsigned atfork_writer_forks(void)
{
	return writer_forks;
}
