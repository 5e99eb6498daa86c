/** The Lambda client (invoking our own functions), made once per container. */
import { LambdaClient } from '@aws-sdk/client-lambda';

export const lambda = new LambdaClient({});
