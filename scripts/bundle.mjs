// Bundles src/ and the npm packages it uses into dist/dcsync.mjs (one ES module) for bin/dcsync.js, which starts
// from it while it is newer than every file of src/ and from the sources through tsx otherwise. Run by `npm ci`
// (prepare) and scripts/setup.sh. The packages are bundled too: a daemon starts several times faster from one module
// than from the sources, and faster than from a bundle that leaves the packages to node's module loader
// (bench/RESULTS.md, start-up). The npm package ships this bundle, so it has no runtime dependencies.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outfile = path.join(root, 'dist', 'dcsync.mjs');
try {
  await build({
    entryPoints: [path.join(root, 'src', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // pg's optional native binding, never installed: `new pg.Client()` does not load it.
    external: ['pg-native'],
    // The bundled CommonJS packages call require() for node's modules, which an ES module does not define.
    banner: { js: "import { createRequire as __dcsyncRequire } from 'node:module'; const require = __dcsyncRequire(import.meta.url);" },
    logLevel: 'warning',
  });
} catch (err) {
  rmSync(outfile, { force: true }); // never leave a half-written or stale bundle behind: the launcher falls back to tsx
  throw err;
}
