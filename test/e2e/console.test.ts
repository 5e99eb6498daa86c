/**
 * The operator console in real Chromium (Debian's `chromium`, driven by playwright-core) against
 * the stack deployed into local AWS, served as `npm start` serves it (scripts/console-server.ts):
 * sign in, read the fleet, start a rollout from the console and watch it finish, read the halt
 * reason of one that failed, and see only the buttons each role may use. Every page is kept as a
 * screenshot under test-results/console/ (1280 × 800, and a phone's 390 × 844).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperatorRole } from '../../functions/domain/operator-role';
import { type ConsoleServer, startConsoleServer } from '../../scripts/console-server';
import { LOCAL_AWS_ENV, localClientConfig } from '../../scripts/local-aws/ministack';
import { createOperator, type Operator } from '../../scripts/local-aws/operators';
import { publishRelease } from '../../scripts/local-aws/releases';
import type { FaultProfile } from '../../simulator/fault-profiles';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { api, context, eventually, uniqueId } from './support';

const SCREENSHOTS = join(process.cwd(), 'test-results', 'console');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const HARDWARE = ['rpi4', 'jetson-nano'];
const TERMINAL = /^(succeeded|halted|aborted|failed)$/;

/**
 * Debian's Chromium, installed on first use where the test runs as root (CI), so `npm test` on a
 * fresh machine needs no manual step. Anywhere else a missing browser fails the suite with the
 * command to run: a skipped browser test would pass without testing anything.
 */
function chromiumPath(): string {
  const path = process.env.EDGEOPS_CHROMIUM ?? '/usr/bin/chromium';
  if (existsSync(path)) return path;
  if (process.getuid?.() !== 0 || process.env.EDGEOPS_CHROMIUM)
    throw new Error(
      `No Chromium at ${path}: run \`sudo apt-get install -y chromium\` (or set EDGEOPS_CHROMIUM)`,
    );
  const apt = (args: string[]) =>
    execFileSync('apt-get', args, {
      stdio: 'pipe',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 480_000,
    });
  try {
    apt(['install', '-y', '--no-install-recommends', 'chromium']);
  } catch {
    try {
      apt(['update']);
      apt(['install', '-y', '--no-install-recommends', 'chromium']);
    } catch (error) {
      throw new Error(`Could not install Debian's chromium with apt-get: ${String(error)}`);
    }
  }
  if (!existsSync(path)) throw new Error(`apt-get installed chromium, but ${path} is missing`);
  return path;
}

let browser: Browser;
let server: ConsoleServer;
const operators = {} as Record<OperatorRole, Operator>;
const fleets: FleetSimulator[] = [];
const stateDirs: string[] = [];
const contexts: BrowserContext[] = [];
let healthyRegion = '';
let failingRegion = '';
let haltedRolloutId = '';
let succeededRolloutId = '';

/**
 * A simulated fleet of its own region, on 1.0.0, whose firmware the registry knows; with
 * `telemetry`, sending five-second windows, so the overview and device pages have health to show.
 */
async function startFleet(size: number, profile: FaultProfile, telemetry = false) {
  const prefix = uniqueId('con');
  const region = uniqueId('region');
  const stateDir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-console-'));
  stateDirs.push(stateDir);
  const deviceIds = Array.from({ length: size }, (_, i) => `${prefix}-${String(i + 1).padStart(4, '0')}`);
  const fleet = new FleetSimulator({
    api: api('operator'),
    broker: context().mqtt,
    size,
    prefix,
    region,
    sites: ['north', 'south'],
    hardwareTypes: HARDWARE,
    firmwareVersion: '1.0.0',
    ota: {
      stateDir,
      profiles: Object.fromEntries(deviceIds.map((id) => [id, profile])),
      timeFactor: 0.05,
      allowPlainHttp: true,
    },
    ...(telemetry
      ? {
          telemetry: {
            stateDir: join(stateDir, 'telemetry'),
            windowSeconds: 5,
            sampleEverySeconds: 1,
            sendEverySeconds: 5,
          },
        }
      : {}),
  });
  fleets.push(fleet);
  await fleet.start();
  await eventually(async () => {
    const devices = await Promise.all(deviceIds.map((id) => api('viewer').getDevice(id)));
    return devices.every((d) => d.firmwareVersion === '1.0.0' && (!telemetry || d.health)) ? true : undefined;
  }, 60_000);
  return region;
}

/** One run of the fleet analysis, so the overview has cohort statistics to show. */
async function analyzeFleet() {
  const sfn = new SFNClient(localClientConfig(context()));
  const { executionArn } = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn: context().outputs.FleetAnalysisStateMachineArn,
      input: '{}',
    }),
  );
  await eventually(async () => {
    const { status } = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    return status === 'RUNNING' ? undefined : status;
  }, 60_000);
}

async function signedInPage(role: OperatorRole, viewport = DESKTOP): Promise<Page> {
  const browserContext = await browser.newContext({ viewport });
  contexts.push(browserContext);
  const page = await browserContext.newPage();
  page.on('dialog', (dialog) => void dialog.accept());
  await page.goto(server.url);
  await page.getByLabel('User name or email').fill(operators[role].username);
  await page.getByLabel('Password').fill(operators[role].password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Fleet overview' }).waitFor();
  return page;
}

const shoot = (page: Page, name: string) =>
  page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

/** Waits for the rollout page's status badge to read one of `statuses`, approving waves on the way if asked. */
async function untilStatus(
  page: Page,
  statuses: RegExp,
  approve = false,
  timeoutMs = 240_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = (await page.locator('#rollout-status').textContent())?.trim() ?? '';
    if (statuses.test(status)) return status;
    if (Date.now() > deadline) throw new Error(`Rollout still ${status} after ${timeoutMs / 1000} s`);
    const approveButton = page.getByRole('button', { name: 'Approve next wave' });
    if (approve && status === 'awaiting-approval' && (await approveButton.isVisible()))
      await approveButton.click();
    await page.waitForTimeout(500);
  }
}

const actionButtons = async (page: Page) =>
  (await page.locator('#rollout-actions button').allTextContents()).map((t) => t.trim());

beforeAll(async () => {
  const executablePath = chromiumPath();
  mkdirSync(SCREENSHOTS, { recursive: true });
  const cognito = new CognitoIdentityProviderClient(localClientConfig(context()));
  for (const role of ['viewer', 'operator', 'admin'] as const)
    operators[role] = await createOperator(context().outputs, `console-${role}`, role, cognito);
  server = await startConsoleServer({
    apiUrl: context().apiUrl,
    awsEndpoint: context().endpoint,
    region: LOCAL_AWS_ENV.AWS_REGION,
    userPoolId: context().outputs.UserPoolId,
    clientId: context().outputs.UserPoolClientId,
  });
  browser = await chromium.launch({ executablePath });
  await publishRelease(api('operator'), '1.0.0', HARDWARE);
  await publishRelease(api('operator'), '1.1.0', HARDWARE);
  [healthyRegion, failingRegion] = await Promise.all([
    startFleet(6, 'healthy', true),
    startFleet(4, 'unhealthy-after-boot'),
  ]);
  await analyzeFleet();
}, 600_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await server?.close();
  await Promise.all(fleets.map((f) => f.stop()));
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

describe('operator console in Chromium', () => {
  it('refuses a wrong password with a message, then signs in and shows the fleet overview', async () => {
    const browserContext = await browser.newContext({ viewport: DESKTOP });
    contexts.push(browserContext);
    const page = await browserContext.newPage();
    await page.goto(server.url);
    await shoot(page, '01-sign-in');
    await page.getByLabel('User name or email').fill(operators.operator.username);
    await page.getByLabel('Password').fill('Wrong-password-1!');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect
      .poll(() => page.getByRole('alert').textContent(), { timeout: 20_000 })
      .toContain('Incorrect user name or password');

    await page.getByLabel('Password').fill(operators.operator.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Fleet overview' }).waitFor();

    expect(await page.locator('#role').textContent()).toBe('operator');
    // At least the 10 devices this file registered, counted by the analysis's cohorts.
    const devices = Number(await page.locator('.cards .card').first().locator('.card-value').textContent());
    expect(devices).toBeGreaterThanOrEqual(10);
    // The telemetry-sending fleet's six report healthy.
    const healthy = Number(await page.locator('.cards .card.good .card-value').textContent());
    expect(healthy).toBeGreaterThanOrEqual(6);
    expect(await page.getByRole('banner').count()).toBe(1);
    expect(await page.getByRole('navigation', { name: 'Main' }).count()).toBe(1);
    expect(await page.getByRole('main').count()).toBe(1);
    await shoot(page, '02-overview');
  });

  it('lists devices with the filters in the URL, and shows a device with its telemetry', async () => {
    const page = await signedInPage('viewer');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Devices' }).click();
    await page.getByLabel('Region').fill(healthyRegion);
    await page.getByLabel('Connection').selectOption('connected');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(new RegExp(`region=${healthyRegion}`));
    await expect.poll(() => page.locator('tbody tr').count(), { timeout: 20_000 }).toBe(6);
    const regions = await page.locator('tbody tr td:nth-child(3)').allTextContents();
    expect(new Set(regions)).toEqual(new Set([healthyRegion]));
    // Every form control has a label a screen reader reads.
    // (A string: this file is compiled without the DOM's types; it runs in the page.)
    const unlabelled = await page.evaluate(
      "[...document.querySelectorAll('main input, main select')].filter((el) => el.labels.length === 0).map((el) => el.name)",
    );
    expect(unlabelled).toEqual([]);
    await shoot(page, '03-devices');

    const first = page.locator('tbody tr').first().getByRole('link');
    const deviceId = (await first.textContent())?.trim() ?? '';
    await first.click();
    await page.getByRole('heading', { level: 1, name: deviceId }).waitFor();
    expect(await page.locator('.facts').textContent()).toContain(healthyRegion);
    await page.getByRole('heading', { level: 2, name: 'Telemetry' }).waitFor();
    const windows = page.getByRole('region', { name: /Latest telemetry windows/ }).locator('tbody tr');
    expect(await windows.count()).toBeGreaterThan(0);
    await shoot(page, '04-device');
  });

  it('shows releases', async () => {
    const page = await signedInPage('viewer');
    await page.goto(`${server.url}#/releases`);
    await page.getByRole('heading', { level: 1, name: 'Releases' }).waitFor();
    expect(await page.locator('tbody').textContent()).toContain('rel-1.1.0');
    await shoot(page, '05-releases');
  });

  it('starts a rollout from the console, approves its waves, and watches the funnel reach the end', async () => {
    const page = await signedInPage('operator');
    await page.goto(`${server.url}#/rollouts`);
    await page.getByRole('heading', { level: 2, name: 'Start a rollout' }).waitFor();
    await page.getByLabel('Release').selectOption('rel-1.1.0');
    await page.getByLabel('Region').fill(healthyRegion);
    await page.getByLabel('Waves', { exact: true }).fill('2, 100%');
    await page.getByLabel('Soak seconds per wave').fill('1');
    await page.getByLabel('Wait for approval after each wave').check();
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect
      .poll(() => page.locator('#preview').textContent(), { timeout: 20_000 })
      .toContain('Wave 2: 4 device(s)');
    await shoot(page, '06-rollout-start');
    await page.getByRole('button', { name: 'Start rollout' }).click();
    await page.waitForURL(/#\/rollouts\/ro-[0-9a-f]{12}$/);
    succeededRolloutId = new URL(page.url()).hash.split('/').pop() ?? '';

    // An operator sees the controls a running rollout allows; the funnel's live region speaks.
    await expect
      .poll(() => page.locator('#rollout-progress').getAttribute('aria-live'), { timeout: 20_000 })
      .toBe('polite');
    await untilStatus(page, /^awaiting-approval$/, false, 180_000);
    expect(await actionButtons(page)).toEqual(['Approve next wave', 'Abort']);
    await shoot(page, '07-rollout-awaiting-approval');

    const status = await untilStatus(page, TERMINAL, true);
    expect(status).toBe('succeeded');
    const healthy = await page.locator('tr[data-stage="healthy"] td.count').allTextContents();
    expect(healthy.map(Number)).toEqual([2, 4]);
    // The bars are drawn to scale (the CSP refuses style attributes: widths go through the CSSOM).
    const widths: number[] = [];
    for (const bar of await page
      .locator('tr[data-stage="healthy"] .bar, tr[data-stage="pending"] .bar')
      .all()) {
      const [own, cell] = await Promise.all([bar.boundingBox(), bar.locator('..').boundingBox()]);
      widths.push((own?.width ?? 0) / (cell?.width ?? 1));
    }
    expect(widths.filter((w) => w > 0.9)).toHaveLength(2);
    expect(widths.filter((w) => w < 0.1)).toHaveLength(2);
    expect(await page.locator('#rollout-progress').textContent()).toContain(
      'Wave 2 of 2 passed: 4 of 4 healthy',
    );
    expect(await actionButtons(page)).toEqual(['Roll back']);
    await shoot(page, '08-rollout-succeeded');
    await page.setViewportSize(PHONE);
    await shoot(page, 'phone-rollout-succeeded');
  }, 400_000);

  it('shows the halt reason of a rollout whose canary failed health, naming the devices', async () => {
    const { body } = await api('operator').request<{ rollout: { rolloutId: string } }>('POST', 'rollouts', {
      releaseId: 'rel-1.1.0',
      target: { filter: { region: failingRegion } },
      waves: [
        { count: 2, soakSeconds: 1 },
        { percent: 100, soakSeconds: 1 },
      ],
    });
    haltedRolloutId = body.rollout.rolloutId;
    const page = await signedInPage('operator');
    await page.goto(`${server.url}#/rollouts/${haltedRolloutId}`);
    const status = await untilStatus(page, TERMINAL);

    expect(status).toBe('halted');
    await page.getByRole('heading', { level: 2, name: 'Halt reason' }).waitFor();
    expect(await page.locator('#halt-reason').textContent()).toMatch(
      /^Wave 1: \d+ device\(s\) failed, more than the 0 allowed \(con-/,
    );
    // The failed devices' records may land after the halt: the page lists them once they have.
    await eventually(async () => {
      await page.reload();
      await page.getByRole('heading', { level: 2, name: 'Halt reason' }).waitFor();
      const failed =
        (await page
          .locator('#halt table tbody')
          .textContent()
          .catch(() => '')) ?? '';
      return failed.includes('health-check-failed') ? true : undefined;
    }, 30_000);
    expect(await actionButtons(page)).toEqual(['Roll back']);
    await shoot(page, '09-rollout-halted');
  }, 300_000);

  it("shows the rollout's audit trail: who started it and who approved its wave", async () => {
    const page = await signedInPage('viewer');
    await page.goto(`${server.url}#/rollouts/${succeededRolloutId}`);
    await page.getByRole('link', { name: 'Who did what to this rollout' }).click();
    await page.getByRole('heading', { level: 1, name: 'Audit trail' }).waitFor();
    const rows = await page.locator('tbody tr').allTextContents();
    expect(
      rows.some((r) => r.includes('console-operator') && r.includes('POST /rollouts') && r.includes('201')),
    ).toBe(true);
    expect(
      rows.some(
        (r) => r.includes('console-operator') && r.includes(`POST /rollouts/${succeededRolloutId}/approve`),
      ),
    ).toBe(true);
    await shoot(page, '12-audit');
  });

  it('shows a viewer no control buttons and no start form; an admin gets the operator controls', async () => {
    const viewer = await signedInPage('viewer');
    await viewer.goto(`${server.url}#/rollouts/${haltedRolloutId}`);
    await viewer.getByRole('heading', { level: 2, name: 'Halt reason' }).waitFor();
    expect(await actionButtons(viewer)).toEqual([]);
    await shoot(viewer, '10-rollout-halted-viewer');
    await viewer.goto(`${server.url}#/rollouts`);
    await viewer.getByRole('heading', { level: 2, name: 'All rollouts' }).waitFor();
    expect(await viewer.getByRole('heading', { name: 'Start a rollout' }).count()).toBe(0);
    await shoot(viewer, '11-rollouts-viewer');

    const admin = await signedInPage('admin');
    await admin.goto(`${server.url}#/rollouts/${haltedRolloutId}`);
    await admin.getByRole('heading', { level: 2, name: 'Halt reason' }).waitFor();
    expect(await actionButtons(admin)).toEqual(['Roll back']);
  });

  it('fits a phone: no sideways scrolling on the overview, devices or rollouts pages', async () => {
    const page = await signedInPage('operator', PHONE);
    for (const [hash, heading, name] of [
      ['#/', 'Fleet overview', 'phone-overview'],
      [`#/devices?region=${healthyRegion}`, 'Devices', 'phone-devices'],
      ['#/rollouts', 'Rollouts', 'phone-rollouts'],
    ] as const) {
      await page.goto(`${server.url}${hash}`);
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      const overflow = Number(
        await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'),
      );
      expect(overflow, name).toBeLessThanOrEqual(0);
      await shoot(page, name);
    }
  });
});
