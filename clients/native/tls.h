/* TLS over a connected socket, through OpenSSL (tls.c), or a build without it (no_tls.c):
 * full handshakes, the certificate not verified (benchmarks measure TLS, not a PKI). */
#ifndef LOAD_TLS_H
#define LOAD_TLS_H
#include <stddef.h>
#include <sys/types.h>

#include "receive.h"

struct tls;

int tls_built(void); /* whether this build has TLS */
enum tls_step { TLS_DONE, TLS_WANTS_READ, TLS_WANTS_WRITE, TLS_FAILED };

/* A client session on a connected socket, its handshake not begun. `resume`: offer the last
 * session this process was given (the server's newest ticket). */
struct tls *tls_start(int fd, const char *host, int resume);
/* The handshake, as far as the socket lets it go; TLS_FAILED: tls_failure() says why. On a
 * blocking socket (its timeouts apply) it is done or failed in one call. */
enum tls_step tls_handshake(struct tls *t);
/* As send(MSG_NOSIGNAL) and receive.h's receive(): -1 with errno EAGAIN when the socket
 * would block, 0 from tls_receive at the peer's close; a TLS failure is -1 with errno EPROTO
 * and its reason in tls_failure(). The arrival stamp is the last raw read's. */
ssize_t tls_send(struct tls *t, const void *data, size_t size);
ssize_t tls_receive(struct tls *t, void *buffer, size_t size, struct reading *when);
int tls_buffered(struct tls *t); /* bytes read from the socket that tls_receive has not returned */
int tls_resumed(struct tls *t);  /* whether the handshake resumed a session */
const char *tls_failure(void);
void tls_free(struct tls *t); /* close_notify sent if it can be at once; the socket stays open */
#endif
