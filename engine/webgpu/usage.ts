/**
 * Buffer usage flags of the WebGPU backend. Functions, not constants: GPUBufferUsage exists only
 * once device.ts has installed the globals.
 */
export const STORAGE_USAGE = (): number => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
export const UNIFORM_USAGE = (): number => GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
/** Read back to the host: copied into, then mapped. */
export const STAGING_USAGE = (): number => GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
/** Where a query set's timestamps are resolved before the copy to a staging buffer. */
export const QUERY_USAGE = (): number => GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC;
