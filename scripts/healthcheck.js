#!/usr/bin/env node
// The image's HEALTHCHECK: GET /healthz on this process's own listener. A standalone checker or controller serves it
// on METRICS_LISTEN, the API and the all-in-one `start` on api.listen (HEALTHCHECK_URL overrides both). Exit 0 when
// it answers 200 within 3 s, 1 otherwise; no shell or curl needed in the slim image.
'use strict';
const listen = process.env.METRICS_LISTEN;
const url = process.env.HEALTHCHECK_URL || `http://${listen || '127.0.0.1:8080'}/healthz`;
fetch(url, { signal: AbortSignal.timeout(3000) })
  .then((res) => process.exit(res.status === 200 ? 0 : 1))
  .catch(() => process.exit(1));
