#!/usr/bin/env -S node --max-semi-space-size=64
// --max-semi-space-size: see DAEMON_NODE_FLAGS in src/local/dcsync-process.ts.
// Runs the TypeScript sources directly (tsx), so `npx dcsync …` works right after `npm ci`.
import { register } from "tsx/esm/api";
register();
await import("../src/main.ts");
