#!/usr/bin/env python3
"""PyTorch on one CPU thread, the tiny AV-DiT of this spec (the golden generator's reference
model, f32): a forward at batch 1 (one denoising step's model call) and a training step at batch 2
(forward + backward + AdamW over the trainable parameters). Prints one JSON line (medians, ms)."""
import json, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "model"))
import torch
import make_avdit_golden as ref
torch.set_default_dtype(torch.float32)
torch.set_num_threads(1)
C = ref.CFG
P = {k: (torch.tensor(v.numpy(), dtype=torch.float32) if k.endswith("pos_embed") else (torch.randn(v.shape) * 0.1)).requires_grad_(ref.trainable(k)) for k, v in ref.make_params(C).items()}
opt = torch.optim.AdamW([v for k, v in P.items() if ref.trainable(k)], lr=1e-4, weight_decay=0)
def inputs(B):
    return (torch.randn(B, C["M"], C["Cv"], C["Hv"], C["Wv"]), torch.randn(B, C["Ca"], C["T"], C["Fq"]), torch.full((B,), 500.0), torch.full((B,), C["classes"], dtype=torch.long))
def med(fn, reps=30, warmup=20):  # as bench/tiny-steps.ts
    for _ in range(warmup): fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1000)
    return sorted(ts)[len(ts) // 2]
def fwd():
    with torch.no_grad(): ref.avdit_forward(P, *inputs(1), C)
def step():
    vo, ao = ref.avdit_forward(P, *inputs(2), C)
    ((vo ** 2).mean() + (ao ** 2).mean()).backward(); opt.step(); opt.zero_grad(set_to_none=True)
print(json.dumps({"torch": torch.__version__, "threads": 1, "denoiseStepB1Ms": med(fwd), "trainStepB2Ms": med(step)}))
