/**
 * The names in the OTA contract, apart from its schemas: the event topic, the funnel's stages, TUF
 * metadata and target paths, component and handler name rules. Code that needs only a name imports
 * it from here, so a Lambda bundle does not carry the schemas of contract/ota.ts with it.
 */
export const OTA_EVENT_TOPIC = (thingName: string) => `edgeops/devices/${thingName}/ota`;

/** The funnel a device walks through, in order. Terminal: healthy, failed, rolled-back. */
export const OTA_STAGES = [
  'queued',
  'downloading',
  'installing',
  'rebooting',
  'healthy',
  'failed',
  'rolled-back',
] as const;
export type OtaStage = (typeof OTA_STAGES)[number];

/**
 * Names of the TUF metadata files a job document may carry URLs for: every root after the one
 * the device was registered with (`2.root.json`, …), and the current timestamp, snapshot and
 * targets. The repository does not use consistent snapshots, so the latter three have no version
 * in their names; TUF checks their versions against each other.
 */
export const TUF_METADATA_FILE = /^(?:[1-9]\d{0,5}\.root|timestamp|snapshot|targets)\.json$/;

/**
 * TUF target paths (in the signed targets metadata):
 * - `<releaseId>/<hardwareType>/image`: a release's full image for one hardware type;
 * - `<releaseId>/<hardwareType>/delta-<baseSha256>`: a zstd patch-from delta that rebuilds that
 *   image from the image whose SHA-256 is `baseSha256`;
 * - `rollback/<rolloutId>/<hardwareType>/image`: an older image the operator explicitly signed
 *   for a rollback rollout; the only way a device accepts an older version.
 *
 * A multi-component release (job document v3) has the same three per component, with the
 * component's name after the hardware type: `<releaseId>/<hardwareType>/<component>/image`, and so
 * on (`componentTargetPaths`). A release with one `firmware` component on the `rootfs` handler and
 * no settings keeps the paths above and goes out as a v2 document, which every agent takes.
 */
export const imageTargetPath = (releaseId: string, hardwareType: string) =>
  `${releaseId}/${hardwareType}/image`;
export const deltaTargetPath = (releaseId: string, hardwareType: string, baseSha256: string) =>
  `${releaseId}/${hardwareType}/delta-${baseSha256}`;
export const rollbackTargetPath = (rolloutId: string, hardwareType: string) =>
  `rollback/${rolloutId}/${hardwareType}/image`;

/** Target paths of one component of a multi-component release (v3). */
export const componentTargetPaths = (component: string) => ({
  image: (releaseId: string, hardwareType: string) => `${releaseId}/${hardwareType}/${component}/image`,
  delta: (releaseId: string, hardwareType: string, baseSha256: string) =>
    `${releaseId}/${hardwareType}/${component}/delta-${baseSha256}`,
  rollback: (rolloutId: string, hardwareType: string) =>
    `rollback/${rolloutId}/${hardwareType}/${component}/image`,
});

/**
 * Component names: lowercase, as they appear in target paths, work dirs and handler state.
 * `firmware` is the name a single-image release's one component has.
 */
export const COMPONENT_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** Update module (handler) names: an executable of that name in the agent's handlers directory. */
export const HANDLER_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** The handler of a single-image release: the device's own A/B slots (a RAUC bundle on real rootfs). */
export const ROOTFS_HANDLER = 'rootfs';
export const FIRMWARE_COMPONENT = 'firmware';
/** At most this many components per hardware type in one release. */
export const MAX_COMPONENTS = 8;
