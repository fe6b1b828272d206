/**
 * Where the attention kernels find their operands' rows. Every kernel (f32: attention.ts,
 * attention-bwd.ts; tensor cores: attention-sgmat.ts) addresses a row of q, k, v, o (and dO, dq,
 * dk, dv, which share the layout of their operand) by head n = batch·heads + head and position i
 * (global row r = n·len + i, len = l or s) through WGSL functions `head_<buf>(n)`, `row_<buf>(base, i)`
 * and `at_<buf>(r)` (rowAtWgsl).
 *
 * Contiguous (no layout): [n, len, d], row r at r·d. Strided (an AttentionLayout): element c of
 * row (n, i) of operand X, with p = n / H the sequence's batch entry, at
 *     X.off + (p / X.G)·X.sB + (p mod X.G)·X.sG + (n mod H)·X.sH + i·X.sL + c,
 * which reads q, k, v straight out of a packed qkv projection [B, L, 3, H, d] (sL = 3·H·d,
 * sH = d, offsets 0, H·d, 2·H·d; G = 1) and writes o as [B, L, H, d], i.e. already merged back to
 * [B, L, H·d]: the head split and merge copies (a permute each way, forward and backward) vanish.
 * G > 1 splits the batch entries in two levels: sequences across the third axis of [B, L, G, W]
 * (AV-DiT's temporal attention: B·G video tokens, each a sequence over L frames, sB = L·G·W,
 * sG = W, sL = G·W) read in place, without permuting the frames to the front.
 */
import type { AttentionShape } from './attention.ts';

/** Element offsets of one operand's rows (see the file comment). */
export interface RowLayout {
  off: number;
  sB: number;
  sH: number;
  sL: number;
  /** Batch entries per outer step (default 1) and the stride between them (default 0). */
  G?: number;
  sG?: number;
}

/** The group count and stride of a row layout (1 and 0 unless set). */
export const groupOf = (r: RowLayout): [number, number] => [r.G ?? 1, r.sG ?? 0];

export interface AttentionLayout {
  /** Heads per batch entry: n = b·H + h. */
  H: number;
  q: RowLayout;
  k: RowLayout;
  v: RowLayout;
  o: RowLayout;
  /** q, k and v are one buffer (a packed qkv): dq, dk, dv are then one buffer laid out the same. */
  packed: boolean;
}

export type Operand = 'q' | 'k' | 'v' | 'o';
const OPERANDS: readonly Operand[] = ['q', 'k', 'v', 'o'];

/** The layout of plain [n, len, d] tensors. */
export function contiguousLayout(d: AttentionShape): AttentionLayout {
  const c = (len: number, w: number): RowLayout => ({ off: 0, sB: len * w, sH: 0, sL: w });
  return { H: 1, q: c(d.l, d.dqk), k: c(d.s, d.dqk), v: c(d.s, d.dv), o: c(d.l, d.dv), packed: false };
}

/** Uniform fields appended to every attention kernel's struct U (all u32). */
export const LAYOUT_FIELDS = ['H', ...OPERANDS.flatMap((x) => [`${x}Off`, `${x}B`, `${x}H`, `${x}L`, `${x}G`, `${x}Gs`])].map((f) => `${f}: u32`).join(', ');

/** The values of LAYOUT_FIELDS, in order. */
export function layoutUniforms(d: AttentionShape): ['u32', number][] {
  const L = d.layout ?? contiguousLayout(d);
  return [['u32', L.H], ...OPERANDS.flatMap((x) => [L[x].off, L[x].sB, L[x].sH, L[x].sL, ...groupOf(L[x])].map((v) => ['u32', v] as ['u32', number]))];
}

/** Whether operand rows can be read as vec4: the width and every offset and stride divide by 4. */
export function vec4Rows(d: AttentionShape, ops: readonly Operand[], width: number): boolean {
  if (width % 4 !== 0) return false;
  const L = d.layout;
  return !L || ops.every((x) => [L[x].off, L[x].sB, L[x].sH, L[x].sL, groupOf(L[x])[1]].every((v) => v % 4 === 0));
}


/**
 * WGSL row addressing of `buf` (laid out as operand `op`, rows of `d` elements, `len` = 'u.l' or
 * 'u.s' rows per head), in units of W elements:
 *   `head_<buf>(n)`: where row 0 of head n starts; `row_<buf>(base, i)`: row i of the head whose
 *   row 0 starts at `base`; `at_<buf>(r)`: global row r = n·len + i.
 * A kernel that works on one head computes head_ once and steps rows with row_ (a multiply-add):
 * the strided form's divisions (by len and by H) then happen once per workgroup, not per load.
 * With W = 4 every offset and stride divides by 4 (vec4Rows), so base/4 + i·(sL/4) is exact.
 */
export function rowAtWgsl(buf: string, op: Operand, len: string, d: number, W: 1 | 4, strided: boolean): string {
  if (!strided) {
    return `fn head_${buf}(n: u32) -> u32 { return n * ${len} * ${d / W}u; }
fn row_${buf}(base: u32, i: u32) -> u32 { return base + i * ${d / W}u; }
fn at_${buf}(r: u32) -> u32 { return r * ${d / W}u; }`;
  }
  const w = W === 4 ? ' / 4u' : '';
  return `fn head_${buf}(n: u32) -> u32 {
  let p = n / u.H;
  return (u.${op}Off + (p / u.${op}G) * u.${op}B + (p % u.${op}G) * u.${op}Gs + (n % u.H) * u.${op}H)${w};
}
fn row_${buf}(base: u32, i: u32) -> u32 { return base + i * (u.${op}L${w}); }
fn at_${buf}(r: u32) -> u32 {
  let n = r / ${len};
  return row_${buf}(head_${buf}(n), r - n * ${len});
}`;
}

/** WGSL: `let <buf>Base = head_<buf>(h);` for each buffer, where head h's rows start (the layout's divisions, once per workgroup). */
export const headBasesWgsl = (bufs: readonly string[]): string => bufs.map((b) => `let ${b}Base = head_${b}(h);`).join('\n  ');

const EXTENT: Record<Operand, (d: AttentionShape) => [number, number]> = {
  q: (d) => [d.l, d.dqk], k: (d) => [d.s, d.dqk], v: (d) => [d.s, d.dv], o: (d) => [d.l, d.dv],
};

/** One past the last element of its buffer that operand x's rows reach (its size when contiguous). */
export function operandEnd(d: AttentionShape, x: Operand): number {
  const [len, w] = EXTENT[x](d);
  const L = d.layout;
  if (!L) return d.n * len * w;
  const r = L[x], [G, sG] = groupOf(r), B = d.n / L.H;
  return r.off + (B / G - 1) * r.sB + (G - 1) * sG + (L.H - 1) * r.sH + (len - 1) * r.sL + w;
}

/** Problems with a layout for these sizes (null when fine): every row must lie inside its buffer. */
export function layoutError(d: AttentionShape, sizes: Record<Operand, number>): string | null {
  const L = d.layout;
  if (!L) return null;
  if (!Number.isInteger(L.H) || L.H < 1 || d.n % L.H !== 0) return `heads ${L.H} do not divide n = ${d.n}`;
  const B = d.n / L.H;
  for (const x of OPERANDS) {
    const r = L[x], [G, sG] = groupOf(r);
    if (!Number.isInteger(G) || G < 1 || B % G !== 0) return `${x}: groups ${G} do not divide the ${B} batch entries`;
    const last = operandEnd(d, x);
    if ([r.off, r.sB, r.sH, r.sL, sG].some((v) => !Number.isInteger(v) || v < 0)) return `${x}: offsets and strides must be non-negative integers`;
    if (last > sizes[x]) return `${x}: rows reach element ${last} of a ${sizes[x]}-element buffer`;
  }
  return null;
}

/** How a kernel reads its rows: vec4 for q/k (width dqk) and for v/o (width dv), and whether strided. */
export interface RowIO {
  vq: boolean;
  vv: boolean;
  strided: boolean;
}

export function rowIO(d: AttentionShape): RowIO {
  return { vq: vec4Rows(d, ['q', 'k'], d.dqk), vv: vec4Rows(d, ['v', 'o'], d.dv), strided: d.layout !== undefined };
}

/** Pipeline-key part of a RowIO. */
export const rowIOKey = (io: RowIO): string => `${io.vq ? '' : '/sq'}${io.vv ? '' : '/sv'}${io.strided ? '/strided' : ''}`;

/** WGSL row addressing of a kernel's inputs q, k, v (and dO when `withG`), each as vec4 rows where `io` says. */
export function inputRowsWgsl(dqk: number, dv: number, io: RowIO, withG: boolean): string {
  const at = (buf: string, op: Operand, len: string, d: number, vec: boolean) => rowAtWgsl(buf, op, len, d, vec ? 4 : 1, io.strided);
  return [at('q', 'q', 'u.l', dqk, io.vq), at('k', 'k', 'u.s', dqk, io.vq), at('v', 'v', 'u.s', dv, io.vv), ...(withG ? [at('dO', 'o', 'u.l', dv, io.vv)] : [])].join('\n');
}
