/**
 * Asks for an artifact to be sealed (measured and marked ready or rejected) without waiting:
 * reading a large object takes longer than an API request may.
 */
export interface ArtifactSealer {
  requestSeal(artifactId: string): Promise<void>;
}
