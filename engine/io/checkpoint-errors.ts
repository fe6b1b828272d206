/** The one error the checkpoint readers and writers raise: it names the file and, where known, the tensor. */

export class CheckpointError extends Error {
  override name = 'CheckpointError';
  /** The file (or the name given to an in-memory buffer). */
  readonly file: string;
  /** The tensor (state-dict key) the problem is in, if any. */
  readonly tensor: string | undefined;

  constructor(file: string, tensor: string | undefined, detail: string, options?: ErrorOptions) {
    super(`${file}: ${tensor === undefined ? '' : `tensor "${tensor}": `}${detail}`, options);
    this.file = file;
    this.tensor = tensor;
  }
}
