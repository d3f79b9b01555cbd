import 'reflect-metadata';
import { runCli } from './cli/index.ts';

/**
 * Process entry. The only place that handles signals: SIGTERM/SIGINT abort the shared signal,
 * which every daemon and loop watches; a second signal forces exit; SIGHUP reloads keyfiles.
 */
const controller = new AbortController();
let signals = 0;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    signals++;
    if (signals > 1) process.exit(130);
    controller.abort();
  });
}

// SIGHUP re-reads keyfiles (certificate rotation) in the daemons that registered for it.
const reloads: (() => Promise<void>)[] = [];
process.on('SIGHUP', () => {
  for (const fn of reloads) void fn().catch(() => {});
});

// A reader that went away (`dcsync get status | head`) ends the output, not the process with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const code = await runCli(process.argv.slice(2), process.env, controller.signal, undefined, (fn) => reloads.push(fn));
process.exitCode = code;
