/* The placement table of DESIGN.md section 2: fills every sublayer's flags. */
#include <math.h>
#include <string.h>

#include "model.h"

static nl_sublayer_flags flags(bool pre, bool peri, bool post, bool res_from_normed, bool qk,
                               bool v, float alpha)
{
    nl_sublayer_flags f = {pre, peri, post, res_from_normed, qk, v, alpha};
    return f;
}

static nl_sublayer_flags with_alpha(nl_sublayer_flags f)
{
    if (f.alpha == 0.0f)
        f.alpha = 1.0f;
    return f;
}

void nl_plan_resolve(const nl_model_config *m, nl_plan *plan)
{
    int L = m->layers;
    memset(plan, 0, sizeof *plan);
    plan->layers = L;
    bool final_norm = true;
    for (int l = 0; l < L; l++) {
        nl_sublayer_flags a = flags(1, 0, 0, 0, 0, 0, 1), f = flags(1, 0, 0, 0, 0, 0, 1);
        switch (m->placement) {
        case NL_PLACE_POST:
            a = flags(0, 0, 1, 0, 0, 0, 1);
            f = a;
            final_norm = false;
            break;
        case NL_PLACE_PRE:
            break;
        case NL_PLACE_SANDWICH:
            a = flags(1, 1, 0, 0, 0, 0, 1);
            f = a;
            break;
        case NL_PLACE_PREQK:
            a = flags(1, 0, 0, 0, 1, 0, 1);
            break;
        case NL_PLACE_HYBRID:
            a = flags(0, 0, 0, 0, 1, 1, 1);
            f = flags(1, 0, 0, 1, 0, 0, 1);
            break;
        case NL_PLACE_HYBRID_STAR:
            if (l == 0) {
                a = flags(1, 0, 0, 0, 1, 1, 1);
                f = flags(1, 0, 0, 0, 0, 0, 1);
            } else {
                a = flags(0, 0, 0, 0, 1, 1, 1);
                f = flags(1, 0, 0, 1, 0, 0, 1);
            }
            break;
        case NL_PLACE_MIXLN:
            if (l < (int)floor(0.25 * L)) {
                a = flags(0, 0, 1, 0, 0, 0, 1);
                f = a;
            }
            break;
        case NL_PLACE_DEEPNORM: {
            float alpha = (float)pow(2.0 * L, 0.25);
            a = flags(0, 0, 1, 0, 0, 0, alpha);
            f = a;
            final_norm = false;
            break;
        }
        case NL_PLACE_CUSTOM:
        default:
            a = with_alpha(m->custom_attn);
            f = with_alpha(m->custom_ffn);
            f.qk = f.v = false;
            break;
        }
        plan->attn[l] = a;
        plan->ffn[l] = f;
    }
    if (m->placement == NL_PLACE_CUSTOM) {
        for (int i = 0; i < m->n_overrides; i++) {
            const nl_layer_override *o = &m->overrides[i];
            if (o->layer < 0 || o->layer >= L)
                continue;
            if (o->has_attn)
                plan->attn[o->layer] = with_alpha(o->attn);
            if (o->has_ffn) {
                plan->ffn[o->layer] = with_alpha(o->ffn);
                plan->ffn[o->layer].qk = plan->ffn[o->layer].v = false;
            }
        }
        final_norm = true;
    }
    plan->final_norm = m->final_norm < 0 ? final_norm : m->final_norm != 0;
    plan->embed_norm = m->embed_norm < 0 ? false : m->embed_norm != 0;
}
