/** The Lambda client (invoking our own functions; aws-api/lambda.ts), made once per container. */
import { LambdaApi } from '../aws-api/lambda';

export const lambda = new LambdaApi();
