import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { consoleOutput } from './output.ts';

function stream(tty: boolean): PassThrough & { isTTY?: boolean; columns?: number; text: () => string } {
  const s = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number; text: () => string };
  if (tty) {
    s.isTTY = true;
    s.columns = 40;
  }
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.text = () => Buffer.concat(chunks).toString('utf8');
  return s;
}

test('without a terminal, frames are printed one after the other, without ANSI', async () => {
  const s = stream(false);
  const out = consoleOutput(s, s);
  out.frame(['first', 'status']);
  out.frame(['second']);
  out.endFrames();
  await new Promise((r) => setImmediate(r));
  assert.equal(s.text(), 'first\nstatus\n\nsecond\n\n');
});

test('on a terminal, a frame replaces the previous one and the cursor comes back at the end', async () => {
  const s = stream(true);
  const out = consoleOutput(s, s);
  out.frame(['first', 'status']);
  out.frame(['second']);
  out.endFrames();
  await new Promise((r) => setImmediate(r));
  assert.equal(s.text(), '\x1b[?25l\x1b[Jfirst\nstatus\n\x1b[2F\x1b[Jsecond\n\x1b[?25h');
});
