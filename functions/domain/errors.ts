/**
 * Domain errors carry no HTTP status: `shared/http-errors.ts` maps them in one place.
 */
export class DomainError extends Error {
  override readonly name: string = 'DomainError';
}

export class ValidationError extends DomainError {
  override readonly name = 'ValidationError';
  constructor(
    message: string,
    readonly issues: readonly { readonly field: string; readonly message: string }[] = [],
  ) {
    super(message);
  }
}

export class DeviceAlreadyExistsError extends DomainError {
  override readonly name = 'DeviceAlreadyExistsError';
  constructor(readonly deviceId: string) {
    super(`Device '${deviceId}' is already registered`);
  }
}

export class DeviceNotFoundError extends DomainError {
  override readonly name = 'DeviceNotFoundError';
  constructor(readonly deviceId: string) {
    super(`Device '${deviceId}' not found`);
  }
}

export class ForbiddenError extends DomainError {
  override readonly name = 'ForbiddenError';
}
