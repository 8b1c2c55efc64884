#include "common.h"
#include "websocket.h"

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; /* RFC 6455 1.3 */

static void sha1(const unsigned char *data, size_t length, unsigned char digest[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t padded = ((length + 8) / 64 + 1) * 64;
    unsigned char *message = allocate(padded);
    memcpy(message, data, length);
    message[length] = 0x80;
    for (int i = 0; i < 8; i++) message[padded - 1 - i] = (unsigned char)((uint64_t)length * 8 >> (8 * i));
    for (size_t chunk = 0; chunk < padded; chunk += 64) {
        uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)message[chunk + 4 * i] << 24 | (uint32_t)message[chunk + 4 * i + 1] << 16 |
                   (uint32_t)message[chunk + 4 * i + 2] << 8 | message[chunk + 4 * i + 3];
        for (int i = 16; i < 80; i++) {
            uint32_t x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
            w[i] = x << 1 | x >> 31;
        }
        for (int i = 0; i < 80; i++) {
            uint32_t f = i < 20 ? (b & c) | (~b & d) : i < 40 ? b ^ c ^ d
                       : i < 60 ? (b & c) | (b & d) | (c & d) : b ^ c ^ d;
            uint32_t k = i < 20 ? 0x5A827999 : i < 40 ? 0x6ED9EBA1 : i < 60 ? 0x8F1BBCDC : 0xCA62C1D6;
            uint32_t t = (a << 5 | a >> 27) + f + e + k + w[i];
            e = d, d = c, c = b << 30 | b >> 2, b = a, a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    for (int i = 0; i < 20; i++) digest[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
    free(message);
}

static void base64(const unsigned char *data, size_t length, char *out) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < length; i += 3) {
        uint32_t n = (uint32_t)data[i] << 16 | (i + 1 < length ? data[i + 1] << 8 : 0) |
                     (i + 2 < length ? data[i + 2] : 0);
        *out++ = alphabet[n >> 18 & 63], *out++ = alphabet[n >> 12 & 63];
        *out++ = i + 1 < length ? alphabet[n >> 6 & 63] : '=';
        *out++ = i + 2 < length ? alphabet[n & 63] : '=';
    }
    *out = 0;
}

/* The header's value, or NULL; `headers` is the response up to its blank line. */
static const char *header_value(const char *headers, const char *name, size_t *length) {
    for (const char *line = strstr(headers, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *field = line + 2;
        size_t name_length = strlen(name);
        if (strncasecmp(field, name, name_length) == 0 && field[name_length] == ':') {
            const char *value = field + name_length + 1, *end = strstr(value, "\r\n");
            while (*value == ' ' || *value == '\t') value++;
            *length = (size_t)((end ? end : value + strlen(value)) - value);
            while (*length && (value[*length - 1] == ' ' || value[*length - 1] == '\t')) (*length)--;
            return value;
        }
    }
    return NULL;
}

int ws_request(char *out, size_t size, const char *host, char key[32]) {
    unsigned char nonce[16];
    random_bytes(nonce, sizeof nonce);
    base64(nonce, sizeof nonce, key);
    return snprintf(out, size,
                    "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", host, key);
}

const char *ws_accepted(char *response, const char *key) {
    static char why[300];
    unsigned char digest[20];
    char accept[32], keyed[80];
    char *end = strstr(response, "\r\n\r\n");
    if (end) end[2] = 0;
    if (strncmp(response, "HTTP/1.1 101 ", 13) != 0 && strncmp(response, "HTTP/1.1 101\r", 13) != 0) {
        snprintf(why, sizeof why, "upgrade refused: '%.*s'", (int)strcspn(response, "\r\n"), response);
        return why;
    }
    snprintf(keyed, sizeof keyed, "%s%s", key, GUID);
    sha1((unsigned char *)keyed, strlen(keyed), digest);
    base64(digest, sizeof digest, accept);
    size_t value_length;
    const char *value = header_value(response, "sec-websocket-accept", &value_length);
    if (!value || value_length != strlen(accept) || strncmp(value, accept, value_length) != 0)
        return "bad Sec-WebSocket-Accept";
    if (header_value(response, "sec-websocket-extensions", &value_length) && value_length)
        return "unrequested extensions";
    return NULL;
}

const char *ws_handshake(struct channel *channel, const char *host) {
    char key[32], request[512], response[WS_RESPONSE_MAX];
    int length = ws_request(request, sizeof request, host, key);
    if (channel_send(channel, request, (size_t)length) != length) return channel_failure(channel);
    size_t got = 0;
    while (!got || !strstr(response, "\r\n\r\n")) { /* a byte at a time: nothing after it is read */
        if (got + 1 >= sizeof response) return "handshake response too long";
        struct reading when;
        ssize_t n = channel_receive(channel, response + got, 1, &when);
        if (n <= 0) return n == 0 ? "closed during handshake: EOF" : channel_failure(channel);
        response[++got] = 0;
    }
    return ws_accepted(response, key);
}
