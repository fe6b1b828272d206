/**
 * Tile sizes of the flash-attention kernels, chosen from the workgroup-memory limit (32 KiB on
 * lavapipe, 48 KiB or more on NVIDIA: ANCHORS §8) and the head dims, which are compile-time
 * constants of each pipeline (private arrays need constant sizes). Strings of the layout:
 * "threads" = rows a workgroup owns (one per invocation), "tile" = rows streamed through
 * workgroup memory per step.
 */

/** Row stride of a row a thread reads on its own: odd, so 32 threads hit 32 different banks. */
export const padOdd = (d: number): number => (d % 2 === 1 ? d : d + 1);

/**
 * Few pipeline variants on purpose (each costs a compile, seconds on lavapipe): a workgroup owns
 * 16 rows when the sequence is that short (the temporal adapter's 16 frames), else 64.
 */
export function threadsFor(extent: number): number {
  return extent <= 16 ? 16 : 64;
}

/** Forward: BQ query rows per workgroup (one per thread), BK keys per staged K/V tile (32, less if memory is short). */
export function forwardTiles(l: number, dqk: number, dv: number, limitBytes: number): { bq: number; bk: number } {
  const bq = threadsFor(l);
  let bk = 32;
  while (bk > 1 && bk * (dqk + dv) * 4 > limitBytes) bk /= 2;
  return { bq, bk };
}

/**
 * Backward passes: `own` rows per workgroup (one per thread, their two vectors kept in workgroup
 * memory with an odd stride), `tile` rows streamed per step (two vectors plus two scalars each):
 * own·(padOdd(a) + padOdd(b)) + tile·(a + b + 2) floats. Tile 16, halved (then own halved)
 * until it fits.
 */
export function backwardTiles(ownExtent: number, a: number, b: number, limitBytes: number): { own: number; tile: number } {
  const bytes = (own: number, tile: number): number => 4 * (own * (padOdd(a) + padOdd(b)) + tile * (a + b + 2));
  let own = threadsFor(ownExtent), tile = 16;
  while (bytes(own, tile) > limitBytes) {
    if (own > 16) own /= 2;
    else if (tile > 1) tile /= 2;
    else if (own > 1) own /= 2;
    else throw new Error(`attention: head dims ${a}/${b} need more workgroup memory than the device's ${limitBytes} bytes`);
  }
  return { own, tile };
}
