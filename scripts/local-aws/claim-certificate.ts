/**
 * The factory's claim certificate, made in local AWS: an active certificate with the stack's claim
 * policy (stack output `ClaimPolicyName`) attached, which allows only the fleet provisioning calls.
 * In AWS an operator does the same once per production batch (see the README, "Factory flow").
 *
 * `tsx scripts/local-aws/claim-certificate.ts --endpoint http://127.0.0.1:4566 --policy <ClaimPolicyName> --out <dir>`
 * writes `<dir>/claim.crt` and `<dir>/claim.key` (mode 0600).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AttachPolicyCommand, CreateKeysAndCertificateCommand, IoTClient } from '@aws-sdk/client-iot';
import { type LocalAws, localClientConfig } from './ministack';

export interface ClaimCertificate {
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly certificatePem: string;
  readonly privateKey: string;
}

/** Creates an active certificate and attaches the claim policy to it. */
export async function createClaimCertificate(
  aws: Pick<LocalAws, 'endpoint'>,
  claimPolicyName: string,
): Promise<ClaimCertificate> {
  const iot = new IoTClient(localClientConfig(aws));
  const created = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  const { certificateId, certificateArn, certificatePem } = created;
  const privateKey = created.keyPair?.PrivateKey;
  if (!certificateId || !certificateArn || !certificatePem || !privateKey)
    throw new Error('CreateKeysAndCertificate gave no certificate or key');
  await iot.send(new AttachPolicyCommand({ policyName: claimPolicyName, target: certificateArn }));
  return { certificateId, certificateArn, certificatePem, privateKey };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { endpoint: { type: 'string' }, policy: { type: 'string' }, out: { type: 'string' } },
  });
  if (!values.endpoint || !values.policy || !values.out) {
    console.error('usage: claim-certificate.ts --endpoint <url> --policy <ClaimPolicyName> --out <dir>');
    process.exit(2);
  }
  const claim = await createClaimCertificate({ endpoint: values.endpoint }, values.policy);
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'claim.crt'), claim.certificatePem);
  writeFileSync(join(values.out, 'claim.key'), claim.privateKey, { mode: 0o600 });
  console.log(`Claim certificate ${claim.certificateId} in ${values.out} (claim.crt, claim.key)`);
}
