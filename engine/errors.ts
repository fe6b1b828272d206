/** Errors the engine raises for bad input. Each names the op and what was wrong, never a wrong number. */

/** Shapes that do not fit an op (the message names the op and the shapes). */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** A dtype the op or backend does not accept. */
export class DTypeError extends Error {
  override name = 'DTypeError';
}

/** Use of a tensor after `dispose()`. */
export class DisposedError extends Error {
  override name = 'DisposedError';
}

/** Misuse of autograd (backward on a non-scalar without a gradient, and so on). */
export class GradError extends Error {
  override name = 'GradError';
}

/** The backend cannot do what was asked (no GPU adapter, a buffer over the binding limit, a kernel error). */
export class BackendError extends Error {
  override name = 'BackendError';
}
