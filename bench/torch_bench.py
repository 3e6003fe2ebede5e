"""Training throughput of the same transformer in PyTorch, for comparison with `normlab bench`.

    /usr/bin/python3 bench/torch_bench.py --d 128 --layers 6 --heads 4 --seq 256 --batch 8 \
        --vocab 256 --placement pre --ffn gelu --pos learned --threads 2 --steps 20

The model is tests/ref/reference.py's (the one the parity fixtures come from), in float32.
A step is what normlab's is: forward, backward, global-norm clipping, AdamW (weight decay on
matrices). Random tokens. Steps after --warmup-steps untimed ones are timed (CUDA: with
torch.cuda.Event), and the last line is `torch tokens/s <value>`.
"""

import argparse
import os
import sys
import time

import torch

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
    return p.parse_args(argv)


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


def main(argv):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, args.threads))
    dev = torch.device(args.device)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("torch_bench: --device cuda but torch sees no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = args.dtype == "tf32"
        torch.backends.cudnn.allow_tf32 = args.dtype == "tf32"
    elif args.dtype == "tf32":
        print("torch_bench: tf32 has no effect on the CPU; timing fp32", file=sys.stderr)

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
    print("torch %s %s %s: %d params, %d steps of %dx%d tokens, last loss %.4f" % (
        torch.__version__, args.device, args.dtype, n_params, args.steps, args.batch, args.seq,
        float(loss)))
    print("torch ms/step %.2f" % (1000.0 * seconds / max(1, args.steps)))
    print("torch tokens/s %.1f" % (tokens / seconds))


if __name__ == "__main__":
    main(sys.argv[1:])
