/** The Step Functions client, made once per container. */
import { SFNClient } from '@aws-sdk/client-sfn';

export const sfn = new SFNClient({});
