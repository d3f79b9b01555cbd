import type { Command } from '../command.ts';
import { createClientAuthCaCommand } from './create/client-auth-ca.ts';
import { createClientAuthKeyfileCommand } from './create/client-auth-keyfile.ts';
import { createJwtSecretCommand } from './create/jwt-secret.ts';
import { createTlsCaCommand } from './create/tls-ca.ts';
import { createTlsKeyfileCommand } from './create/tls-keyfile.ts';
import { runTaskDestination } from './run/task-destination.ts';
import { runTaskSource } from './run/task-source.ts';
import { runMasterCommand } from './run/master.ts';
import { runWorkerCommand } from './run/worker.ts';
import { getMastersCommand } from './get/masters.ts';
import { getWorkersCommand } from './get/workers.ts';
import { getTasksCommand } from './get/tasks.ts';
import { getVersionCommand } from './get/version.ts';
import { getStatusCommand } from './get/status.ts';
import { configureSyncCommand } from './configure/sync.ts';
import { stopSyncCommand } from './stop/sync.ts';
import { checkSyncCommand } from './check/sync.ts';
import { abortSyncCommand } from './abort/sync.ts';
import { abortOutgoingSyncCommand } from './abort/outgoing-sync.ts';
import { resetFailedTaskCommand } from './reset/failed-task.ts';
import { localDownCommand } from './local/down.ts';
import { localEnvCommand } from './local/env.ts';
import { localPsCommand } from './local/ps.ts';
import { localUpCommand } from './local/up.ts';

/** Every CLI command; the tree mirrors the folders below. */
export const commands: readonly Command[] = [
  createTlsCaCommand,
  createTlsKeyfileCommand,
  createClientAuthCaCommand,
  createClientAuthKeyfileCommand,
  createJwtSecretCommand,
  runTaskSource,
  runTaskDestination,
  runMasterCommand,
  runWorkerCommand,
  getMastersCommand,
  getWorkersCommand,
  getTasksCommand,
  getVersionCommand,
  getStatusCommand,
  configureSyncCommand,
  stopSyncCommand,
  checkSyncCommand,
  abortSyncCommand,
  abortOutgoingSyncCommand,
  resetFailedTaskCommand,
  localUpCommand,
  localEnvCommand,
  localPsCommand,
  localDownCommand,
];
