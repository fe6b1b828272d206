#!/usr/bin/env python3
"""How far f16 operands move the tiny AV-DiT's outputs and gradients from exact arithmetic, in
PyTorch, with the rounding placed where avdit's mixed-precision kernels put it. This is the
reference for test/webgpu/mixed-precision.test.ts, whose figures (ours, mixed vs f32) should be of
the same size if our kernels round where we say they do and nowhere else.

The model, weights, inputs and cotangents are test/fixtures/model/make_avdit_golden.py's (hash-filled,
computed in f64). Rounding r(x) = x → f16 → back:
  - every matmul (Linear, LoRA, the patch embedding): r(x)·r(W)ᵀ forward, r(dY)·r(W) and
    r(dY)ᵀ·r(x) backward, accumulation exact (avdit: f32);
  - attention (kernels/attention-sgmat.ts): S = r(τQ)·r(K)ᵀ, P = e^{S−m}, O = r(P)·r(V)/ℓ;
    backward dP = r(dO)·r(V)ᵀ, dS = P∘(dP − D), dQ = τ·r(dS)·r(K), dK = r(dS)ᵀ·r(τQ),
    dV = r(P)ᵀ·r(dO), with P recomputed from lse and D = rowsum(dO∘O) exact (avdit: f32).

Prints the worst relative difference over outputs and trainable gradients (test/model/golden-check.ts
relErr: max |mixed − exact| / max |exact|, gradients floored at 1e-2 of the largest gradient), for
matmuls only and for matmuls + attention, over several cotangent projections.

    /usr/bin/python3 bench/torch_mixed_tiny.py [--seeds 5]
"""
import math, os, sys
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "model"))
import make_avdit_golden as G  # noqa: E402

def r16(x): return x.to(torch.float16).to(x.dtype)

class MixedMatmulT(torch.autograd.Function):
    """y = r(x)·r(w)ᵀ (+ b), x [..., K], w [N, K]; the backward's products from rounded operands."""
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        ctx.has_b = b is not None
        y = r16(x) @ r16(w).t()
        return y + b if b is not None else y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        K, N = x.shape[-1], g.shape[-1]
        dx = r16(g) @ r16(w)
        dw = r16(g).reshape(-1, N).t() @ r16(x).reshape(-1, K)
        db = g.reshape(-1, N).sum(0) if ctx.has_b else None
        return dx, dw, db

class MixedAttention(torch.autograd.Function):
    """Our tensor-core attention's rounding (kernels/attention-sgmat.ts), q/k/v [N, H, L, d]."""
    @staticmethod
    def forward(ctx, q, k, v):
        tau = 1 / math.sqrt(q.shape[-1])
        s = r16(tau * q) @ r16(k).transpose(-1, -2)
        m = s.amax(-1, keepdim=True)
        p = torch.exp(s - m)
        ell = p.sum(-1, keepdim=True)
        o = (r16(p) @ r16(v)) / ell
        lse = m + torch.log(ell)
        ctx.save_for_backward(q, k, v, o, lse)
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        tau = 1 / math.sqrt(q.shape[-1])
        qs = r16(tau * q)
        p = torch.exp(qs @ r16(k).transpose(-1, -2) - lse)
        dp = r16(do) @ r16(v).transpose(-1, -2)
        D = (do * o).sum(-1, keepdim=True)
        ds = p * (dp - D)
        dq = tau * (r16(ds) @ r16(k))
        dk = r16(ds).transpose(-1, -2) @ qs
        dv = r16(p).transpose(-1, -2) @ r16(do)
        return dq, dk, dv

def mixed_linear(P, key, x, bias=True):
    return MixedMatmulT.apply(x, P[key + ".weight"], P[key + ".bias"] if bias else None)

def mixed_lora(P, key, x):
    return MixedMatmulT.apply(MixedMatmulT.apply(x, P[key + ".down.weight"], None), P[key + ".up.weight"], None)

def mixed_patch_embed(P, pre, x, p):
    # The stride-p convolution as avdit runs it: patches (c, i, j order, as the conv weight) · Wᵀ.
    N, C, H, W = x.shape
    patches = x.reshape(N, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5).reshape(N, (H // p) * (W // p), C * p * p)
    w = P[pre + ".proj.weight"]
    return MixedMatmulT.apply(patches, w.reshape(w.shape[0], -1), P[pre + ".proj.bias"])

EXACT = dict(linear=G.linear, lora=G.lora, patch_embed=G.patch_embed, attention=G.attention)

def use(matmuls, attention):
    G.linear = mixed_linear if matmuls else EXACT["linear"]
    G.lora = mixed_lora if matmuls else EXACT["lora"]
    G.patch_embed = mixed_patch_embed if matmuls else EXACT["patch_embed"]
    G.attention = MixedAttention.apply if attention else EXACT["attention"]

def run(P, inputs, proj):
    xv, xa, t, y = inputs
    for k in P:
        if P[k].grad is not None: P[k].grad = None
    vo, ao = G.avdit_forward(P, xv, xa, t, y, G.CFG)
    rv = G.hashfill(proj + ".video", tuple(vo.shape), 1.0)
    ra = G.hashfill(proj + ".audio", tuple(ao.shape), 1.0)
    ((vo * rv).sum() + (ao * ra).sum()).backward()
    return [vo.detach(), ao.detach()] + [P[k].grad.detach().clone() for k in sorted(P) if G.trainable(k)]

def worst(got, want):
    scale = max(float(g.abs().max()) for g in want[2:])
    w = 0.0
    for i, (a, b) in enumerate(zip(got, want)):
        floor = 1e-2 * scale if i >= 2 else 1e-30
        w = max(w, float((a - b).abs().max()) / max(float(b.abs().max()), floor))
    return w

def main():
    seeds = int(sys.argv[sys.argv.index("--seeds") + 1]) if "--seeds" in sys.argv else 5
    C = G.CFG
    B = 2
    inputs = (G.hashfill("input.x_video", (B, C["M"], C["Cv"], C["Hv"], C["Wv"]), 1.0),
              G.hashfill("input.x_audio", (B, C["Ca"], C["T"], C["Fq"]), 1.0),
              torch.tensor([10.0, 537.0]), torch.tensor([3, C["classes"]]))
    P = G.make_params(C)
    for k in P:
        if G.trainable(k): P[k].requires_grad_(True)
    # The test's own projection ("proj"), then others ("proj1", ...) for the spread.
    projs = ["proj"] + [f"proj{i}" for i in range(1, seeds)]
    print(f"torch {torch.__version__}; tiny AV-DiT (make_avdit_golden.py), exact = f64; worst relative difference over outputs and trainable gradients")
    print("projection  matmuls f16  matmuls + attention f16")
    for proj in projs:
        use(False, False)
        exact = run(P, inputs, proj)
        use(True, False)
        mm = worst(run(P, inputs, proj), exact)
        use(True, True)
        both = worst(run(P, inputs, proj), exact)
        print(f"{proj:<10}  {mm:11.2e}  {both:23.2e}")
    use(False, False)

if __name__ == "__main__":
    main()
