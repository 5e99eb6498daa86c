/**
 * The update-module handler contract (docs/update-modules.md), as data: the states a handler is
 * called with, the answers its query states print, the names the runner accepts and the default
 * time each state gets. Pure: no I/O.
 */

/** Every state a handler can be called with, in the order a successful update meets them. */
export const HANDLER_STATES = [
  'Download',
  'ArtifactInstall',
  'NeedsArtifactReboot',
  'ArtifactReboot',
  'ArtifactVerifyReboot',
  'HealthCheck',
  'ArtifactCommit',
  'SupportsRollback',
  'ArtifactRollback',
  'ArtifactRollbackReboot',
  'ArtifactVerifyRollbackReboot',
  'ArtifactFailure',
  'Cleanup',
] as const;
export type HandlerState = (typeof HANDLER_STATES)[number];

/** What `NeedsArtifactReboot` prints. `Automatic`: the agent reboots without calling ArtifactReboot. */
export const REBOOT_ANSWERS = ['Yes', 'No', 'Automatic'] as const;
export type RebootAnswer = (typeof REBOOT_ANSWERS)[number];

/** What `SupportsRollback` prints. */
export const ROLLBACK_ANSWERS = ['Yes', 'No'] as const;
export type RollbackAnswer = (typeof ROLLBACK_ANSWERS)[number];

/** Where a device's handlers are installed, one executable per handler name. */
export const DEFAULT_HANDLERS_DIR = '/usr/lib/edgeops/update-modules';

/**
 * Seconds each state may run before its process group is killed. Installs and rollbacks may
 * write a whole root file system; queries only print a word.
 */
export const DEFAULT_STATE_TIMEOUTS: Readonly<Record<HandlerState, number>> = {
  Download: 600,
  ArtifactInstall: 1800,
  NeedsArtifactReboot: 30,
  ArtifactReboot: 300,
  ArtifactVerifyReboot: 300,
  HealthCheck: 300,
  ArtifactCommit: 300,
  SupportsRollback: 30,
  ArtifactRollback: 1800,
  ArtifactRollbackReboot: 300,
  ArtifactVerifyRollbackReboot: 300,
  ArtifactFailure: 300,
  Cleanup: 300,
};

/** How much of a handler's stdout, and of its stderr, is kept: the end of each. */
export const OUTPUT_TAIL_BYTES = 4096;

/** Failure reasons travel in OTA events, whose `reason` holds at most this many characters. */
export const REASON_MAX_CHARS = 256;

/**
 * Handler and component names: one path segment, no dot first (so neither `..` nor hidden files),
 * nothing a shell would need quoted.
 */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Versions become directory names (`ml-model`) and environment values. */
export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$/;

/** Config keys become `EDGEOPS_CONFIG_<KEY>` (upper case, `-` as `_`). */
export const CONFIG_KEY_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;

/** Payload file names in `<workdir>/payload/`. */
export const PAYLOAD_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

export const configEnvName = (key: string) => `EDGEOPS_CONFIG_${key.toUpperCase().replaceAll('-', '_')}`;
