import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { checkJsonContentType, findForbiddenKey, jsonDepth, parseJsonBody, readBodyBytes } from './body.ts';
import { HttpError } from './errors.ts';

const status = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof HttpError ? err.status : -1;
  }
  return undefined;
};

describe('checkJsonContentType', () => {
  test('accepts application/json with an optional UTF-8 charset', () => {
    for (const h of ['application/json', 'Application/JSON', 'application/json; charset=utf-8', 'application/json;charset="UTF-8"', 'application/json; charset=utf8']) {
      assert.equal(status(() => checkJsonContentType(h)), undefined, h);
    }
  });
  test('refuses everything else with 415', () => {
    for (const h of [undefined, '', 'text/plain', 'application/jsonp', 'application/json-patch+json', 'multipart/form-data', 'application/json; charset=latin1']) {
      assert.equal(status(() => checkJsonContentType(h)), 415, String(h));
    }
  });
});

describe('jsonDepth', () => {
  test('counts nesting, ignoring brackets in strings and escaped quotes', () => {
    assert.equal(jsonDepth('1'), 0);
    assert.equal(jsonDepth('{}'), 1);
    assert.equal(jsonDepth('[[1],[[2]]]'), 3);
    assert.equal(jsonDepth('{"a":"[[[[\\"{{{"}'), 1);
  });
  test('stops early', () => {
    assert.equal(jsonDepth('['.repeat(1_000_000), 5), 6);
  });
});

describe('parseJsonBody', () => {
  const parse = (s: string | Uint8Array, maxDepth = 4): unknown => parseJsonBody(typeof s === 'string' ? Buffer.from(s) : s, { maxDepth });
  test('parses JSON within the depth limit', () => {
    assert.deepEqual(parse('{"a":[1,{"b":null}]}'), { a: [1, { b: null }] });
    assert.deepEqual(parse('[[[[1]]]]'), [[[[1]]]]);
  });
  test('400 for too deep, malformed, empty, invalid UTF-8', () => {
    assert.equal(status(() => parse('[[[[[1]]]]]')), 400);
    assert.equal(status(() => parse('{"a":')), 400);
    assert.equal(status(() => parse('  ')), 400);
    assert.equal(status(() => parse(new Uint8Array([0x22, 0xff, 0x22]))), 400);
  });
  test('the message never quotes the body', () => {
    try {
      parse('{"password": "hunter2-secret" oops}');
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof HttpError);
      assert.doesNotMatch(err.message, /hunter2/);
    }
  });
  test('400 for __proto__, constructor, prototype keys at any depth', () => {
    for (const s of ['{"__proto__":{"x":1}}', '{"a":[{"constructor":1}]}', '[{"b":{"prototype":2}}]']) {
      assert.equal(status(() => parse(s)), 400, s);
    }
    assert.equal(({} as Record<string, unknown>)['x'], undefined);
  });
  test('findForbiddenKey finds own "__proto__" properties made by JSON.parse', () => {
    assert.equal(findForbiddenKey(JSON.parse('{"a":{"__proto__":{}}}')), '__proto__');
    assert.equal(findForbiddenKey({ a: 'constructor', b: ['prototype'] }), undefined);
  });
});

describe('readBodyBytes', () => {
  test('reads a stream', async () => {
    const buf = await readBodyBytes(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), { maxBytes: 4 });
    assert.equal(buf.toString(), 'abcd');
  });
  test('413 when the declared length is too large, without reading', async () => {
    let read = false;
    const stream = new Readable({ read: () => void (read = true) });
    await assert.rejects(readBodyBytes(stream, { maxBytes: 4, declaredLength: 5 }), (e: unknown) => e instanceof HttpError && e.status === 413);
    assert.equal(read, false);
  });
  test('413 once the stream passes the limit', async () => {
    await assert.rejects(readBodyBytes(Readable.from([Buffer.from('abc'), Buffer.from('de')]), { maxBytes: 4 }), (e: unknown) => e instanceof HttpError && e.status === 413);
  });
  test('400 when the stream fails', async () => {
    const stream = new Readable({ read() {} });
    const p = readBodyBytes(stream, { maxBytes: 4 });
    stream.destroy(new Error('socket hang up'));
    await assert.rejects(p, (e: unknown) => e instanceof HttpError && e.status === 400);
  });
});
