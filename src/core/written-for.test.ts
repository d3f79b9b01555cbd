import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkWrittenFor, UnsupportedDependencyError, type WrittenFor } from './written-for.ts';

const W: WrittenFor = { package: 'pg', from: '8.23.1', below: '8.24.0', module: 'src/postgres/pg-internals.ts' };

test('a version inside the range passes', () => {
  for (const v of ['8.23.1', '8.23.2', '8.23.10']) checkWrittenFor(v, W);
});

test('a version outside the range fails, naming the package, the version and the module', () => {
  for (const v of ['8.23.0', '8.24.0', '9.0.0', '7.99.99']) {
    assert.throws(
      () => checkWrittenFor(v, W),
      (err: unknown) => {
        assert.ok(err instanceof UnsupportedDependencyError);
        assert.equal(err.retriable, false);
        assert.equal(err.installed, v);
        assert.match(err.message, new RegExp(`pg ${v.replace(/\./g, '\\.')} is installed`));
        assert.match(err.message, /pg >=8\.23\.1 <8\.24\.0/);
        assert.match(err.message, /src\/postgres\/pg-internals\.ts/);
        return true;
      },
    );
  }
});

test('a pre-release or malformed installed version fails', () => {
  for (const v of ['8.23.2-beta.1', '8.23', '', 'latest']) assert.throws(() => checkWrittenFor(v, W), UnsupportedDependencyError);
});

test('a malformed range is a programming error', () => {
  assert.throws(() => checkWrittenFor('8.23.1', { ...W, below: '8.24' }), RangeError);
});
