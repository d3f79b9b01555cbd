import { DcsyncError } from './errors.ts';

/**
 * The versions of a package that code using its internals was written and tested against: from `from` up to,
 * but not including, `below`. Internals are not part of a package's API and may change in any release, so the
 * range is as narrow as what was checked.
 */
export interface WrittenFor {
  readonly package: string;
  readonly from: string;
  readonly below: string;
  /** The module that uses the internals, named in the error so that whoever upgrades knows what to check. */
  readonly module: string;
}

/** The installed version of a package lies outside the range its internals' user was written for. */
export class UnsupportedDependencyError extends DcsyncError {
  constructor(
    readonly packageName: string,
    readonly installed: string,
    readonly writtenFor: WrittenFor,
  ) {
    super(
      `${writtenFor.module} uses internals of ${packageName} and was written for ${packageName} >=${writtenFor.from} <${writtenFor.below}, ` +
        `but ${packageName} ${installed} is installed: check what ${writtenFor.module} touches against this version, then widen its range (or install a version inside it)`,
    );
  }
}

/** Throws UnsupportedDependencyError unless `installed` lies in the range; a pre-release or malformed version never does. */
export function checkWrittenFor(installed: string, w: WrittenFor): void {
  const v = parseRelease(installed);
  const from = parseRelease(w.from);
  const below = parseRelease(w.below);
  if (!from || !below) throw new RangeError(`the range of ${w.package} in ${w.module} is not two release versions`);
  if (!v || compare(v, from) < 0 || compare(v, below) >= 0) throw new UnsupportedDependencyError(w.package, installed, w);
}

type Release = readonly [number, number, number];

function parseRelease(version: string): Release | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function compare(a: Release, b: Release): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
