/**
 * CloudWatch PutMetricData on AwsService (aws-service.ts says why not the SDK's client), in the
 * query protocol (a form-encoded POST naming the Action): the protocol every CloudWatch endpoint
 * has always taken, and one local AWS decodes too.
 */
import { AwsService, dnsSuffix, escapeUri } from './aws-service';

/** One data point; `dimensions` in the order given. */
export interface MetricDatum {
  readonly name: string;
  readonly value: number;
  readonly unit: 'Count' | 'Percent' | 'Megabytes' | 'None';
  readonly dimensions?: Readonly<Record<string, string>>;
  readonly timestamp: Date;
}

/** CloudWatch takes at most 1000 metrics (and 1 MB) per PutMetricData request. */
export const MAX_METRICS_PER_CALL = 1000;

export class CloudWatchApi {
  readonly #service = new AwsService({
    signingName: 'monitoring',
    endpointId: 'CLOUDWATCH',
    host: (region) => `monitoring.${region}.${dnsSuffix(region)}`,
  });

  /** PutMetricData, MAX_METRICS_PER_CALL at a time (far below 1 MB for our short names). */
  async putMetricData(namespace: string, data: readonly MetricDatum[]): Promise<void> {
    for (let i = 0; i < data.length; i += MAX_METRICS_PER_CALL) {
      const form: [string, string][] = [
        ['Action', 'PutMetricData'],
        ['Version', '2010-08-01'],
        ['Namespace', namespace],
      ];
      data.slice(i, i + MAX_METRICS_PER_CALL).forEach((datum, index) => {
        const member = `MetricData.member.${index + 1}`;
        if (!Number.isFinite(datum.value)) throw new Error(`Metric ${datum.name} is not a finite number`);
        form.push(
          [`${member}.MetricName`, datum.name],
          [`${member}.Value`, String(datum.value)],
          [`${member}.Unit`, datum.unit],
          [`${member}.Timestamp`, datum.timestamp.toISOString()],
        );
        Object.entries(datum.dimensions ?? {}).forEach(([name, value], d) => {
          form.push([`${member}.Dimensions.member.${d + 1}.Name`, name]);
          form.push([`${member}.Dimensions.member.${d + 1}.Value`, value]);
        });
      });
      const response = await this.#service.send({
        method: 'POST',
        path: '/',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body: form.map(([k, v]) => `${escapeUri(k)}=${escapeUri(v)}`).join('&'),
      });
      await response.body?.cancel();
    }
  }
}
