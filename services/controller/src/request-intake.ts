import { admitSwitch, LeaseLostError, type ControlRecords, type ControlStore, type Logger, type Operation, type RateLimitedLog } from '@portal-failover/shared';
import type { LeaseHold } from './lease';
import { evidenceOf, type OperationRunner } from './operation-runner';
import type { PortalRuntime } from './portal-runtime';

export interface RequestIntakeDeps {
  control: ControlStore;
  runner: OperationRunner;
  log: Logger;
  warn: RateLimitedLog;
  now: () => number;
  announce: (op: Operation) => void;
  stepDown: (why: string) => Promise<void>;
}

/**
 * Takes a switchover request from the API or Alertmanager: re-checks the runbook preconditions (health and freezes
 * moved since the API checked them), then refuses it for good or starts it. Taking the request and storing the state
 * that marks it in flight is one atomic fenced write, so a request is taken once, by one leader. Never throws.
 */
export async function takeRequest(d: RequestIntakeDeps, rt: PortalRuntime, intent: NonNullable<ControlRecords['intent']>, hold: LeaseHold): Promise<void> {
  const request = intent.request;
  if (d.runner.isRunning(request.id)) return;
  const now = d.now();
  const adm = admitSwitch(rt.state, rt.model, { operationId: request.id, trigger: request.trigger, to: request.to, expectFrom: request.expectFrom, force: request.force }, now);
  const evidence = evidenceOf(adm.ok ? 'Requested' : 'RequestRejected', adm.statuses);
  const failed = async (err: unknown) => {
    if (err instanceof LeaseLostError) await d.stepDown(err.message);
    else d.warn.warn('intent', `cannot take switchover request ${request.id}: ${(err as Error).message}`, { portal: rt.model.id });
  };
  const { to: _to, ...fields } = request;
  if (!adm.ok) {
    // Refused for good: an operation with no steps, so the requester finds the reason under its id.
    const refused = d.runner.newOperation(rt, { ...fields, to: request.to ?? '', decidedAt: now, evidence }, hold);
    const op: Operation = { ...refused, status: 'rejected', error: adm.reason, finishedAt: now, steps: [] };
    try {
      await d.control.takeIntent(hold.value, rt.model.id, intent.raw, { operation: op });
    } catch (err) {
      return failed(err);
    }
    d.log.warn(`${request.trigger} switchover ${op.id} rejected: ${adm.reason}`, { portal: op.portal });
    d.runner.record({ type: 'operation.rejected', portal: op.portal, actor: op.actor, client: op.client, reason: op.reason, operation: op.id, data: { why: adm.reason, to: request.to, evidence } });
    d.announce(op);
    return;
  }
  const op = d.runner.newOperation(rt, { ...fields, from: adm.from, to: adm.to, decidedAt: now, evidence }, hold);
  const save = async (): Promise<boolean> => {
    const before = rt.state;
    rt.state = adm.next;
    const json = JSON.stringify(rt.state);
    try {
      // False: another leader took it first. Either way this controller's state must not claim it.
      if (!(await d.control.takeIntent(hold.value, rt.model.id, intent.raw, { stateJson: json, operation: op }))) {
        rt.state = before;
        return false;
      }
    } catch (err) {
      // The write may have landed before the reply was lost, so the state keeps the operation in flight: the next
      // tick resumes it from its record, or, finding none, clears it and reads the traffic steps.
      await failed(err);
      return false;
    }
    rt.persisted = json;
    rt.persistedState = rt.state;
    d.log.info(adm.reason, { portal: op.portal, operation: op.id, actor: op.actor });
    return true;
  };
  await d.runner.begin(rt, op, hold, save, adm.reason);
}
