"""A PyTorch model of normlab's transformer and norm plan, written from DESIGN.md sections 2-3.

It is independent of the C engine: the fixtures it produces (make_fixtures.py) are what
tests/test_parity.c compares the C model against. The model takes its settings from the same
nested dict that make_fixtures.py writes out as the fixture's YAML preset, so the C loader and
this file read one description.

The module tree is laid out so that named_parameters() gives the tensor names of DESIGN.md
section 3 (wte.weight, blocks.0.attn.qkv.weight, blocks.1.ffn.experts.2.up.weight, ...).
Everything is dtype-agnostic: the fixtures use float64, the benchmark float32.
"""

import math

import torch
import torch.nn as nn

PLACEMENTS = ("post", "pre", "sandwich", "preqk", "hybrid", "hybrid_star", "mixln", "deepnorm",
              "custom")
FLAG_NAMES = ("pre", "peri", "post", "res_from_normed", "qk", "v")


def get(cfg, dotted, default=None):
    """cfg["model"]["moe"]["experts"] as get(cfg, "model.moe.experts", default)."""
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return default if node is None else node


class Flags:
    """The flags of one sublayer (DESIGN.md section 2)."""

    def __init__(self, pre=False, peri=False, post=False, res_from_normed=False, qk=False,
                 v=False, alpha=1.0):
        self.pre, self.peri, self.post = bool(pre), bool(peri), bool(post)
        self.res_from_normed, self.qk, self.v = bool(res_from_normed), bool(qk), bool(v)
        self.alpha = float(alpha)

    @staticmethod
    def from_map(m, names=None):
        """A custom placement's map {pre: true, ..., alpha: 1.5}; alpha 0 or absent means 1.
        A flag absent from an override is off. When `names` is given (the base maps), each of
        those flags must be present: the loader's defaults for absent base flags are its own
        business, and a fixture must not depend on them."""
        m = m or {}
        unknown = set(m) - set(FLAG_NAMES) - {"alpha"}
        if unknown:
            raise ValueError("unknown sublayer flag(s): %s" % ", ".join(sorted(unknown)))
        missing = [k for k in (names or ()) if k not in m]
        if missing:
            raise ValueError("custom base flags must all be given; missing %s" %
                             ", ".join(missing))
        alpha = float(m.get("alpha", 0) or 0)
        return Flags(alpha=alpha if alpha != 0 else 1.0,
                     **{k: bool(m.get(k, False)) for k in FLAG_NAMES})

    def __repr__(self):
        on = [k for k in FLAG_NAMES if getattr(self, k)]
        if self.alpha != 1.0:
            on.append("alpha=%g" % self.alpha)
        return "+".join(on) or "none"


class Spec:
    """The resolved model settings (defaults filled in) and the norm plan."""

    def __init__(self, cfg):
        m = lambda key, default=None: get(cfg, "model." + key, default)
        self.placement = m("placement", "pre")
        if self.placement not in PLACEMENTS:
            raise ValueError("unknown placement %r" % self.placement)
        self.norm = m("norm", "layernorm")
        self.ffn = m("ffn", "gelu")
        self.pos = m("pos", "learned")
        self.vocab = int(m("vocab", 0) or get(cfg, "data.vocab"))
        self.d = int(m("d_model"))
        self.layers = int(m("layers"))
        self.heads = int(m("heads"))
        self.seq_len = int(m("seq_len"))
        self.tied = bool(m("tied", False))
        self.rope_theta = float(m("rope_theta", 10000.0))
        self.eps = float(m("norm_eps", 1e-5))
        if self.d % self.heads:
            raise ValueError("d_model must be a multiple of heads")
        self.head_dim = self.d // self.heads
        self.hidden = int(m("ffn_hidden", 0) or 0) or default_ffn_hidden(self.ffn, self.d)
        self.experts = int(m("moe.experts", 0) or 0)
        self.top_k = int(m("moe.top_k", 2))
        self.every = int(m("moe.every", 1))
        self.aux_loss = float(m("moe.aux_loss", 0.01))
        self.z_loss = float(m("moe.z_loss", 0.001))
        self.renorm = bool(m("moe.renorm", True))
        self.attn, self.ffn_flags = [], []
        self.embed_norm, self.final_norm = self._resolve_plan(cfg)

    def is_moe(self, layer):
        return self.experts > 0 and layer % self.every == self.every - 1

    def _resolve_plan(self, cfg):
        L, p = self.layers, self.placement
        for l in range(L):
            if p == "post":
                a, f = Flags(post=True), Flags(post=True)
            elif p == "pre":
                a, f = Flags(pre=True), Flags(pre=True)
            elif p == "sandwich":
                a, f = Flags(pre=True, peri=True), Flags(pre=True, peri=True)
            elif p == "preqk":
                a, f = Flags(pre=True, qk=True), Flags(pre=True)
            elif p == "hybrid" or (p == "hybrid_star" and l > 0):
                a, f = Flags(qk=True, v=True), Flags(pre=True, res_from_normed=True)
            elif p == "hybrid_star":
                a, f = Flags(pre=True, qk=True, v=True), Flags(pre=True)
            elif p == "mixln":
                if l < math.floor(0.25 * L):
                    a, f = Flags(post=True), Flags(post=True)
                else:
                    a, f = Flags(pre=True), Flags(pre=True)
            elif p == "deepnorm":
                alpha = (2.0 * L) ** 0.25
                a, f = Flags(post=True, alpha=alpha), Flags(post=True, alpha=alpha)
            else:  # custom: base flags, then per-layer overrides that replace a sublayer's flags
                a = Flags.from_map(get(cfg, "model.custom.attn", {}), FLAG_NAMES)
                f = Flags.from_map(get(cfg, "model.custom.ffn", {}), FLAG_NAMES[:4])
                for o in get(cfg, "model.custom.layers", []) or []:
                    if int(o["layer"]) == l:
                        if "attn" in o:
                            a = Flags.from_map(o["attn"])
                        if "ffn" in o:
                            f = Flags.from_map(o["ffn"])
            self.attn.append(a)
            self.ffn_flags.append(f)

        def model_flag(key, auto):
            v = get(cfg, "model." + key, "auto")
            if v == "auto":
                if auto is None:
                    raise ValueError("custom placement: give model.%s as true or false" % key)
                return auto
            return bool(v)

        custom = p == "custom"
        embed = model_flag("embed_norm", None if custom else False)
        final = model_flag("final_norm", None if custom else p not in ("post", "deepnorm"))
        return embed, final


def default_ffn_hidden(ffn, d):
    """4d for gelu; for swiglu the multiple of 32 nearest 8d/3."""
    if ffn == "gelu":
        return 4 * d
    target = 8.0 * d / 3.0
    lo = 32 * math.floor(target / 32.0)
    hi = lo + 32
    return max(32, lo if target - lo <= hi - target else hi)


class Norm(nn.Module):
    """LayerNorm (gain and bias, biased variance) or RMSNorm (gain) over the last dimension."""

    def __init__(self, kind, n, eps):
        super().__init__()
        self.kind, self.eps = kind, eps
        self.weight = nn.Parameter(torch.ones(n))
        if kind == "layernorm":
            self.bias = nn.Parameter(torch.zeros(n))
        elif kind != "rmsnorm":
            raise ValueError("unknown norm %r" % kind)

    def forward(self, x):
        if self.kind == "layernorm":
            mean = x.mean(-1, keepdim=True)
            xc = x - mean
            var = (xc * xc).mean(-1, keepdim=True)
            return xc * torch.rsqrt(var + self.eps) * self.weight + self.bias
        ms = (x * x).mean(-1, keepdim=True)
        return x * torch.rsqrt(ms + self.eps) * self.weight


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def silu(x):
    return x * torch.sigmoid(x)


def rope_tables(T, D, theta, dtype, device=None):
    """cos, sin (T, D/2) of the angles t * theta^(-2i/D), computed in float64."""
    i = torch.arange(D // 2, dtype=torch.float64)
    inv = theta ** (-2.0 * i / D)
    t = torch.arange(T, dtype=torch.float64)
    ang = t[:, None] * inv[None, :]
    return torch.cos(ang).to(dtype=dtype, device=device), torch.sin(ang).to(dtype=dtype,
                                                                         device=device)


def rope_apply(x, cos, sin):
    """Rotate-half RoPE on x (B, T, H, D): pairs (i, i + D/2) for i < D/2."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1)


class Sublayer(nn.Module):
    """The general sublayer: h = N_pre(x)?; o = S(h); o = N_peri(o)?; y = alpha*r + o;
    y = N_post(y)? with r = h when res_from_normed, else x."""

    def __init__(self, flags, spec):
        super().__init__()
        self.flags = flags
        for which in ("pre", "peri", "post"):
            if getattr(flags, which):
                setattr(self, which + "_norm", Norm(spec.norm, spec.d, spec.eps))

    def inner(self, h):
        raise NotImplementedError

    def forward(self, x):
        f = self.flags
        h = self.pre_norm(x) if f.pre else x
        o = self.inner(h)
        if f.peri:
            o = self.peri_norm(o)
        r = h if f.res_from_normed else x
        y = r * f.alpha + o if f.alpha != 1.0 else r + o
        if f.post:
            y = self.post_norm(y)
        return y


class Attention(Sublayer):
    def __init__(self, flags, spec):
        super().__init__(flags, spec)
        self.spec = spec
        d, D = spec.d, spec.head_dim
        self.qkv = nn.Linear(d, 3 * d, bias=False)  # rows: q, then k, then v
        self.out = nn.Linear(d, d, bias=False)
        if flags.qk:
            self.q_norm = Norm(spec.norm, D, spec.eps)
            self.k_norm = Norm(spec.norm, D, spec.eps)
        if flags.v:
            self.v_norm = Norm(spec.norm, D, spec.eps)
        self.rope = None  # (cos, sin), set by the model

    def inner(self, h):
        B, T, d = h.shape
        H, D = self.spec.heads, self.spec.head_dim
        qkv = self.qkv(h)  # (B, T, 3d)
        q, k, v = (t.reshape(B, T, H, D) for t in qkv.split(d, dim=-1))
        if self.flags.qk:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.flags.v:
            v = self.v_norm(v)
        if self.rope is not None:
            cos, sin = self.rope
            q, k = rope_apply(q, cos[:T], sin[:T]), rope_apply(k, cos[:T], sin[:T])
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
        scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(D))  # (B, H, T, T)
        causal = torch.ones(T, T, dtype=torch.bool, device=h.device).triu(1)
        scores = scores.masked_fill(causal, float("-inf"))
        att = torch.softmax(scores, dim=-1)  # (under bf16 autocast, softmax runs in fp32)
        y = (att @ v).transpose(1, 2).reshape(B, T, d)
        return self.out(y)


class Expert(nn.Module):
    """One feed-forward network: down(gelu_tanh(up(x))) or down(silu(gate(x)) * up(x))."""

    def __init__(self, spec):
        super().__init__()
        self.kind = spec.ffn
        self.up = nn.Linear(spec.d, spec.hidden, bias=False)
        if self.kind == "swiglu":
            self.gate = nn.Linear(spec.d, spec.hidden, bias=False)
        elif self.kind != "gelu":
            raise ValueError("unknown ffn %r" % self.kind)
        self.down = nn.Linear(spec.hidden, spec.d, bias=False)

    def forward(self, x):
        if self.kind == "gelu":
            return self.down(gelu_tanh(self.up(x)))
        return self.down(silu(self.gate(x)) * self.up(x))


class DenseFFN(Sublayer):
    def __init__(self, flags, spec):
        super().__init__(flags, spec)
        self.kind = spec.ffn
        self.up = nn.Linear(spec.d, spec.hidden, bias=False)
        if self.kind == "swiglu":
            self.gate = nn.Linear(spec.d, spec.hidden, bias=False)
        self.down = nn.Linear(spec.hidden, spec.d, bias=False)

    def inner(self, h):
        if self.kind == "gelu":
            return self.down(gelu_tanh(self.up(h)))
        return self.down(silu(self.gate(h)) * self.up(h))


def top_k_lower_index(probs, k):
    """Indices (N, k) of the k largest entries per row, equal values ordered by lower index."""
    return torch.sort(probs, dim=-1, descending=True, stable=True).indices[:, :k]


class MoEFFN(Sublayer):
    """Softmax router, top-k, dropless: every token goes to its k experts."""

    def __init__(self, flags, spec):
        super().__init__(flags, spec)
        self.spec = spec
        self.router = nn.Linear(spec.d, spec.experts, bias=False)
        self.experts = nn.ModuleList(Expert(spec) for _ in range(spec.experts))
        self.aux = self.z = None
        self.last_probs = None

    def inner(self, h):
        B, T, d = h.shape
        E, k = self.spec.experts, self.spec.top_k
        x = h.reshape(B * T, d)
        N = x.shape[0]
        logits = self.router(x)  # (N, E)
        probs = torch.softmax(logits, dim=-1)
        idx = top_k_lower_index(probs.detach(), k)  # (N, k)
        gates = probs.gather(1, idx)  # (N, k)
        if self.spec.renorm:
            gates = gates / gates.sum(-1, keepdim=True)
        # weight (N, E): the token's gate for its chosen experts, 0 elsewhere
        weight = torch.zeros(N, E, dtype=x.dtype, device=x.device).scatter(1, idx, gates)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            rows = (idx == e).any(-1).nonzero().flatten()
            if rows.numel():
                out = out.index_add(0, rows, expert(x[rows]) * weight[rows, e:e + 1])
        counts = torch.zeros(E, dtype=x.dtype, device=x.device)
        counts = counts.index_add(0, idx.flatten(), torch.ones(N * k, dtype=x.dtype,
                                                               device=x.device))
        frac = counts / (N * k)  # f_e: a constant, no gradient
        self.aux = E * (frac * probs.mean(0)).sum()
        self.z = (torch.logsumexp(logits, dim=-1) ** 2).mean()
        self.last_probs = probs.detach()
        return out.reshape(B, T, d)


class Block(nn.Module):
    def __init__(self, spec, layer):
        super().__init__()
        self.attn = Attention(spec.attn[layer], spec)
        ffn = MoEFFN if spec.is_moe(layer) else DenseFFN
        self.ffn = ffn(spec.ffn_flags[layer], spec)

    def forward(self, x):
        return self.ffn(self.attn(x))


class Model(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        self.wte = nn.Embedding(spec.vocab, spec.d)
        if spec.pos == "learned":
            self.wpe = nn.Embedding(spec.seq_len, spec.d)
        elif spec.pos != "rope":
            raise ValueError("unknown pos %r" % spec.pos)
        if spec.embed_norm:
            self.embed_norm = Norm(spec.norm, spec.d, spec.eps)
        self.blocks = nn.ModuleList(Block(spec, l) for l in range(spec.layers))
        if spec.final_norm:
            self.final_norm = Norm(spec.norm, spec.d, spec.eps)
        if not spec.tied:
            self.lm_head = nn.Linear(spec.d, spec.vocab, bias=False)
        self._rope_key = None

    def _set_rope(self, T, dtype, device):
        key = (T, dtype, device)
        if self.spec.pos != "rope" or self._rope_key == key:
            return
        tables = rope_tables(T, self.spec.head_dim, self.spec.rope_theta, dtype, device)
        for b in self.blocks:
            b.attn.rope = tables
        self._rope_key = key

    def moe_layers(self):
        return [b.ffn for b in self.blocks if isinstance(b.ffn, MoEFFN)]

    def forward(self, tokens, targets=None):
        """Returns (logits (B,T,V), lm_loss, aux, z, total); aux and z are sums over the MoE
        layers (None for a dense model); losses are None without targets."""
        B, T = tokens.shape
        x = self.wte(tokens)
        self._set_rope(T, x.dtype, x.device)
        if self.spec.pos == "learned":
            x = x + self.wpe.weight[:T][None]
        if self.spec.embed_norm:
            x = self.embed_norm(x)
        for b in self.blocks:
            x = b(x)
        if self.spec.final_norm:
            x = self.final_norm(x)
        w = self.wte.weight if self.spec.tied else self.lm_head.weight
        logits = x @ w.t()
        if targets is None:
            return logits, None, None, None, None
        lm = torch.nn.functional.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T))
        total = lm
        aux = z = None
        moe = self.moe_layers()
        if moe:
            aux = sum(f.aux for f in moe)
            z = sum(f.z for f in moe)
            total = lm + self.spec.aux_loss * aux + self.spec.z_loss * z
        return logits, lm, aux, z, total


def is_norm_param(name):
    """True for norm gains and biases (every norm module's name ends in 'norm')."""
    parts = name.split(".")
    return len(parts) >= 2 and parts[-2].endswith("norm")


def decays(name, param, decay_all):
    """AdamW weight decay applies to matrices (not embeddings, not norm tensors)."""
    if decay_all:
        return True
    return param.dim() == 2 and name not in ("wte.weight", "wpe.weight")


def init_fixture_params(model, gen):
    """Matrices and embeddings ~ N(0, 0.02^2); norm gains 1 + 0.1 N(0,1), biases 0.1 N(0,1),
    so that gain and bias gradients are tested away from their usual starting point."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if is_norm_param(name):
                v = 1.0 + 0.1 * r if name.endswith(".weight") else 0.1 * r
            else:
                v = 0.02 * r
            p.copy_(v.to(p.dtype))


def lr_at(train, step):
    """The schedule of DESIGN.md: linear warmup, then constant / linear / cosine to lr_min."""
    lr = float(train.get("lr", 1e-3))
    lr_min = float(train.get("lr_min", 0.0))
    warmup = int(train.get("warmup", 0))
    steps = int(train.get("steps", 1))
    sched = train.get("schedule", "cosine")
    if step < warmup:
        return lr * (step + 1) / warmup
    p = (step - warmup) / max(1, steps - warmup)
    if sched == "constant":
        return lr
    if sched == "linear":
        return lr_min + (lr - lr_min) * (1.0 - p)
    if sched == "cosine":
        return lr_min + (lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * p))
    raise ValueError("unknown schedule %r" % sched)


class AdamW:
    """Global-norm clipping then AdamW with decoupled weight decay, written out so that the
    fixture's update rule is explicit:
      g *= clip / (norm + 1e-6) when norm > clip
      m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
      p -= lr wd p (decayed tensors);  p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)"""

    def __init__(self, model, train):
        self.params = list(model.named_parameters())
        self.b1 = float(train.get("beta1", 0.9))
        self.b2 = float(train.get("beta2", 0.95))
        self.eps = float(train.get("eps", 1e-8))
        self.wd = float(train.get("weight_decay", 0.0))
        self.clip = float(train.get("clip", 0.0))
        decay_all = bool(train.get("decay_all", False))
        self.decay = [decays(n, p, decay_all) for n, p in self.params]
        self.m = [torch.zeros_like(p) for _, p in self.params]
        self.v = [torch.zeros_like(p) for _, p in self.params]
        self.t = 0

    def grad_norm(self):
        return math.sqrt(sum(float((p.grad.double() ** 2).sum()) for _, p in self.params))

    @torch.no_grad()
    def step(self, lr):
        norm = self.grad_norm()
        scale = self.clip / (norm + 1e-6) if self.clip > 0 and norm > self.clip else 1.0
        self.t += 1
        bc1 = 1.0 - self.b1 ** self.t
        bc2 = 1.0 - self.b2 ** self.t
        for i, (_, p) in enumerate(self.params):
            g = p.grad * scale
            self.m[i].mul_(self.b1).add_(g * (1.0 - self.b1))
            self.v[i].mul_(self.b2).add_(g * g * (1.0 - self.b2))
            if self.decay[i] and self.wd != 0.0:
                p.sub_(p * (lr * self.wd))
            p.sub_(lr * (self.m[i] / bc1) / (torch.sqrt(self.v[i] / bc2) + self.eps))
        return norm
