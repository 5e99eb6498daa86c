/**
 * One update as a plan: the components of the verified release for this device, in install order,
 * each with how it is installed and whether it is needed at all. A v2 release is one component,
 * `firmware`, on the built-in A/B slots; a v3 release is several.
 *
 * - Installer: handler `rootfs` goes onto the built-in A/B slot files (`boot-slots.ts`) unless the
 *   device is set to install it with the `rootfs` update module (RAUC); every other handler is an
 *   update module (`device/update-modules`). At most one component may use the slots.
 * - Skip: a component whose signed image the device already runs needs nothing (the slots: the
 *   active slot's image; a module: `installed-components.json`, same handler).
 * - A component a module installs must make a valid update-module call (name, version, `target`
 *   setting as an absolute path, settings as config, `payload-name` a plain file name), and its
 *   handler must be installed here: a job that cannot be installed is refused before anything is
 *   downloaded.
 */
import { ROOTFS_HANDLER } from '../../contract/ota';
import { ComponentUpdate } from '../update-modules/component-work-dir';
import { PAYLOAD_NAME_PATTERN, VERSION_PATTERN } from '../update-modules/handler-contract';
import { resolveHandler, UpdateHandlerError } from '../update-modules/handler-runner';
import type { InstalledComponent } from './installed-components';
import type { ComponentProgress, JobRecord } from './ota-job-record';
import type { VerifiedComponent } from './release-trust';

/** How the device installs the `rootfs` handler's component. */
export type RootfsInstaller = 'slots' | 'update-module';

export interface DeviceComponents {
  readonly rootfs: RootfsInstaller;
  /** SHA-256 and version of the image in the active slot. */
  readonly activeSlot: { readonly sha256?: string | undefined; readonly version: string };
  readonly installed: Readonly<Record<string, InstalledComponent>>;
  readonly handlersDir: string;
}

export type PlanResult =
  | { readonly ok: true; readonly components: ComponentProgress[] }
  | { readonly ok: false; readonly reason: string };

/** Handler `rootfs` on a device that keeps its root file system in the built-in A/B slots. */
export const onSlots = (handler: string, rootfs: RootfsInstaller) =>
  handler === ROOTFS_HANDLER && rootfs === 'slots';

export async function planComponents(
  verified: readonly VerifiedComponent[],
  device: DeviceComponents,
): Promise<PlanResult> {
  const components: ComponentProgress[] = [];
  for (const component of verified) {
    const installer = onSlots(component.handler, device.rootfs) ? 'slots' : 'module';
    const installed = device.installed[component.name];
    const skip =
      installer === 'slots'
        ? device.activeSlot.sha256 === component.image.sha256
        : installed?.sha256 === component.image.sha256 && installed.handler === component.handler;
    const previousVersion = installer === 'slots' ? device.activeSlot.version : installed?.version;
    const { image, delta } = component;
    components.push({
      name: component.name,
      handler: component.handler,
      version: component.version,
      ...(previousVersion ? { previousVersion } : {}),
      settings: { ...component.settings },
      installer,
      image: { target: image.path, url: image.url, size: image.length, sha256: image.sha256 },
      ...(delta?.facts.base
        ? {
            delta: {
              target: delta.path,
              url: delta.url,
              size: delta.length,
              sha256: delta.sha256,
              baseSha256: delta.facts.base.sha256,
            },
          }
        : {}),
      skip,
    });
  }
  const onTheSlots = components.filter((c) => c.installer === 'slots').map((c) => c.name);
  if (onTheSlots.length > 1)
    return refuse(`invalid-release: ${onTheSlots.join(' and ')} would both go onto the A/B slots`);
  for (const component of components) {
    if (component.installer !== 'module' || component.skip) continue;
    const update = ComponentUpdate.safeParse(componentUpdateOf(component));
    if (!update.success)
      return refuse(
        `invalid-component: ${component.name}: ${update.error.issues
          .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
          .join('; ')}`,
      );
    const payloadName = component.settings['payload-name'];
    if (payloadName !== undefined && !PAYLOAD_NAME_PATTERN.test(payloadName))
      return refuse(
        `invalid-component: ${component.name}: payload-name '${payloadName}' is not a plain file name`,
      );
    try {
      await resolveHandler(device.handlersDir, component.handler);
    } catch (error) {
      if (!(error instanceof UpdateHandlerError)) throw error;
      return refuse(`handler-unusable: component ${component.name}: ${error.message}`);
    }
  }
  return { ok: true, components };
}

/**
 * The update-module call for a component: its signed settings are the handler's config, and
 * setting `target` (where the component lives) is also `EDGEOPS_TARGET`.
 */
export function componentUpdateOf(component: ComponentProgress): ComponentUpdate {
  const { target } = component.settings;
  const previous = component.previousVersion;
  return {
    component: component.name,
    handler: component.handler,
    version: component.version,
    ...(previous && VERSION_PATTERN.test(previous) ? { previousVersion: previous } : {}),
    ...(target === undefined ? {} : { target }),
    ...(Object.keys(component.settings).length > 0 ? { config: { ...component.settings } } : {}),
  };
}

/** The components this job installs (not skipped), in install order. */
export const toInstall = (record: Pick<JobRecord, 'components'>) => record.components.filter((c) => !c.skip);

/** The component that goes onto the A/B slots in this job, if one does. */
export const slotComponent = (record: Pick<JobRecord, 'components'>) =>
  toInstall(record).find((c) => c.installer === 'slots');

/** The components update modules install in this job, in install order. */
export const moduleComponents = (record: Pick<JobRecord, 'components'>) =>
  toInstall(record).filter((c) => c.installer === 'module');

/**
 * What events say about the transfer once every component is downloaded: the bytes fetched for
 * all of them, and `delta` if any of them came as a delta, `imageBytes` being the sum of their
 * full images. Undefined before that, and when nothing was downloaded.
 */
export function transferTotals(
  record: Pick<JobRecord, 'components'>,
): { bytesDownloaded: number; transfer: { mode: 'full' | 'delta'; imageBytes: number } } | undefined {
  const fetched = toInstall(record);
  if (fetched.length === 0 || fetched.some((c) => c.bytesDownloaded === undefined)) return undefined;
  return {
    bytesDownloaded: fetched.reduce((sum, c) => sum + (c.bytesDownloaded ?? 0), 0),
    transfer: {
      mode: fetched.some((c) => c.transfer === 'delta') ? 'delta' : 'full',
      imageBytes: fetched.reduce((sum, c) => sum + c.image.size, 0),
    },
  };
}

const refuse = (reason: string) => ({ ok: false as const, reason: reason.slice(0, 256) });
