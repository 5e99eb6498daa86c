/**
 * The audit trail against the deployed stack: rollout controls and trust changes made through the
 * API appear in `GET /audit` with the actor, the route, the outcome and API Gateway's request id,
 * and the listing pages.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishRelease } from '../../scripts/local-aws/releases';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { api, context, eventually, uniqueId } from './support';

interface AuditEntry {
  at: string;
  requestId: string;
  actor: { username: string; sub: string | null };
  method: string;
  route: string;
  pathParameters: Record<string, string>;
  body: unknown;
  status: number;
  deviceId: string | null;
  rolloutId: string | null;
}
interface AuditPage {
  items: AuditEntry[];
  from: string;
  to: string;
  nextCursor: string | null;
}

const VERSION = '7.7.1';
let stateDir: string;
let fleet: FleetSimulator | undefined;

/** A request as the operator sends it. */
async function send(role: 'operator' | 'admin', method: string, path: string, body?: unknown) {
  const response = await fetch(new URL(path, context().apiUrl), {
    method,
    headers: {
      authorization: context().tokens[role],
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
  };
}

async function auditPage(query: Record<string, string>, role: 'viewer' | 'none' = 'viewer') {
  return api(role).request<AuditPage>('GET', `audit?${new URLSearchParams(query)}`);
}

beforeAll(async () => {
  await publishRelease(api('operator'), VERSION, ['rpi4'], () => randomBytes(4096));
  stateDir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-audit-'));
});

afterAll(async () => {
  await fleet?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('audit trail', () => {
  it('records the start, pause, resume and approve of a rollout with actor, outcome and request id', async () => {
    const region = uniqueId('region');
    fleet = new FleetSimulator({
      api: api('operator'),
      broker: context().mqtt,
      size: 2,
      prefix: uniqueId('aud'),
      region,
      sites: ['north'],
      hardwareTypes: ['rpi4'],
      firmwareVersion: '7.7.0',
      ota: { stateDir, timeFactor: 0.05, allowPlainHttp: true },
    });
    await fleet.start();

    const started = await send('operator', 'POST', 'rollouts', {
      releaseId: `rel-${VERSION}`,
      target: { filter: { region } },
      waves: [{ count: 1, requireApproval: true }, { percent: 100 }],
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const rolloutId = (started.body.rollout as { rolloutId: string }).rolloutId;
    const pause = await send('operator', 'POST', `rollouts/${rolloutId}/pause`);
    expect(pause.status, JSON.stringify(pause.body)).toBe(200);
    const resume = await send('operator', 'POST', `rollouts/${rolloutId}/resume`);
    expect(resume.status, JSON.stringify(resume.body)).toBe(200);
    await eventually(async () => {
      const { body } = await api('viewer').request<{ status: string }>('GET', `rollouts/${rolloutId}`);
      return body.status === 'awaiting-approval' ? body : undefined;
    }, 120_000);
    const approve = await send('operator', 'POST', `rollouts/${rolloutId}/approve`);
    expect(approve.status, JSON.stringify(approve.body)).toBe(200);
    // Refused (409): audited too, with its outcome.
    const secondApprove = await send('operator', 'POST', `rollouts/${rolloutId}/approve`);

    const { status, body } = await auditPage({ rolloutId });
    expect(status, JSON.stringify(body)).toBe(200);
    const entries = [...body.items].reverse(); // oldest first
    expect(entries.map((e) => [e.method, e.route, e.status])).toEqual([
      ['POST', '/rollouts', 201],
      ['POST', '/rollouts/{rolloutId}/pause', 200],
      ['POST', '/rollouts/{rolloutId}/resume', 200],
      ['POST', '/rollouts/{rolloutId}/approve', 200],
      ['POST', '/rollouts/{rolloutId}/approve', secondApprove.status],
    ]);
    for (const entry of entries) {
      expect(entry.actor.username).toBe('e2e-operator');
      expect(entry.actor.sub).toMatch(/\S/);
      expect(entry.rolloutId).toBe(rolloutId);
      // API Gateway's id for the request, as the Lambda got it (requestContext.requestId). In AWS
      // it is also the x-amzn-RequestId answer header; local AWS puts an id of its own there, so
      // only its form is checked here.
      expect(entry.requestId).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(new Set(entries.map((e) => e.requestId)).size).toBe(entries.length);
    expect(entries[0]?.body).toMatchObject({ releaseId: `rel-${VERSION}`, target: { filter: { region } } });
    expect(entries[1]?.pathParameters).toEqual({ rolloutId });
  }, 300_000);

  it('records trust changes, the refused ones too, with their signatures left out', async () => {
    // The root ceremony of the global setup published root v1 through PUT /trust/root as e2e-admin.
    // Other tests may have sent many requests as admin since: page until it is found.
    let published: AuditEntry | undefined;
    let cursor: string | undefined;
    do {
      const page = await auditPage({ actor: 'e2e-admin', limit: '100', ...(cursor ? { cursor } : {}) });
      expect(page.status).toBe(200);
      published = page.body.items.find(
        (e) => e.route === '/trust/root' && e.method === 'PUT' && e.status === 200,
      );
      cursor = page.body.nextCursor ?? undefined;
    } while (!published && cursor);
    expect(published?.actor.username).toBe('e2e-admin');

    const bogus = {
      signed: { _type: 'root', version: 99 },
      signatures: [{ keyid: 'k1', sig: 'ab'.repeat(32) }],
    };
    const refused = await send('admin', 'PUT', 'trust/root', bogus);
    expect(refused.status).toBe(400);
    const after = await auditPage({ actor: 'e2e-admin', limit: '100' });
    const entry = after.body.items.find((e) => e.route === '/trust/root' && e.status === 400);
    expect(entry, JSON.stringify(after.body.items.map((e) => [e.route, e.status]))).toBeDefined();
    expect(entry?.actor.username).toBe('e2e-admin');
    // Signatures, like key material and PEMs, are never kept (domain/audit.ts summarizeBody).
    expect(entry?.body).toEqual({ signed: { _type: 'root', version: 99 }, signatures: '[omitted]' });
  });

  it('pages through the trail with a cursor, each page at most the limit, none twice', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const { status, body } = await auditPage({ limit: '2', ...(cursor ? { cursor } : {}) });
      expect(status, JSON.stringify(body)).toBe(200);
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items.map((e) => `${e.at}#${e.requestId}`));
      cursor = body.nextCursor ?? undefined;
      pages += 1;
    } while (cursor && pages < 50);
    expect(pages).toBeGreaterThan(2);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort().reverse()).toEqual(seen);
  });

  it('is for viewers and up, and refuses a misspelt filter naming it', async () => {
    expect((await auditPage({}, 'none')).status).toBe(403);
    const misspelt = await api('viewer').request<{ errors: { field: string }[] }>(
      'GET',
      'audit?rollout=ro-1',
    );
    expect(misspelt.status).toBe(400);
    expect(misspelt.body.errors.map((e) => e.field)).toContain('(root)');
  });
});
