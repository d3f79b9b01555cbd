/**
 * Splits the bytes a replication connection receives into backend messages (u8 type, i32 length counting itself,
 * payload), for the copy-both phase of START_REPLICATION: CopyData payloads go to `copyData` as views of the
 * received chunk (valid only during the call; a message cut by a chunk boundary is joined first), every other message
 * goes whole, copied, to `other` (the driver's own parser: ErrorResponse, CopyDone, CommandComplete, ReadyForQuery).
 * This is what node-postgres would do for CopyData, without a message object, a Buffer slice and an event per frame.
 */
const COPY_DATA = 0x64; /* d */
const HEADER = 5;

export class CopyFramer {
  /** Bytes of a message cut by a chunk boundary, and how many it has in all (0 until its header is complete). */
  #pieces: Buffer[] = [];
  #have = 0;
  #total = 0;

  constructor(
    private readonly copyData: (buf: Buffer, start: number, end: number) => void,
    private readonly other: (message: Buffer) => void,
  ) {}

  /** True while a message is cut: bytes of it arrived, the rest has not. */
  get partial(): boolean {
    return this.#have > 0;
  }

  push(chunk: Buffer): void {
    let off = 0;
    if (this.#have > 0) {
      off = this.#complete(chunk);
      if (off < 0) return;
    }
    const n = chunk.length;
    while (n - off >= HEADER) {
      const total = 1 + chunk.readUInt32BE(off + 1);
      if (total < HEADER) throw new RangeError(`backend message of type 0x${chunk[off]!.toString(16)} with length ${total - 1}`);
      if (n - off < total) break;
      this.#dispatch(chunk, off, off + total);
      off += total;
    }
    if (off < n) this.#keep(chunk.subarray(off));
  }

  /** Adds the start of `chunk` to the cut message; returns where its remaining bytes start, or -1 if all were taken. */
  #complete(chunk: Buffer): number {
    let off = 0;
    if (this.#total === 0) {
      if (this.#have < HEADER) {
        off = Math.min(HEADER - this.#have, chunk.length);
        this.#keep(chunk.subarray(0, off));
        if (this.#have < HEADER) return -1;
      }
      const head = Buffer.concat(this.#pieces);
      this.#pieces = [head];
      this.#total = 1 + head.readUInt32BE(1);
      if (this.#total < HEADER) throw new RangeError(`backend message of type 0x${head[0]!.toString(16)} with length ${this.#total - 1}`);
    }
    const need = this.#total - this.#have;
    if (chunk.length - off < need) {
      this.#keep(chunk.subarray(off));
      return -1;
    }
    this.#pieces.push(chunk.subarray(off, off + need));
    const message = Buffer.concat(this.#pieces, this.#total);
    this.#pieces = [];
    this.#have = 0;
    this.#total = 0;
    this.#dispatch(message, 0, message.length);
    return off + need;
  }

  #keep(bytes: Buffer): void {
    // A copy: the caller's chunk is not ours to hold on to.
    this.#pieces.push(Buffer.from(bytes));
    this.#have += bytes.length;
  }

  #dispatch(buf: Buffer, start: number, end: number): void {
    if (buf[start] === COPY_DATA) this.copyData(buf, start + HEADER, end);
    else this.other(Buffer.from(buf.subarray(start, end)));
  }
}
