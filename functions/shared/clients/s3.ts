/**
 * The S3 client (aws-api/s3.ts), made once per container. Local AWS when AWS_ENDPOINT_URL is set:
 * buckets by path, and requests marked as TLS (see aws-api/aws-service.ts).
 */
import { S3Api } from '../aws-api/s3';

export const s3 = new S3Api();
