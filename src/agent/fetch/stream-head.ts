/**
 * A stream passed through unchanged once its first bytes are judged: `check` sees the first `bytes` bytes (all of
 * them, if the stream is shorter) before any byte goes on, and throws to refuse the stream. Magic numbers decide
 * what a stream is before anything acts on it: the archive's compression before gunzip, the tar inside before
 * node-tar (which would otherwise decompress a second layer on its own).
 */
export async function* checkHead(
  source: AsyncIterable<Buffer>,
  bytes: number,
  check: (head: Buffer) => void,
): AsyncGenerator<Buffer> {
  let head: Buffer | undefined = Buffer.alloc(0);
  for await (const chunk of source) {
    if (head === undefined) {
      yield chunk;
      continue;
    }
    head = Buffer.concat([head, chunk]);
    if (head.length >= bytes) {
      check(head);
      yield head;
      head = undefined;
    }
  }
  if (head !== undefined) {
    check(head);
    if (head.length > 0) yield head;
  }
}
