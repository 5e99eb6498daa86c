/**
 * Logs for the upload-logs command: where they come from (`LogSource`) and how they are packed:
 * the newest part that fits, cut at a line boundary from the oldest side, gzip'd, at most
 * `maxBytes` in all. Memory stays bounded: at most READ_FACTOR × maxBytes of text is read.
 */
import { spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

/** Logs of the agent, oldest first; it hands out their newest `maxBytes` bytes. */
export interface LogSource {
  /** What the logs are, for the result (`journal:edgeops-agent`, `files:…`, `agent-memory`). */
  readonly description: string;
  readTail(maxBytes: number): Promise<{ readonly tail: Buffer; readonly totalBytes: number }>;
}

/** The agent's own recent log lines, in memory (a ring of at most `capacityBytes`). */
export class MemoryLogSource implements LogSource {
  readonly description = 'agent-memory';
  readonly #lines: string[] = [];
  #bytes = 0;
  #dropped = 0;

  constructor(
    private readonly capacityBytes = 1024 * 1024,
    private readonly now: () => number = Date.now,
  ) {}

  append(message: string): void {
    const line = `${new Date(this.now()).toISOString()} ${message}\n`;
    this.#lines.push(line);
    this.#bytes += Buffer.byteLength(line);
    while (this.#bytes > this.capacityBytes && this.#lines.length > 1) {
      const dropped = this.#lines.shift() ?? '';
      this.#bytes -= Buffer.byteLength(dropped);
      this.#dropped += Buffer.byteLength(dropped);
    }
  }

  async readTail(maxBytes: number) {
    const all = Buffer.from(this.#lines.join(''), 'utf8');
    return { tail: all.subarray(Math.max(0, all.length - maxBytes)), totalBytes: all.length + this.#dropped };
  }
}

/** Log files, oldest first (e.g. `agent.log.1`, `agent.log`); missing ones are skipped. */
export function fileLogSource(paths: readonly string[]): LogSource {
  return {
    description: `files:${paths.join(',')}`.slice(0, 1000),
    async readTail(maxBytes) {
      const sizes = await Promise.all(
        paths.map((p) =>
          stat(p).then(
            (s) => s.size,
            () => 0,
          ),
        ),
      );
      const totalBytes = sizes.reduce((a, b) => a + b, 0);
      const parts: Buffer[] = [];
      let wanted = maxBytes;
      for (let i = paths.length - 1; i >= 0 && wanted > 0; i--) {
        const size = sizes[i] ?? 0;
        if (size === 0) continue;
        const length = Math.min(size, wanted);
        const handle = await open(paths[i] ?? '', 'r');
        try {
          const buffer = Buffer.alloc(length);
          const { bytesRead } = await handle.read(buffer, 0, length, size - length);
          parts.unshift(buffer.subarray(0, bytesRead));
          wanted -= bytesRead;
        } finally {
          await handle.close();
        }
      }
      return { tail: Buffer.concat(parts), totalBytes };
    },
  };
}

/**
 * The systemd journal of one unit (`journalctl -u <unit> -o short-iso -n <lines>`), keeping only
 * the newest `maxBytes` of its output as it streams, so a large journal never sits in memory.
 */
export function journalLogSource(unit: string, command = 'journalctl'): LogSource {
  return {
    description: `journal:${unit}`,
    readTail: (maxBytes) =>
      new Promise((resolve, reject) => {
        // Only the newest lines that can fit (a journal line is rarely under 40 bytes): journalctl
        // then seeks from the end instead of reading the unit's whole history.
        const lines = String(Math.ceil(maxBytes / 40));
        const child = spawn(command, ['-u', unit, '-o', 'short-iso', '--no-pager', '-q', '-n', lines], {
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        let chunks: Buffer[] = [];
        let held = 0;
        let totalBytes = 0;
        child.stdout.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          held += chunk.length;
          totalBytes += chunk.length;
          if (held > 2 * maxBytes) {
            const joined = Buffer.concat(chunks);
            chunks = [joined.subarray(joined.length - maxBytes)];
            held = maxBytes;
          }
        });
        child.on('error', reject);
        child.on('close', (code) => {
          if (code !== 0 && totalBytes === 0) return reject(new Error(`${command} exited with ${code}`));
          const joined = Buffer.concat(chunks);
          resolve({ tail: joined.subarray(Math.max(0, joined.length - maxBytes)), totalBytes });
        });
      }),
  };
}

/** Text read per byte of upload allowed: logs compress 5-10×, so 4× still fits most of the time. */
export const READ_FACTOR = 4;

export interface PackedLogs {
  readonly gz: Buffer;
  /** Bytes of log the source had. */
  readonly sourceBytes: number;
  /** Bytes of log inside the upload (after cutting, before gzip). */
  readonly includedBytes: number;
  readonly truncated: boolean;
}

/**
 * The newest logs that fit in `maxBytes` once gzip'd: read the tail, cut at the first line break
 * so the first line is whole, mark the cut, gzip; while over, keep a smaller tail (in proportion
 * to the overflow) and try again.
 */
export async function packLogs(source: LogSource, maxBytes: number): Promise<PackedLogs> {
  const { tail, totalBytes } = await source.readTail(maxBytes * READ_FACTOR);
  let keep = tail.length;
  for (let attempt = 0; attempt < 8; attempt++) {
    let text = tail.subarray(tail.length - keep);
    let truncated = totalBytes > text.length;
    if (truncated) {
      const newline = text.indexOf(0x0a);
      if (newline >= 0 && newline < text.length - 1) text = text.subarray(newline + 1);
      truncated = true;
    }
    const marker = truncated
      ? Buffer.from(
          `[edgeops-agent: ${totalBytes - text.length} older bytes left out to fit ${maxBytes} bytes]\n`,
        )
      : Buffer.alloc(0);
    const gz = await gzipAsync(Buffer.concat([marker, text]), { level: 9 });
    if (gz.length <= maxBytes) return { gz, sourceBytes: totalBytes, includedBytes: text.length, truncated };
    keep = Math.floor(keep * (maxBytes / gz.length) * 0.9);
    if (keep <= 0) break;
  }
  const gz = await gzipAsync(
    Buffer.from(`[edgeops-agent: ${totalBytes} bytes left out to fit ${maxBytes} bytes]\n`),
  );
  return { gz, sourceBytes: totalBytes, includedBytes: 0, truncated: true };
}
