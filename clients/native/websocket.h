/* The WebSocket opening handshake of a client, with Sec-WebSocket-Accept checked. */
#ifndef LOAD_WEBSOCKET_H
#define LOAD_WEBSOCKET_H
#include "channel.h"
/* On a connected blocking socket (plain or TLS): NULL once upgraded, else why not (one line). */
const char *ws_handshake(struct channel *channel, const char *host);
#endif
