/**
 * SDK clients, made once per Lambda container and shared by every invocation.
 * They honour AWS_ENDPOINT_URL, which points them at local AWS when it is set.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IoTClient } from '@aws-sdk/client-iot';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export const dynamoDb = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});

export const iot = new IoTClient({});
