#include "common.h"
#include "workload.h"

#define MIN_PERIOD (256 * 1024) /* the expected stream spans at least one read */
#define MIN_MESSAGES 16

static size_t frame_header(unsigned char *out, size_t length, int masked) {
    unsigned char mask_bit = masked ? 0x80 : 0;
    out[0] = 0x80 | 0x2; /* FIN, binary */
    if (length < 126) {
        out[1] = mask_bit | (unsigned char)length;
        return 2;
    }
    if (length < 65536) {
        out[1] = mask_bit | 126, out[2] = (unsigned char)(length >> 8), out[3] = (unsigned char)length;
        return 4;
    }
    out[1] = mask_bit | 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (unsigned char)(length >> (56 - 8 * i));
    return 10;
}

struct workload build_workload(const char *protocol, size_t size) {
    struct workload w;
    unsigned char header[10];
    int ws = strcmp(protocol, "ws") == 0, line = strcmp(protocol, "line") == 0;
    size_t header_size = ws ? frame_header(header, size, 0) : 0;
    w.count = (MIN_PERIOD + size - 1) / size;
    if (w.count < MIN_MESSAGES) w.count = MIN_MESSAGES;
    w.message_size = size + (ws ? header_size + 4 : 0);
    w.reply_size = size + header_size;
    w.period = w.reply_size * w.count;
    w.messages = allocate(w.message_size * w.count);
    w.expected = allocate(2 * w.period);
    unsigned char *payload = allocate(size);
    for (size_t i = 0; i < w.count; i++) {
        random_bytes(payload, size);
        if (line) {
            for (size_t j = 0; j + 1 < size; j++)
                if (payload[j] == '\n') payload[j] = ' ';
            payload[size - 1] = '\n';
        }
        unsigned char *message = w.messages + i * w.message_size, *reply = w.expected + i * w.reply_size;
        if (ws) { /* masked as a client must, each with its own key; the reply is unmasked */
            frame_header(message, size, 1);
            random_bytes(message + header_size, 4);
            for (size_t j = 0; j < size; j++)
                message[header_size + 4 + j] = payload[j] ^ message[header_size + j % 4];
            memcpy(reply, header, header_size);
            memcpy(reply + header_size, payload, size);
        } else {
            memcpy(message, payload, size);
            memcpy(reply, payload, size);
        }
    }
    memcpy(w.expected + w.period, w.expected, w.period);
    free(payload);
    return w;
}
