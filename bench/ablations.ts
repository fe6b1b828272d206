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
