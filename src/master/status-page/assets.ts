/**
 * The status page's files: its own HTML, script and style beside this module, and uPlot's from node_modules, as
 * assets.json lists them. Run from the sources they are read from disk; scripts/bundle.mjs replaces this module by
 * one that holds the same files, so the bundle (and the npm package) serves them without node_modules or a network.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface StatusPageAsset {
  readonly contentType: string;
  readonly body: string;
}

interface ManifestEntry {
  readonly contentType: string;
  /** Beside this module. */
  readonly file?: string;
  /** Resolved as a package path (node_modules). */
  readonly package?: string;
}

export function loadStatusPageAssets(): ReadonlyMap<string, StatusPageAsset> {
  const here = new URL('./', import.meta.url);
  const manifest = JSON.parse(readFileSync(new URL('assets.json', here), 'utf8')) as Record<string, ManifestEntry>;
  const resolvePackage = createRequire(import.meta.url).resolve;
  const out = new Map<string, StatusPageAsset>();
  for (const [name, e] of Object.entries(manifest)) {
    const file = e.file !== undefined ? new URL(e.file, here) : resolvePackage(e.package ?? name);
    out.set(name, { contentType: e.contentType, body: readFileSync(file, 'utf8') });
  }
  return out;
}
