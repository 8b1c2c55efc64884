/* What every part of the native worker shares: the system headers, the clock, and failing
 * in one line. */
#ifndef LOAD_COMMON_H
#define LOAD_COMMON_H
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int64_t now_ns(void);                                        /* CLOCK_MONOTONIC */
int64_t cpu_ns(void);                                        /* this process's CPU time */
void die(int status, const char *format, const char *detail); /* one line on stderr, exit */
void *allocate(size_t size);                                 /* zeroed, or die */
void random_bytes(void *into, size_t size);
#endif
