/**
 * `buf` when `used + more` bytes fit in it, else a new buffer of at least twice its size holding its first `used`
 * bytes: the growth of the append-only builders (change batches, binary arrays, COPY text).
 */
export function withRoom(buf: Buffer, used: number, more: number): Buffer {
  const need = used + more;
  if (need <= buf.length) return buf;
  let size = buf.length * 2;
  while (size < need) size *= 2;
  const next = Buffer.allocUnsafe(size);
  buf.copy(next, 0, 0, used);
  return next;
}
