import net from 'node:net';

/**
 * A TCP proxy in front of a real ZooKeeper that can fail the way networks do, at exact points of the protocol:
 * refuse every connection (a partition: the server stops hearing from its clients and expires their sessions),
 * or deliver one request and lose its answer (the write is applied, the client sees a connection loss).
 *
 * It reads just enough of ZooKeeper's framing to know where it is: every message is a 4-byte length and a body;
 * the first message each way is the session handshake (ConnectRequest / ConnectResponse); after it a request
 * starts with xid and op type, a reply with xid, zxid and error code, and a path is a length-prefixed string.
 */
export interface ZkRequestInfo {
  /** ZooKeeper op code: 1 create, 2 delete, 3 exists, 4 getData, 5 setData, 8 getChildren, ... */
  type: number;
  /** The request's path when it has one (every op the sidecar sends does); a multi's is its first op's. */
  path: string | null;
}

export const ZK_OP = { create: 1, delete: 2, exists: 3, getData: 4, setData: 5, getChildren: 8, multi: 14 } as const;

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

interface ReplyLoss {
  match: (request: ZkRequestInfo) => boolean;
  /** Bytes of the reply the client still gets (a frame torn in the middle), 0 for none. */
  deliverBytes: number;
  resolve: () => void;
}

export class ZkProxy {
  private readonly pairs = new Set<Pair>();
  private refusing = false;
  private replyLoss: ReplyLoss | undefined;
  /** Requests forwarded, in order (what reached the server through this proxy). */
  readonly forwarded: ZkRequestInfo[] = [];

  private constructor(
    private readonly server: net.Server,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(targetConnectString: string): Promise<ZkProxy> {
    const [host = '127.0.0.1', port = '2181'] = targetConnectString.split(',')[0]!.split(':');
    const server = net.createServer();
    const proxy = new ZkProxy(server, { host, port: Number(port) });
    server.on('connection', (client) => proxy.handle(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get connectString(): string {
    const address = this.server.address() as net.AddressInfo;
    return `127.0.0.1:${address.port}`;
  }

  /** Cut every connection and refuse new ones until allow(): clients cannot reach the server at all. */
  refuse(): void {
    this.refusing = true;
    for (const pair of this.pairs) this.cut(pair);
  }

  /** Let connections through again. */
  allow(): void {
    this.refusing = false;
  }

  private handle(client: net.Socket): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    const end = () => this.cut(pair);
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    let awaitedXid: number | null = null;
    let loss: ReplyLoss | undefined;
    client.on(
      'data',
      framer((frame, index) => {
        if (index > 0) {
          const request = parseRequest(frame);
          this.forwarded.push(request.info);
          if (this.replyLoss?.match(request.info)) {
            loss = this.replyLoss;
            this.replyLoss = undefined;
            awaitedXid = request.xid;
          }
        }
        upstream.write(frame);
      }),
    );
    upstream.on(
      'data',
      framer((frame, index) => {
        if (index > 0 && awaitedXid !== null && frame.readInt32BE(4) === awaitedXid) {
          // The server has applied the request and answered: the answer is lost with the connection.
          awaitedXid = null;
          const torn = frame.subarray(0, loss?.deliverBytes ?? 0);
          if (torn.length === 0) this.cut(pair);
          else client.write(torn, () => this.cut(pair));
          loss?.resolve();
          return;
        }
        if (awaitedXid === null) client.write(frame);
        // Anything after the awaited request (watch events, other replies) is held back with it: dropped.
      }),
    );
  }

  /**
   * Arm a one-shot fault: the next request matching is delivered to the server, its reply is swallowed (or only
   * its first `deliverBytes` bytes reach the client: a torn frame) and the connection cut. Resolves once that
   * has happened (so the server has applied the request).
   */
  loseReplyTo(match: (request: ZkRequestInfo) => boolean, options: { deliverBytes?: number } = {}): Promise<void> {
    return new Promise((resolve) => {
      this.replyLoss = { match, deliverBytes: options.deliverBytes ?? 0, resolve };
    });
  }

  async close(): Promise<void> {
    this.refusing = true;
    for (const pair of this.pairs) this.cut(pair);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private cut(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream.destroy();
  }
}

/** Splits a byte stream into length-prefixed frames (length included), numbered from 0. */
function framer(onFrame: (frame: Buffer, index: number) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const size = pending.readInt32BE(0) + 4;
      if (pending.length < size) break;
      onFrame(pending.subarray(0, size), index++);
      pending = pending.subarray(size);
    }
  };
}

function parseRequest(frame: Buffer): { xid: number; info: ZkRequestInfo } {
  const xid = frame.readInt32BE(4);
  const type = frame.readInt32BE(8);
  let path: string | null = null;
  // A multi's body starts with its first op's MultiHeader (type int, done bool, err int): the path follows it.
  const at = type === ZK_OP.multi ? 21 : 12;
  if (frame.length >= at + 4) {
    const length = frame.readInt32BE(at);
    if (length >= 0 && at + 4 + length <= frame.length) path = frame.toString('utf8', at + 4, at + 4 + length);
  }
  return { xid, info: { type, path } };
}
