/**
 * UTF-8 bytes [start, end) of `buf` as a string. Buffer#utf8Slice is what buf.toString('utf8', start, end) ends up
 * calling after its argument handling; calling it directly skips that handling on the decoder's hot path (see
 * decode.bench.ts). It is not in @types/node, hence the
 * narrow cast; toString is the fallback. Callers check the bounds first.
 */
type Utf8Sliceable = Buffer & { utf8Slice(start: number, end: number): string };

export const utf8: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as Partial<Utf8Sliceable>).utf8Slice === 'function'
    ? (buf, start, end) => (buf as Utf8Sliceable).utf8Slice(start, end)
    : (buf, start, end) => buf.toString('utf8', start, end);

type Latin1Sliceable = Buffer & { latin1Slice(start: number, end: number): string };

/** Bytes [start, end) of `buf` as a string of one character per byte: an identity for the bytes, cheaper than UTF-8 decoding. */
export const latin1: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as Partial<Latin1Sliceable>).latin1Slice === 'function'
    ? (buf, start, end) => (buf as Latin1Sliceable).latin1Slice(start, end)
    : (buf, start, end) => buf.toString('latin1', start, end);
