import type { RolloutOrchestrator } from '../ports/rollout-orchestrator';
import { isAwsApiError } from '../shared/aws-api/aws-service';
import type { SfnApi } from '../shared/aws-api/sfn';

/** RolloutOrchestrator on the rollout state machine: one execution per rollout, named by its id. */
export class SfnRolloutOrchestrator implements RolloutOrchestrator {
  constructor(
    private readonly sfn: SfnApi,
    private readonly stateMachineArn: string,
  ) {}

  async start(rolloutId: string): Promise<void> {
    try {
      await this.sfn.startExecution({
        stateMachineArn: this.stateMachineArn,
        name: rolloutId,
        input: JSON.stringify({ rolloutId }),
      });
    } catch (error) {
      if (!isAwsApiError(error, 'ExecutionAlreadyExists')) throw error;
    }
  }

  async stop(rolloutId: string, reason: string): Promise<void> {
    const executionArn = `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${rolloutId}`;
    try {
      await this.sfn.stopExecution({ executionArn, cause: reason.slice(0, 256) });
    } catch (error) {
      if (isAwsApiError(error, 'ExecutionDoesNotExist')) return;
      // Stopping an execution that already ended is refused (ValidationException); the run that
      // raced the abort saw the rollout no longer active and ended on its own.
      if (!isAwsApiError(error, 'ValidationException')) throw error;
      const { status } = await this.sfn.describeExecution({ executionArn });
      if (status === 'RUNNING') throw error;
    }
  }

  async proceed(taskToken: string): Promise<'resumed' | 'gone'> {
    try {
      await this.sfn.sendTaskSuccess({ taskToken, output: '{}' });
      return 'resumed';
    } catch (error) {
      if (isAwsApiError(error, 'TaskDoesNotExist', 'TaskTimedOut', 'InvalidToken')) return 'gone';
      throw error;
    }
  }
}
