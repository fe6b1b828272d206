/**
 * Which blocks a training forward checkpoints (recomputes in the backward pass instead of keeping
 * their activations): all of them (`true`), none (`false` or absent), or the first n (a number):
 * the activations of the other blocks are kept, which costs memory and saves their recomputation
 * (about a third of a checkpointed block's training time). Every block's activations live until
 * the backward reaches it, so which n blocks are checkpointed does not change the peak.
 */
export type Checkpointing = boolean | number;

/** Whether block `i` (from 0) is checkpointed under `opt`. */
export const checkpointsBlock = (opt: Checkpointing | undefined, i: number): boolean => opt === true || (typeof opt === 'number' && i < opt);
