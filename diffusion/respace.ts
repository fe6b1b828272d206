/**
 * Respacing (Nichol & Dhariwal 2021, §4): sample with a subsequence S of the original steps.
 * Keeping ᾱ at the kept steps fixes the new betas: β'_i = 1 − ᾱ_{S_i} / ᾱ_{S_{i−1}}, so
 * q(x_t | x_0) is unchanged at every kept step. The model was trained on the original
 * indices, so it is called with S_i (the timestep map), not i.
 */

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The kept steps, sorted, as ADM's space_timesteps: `"ddimN"` takes every k-th step from 0 with
 * the integer stride k giving exactly N steps (DDIM's striding); otherwise comma-separated
 * counts ("250", "10,15,20") split the steps into equal sections, each strided evenly from its
 * first to its last step. An empty string or the full count keeps every step.
 */
export function spaceTimesteps(numTimesteps: number, sectionCounts: string | readonly number[]): number[] {
  if (typeof sectionCounts === 'string') {
    const s = sectionCounts.trim();
    if (s === '') return Array.from({ length: numTimesteps }, (_, i) => i);
    if (s.startsWith('ddim')) {
      const desired = Number(s.slice(4));
      if (!Number.isInteger(desired) || desired < 1) throw new Error(`spaceTimesteps: bad respacing "${s}"`);
      for (let stride = 1; stride < numTimesteps; stride++) {
        if (Math.ceil(numTimesteps / stride) === desired) return Array.from({ length: desired }, (_, i) => i * stride);
      }
      throw new Error(`spaceTimesteps: cannot create exactly ${desired} steps from ${numTimesteps} with an integer stride`);
    }
    sectionCounts = s.split(',').map((v) => {
      const n = Number(v.trim());
      if (!Number.isInteger(n) || n < 0) throw new Error(`spaceTimesteps: bad section count "${v}" in "${s}"`);
      return n;
    });
  }
  const sizePer = Math.floor(numTimesteps / sectionCounts.length);
  const extra = numTimesteps % sectionCounts.length;
  const steps = new Set<number>();
  let start = 0;
  sectionCounts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) throw new Error(`spaceTimesteps: cannot divide a section of ${size} steps into ${count}`);
    const stride = count <= 1 ? 1 : (size - 1) / (count - 1);
    let cur = 0; // accumulated as a float, as in ADM, so the same roundings happen
    for (let k = 0; k < count; k++) {
      steps.add(start + roundHalfEven(cur));
      cur += stride;
    }
    start += size;
  });
  return [...steps].sort((a, b) => a - b);
}

/**
 * The step counts `"ddimN"` can make from `numTimesteps` steps (as spaceTimesteps: ⌈numTimesteps / k⌉
 * for each integer stride 1 ≤ k < numTimesteps), ascending. For 1000: 2–36, 38, 39, 40, 42, …, 500, 1000.
 */
export function ddimStepCounts(numTimesteps: number): number[] {
  const counts = new Set<number>();
  for (let stride = 1; stride < numTimesteps; stride++) counts.add(Math.ceil(numTimesteps / stride));
  return [...counts].sort((a, b) => a - b);
}

export interface Respaced {
  /** β' of the kept steps. */
  betas: Float64Array;
  /** timestepMap[i] = the original step of respaced step i. */
  timestepMap: Int32Array;
}

/** New betas from the kept ᾱ (ADM SpacedDiffusion). `alphasCumprod` is the original schedule's. */
export function respace(alphasCumprod: Float64Array, useTimesteps: readonly number[]): Respaced {
  const keep = new Set(useTimesteps);
  const betas: number[] = [];
  const map: number[] = [];
  let last = 1;
  alphasCumprod.forEach((a, i) => {
    if (!keep.has(i)) return;
    betas.push(1 - a / last);
    last = a;
    map.push(i);
  });
  if (map.length !== keep.size) throw new Error(`respace: some kept steps are outside 0…${alphasCumprod.length - 1}`);
  return { betas: Float64Array.from(betas), timestepMap: Int32Array.from(map) };
}
