/**
 * The reserved AWS IoT topics one device uses: its classic shadow and the Jobs MQTT API
 * (https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html). A response topic
 * is the request topic plus `/accepted` or `/rejected`.
 *
 * A device subscribes with the few wildcard filters below (`responses`, `startNextResponses`,
 * `updateResponses`) rather than one filter per response topic: AWS IoT takes at most 8 filters
 * in one SUBSCRIBE, and every filter is state the broker keeps per connection. None of them
 * matches a topic the device publishes to, so it never receives its own requests.
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
    /**
     * Every response of the classic shadow service: `update|get|delete` × `accepted|rejected`,
     * `update/delta` and `update/documents` (not the device's own `update` and `get`).
     */
    responses: `${base}/+/+`,
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
    /** Both verdicts on start-next (not the device's own `start-next`). */
    startNextResponses: `${base}/start-next/+`,
    /** Both verdicts on updates of any job (not the device's own `<jobId>/update`). */
    updateResponses: `${base}/+/update/+`,
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
