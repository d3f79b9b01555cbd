import type { Command } from '../command.ts';

/** Every CLI command; the tree mirrors the folders below. */
export const commands: readonly Command[] = [];
