/** The KMS client (aws-api/kms.ts), made once per container. */
import { KmsApi } from '../aws-api/kms';

export const kms = new KmsApi();
