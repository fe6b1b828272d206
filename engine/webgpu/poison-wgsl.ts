/**
 * Poison mode's half for workgroup memory (context.ts `poison`). Dawn's zero-initialisation of
 * workgroup memory is off (engine/webgpu/device.ts, `disable_workgroup_init`), so a kernel that
 * reads a workgroup array before writing it reads whatever the last workgroup on that SM left: on
 * NVIDIA garbage, on lavapipe often stale data that happens to be right. In poison mode every
 * kernel starts by filling each of its workgroup arrays with NaN bits (integers: a huge value),
 * then a barrier; a read-before-write then turns the result into NaN on any adapter.
 *
 * A text transformation of the kernel's WGSL: it finds `var<workgroup> name: array<T, N>;`
 * declarations (T a scalar or vector of f32, f16, u32 or i32; N a literal) and the compute entry
 * point, and inserts the fill at the top of the entry point's body. Other workgroup variables
 * (atomics, structs) are left as they are.
 */

/**
 * The bit patterns written: a quiet f32 NaN with a payload, an f16 NaN, an out-of-range index. WGSL
 * refuses a NaN that a constant expression makes, so the words are runtime values (poisonBits_,
 * poisonHalf_: the literals or'ed with the invocation index masked to zero).
 */
const F32 = 'bitcast<f32>(poisonBits_)';
const F16 = 'bitcast<vec2<f16>>(poisonHalf_).x';
const U32 = 'poisonBits_';
const I32 = 'bitcast<i32>(poisonBits_)';

/** WGSL of a poison value of type `t`, or null for types left alone. */
function poisonOf(t: string): string | null {
  const scalar: Record<string, string> = { f32: F32, f16: F16, u32: U32, i32: I32 };
  if (scalar[t]) return scalar[t]!;
  const v = /^vec([234])<(f32|f16|u32|i32)>$/.exec(t) ?? /^vec([234])([fhui])$/.exec(t);
  if (!v) return null;
  const elem = v[2]!.length === 1 ? { f: 'f32', h: 'f16', u: 'u32', i: 'i32' }[v[2]!]! : v[2]!;
  return `vec${v[1]}<${elem}>(${scalar[elem]})`;
}

const DECL = /var<workgroup>\s+(\w+)\s*:\s*array<\s*([\w<>]+)\s*,\s*(\d+)u?\s*>\s*;/g;
const ENTRY_HEAD = /@compute\s+@workgroup_size\(\s*([^)]*)\)\s*fn\s+(\w+)\s*\(/;

/** The compute entry point: its workgroup size text, where its parameter list lies, and where its body opens. */
function entryPoint(code: string): { size: string; paramsStart: number; paramsEnd: number; bodyOpen: number } {
  const head = ENTRY_HEAD.exec(code);
  if (!head) throw new Error('poisonWorkgroupMemory: no compute entry point with a literal @workgroup_size');
  const paramsStart = head.index + head[0].length;
  let depth = 1, i = paramsStart;
  for (; i < code.length && depth > 0; i++) {
    if (code[i] === '(') depth++;
    else if (code[i] === ')') depth--;
  }
  const paramsEnd = i - 1; // the closing ')'
  const bodyOpen = code.indexOf('{', paramsEnd);
  return { size: head[1]!, paramsStart, paramsEnd, bodyOpen };
}

/** The kernel's WGSL with its workgroup arrays filled with poison at the start (unchanged if it has none). */
export function poisonWorkgroupMemory(code: string): string {
  const arrays = [...code.matchAll(DECL)].flatMap((m) => {
    const value = poisonOf(m[2]!);
    return value ? [{ name: m[1]!, length: Number(m[3]!), value }] : [];
  });
  if (arrays.length === 0) return code;
  const e = entryPoint(code);
  const size = e.size.split(',').map((x) => Number(x.trim().replace(/u$/, '')));
  if (size.some((x) => !Number.isInteger(x) || x <= 0)) throw new Error(`poisonWorkgroupMemory: @workgroup_size(${e.size}) is not literal`);
  const threads = size.reduce((a, b) => a * b, 1);
  let params = code.slice(e.paramsStart, e.paramsEnd);
  let lid = /@builtin\(local_invocation_index\)\s*(\w+)\s*:/.exec(params)?.[1];
  if (!lid) {
    lid = 'poisonLid_';
    params = `${params.trim() ? `${params.trimEnd().replace(/,$/, '')}, ` : ''}@builtin(local_invocation_index) ${lid}: u32`;
  }
  const fill = arrays.map((a) => `  for (var p_ = ${lid}; p_ < ${a.length}u; p_ += ${threads}u) { ${a.name}[p_] = ${a.value}; }`).join('\n');
  const half = arrays.some((a) => a.value.includes('poisonHalf_'));
  return `${code.slice(0, e.paramsStart)}${params}${code.slice(e.paramsEnd, e.bodyOpen + 1)}
  // poison mode (engine/webgpu/poison-wgsl.ts)
  let poisonBits_ = 0x7fbadbadu | (${lid} & 0u);${half ? `\n  let poisonHalf_ = 0x7e017e01u | (${lid} & 0u);` : ''}
${fill}
  workgroupBarrier();${code.slice(e.bodyOpen + 1)}`;
}
