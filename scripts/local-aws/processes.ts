/**
 * What /proc says about processes: enough to tell whether a recorded process is still the same
 * one (pid plus start time, as pids are reused), to find every member of a process group or every
 * process carrying an environment marker, and to see who listens on a port. Linux only, as is
 * the local run.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  /** Clock ticks after boot: with the pid, it names one process for good. */
  readonly startTime: number;
  readonly zombie: boolean;
}

export function processInfo(pid: number): ProcessInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses; fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    startTime: Number(fields[19]),
    zombie: fields[0] === 'Z' || fields[0] === 'X',
  };
}

/** True while `pid` runs and is the process that had `startTime` (not a reuse of its pid). */
export function isSameProcess(pid: number, startTime: number): boolean {
  const info = processInfo(pid);
  return info !== undefined && !info.zombie && info.startTime === startTime;
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}

/** Live (not zombie) processes matching `keep`. */
export function findProcesses(keep: (info: ProcessInfo) => boolean): ProcessInfo[] {
  return allPids().flatMap((pid) => {
    const info = processInfo(pid);
    return info && !info.zombie && keep(info) ? [info] : [];
  });
}

export const groupMembers = (pgid: number) => findProcesses((info) => info.pgid === pgid);

/** Processes whose environment holds `name=value`: descendants keep it whatever group they are in. */
export function processesWithEnv(name: string, value: string): ProcessInfo[] {
  const variable = `${name}=${value}`;
  return findProcesses((info) => {
    try {
      return readFileSync(`/proc/${info.pid}/environ`, 'utf8').split('\0').includes(variable);
    } catch {
      return false;
    }
  });
}

/** The pid listening on TCP `port` (any local address), if /proc lets us see it. */
export function listenerOf(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is cols[1] (ADDR:PORT), st is cols[3] (0A = LISTEN), inode is cols[9].
      if (cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A' && cols[9]) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of allPids()) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith('socket:[') && inodes.has(target.slice(8, -1))) return pid;
      } catch {}
    }
  }
  return undefined;
}

/** SIGTERM to each, then SIGKILL to any still there after `graceMs`; resolves once all are gone. */
export async function terminate(processes: readonly ProcessInfo[], graceMs = 5_000): Promise<void> {
  const alive = () => processes.filter((p) => isSameProcess(p.pid, p.startTime));
  for (const p of alive()) {
    try {
      process.kill(p.pid, 'SIGTERM');
    } catch {}
  }
  const deadline = Date.now() + graceMs;
  while (alive().length > 0 && Date.now() < deadline) await sleep(100);
  for (const p of alive()) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {}
  }
  const killDeadline = Date.now() + 5_000;
  while (alive().length > 0 && Date.now() < killDeadline) await sleep(50);
}
