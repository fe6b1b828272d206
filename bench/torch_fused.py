"""PyTorch reference timings for bench/gpu-fused.ts (prints one JSON object on stdout).

Usage: python3 bench/torch_fused.py '{"attention": [{"name":..., "n":..., "l":..., "s":..., "dqk":..., "dv":...}],
                                      "adamw_params": 160000000, "iters": 10}'
f32 throughout with TF32 off (torch.backends.cuda.matmul.allow_tf32 = False, cudnn too), so the
comparison with the f32 WGSL kernels is like for like. Attention forward+backward uses
F.scaled_dot_product_attention where it exists (torch >= 2.0; it picks its own backend: for f32
usually memory-efficient attention) and else the composition softmax(q kᵀ·scale) v (torch 1.13,
which has no SDPA). AdamW: torch.optim.AdamW with fused=True where supported, else foreach.
Runs on CUDA when available, else on the CPU (only for --quick checks).
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {"attention": [], "adamw_params": 0, "iters": 3}
dev = "cuda" if torch.cuda.is_available() else "cpu"
if dev == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
iters = int(cfg.get("iters", 10))
has_sdpa = hasattr(F, "scaled_dot_product_attention")


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


def timeit(fn):
    fn()  # warm-up
    sync()
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    sync()
    return (time.perf_counter() - t) / iters * 1e3


def attention(c):
    n, l, s, dqk, dv = c["n"], c["l"], c["s"], c["dqk"], c["dv"]
    g = torch.Generator(device="cpu").manual_seed(0)
    q = torch.randn(n, l, dqk, generator=g).to(dev).requires_grad_(True)
    k = torch.randn(n, s, dqk, generator=g).to(dev).requires_grad_(True)
    v = torch.randn(n, s, dv, generator=g).to(dev).requires_grad_(True)
    do = torch.randn(n, l, dv, generator=g).to(dev)
    scale = 1 / math.sqrt(dqk)
    out = {"name": c["name"]}

    def composed():
        return torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1) @ v

    fns = [("composed", composed)]
    if has_sdpa:
        # 4-D [B, H, L, d] as the model would call it (n = B·H folded into one batch dim here).
        fns.insert(0, ("sdpa", lambda: F.scaled_dot_product_attention(q[None], k[None], v[None])[0]))
    for name, f in fns:
        try:
            out[f"{name}_fwd_ms"] = timeit(lambda: f())

            def fb():
                q.grad = k.grad = v.grad = None
                f().backward(do)

            out[f"{name}_fwdbwd_ms"] = timeit(fb)
        except Exception as e:  # e.g. out of memory, or an unsupported head-dim combination
            out[f"{name}_error"] = str(e)[:200]
            if dev == "cuda":
                torch.cuda.empty_cache()
    if has_sdpa and dev == "cuda":
        # Half precision (the mixed-precision comparison): SDPA picks flash / efficient kernels.
        for tag, dt in (("f16", torch.float16), ("bf16", torch.bfloat16)):
            qh, kh, vh = (x.detach().to(dt).requires_grad_(True) for x in (q, k, v))
            doh = do.to(dt)

            def fbh():
                qh.grad = kh.grad = vh.grad = None
                F.scaled_dot_product_attention(qh[None], kh[None], vh[None])[0].backward(doh)

            try:
                out[f"sdpa_{tag}_fwd_ms"] = timeit(lambda: F.scaled_dot_product_attention(qh[None], kh[None], vh[None]))
                out[f"sdpa_{tag}_fwdbwd_ms"] = timeit(fbh)
            except Exception as e:
                out[f"sdpa_{tag}_error"] = str(e)[:200]
                torch.cuda.empty_cache()
    return out


def adamw(total):
    if total <= 0:
        return None
    per = 4_000_000 if total >= 40_000_000 else max(1, total // 40)
    sizes = [per] * (total // per) + ([total % per] if total % per else [])
    params = [torch.zeros(n, device=dev).requires_grad_(True) for n in sizes]
    for p in params:
        p.grad = torch.full_like(p, 1e-3)
    res = {"params": total, "tensors": len(sizes)}
    for kind in ("fused", "foreach"):
        try:
            opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01, **{kind: True})
            ms = timeit(opt.step)
            res[f"{kind}_ms"] = ms
            res[f"{kind}_GBps"] = 28 * total / (ms * 1e-3) / 1e9
        except Exception as e:
            res[f"{kind}_error"] = str(e)[:200]
    return res


result = {
    "torch": torch.__version__,
    "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
    "sdpa": has_sdpa,
    "tf32": False,
    "attention": [attention(c) for c in cfg.get("attention", [])],
    "adamw": adamw(int(cfg.get("adamw_params", 0))),
}
print(json.dumps(result))
