/**
 * The npm package runs without the sources: `npm pack` (which builds dist/dcsync.mjs through `prepare`), then
 * `npm install --omit=dev` of the tarball into an empty directory, then the installed `dcsync` answers
 * --version, --help and a command that loads the bundled libraries (create tls ca: @peculiar/x509).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO } from '../../../tools/local/dcsync-process.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, timeoutMs = 300_000): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DCSYNC_') && !k.startsWith('npm_')));
  return new Promise((done) => {
    execFile(cmd, args, { cwd, env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

let dir: string;
let installed: string;
let version: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dcsync-pack-'));
  version = (JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
  const pack = await run('npm', ['pack', '--json', '--pack-destination', dir], REPO);
  assert.equal(pack.code, 0, pack.stderr);
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  assert.ok(info);
  const files = info.files.map((f) => f.path);
  assert.ok(files.includes('dist/dcsync.mjs') && files.includes('bin/dcsync.js'), files.join(' '));
  assert.deepEqual(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('tools/')), [], 'no sources shipped');
  installed = join(dir, 'app');
  const install = await run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefix', installed, join(dir, info.filename)], dir);
  assert.equal(install.code, 0, install.stderr);
});
after(() => rm(dir, { recursive: true, force: true }));

const bin = (): string => join(installed, 'node_modules', '.bin', 'dcsync');

test('the installed package has no sources and no build tools', () => {
  const pkg = join(installed, 'node_modules', 'dcsync');
  assert.ok(existsSync(join(pkg, 'dist', 'dcsync.mjs')));
  for (const absent of ['src', 'tools']) assert.equal(existsSync(join(pkg, absent)), false, absent);
  for (const tool of ['tsx', 'esbuild', 'typescript']) assert.equal(existsSync(join(installed, 'node_modules', tool)), false, tool);
});

test('dcsync --version prints the package version', async () => {
  const r = await run(bin(), ['--version'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), `dcsync ${version}`);
});

test('dcsync --help and run master --help work from the bundle', async () => {
  const help = await run(bin(), ['--help'], dir);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /run master/);
  const master = await run(bin(), ['run', 'master', '--help'], dir);
  assert.equal(master.code, 0, master.stderr);
  assert.match(master.stdout, /--server\.endpoint/);
});

test('a command that loads the bundled libraries runs (create tls ca)', async () => {
  const r = await run(bin(), ['create', 'tls', 'ca', '--cert', join(dir, 'ca.crt'), '--key', join(dir, 'ca.key')], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(await readFile(join(dir, 'ca.crt'), 'utf8'), /BEGIN CERTIFICATE/);
});

test('the bundle carries the status page and its chart library (no node_modules, no network needed)', async () => {
  const bundle = await readFile(join(installed, 'node_modules', 'dcsync', 'dist', 'dcsync.mjs'), 'utf8');
  for (const file of ['index.html', 'app.js', 'app.css', 'uPlot.iife.min.js', 'uPlot.min.css']) assert.ok(bundle.includes(JSON.stringify(file)), file);
  assert.ok(bundle.includes('<title>dcsync status</title>'), 'the page');
  assert.ok(/var uPlot\s*=/.test(bundle), "uPlot's script");
  assert.equal(existsSync(join(installed, 'node_modules', 'uplot')), false, 'uplot is not installed beside it');
});
