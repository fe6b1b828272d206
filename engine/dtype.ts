/**
 * Element types. `f32` is the default everywhere; `f64` exists on the CPU backend for gradient
 * checks; `i32` holds indices (gather/scatter) and labels.
 */
export type DType = 'f32' | 'f64' | 'i32';

export type TypedArray = Float32Array | Float64Array | Int32Array;

export const BYTES_PER_ELEMENT: Record<DType, number> = { f32: 4, f64: 8, i32: 4 };

/** A fresh zero-filled typed array of `n` elements of `dtype`. */
export function allocArray(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(n);
    case 'f64':
      return new Float64Array(n);
    case 'i32':
      return new Int32Array(n);
  }
}

/** Copy `data` (any numeric array) into a typed array of `dtype` (rounding as the dtype does). */
export function toTypedArray(data: ArrayLike<number>, dtype: DType): TypedArray {
  const out = allocArray(dtype, data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]!;
  return out;
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'f32' || dtype === 'f64';
}
