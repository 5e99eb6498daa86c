import {
  MAX_LOG_UPLOAD_BYTES,
  type UploadUrlAcceptedV1,
  type UploadUrlRejectedV1,
  type UploadUrlRequestV1,
} from '../../contract/device-commands';
import { isTerminal } from '../domain/device-command';
import type { Clock } from '../ports/clock';
import type { CommandStore } from '../ports/command-store';
import type { LogUploads } from '../ports/log-uploads';

/** How long a device has to start its upload once it holds the URL. */
export const UPLOAD_URL_SECONDS = 900;

export type UploadUrlAnswer =
  | { readonly accepted: true; readonly reply: UploadUrlAcceptedV1 }
  | { readonly accepted: false; readonly reply: UploadUrlRejectedV1 };

/**
 * Answers a device's request for a log upload URL, made when it runs the command (a URL made at
 * send time would be dead by the time an offline device returns: a presigned URL lives no longer
 * than the Lambda credentials that signed it).
 * 1. The command must be this device's (the topic names the device; its IoT policy lets it
 *    publish only there), an upload-logs command, and not ended.
 * 2. The size must be within the command's `maxBytes` (the policy enforces it again on upload).
 * 3. It marks the command IN_PROGRESS (AWS IoT sends no event for that) and answers a presigned
 *    POST for the one key the backend chose, with `content-length-range` 1..maxBytes.
 */
export const makeIssueCommandUploadUrl =
  (ports: {
    readonly commands: Pick<CommandStore, 'get' | 'transition'>;
    readonly logs: Pick<LogUploads, 'keyFor' | 'presignUpload'>;
    readonly clock: Clock;
  }) =>
  async (deviceId: string, request: UploadUrlRequestV1): Promise<UploadUrlAnswer> => {
    const refuse = (code: string, message: string): UploadUrlAnswer => ({
      accepted: false,
      reply: { clientToken: request.clientToken, code, message },
    });
    const command = await ports.commands.get(deviceId, request.commandId);
    if (!command) return refuse('NotFound', `No command ${request.commandId} for device ${deviceId}`);
    if (command.command !== 'upload-logs')
      return refuse('InvalidCommand', `Command ${request.commandId} is ${command.command}, not upload-logs`);
    if (isTerminal(command.status))
      return refuse('CommandEnded', `Command ${request.commandId} has ended (${command.status})`);
    const maxBytes =
      'maxBytes' in command.parameters && typeof command.parameters.maxBytes === 'number'
        ? command.parameters.maxBytes
        : MAX_LOG_UPLOAD_BYTES;
    if (request.bytes > maxBytes)
      return refuse('TooLarge', `${request.bytes} bytes is over the command's maxBytes (${maxBytes})`);
    const now = ports.clock.now();
    await ports.commands.transition(deviceId, request.commandId, { status: 'IN_PROGRESS', at: now });
    const objectKey = ports.logs.keyFor(deviceId, request.commandId);
    const post = await ports.logs.presignUpload(objectKey, maxBytes, UPLOAD_URL_SECONDS);
    return {
      accepted: true,
      reply: {
        clientToken: request.clientToken,
        url: post.url,
        fields: { ...post.fields },
        objectKey,
        expiresAt: post.expiresAt.toISOString(),
      },
    };
  };
