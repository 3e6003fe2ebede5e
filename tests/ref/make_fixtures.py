"""Writes tests/fixtures/*.safetensors, the reference values tests/test_parity.c checks.

    /usr/bin/python3 tests/ref/make_fixtures.py            # all fixtures
    /usr/bin/python3 tests/ref/make_fixtures.py pre_ln     # only names containing "pre_ln"
    /usr/bin/python3 tests/ref/make_fixtures.py -v         # with each plan and how far a
                                                           # float32 computation lands

Each fixture: metadata "config" (a normlab YAML preset), "tokens", "targets" (I32, (B,T)),
"param.<name>" (F32) for every parameter, "logits" (B,T,V), "loss" [1] (LM loss), "aux", "z"
[1] (MoE only: sums over the MoE layers, unweighted), "grad.<name>" (gradient of the total
loss), "adam_losses" [5] (total loss before each of 5 clip+AdamW updates on the same batch).
Everything is computed in float64 from the float32-rounded parameters and stored as float32.
"""

import copy
import json
import math
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference as ref  # noqa: E402

OUT_DIR = os.path.join(HERE, "..", "fixtures")
ADAM_STEPS = 5

# ---------------------------------------------------------------------------------------------
# The fixtures. Every placement, each of the 16 {norm} x {ffn} x {pos} x {tied} combinations at
# least once, MoE under pre, post and hybrid. Placements with q/k norms use RoPE whenever the
# norm is a layernorm: without RoPE a k_norm bias adds the same amount to every score of a row,
# softmax ignores it, its gradient is zero in exact arithmetic and float32 rounding noise in
# the C model would dominate the comparison.
# Weight decay is 0.1, and 1.0 in three fixtures so that a decay applied to the wrong tensors
# moves the AdamW losses well beyond the test's tolerance.
# ---------------------------------------------------------------------------------------------


def model(placement, norm, ffn, pos, tied, V, d, H, L, T, **extra):
    m = {"placement": placement, "norm": norm, "ffn": ffn, "pos": pos, "init": "normal",
         "vocab": V, "d_model": d, "layers": L, "heads": H, "seq_len": T, "tied": tied}
    m.update(extra)
    return m


def base_flags(qk_v=True, **on):
    """A custom placement's base map with every flag written out (omitted ones false)."""
    names = ref.FLAG_NAMES if qk_v else ref.FLAG_NAMES[:4]
    m = {k: bool(on.pop(k, False)) for k in names}
    m.update(on)
    return m


def train(B, lr=1e-2, schedule="constant", warmup=0, steps=5, lr_min=0.0, clip=0.0, wd=0.1,
          beta2=0.95, **extra):
    t = {"steps": steps, "batch": B, "lr": lr, "lr_min": lr_min, "warmup": warmup,
         "schedule": schedule, "beta1": 0.9, "beta2": beta2, "eps": 1e-8, "weight_decay": wd,
         "clip": clip, "seed": 1, "threads": 1}
    t.update(extra)
    return t


def moe(experts=4, top_k=2, every=1, aux_loss=0.1, z_loss=0.01, **extra):
    m = {"experts": experts, "top_k": top_k, "every": every, "aux_loss": aux_loss,
         "z_loss": z_loss}
    m.update(extra)
    return m


FIXTURES = [
    ("post_ln_gelu_learned_untied",
     model("post", "layernorm", "gelu", "learned", False, V=37, d=16, H=2, L=2, T=8),
     train(B=2, clip=1.0)),
    ("post_rms_swiglu_rope_tied",
     model("post", "rmsnorm", "swiglu", "rope", True, V=41, d=16, H=4, L=3, T=9),
     train(B=2, warmup=2, schedule="cosine", steps=8, lr_min=1e-3)),
    ("pre_ln_gelu_learned_tied",
     model("pre", "layernorm", "gelu", "learned", True, V=53, d=24, H=2, L=2, T=10,
           ffn_hidden=40),
     train(B=3, clip=1.0, warmup=2, schedule="cosine", steps=6, lr_min=1e-3)),
    ("pre_rms_gelu_rope_untied",
     model("pre", "rmsnorm", "gelu", "rope", False, V=33, d=16, H=4, L=3, T=8, norm_eps=1e-4),
     train(B=2, schedule="linear", steps=6, lr_min=2e-3, beta2=0.999, wd=1.0)),
    ("sandwich_ln_swiglu_learned_untied",
     model("sandwich", "layernorm", "swiglu", "learned", False, V=45, d=16, H=2, L=2, T=8),
     train(B=2, clip=1.0)),
    ("sandwich_rms_gelu_rope_tied",
     model("sandwich", "rmsnorm", "gelu", "rope", True, V=39, d=16, H=2, L=3, T=11,
           ffn_hidden=48),
     train(B=2, decay_all=True, warmup=2, schedule="cosine", steps=7)),
    ("preqk_rms_gelu_learned_untied",
     model("preqk", "rmsnorm", "gelu", "learned", False, V=43, d=16, H=4, L=2, T=8),
     train(B=2, clip=0.5)),
    ("preqk_ln_swiglu_rope_tied",
     model("preqk", "layernorm", "swiglu", "rope", True, V=47, d=24, H=3, L=2, T=9,
           rope_theta=500.0),
     train(B=2)),
    ("hybrid_ln_gelu_rope_untied",
     model("hybrid", "layernorm", "gelu", "rope", False, V=51, d=16, H=2, L=3, T=10,
           ffn_hidden=40),
     train(B=2, clip=1.0, warmup=2, schedule="cosine", steps=8, lr_min=1e-3, wd=1.0)),
    ("hybrid_rms_swiglu_learned_tied",
     model("hybrid", "rmsnorm", "swiglu", "learned", True, V=35, d=16, H=4, L=2, T=8),
     train(B=3)),
    ("hybrid_star_rms_gelu_rope_tied",
     model("hybrid_star", "rmsnorm", "gelu", "rope", True, V=57, d=16, H=2, L=3, T=8,
           ffn_hidden=32),
     train(B=2, clip=1.0)),
    ("hybrid_star_ln_swiglu_rope_untied",
     model("hybrid_star", "layernorm", "swiglu", "rope", False, V=49, d=24, H=4, L=2, T=12),
     train(B=2, warmup=2, schedule="cosine", steps=6)),
    ("mixln_ln_swiglu_learned_tied",
     model("mixln", "layernorm", "swiglu", "learned", True, V=38, d=16, H=2, L=4, T=8),
     train(B=2, clip=1.0)),
    ("mixln_rms_gelu_learned_tied",
     model("mixln", "rmsnorm", "gelu", "learned", True, V=42, d=16, H=4, L=4, T=8,
           ffn_hidden=32),
     train(B=2, schedule="linear", steps=5)),
    ("deepnorm_ln_gelu_learned_untied",
     model("deepnorm", "layernorm", "gelu", "learned", False, V=40, d=16, H=2, L=3, T=9,
           init="deepnorm", ffn_hidden=48),
     train(B=2, clip=1.0)),
    ("deepnorm_rms_swiglu_rope_untied",
     model("deepnorm", "rmsnorm", "swiglu", "rope", False, V=36, d=16, H=2, L=2, T=8),
     train(B=3, warmup=2, schedule="cosine", steps=7, lr_min=5e-4)),
    # custom: embed norm on, no final norm, base flags (all written out) plus overrides that
    # replace a layer's attention (post norm, v norm, alpha 1.5) and a layer's FFN
    # (HybridNorm-style + post). Overrides list only the flags that are on.
    ("custom_ln_gelu_rope_untied",
     model("custom", "layernorm", "gelu", "rope", False, V=34, d=16, H=2, L=3, T=8,
           ffn_hidden=40, embed_norm=True, final_norm=False,
           custom={"attn": base_flags(pre=True, qk=True),
                   "ffn": base_flags(False, pre=True, peri=True, alpha=1.25),
                   "layers": [{"layer": 1, "attn": {"post": True, "v": True, "alpha": 1.5}},
                              {"layer": 2, "ffn": {"pre": True, "res_from_normed": True,
                                                   "post": True, "alpha": 1.0}}]}),
     train(B=2, clip=1.0)),
    ("custom_rms_swiglu_learned_untied",
     model("custom", "rmsnorm", "swiglu", "learned", False, V=46, d=16, H=4, L=2, T=10,
           embed_norm=True, final_norm=True,
           custom={"attn": base_flags(peri=True, v=True),
                   "ffn": base_flags(False, pre=True, post=True),
                   "layers": [{"layer": 0, "attn": {"pre": True, "qk": True, "v": True},
                               "ffn": {"peri": True, "alpha": 0.75}}]}),
     train(B=2, warmup=1, schedule="linear", steps=5, lr_min=1e-3)),
    ("moe_pre_ln_gelu_learned_untied",
     model("pre", "layernorm", "gelu", "learned", False, V=37, d=16, H=2, L=2, T=8,
           ffn_hidden=32, moe=moe()),
     train(B=2, clip=1.0, wd=1.0)),
    ("moe_post_rms_swiglu_rope_tied_every2",
     model("post", "rmsnorm", "swiglu", "rope", True, V=41, d=16, H=2, L=4, T=8,
           ffn_hidden=32, moe=moe(every=2)),
     train(B=2, warmup=2, schedule="cosine", steps=6)),
    ("moe_hybrid_ln_gelu_rope_tied_norenorm",
     model("hybrid", "layernorm", "gelu", "rope", True, V=39, d=16, H=2, L=2, T=9,
           ffn_hidden=32, moe=moe(renorm=False)),
     train(B=2, clip=1.0)),
    # a long sequence (T = 130 > 128): the engine computes causal attention in blocks of 64
    # query rows, the last block partial
    ("long_pre_rms_gelu_rope_untied",
     model("preqk", "rmsnorm", "gelu", "rope", False, V=32, d=16, H=2, L=1, T=130,
           ffn_hidden=32),
     train(B=1, clip=1.0)),
]


def config_for(name, m, t):
    return {"name": name, "model": m, "train": t,
            "data": {"source": "markov", "vocab": m["vocab"]}}


# ---------------------------------------------------------------------------------------------
# YAML and safetensors writers
# ---------------------------------------------------------------------------------------------


def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        s = repr(v)  # "1e-08" is a string to YAML 1.1 resolvers; "1.0e-08" is a float to all
        if "e" in s and "." not in s.split("e")[0]:
            s = s.replace("e", ".0e", 1)
        return s
    s = str(v)
    if not s or any(c in s for c in ":#{}[],&*!|>'\"%@`") or s != s.strip():
        return json.dumps(s)
    return s


def yaml_lines(node, indent):
    pad = "  " * indent
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:" % (pad, k))
                out.extend(yaml_lines(v, indent + 1))
            else:
                out.append("%s%s: %s" % (pad, k, yaml_scalar(v)))
    else:
        for item in node:
            sub = yaml_lines(item, indent + 1)
            out.append("%s- %s" % (pad, sub[0].lstrip()))
            out.extend(sub[1:])
    return out


def to_yaml(cfg):
    return "\n".join(yaml_lines(cfg, 0)) + "\n"


DTYPES = {torch.float32: ("F32", 4), torch.int32: ("I32", 4)}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor) in file order; metadata: dict str -> str."""
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, t in tensors:
        code, size = DTYPES[t.dtype]
        data = t.contiguous().numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        assert len(data) == t.numel() * size
        header[name] = {"dtype": code, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """The inverse of write_safetensors (F32/I32 only), for the self-check."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, h in header.items():
        b, e = h["data_offsets"]
        dt = torch.float32 if h["dtype"] == "F32" else torch.int32
        t = torch.frombuffer(bytearray(raw[base + b:base + e]), dtype=dt)
        out[name] = t.reshape(h["shape"])
    return out, meta


# ---------------------------------------------------------------------------------------------
# Computing the reference values
# ---------------------------------------------------------------------------------------------


def compute(cfg, params, tokens, targets, dtype):
    """Forward, backward and ADAM_STEPS updates in `dtype`, starting from `params`
    (name -> float32 tensor). Returns a dict of float64 results."""
    spec = ref.Spec(cfg)
    m = ref.Model(spec).to(dtype)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(params[name].to(dtype))
    tok, tgt = tokens.long(), targets.long()
    logits, lm, aux, z, total = m(tok, tgt)
    total.backward()
    res = {"logits": logits.detach().double(), "loss": float(lm),
           "grads": {n: p.grad.detach().double().clone() for n, p in m.named_parameters()},
           "margin": route_margin(m, spec)}
    if aux is not None:
        res["aux"], res["z"] = float(aux), float(z)
    opt = ref.AdamW(m, cfg["train"])
    losses = []
    for i in range(ADAM_STEPS):
        for p in m.parameters():
            p.grad = None
        _, _, _, _, total = m(tok, tgt)
        losses.append(float(total))
        res["margin"] = min(res["margin"], route_margin(m, spec))
        total.backward()
        opt.step(ref.lr_at(cfg["train"], i))
    res["adam_losses"] = losses
    return res


def route_margin(m, spec):
    """Smallest gap between the k-th and (k+1)-th router probability over every token of every
    MoE layer of the last forward (inf for dense models): a near tie could route differently
    in float32."""
    best = math.inf
    for f in m.moe_layers():
        p = torch.sort(f.last_probs.double(), dim=-1, descending=True).values
        if spec.top_k < spec.experts:
            best = min(best, float((p[:, spec.top_k - 1] - p[:, spec.top_k]).min()))
    return best


def compare(a, b):
    """The C test's error measures of result a against reference b: worst of loss, logits,
    per-tensor gradients and adam losses (all relative)."""
    errs = {"loss": abs(a["loss"] - b["loss"]) / max(abs(b["loss"]), 1e-12),
            "logits": float((a["logits"] - b["logits"]).abs().max() /
                            b["logits"].abs().max().clamp_min(1e-12))}
    worst, wname = 0.0, ""
    for n, g in b["grads"].items():
        e = float((a["grads"][n] - g).abs().max() / max(float(g.abs().max()), 1e-6))
        if e > worst:
            worst, wname = e, n
    errs["grad"] = worst
    errs["grad_tensor"] = wname
    errs["adam"] = max(abs(x - y) / abs(y) for x, y in zip(a["adam_losses"], b["adam_losses"]))
    for k in ("aux", "z"):
        if k in b:
            errs[k] = abs(a[k] - b[k]) / max(abs(b[k]), 1e-12)
    return errs


def draw(index, attempt, cfg, spec):
    """Parameters and batch for one seed: (params name -> float32 tensor, tokens, targets)."""
    B, T, V = cfg["train"]["batch"], spec.seq_len, spec.vocab
    gen = torch.Generator().manual_seed(20250 + index + 1000 * attempt)
    shape_model = ref.Model(spec).double()
    ref.init_fixture_params(shape_model, gen)
    # the C model starts from float32 values, so the reference does too
    params = {n: p.detach().float().clone() for n, p in shape_model.named_parameters()}
    tokens = torch.randint(0, V, (B, T), generator=gen, dtype=torch.int32)
    targets = torch.randint(0, V, (B, T), generator=gen, dtype=torch.int32)
    return params, tokens, targets


# A fixture tests the equations, not float32 conditioning: a seed is kept only when the same
# computation in float32 lands within FLOAT32_MARGIN of every reference value (10x inside the
# C test's 1e-4) and no MoE token sits near a routing tie. Adam divides by sqrt(v) + eps, so a
# gradient entry that happens to sit near eps can turn float32 noise into a visible loss change.
FLOAT32_MARGIN = 1e-5
MIN_ROUTE_MARGIN = 1e-4
MAX_ATTEMPTS = 20


def make_one(index, name, m, t, verbose):
    cfg = config_for(name, m, t)
    spec = ref.Spec(cfg)
    for attempt in range(MAX_ATTEMPTS):
        params, tokens, targets = draw(index, attempt, cfg, spec)
        r = compute(cfg, params, tokens, targets, torch.float64)
        r32 = compute(cfg, params, tokens, targets, torch.float32)
        e = compare(r32, r)
        worst = max(v for k, v in e.items() if k != "grad_tensor")
        if r["margin"] >= MIN_ROUTE_MARGIN and worst <= FLOAT32_MARGIN:
            break
        if verbose:
            print("    %s seed attempt %d rejected: route margin %.2g, float32 error %.2g" % (
                name, attempt, r["margin"], worst))
    else:
        raise SystemExit("%s: no well-conditioned seed in %d attempts" % (name, MAX_ATTEMPTS))

    tensors = [("tokens", tokens), ("targets", targets), ("logits", r["logits"].float()),
               ("loss", torch.tensor([r["loss"]], dtype=torch.float32))]
    if "aux" in r:
        tensors.append(("aux", torch.tensor([r["aux"]], dtype=torch.float32)))
        tensors.append(("z", torch.tensor([r["z"]], dtype=torch.float32)))
    tensors.append(("adam_losses", torch.tensor(r["adam_losses"], dtype=torch.float32)))
    tensors += [("param." + n, p) for n, p in params.items()]
    tensors += [("grad." + n, g.float()) for n, g in r["grads"].items()]
    yaml_text = to_yaml(cfg)
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, {"config": yaml_text})

    back, meta = read_safetensors(path)
    assert meta["config"] == yaml_text
    for n, tt in tensors:
        assert torch.equal(back[n], tt), n

    line = "%-40s %6.1f KB  loss %.5f  adam %.5f -> %.5f" % (
        name, os.path.getsize(path) / 1024.0, r["loss"], r["adam_losses"][0],
        r["adam_losses"][-1])
    if "aux" in r:
        line += "  aux %.5f z %.5f" % (r["aux"], r["z"])
    print(line)
    if verbose:
        plan = " | ".join("%d:%r/%r" % (l, spec.attn[l], spec.ffn_flags[l])
                          for l in range(spec.layers))
        print("    plan %s; embed_norm %s final_norm %s" % (plan, spec.embed_norm,
                                                         spec.final_norm))
        print("    float32 vs float64: loss %.1e logits %.1e grad %.1e (%s) adam %.1e%s" % (
            e["loss"], e["logits"], e["grad"], e["grad_tensor"], e["adam"],
            "  aux %.1e z %.1e route margin %.2g" % (e["aux"], e["z"], r["margin"])
            if "aux" in e else ""))
    return os.path.getsize(path)


def main(argv):
    verbose = "-v" in argv or "--verbose" in argv
    only = [a for a in argv if not a.startswith("-")]
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for i, (name, m, t) in enumerate(FIXTURES):
        if only and not any(o in name for o in only):
            continue
        total += make_one(i, name, copy.deepcopy(m), copy.deepcopy(t), verbose)
    print("total %.1f KB" % (total / 1024.0))


if __name__ == "__main__":
    main(sys.argv[1:])
