/*
 * Small utilities with no state: errno and signal names, I/O loops, fd
 * passing over a unix socket, number parsing, wait statuses, /proc reads.
 */
#ifndef IGLOO_UTIL_H
#define IGLOO_UTIL_H

#include <stddef.h>
#include <sys/types.h>

const char *errno_name(int err, char *buf, size_t n);
const char *signal_name(int sig, char *buf, size_t n);
int write_all(int fd, const void *buf, size_t n);
ssize_t read_full(int fd, void *buf, size_t n);
int send_fd(int sock, int fd);
int recv_fd(int sock);
int parse_ulong(const char *s, int base, unsigned long *out);
void sanitize_line(char *s);
void status_text(int status, char *buf, size_t n);
int status_exit_code(int status);
unsigned long long proc_start_time(long pid); /* field 22 of /proc/PID/stat; 0: gone */

#endif
