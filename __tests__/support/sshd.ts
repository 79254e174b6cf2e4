import fs from "fs";
import net from "net";
import os from "os";
import path from "path";
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";

/**
 * A real OpenSSH bastion for the tests: Debian's `sshd`, started as a process of its own on a free
 * loopback port, with its own config, host key and authorized_keys in a temp dir (installed with
 * apt-get when missing, never skipped). Keys are made with `ssh-keygen`. Call `stop()` when done.
 */

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { freePort } = require("../../scripts/postgres-server");

const SSHD = "/usr/sbin/sshd"; // sshd refuses to start unless called by its absolute path
const SSH_KEYGEN = "/usr/bin/ssh-keygen";

/** Installs openssh-server (and the client's ssh-keygen) when missing; needs root, as CI has. */
export function ensureOpenSsh(): void {
  if (fs.existsSync(SSHD) && fs.existsSync(SSH_KEYGEN)) return;
  const install = () => spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "openssh-server", "openssh-client"], { stdio: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  let result = install();
  if (result.status !== 0) {
    // a stale or missing package list: refresh it once
    execFileSync("apt-get", ["update"], { stdio: "pipe" });
    result = install();
  }
  if (result.status !== 0 || !fs.existsSync(SSHD)) {
    throw new Error(`could not install openssh-server (apt-get exited ${result.status}): ${String(result.stderr).slice(-2000)}`);
  }
}

export interface KeyPair {
  privateKey: string;
  publicKey: string;
  /** `SHA256:...` as `ssh-keygen -lf` prints it */
  fingerprint: string;
  /** the whole line `ssh-keygen -lf` prints */
  fingerprintLine: string;
}

/** A throw-away folder for keys and bastions. */
export class SshWorkspace {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpp-sshd-"));
  private count = 0;

  constructor() {
    ensureOpenSsh();
  }

  /** `ssh-keygen -t <type>`; `format: "PEM"` for the legacy PEM format (-----BEGIN RSA PRIVATE KEY-----). */
  key(type: "rsa" | "ed25519", options: { format?: "PEM"; passphrase?: string } = {}): KeyPair {
    const file = path.join(this.dir, `key${++this.count}_${type}`);
    const args = ["-q", "-t", type, "-N", options.passphrase ?? "", "-C", `gpp-test-${this.count}`, "-f", file];
    if (type === "rsa") args.push("-b", "2048");
    if (options.format) args.push("-m", options.format);
    execFileSync(SSH_KEYGEN, args, { stdio: "pipe" });
    const fingerprintLine = execFileSync(SSH_KEYGEN, ["-l", "-E", "sha256", "-f", `${file}.pub`], { encoding: "utf8" }).trim();
    return {
      privateKey: fs.readFileSync(file, "utf8"),
      publicKey: fs.readFileSync(`${file}.pub`, "utf8"),
      fingerprint: fingerprintLine.split(/\s+/)[1],
      fingerprintLine,
    };
  }

  /** Starts a bastion that lets in the given public keys; `config` lines are added to its sshd_config. */
  async bastion(options: { authorizedKeys: string[]; config?: string[] }): Promise<Bastion> {
    const bastion = new Bastion(path.join(this.dir, `bastion${++this.count}`), options.authorizedKeys, options.config ?? []);
    await bastion.start();
    return bastion;
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}


function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

/** The processes whose parent is `pid` (sshd forks one per connection, in a session of its own). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      // the command may hold spaces and parentheses: the parent pid follows the last ")"
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === pid) children.push(Number(entry));
    } catch (error) {
      // the process ended while we looked
    }
  }
  return children;
}

export class Bastion {
  port = 0;
  /** the host key's fingerprint, as a user pins it */
  readonly hostKey: KeyPair;
  /** sshd's log (stderr of -e) of every start */
  log = "";
  private child?: ChildProcess;
  private readonly configFile: string;

  constructor(private readonly dir: string, authorizedKeys: string[], private readonly extraConfig: string[]) {
    fs.mkdirSync(dir, { recursive: true });
    const hostKeyFile = path.join(dir, "ssh_host_ed25519_key");
    execFileSync(SSH_KEYGEN, ["-q", "-t", "ed25519", "-N", "", "-C", "gpp-bastion", "-f", hostKeyFile], { stdio: "pipe" });
    const line = execFileSync(SSH_KEYGEN, ["-l", "-E", "sha256", "-f", `${hostKeyFile}.pub`], { encoding: "utf8" }).trim();
    this.hostKey = { privateKey: "", publicKey: fs.readFileSync(`${hostKeyFile}.pub`, "utf8"), fingerprint: line.split(/\s+/)[1], fingerprintLine: line };
    fs.writeFileSync(path.join(dir, "authorized_keys"), authorizedKeys.join(""), { mode: 0o600 });
    this.configFile = path.join(dir, "sshd_config");
  }

  private writeConfig(): void {
    const lines = [
      `Port ${this.port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${path.join(this.dir, "ssh_host_ed25519_key")}`,
      `PidFile ${path.join(this.dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${path.join(this.dir, "authorized_keys")}`,
      // the temp dir's permissions are not sshd's business here
      "StrictModes no",
      "UsePAM no",
      "PubkeyAuthentication yes",
      // passwords are tried and refused (the tests never set a password on this machine's users)
      "PasswordAuthentication yes",
      "PermitRootLogin prohibit-password",
      "KbdInteractiveAuthentication no",
      "X11Forwarding no",
      "AllowAgentForwarding no",
      "PrintMotd no",
      "LogLevel VERBOSE",
      ...this.extraConfig,
    ];
    fs.writeFileSync(this.configFile, lines.join("\n") + "\n");
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    this.writeConfig();
    // the privilege separation directory that Debian's sshd expects
    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    const child = spawn(SSHD, ["-D", "-e", "-f", this.configFile], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr!.on("data", (chunk) => (this.log += chunk));
    this.child = child;
    const deadline = Date.now() + 15000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}) at start: ${this.log}`);
      if (Date.now() > deadline) throw new Error(`sshd does not accept connections on ${this.port} after 15 s: ${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops sshd and every session it serves, as a bastion going down does. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    // each session runs in processes of its own (a monitor and the user's child): all of them go down
    const sessions: number[] = [];
    for (let queue = childrenOf(child.pid); queue.length; ) {
      const pid = queue.shift() as number;
      sessions.push(pid);
      queue.push(...childrenOf(pid));
    }
    for (const pid of sessions) {
      try {
        process.kill(pid, "SIGKILL");
      } catch (error) {
        // already gone
      }
    }
    child.kill("SIGTERM");
    await exited;
  }

  /** A bastion restart: down (with its sessions), then up again on the same port with the same host key. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** How many logins sshd accepted since it first started. */
  acceptedLogins(): number {
    return (this.log.match(/Accepted (publickey|password) for /g) ?? []).length;
  }
}
