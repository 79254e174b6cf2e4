import * as net from "net";

/**
 * A TCP proxy in front of a real PostgreSQL server that breaks one connection at an exact point of
 * the protocol, so that a fault test hits the window it names every time instead of by timing luck
 * (a server restart lands wherever the scheduler puts it).
 *
 * It reads the server's side of each connection as protocol messages (a type byte and an int32
 * length, the same for every message the server sends after an unencrypted startup) and, when a
 * rule matches a message, forwards the bytes up to it (or up to and including it) and then closes both sockets:
 * to the client the connection ends right there, as when a server or a network goes away.
 */

export interface ServerMessage {
  /** the message type: 'D' DataRow, 'C' CommandComplete, 'Z' ReadyForQuery, 'd' CopyData, ... */
  type: string;
  payload: Buffer;
}

/** What one connection has received so far; a rule decides on it. */
export interface ConnectionHistory {
  /** messages of each type received on this connection, this one included */
  count: Record<string, number>;
  /** the tag of the last CommandComplete ("BEGIN", "SELECT 200", "COPY 1000", ...) */
  lastCommand?: string;
}

/** true: break the connection right after this message; "before": right before it; false: go on */
export type CutRule = (message: ServerMessage, history: ConnectionHistory) => boolean | "before";

/** Resolves when the armed cut has happened, fails at once (after a short grace) if it has not: the work that should have hit it is done. */
export async function cutHappened(cut: Promise<void>, graceMs = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([cut, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("the connection was never broken: the rule matched no message")), graceMs)))]).finally(() => clearTimeout(timer));
}

export function commandTag(message: ServerMessage): string {
  return message.type === "C" ? message.payload.subarray(0, message.payload.length - 1).toString() : "";
}

interface PendingCut {
  rule: CutRule;
  resolve: () => void;
}

export class FaultProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private pending?: PendingCut;
  /** connections accepted so far */
  accepted = 0;
  /** connections broken by a rule */
  cuts = 0;

  private constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => this.accept(client));
  }

  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const proxy = new FaultProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Breaks the next connection on which `rule` matches a message; resolves once it is broken. */
  cutWhen(rule: CutRule): Promise<void> {
    if (this.pending) throw new Error("a cut is already armed");
    return new Promise((resolve) => {
      this.pending = { rule, resolve };
    });
  }

  /** Disarms a cut that never matched (so a test can say it did not). */
  disarm(): boolean {
    const armed = Boolean(this.pending);
    this.pending = undefined;
    return armed;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on("error", closeBoth);
    upstream.on("error", closeBoth);
    client.on("close", closeBoth);
    upstream.on("close", closeBoth);
    client.on("data", (chunk) => upstream.write(chunk));

    const history: ConnectionHistory = { count: {} };
    let buffered = Buffer.alloc(0);
    let broken = false;
    upstream.on("data", (chunk: Buffer) => {
      if (broken) return;
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      let offset = 0;
      while (buffered.length - offset >= 5) {
        const length = buffered.readInt32BE(offset + 1);
        if (buffered.length - offset < 1 + length) break;
        const message = { type: String.fromCharCode(buffered[offset]), payload: buffered.subarray(offset + 5, offset + 1 + length) };
        const start = offset;
        offset += 1 + length;
        history.count[message.type] = (history.count[message.type] ?? 0) + 1;
        const cut = this.pending;
        const verdict = cut ? cut.rule(message, history) : false;
        if (message.type === "C") history.lastCommand = commandTag(message);
        if (cut && verdict) {
          this.pending = undefined;
          broken = true;
          this.cuts++;
          client.write(buffered.subarray(0, verdict === "before" ? start : offset), () => {
            closeBoth();
            cut.resolve();
          });
          return;
        }
      }
      client.write(buffered.subarray(0, offset));
      buffered = buffered.subarray(offset);
    });
  }
}
