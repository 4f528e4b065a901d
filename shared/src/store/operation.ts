import type { StepPlan } from '../providers/provider';
import type { Trigger } from '../core/state';

/** rolled_back / rollback_failed: the step had been applied, a later step failed, and policy asked to undo it. */
export type StepStatus = 'pending' | 'applying' | 'verified' | 'failed' | 'rolled_back' | 'rollback_failed';
/** pending: asked for, not yet taken by the leader; rejected: preconditions failed when the leader took it. */
export type OperationStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'rejected';

/** What the decision saw: per site, each vantage's verdict with the failing check's detail. */
export interface OperationEvidence {
  analysis: string;
  sites: Record<string, { status: string; vantages: { vantage: string; verdict: string; failingSince?: number; detail?: string }[] }>;
}

export interface OperationStep {
  index: number;
  kind: string;
  label: string;
  status: StepStatus;
  attempts: number;
  plan?: Pick<StepPlan, 'changes' | 'description' | 'request'>;
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
  /** A manual switch that overrode the runbook preconditions. */
  force?: boolean;
  /** Client address of the API request that asked for it. */
  client?: string;
  /** Site the requester expected to be active (alerts name the failing site); the switch is void if it changed. */
  expectFrom?: string;
  requestedAt?: number;
  evidence?: OperationEvidence;
  /** Pre- and post-switch hook results, in the order they ran. */
  hooks?: { phase: 'pre' | 'post'; hook: string; ok: boolean; detail: string; ms: number }[];
  /** Set once the pre-switch hooks passed, so a resumed operation does not run them again. */
  preHooksPassed?: boolean;
}
