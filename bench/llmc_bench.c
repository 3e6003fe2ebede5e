/* Training throughput of llm.c's CPU trainer (train_gpt2.c of an llm.c checkout) on a normlab
 * bench shape, for bench/compare.sh. llm.c's own main() trains GPT-2 124M from its files; this
 * driver writes a checkpoint of the wanted shape in llm.c's format with random weights, loads
 * it with llm.c's gpt2_build_from_checkpoint, and times llm.c's step (forward, zero_grad,
 * backward, AdamW update) on random tokens. llm.c's model is GPT-2's: Pre-Norm LayerNorm with
 * biases, GELU, learned positions, tied embeddings; no gradient clipping.
 *
 *   cc -Ofast -march=native -fopenmp -I"$LLMC_DIR" -o llmc_bench bench/llmc_bench.c -lm
 *   OMP_NUM_THREADS=1 ./llmc_bench D LAYERS HEADS SEQ BATCH VOCAB STEPS WARMUP
 *
 * Prints "llmc tokens/s <value>" last. */
#include <omp.h>

#define main llmc_main
#include "train_gpt2.c"
#undef main

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A random number in [0, 1) from a 64-bit LCG: weights only need to be ordinary numbers. */
static float unit(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) / 16777216.0);
}

static int write_checkpoint(const char *path, int C, int L, int NH, int T, int V)
{
    GPT2Config cfg = {.max_seq_len = T,
                      .vocab_size = V,
                      .padded_vocab_size = (V + 127) / 128 * 128,
                      .num_layers = L,
                      .num_heads = NH,
                      .channels = C};
    size_t sizes[NUM_PARAMETER_TENSORS];
    fill_in_parameter_sizes(sizes, cfg); /* llm.c's own layout */
    int header[256] = {20240326, 3, T, V, L, NH, C, cfg.padded_vocab_size};
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fwrite(header, sizeof(int), 256, f);
    uint64_t seed = 1;
    for (int t = 0; t < NUM_PARAMETER_TENSORS; t++) {
        /* LayerNorm gains (tensors 2, 8, 14) 1, everything else small */
        int gain = t == 2 || t == 8 || t == 14;
        for (size_t i = 0; i < sizes[t]; i++) {
            float w = gain ? 1.0f : 0.04f * (unit(&seed) - 0.5f);
            fwrite(&w, sizeof w, 1, f);
        }
    }
    return fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: llmc_bench D LAYERS HEADS SEQ BATCH VOCAB STEPS WARMUP\n");
        return 2;
    }
    int C = atoi(argv[1]), L = atoi(argv[2]), NH = atoi(argv[3]), T = atoi(argv[4]);
    int B = atoi(argv[5]), V = atoi(argv[6]), steps = atoi(argv[7]), warmup = atoi(argv[8]);
    char path[] = "/tmp/llmc_bench_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write_checkpoint(path, C, L, NH, T, V)) {
        fprintf(stderr, "llmc_bench: cannot write %s\n", path);
        return 1;
    }
    close(fd);
    GPT2 model;
    gpt2_build_from_checkpoint(&model, path);
    unlink(path);
    int *tokens = malloc(sizeof(int) * (size_t)(B * T + 1));
    uint64_t seed = 7;
    double t0 = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup)
            t0 = now_s();
        for (int i = 0; i < B * T + 1; i++)
            tokens[i] = (int)(unit(&seed) * V) % V;
        gpt2_forward(&model, tokens, tokens + 1, B, T);
        gpt2_zero_grad(&model);
        gpt2_backward(&model);
        gpt2_update(&model, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.0f, s + 1);
    }
    double dt = now_s() - t0;
    printf("llmc threads %d, %d steps of %dx%d tokens, last loss %.4f\n", omp_get_max_threads(),
           steps, B, T, model.mean_loss);
    printf("llmc tokens/s %.1f\n", (double)steps * B * T / dt);
    gpt2_free(&model);
    free(tokens);
    return 0;
}
