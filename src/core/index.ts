export * from './errors.ts';
export * from './lsn.ts';
export * from './time.ts';
export * from './retry.ts';
export * from './logger.ts';
export * from './lifecycle.ts';
export * from './outcome.ts';
