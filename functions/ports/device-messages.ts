/** Messages the backend sends to one device over MQTT (answers to its requests). */
export interface DeviceMessages {
  publish(topic: string, payload: unknown): Promise<void>;
}
