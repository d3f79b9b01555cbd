import { ProtocolError } from '../../core/errors.ts';
import { lsnOfWords, type Lsn } from '../../core/lsn.ts';
import { PG_EPOCH_MS } from '../../core/time.ts';

/**
 * Where entries come from: a transaction's commit LSN, xid and commit time (µs since the Unix epoch), as the five
 * big-endian 32-bit words an entry carries them in. Made once per transaction on the stream's hot path: no Buffer,
 * no BigInt until `lsn` or `commitTimeUs` is read.
 */
export class EntryOrigin {
  #lsn: Lsn | undefined;
  #commitTimeUs: bigint | undefined;

  private constructor(
    readonly lsnHi: number,
    readonly lsnLo: number,
    readonly xid: number,
    readonly timeHi: number,
    readonly timeLo: number,
  ) {}

  static of(lsn: Lsn, xid: number, commitTimeUs: bigint): EntryOrigin {
    if (BigInt.asIntN(64, commitTimeUs) !== commitTimeUs) throw new RangeError(`commit time ${commitTimeUs} µs is not a 64-bit integer`);
    const t = BigInt.asUintN(64, commitTimeUs);
    const o = new EntryOrigin(Number(lsn >> 32n), Number(lsn & 0xffff_ffffn), xid >>> 0, Number(t >> 32n), Number(t & 0xffff_ffffn));
    o.#lsn = lsn;
    o.#commitTimeUs = commitTimeUs;
    return o;
  }

  /**
   * The origin of a transaction from its pgoutput Begin message `buf[start, end)` (u8 'B', i64 final LSN, i64 commit
   * time in µs since 2000-01-01, u32 xid), without BigInt arithmetic.
   */
  static ofBegin(buf: Buffer, start = 0, end = buf.length): EntryOrigin {
    if (end - start !== 21) throw new ProtocolError(`pgoutput Begin of ${end - start} bytes, expected 21`);
    // µs since 2000 → since 1970. Exact as a double while below 2^53 µs (the year 2255).
    const us = buf.readInt32BE(start + 9) * 0x1_0000_0000 + buf.readUInt32BE(start + 13) + PG_EPOCH_OFFSET_US;
    if (!Number.isSafeInteger(us) || us < 0)
      return EntryOrigin.of(buf.readBigUInt64BE(start + 1) as Lsn, buf.readUInt32BE(start + 17), buf.readBigInt64BE(start + 9) + BigInt(PG_EPOCH_OFFSET_US));
    return new EntryOrigin(buf.readUInt32BE(start + 1), buf.readUInt32BE(start + 5), buf.readUInt32BE(start + 17), Math.floor(us / 0x1_0000_0000), us % 0x1_0000_0000);
  }

  get lsn(): Lsn {
    return (this.#lsn ??= lsnOfWords(this.lsnHi, this.lsnLo));
  }

  get commitTimeUs(): bigint {
    return (this.#commitTimeUs ??= BigInt.asIntN(64, (BigInt(this.timeHi) << 32n) | BigInt(this.timeLo)));
  }

  /** Writes the 20 bytes of an entry's origin at `buf[at]`. */
  writeTo(buf: Buffer, at: number): void {
    buf.writeUInt32BE(this.lsnHi, at);
    buf.writeUInt32BE(this.lsnLo, at + 4);
    buf.writeUInt32BE(this.xid, at + 8);
    buf.writeUInt32BE(this.timeHi, at + 12);
    buf.writeUInt32BE(this.timeLo, at + 16);
  }

  sameAs(o: EntryOrigin): boolean {
    return this === o || (this.lsnLo === o.lsnLo && this.lsnHi === o.lsnHi && this.xid === o.xid && this.timeLo === o.timeLo && this.timeHi === o.timeHi);
  }
}

/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
const PG_EPOCH_OFFSET_US = PG_EPOCH_MS * 1000;
