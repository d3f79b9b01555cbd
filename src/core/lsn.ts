import { ProtocolError } from './errors.ts';

/** A PostgreSQL WAL position (XLogRecPtr), as an unsigned 64-bit bigint. */
export type Lsn = bigint & { readonly __brand: 'Lsn' };

export const ZERO_LSN = 0n as Lsn;

export function lsn(value: bigint): Lsn {
  if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new RangeError(`LSN out of range: ${value}`);
  return value as Lsn;
}

/** Parses PostgreSQL's text form, e.g. '16/B374D848'. */
export function parseLsn(text: string): Lsn {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new ProtocolError(`invalid LSN '${text}'`);
  return ((BigInt('0x' + m[1]) << 32n) | BigInt('0x' + m[2])) as Lsn;
}

/** The LSN whose high and low 32 bits are `hi` and `lo` (as the protocol's big-endian words carry it). */
export function lsnOfWords(hi: number, lo: number): Lsn {
  return ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)) as Lsn;
}

export function formatLsn(value: Lsn | bigint): string {
  const hi = (value >> 32n) & 0xffff_ffffn;
  const lo = value & 0xffff_ffffn;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}
