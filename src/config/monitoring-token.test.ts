import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InvalidOptionError } from '../core/errors.ts';
import { resolveMonitoringToken } from './monitoring-token.ts';

const dir = mkdtempSync(join(tmpdir(), 'dcsync-token-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const TOKEN = 'a'.repeat(20) + '-_.~';

describe('resolveMonitoringToken', () => {
  it('is off without a token', () => {
    assert.equal(resolveMonitoringToken(undefined, undefined), undefined);
    assert.equal(resolveMonitoringToken('', ''), undefined);
  });

  it('reads the first line of the file, trimmed', () => {
    const f = join(dir, 'token');
    writeFileSync(f, `${TOKEN}\n`, { mode: 0o600 });
    assert.equal(resolveMonitoringToken(undefined, f), TOKEN);
    assert.equal(resolveMonitoringToken(` ${TOKEN} `, undefined), TOKEN);
  });

  it('refuses both at once, a missing file, short tokens and characters a bearer header cannot carry, never quoting the token', () => {
    const secret = 'secret value with spaces';
    const f = join(dir, 'bad');
    writeFileSync(f, secret);
    const cases: [string | undefined, string | undefined, RegExp][] = [
      [TOKEN, f, /both set/],
      [undefined, join(dir, 'missing'), /cannot be read: ENOENT/],
      ['short', undefined, /16 to 4096 characters/],
      [undefined, f, /letters, digits/],
    ];
    for (const [token, file, re] of cases) {
      assert.throws(
        () => resolveMonitoringToken(token, file),
        (err: unknown) => err instanceof InvalidOptionError && re.test(err.message) && !err.message.includes(secret) && !err.message.includes(TOKEN),
      );
    }
  });
});
