/**
 * Explicit bind-group layouts read from a kernel's WGSL, and a cache of bind groups.
 *
 * Creating a bind group costs Dawn 15–20 µs of CPU (measured on lavapipe, where it was most of the
 * 35 µs it took to record one small op), while a training or sampling step repeats the same
 * (kernel, buffers) pairs step after step: the pool hands the same buffers back in the same order.
 * So bind groups are cached by layout and storage buffers. For one group to serve any uniform
 * values, a kernel's uniform binding has a dynamic offset into the context's uniform ring (the
 * offset is given at setBindGroup), which needs an explicit layout instead of 'auto'.
 *
 * A cached group holds its buffers: when the pool destroys one, `forget` drops every group that
 * names it (a destroyed buffer in a submitted group is a validation error).
 */

const BINDING = /@group\(0\)\s*@binding\((\d+)\)\s*var<\s*(storage|uniform)\s*(?:,\s*(read_write|read)\s*)?>/g;

/** The bind-group layout entries a kernel declares: storage buffers (read-only or not), uniforms with a dynamic offset. */
export function layoutEntries(code: string): GPUBindGroupLayoutEntry[] {
  const entries: GPUBindGroupLayoutEntry[] = [];
  for (const m of code.matchAll(BINDING)) {
    const binding = Number(m[1]);
    const type: GPUBufferBindingType = m[2] === 'uniform' ? 'uniform' : m[3] === 'read_write' ? 'storage' : 'read-only-storage';
    entries.push({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type, hasDynamicOffset: type === 'uniform' } });
  }
  return entries.sort((a, b) => a.binding - b.binding);
}

export interface UniformSlot {
  buffer: GPUBuffer;
  /** Bytes the kernel's uniform struct takes (the binding's size; the offset is dynamic). */
  size: number;
}

export class BindGroupCache {
  readonly #ids = new WeakMap<object, number>();
  #next = 1;
  /** Each cached group with the ids of the buffers it names. */
  readonly #groups = new Map<string, { group: GPUBindGroup; ids: number[] }>();
  /** Keys of the cached groups that name each buffer (by id). */
  readonly #byBuffer = new Map<number, Set<string>>();
  hits = 0;
  misses = 0;

  /** `cap`: the most groups kept; past it the cache starts over (a workload that never repeats). */
  constructor(private readonly device: GPUDevice, private readonly cap = 1 << 16) {}

  #id(o: object): number {
    let id = this.#ids.get(o);
    if (id === undefined) this.#ids.set(o, (id = this.#next++));
    return id;
  }

  /** The group binding `buffers` to @binding(0..n-1) and, if given, the uniform slot to @binding(n). */
  get(layout: GPUBindGroupLayout, buffers: readonly GPUBuffer[], uniform: UniformSlot | null, label: string): GPUBindGroup {
    const ids = buffers.map((b) => this.#id(b));
    if (uniform) ids.push(this.#id(uniform.buffer));
    const key = `${this.#id(layout)}:${ids.join(',')}${uniform ? `/${uniform.size}` : ''}`;
    const hit = this.#groups.get(key);
    if (hit) {
      this.hits++;
      return hit.group;
    }
    this.misses++;
    if (this.#groups.size >= this.cap) this.clear();
    const entries: GPUBindGroupEntry[] = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
    if (uniform) entries.push({ binding: buffers.length, resource: { buffer: uniform.buffer, offset: 0, size: uniform.size } });
    const group = this.device.createBindGroup({ layout, entries, label });
    this.#groups.set(key, { group, ids });
    for (const id of ids) {
      const keys = this.#byBuffer.get(id);
      if (keys) keys.add(key);
      else this.#byBuffer.set(id, new Set([key]));
    }
    return group;
  }

  /** Drop every group that names `buffer` (call before destroying it), from every buffer's list too. */
  forget(buffer: GPUBuffer): void {
    const id = this.#ids.get(buffer);
    if (id === undefined) return;
    for (const key of this.#byBuffer.get(id) ?? []) {
      for (const other of this.#groups.get(key)?.ids ?? []) this.#byBuffer.get(other)?.delete(key);
      this.#groups.delete(key);
    }
    this.#byBuffer.delete(id);
  }

  clear(): void {
    this.#groups.clear();
    this.#byBuffer.clear();
  }

  get size(): number {
    return this.#groups.size;
  }
}
