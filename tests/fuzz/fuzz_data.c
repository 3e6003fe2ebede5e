/* The text: and tokens: loaders. Input byte 0 picks the source (bit 0: tokens) and byte 1
 * seq_len, byte 2 the held-out fraction; the rest is the file. A source that opens yields
 * training, validation and sequential batches of in-vocabulary tokens, and its position
 * survives a save and restore; one that is refused names the file. */
#include <stdint.h>
#include <string.h>

#include "engine/data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int tokens = data[0] & 1;
    int T = 1 + data[1] % 32;
    nl_data_config dc;
    memset(&dc, 0, sizeof dc);
    dc.val_fraction = (float)(data[2] % 10) / 10.0f;
    const char *path = fz_write(tokens ? "in.bin" : "in.txt", data + 3, size - 3, "wb");
    snprintf(dc.source, sizeof dc.source, "%s:%s", tokens ? "tokens" : "text", path);
    nl_error err = {0};
    nl_data *d = nl_data_open(&dc, T, 7, &err);
    if (!d) {
        FZ_ASSERT(strstr(err.msg, path) || strstr(err.msg, "val_fraction"), "message '%s'",
                  err.msg);
        return 0;
    }
    int V = nl_data_vocab(d), B = 3;
    FZ_ASSERT(V >= 1 && V <= 65536, "vocab %d", V);
    int32_t tok[3 * 32], tgt[3 * 32];
    unsigned char st[256];
    FZ_ASSERT(nl_data_state_size(d) <= sizeof st, "state size");
    nl_data_get_state(d, st);
    for (int i = 0; i < 2; i++) {
        FZ_ASSERT(nl_data_next_batch(d, tok, tgt, B, &err) == 0, "next_batch: %s", err.msg);
        for (int j = 0; j < B * T; j++)
            FZ_ASSERT(tok[j] >= 0 && tok[j] < V && tgt[j] >= 0 && tgt[j] < V, "token out of range");
    }
    int32_t again[3 * 32];
    FZ_ASSERT(nl_data_set_state(d, st, nl_data_state_size(d), &err) == 0, "set_state: %s", err.msg);
    nl_data_next_batch(d, again, tgt, B, &err);
    nl_data_next_batch(d, again, tgt, B, &err);
    FZ_ASSERT(memcmp(again, tok, sizeof(int32_t) * (size_t)(B * T)) == 0,
              "restored position gives other batches");
    if (nl_data_val_batch(d, 5, tok, tgt, B, &err) == 0) {
        for (int j = 0; j < B * T; j++)
            FZ_ASSERT(tok[j] < V && tgt[j] < V, "validation token out of range");
    } else {
        FZ_ASSERT(strstr(err.msg, path), "val_batch message '%s'", err.msg);
    }
    nl_data_seq_batch(d, 0, tok, tgt, 1, &err); /* may refuse a short file; must not crash */
    nl_data_close(d);
    return 0;
}
