import {
  ExecutionAlreadyExists,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
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
    await this.sfn.send(new StopExecutionCommand({ executionArn, cause: reason.slice(0, 256) }));
  }

  async proceed(taskToken: string): Promise<void> {
    await this.sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{}' }));
  }
}
