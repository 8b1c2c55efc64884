/* TLS over a connected socket, through OpenSSL (tls.c), or a build without it (no_tls.c):
 * full handshakes, the certificate not verified (benchmarks measure TLS, not a PKI). */
#ifndef LOAD_TLS_H
#define LOAD_TLS_H
#include <stddef.h>
#include <sys/types.h>

#include "receive.h"

struct tls;

int tls_built(void); /* whether this build has TLS */
/* The client handshake on a connected blocking socket (its timeouts apply): the session, or
 * NULL with why not in `why`. `resume`: offer the last session this process was given. */
struct tls *tls_connect(int fd, const char *host, int resume, const char **why);
/* As send(MSG_NOSIGNAL) and receive.h's receive(): -1 with errno EAGAIN when the socket
 * would block, 0 from tls_receive at the peer's close; a TLS failure is -1 with errno EPROTO
 * and its reason in tls_failure(). The arrival stamp is the last raw read's. */
ssize_t tls_send(struct tls *t, const void *data, size_t size);
ssize_t tls_receive(struct tls *t, void *buffer, size_t size, struct reading *when);
int tls_buffered(struct tls *t); /* bytes read from the socket that tls_receive has not returned */
int tls_resumed(struct tls *t);  /* whether the handshake resumed a session */
const char *tls_failure(void);
void tls_free(struct tls *t); /* the socket stays open */
#endif
