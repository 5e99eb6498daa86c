import type { RotationReplyV1 } from '../../contract/certificate-rotation';

/** Answers a device's rotation request or confirmation on its own reply topic. */
export interface RotationReplies {
  send(deviceId: string, reply: RotationReplyV1): Promise<void>;
}
