import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Lsn } from '../core/lsn.ts';
import { comparePositions, formatPosition, isAbove, isCovered, isMarker, MARKER_INDEX, markerPosition, type Position } from './position.ts';

const at = (lsn: bigint, index: number): Position => ({ lsn: lsn as Lsn, index });

test('positions order by commit LSN, then by index', () => {
  assert.ok(comparePositions(at(10n, 5), at(11n, 0)) < 0);
  assert.ok(comparePositions(at(11n, 0), at(11n, 1)) < 0);
  assert.equal(comparePositions(at(11n, 3), at(11n, 3)), 0);
  assert.ok(comparePositions(at(12n, 0), at(11n, 2_000_000_000)) > 0);
});

test('a marker at a message end sorts below the first change of a transaction committing exactly there', () => {
  const heartbeat = markerPosition(100n as Lsn);
  assert.ok(isMarker(heartbeat));
  assert.ok(comparePositions(heartbeat, at(100n, 0)) < 0);
  assert.ok(isAbove(at(100n, 0), heartbeat), 'the change is not covered by the heartbeat applied before it');
  assert.ok(!isMarker(at(100n, 0)));
});

test('a marker covers every transaction committed below its LSN', () => {
  const m = markerPosition(100n as Lsn);
  for (const p of [at(99n, 0), at(99n, 2_000_000_000), at(0n, 0)]) assert.ok(isCovered(p, m), formatPosition(p));
});

test('markers of distinct messages never share a position, and the later one is above', () => {
  const first = markerPosition(100n as Lsn);
  const second = markerPosition(130n as Lsn);
  assert.ok(comparePositions(first, second) < 0);
  assert.ok(isAbove(second, first));
});

test('a transaction end in a partition stays above its changes and below the next transaction', () => {
  const change = at(100n, 4);
  const end = at(100n, 5);
  assert.ok(isCovered(change, end));
  assert.ok(isAbove(markerPosition(101n as Lsn), end));
});

test('nothing applied covers nothing', () => {
  assert.ok(!isCovered(at(0n, 0), undefined));
  assert.ok(isAbove(markerPosition(0n as Lsn), undefined));
});

test('positions read as LSN:index', () => {
  assert.equal(formatPosition(at(0x1_0000_00a0n, 3)), '1/A0:3');
  assert.equal(formatPosition(markerPosition(0xa0n as Lsn)), `0/A0:${MARKER_INDEX}`);
});
