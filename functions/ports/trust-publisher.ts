import type { TrustRequestV1, TrustResponseV1 } from '../trust-publishing/schemas';

/** The trust publisher, the one holder of the online signing keys, as other functions reach it. */
export interface TrustPublisher {
  request(request: TrustRequestV1): Promise<TrustResponseV1>;
}
