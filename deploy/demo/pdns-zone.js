#!/usr/bin/env node
// One-shot of the compose demo (service pdns-zone): creates the zone the demo portal switches on the stack's
// PowerDNS, through its HTTP API (a zone written into the database directly is not served until pdns rediscovers it).
// An existing zone is left as it is: after a switch its record names the standby, and a restart must not undo that.
// Environment: PDNS_API_URL, PDNS_API_KEY (deploy/secrets/pdns.env), DEMO_ZONE, DEMO_RECORD, DEMO_ADDRESS.
'use strict';

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`pdns-zone: ${name} is not set\n`);
    process.exit(2);
  }
  return v;
};
const api = `${need('PDNS_API_URL').replace(/\/+$/, '')}/api/v1/servers/localhost`;
const key = need('PDNS_API_KEY');
const zone = need('DEMO_ZONE');
const record = need('DEMO_RECORD');
const address = need('DEMO_ADDRESS');
const waitMs = Number(process.env.PDNS_WAIT_MS ?? 60_000);

const call = (path, init = {}) => fetch(`${api}${path}`, { ...init, headers: { 'X-API-Key': key, 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(5_000) });

async function main() {
  // pdns starts beside this container: wait for its API rather than fail the first seconds.
  const deadline = Date.now() + waitMs;
  let existing;
  for (;;) {
    try {
      existing = await call(`/zones/${zone}`);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`PowerDNS API ${api} did not answer within ${waitMs} ms (${err.cause?.code ?? err.message})`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
  if (existing.status === 200) {
    process.stdout.write(`pdns-zone: ${zone} exists, left as it is\n`);
    return;
  }
  if (existing.status === 401) throw new Error('PowerDNS refused the API key (401): PDNS_API_KEY differs from the server\'s');
  if (existing.status !== 404 && existing.status !== 422) throw new Error(`GET zone ${zone}: HTTP ${existing.status} ${await existing.text()}`);
  const ns = `ns1.${zone}`;
  const res = await call('/zones', {
    method: 'POST',
    body: JSON.stringify({
      name: zone,
      kind: 'Native',
      nameservers: [ns],
      rrsets: [
        { name: record, type: 'A', ttl: 30, records: [{ content: address, disabled: false }] },
        { name: ns, type: 'A', ttl: 3600, records: [{ content: '127.0.0.1', disabled: false }] },
      ],
    }),
  });
  if (res.status !== 201) throw new Error(`create zone ${zone}: HTTP ${res.status} ${await res.text()}`);
  process.stdout.write(`pdns-zone: created ${zone} with ${record} A ${address}\n`);
}

main().catch((err) => {
  process.stderr.write(`pdns-zone: ${err.message}\n`);
  process.exit(1);
});
