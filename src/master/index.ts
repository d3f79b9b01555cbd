/**
 * The sync master: leader election and state in the datacenter's PostgreSQL, the scheduler that gives tasks to
 * workers, and the HTTPS API. Clients (CLI, workers) use the wire contract in control/v1/ only.
 */
export * from '../control/v1/cluster.ts';
export { MasterDaemon, runMaster, type MasterState } from './master.ts';
export { compileMasterOptions, masterIdOf, DEFAULT_DATACENTER, MQ_TYPES, type MasterOptions, type CompiledMasterOptions, type MqType } from './options.ts';
export { MasterStore, FencedError, SchemaVersionError, STATE_SCHEMA, SCHEMA_VERSION, type LeaseRow, type MasterRow, type WorkerRow, type TaskRow, type LeaseHolder } from './store.ts';
export { LeaderElection, decide, checkElectionTimings, DEFAULT_ELECTION_TIMINGS, type ElectionState, type ElectionTimings, type ElectionView, type ElectionEvent } from './election.ts';
export { planRound, taskId, wantedTasks, DEFAULT_WORKER_TIMEOUT_MS, type Plan, type PlanInput } from './scheduler.ts';
export { SYNC_STATUSES, type SyncStatus } from '../control/v1/sync.ts';
export { PgPool, type Queryable } from '../postgres/pool.ts';
export { ADMIN_ROLE, pgOperatorVerifier } from './operator-auth.ts';
export { dcsyncVersion } from '../core/version.ts';
