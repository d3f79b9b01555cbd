/**
 * The sync master: leader election and state in the datacenter's PostgreSQL, the scheduler that gives tasks to
 * workers, and the HTTPS API. Clients (CLI, workers) use contract.ts only.
 */
export * from './contract.ts';
export { MasterDaemon, runMaster, type MasterState } from './master.ts';
export { compileMasterOptions, masterIdOf, DEFAULT_DATACENTER, MQ_TYPES, type MasterOptions, type CompiledMasterOptions, type MqType } from './options.ts';
export { MasterStore, FencedError, SchemaVersionError, STATE_SCHEMA, SCHEMA_VERSION, type LeaseRow, type MasterRow, type WorkerRow, type TaskRow, type LeaseHolder } from './store.ts';
export { LeaderElection, decide, checkElectionTimings, DEFAULT_ELECTION_TIMINGS, type ElectionState, type ElectionTimings, type ElectionView, type ElectionEvent } from './election.ts';
export { planRound, taskId, wantedTasks, DEFAULT_WORKER_TIMEOUT_MS, SYNC_STATUSES, type SyncStatus, type Plan, type PlanInput } from './scheduler.ts';
export { PgPool, type Queryable } from './pg-pool.ts';
export { ADMIN_ROLE, pgOperatorVerifier } from './operator-auth.ts';
export { dcsyncVersion } from './version.ts';
