/**
 * The reserved AWS IoT topics one device uses: its classic shadow and the Jobs MQTT API
 * (https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html). A response topic
 * is the request topic plus `/accepted` or `/rejected`.
 */

export function shadowTopics(thingName: string) {
  const base = `$aws/things/${thingName}/shadow`;
  return {
    update: `${base}/update`,
    accepted: `${base}/update/accepted`,
    rejected: `${base}/update/rejected`,
    /** Desired differs from reported: the differing part of `desired`. */
    delta: `${base}/update/delta`,
    get: `${base}/get`,
    getAccepted: `${base}/get/accepted`,
    getRejected: `${base}/get/rejected`,
  } as const;
}

export function jobsTopics(thingName: string) {
  const base = `$aws/things/${thingName}/jobs`;
  return {
    notifyNext: `${base}/notify-next`,
    startNext: `${base}/start-next`,
    startNextAccepted: `${base}/start-next/accepted`,
    startNextRejected: `${base}/start-next/rejected`,
    update: (jobId: string) => `${base}/${jobId}/update`,
    /** Filters for the responses to updates of any job. */
    updateAccepted: `${base}/+/update/accepted`,
    updateRejected: `${base}/+/update/rejected`,
  } as const;
}

export type JobsTopic =
  | { readonly kind: 'notify-next' }
  | { readonly kind: 'start-next'; readonly verdict: 'accepted' | 'rejected' }
  | { readonly kind: 'update'; readonly jobId: string; readonly verdict: 'accepted' | 'rejected' };

/** Which Jobs response or notification `topic` is, if it is one for this thing. */
export function parseJobsTopic(thingName: string, topic: string): JobsTopic | undefined {
  const prefix = `$aws/things/${thingName}/jobs/`;
  if (!topic.startsWith(prefix)) return undefined;
  const parts = topic.slice(prefix.length).split('/');
  if (parts.length === 1 && parts[0] === 'notify-next') return { kind: 'notify-next' };
  const verdict = parts.at(-1);
  if (verdict !== 'accepted' && verdict !== 'rejected') return undefined;
  if (parts.length === 2 && parts[0] === 'start-next') return { kind: 'start-next', verdict };
  if (parts.length === 3 && parts[1] === 'update' && parts[0])
    return { kind: 'update', jobId: parts[0], verdict };
  return undefined;
}
