/**
 * The DynamoDB document client, made once per Lambda container and shared by every invocation.
 * Like every client in this folder it honours AWS_ENDPOINT_URL (local AWS when set), and a
 * bundle carries it only if its handler imports this module.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export const dynamoDb = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});
