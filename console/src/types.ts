/**
 * The API's answers as the console reads them: only the fields it shows. The API's own views
 * (functions/operator-api/*-view.ts) are the source; these mirror them for a browser bundle
 * that must not pull in Lambda code.
 */

export interface Page<T> {
  readonly items: readonly T[];
  readonly nextCursor: string | null;
}

export interface Device {
  readonly deviceId: string;
  readonly hardwareType: string;
  readonly site: string;
  readonly region: string;
  readonly registeredAt: string;
  readonly firmwareVersion: string | null;
  readonly lastSeenAt: string | null;
  readonly connection: { readonly state: string; readonly changedAt: string | null };
  readonly health: string | null;
  readonly healthAt: string | null;
  readonly metrics: Record<string, unknown> | null;
  readonly anomaly: { readonly metric: string; readonly score: number; readonly since: string | null } | null;
}

export interface TelemetryWindow {
  readonly seq: number;
  readonly start: string;
  readonly seconds: number;
  readonly firmwareVersion: string;
  readonly health: string;
  readonly metrics: Record<string, { readonly mean?: number; readonly max?: number }>;
  readonly partial: boolean;
}

export interface Alert {
  readonly alertId: string;
  readonly kind: string;
  readonly state: string;
  readonly severity: string;
  readonly at: string;
  readonly message: string | null;
}

export interface SummaryGroup {
  readonly key: Record<string, string>;
  readonly cohorts: number;
  readonly pendingCohorts: number;
  readonly analyzedAt: string | null;
  readonly devices: number;
  readonly connected?: number;
  readonly health?: Record<'healthy' | 'degraded' | 'unhealthy' | 'unknown', number>;
  readonly anomalous?: number;
}

export interface FleetSummary {
  readonly groupBy: readonly string[];
  readonly analyzedAt: string | null;
  readonly cohorts: number;
  readonly pendingCohorts: number;
  readonly groups: readonly SummaryGroup[];
}

export interface Release {
  readonly releaseId: string;
  readonly version: string;
  readonly notes: string | null;
  readonly createdAt: string;
  readonly components: Record<
    string,
    readonly {
      readonly name: string;
      readonly handler: string;
      readonly artifact: { readonly size: number };
    }[]
  >;
}

export type Funnel = Record<string, number>;

export interface Wave {
  readonly wave: number;
  readonly status: string;
  readonly deviceCount: number;
  readonly soakSeconds: number;
  readonly maxFailures: number;
  readonly requireApproval: boolean;
  readonly startedAt: string | null;
  readonly endedAt: string | null;
  readonly funnel?: Funnel;
}

export interface Rollout {
  readonly rolloutId: string;
  readonly releaseId: string;
  readonly version: string;
  readonly operation: string;
  readonly status: string;
  readonly target: Record<string, unknown>;
  readonly failurePolicy: string;
  readonly haltReason: string | null;
  readonly currentWave: number;
  readonly excludedCount: number;
  readonly rollbackOf: string | null;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly waves: readonly Wave[];
}

export interface RolloutPreview {
  readonly releaseId: string;
  readonly version: string;
  readonly waves: readonly { readonly wave: number; readonly deviceIds: readonly string[] }[];
  readonly excluded: readonly { readonly deviceId: string; readonly reason: string }[];
}
