import { createHash } from "crypto";
import { createServer, Server, Socket } from "net";
import { AuthMethod, Client, ClientChannel, ConnectConfig } from "ssh2";
import { withHiddenSecrets } from "./secrets";
import type { SshSettings } from "./settings";
import { errorMessage } from "./errors";

/**
 * An SSH tunnel to the database through a bastion: ONE SSH connection (a bastion's MaxStartups is not
 * spent by the pool) and one channel (`direct-tcpip`, ssh2's forwardOut) per database connection.
 *
 * Why a local forwarding server: node-postgres 8.7.3 (the core's copy, which this plugin shares) opens
 * a net.Socket per connection itself. It takes a ready `stream` only as one object in the config, which
 * the pool hands to every client it creates: there is no per-connection stream factory (later pg
 * versions added one). So the pool connects to 127.0.0.1:<ephemeral port>, where each accepted socket
 * is piped through a channel of its own. TLS runs inside that, end to end with the database: the TLS
 * options still name the database's real host (settings.ts `tlsOptions`), not 127.0.0.1.
 *
 * Invariant: `ready()` resolves only with a live SSH connection through which the bastion has opened
 * at least one channel to the database since it connected (or since a channel last failed), so each
 * failure is reported by `ready()` as an `SshTunnelError` that says which side failed, within
 * connect_timeout. A dropped connection is rebuilt by the next `ready()` or accepted socket. Every
 * 'error' event has a listener. No message holds a secret: they are built here from facts.
 */

/** What failed; `SSH_UNREACHABLE` is the only one worth retrying (a bastion restarting, a dropped link). */
export type SshTunnelFailure = "SSH_UNREACHABLE" | "SSH_HOST_KEY" | "SSH_AUTH" | "SSH_FORWARD_REFUSED" | "SSH_FAILED" | "ECONNREFUSED";

export class SshTunnelError extends Error {
  constructor(readonly code: SshTunnelFailure, message: string) {
    super(message);
    this.name = "SshTunnelError";
  }
}

export type TunnelLogger = (message: string, level: "info" | "warning" | "error") => void;

/** The fingerprint `ssh-keygen -lf` prints for a host key blob: SHA256, base64 without padding. */
export function fingerprint(hostKey: Buffer): string {
  return "SHA256:" + createHash("sha256").update(hostKey).digest("base64").replace(/=+$/, "");
}

// the bastion is asked every 10 s whether it is still there, and given up after 3 unanswered asks
const KEEPALIVE_INTERVAL_MS = 10000;
const KEEPALIVE_COUNT_MAX = 3;
// ssh2's channel open failure reasons (RFC 4254 section 5.1)
const ADMINISTRATIVELY_PROHIBITED = 1;
const CONNECT_FAILED = 2;

export class SshTunnel {
  readonly localHost = "127.0.0.1";
  /** the forwarding server's port, known once `ready()` resolved */
  localPort?: number;
  /** the bastion's host key fingerprint seen at the last handshake (reported by the App's Test) */
  hostKeySeen?: string;
  private server?: Server;
  private listening?: Promise<void>;
  private connection?: Client;
  private connecting?: Promise<Client>;
  private readying?: Promise<void>;
  /** a channel must be opened (and closed) before `ready()` resolves: after a (re)connect or a failed channel */
  private forwardingUnchecked = true;
  private readonly sockets = new Set<Socket>();
  /** bumped by close(): what an earlier generation opens late is shut at once (a later ready() starts afresh) */
  private generation = 0;

  constructor(
    private readonly ssh: SshSettings,
    private readonly target: { host: string; port: number },
    private readonly connectTimeoutMs: number,
    private readonly log: TunnelLogger = () => {}
  ) {}

  private get bastion(): string {
    return `${this.ssh.host}:${this.ssh.port}`;
  }

  private get destination(): string {
    return `${this.target.host}:${this.target.port}`;
  }

  /** Starts the forwarding server and (re)builds the SSH connection; throws an SshTunnelError saying what failed. */
  ready(): Promise<void> {
    if (this.connection && !this.forwardingUnchecked && this.localPort !== undefined) return Promise.resolve();
    this.readying ??= this.build().finally(() => (this.readying = undefined));
    return this.readying;
  }

  private async build(): Promise<void> {
    const deadline = Date.now() + this.connectTimeoutMs;
    await this.listen();
    const client = await this.sshConnection();
    if (this.forwardingUnchecked) {
      const channel = await this.openChannel(client, deadline);
      channel.on("error", () => {});
      channel.close();
      this.forwardingUnchecked = false;
    }
  }

  private listen(): Promise<void> {
    this.listening ??= new Promise<void>((resolve, reject) => {
      const server = createServer((socket) => this.forward(socket));
      server.on("error", reject);
      const generation = this.generation;
      server.listen(0, this.localHost, () => {
        server.off("error", reject);
        if (generation !== this.generation) {
          server.close();
          return reject(new SshTunnelError("SSH_FAILED", "the SSH tunnel was closed while it started (disconnect was called)"));
        }
        server.on("error", (error) => this.log(`ssh: the local forwarding server failed: ${error.message}`, "error"));
        this.localPort = (server.address() as { port: number }).port;
        resolve();
      });
      this.server = server;
    });
    return this.listening;
  }

  /** The live SSH connection, connecting (once for all callers) when there is none. */
  private sshConnection(): Promise<Client> {
    if (this.connection) return Promise.resolve(this.connection);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private connect(): Promise<Client> {
    return new Promise<Client>((resolve, reject) => {
      const client = new Client();
      let settled = false;
      let hostKeyRefused = false;
      const fail = (error: SshTunnelError) => {
        if (settled) return;
        settled = true;
        client.end();
        reject(error);
      };
      const generation = this.generation;
      client.on("ready", () => {
        if (settled) return client.end();
        if (generation !== this.generation) return fail(new SshTunnelError("SSH_FAILED", "the SSH tunnel was closed while it connected (disconnect was called)"));
        settled = true;
        this.connection = client;
        this.forwardingUnchecked = true;
        resolve(client);
      });
      client.on("error", (error: Error & { level?: string; code?: string }) => {
        if (!settled) return fail(this.describe(error, hostKeyRefused));
        this.log(`ssh: the connection to the bastion ${this.bastion} failed (${error.message}); it is rebuilt for the next database connection`, "warning");
      });
      client.on("close", () => {
        if (this.connection === client) {
          this.connection = undefined;
          this.log(`ssh: the connection to the bastion ${this.bastion} closed; it is rebuilt for the next database connection`, "warning");
        }
        fail(new SshTunnelError("SSH_UNREACHABLE", `the SSH bastion ${this.bastion} closed the connection before it was ready: check \`ssh_host\` and \`ssh_port\``));
      });
      const config: ConnectConfig = {
        host: this.ssh.host,
        port: this.ssh.port,
        username: this.ssh.user,
        // not privateKey / password: ssh2 keeps those enumerable on `client.config`, and a live
        // connection holds the client, so logging it deeply would print them
        authHandler: this.authMethods(),
        // TCP connect, handshake and login all within connect_timeout
        readyTimeout: this.connectTimeoutMs,
        keepaliveInterval: KEEPALIVE_INTERVAL_MS,
        keepaliveCountMax: KEEPALIVE_COUNT_MAX,
        hostVerifier: (hostKey: Buffer) => {
          this.hostKeySeen = fingerprint(hostKey);
          hostKeyRefused = this.ssh.hostKeyFingerprint !== undefined && this.hostKeySeen !== this.ssh.hostKeyFingerprint;
          return !hostKeyRefused;
        },
      };
      try {
        client.connect(config);
      } catch (error) {
        fail(new SshTunnelError("SSH_FAILED", `the SSH connection to ${this.bastion} could not start: ${errorMessage(error)}`));
      }
    });
  }

  /**
   * The login methods in ssh2's own order when given a key and a password (none, password, publickey),
   * their secrets non-enumerable: ssh2 reads them by name, a logged client shows none.
   */
  private authMethods(): AuthMethod[] {
    const username = this.ssh.user;
    const methods: AuthMethod[] = [{ type: "none", username }];
    if (this.ssh.password !== undefined) methods.push(withHiddenSecrets({ type: "password", username }, { password: this.ssh.password }));
    if (this.ssh.privateKey !== undefined) methods.push(withHiddenSecrets({ type: "publickey", username }, { key: this.ssh.privateKey, passphrase: this.ssh.passphrase }));
    return methods;
  }

  /** One sentence naming the side that failed and the options to check; built from facts, never from secrets. */
  private describe(error: Error & { level?: string; code?: string }, hostKeyRefused: boolean): SshTunnelError {
    if (hostKeyRefused) {
      return new SshTunnelError(
        "SSH_HOST_KEY",
        `the SSH bastion ${this.bastion} has the host key ${this.hostKeySeen}, not the one pinned in \`ssh_host_key\` (${this.ssh.hostKeyFingerprint}): the connection was refused. If the bastion's key was changed on purpose, pin the new fingerprint (ssh-keygen -lf on the bastion's host key)`
      );
    }
    switch (error.level) {
      case "client-authentication": {
        const methods = [this.ssh.privateKey ? "the key in `ssh_private_key`" : "", this.ssh.password ? "the password in `ssh_password`" : ""].filter(Boolean).join(" and ");
        return new SshTunnelError(
          "SSH_AUTH",
          `the SSH bastion ${this.bastion} refused user "${this.ssh.user}" with ${methods}: check \`ssh_user\`, and that the key's public half is in that user's authorized_keys on the bastion`
        );
      }
      case "client-timeout":
        return new SshTunnelError("SSH_UNREACHABLE", `no SSH answer from the bastion ${this.bastion} within connect_timeout (${this.connectTimeoutMs / 1000} s): check \`ssh_host\`, \`ssh_port\` and firewalls`);
      case "client-socket":
      case "client-dns":
        return new SshTunnelError(
          "SSH_UNREACHABLE",
          error.code === "ENOTFOUND" || error.code === "EAI_AGAIN"
            ? `the SSH bastion's host name "${this.ssh.host}" cannot be resolved: check \`ssh_host\``
            : `the SSH bastion ${this.bastion} cannot be reached (${error.code ?? error.message}): check \`ssh_host\` and \`ssh_port\``
        );
      default:
        return new SshTunnelError("SSH_FAILED", `the SSH connection to the bastion ${this.bastion} failed: ${error.message}`);
    }
  }

  /** A channel from the bastion to the database, or an SshTunnelError saying why the bastion did not open one. */
  private openChannel(client: Client, deadline: number, source = { address: this.localHost, port: 0 }): Promise<ClientChannel> {
    return new Promise<ClientChannel>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new SshTunnelError("SSH_UNREACHABLE", `the SSH bastion ${this.bastion} did not open a connection to the database at ${this.destination} within connect_timeout (${this.connectTimeoutMs / 1000} s)`));
      }, Math.max(0, deadline - Date.now()));
      client.forwardOut(source.address, source.port, this.target.host, this.target.port, (error, channel) => {
        clearTimeout(timer);
        if (settled) {
          if (!error) {
            channel.on("error", () => {});
            channel.close();
          }
          return;
        }
        settled = true;
        if (!error) return resolve(channel);
        this.forwardingUnchecked = true;
        const reason = (error as Error & { reason?: number }).reason;
        if (reason === CONNECT_FAILED) {
          // the bastion is fine, the database is not reachable from it: the database's error, as without a tunnel
          return reject(new SshTunnelError("ECONNREFUSED", `the SSH bastion ${this.bastion} could not connect to the database at ${this.destination} (${error.message})`));
        }
        if (reason === ADMINISTRATIVELY_PROHIBITED) {
          return reject(
            new SshTunnelError(
              "SSH_FORWARD_REFUSED",
              `the SSH bastion ${this.bastion} refused to forward to the database at ${this.destination} (administratively prohibited): allow it in the bastion's sshd_config for user "${this.ssh.user}" (AllowTcpForwarding yes or local, PermitOpen ${this.destination})`
            )
          );
        }
        reject(new SshTunnelError(client === this.connection ? "SSH_FAILED" : "SSH_UNREACHABLE", `the SSH bastion ${this.bastion} did not open a channel to ${this.destination}: ${error.message}`));
      });
    });
  }

  /** Pipes one socket of the pool through a channel of its own; a failure closes the socket (pg retries reads). */
  private async forward(socket: Socket): Promise<void> {
    this.sockets.add(socket);
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.sockets.delete(socket));
    let channel: ClientChannel;
    try {
      const client = await this.sshConnection();
      channel = await this.openChannel(client, Date.now() + this.connectTimeoutMs, { address: socket.remoteAddress ?? this.localHost, port: socket.remotePort ?? 0 });
    } catch (error) {
      this.forwardingUnchecked = true;
      this.log(`ssh: a database connection could not go through the tunnel: ${errorMessage(error)}`, "warning");
      socket.destroy();
      return;
    }
    if (socket.destroyed) {
      channel.on("error", () => {});
      channel.close();
      return;
    }
    channel.on("error", () => socket.destroy());
    channel.on("close", () => socket.destroy());
    socket.on("close", () => channel.close());
    socket.pipe(channel).pipe(socket);
  }

  /** Closes the forwarding server, every forwarded socket and the SSH connection. */
  async close(): Promise<void> {
    this.generation++;
    for (const socket of this.sockets) socket.destroy();
    const connection = this.connection;
    this.connection = undefined;
    this.forwardingUnchecked = true;
    connection?.end();
    const server = this.server;
    this.server = undefined;
    this.listening = undefined;
    this.localPort = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
