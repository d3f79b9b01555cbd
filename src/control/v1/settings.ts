/** How the tasks of a sync run: the settings chosen at `configure sync` and carried to the workers. */
export const APPLY_MODES = ['parallel', 'transactional'] as const;
export type SyncApplyMode = (typeof APPLY_MODES)[number];
export const REPLICATION_POLICIES = ['default', 'identity'] as const;
export type SyncReplicationPolicy = (typeof REPLICATION_POLICIES)[number];

/** How the tasks of a sync run; chosen at `configure sync`, carried to the workers in their assignments. */
export interface SyncSettings {
  /** Partitions of each database's changes topic (1 in transactional mode). */
  readonly partitions: number;
  /** Connections of each database's initial copy. */
  readonly copySessions: number;
  readonly applyMode: SyncApplyMode;
  /** MirrorMaker 2's alias of the source cluster (the prefix of the topics it writes at the destination). */
  readonly sourceAlias: string;
  readonly replicationPolicy: SyncReplicationPolicy;
}

export const DEFAULT_SYNC_SETTINGS: SyncSettings = { partitions: 8, copySessions: 2, applyMode: 'parallel', sourceAlias: 'A', replicationPolicy: 'default' };
