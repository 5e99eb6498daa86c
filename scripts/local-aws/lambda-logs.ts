/** Collects what our Lambdas logged at WARN or ERROR in local AWS, for a test run's report. */
import { writeFileSync } from 'node:fs';
import {
  CloudWatchLogsClient,
  DescribeLogGroupsCommand,
  FilterLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { type LocalAws, localClientConfig } from './ministack';

export async function saveLambdaProblems(aws: LocalAws, file: string): Promise<number> {
  const logs = new CloudWatchLogsClient(localClientConfig(aws));
  const lines: string[] = [];
  const groups = await logs.send(new DescribeLogGroupsCommand({}));
  for (const group of groups.logGroups ?? []) {
    let nextToken: string | undefined;
    do {
      const page = await logs.send(
        new FilterLogEventsCommand({ logGroupName: group.logGroupName, nextToken }),
      );
      for (const event of page.events ?? []) {
        if (/"level":"(ERROR|WARN)"|errorMessage|Task timed out/.test(event.message ?? '')) {
          lines.push(`${group.logGroupName}: ${event.message?.trim()}`);
        }
      }
      nextToken = page.nextToken;
    } while (nextToken);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  return lines.length;
}
