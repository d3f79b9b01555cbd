// Bundles src/ and the npm packages it uses into dist/dcsync.mjs (one ES module) for bin/dcsync.js, which starts
// from it while it is newer than every file of src/ and from the sources through tsx otherwise. Run by `npm ci`
// (prepare) and scripts/setup.sh. The packages are bundled too: a daemon starts several times faster from one module
// than from the sources, and faster than from a bundle that leaves the packages to node's module loader
// (bench/RESULTS.md, start-up). The npm package ships this bundle, so it has no runtime dependencies.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outfile = path.join(root, 'dist', 'dcsync.mjs');
/**
 * Replaces src/master/status-page/assets.ts (which reads the status page's files from disk) by a module that holds
 * them: the files assets.json lists, beside it or in node_modules (uPlot), so the bundle needs neither.
 */
const statusPageAssets = {
  name: 'status-page-assets',
  setup(b) {
    b.onLoad({ filter: /[\\/]master[\\/]status-page[\\/]assets\.ts$/ }, (args) => {
      const dir = path.dirname(args.path);
      const manifest = JSON.parse(readFileSync(path.join(dir, 'assets.json'), 'utf8'));
      const resolvePackage = createRequire(args.path).resolve;
      const files = [];
      const assets = Object.entries(manifest).map(([name, e]) => {
        const file = e.file !== undefined ? path.join(dir, e.file) : resolvePackage(e.package ?? name);
        files.push(file);
        return [name, { contentType: e.contentType, body: readFileSync(file, 'utf8') }];
      });
      return { contents: `export function loadStatusPageAssets() { return new Map(${JSON.stringify(assets)}); }\n`, loader: 'js', watchFiles: [path.join(dir, 'assets.json'), ...files] };
    });
  },
};

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
    plugins: [statusPageAssets],
    logLevel: 'warning',
  });
} catch (err) {
  rmSync(outfile, { force: true }); // never leave a half-written or stale bundle behind: the launcher falls back to tsx
  throw err;
}
