/** The destination's apply engine: row changes → set-based statements on the target, exactly. */
export { applyChanges, type ApplyOptions, type ApplyStats } from './apply-changes.ts';
export { TargetCatalog, type TargetColumn, type TargetTable } from './catalog.ts';
export { planChanges, DEFAULT_MAX_ROWS_PER_STEP, type ApplyStep, type PlanOptions } from './collapse.ts';
export { InvalidChangeError, RowNotFoundError, TargetSchemaError } from './errors.ts';
