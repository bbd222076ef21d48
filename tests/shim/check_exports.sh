#!/bin/bash
# libwsdbg.so must export the interposed C library functions and nothing
# else (STYLE.md: hidden symbols). Usage: check_exports.sh LIBWSDBG
set -eu
export LC_ALL=C  # byte order, as the list below is sorted
lib=$1
expected='_Exit
__read_chk
__recv_chk
__recvfrom_chk
__sigaction
__sysv_signal
_exit
accept
accept4
bsd_signal
close
close_range
closefrom
dup
dup2
dup3
fcntl
fcntl64
listen
open
open64
openat
openat64
pipe
pipe2
read
readv
recv
recvfrom
recvmmsg
recvmsg
send
sendfile
sendfile64
sendmmsg
sendmsg
sendto
sigaction
siginterrupt
signal
sigset
socket
socketpair
splice
ssignal
sysv_signal
write
writev'
actual=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' |
	grep -v '^_init$\|^_fini$' | sort)
if [ "$actual" = "$expected" ]; then
	echo "exports: $(echo "$actual" | wc -l) symbols, all interposed libc names"
	echo "1 passed, 0 failed"
else
	echo "unexpected export list; differences (< expected, > actual):"
	diff <(echo "$expected") <(echo "$actual") || true
	echo "0 passed, 1 failed"
	exit 1
fi
