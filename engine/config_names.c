/* The names of the config's enums (placements, norms, schedules, ...) (config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "fsutil.h"
#include "json_text.h"

/* ---- names ------------------------------------------------------------------------------- */

static const char *const placement_names[NL_PLACE_COUNT] = {
    "post", "pre", "sandwich", "preqk", "hybrid", "hybrid_star", "mixln", "deepnorm", "custom",
};
static const char *const placement_summaries[NL_PLACE_COUNT] = {
    "Post-Norm (Vaswani): norm after every residual add; fragile when deep",
    "Pre-Norm: norm on every sublayer input, plus a final norm; the stable default",
    "Sandwich (Peri-LN): norm on every sublayer input and output",
    "Pre-Norm with QK-Norm: queries and keys also normalised per head",
    "HybridNorm: QKV-norm in attention, Post-Norm-style FFN residual",
    "HybridNorm*: HybridNorm with block 0 as Pre-Norm",
    "Mix-LN: Post-Norm in the first quarter of the layers, Pre-Norm in the rest",
    "DeepNorm (DeepNet): Post-Norm with the residual scaled by (2L)^(1/4)",
    "Custom: your own flags per sublayer, with per-layer overrides",
};
static const char *const norm_names[] = {"layernorm", "rmsnorm"};
static const char *const ffn_names[] = {"gelu", "swiglu"};
static const char *const pos_names[] = {"learned", "rope"};
static const char *const init_names[] = {"normal", "megatron", "deepnorm"};
static const char *const schedule_names[] = {"constant", "linear", "cosine"};
static const char *const precision_names[] = {"fp32", "tf32", "bf16"};
static const char *const device_names[] = {"auto", "cpu", "cuda"};
static const char *const attention_names[] = {"auto", "fused", "pieces"};
static const char *const cuda_graphs_names[] = {"auto", "on", "off"};

#define NAME_OF(table, i)                                                                          \
    ((int)(i) >= 0 && (int)(i) < (int)(sizeof table / sizeof table[0]) ? table[(int)(i)] : "?")

const char *nl_placement_name(nl_placement p)
{
    return NAME_OF(placement_names, p);
}
const char *nl_placement_summary(nl_placement p)
{
    return NAME_OF(placement_summaries, p);
}
const char *nl_norm_name(nl_norm_kind k)
{
    return NAME_OF(norm_names, k);
}
const char *nl_ffn_name(nl_ffn_kind k)
{
    return NAME_OF(ffn_names, k);
}
const char *nl_pos_name(nl_pos_kind k)
{
    return NAME_OF(pos_names, k);
}
const char *nl_init_name(nl_init_kind k)
{
    return NAME_OF(init_names, k);
}
const char *nl_schedule_name(nl_schedule s)
{
    return NAME_OF(schedule_names, s);
}
const char *nl_precision_name(nl_train_precision p)
{
    return NAME_OF(precision_names, p);
}
const char *nl_device_name(nl_device d)
{
    return NAME_OF(device_names, d);
}
const char *nl_attention_name(nl_attention_mode a)
{
    return NAME_OF(attention_names, a);
}
const char *nl_cuda_graphs_name(nl_cuda_graphs g)
{
    return NAME_OF(cuda_graphs_names, g);
}

int nl_placement_from_name(const char *s)
{
    for (int i = 0; s && i < NL_PLACE_COUNT; i++)
        if (strcmp(s, placement_names[i]) == 0)
            return i;
    return -1;
}
