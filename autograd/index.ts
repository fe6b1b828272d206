/** The differentiable API: every op records its gradient rule when an input requires grad. */
export * from './ops/elementwise.ts';
export * from './ops/reduce.ts';
export * from './ops/matmul.ts';
export * from './ops/shape.ts';
export * from './ops/nn.ts';
export * from './ops/attention.ts';
export * from './ops/fused.ts';
export { backward, backwardMany, zeroGrad, record } from './tape.ts';
export { releaseUnsaved } from './release.ts';
export { noGrad, enableGrad, isRecording } from './grad-mode.ts';
export { checkpoint, checkpointMany } from './checkpoint.ts';
