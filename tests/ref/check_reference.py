"""Checks reference.py's pieces against PyTorch's own modules and against plain loops, so that
the fixtures rest on more than one reading of DESIGN.md.

    /usr/bin/python3 tests/ref/check_reference.py      # prints one line per check, exits 1 on
                                                       # any failure
"""

import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

torch.set_default_dtype(torch.float64)
torch.manual_seed(0)
failures = 0


def check(name, ok, detail=""):
    global failures
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail and not ok else ""))
    failures += 0 if ok else 1


def close(a, b, tol=1e-10):
    return float((a - b).abs().max()) <= tol * max(1.0, float(b.abs().max()))


def cfg(**model):
    m = {"placement": "pre", "norm": "layernorm", "ffn": "gelu", "pos": "learned", "vocab": 11,
         "d_model": 8, "layers": 2, "heads": 2, "seq_len": 6}
    m.update(model)
    return {"model": m, "train": {"batch": 2}}


# norms and activations
x = torch.randn(5, 7, 8)
n = ref.Norm("layernorm", 8, 1e-5)
with torch.no_grad():
    n.weight.normal_()
    n.bias.normal_()
check("layernorm = F.layer_norm", close(n(x), F.layer_norm(x, (8,), n.weight, n.bias, 1e-5)))
r = ref.Norm("rmsnorm", 8, 1e-5)
with torch.no_grad():
    r.weight.normal_()
rms = torch.sqrt((x ** 2).mean(-1, keepdim=True) + 1e-5)
check("rmsnorm = x / rms * g", close(r(x), x / rms * r.weight))
check("gelu_tanh = F.gelu(tanh)", close(ref.gelu_tanh(x), F.gelu(x, approximate="tanh")))
check("silu = F.silu", close(ref.silu(x), F.silu(x)))

# attention without q/k/v norms and rope equals nn.MultiheadAttention with a causal mask
spec = ref.Spec(cfg())
att = ref.Attention(ref.Flags(), spec)
with torch.no_grad():
    for p in att.parameters():
        p.normal_(0, 0.5)
mha = torch.nn.MultiheadAttention(8, 2, bias=False, batch_first=True)
with torch.no_grad():
    mha.in_proj_weight.copy_(att.qkv.weight)
    mha.out_proj.weight.copy_(att.out.weight)
h = torch.randn(3, 6, 8)
mask = torch.ones(6, 6, dtype=torch.bool).triu(1)
want, _ = mha(h, h, h, attn_mask=mask, need_weights=False)
check("attention = nn.MultiheadAttention (qkv rows q,k,v; causal)", close(att.inner(h), want))

# rope: rotate-half equals multiplying (x_i + j x_{i+D/2}) by exp(j t theta^(-2i/D)),
# and scores after rope depend only on the distance t - s
D, T = 6, 9
xr = torch.randn(2, T, 3, D)
cos, sin = ref.rope_tables(T, D, 100.0, torch.float64)
got = ref.rope_apply(xr, cos, sin)
z = torch.complex(xr[..., :D // 2], xr[..., D // 2:])
ang = torch.arange(T)[:, None] * 100.0 ** (-2.0 * torch.arange(D // 2) / D)
zr = z * torch.polar(torch.ones_like(ang), ang)[None, :, None, :]
check("rope rotate-half = complex rotation", close(got, torch.cat((zr.real, zr.imag), -1)))
q1 = torch.randn(D)
k1 = torch.randn(D)
qs = ref.rope_apply(q1.expand(1, T, 1, D).clone(), cos, sin)[0, :, 0]
ks = ref.rope_apply(k1.expand(1, T, 1, D).clone(), cos, sin)[0, :, 0]
check("rope scores depend on t - s only",
      abs(float(qs[5] @ ks[2] - qs[3] @ ks[0])) < 1e-12 and
      abs(float(qs[8] @ ks[8] - q1 @ k1)) < 1e-12)

# MoE against a per-token loop
for renorm in (True, False):
    c = cfg(ffn="swiglu", ffn_hidden=12,
            moe={"experts": 4, "top_k": 2, "every": 1, "renorm": renorm})
    spec = ref.Spec(c)
    moe = ref.MoEFFN(ref.Flags(pre=True), spec)
    with torch.no_grad():
        for p in moe.parameters():
            p.normal_(0, 0.5)
    h = torch.randn(2, 5, 8)
    got = moe.inner(h).reshape(10, 8)
    xs = h.reshape(10, 8)
    want = torch.zeros(10, 8)
    counts = torch.zeros(4)
    for i in range(10):
        logits = moe.router.weight @ xs[i]
        p = torch.softmax(logits, -1)
        order = sorted(range(4), key=lambda e: (-float(p[e]), e))[:2]
        g = p[order]
        if renorm:
            g = g / g.sum()
        for j, e in enumerate(order):
            ex = moe.experts[e]
            want[i] += g[j] * (ex.down.weight @ (F.silu(ex.gate.weight @ xs[i]) *
                                                  (ex.up.weight @ xs[i])))
            counts[e] += 1
    probs = torch.softmax(xs @ moe.router.weight.t(), -1)
    aux = 4 * float(((counts / 20) * probs.mean(0)).sum())
    zl = float((torch.logsumexp(xs @ moe.router.weight.t(), -1) ** 2).mean())
    check("moe output = per-token loop (renorm %s)" % renorm, close(got, want))
    check("moe aux, z = definitions (renorm %s)" % renorm,
          abs(float(moe.aux) - aux) < 1e-12 and abs(float(moe.z) - zl) < 1e-12)
check("top-k ties go to the lower index",
      ref.top_k_lower_index(torch.tensor([[0.2, 0.3, 0.3, 0.2]]), 2).tolist() == [[1, 2]] and
      ref.top_k_lower_index(torch.tensor([[0.25, 0.25, 0.25, 0.25]]), 2).tolist() == [[0, 1]])

# the plan table
def plan(placement, L=4):
    s = ref.Spec(cfg(placement=placement, layers=L))
    return s, [(repr(a), repr(f)) for a, f in zip(s.attn, s.ffn_flags)]


s, p = plan("hybrid_star")
check("hybrid_star plan", p[0] == ("pre+qk+v", "pre") and p[1] == ("qk+v", "pre+res_from_normed")
      and s.final_norm and not s.embed_norm, str(p))
s, p = plan("mixln", 8)
check("mixln plan (L=8: layers 0,1 post)", [a for a, _ in p] == ["post"] * 2 + ["pre"] * 6, str(p))
s, p = plan("deepnorm", 3)
check("deepnorm alpha (2L)^(1/4), no final norm",
      abs(s.attn[2].alpha - 6 ** 0.25) < 1e-15 and not s.final_norm)
s, p = plan("post")
check("post: no final norm", not s.final_norm and p[0] == ("post", "post"))
check("swiglu hidden: multiple of 32 nearest 8d/3",
      [ref.default_ffn_hidden("swiglu", d) for d in (16, 24, 48, 128)] == [32, 64, 128, 352])

# whole model: parameter names and shapes follow DESIGN.md
c = cfg(placement="custom", tied=False, ffn="swiglu", embed_norm=True, final_norm=False,
        custom={"attn": {"pre": False, "peri": False, "post": False, "res_from_normed": False,
                         "qk": True, "v": True},
                "ffn": {"pre": False, "peri": True, "post": False, "res_from_normed": False}},
        moe={"experts": 3, "top_k": 2, "every": 2})
m = ref.Model(ref.Spec(c))
shapes = {k: tuple(v.shape) for k, v in m.named_parameters()}
want = {"wte.weight": (11, 8), "wpe.weight": (6, 8), "embed_norm.weight": (8,),
        "embed_norm.bias": (8,), "blocks.0.attn.qkv.weight": (24, 8),
        "blocks.0.attn.out.weight": (8, 8), "blocks.0.attn.q_norm.weight": (4,),
        "blocks.0.attn.k_norm.bias": (4,), "blocks.0.attn.v_norm.weight": (4,),
        "blocks.0.ffn.up.weight": (32, 8), "blocks.0.ffn.gate.weight": (32, 8),
        "blocks.0.ffn.down.weight": (8, 32), "blocks.0.ffn.peri_norm.bias": (8,),
        "blocks.1.ffn.router.weight": (3, 8), "blocks.1.ffn.experts.2.gate.weight": (32, 8),
        "blocks.1.ffn.experts.0.down.weight": (8, 32), "lm_head.weight": (11, 8)}
check("parameter names and shapes", all(shapes.get(k) == v for k, v in want.items()) and
      "final_norm.weight" not in shapes and "blocks.1.ffn.up.weight" not in shapes and
      "blocks.0.attn.pre_norm.weight" not in shapes, str(sorted(shapes)))

# the loss is the mean cross-entropy over B*T
tok = torch.randint(0, 11, (2, 6))
tgt = torch.randint(0, 11, (2, 6))
logits, lm, aux, z, total = m(tok, tgt)
lp = torch.log_softmax(logits, -1)
manual = -lp.gather(-1, tgt[..., None]).mean()
check("LM loss = mean -log p(target)", abs(float(lm - manual)) < 1e-12)
check("total = lm + aux_loss*aux + z_loss*z",
      abs(float(total - (lm + 0.01 * aux + 0.001 * z))) < 1e-12)

# clipping + AdamW against torch.optim.AdamW and clip_grad_norm_
c = cfg(placement="sandwich", norm="rmsnorm", tied=True)
tr = {"lr": 3e-2, "beta1": 0.8, "beta2": 0.9, "eps": 1e-6, "weight_decay": 0.3, "clip": 0.5,
      "warmup": 2, "steps": 6, "schedule": "cosine", "lr_min": 1e-3}
spec = ref.Spec(c)
a = ref.Model(spec)
b = ref.Model(spec)
b.load_state_dict(a.state_dict())
mine = ref.AdamW(a, tr)
decay = [p for n_, p in b.named_parameters() if ref.decays(n_, p, False)]
other = [p for n_, p in b.named_parameters() if not ref.decays(n_, p, False)]
theirs = torch.optim.AdamW([{"params": decay, "weight_decay": 0.3},
                            {"params": other, "weight_decay": 0.0}],
                           lr=3e-2, betas=(0.8, 0.9), eps=1e-6)
clipped = 0
for step in range(6):
    for model in (a, b):
        model.zero_grad(set_to_none=True)
        model(tok, tgt)[4].backward()
    norm = mine.step(ref.lr_at(tr, step))
    clipped += norm > 0.5
    torch.nn.utils.clip_grad_norm_(b.parameters(), 0.5)
    for g in theirs.param_groups:
        g["lr"] = ref.lr_at(tr, step)
    theirs.step()
same = all(close(p, q, 1e-9) for p, q in zip(a.parameters(), b.parameters()))
check("clip + AdamW = clip_grad_norm_ + torch.optim.AdamW (%d of 6 steps clipped)" % clipped,
      same and clipped > 0)
check("lr schedule", [round(ref.lr_at(tr, s), 12) for s in range(3)] ==
      [0.015, 0.03, 0.03] and abs(ref.lr_at(tr, 4) - (1e-3 + (3e-2 - 1e-3) * 0.5)) < 1e-15)

print("%d failed" % failures)
sys.exit(1 if failures else 0)
