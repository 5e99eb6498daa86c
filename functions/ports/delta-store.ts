import type { Delta } from '../domain/delta';

/** Records of delta builds, per release. */
export interface DeltaStore {
  /**
   * Records a build unless one for the same (release, hardware type, component, base) exists;
   * returns false (writing nothing) then, so the first record, and the object version it pins,
   * stays.
   */
  putDelta(delta: Delta): Promise<boolean>;
  getDelta(
    releaseId: string,
    hardwareType: string,
    component: string,
    baseSha256: string,
  ): Promise<Delta | undefined>;
  /** Every delta recorded for a release, ready or not worth it. */
  listDeltas(releaseId: string): Promise<Delta[]>;
}
