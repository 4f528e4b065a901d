import type { StepPlan } from '../providers/provider';
import type { Trigger } from '../core/state';

export type StepStatus = 'pending' | 'applying' | 'verified' | 'failed';
export type OperationStatus = 'running' | 'succeeded' | 'failed';

export interface OperationStep {
  index: number;
  kind: string;
  label: string;
  status: StepStatus;
  attempts: number;
  plan?: Pick<StepPlan, 'changes' | 'description'>;
  verified?: string;
  error?: string;
  startedAt?: number;
  finishedAt?: number;
}

/** One switchover attempt: persisted before it starts, updated after every step, resumable after a crash. */
export interface Operation {
  id: string;
  portal: string;
  from: string;
  to: string;
  trigger: Trigger;
  reason: string;
  actor: string;
  status: OperationStatus;
  /** Fencing token of the lease holder that created or last resumed it. */
  fence: number;
  detectedAt?: number;
  decidedAt: number;
  finishedAt?: number;
  resumedCount: number;
  steps: OperationStep[];
  error?: string;
}
