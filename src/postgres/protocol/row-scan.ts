import { ProtocolError } from '../../core/errors.ts';
import { ColumnKind, PgOutputTag, TupleMarker } from './tags.ts';

/**
 * Where the parts of one Insert, Update or Delete message lie in its buffer: the old and new TupleData and the
 * offset of every column's kind byte. Makes no strings and allocates nothing per message (one scanner is reused),
 * so the source can route and forward a row by its bytes; PgOutputDecoder remains the way to read a message whole.
 * Only for messages outside a stream block (dcsync does not request streaming of in-progress transactions).
 *
 * The message may lie inside a larger buffer (the socket's chunk): offsets are positions in that buffer, so the
 * stream needs no view of each message. A column at offset `o`: kind `buf[o]`; for text and binary, an Int32 length
 * at o+1 and the value at o+5.
 */
export class RowScan {
  /** PgOutputTag.Insert, Update or Delete. */
  tag = 0;
  relationId = 0;
  /** TupleMarker.Key or TupleMarker.Old, or 0 without an old tuple. */
  oldKind = 0;
  /** Offset of the old tuple's marker byte, or -1. */
  oldMarker = -1;
  /** Offset of the new tuple's marker byte ('N'), or -1 for a delete. */
  newMarker = -1;
  oldCount = 0;
  newCount = 0;
  /** The new tuple has an unchanged TOASTed value ('u'). */
  newHasUnchanged = false;
  /** First column (old or new tuple) sent in binary, or -1. */
  binaryColumn = -1;
  oldCols = new Int32Array(64);
  newCols = new Int32Array(64);

  /**
   * Scans the pgoutput message `buf[start, end)`, whose first byte is 'I', 'U' or 'D'; throws ProtocolError if it is
   * malformed.
   */
  scan(buf: Buffer, start = 0, end = buf.length): void {
    if (end - start < 6) throw new ProtocolError(`truncated pgoutput row message (${end - start} bytes)`);
    const tag = buf[start]!;
    if (tag !== PgOutputTag.Insert && tag !== PgOutputTag.Update && tag !== PgOutputTag.Delete)
      throw new ProtocolError(`not a row message: tag 0x${tag.toString(16)}`);
    this.relationId = buf.readUInt32BE(start + 1);
    this.scanTuples(tag, buf, start + 5, end);
  }

  /**
   * Scans the tuples of a row message, `buf[start, end)` being its bytes after the relation id (a change batch keeps
   * them so: transport/record-format); `tag` is PgOutputTag.Insert, Update or Delete. `relationId` is left as it is.
   */
  scanTuples(tag: number, buf: Buffer, start: number, end: number): void {
    if (start >= end) throw new ProtocolError(`empty pgoutput row data at offset ${start}`);
    this.tag = tag;
    this.oldKind = 0;
    this.oldMarker = -1;
    this.newMarker = -1;
    this.oldCount = 0;
    this.newCount = 0;
    this.newHasUnchanged = false;
    this.binaryColumn = -1;
    let p = start;
    const marker = buf[p]!;
    if (marker === TupleMarker.Key || marker === TupleMarker.Old) {
      if (tag === PgOutputTag.Insert) throw new ProtocolError(`Insert with an old tuple (marker 0x${marker.toString(16)})`);
      this.oldKind = marker;
      this.oldMarker = p;
      p = this.#tuple(buf, p + 1, end, false);
      if (tag === PgOutputTag.Delete) {
        if (p !== end) throw new ProtocolError(`${end - p} trailing byte(s) after a Delete's tuple`);
        return;
      }
      if (p >= end) throw new ProtocolError('Update without its new tuple');
    } else if (tag === PgOutputTag.Delete) {
      throw new ProtocolError(`Delete tuple marker 0x${marker.toString(16)}, expected 'K' or 'O'`);
    }
    if (buf[p] !== TupleMarker.New) throw new ProtocolError(`tuple marker 0x${buf[p]!.toString(16)} at offset ${p}, expected 'N'`);
    this.newMarker = p;
    p = this.#tuple(buf, p + 1, end, true);
    if (p !== end) throw new ProtocolError(`${end - p} trailing byte(s) after a row message's tuple`);
  }

  #tuple(buf: Buffer, start: number, end: number, isNew: boolean): number {
    if (end - start < 2) throw new ProtocolError(`truncated TupleData at offset ${start}`);
    const count = (buf[start]! << 8) | buf[start + 1]!;
    let p = start + 2;
    if (end - p < count) throw new ProtocolError(`TupleData of ${count} columns in ${end - p} bytes`);
    let cols = isNew ? this.newCols : this.oldCols;
    if (cols.length < count) {
      cols = new Int32Array(Math.max(count, cols.length * 2));
      if (isNew) this.newCols = cols;
      else this.oldCols = cols;
    }
    for (let i = 0; i < count; i++) {
      if (p >= end) throw new ProtocolError(`truncated TupleData: column ${i} at offset ${p}`);
      cols[i] = p;
      const kind = buf[p]!;
      if (kind === ColumnKind.Text || kind === ColumnKind.Binary) {
        if (end - p < 5) throw new ProtocolError(`truncated length of column ${i} at offset ${p + 1}`);
        const len = buf.readInt32BE(p + 1);
        if (len < 0 || end - p - 5 < len) throw new ProtocolError(`column ${i} length ${len} at offset ${p + 1} exceeds the message`);
        if (kind === ColumnKind.Binary && this.binaryColumn < 0) this.binaryColumn = i;
        p += 5 + len;
      } else if (kind === ColumnKind.Null) {
        p++;
      } else if (kind === ColumnKind.Unchanged) {
        if (isNew) this.newHasUnchanged = true;
        p++;
      } else {
        throw new ProtocolError(`unknown tuple column kind 0x${kind.toString(16)} at offset ${p} (column ${i})`);
      }
    }
    if (isNew) this.newCount = count;
    else this.oldCount = count;
    return p;
  }
}

/** True if the column at `offset` holds a text (or binary) value; its bytes are [offset + 5, offset + 5 + length). */
export function hasValue(buf: Buffer, offset: number): boolean {
  const k = buf[offset];
  return k === ColumnKind.Text || k === ColumnKind.Binary;
}

export function valueLength(buf: Buffer, offset: number): number {
  return buf.readInt32BE(offset + 1);
}
