/* A build without OpenSSL (no libssl-dev): TLS loads stay with the Python load generator. */
#include "common.h"
#include "tls.h"

int tls_built(void) { return 0; }

const char *tls_failure(void) { return "this load generator was built without OpenSSL"; }

struct tls *tls_start(int fd, const char *host, int resume) {
    (void)fd, (void)host, (void)resume;
    return NULL;
}

enum tls_step tls_handshake(struct tls *t) { return (void)t, TLS_FAILED; }

ssize_t tls_send(struct tls *t, const void *data, size_t size) { return (void)t, (void)data, (void)size, -1; }

ssize_t tls_receive(struct tls *t, void *buffer, size_t size, struct reading *when) {
    return (void)t, (void)buffer, (void)size, (void)when, -1;
}

int tls_buffered(struct tls *t) { return (void)t, 0; }

int tls_resumed(struct tls *t) { return (void)t, 0; }

void tls_free(struct tls *t) { (void)t; }
