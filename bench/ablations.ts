/**
 * Ablations: text edits of a kernel's WGSL that cut one kind of work out, to say what bounds it on
 * the GPU (the time left without a part is what the rest costs). Ablated kernels compute garbage
 * (and race, without barriers): only their times mean anything. An edit that changes nothing
 * would time the whole kernel under a wrong name, so `ablated` refuses it; test/bench/ablations
 * checks every edit against the kernels as generated now, so a kernel rewrite that breaks one
 * shows up in CI, not on the scarce GPU.
 */
import { wgslOf, type Dispatch, type GpuContext } from '../kernels/context.ts';

export type Ablation = (code: string) => string;

/** Matmul kernels (v2 f32 tiles, v4 subgroup matrices and its emulation). */
export const MATMUL_ABLATIONS: Record<string, Ablation> = {
  // v4's MMAs (and with them the fragment loads, which then feed nothing), v2's FMAs.
  'no products': (code) => code.replace(/\bacc\d+_\d+ = (?:subgroupMatrixMultiplyAccumulate|emuMma|fma)\([^;]*\);/g, ''),
  // Every staging load reads one of the first 8 vec4s (cached): the bindings stay in use.
  'no global loads': (code) => code.replace(/\b(r[ab]\d+) = ([AB])\[base \/ 4u\]/g, '$1 = $2[lidx % 8u]'),
  // The register → workgroup-memory stores (the products then read stale tiles).
  'no staging stores': (code) => code.replace(/^\s*(?:As|Bs)\[[^\n]*\] = [^;\n]*;$/gm, ''),
  'no barriers': (code) => code.replace(/workgroupBarrier\(\);/g, ''),
};

/** The tensor-core attention kernels (kernels/attention-sgmat.ts). */
export const ATTENTION_ABLATIONS: Record<string, Ablation> = {
  'no MMAs': (code) => code.replace(/\w+ = subgroupMatrixMultiplyAccumulate\([^;]*\);/g, '').replace(/\w+ = emuMma\([^;]*\);/g, ''),
  // Every load reads one of the first 8 elements (cached): the bindings stay in use.
  'no global loads': (code) => code.replace(/(\w+R\d+) = (q|k|v|dO)\[.*?\]( \* u\.scale)?;/g, '$1 = $2[lidx % 8u]$3;'),
};

/**
 * The f32 flash-attention kernels (kernels/attention.ts forward, attention-bwd.ts dQ and dK/dV).
 * Each has a score phase (register-blocked dot products of the owned rows with a tile's rows:
 * S, and in the backward dP), an element-wise phase (exp, the online softmax or dS, through
 * workgroup memory) and an accumulation phase (P·V, dS·K, Pᵀ·dO and dSᵀ·Q).
 */
export const F32_ATTENTION_ABLATIONS: Record<string, Ablation> = {
  'no dots': (code) => code.replace(/\b[sp]\d+ \+= dot\([^;]*\);/g, ''),
  'no accumulation': (code) => code.replace(/\b[ab]\d+ \+= [pef]\d+ \* y;/g, ''),
  'no exp': (code) => code.replace(/\bexp\(/g, '('),
  // The staging loads read nothing from memory (their rows' bounds checks stay), in either form
  // (kernels/attention-tiles.ts stagedTile: `x = ld_k(row_k(…), c);` or `ksR0 = ld_k(row_k(…), …);`).
  'no global loads': (code) => code.replace(/\b(\w+) = ld_\w+\(row_\w+\([^;]*;/g, '$1 = vec4<f32>(f32(lid));'),
  'no barriers': (code) => code.replace(/workgroupBarrier\(\);/g, ''),
};

/** The dispatch with its WGSL cut by `edit` and its pipeline key marked; throws if the edit changes nothing. */
export function ablated(d: Dispatch, what: string, edit: Ablation): Dispatch {
  const code = wgslOf(d);
  const cut = edit(code);
  if (cut === code) throw new Error(`ablation '${what}' changed nothing in ${d.key}`);
  return { ...d, key: `${d.key}/ablated:${what}`, code: cut };
}

/** `ctx` with every dispatch ablated by `edit` (for launchers such as encodeMatmul that dispatch themselves). */
export function ablatedContext(ctx: GpuContext, what: string, edit: Ablation): GpuContext {
  return {
    device: ctx.device,
    features: ctx.features,
    limits: ctx.limits,
    scratch: (bytes) => ctx.scratch(bytes),
    dispatch: (d) => ctx.dispatch(ablated(d, what, edit)),
  };
}

/**
 * Run `fn` with the dispatches of `ctx` whose pipeline key starts with `keyPrefix` ablated by
 * `edit` (for work recorded through a backend, which holds its context): `ctx.dispatch` is
 * replaced meanwhile and put back after, also when `fn` throws.
 */
export async function withAblation<T>(ctx: GpuContext, keyPrefix: string, what: string, edit: Ablation, fn: () => Promise<T>): Promise<T> {
  const own = Object.getOwnPropertyDescriptor(ctx, 'dispatch');
  const dispatch = ctx.dispatch.bind(ctx);
  Object.defineProperty(ctx, 'dispatch', { configurable: true, writable: true, value: (d: Dispatch) => dispatch(d.key.startsWith(keyPrefix) ? ablated(d, what, edit) : d) });
  try {
    return await fn();
  } finally {
    if (own) Object.defineProperty(ctx, 'dispatch', own);
    else delete (ctx as { dispatch?: unknown }).dispatch;
  }
}
