import { randomBytes } from 'node:crypto';
import { executeOperation } from '@portal-failover/controller';
import { makeFields, webhookProvider, type Operation, type ProviderContext } from '@portal-failover/shared';
import { captureLogger } from '../support/capture-logger';
import { freePort } from '../support/free-port';
import { expectedSignature, startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { PRIMARY, STANDBY, WEBHOOK_PORTAL, webhookStep } from './harnesses';
import { rejection, runningOperation } from './test-kit';

/**
 * webhook against a local receiver that checks signatures, applies what it accepts, and serves its state for the
 * verify GET: retries on a 500, what "verified" means without a verifyUrl, signatures a receiver can check,
 * and credentials in URLs kept out of labels, plans and errors.
 */

const SECRET = `whsec-${randomBytes(16).toString('hex')}`;
const capture = captureLogger();
const { logger } = capture;
const ctx: ProviderContext = { fence: { token: 1, assertHeld: async () => undefined }, logger };
/** A context that also carries the running operation, as an executor may pass it (ProviderContext does not require it). */
function withOperation(operation: { id?: string; portal?: string; from?: string }): ProviderContext {
  // Partial facts on purpose: the provider must cope with whatever an executor passes.
  return { ...ctx, operation } as unknown as ProviderContext;
}

let rx: WebhookReceiver;
beforeEach(async () => {
  rx = await startWebhookReceiver(SECRET, 'primary');
});
afterEach(async () => {
  await rx.close();
});

const operation = (): Operation => runningOperation('webhook', WEBHOOK_PORTAL);

describe('webhook: a receiver that fails first', () => {
  it('500 then 200: the first POST is a retryable error, the second applies, and both were signed', async () => {
    const p = webhookStep({ url: rx.url, verifyUrl: rx.verifyUrl }, SECRET, logger);
    rx.failNext(500);
    const plan = p.plan(await p.read(), STANDBY);
    const err = await rejection(() => p.apply(plan, ctx));
    expect(err.retryable).toBe(true);
    expect(err.message).toBe(`webhook ${rx.url}: POST ${rx.url} answered 500: {"error":"scripted 500"}`);
    expect(rx.site).toBe('primary');
    expect((await p.verify(STANDBY)).ok).toBe(false);

    await p.apply(p.plan(await p.read(), STANDBY), ctx);
    expect(rx.site).toBe('standby');
    expect(await p.verify(STANDBY)).toEqual({ ok: true, observed: ['standby'], detail: `${rx.verifyUrl} says standby` });
    expect(rx.posts().map((r) => [r.status, r.signatureOk])).toEqual([
      [500, true],
      [200, true],
    ]);
  });

  it('through the controller\'s executor: one operation, two attempts, verified', async () => {
    const p = webhookStep({ url: rx.url, verifyUrl: rx.verifyUrl }, SECRET, logger);
    rx.failNext(503);
    const saved: string[] = [];
    const op = await executeOperation(operation(), [p], STANDBY, ctx.fence, {
      attempts: 3,
      backoffMs: 1,
      logger,
      save: async (o) => void saved.push(o.steps[0].status),
    });
    expect(op.status).toBe('succeeded');
    expect(op.steps[0]).toMatchObject({ status: 'verified', attempts: 2, verified: `${rx.verifyUrl} says standby` });
    expect(rx.posts().map((r) => r.status)).toEqual([503, 200]);
  });

  it('a 4xx (here: the receiver rejects the signature) is final', async () => {
    const p = webhookStep({ url: rx.url, verifyUrl: rx.verifyUrl }, `whsec-other-${randomBytes(8).toString('hex')}`, logger);
    const err = await rejection(async () => p.apply(p.plan(await p.read(), STANDBY), ctx));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/answered 401: \{"error":"bad signature"\}/);
    rx.failNext(429);
    const good = webhookStep({ url: rx.url }, SECRET, logger);
    expect((await rejection(() => good.apply(good.plan({ values: [] }, STANDBY), ctx))).retryable).toBe(true);
  });

  it('a receiver that does not answer in time is retryable, within the timeout', async () => {
    rx.delayMs = 2000;
    const p = webhookStep({ url: rx.url, timeout: '200ms' }, SECRET, logger);
    const started = Date.now();
    const err = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    expect(Date.now() - started).toBeLessThan(1500);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/failed: no answer within 200ms/);
  });

  it('a redirect is not followed (the signed body would go somewhere unconfigured) and is final', async () => {
    const { createServer } = await import('node:http');
    const redirector = createServer((_req, res) => {
      res.writeHead(307, { Location: `${rx.url}?token=abc` });
      res.end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', () => r()));
    try {
      const address = redirector.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const p = webhookStep({ url: `http://127.0.0.1:${port}/hook` }, SECRET, logger);
      const err = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
      expect(err.retryable).toBe(false);
      expect(err.message).toBe(`webhook http://127.0.0.1:${port}/hook: POST http://127.0.0.1:${port}/hook was redirected (307 to ${rx.url}?token=[redacted]); configure the final URL`);
      expect(rx.posts()).toHaveLength(0);
    } finally {
      await new Promise<void>((r) => redirector.close(() => r()));
    }
  });
});

describe('webhook: payload and signature', () => {
  it('POSTs {portal, from, to, routing, operationId, fence, at} signed as sha256=<hex HMAC of the exact body>', async () => {
    const p = webhookStep({ url: rx.url, verifyUrl: rx.verifyUrl }, SECRET, logger);
    const plan = p.plan(await p.read(), STANDBY);
    expect(plan.request).toEqual({
      method: 'POST',
      url: rx.url,
      headers: { 'Content-Type': 'application/json', 'X-Portal-Failover-Signature': 'sha256=<hex HMAC-SHA256 of the body as sent>' },
      body: { portal: WEBHOOK_PORTAL, from: 'primary', to: 'standby', routing: { address: '198.51.100.20' } },
      addedWhenSent: ['operationId', 'fence', 'at'],
    });
    const withOp = withOperation({ id: 'op-123', portal: WEBHOOK_PORTAL, from: 'primary' });
    await p.apply(plan, withOp);
    const [post] = rx.posts();
    expect(post.headers['x-failover-fencing-token']).toBe(String(withOp.fence.token));
    const header = String(post.headers['x-portal-failover-signature']);
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(header).toBe(expectedSignature(post.body, SECRET));
    expect(JSON.parse(post.body)).toEqual({
      portal: WEBHOOK_PORTAL,
      from: 'primary',
      to: 'standby',
      routing: { address: '198.51.100.20' },
      operationId: 'op-123',
      fence: withOp.fence.token,
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
  });

  it('refuses to announce a switch for another portal than the running operation\'s', async () => {
    const p = webhookStep({ url: rx.url }, SECRET, logger);
    const err = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), withOperation({ id: 'op-1', portal: 'other-portal' })));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/step says portal conformance-portal but runs in portal other-portal/);
    expect(rx.posts()).toHaveLength(0);
  });

  it('sends user:password@ from the URL as Basic authorization (fetch refuses it in the URL)', async () => {
    const p = webhookStep({ url: rx.url.replace('http://', 'http://hook%20user:p%40ss@') }, SECRET, logger);
    await p.apply(p.plan({ values: [] }, STANDBY), ctx);
    expect(rx.posts()[0].headers.authorization).toBe(`Basic ${Buffer.from('hook user:p@ss').toString('base64')}`);
  });

  it('reads {"active": name} as well as {"site": name}', async () => {
    const p = webhookStep({ url: rx.url, verifyUrl: rx.verifyActiveUrl }, SECRET, logger);
    expect((await p.read()).values).toEqual(['primary']);
  });
});

describe('webhook: without verifyUrl', () => {
  it('read is unknown, every plan is a change, and verify vouches only for a 2xx this process got, saying so', async () => {
    const p = webhookStep({ url: rx.url }, SECRET, logger);
    expect(await p.read()).toEqual({ values: [], detail: 'no verifyUrl: the receiver\'s state is unknown' });
    expect(p.plan(await p.read(), PRIMARY).changes).toBe(true);
    expect(await p.verify(STANDBY)).toEqual({ ok: false, observed: [], detail: 'no verifyUrl, and no POST for standby was accepted by this process' });

    const plan = p.plan(await p.read(), STANDBY);
    expect(plan.request.body).toEqual({ portal: WEBHOOK_PORTAL, to: 'standby', routing: { address: '198.51.100.20' } });
    await p.apply(plan, withOperation({ id: 'op-9', from: 'primary' }));
    // The operation knew where traffic came from, even though nothing could be read.
    expect(JSON.parse(rx.posts()[0].body)).toMatchObject({ from: 'primary', operationId: 'op-9' });
    const v = await p.verify(STANDBY);
    expect(v.ok).toBe(true);
    expect(v.detail).toMatch(/^no verifyUrl: trusting the receiver's 200 to the POST for standby at \d{4}-.*Z \(not read back\)$/);
    expect((await p.verify(PRIMARY)).ok).toBe(false);
    // And a re-run sends it again: without a read there is no way to know it would be a no-op.
    await p.apply(p.plan(await p.read(), STANDBY), ctx);
    expect(rx.posts()).toHaveLength(2);
  });
});

describe('webhook: secrets and credentials in URLs', () => {
  it('user:password@ and query values never reach labels, plans, errors or logs', async () => {
    const port = await freePort();
    const url = `http://hookuser:hookpass-${SECRET.slice(-6)}@127.0.0.1:${port}/switch?token=tok-${SECRET.slice(-8)}&x=1`;
    const p = webhookStep({ url, verifyUrl: `http://127.0.0.1:${port}/state?token=tok-${SECRET.slice(-8)}` }, SECRET, logger);
    expect(p.label).toBe(`webhook http://[redacted]@127.0.0.1:${port}/switch?token=[redacted]&x=[redacted]`);
    const plan = p.plan({ values: [] }, STANDBY);
    const readErr = await rejection(() => p.read());
    const applyErr = await rejection(() => p.apply(plan, ctx));
    const everything = [p.label, JSON.stringify(plan), readErr.message, applyErr.message, readErr.stack ?? '', capture.text()].join('\n');
    for (const s of ['hookpass', `tok-${SECRET.slice(-8)}`, SECRET]) expect(everything).not.toContain(s);
  });

  it('the schema takes the secret only as ${ENV} or file:, and needs the portal id', () => {
    const parse = (raw: Record<string, unknown>) =>
      webhookProvider.schema(makeFields({ S: SECRET })).safeParse({ kind: 'webhook', url: 'https://hooks.example/failover', secret: '${S}', portal: 'dvc-hanoi', ...raw });
    const issues = (raw: Record<string, unknown>) => {
      const r = parse(raw);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(parse({}).data).toMatchObject({ timeoutMs: 5000, portal: 'dvc-hanoi' });
    expect(issues({ secret: 'literal-secret' })).toEqual(['secret: secrets must be a ${ENV_VAR} reference or a file:/path, never the literal value']);
    expect(issues({ portal: undefined })).toEqual(['portal: Invalid input: expected string, received undefined']);
    expect(issues({ verifyUrl: 'ftp://x/' })).toEqual(['verifyUrl: must be an absolute http or https URL']);
  });
});
