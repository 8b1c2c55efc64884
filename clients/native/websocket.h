/* The WebSocket opening handshake of a client, with Sec-WebSocket-Accept checked. */
#ifndef LOAD_WEBSOCKET_H
#define LOAD_WEBSOCKET_H
#include <stddef.h>

#include "channel.h"

#define WS_RESPONSE_MAX 4096

/* The upgrade request for `host` into `out`, its fresh key into `key`: the request's length. */
int ws_request(char *out, size_t size, const char *host, char key[32]);
/* NULL when `response` (up to and including its blank line) accepts the upgrade `key` asked
 * for, else why not (one line). */
const char *ws_accepted(char *response, const char *key);
/* On a connected blocking socket (plain or TLS): NULL once upgraded, else why not (one line). */
const char *ws_handshake(struct channel *channel, const char *host);
#endif
