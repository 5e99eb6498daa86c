/**
 * The identifiers both sides check: the backend in what operators and devices send, the device in
 * its own config. One definition, so a device cannot be configured with an id the backend refuses.
 */

/** Thing names allow `[a-zA-Z0-9:_-]{1,128}`; we leave out ':' so ids stay safe in topics and URLs. */
export const DEVICE_ID_PATTERN = /^[a-zA-Z0-9_-]{1,128}$/;

/** Free-text labels (site, region, hardware type) also become IoT thing attributes: `[a-zA-Z0-9_.,@/:#=-]*`, ≤ 800. */
export const LABEL_PATTERN = /^[a-zA-Z0-9_.@/:#=-]{1,64}$/;

/** The version format devices report as `firmwareVersion` (also in OTA events, contract/ota.ts). */
export const VERSION_PATTERN = /^[0-9A-Za-z.+_-]{1,64}$/;
