import type { z } from 'zod';
import type { OperationEvidenceSchema, OperationSchema, OperationStatusSchema, OperationStepSchema, StepStatusSchema, SwitchIntentSchema } from './records';

/** The stored operation records; their schemas, and the rules they are parsed with, are in records.ts. */
export type StepStatus = z.output<typeof StepStatusSchema>;
export type OperationStatus = z.output<typeof OperationStatusSchema>;
export type OperationEvidence = z.output<typeof OperationEvidenceSchema>;
export type OperationStep = z.output<typeof OperationStepSchema>;
export type Operation = z.output<typeof OperationSchema>;
export type SwitchIntent = z.output<typeof SwitchIntentSchema>;
/** A switchover request as its requester writes it (`force` may be left out: false). */
export type NewSwitchIntent = z.input<typeof SwitchIntentSchema>;

/**
 * How a request that no leader has taken yet is shown as an operation (GET /operations/{id}, the list): pending,
 * with no fence and no steps, as only the leader that takes it makes the operation.
 */
export function pendingOperation(intent: SwitchIntent): Operation {
  return { ...intent, to: intent.to ?? '', status: 'pending', fence: 0, decidedAt: intent.requestedAt, resumedCount: 0, steps: [] };
}
