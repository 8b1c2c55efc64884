/* TLS through OpenSSL. One context per process; each connection's raw reads go through a
 * BIO of our own that calls receive(), so a TLS reply carries the kernel's arrival stamp as
 * a plain one does. Read-ahead on: one recvmsg takes whatever records have arrived, and the
 * caller drains what is buffered (tls_buffered) before waiting for the socket again. */
#include "common.h"
#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#define READ_AHEAD (64 * 1024)

struct tls {
    SSL *ssl;
    int fd;
    struct reading last; /* the last raw read's stamps */
};

static SSL_CTX *context;
static BIO_METHOD *method;
static SSL_SESSION *last_session; /* the newest ticket the server gave, for --tls-resume */
static char failure[200];

int tls_built(void) { return 1; }

const char *tls_failure(void) { return failure; }

static void remember_failure(const char *doing) {
    unsigned long code = ERR_get_error();
    snprintf(failure, sizeof failure, "TLS %s: %s", doing,
             code ? ERR_reason_error_string(code) : errno ? strerror(errno) : "connection closed");
    ERR_clear_error();
}

static int bio_read(BIO *bio, char *out, int size) {
    struct tls *t = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    ssize_t got = receive(t->fd, out, (size_t)size, &t->last);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) BIO_set_retry_read(bio);
    return (int)got;
}

static int bio_write(BIO *bio, const char *data, int size) {
    struct tls *t = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    ssize_t sent = send(t->fd, data, (size_t)size, MSG_NOSIGNAL);
    if (sent < 0 && (errno == EAGAIN || errno == EINTR)) BIO_set_retry_write(bio);
    return (int)sent;
}

static long bio_control(BIO *bio, int command, long number, void *pointer) {
    (void)bio, (void)number, (void)pointer;
    return command == BIO_CTRL_FLUSH; /* writes are not buffered here */
}

static int new_session(SSL *ssl, SSL_SESSION *session) {
    (void)ssl;
    if (last_session) SSL_SESSION_free(last_session);
    last_session = session;
    return 1; /* kept: OpenSSL does not free it */
}

static void set_up(void) {
    context = SSL_CTX_new(TLS_client_method());
    method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "aionetbench socket");
    if (!context || !method) die(1, "TLS: %s", "cannot set up OpenSSL");
    BIO_meth_set_read(method, bio_read);
    BIO_meth_set_write(method, bio_write);
    BIO_meth_set_ctrl(method, bio_control);
    SSL_CTX_set_verify(context, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(context, SSL_OP_IGNORE_UNEXPECTED_EOF); /* a close without close_notify is 0 */
    SSL_CTX_set_read_ahead(context, 1);
    SSL_CTX_set_default_read_buffer_len(context, READ_AHEAD);
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(context, new_session);
}

struct tls *tls_start(int fd, const char *host, int resume) {
    if (!context) set_up();
    struct tls *t = allocate(sizeof *t);
    BIO *bio = BIO_new(method);
    t->ssl = SSL_new(context), t->fd = fd;
    if (!t->ssl || !bio) die(1, "TLS: %s", "out of memory");
    BIO_set_data(bio, t);
    BIO_set_init(bio, 1);
    SSL_set_bio(t->ssl, bio, bio);
    if (host && !strchr(host, ':') && !strspn(host, "0123456789.")) SSL_set_tlsext_host_name(t->ssl, host);
    if (resume && last_session) SSL_set_session(t->ssl, last_session);
    return t;
}

enum tls_step tls_handshake(struct tls *t) {
    errno = 0;
    int result = SSL_connect(t->ssl);
    if (result == 1) return TLS_DONE;
    int error = SSL_get_error(t->ssl, result);
    if (error == SSL_ERROR_WANT_READ) return TLS_WANTS_READ;
    if (error == SSL_ERROR_WANT_WRITE) return TLS_WANTS_WRITE;
    remember_failure("handshake");
    return TLS_FAILED;
}

/* -1 with errno set from what OpenSSL said about `result`. */
static ssize_t settle(struct tls *t, int result, const char *doing) {
    int error = SSL_get_error(t->ssl, result);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (error == SSL_ERROR_ZERO_RETURN) return 0; /* the peer's close_notify */
    if (error == SSL_ERROR_SYSCALL && errno) {
        ERR_clear_error();
        return -1;
    }
    remember_failure(doing);
    errno = EPROTO;
    return -1;
}

ssize_t tls_send(struct tls *t, const void *data, size_t size) {
    errno = 0;
    int written = SSL_write(t->ssl, data, size > INT32_MAX ? INT32_MAX : (int)size);
    return written > 0 ? written : settle(t, written, "write");
}

ssize_t tls_receive(struct tls *t, void *buffer, size_t size, struct reading *when) {
    errno = 0;
    int got = SSL_read(t->ssl, buffer, size > INT32_MAX ? INT32_MAX : (int)size);
    *when = t->last;
    return got > 0 ? got : settle(t, got, "read");
}

int tls_buffered(struct tls *t) { return SSL_has_pending(t->ssl); }

int tls_resumed(struct tls *t) { return SSL_session_reused(t->ssl); }

void tls_free(struct tls *t) {
    if (SSL_is_init_finished(t->ssl)) SSL_shutdown(t->ssl); /* our close_notify, not waiting for theirs */
    ERR_clear_error();
    SSL_free(t->ssl); /* and its BIO */
    free(t);
}
