/** Messages from the control plane to one device over MQTT (answers to its requests). */
export interface DeviceMessenger {
  /** Publishes `payload` as JSON at QoS 1; the device's policy lets only it subscribe there. */
  publish(topic: string, payload: unknown): Promise<void>;
}
