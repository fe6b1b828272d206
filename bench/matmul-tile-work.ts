/**
 * The matmul work of an AV-DiT-XL step, useful and as the f32 kernel's tiles compute it (each
 * product's output rounded up to whole tiles of the config `chooseVariant` picks on an
 * NVIDIA-sized device: 48 KiB of workgroup memory, no tensor cores). No GPU needed: the memory
 * backend runs the step on shapes alone and records every product.
 *
 *   node --import tsx bench/matmul-tile-work.ts [train B | denoise B] [--tensor-cores]   (default: train 16, checkpointed)
 * Honors AVDIT_MATMUL_V2_ALT, AVDIT_MATMUL_F32X3 and the like, as the real backend does;
 * --tensor-cores gives the device 16×16×16 f16 subgroup matrices (where the x3 split may run).
 * Prints TFLOP useful / computed.
 */
import { createMemoryBackend } from '../engine/meta/memory-backend.ts';
import type { GpuContext } from '../kernels/context.ts';
import { chooseVariant } from '../kernels/matmul.ts';
import { Generator } from '../engine/rng.ts';
import { AVDiT } from '../model/avdit.ts';
import { makeConfig } from '../model/config.ts';
import { modelSteps } from './step-inputs.ts';

const tensorCores = process.argv.includes('--tensor-cores');
const [what = 'train', batchArg] = process.argv.slice(2).filter((a) => a !== '--tensor-cores');
if (what !== 'train' && what !== 'denoise') throw new Error(`usage: matmul-tile-work.ts [train B | denoise B], not '${what}'`);
const batch = Number(batchArg ?? (what === 'train' ? 16 : 8));
const nvidia = {
  limits: { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 },
  features: { software: false, f16: true, subgroupMatrix: tensorCores ? { M: 16, N: 16, K: 16 } : null },
} as unknown as GpuContext;

const backend = createMemoryBackend();
let useful = 0, computed = 0, recording = false;
const matmul = backend.matmul.bind(backend);
backend.matmul = (a, aShape, b, bShape, transA, transB, outShape, bias) => {
  if (recording) {
    const K = transA ? aShape.at(-2)! : aShape.at(-1)!;
    const N = outShape.at(-1)!, M = outShape.slice(0, -1).reduce((p, d) => p * d, 1);
    const v = chooseVariant(nvidia, { batch: 1, M, N, K, transA, transB, strideA: 0, strideB: 0 });
    const [BM, BN] = v.name === 'v1' ? [16, 16] : [v.cfg.BM, v.cfg.BN];
    useful += 2 * M * N * K;
    computed += 2 * Math.ceil(M / BM) * BM * Math.ceil(N / BN) * BN * K;
  }
  return matmul(a, aShape, b, bShape, transA, transB, outShape, bias);
};
const config = makeConfig('XL');
const gen = new Generator(0);
const model = new AVDiT({ backend, gen }, config);
const { forward, trainStep } = modelSteps(model, config, backend, gen);
const run = what === 'denoise' ? forward(batch) : trainStep(batch, true);
if (what === 'denoise') model.mergeLoRA();
await run(); // (the first step builds what later ones reuse)
recording = true;
await run();
console.log(`${what} b${batch}: matmul ${(useful / 1e12).toFixed(2)} TFLOP useful, ${(computed / 1e12).toFixed(2)} computed by the tiles (${((100 * (computed - useful)) / useful).toFixed(1)}% padding)`);
