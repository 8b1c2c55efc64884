/* The WebSocket opening handshake of a client, with Sec-WebSocket-Accept checked. */
#ifndef LOAD_WEBSOCKET_H
#define LOAD_WEBSOCKET_H
/* On a connected blocking socket: NULL once upgraded, else why not (one line). */
const char *ws_handshake(int fd, const char *host);
#endif
