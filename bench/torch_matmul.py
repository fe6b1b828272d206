#!/usr/bin/env python3
"""PyTorch matmul timings for bench/gpu-matmul.ts.

Usage: python3 bench/torch_matmul.py '[[M, N, K], ...]' [runs]
Prints one JSON object on the last line:
  {"device": ..., "torch": ..., "results": [{"M", "N", "K", "f32_ms", "tf32_ms", "f16_ms"}, ...]}
f32 = TF32 off (torch.backends.cuda.matmul.allow_tf32 = False), tf32 = TF32 on,
f16 = f16 operands (cuBLAS accumulates in f32). Times are medians of `runs` timed runs, each
several back-to-back matmuls between CUDA events. On error prints {"error": "..."}.
"""
import json
import statistics
import sys


def main() -> None:
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        print(json.dumps({"error": f"no torch: {e}"}))
        return
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch has no CUDA device"}))
        return
    shapes = json.loads(sys.argv[1]) if len(sys.argv) > 1 else [[4096, 4096, 4096]]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    dev = torch.device("cuda")

    def time_ms(a, b, out):
        # Pick the repeat count so one timed run lasts about 20 ms.
        torch.matmul(a, b, out=out)
        torch.cuda.synchronize()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        torch.matmul(a, b, out=out)
        e.record()
        torch.cuda.synchronize()
        reps = max(1, min(200, int(20.0 / max(s.elapsed_time(e), 1e-3))))
        times = []
        for _ in range(runs):
            s.record()
            for _ in range(reps):
                torch.matmul(a, b, out=out)
            e.record()
            torch.cuda.synchronize()
            times.append(s.elapsed_time(e) / reps)
        return statistics.median(times)

    results = []
    for M, N, K in shapes:
        r = {"M": M, "N": N, "K": K}
        a = torch.randn(M, K, device=dev)
        b = torch.randn(K, N, device=dev)
        out = torch.empty(M, N, device=dev)
        torch.backends.cuda.matmul.allow_tf32 = False
        r["f32_ms"] = time_ms(a, b, out)
        torch.backends.cuda.matmul.allow_tf32 = True
        r["tf32_ms"] = time_ms(a, b, out)
        torch.backends.cuda.matmul.allow_tf32 = False
        ah, bh = a.half(), b.half()
        outh = torch.empty(M, N, device=dev, dtype=torch.half)
        r["f16_ms"] = time_ms(ah, bh, outh)
        del a, b, out, ah, bh, outh
        torch.cuda.empty_cache()
        results.append(r)
    print(json.dumps({"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "results": results}))


if __name__ == "__main__":
    main()
