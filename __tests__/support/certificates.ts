import fs from "fs";
import os from "os";
import path from "path";
import { execFileSync } from "child_process";

/**
 * Throw-away certificate authorities and server certificates for the TLS tests, made with the
 * `openssl` command line in a temp dir (EC P-256 keys: quick to make). Call `cleanup()` when done.
 */
export interface Authority {
  name: string;
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface ServerCertificate {
  cert: string;
  key: string;
}

const OPENSSL = fs.existsSync("/usr/bin/openssl") ? "/usr/bin/openssl" : "openssl";

export class Certificates {
  readonly dir: string;
  private count = 0;

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpp-certs-"));
    fs.writeFileSync(this.file("empty.cnf"), "");
  }

  private openssl(args: string[]): void {
    // a config of our own: no dependency on the machine's openssl.cnf
    execFileSync(OPENSSL, args, { cwd: this.dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, OPENSSL_CONF: this.file("empty.cnf") } });
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  private write(name: string, contents: string): string {
    const file = this.file(name);
    fs.writeFileSync(file, contents);
    return file;
  }

  private newKey(name: string): string {
    const keyFile = this.file(name);
    this.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile]);
    return keyFile;
  }

  /** A self-signed CA. */
  authority(commonName: string): Authority {
    const id = `ca${++this.count}`;
    const keyFile = this.newKey(`${id}.key`);
    const certFile = this.file(`${id}.crt`);
    const ext = this.write(
      `${id}.ext`,
      [
        "[req]",
        "distinguished_name = dn",
        "x509_extensions = v3_ca",
        "prompt = no",
        "[dn]",
        `CN = ${commonName}`,
        "[v3_ca]",
        "basicConstraints = critical, CA:TRUE",
        "keyUsage = critical, keyCertSign, cRLSign",
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid:always",
        "",
      ].join("\n")
    );
    this.openssl(["req", "-new", "-x509", "-config", ext, "-key", keyFile, "-out", certFile, "-days", "2", "-sha256"]);
    return { name: commonName, cert: fs.readFileSync(certFile, "utf8"), key: fs.readFileSync(keyFile, "utf8"), certFile, keyFile };
  }

  /** A server certificate signed by `ca`, valid for the given DNS names and IP addresses. */
  server(ca: Authority, names: { dns?: string[]; ip?: string[] }): ServerCertificate {
    const id = `server${++this.count}`;
    const keyFile = this.newKey(`${id}.key`);
    const csrFile = this.file(`${id}.csr`);
    const certFile = this.file(`${id}.crt`);
    const altNames = [...(names.dns ?? []).map((n) => `DNS:${n}`), ...(names.ip ?? []).map((n) => `IP:${n}`)];
    const commonName = names.dns?.[0] ?? names.ip?.[0] ?? "server";
    const conf = this.write(
      `${id}.cnf`,
      ["[req]", "distinguished_name = dn", "prompt = no", "[dn]", `CN = ${commonName}`, ""].join("\n")
    );
    const ext = this.write(
      `${id}.ext`,
      [
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature, keyEncipherment",
        "extendedKeyUsage = serverAuth",
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
        `subjectAltName = ${altNames.join(", ")}`,
        "",
      ].join("\n")
    );
    this.openssl(["req", "-new", "-config", conf, "-key", keyFile, "-out", csrFile]);
    this.openssl([
      "x509", "-req", "-in", csrFile, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-CAcreateserial",
      "-out", certFile, "-days", "2", "-sha256", "-extfile", ext,
    ]);
    return { cert: fs.readFileSync(certFile, "utf8"), key: fs.readFileSync(keyFile, "utf8") };
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
