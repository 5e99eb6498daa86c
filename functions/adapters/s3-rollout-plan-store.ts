import type { DeviceExecution } from '../domain/rollout';
import type { RolloutPlanStore } from '../ports/rollout-plan-store';
import type { S3Api } from '../shared/aws-api/s3';

export const PLAN_PREFIX = 'rollout-plans/';

/** Pieces written at once when a rollout starts (100 pieces at 100k devices). */
const PUT_CONCURRENCY = 8;

/**
 * RolloutPlanStore in the artifact bucket: `rollout-plans/<rolloutId>/<index, 5 digits>.json`.
 * The bucket expires the prefix after a while (lib/artifact-store.ts): pieces are needed only
 * until the rollout's executions are written, minutes after it starts.
 */
export class S3RolloutPlanStore implements RolloutPlanStore {
  constructor(
    private readonly s3: S3Api,
    private readonly bucket: string,
  ) {}

  async putPieces(rolloutId: string, pieces: readonly (readonly DeviceExecution[])[]): Promise<void> {
    const queue = pieces.map((piece, index) => ({ piece, index }));
    const put = async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        await this.s3.putObject(this.bucket, pieceKey(rolloutId, next.index), JSON.stringify(next.piece), {
          contentType: 'application/json',
        });
      }
    };
    await Promise.all(Array.from({ length: PUT_CONCURRENCY }, put));
  }

  async getPiece(rolloutId: string, index: number): Promise<DeviceExecution[]> {
    const { body } = await this.s3.getObject(this.bucket, pieceKey(rolloutId, index));
    return JSON.parse(await new Response(body).text()) as DeviceExecution[];
  }
}

const pieceKey = (rolloutId: string, index: number) =>
  `${PLAN_PREFIX}${rolloutId}/${String(index).padStart(5, '0')}.json`;
