export interface SidecarErrorOptions {
  cause?: unknown;
  /** True when the same operation may succeed if tried again later (timeouts, connection loss, 5xx). */
  retriable?: boolean;
}

/**
 * The one error base class of the project. Every module throws a subclass of it, so callers can
 * decide on two facts without knowing the module: may the operation be retried, and what caused it.
 * The HTTP mapping of errors lives in one place in src/agent.
 */
export class SidecarError extends Error {
  readonly retriable: boolean;

  constructor(message: string, options: SidecarErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retriable = options.retriable ?? false;
  }
}

/** True when `err` says so itself; unknown errors are not retriable. */
export function isRetriable(err: unknown): boolean {
  return err instanceof SidecarError && err.retriable;
}

/** A short human message for logs and API responses, whatever was thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
