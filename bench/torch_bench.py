"""Training throughput of the same transformer in PyTorch, for comparison with `normlab bench`.

    /usr/bin/python3 bench/torch_bench.py --d 128 --layers 6 --heads 4 --seq 256 --batch 8 \
        --vocab 256 --placement pre --ffn gelu --pos learned --threads 2 --steps 20

The model is tests/ref/reference.py's (the one the parity fixtures come from), in float32.
A step is what normlab's is: forward, backward, global-norm clipping, AdamW (weight decay on
matrices). Random tokens. Steps after --warmup-steps untimed ones are timed (CUDA: with
torch.cuda.Event), and the last line is `torch tokens/s <value>`.

--ops fused (the default) runs the same functions through PyTorch's own kernels where the
reference spells them out in elementwise steps, as a user writing the model for speed would:
F.layer_norm, F.gelu(approximate="tanh"), F.silu, and attention's scale and causal mask folded
into one torch.baddbmm. --ops reference runs reference.py's code as it is. --check trains both
from the same start and prints the largest difference of their losses.
"""

import argparse
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "ref"))
import reference as ref  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--d", type=int, default=128, help="d_model")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seq", type=int, default=256, help="seq_len")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--placement", default="pre", choices=[x for x in ref.PLACEMENTS
                                                           if x != "custom"])
    p.add_argument("--norm", default="layernorm", choices=["layernorm", "rmsnorm"])
    p.add_argument("--ffn", default="gelu", choices=["gelu", "swiglu"])
    p.add_argument("--ffn-hidden", type=int, default=0, help="0 = the default size")
    p.add_argument("--pos", default="learned", choices=["learned", "rope"])
    p.add_argument("--tied", action="store_true", help="tie lm_head to wte")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup-steps", type=int, default=3, help="untimed steps first")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="fp32", choices=["fp32", "tf32", "bf16"],
                   help="fp32; tf32 matmuls (CUDA); bf16 autocast")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ops", default="fused", choices=["fused", "reference"],
                   help="fused: PyTorch's own LayerNorm, GELU, SiLU and masked scores (the "
                        "default); reference: reference.py's elementwise code")
    p.add_argument("--check", action="store_true",
                   help="train --steps steps with each --ops from the same start; print the "
                        "largest difference of the losses and exit")
    return p.parse_args(argv)


REFERENCE = {"norm": ref.Norm.forward, "attn": ref.Attention.inner, "gelu": ref.gelu_tanh,
             "silu": ref.silu}


def fused_norm(self, x):
    if self.kind == "layernorm":
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


_masks = {}


def fused_attention(self, h):
    """reference.Attention.inner with the scores' scale and causal mask in one baddbmm
    (where no q/k/v norm and no RoPE come between the projection and the scores)."""
    if self.flags.qk or self.flags.v or self.rope is not None:
        return REFERENCE["attn"](self, h)
    B, T, d = h.shape
    H, D = self.spec.heads, self.spec.head_dim
    qkv = self.qkv(h).view(B, T, 3, H, D).permute(2, 0, 3, 1, 4).reshape(3, B * H, T, D)
    key = (T, h.dtype, h.device)
    if key not in _masks:
        _masks[key] = torch.full((T, T), float("-inf"), dtype=h.dtype, device=h.device).triu(1)
    scores = torch.baddbmm(_masks[key], qkv[0], qkv[1].transpose(1, 2), alpha=1.0 / math.sqrt(D))
    y = torch.bmm(torch.softmax(scores, dim=-1), qkv[2])
    return self.out(y.view(B, H, T, D).transpose(1, 2).reshape(B, T, d))


def use_ops(ops):
    """Point reference.py's Norm, Attention, gelu_tanh and silu at one of the two codes."""
    fused = ops == "fused"
    ref.Norm.forward = fused_norm if fused else REFERENCE["norm"]
    ref.Attention.inner = fused_attention if fused else REFERENCE["attn"]
    ref.gelu_tanh = (lambda x: F.gelu(x, approximate="tanh")) if fused else REFERENCE["gelu"]
    ref.silu = F.silu if fused else REFERENCE["silu"]


def build(args):
    cfg = {"model": {"placement": args.placement, "norm": args.norm, "ffn": args.ffn,
                     "pos": args.pos, "vocab": args.vocab, "d_model": args.d,
                     "layers": args.layers, "heads": args.heads, "seq_len": args.seq,
                     "ffn_hidden": args.ffn_hidden, "tied": args.tied}}
    model = ref.Model(ref.Spec(cfg))
    with torch.no_grad():  # normal init: std 0.02, gains 1, biases 0
        for name, p in model.named_parameters():
            if ref.is_norm_param(name):
                p.fill_(1.0 if name.endswith(".weight") else 0.0)
            else:
                p.normal_(0.0, 0.02)
    return model


def trainer(args, dev):
    """The model, freshly built from --seed, and a function running one step (its loss)."""
    torch.manual_seed(args.seed)
    model = build(args).to(dev)
    decay = [p for n, p in model.named_parameters() if ref.decays(n, p, False)]
    other = [p for n, p in model.named_parameters() if not ref.decays(n, p, False)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    use_bf16 = args.dtype == "bf16"

    def step():
        tokens = torch.randint(0, args.vocab, (args.batch, args.seq), device=dev)
        targets = torch.randint(0, args.vocab, (args.batch, args.seq), device=dev)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=args.device, dtype=torch.bfloat16, enabled=use_bf16):
            loss = model(tokens, targets)[1]
        loss.backward()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        return loss

    return model, step


def check(args, dev):
    """Both codes from the same start over --steps steps: the largest difference of losses."""
    losses = {}
    for ops in ("reference", "fused"):
        use_ops(ops)
        _, step = trainer(args, dev)
        losses[ops] = [float(step()) for _ in range(args.steps)]
    worst = max(abs(a - b) for a, b in zip(losses["reference"], losses["fused"]))
    print("torch_bench check: %d steps, loss reference %.6f fused %.6f at the last, largest "
          "difference %.3g" % (args.steps, losses["reference"][-1], losses["fused"][-1], worst))
    return worst


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    dev = torch.device(args.device)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("torch_bench: --device cuda but torch sees no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = args.dtype == "tf32"
        torch.backends.cudnn.allow_tf32 = args.dtype == "tf32"
    elif args.dtype == "tf32":
        print("torch_bench: tf32 has no effect on the CPU; timing fp32", file=sys.stderr)
    if args.check:
        check(args, dev)
        return
    use_ops(args.ops)
    model, step = trainer(args, dev)

    for _ in range(args.warmup_steps):
        step()
    if args.device == "cuda":
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(args.steps):
            loss = step()
        end.record()
        torch.cuda.synchronize()
        seconds = start.elapsed_time(end) / 1000.0
    else:
        t0 = time.perf_counter()
        for _ in range(args.steps):
            loss = step()
        seconds = time.perf_counter() - t0

    tokens = args.steps * args.batch * args.seq
    n_params = sum(p.numel() for p in model.parameters())
    print("torch %s %s %s, %s ops: %d params, %d steps of %dx%d tokens, last loss %.4f" % (
        torch.__version__, args.device, args.dtype, args.ops, n_params, args.steps, args.batch,
        args.seq, float(loss)))
    print("torch ms/step %.2f" % (1000.0 * seconds / max(1, args.steps)))
    print("torch tokens/s %.1f" % (tokens / seconds))


if __name__ == "__main__":
    main(sys.argv[1:])
