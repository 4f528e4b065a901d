import { z } from 'zod';
import { IDEMPOTENCY_HEADER } from './idempotency';
import { PROBLEM_JSON } from './problem';
import type { RouteDef } from './routes';
import { ErrorResponse } from './schemas';

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

/**
 * The OpenAPI 3 document, generated from the same route table and zod validators the app runs, so a route cannot
 * exist without being documented and a documented body cannot differ from the one enforced.
 */
export function openApiDocument(defs: RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const d of defs) {
    const path = d.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: Record<string, unknown>[] = [...d.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (d.query) {
      const q = schemaOf(d.query, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        parameters.push({ name, in: 'query', required: q.required?.includes(name) ?? false, schema });
      }
    }
    if (d.method === 'post') {
      parameters.push({
        name: IDEMPOTENCY_HEADER,
        in: 'header',
        required: false,
        description: 'Retry-safe POST: the same key with the same body gets the first answer again for 24 h; with another body 422',
        schema: { type: 'string', minLength: 1, maxLength: 255 },
      });
    }
    const documented = { ...d.responses };
    if (d.method === 'post') {
      documented[409] ??= { description: `a request with the same ${IDEMPOTENCY_HEADER} is still being processed`, schema: ErrorResponse };
      documented[422] ??= { description: `the ${IDEMPOTENCY_HEADER} was already used with a different body`, schema: ErrorResponse };
    }
    const responses: Record<string, unknown> = {};
    for (const [code, r] of Object.entries(documented)) {
      responses[code] = r.schema
        ? { description: r.description, content: { [r.schema === ErrorResponse ? PROBLEM_JSON : 'application/json']: { schema: schemaOf(r.schema, 'output') } } }
        : { description: r.description };
    }
    paths[path] ??= {};
    paths[path][d.method] = {
      summary: d.summary,
      ...(d.deprecated ? { deprecated: true, description: d.deprecated } : {}),
      operationId: `${d.method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(d.role ? { security: [{ bearer: [] }], 'x-required-role': d.role } : { security: [] }),
      ...(parameters.length ? { parameters } : {}),
      ...(d.body ? { requestBody: { required: d.method !== 'delete', content: { 'application/json': { schema: schemaOf(d.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'portal-failover API',
      version,
      description:
        'Status, runbook switchovers, freezes, acknowledgements, operations, audit and the Alertmanager webhook. ' +
        'Roles: viewer reads, operator also switches and freezes, admin everything. Send `Authorization: Bearer <token>`.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
