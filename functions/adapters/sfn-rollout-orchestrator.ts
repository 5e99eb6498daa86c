import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  InvalidToken,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
  ValidationException,
} from '@aws-sdk/client-sfn';
import type { RolloutOrchestrator } from '../ports/rollout-orchestrator';

/** RolloutOrchestrator on the rollout state machine: one execution per rollout, named by its id. */
export class SfnRolloutOrchestrator implements RolloutOrchestrator {
  constructor(
    private readonly sfn: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(rolloutId: string): Promise<void> {
    try {
      await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: rolloutId,
          input: JSON.stringify({ rolloutId }),
        }),
      );
    } catch (error) {
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
    }
  }

  async stop(rolloutId: string, reason: string): Promise<void> {
    const executionArn = `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${rolloutId}`;
    try {
      await this.sfn.send(new StopExecutionCommand({ executionArn, cause: reason.slice(0, 256) }));
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist) return;
      // Stopping an execution that already ended is refused (ValidationException); the run that
      // raced the abort saw the rollout no longer active and ended on its own.
      if (!(error instanceof ValidationException)) throw error;
      const { status } = await this.sfn.send(new DescribeExecutionCommand({ executionArn }));
      if (status === 'RUNNING') throw error;
    }
  }

  async proceed(taskToken: string): Promise<'resumed' | 'gone'> {
    try {
      await this.sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{}' }));
      return 'resumed';
    } catch (error) {
      const gone =
        error instanceof TaskDoesNotExist || error instanceof TaskTimedOut || error instanceof InvalidToken;
      if (gone) return 'gone';
      throw error;
    }
  }
}
