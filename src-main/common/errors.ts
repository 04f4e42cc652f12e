/**
 * Errors cross process boundaries as data: Electron keeps only `.message` of a thrown error, so
 * every failure a caller may act on carries a code from this closed set.
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'UNKNOWN_CHANNEL',
  'NO_DATASET_OPEN',
  'NOT_A_DATASET',
  'DATASET_TOO_NEW',
  'DATASET_EXISTS',
  'FILE_NOT_FOUND',
  'READ_ONLY',
  'CONNECTION_FAILED',
  'PATH_OUTSIDE_ROOT',
  'EXTERNAL_NOT_ALLOWED',
  'PATH_NOT_ALLOWED',
  'FILE_MISSING',
  'FILE_CHANGED',
  'UNSUPPORTED_FORMAT',
  'CORRUPT_IMAGE',
  'INVALID_GEOMETRY',
  'STALE_EDIT',
  'LEASED',
  'FORBIDDEN',
  'UNAUTHENTICATED',
  'IMAGE_TOO_LARGE',
  'NOT_FOUND',
  'CANCELLED',
  'UNSUPPORTED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorData {
  code: ErrorCode;
  message: string;
  /** Optional structured detail, e.g. the offending path or field. */
  detail?: Record<string, unknown>;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly detail?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, detail?: Record<string, unknown>) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.detail = detail;
  }

  toData(): ErrorData {
    return this.detail ? { code: this.code, message: this.message, detail: this.detail } : { code: this.code, message: this.message };
  }
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: ErrorData };

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/** Any thrown value as error data; unknown failures become INTERNAL with their message. */
export function toErrorData(e: unknown): ErrorData {
  if (isAppError(e)) return e.toData();
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'INTERNAL', message };
}
