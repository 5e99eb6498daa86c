/** The Step Functions client (aws-api/sfn.ts), made once per container. */
import { SfnApi } from '../aws-api/sfn';

export const sfn = new SfnApi();
