/**
 * Lambda bundles take this module in place of `@smithy/core/event-streams` (an esbuild alias in
 * lib/edgeops-function.ts). The SDK's protocols load it only to send or read an event stream
 * (S3 SelectObjectContent, Lambda InvokeWithResponseStream, ...), which no EdgeOps Lambda does,
 * but a bundle cannot leave out what a dynamic import names: its codec would cost every function
 * about 19 KB. An operation that does stream fails here, saying so.
 */
function notBundled(): never {
  throw new Error(
    'AWS event streams are not bundled into EdgeOps Lambdas (see the alias in lib/edgeops-function.ts)',
  );
}

export const eventStreamSerdeProvider = notBundled;

export class EventStreamSerde {
  constructor() {
    notBundled();
  }
}
