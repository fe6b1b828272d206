#!/usr/bin/env python3
"""PyTorch baseline for bench/gpu-xl.ts: the same AV-DiT-XL spec, from the golden generator's
reference implementation (test/fixtures/model/make_avdit_golden.py), in f32 on the GPU with TF32
off (and TF32 on), random weights. Times a forward at batch 1 and a training step (forward +
backward + AdamW over the trainable parameters, loss = mean of squared outputs) at batch 2 without
checkpointing; prints one JSON line per measurement."""
import json, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "model"))
import torch
import make_avdit_golden as ref
torch.set_default_dtype(torch.float32)
SMOKE = os.environ.get("SMOKE") == "1"  # tiny config on the CPU, to check the script without a GPU
dev = "cpu" if SMOKE else "cuda"
C = dict(D=1152, depth=28, H=16, p=2, M=16, Cv=4, Hv=32, Wv=32, Ca=8, T=40, Fq=16, r=96, classes=1000)
if SMOKE:
    C.update(D=64, depth=2, H=4, r=8)
sync = (lambda: None) if SMOKE else torch.cuda.synchronize
P = {}
for k, s in ref.param_shapes(C).items():
    if k == "pos_embed":
        P[k] = torch.tensor(ref.sincos2d(C["D"], C["Hv"] // 2, C["Wv"] // 2), dtype=torch.float32, device=dev)[None]
    elif k == "audio_pos_embed":
        P[k] = torch.tensor(ref.sincos2d(C["D"], C["T"] // 2, C["Fq"] // 2), dtype=torch.float32, device=dev)[None]
    else:
        P[k] = (torch.randn(s, device=dev) * 0.02).requires_grad_(ref.trainable(k))
trainable = [v for k, v in P.items() if ref.trainable(k)]
opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0)

def inputs(B):
    return (torch.randn(B, 16, 4, 32, 32, device=dev), torch.randn(B, 8, 40, 16, device=dev),
            torch.full((B,), 500.0, device=dev), torch.full((B,), 1000, dtype=torch.long, device=dev))

def timed(label, reps, fn):
    fn(); sync()
    if not SMOKE: torch.cuda.reset_peak_memory_stats()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); sync(); ts.append(time.perf_counter() - t0)
    ts.sort()
    print(json.dumps({"what": label, "seconds": ts[len(ts) // 2], "peakGiB": 0 if SMOKE else torch.cuda.max_memory_allocated() / 2**30}), flush=True)

def fwd(B):
    def f():
        with torch.no_grad():
            ref.avdit_forward(P, *inputs(B), C)
    return f

def step(B):
    def f():
        vo, ao = ref.avdit_forward(P, *inputs(B), C)
        ((vo ** 2).mean() + (ao ** 2).mean()).backward()
        opt.step(); opt.zero_grad(set_to_none=True)
    return f

for tf32 in (False, True):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    tag = "tf32" if tf32 else "f32"
    timed(f"torch {tag} forward b1", 3, fwd(1))
    timed(f"torch {tag} train step b2, no checkpointing", 3, step(2))
    timed(f"torch {tag} denoising step b8 (forward)", 2, fwd(8))
