/**
 * AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization") as one update
 * kernel, following torch.optim.AdamW's maths exactly:
 *   p ← p·(1 − lr·wd)                         (decoupled weight decay)
 *   m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
 *   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + eps)     (eps after the bias-corrected √v̂)
 * The step-dependent scalars are computed on the host in f64 and passed as uniforms.
 *
 * Multi-tensor apply (as torch's fused/foreach optimizers): one dispatch updates up to T tensors,
 * T = ⌊maxStorageBuffersPerShaderStage / 4⌋ capped at 4 (p, g, m, v each a binding); the
 * dispatch's workgroups are laid end to end over the T tensors (tensor t owns workgroups
 * [start_t, start_{t+1})), so every element is read and written once: 28 bytes per parameter
 * (p, m, v read + written, g read), the whole optimizer state in ⌈#tensors / T⌉ dispatches.
 * A flat arena (all parameters in one buffer) would need tensors with offsets, which the engine
 * does not have (DESIGN.md: no strides/views), so tensors are grouped instead.
 *
 * Tensors whose size is a multiple of 4 (nearly all: weight matrices, most biases) are updated 4
 * elements per invocation with vec4 loads and stores, in dispatches of their own; the rest one
 * element per invocation. The arithmetic per element is the same either way.
 */
import { uniforms, type GpuContext } from './context.ts';
import { grid, GROUP_INDEX_WGSL, WG } from './grid.ts';

export interface AdamWScalars {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

export interface AdamWTensor {
  p: GPUBuffer;
  g: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
  size: number;
}

/** How many tensors one dispatch may bind. */
export function tensorsPerDispatch(ctx: GpuContext): number {
  return Math.max(1, Math.min(4, Math.floor(ctx.limits.maxStorageBuffersPerShaderStage / 4)));
}

function code(T: number, vec4: boolean): string {
  const E = vec4 ? 'vec4<f32>' : 'f32';
  const binds: string[] = [];
  const fields: string[] = [];
  const branches: string[] = [];
  for (let t = 0; t < T; t++) {
    binds.push(
      `@group(0) @binding(${4 * t}) var<storage, read_write> p${t}: array<${E}>;`,
      `@group(0) @binding(${4 * t + 1}) var<storage, read> g${t}: array<${E}>;`,
      `@group(0) @binding(${4 * t + 2}) var<storage, read_write> m${t}: array<${E}>;`,
      `@group(0) @binding(${4 * t + 3}) var<storage, read_write> v${t}: array<${E}>;`,
    );
    fields.push(`size${t}: u32`, `start${t}: u32`);
    const cond = t === T - 1 ? '' : `if (wg < u.start${t + 1}) `;
    branches.push(`${t > 0 ? 'else ' : ''}${cond}{
    let i = (wg - u.start${t}) * ${WG}u + lid;
    if (i < u.size${t}) {
      let g = g${t}[i];
      let m = u.beta1 * m${t}[i] + u.omb1 * g;
      let v = u.beta2 * v${t}[i] + u.omb2 * g * g;
      m${t}[i] = m;
      v${t}[i] = v;
      let p = p${t}[i] * u.decay;
      p${t}[i] = p - u.stepSize * m / (sqrt(v) / u.bc2sqrt + u.eps);
    }
  }`);
  }
  return /* wgsl */ `
${binds.join('\n')}
struct U { decay: f32, beta1: f32, beta2: f32, omb1: f32, omb2: f32, stepSize: f32, bc2sqrt: f32, eps: f32, groups: u32, ${fields.join(', ')} }
@group(0) @binding(${4 * T}) var<uniform> u: U;
${GROUP_INDEX_WGSL}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let wg = groupIndex(wid, nwg);
  if (wg >= u.groups) { return; }
  ${branches.join(' ')}
}`;
}

/** One AdamW step over every tensor, T tensors per dispatch. */
export function encodeAdamW(ctx: GpuContext, tensors: readonly AdamWTensor[], hp: AdamWScalars): void {
  const bc1 = 1 - hp.beta1 ** hp.step;
  const bc2sqrt = Math.sqrt(1 - hp.beta2 ** hp.step);
  const scalars: ['f32', number][] = [
    ['f32', 1 - hp.lr * hp.weightDecay], ['f32', hp.beta1], ['f32', hp.beta2], ['f32', 1 - hp.beta1], ['f32', 1 - hp.beta2],
    ['f32', hp.lr / bc1], ['f32', bc2sqrt], ['f32', hp.eps],
  ];
  const T = tensorsPerDispatch(ctx);
  for (const vec4 of [true, false]) {
    const live = tensors.filter((t) => t.size > 0 && (t.size % 4 === 0) === vec4);
    for (let at = 0; at < live.length; at += T) {
      // A short last chunk gets its own pipeline (a buffer may not be bound writable twice).
      const slots = live.slice(at, at + T);
      const per: ['u32', number][] = [];
      let groups = 0;
      for (const s of slots) {
        const n = vec4 ? s.size / 4 : s.size;
        per.push(['u32', n], ['u32', groups]);
        groups += Math.ceil(n / WG);
      }
      ctx.dispatch({
        key: `adamw/t${slots.length}${vec4 ? '/v4' : ''}`,
        code: () => code(slots.length, vec4),
        buffers: slots.flatMap((s) => [s.p, s.g, s.m, s.v]),
        uniforms: uniforms([...scalars, ['u32', groups], ...per]),
        workgroups: grid(ctx, groups),
      });
    }
  }
}
