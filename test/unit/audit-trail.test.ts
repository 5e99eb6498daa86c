import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { InMemoryAuditTrail } from '../../functions/adapters/in-memory-audit-trail';
import {
  type AuditEntry,
  auditSubjects,
  daysBetween,
  isAudited,
  MAX_BODY_SUMMARY_BYTES,
  summarizeBody,
} from '../../functions/domain/audit';
import { RolloutStateError } from '../../functions/domain/errors';
import { ListAuditQuery } from '../../functions/operator-api/audit-schemas';
import { httpErrors, json, requireRole } from '../../functions/operator-api/http';
import { parseInput } from '../../functions/shared/parse';
import {
  MAX_AUDIT_READS_PER_REQUEST,
  makeListAuditEntries,
} from '../../functions/use-cases/list-audit-entries';
import { makeRecordAuditEntry } from '../../functions/use-cases/record-audit-entry';

const PEM = '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n';

function event(overrides: Partial<APIGatewayProxyEvent> = {}, groups = 'operator'): APIGatewayProxyEvent {
  return {
    httpMethod: 'POST',
    resource: '/rollouts/{rolloutId}/pause',
    path: '/rollouts/ro-0123456789ab/pause',
    pathParameters: { rolloutId: 'ro-0123456789ab' },
    queryStringParameters: null,
    headers: {},
    body: null,
    isBase64Encoded: false,
    requestContext: {
      requestId: 'req-1',
      authorizer: { claims: { 'cognito:username': 'alice', sub: 'sub-alice', 'cognito:groups': groups } },
    },
    ...overrides,
  } as unknown as APIGatewayProxyEvent;
}

function entry(at: string, overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    at,
    requestId: `req-${at}`,
    actor: { username: 'alice', sub: 'sub-alice' },
    method: 'POST',
    route: '/rollouts/{rolloutId}/pause',
    pathParameters: {},
    body: null,
    status: 200,
    deviceId: null,
    rolloutId: null,
    ...overrides,
  };
}

/** A handler wired like every operator handler, with the trail in memory. */
function handlerWith(
  trail: InMemoryAuditTrail,
  body: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>,
  reported: unknown[] = [],
) {
  const record = makeRecordAuditEntry({
    trail,
    reporter: { auditWriteFailed: (e, error) => reported.push({ e, error }) },
  });
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
    .use(httpErrors({ audit: () => record, now: () => new Date('2026-11-28T10:00:00.000Z') }))
    .use(requireRole('operator'))
    .handler(body);
}

const read = async (trail: InMemoryAuditTrail) =>
  (
    await trail.readDay({
      day: '2026-11-28',
      from: new Date('2026-11-28T00:00:00Z'),
      to: new Date('2026-11-28T23:59:59Z'),
      filter: {},
      limit: 100,
    })
  ).items;

describe('operator HTTP wrapper (httpErrors) and the audit trail', () => {
  it('records a state-changing request with who, what, the outcome and the request id', async () => {
    const trail = new InMemoryAuditTrail();
    const handler = handlerWith(trail, async () =>
      json(200, { rolloutId: 'ro-0123456789ab', status: 'pausing' }),
    );

    const response = await handler(event(), {} as Context);

    expect(response.statusCode).toBe(200);
    expect(await read(trail)).toEqual([
      {
        at: '2026-11-28T10:00:00.000Z',
        requestId: 'req-1',
        actor: { username: 'alice', sub: 'sub-alice' },
        method: 'POST',
        route: '/rollouts/{rolloutId}/pause',
        pathParameters: { rolloutId: 'ro-0123456789ab' },
        body: null,
        status: 200,
        deviceId: null,
        rolloutId: 'ro-0123456789ab',
      },
    ]);
  });

  it('records refused requests with the status the caller got: a domain error and a missing role', async () => {
    const trail = new InMemoryAuditTrail();
    const handler = handlerWith(trail, async () => {
      throw new RolloutStateError('Cannot pause rollout ro-0123456789ab: it is paused');
    });

    const conflict = await handler(event(), {} as Context);
    const forbidden = await handler(
      event({ requestContext: { requestId: 'req-2' } } as never, 'viewer'),
      {} as Context,
    );

    expect(conflict.statusCode).toBe(409);
    expect(forbidden.statusCode).toBe(403);
    expect((await read(trail)).map((e) => [e.requestId, e.status]).sort()).toEqual([
      ['req-1', 409],
      ['req-2', 403],
    ]);
  });

  it('does not record reads', async () => {
    const trail = new InMemoryAuditTrail();
    const handler = handlerWith(trail, async () => json(200, {}));

    await handler(event({ httpMethod: 'GET' }), {} as Context);

    expect(trail.size).toBe(0);
  });

  it('keeps the answer when the audit write fails, and reports the entry instead', async () => {
    const trail = new InMemoryAuditTrail();
    trail.failAppends = new Error('ProvisionedThroughputExceededException');
    const reported: { e: AuditEntry; error: unknown }[] = [];
    const handler = handlerWith(trail, async () => json(200, { ok: true }), reported as unknown[]);

    const response = await handler(event(), {} as Context);

    expect(response.statusCode).toBe(200);
    expect(reported).toHaveLength(1);
    expect(reported[0]?.e).toMatchObject({
      requestId: 'req-1',
      status: 200,
      route: '/rollouts/{rolloutId}/pause',
    });
    expect(reported[0]?.error).toBe(trail.failAppends);
  });

  it('fails a state-changing request before it runs when the Lambda has no audit table', async () => {
    delete process.env.AUDIT_TABLE_NAME;
    let ran = false;
    const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
      .use(httpErrors())
      .use(requireRole('operator'))
      .handler(async () => {
        ran = true;
        return json(200, {});
      });

    const response = await handler(event(), {} as Context);

    expect(response.statusCode).toBe(500);
    expect(ran).toBe(false);
  });

  it('keeps a summary of the body without key material, and finds the device it was about', async () => {
    const trail = new InMemoryAuditTrail();
    const handler = handlerWith(trail, async () => json(201, { device: { deviceId: 'dev-1' } }));

    await handler(
      event({
        resource: '/devices',
        pathParameters: null,
        body: JSON.stringify({ deviceId: 'dev-1', site: 'north', csr: PEM }),
      }),
      {} as Context,
    );

    const [recorded] = await read(trail);
    expect(recorded?.body).toEqual({ deviceId: 'dev-1', site: 'north', csr: '[omitted]' });
    expect(recorded?.deviceId).toBe('dev-1');
  });
});

describe('summarizeBody', () => {
  it('omits PEM blocks under any key, and secret-looking keys at any depth', () => {
    const summary = summarizeBody(
      JSON.stringify({
        notes: PEM,
        credentials: { privateKey: 'x' },
        nested: { password: 'p', apiToken: 't', ok: 1 },
        signatures: [{ keyid: 'k', sig: 'abc' }],
      }),
    );
    expect(summary).toEqual({
      notes: '[omitted]',
      credentials: '[omitted]',
      nested: { password: '[omitted]', apiToken: '[omitted]', ok: 1 },
      signatures: '[omitted]',
    });
  });

  it('cuts long strings, long lists and deep nesting, and stays within its byte budget', () => {
    const summary = summarizeBody(
      JSON.stringify({
        text: 'a'.repeat(1000),
        list: Array.from({ length: 50 }, (_, i) => i),
        deep: { a: { b: { c: { d: 1 } } } },
      }),
    ) as Record<string, unknown>;
    expect((summary.text as string).length).toBeLessThanOrEqual(257);
    expect(summary.list).toHaveLength(21);
    expect(summary.deep).toEqual({ a: { b: { c: '{…}' } } });
    const huge = summarizeBody(
      JSON.stringify(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v'.repeat(250)]))),
    );
    expect(Buffer.byteLength(JSON.stringify(huge))).toBeLessThanOrEqual(MAX_BODY_SUMMARY_BYTES);
    expect(huge).toMatchObject({ truncated: true });
  });

  it('says only how long a body that is not JSON was, and null for no body', () => {
    expect(summarizeBody('not json {')).toEqual({ notJson: true, bytes: 10 });
    expect(summarizeBody(null)).toBeNull();
    expect(summarizeBody(Buffer.from('{"a":1}').toString('base64'), true)).toEqual({ a: 1 });
  });
});

describe('audit subjects and methods', () => {
  it('takes ids from the path first, then the body, then the answer', () => {
    expect(auditSubjects({ deviceId: 'd-path' }, { deviceId: 'd-body' }, {})).toMatchObject({
      deviceId: 'd-path',
    });
    expect(auditSubjects({}, {}, { rollout: { rolloutId: 'ro-000000000001' } })).toMatchObject({
      rolloutId: 'ro-000000000001',
      deviceId: null,
    });
  });

  it('audits every method but GET, HEAD and OPTIONS', () => {
    expect(['POST', 'PUT', 'DELETE', 'PATCH'].every((method) => isAudited(method))).toBe(true);
    expect(['GET', 'HEAD', 'OPTIONS'].some((method) => isAudited(method))).toBe(false);
    expect(isAudited('POST', '/rollouts/preview')).toBe(false);
    expect(isAudited('POST', '/rollouts')).toBe(true);
  });

  it('lists the days of a range newest first', () => {
    expect(daysBetween(new Date('2026-02-27T23:00:00Z'), new Date('2026-03-01T01:00:00Z'))).toEqual([
      '2026-03-01',
      '2026-02-28',
      '2026-02-27',
    ]);
  });
});

describe('listAuditEntries', () => {
  const clock = { now: () => new Date('2026-11-28T12:00:00.000Z') };

  async function trailWith(entries: AuditEntry[]) {
    const trail = new InMemoryAuditTrail();
    for (const e of entries) await trail.append(e);
    return trail;
  }

  it('pages newest first across day partitions, each entry once', async () => {
    const trail = await trailWith([
      entry('2026-11-26T09:00:00.000Z'),
      entry('2026-11-27T09:00:00.000Z'),
      entry('2026-11-27T10:00:00.000Z'),
      entry('2026-11-28T08:00:00.000Z'),
      entry('2026-11-28T11:00:00.000Z'),
    ]);
    const list = makeListAuditEntries({ trail, clock });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await list({ limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((e) => e.at));
      cursor = page.nextCursor ?? undefined;
      pages += 1;
    } while (cursor);
    expect(seen).toEqual([
      '2026-11-28T11:00:00.000Z',
      '2026-11-28T08:00:00.000Z',
      '2026-11-27T10:00:00.000Z',
      '2026-11-27T09:00:00.000Z',
      '2026-11-26T09:00:00.000Z',
    ]);
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it('filters by actor (name or sub), device and rollout, and keeps to the range', async () => {
    const trail = await trailWith([
      entry('2026-11-28T08:00:00.000Z', {
        actor: { username: 'bob', sub: 'sub-bob' },
        rolloutId: 'ro-000000000001',
      }),
      entry('2026-11-28T09:00:00.000Z', { deviceId: 'dev-1' }),
      entry('2026-11-28T10:00:00.000Z', { rolloutId: 'ro-000000000001' }),
      entry('2026-11-20T10:00:00.000Z', { rolloutId: 'ro-000000000001' }),
    ]);
    const list = makeListAuditEntries({ trail, clock });

    expect((await list({ limit: 10, actor: 'sub-bob' })).items.map((e) => e.at)).toEqual([
      '2026-11-28T08:00:00.000Z',
    ]);
    expect((await list({ limit: 10, deviceId: 'dev-1' })).items).toHaveLength(1);
    expect((await list({ limit: 10, rolloutId: 'ro-000000000001' })).items.map((e) => e.at)).toEqual([
      '2026-11-28T10:00:00.000Z',
      '2026-11-28T08:00:00.000Z',
    ]);
    const ranged = await list({
      limit: 10,
      from: new Date('2026-11-28T08:30:00Z'),
      to: new Date('2026-11-28T09:30:00Z'),
    });
    expect(ranged.items.map((e) => e.at)).toEqual(['2026-11-28T09:00:00.000Z']);
  });

  it('reads a bounded number of entries per request, and hands a cursor for the rest', async () => {
    const many = Array.from({ length: MAX_AUDIT_READS_PER_REQUEST + 50 }, (_, i) =>
      entry(new Date(Date.parse('2026-11-28T00:00:00Z') + i * 1000).toISOString()),
    );
    const trail = await trailWith(many);
    const list = makeListAuditEntries({ trail, clock });

    const page = await list({ limit: 100, actor: 'nobody' });

    expect(page.items).toEqual([]);
    expect(page.nextCursor).not.toBeNull();
  });

  it('refuses a reversed range, one over 92 days and a cursor from another range', async () => {
    const list = makeListAuditEntries({ trail: new InMemoryAuditTrail(), clock });
    await expect(
      list({ limit: 1, from: new Date('2026-11-28Z'), to: new Date('2026-11-27Z') }),
    ).rejects.toThrow(/from is after to/);
    await expect(
      list({ limit: 1, from: new Date('2026-01-01Z'), to: new Date('2026-11-27Z') }),
    ).rejects.toThrow(/more than 92 days/);
    const foreign = Buffer.from(JSON.stringify({ day: '2020-01-01' })).toString('base64url');
    await expect(list({ limit: 1, cursor: foreign })).rejects.toThrow(/Invalid cursor/);
  });
});

describe('ListAuditQuery', () => {
  it('parses the range and filters, and names a misspelt filter', () => {
    expect(parseInput(ListAuditQuery, { from: '2026-11-01T00:00:00Z', limit: '5' }, 'query')).toEqual({
      from: new Date('2026-11-01T00:00:00Z'),
      limit: 5,
    });
    expect(() => parseInput(ListAuditQuery, { rollout: 'x' }, 'query')).toThrow(/rollout/);
    expect(() => parseInput(ListAuditQuery, { from: 'yesterday' }, 'query')).toThrow(/from/);
  });
});

describe('operator handlers', () => {
  const functionsDir = fileURLToPath(new URL('../../functions/', import.meta.url));
  const handlers = (readdirSync(functionsDir, { recursive: true }) as string[])
    .filter((file) => file.endsWith('.handler.ts'))
    .map((file) => ({ file, text: readFileSync(join(functionsDir, file), 'utf8') }))
    .filter(({ text }) => text.includes('requireRole('));

  it('all register the operator HTTP wrapper before the role check, so every mutating route is audited', () => {
    expect(handlers.length).toBeGreaterThan(15);
    const unaudited = handlers
      .filter(({ text }) => {
        const wrapper = text.indexOf('.use(httpErrors())');
        return wrapper < 0 || wrapper > text.indexOf('.use(requireRole(');
      })
      .map(({ file }) => file);
    expect(unaudited).toEqual([]);
  });
});
