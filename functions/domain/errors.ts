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

export class RolloutNotFoundError extends DomainError {
  override readonly name = 'RolloutNotFoundError';
  constructor(readonly rolloutId: string) {
    super(`Rollout '${rolloutId}' not found`);
  }
}

/** The rollout is not in a state that allows the request (e.g. resuming one that is not paused). */
export class RolloutStateError extends DomainError {
  override readonly name = 'RolloutStateError';
}

export class DeviceBusyError extends DomainError {
  override readonly name = 'DeviceBusyError';
}

export class ArtifactNotFoundError extends DomainError {
  override readonly name = 'ArtifactNotFoundError';
  constructor(readonly artifactId: string) {
    super(`Artifact '${artifactId}' not found`);
  }
}

/** Completion was asked for, but the artifact's bytes are not (all) in the bucket yet. */
export class ArtifactNotUploadedError extends DomainError {
  override readonly name = 'ArtifactNotUploadedError';
  constructor(readonly artifactId: string) {
    super(`Artifact '${artifactId}' has not been uploaded yet: upload it, then complete it`);
  }
}

export class ReleaseAlreadyExistsError extends DomainError {
  override readonly name = 'ReleaseAlreadyExistsError';
  constructor(readonly releaseId: string) {
    super(`Release '${releaseId}' already exists; a release never changes once made`);
  }
}

export class ReleaseNotFoundError extends DomainError {
  override readonly name = 'ReleaseNotFoundError';
  constructor(readonly releaseId: string) {
    super(`Release '${releaseId}' not found`);
  }
}
