/**
 * `npm run build:agent`: the device agent as something a Debian-based gateway installs, in
 * dist/agent/:
 *
 * 1. `package/edgeops-agent.mjs`: device/daemon/main.ts and every dependency (mqtt.js, tuf-js,
 *    zod) bundled by esbuild into one ES module, with its source map; Node is all it needs.
 * 2. `edgeops-agent-<version>.tgz`: `npm pack` of package/ (device/package.json with a bin,
 *    INSTALL.md, the unit, the drop-in and config examples, the shipped update-module handlers in
 *    update-modules/); `npm install -g <tgz>` installs it.
 * 3. `edgeops-agent_<version>_all.deb` (when `dpkg-deb` is there; no root needed): the bundle in
 *    /usr/lib/edgeops-agent, /usr/bin/edgeops-agent, the handlers in
 *    /usr/lib/edgeops/update-modules (0755, root's), the systemd unit, docs and examples. It does
 *    not enable the unit: the device needs its identity and config first (INSTALL.md).
 */
import { execFile } from 'node:child_process';
import {
  chmod,
  copyFile,
  cp,
  mkdir,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const deviceDir = join(root, 'device');
/** The shipped update-module handlers (docs/update-modules.md), sh scripts. */
const handlersDir = join(deviceDir, 'update-modules/handlers');
/** Where the agent looks for them by default (`DEFAULT_HANDLERS_DIR`). */
const DEB_HANDLERS_DIR = 'usr/lib/edgeops/update-modules';

/** What tuf-js 6 and node:zlib's zstd (contract/zstd-delta.ts) need; Node 20 lacks both. */
export const AGENT_NODE_TARGET = 'node22';

/**
 * Step 1: bundles the daemon into `outFile`. Not minified: a stack trace in a device's journal
 * should be readable without the map.
 */
export async function bundleAgent(outFile: string): Promise<void> {
  await build({
    entryPoints: [join(deviceDir, 'daemon/main.ts')],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: AGENT_NODE_TARGET,
    mainFields: ['module', 'main'],
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'eof',
    logLevel: 'warning',
    // The shebang runs it as `edgeops-agent`; ESM bundles of CommonJS dependencies still call require().
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  await chmod(outFile, 0o755);
}

interface AgentPackage {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly engines: { readonly node: string };
}

async function main(): Promise<void> {
  const dist = join(root, 'dist/agent');
  const pkgDir = join(dist, 'package');
  await rm(dist, { recursive: true, force: true });
  await mkdir(pkgDir, { recursive: true });

  await bundleAgent(join(pkgDir, 'edgeops-agent.mjs'));
  const manifest = JSON.parse(await readFile(join(deviceDir, 'package.json'), 'utf8'));
  // device/package.json refuses `npm pack` of the sources; this copy has the bundle beside it.
  delete manifest.scripts;
  await writeFile(join(pkgDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await copyFile(join(deviceDir, 'INSTALL.md'), join(pkgDir, 'INSTALL.md'));
  await cp(join(deviceDir, 'packaging'), join(pkgDir, 'packaging'), { recursive: true });
  await copyHandlers(join(pkgDir, 'update-modules'));
  const pkg = manifest as AgentPackage;

  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dist], { cwd: pkgDir });
  const [packed] = JSON.parse(stdout) as { filename: string }[];
  const outputs = [join(pkgDir, 'edgeops-agent.mjs'), join(dist, packed?.filename ?? '')];

  const deb = await buildDeb(pkg, pkgDir, dist);
  if (deb) outputs.push(deb);
  else console.log('dpkg-deb not found: no .deb (apt-get install dpkg-dev, or use the npm package)');

  for (const file of outputs)
    console.log(`${relative(root, file)}  ${((await stat(file)).size / 1024).toFixed(0)} KiB`);
}

/** Step 3. The tree is built as files owned by whoever runs this; `--root-owner-group` makes them root's. */
async function buildDeb(pkg: AgentPackage, pkgDir: string, dist: string): Promise<string | undefined> {
  if (
    !(await run('dpkg-deb', ['--version']).then(
      () => true,
      () => false,
    ))
  )
    return undefined;
  const tree = join(dist, 'deb');
  const lib = join(tree, 'usr/lib/edgeops-agent');
  const doc = join(tree, 'usr/share/doc/edgeops-agent');
  const unitDir = join(tree, 'lib/systemd/system');
  // /etc/edgeops is the package's (removed with it when empty); the config in it is the admin's.
  for (const dir of [
    lib,
    doc,
    unitDir,
    join(tree, 'usr/bin'),
    join(tree, 'etc/edgeops'),
    join(tree, 'DEBIAN'),
  ])
    await mkdir(dir, { recursive: true });
  for (const file of ['edgeops-agent.mjs', 'edgeops-agent.mjs.map', 'package.json'])
    await copyFile(join(pkgDir, file), join(lib, file));
  await symlink('../lib/edgeops-agent/edgeops-agent.mjs', join(tree, 'usr/bin/edgeops-agent'));
  // The runner refuses handlers that anybody but root (or the agent's user) could write.
  await copyHandlers(join(tree, DEB_HANDLERS_DIR));
  await chmod(join(tree, 'usr/lib/edgeops'), 0o755);
  await copyFile(join(pkgDir, 'packaging/edgeops-agent.service'), join(unitDir, 'edgeops-agent.service'));
  await copyFile(join(pkgDir, 'INSTALL.md'), join(doc, 'INSTALL.md'));
  await copyFile(join(pkgDir, 'packaging/agent.example.json'), join(doc, 'agent.example.json'));
  await copyFile(
    join(pkgDir, 'packaging/edgeops-agent.service.d/writable-paths.conf.example'),
    join(doc, 'writable-paths.conf.example'),
  );

  // Debian's own nodejs in bookworm is 18: the dependency is met by NodeSource's nodejs package.
  const minimumNode = /\d+\.\d+\.\d+/.exec(pkg.engines.node)?.[0] ?? '22';
  const installedKiB = Math.ceil((await treeBytes(tree, ['DEBIAN'])) / 1024);
  await writeFile(
    join(tree, 'DEBIAN/control'),
    [
      `Package: ${pkg.name}`,
      `Version: ${pkg.version}`,
      'Architecture: all',
      'Section: admin',
      'Priority: optional',
      `Depends: nodejs (>= ${minimumNode}), systemd`,
      // The handlers: `directory` probes health-url with curl or wget; `rootfs` needs RAUC.
      'Recommends: curl | wget',
      'Suggests: rauc',
      `Installed-Size: ${installedKiB}`,
      'Maintainer: EdgeOps <edgeops@example.invalid>',
      `Description: ${pkg.description.split(':')[0]}`,
      ` ${pkg.description}`,
      ' Configure /etc/edgeops/agent.json, then: systemctl enable --now edgeops-agent',
      '',
    ].join('\n'),
  );
  const script = (body: string) => `#!/bin/sh\nset -e\n${body}\nexit 0\n`;
  const maintainerScripts = {
    // No enable or start: the unit would only be refused until the identity and config are there.
    postinst: script('[ -d /run/systemd/system ] && systemctl daemon-reload || true'),
    prerm: script(
      'if [ "$1" = remove ] && [ -d /run/systemd/system ]; then\n  systemctl stop edgeops-agent.service || true\nfi',
    ),
    postrm: script('[ -d /run/systemd/system ] && systemctl daemon-reload || true'),
  };
  for (const [name, body] of Object.entries(maintainerScripts)) {
    await writeFile(join(tree, 'DEBIAN', name), body);
    await chmod(join(tree, 'DEBIAN', name), 0o755);
  }
  const out = join(dist, `${pkg.name}_${pkg.version}_all.deb`);
  await run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', tree, out]);
  return out;
}

/** The shipped handlers into `dir`: the dir and each handler 0755, whatever the umask. */
async function copyHandlers(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  for (const entry of await readdir(handlersDir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    await copyFile(join(handlersDir, entry.name), join(dir, entry.name));
    await chmod(join(dir, entry.name), 0o755);
  }
}

/** Bytes of the regular files under `dir`, leaving out the top-level entries in `skip`. */
async function treeBytes(dir: string, skip: readonly string[] = []): Promise<number> {
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (skip.includes(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) bytes += await treeBytes(path);
    else if (entry.isFile()) bytes += (await stat(path)).size;
  }
  return bytes;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
