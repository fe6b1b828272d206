/**
 * TEMPORARY: a naive batched matmul with the signature of kernels/matmul.ts's encodeMatmul, used
 * until that file lands. One thread per output element.
 */
import { uniforms, type GpuContext } from '../../kernels/context.ts';
import { gridFor } from '../../kernels/grid.ts';

export interface MatmulParams {
  batch: number; M: number; N: number; K: number; transA: boolean; transB: boolean; strideA: number; strideB: number;
}

const CODE = /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
struct U { batch: u32, M: u32, N: u32, K: u32, tA: u32, tB: u32, sA: u32, sB: u32 }
@group(0) @binding(3) var<uniform> u: U;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gi = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (gi >= u.batch * u.M * u.N) { return; }
  let bi = gi / (u.M * u.N);
  let m = (gi / u.N) % u.M;
  let n = gi % u.N;
  var acc = 0.0;
  for (var k = 0u; k < u.K; k++) {
    let av = select(a[bi * u.sA + m * u.K + k], a[bi * u.sA + k * u.M + m], u.tA == 1u);
    let bv = select(b[bi * u.sB + k * u.N + n], b[bi * u.sB + n * u.K + k], u.tB == 1u);
    acc += av * bv;
  }
  c[gi] = acc;
}`;

export function encodeMatmul(ctx: GpuContext, a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, p: MatmulParams): void {
  const n = p.batch * p.M * p.N;
  if (n === 0) return;
  ctx.dispatch({
    key: 'naive-matmul',
    code: CODE,
    buffers: [a, b, out],
    uniforms: uniforms([['u32', p.batch], ['u32', p.M], ['u32', p.N], ['u32', p.K], ['u32', +p.transA], ['u32', +p.transB], ['u32', p.strideA], ['u32', p.strideB]]),
    workgroups: gridFor(ctx, n),
  });
}
