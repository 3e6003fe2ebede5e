"""GPT-2-style training throughput in PyTorch on a GPU, for bench/cuda/compare.sh.

    python3 bench/cuda/torch_gpt.py --d 768 --layers 12 --heads 12 --seq 1024 --batch 16 \
        --vocab 50304 [--compile] [--steps 10] [--warmup 3]

The model is the one normlab's bench presets describe: Pre-Norm (LayerNorm with bias before
attention and before the FFN, a final LayerNorm), learned positions, GELU (tanh) FFN of 4d,
no biases in the linear layers, an untied LM head. A step: forward and cross-entropy under bf16
autocast (fp32 master weights), attention through F.scaled_dot_product_attention (causal),
backward, global-norm clipping at 1.0, fused AdamW (weight decay 0.1 on matrices). Random
tokens. --compile wraps the model in torch.compile (its compilation happens in the untimed
warm-up steps). Steps are timed with CUDA events; the last lines are

    torch ms/step <value>
    torch tokens/s <value>

Exit status 3 (and "out of memory" on stderr) when the batch does not fit, 2 when there is no
CUDA device.
"""

import argparse
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d)
        self.up = nn.Linear(d, 4 * d, bias=False)
        self.down = nn.Linear(4 * d, d, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(y.transpose(1, 2).reshape(b, t, d))
        return x + self.down(F.gelu(self.up(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, d, layers, heads, seq, vocab):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(seq, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        for p in self.parameters():  # normlab's model.init: normal (std 0.02 on matrices)
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx, targets):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for blk in self.blocks:
            x = blk(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--vocab", type=int, default=50304)
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    return p.parse_args(argv)


def make_optimizer(model):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=6e-4, betas=(0.9, 0.95), eps=1e-8, fused=True)


def run(a):
    dev = torch.device("cuda")
    torch.manual_seed(1)
    model = GPT(a.d, a.layers, a.heads, a.seq, a.vocab).to(dev)
    opt = make_optimizer(model)
    fwd = torch.compile(model) if a.compile else model
    tok = torch.randint(0, a.vocab, (a.batch, a.seq + 1), device=dev)
    x, y = tok[:, :-1].contiguous(), tok[:, 1:].contiguous()

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = fwd(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(a.steps):
        loss = step()
    end.record()
    torch.cuda.synchronize()
    ms = start.elapsed_time(end) / a.steps
    if not math.isfinite(loss.item()):
        print("torch: the loss is not finite", file=sys.stderr)
        return 1
    print("torch %s, batch %d x %d, loss %.4f" % ("compile" if a.compile else "eager", a.batch,
                                                  a.seq, loss.item()))
    print("torch ms/step %.3f" % ms)
    print("torch tokens/s %.1f" % (a.batch * a.seq / (ms / 1000.0)))
    return 0


def main(argv):
    a = parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: torch.cuda.is_available() is false", file=sys.stderr)
        return 2
    try:
        return run(a)
    except torch.cuda.OutOfMemoryError:
        print("torch: out of memory at batch %d" % a.batch, file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
