/**
 * What the lifecycle flows do to a device's broker-side identity (AWS IoT: certificates, their
 * policy, the thing's groups and job executions). Every method is idempotent: a flow that failed
 * part way is finished by running it again.
 */

/** Which IoT policy a certificate carries: the full device policy, or the quarantine one. */
export type DevicePolicyKind = 'device' | 'quarantine';

export interface IssuedCertificate {
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly certificatePem: string;
  /** The certificate's notAfter (ISO). */
  readonly notAfter: string;
}

export interface ThingCertificate {
  readonly certificateId: string;
  readonly certificateArn: string;
}

export interface DeviceCertificates {
  /**
   * Signs the CSR (active), attaches `policy` to it and the certificate to the thing. A CSR the
   * certificate authority refuses is a ValidationError naming `csr`, with nothing left behind.
   */
  issue(deviceId: string, csr: string, policy: DevicePolicyKind): Promise<IssuedCertificate>;
  /** The certificates attached to the thing (at most a few: AWS IoT allows 10 per thing). */
  listCertificates(deviceId: string): Promise<readonly ThingCertificate[]>;
  /** Sets INACTIVE and detaches it from the thing and both policies: it can no longer connect. */
  deactivate(deviceId: string, certificate: ThingCertificate): Promise<void>;
  /** Sets REVOKED and detaches both policies; it stays attached to the thing, as a record. */
  revoke(certificate: ThingCertificate): Promise<void>;
  /** Attaches `to` and then detaches the other policy, so the certificate is never without one. */
  swapPolicy(certificate: ThingCertificate, to: DevicePolicyKind): Promise<void>;
  /** Removes the thing from every static thing group it is in; returns the groups' names. */
  leaveThingGroups(deviceId: string): Promise<readonly string[]>;
  /**
   * Cancels the thing's QUEUED and IN_PROGRESS job executions whose job id passes `which`;
   * returns the job ids canceled.
   */
  cancelJobExecutions(deviceId: string, which: (jobId: string) => boolean): Promise<readonly string[]>;
}
