/** The EventBridge Scheduler client (aws-api/scheduler.ts), made once per container. */
import { SchedulerApi } from '../aws-api/scheduler';

export const scheduler = new SchedulerApi();
