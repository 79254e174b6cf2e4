import { generateKeyPairSync } from "crypto";
import { format, inspect } from "util";
import { parseSpec } from "../src/cloudquery/spec";
import { openConnection, parseSettings, PostgresConnection, PostgresSettings } from "../src/postgres";
import { freshDatabase } from "./support/db";

/**
 * Secrets are not enumerable, as pg-pool hides `password` and `ssl.key`: logging a connection or its
 * settings (console.log, util.inspect at any depth), serializing them (JSON.stringify), spreading or
 * listing their keys shows no password, TLS key, SSH key or passphrase, and whatever needs them still
 * reads them.
 */

const PASSWORD = "db-Secr3t-password-7";
const PASSPHRASE = "a long SSH passphrase 42";
const SSH_PASSWORD = "bastion-Secr3t-9";

/** An encrypted legacy PEM key (ssh2 reads it) and a TLS client key, generated here. */
const sshKey = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs1", format: "pem", cipher: "aes-128-cbc", passphrase: PASSPHRASE },
});
const tlsKey = generateKeyPairSync("ec", {
  namedCurve: "prime256v1",
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
});

/** A base64 line from the middle of each key: what would show if the key's text were printed. */
const keyBodies = [sshKey.privateKey, tlsKey.privateKey].map((pem) => pem.split("\n").filter((line) => /^[A-Za-z0-9+/=]{40,}$/.test(line))[1]);
const SECRETS = [PASSWORD, PASSPHRASE, SSH_PASSWORD, ...keyBodies, "PRIVATE KEY"];

const secretOptions = {
  password: PASSWORD,
  // a PEM public key stands in for the certificate: only the key is a secret
  ssl_cert: tlsKey.publicKey,
  ssl_key: tlsKey.privateKey,
  ssh_host: "bastion.invalid",
  ssh_user: "tunnel",
  ssh_private_key: sshKey.privateKey,
  ssh_passphrase: PASSPHRASE,
  ssh_password: SSH_PASSWORD,
};

/**
 * Every way a value is commonly shown: console.log's format, a deep inspect, JSON of a spread copy
 * and its keys at every level. (Not `%o` / `showHidden`, which ask for non-enumerable properties.)
 */
function shown(value: object): string {
  const keys: string[] = [];
  const walk = (v: unknown, depth: number) => {
    if (v === null || typeof v !== "object" || depth > 3) return;
    for (const key of Object.keys(v)) {
      keys.push(key);
      walk((v as Record<string, unknown>)[key], depth + 1);
    }
  };
  walk(value, 0);
  return [format(value), inspect(value, { depth: Infinity }), JSON.stringify({ ...value }), keys.join(",")].join("\n");
}

function expectNoSecret(value: object): void {
  const text = shown(value);
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

function expectSecretsReadable(settings: PostgresSettings): void {
  expect(settings.password).toBe(PASSWORD);
  expect(settings.key).toContain("-----BEGIN PRIVATE KEY-----");
  expect(settings.ssh?.privateKey).toContain("-----BEGIN RSA PRIVATE KEY-----");
  expect(settings.ssh?.passphrase).toBe(PASSPHRASE);
  expect(settings.ssh?.password).toBe(SSH_PASSWORD);
}

describe("secrets are never shown by logging or serializing", () => {
  test("the App's settings: no password, TLS key, SSH key, passphrase or SSH password, yet each is there", () => {
    const settings = parseSettings({ database: "shop", ...secretOptions });
    expectNoSecret(settings);
    expectSecretsReadable(settings);
  });

  test("the CloudQuery spec's settings (read under the spec's wording): the same", () => {
    const spec = parseSpec(JSON.stringify({ database: "shop", user: "reader", ...secretOptions, ssh_port: 2222 }));
    expect(spec.settings.optionLabel).toBe("spec field");
    expectNoSecret(spec.settings);
    expectNoSecret(spec);
    expectSecretsReadable(spec.settings);
  });

  test("a connection string's password is hidden as well", () => {
    const spec = parseSpec(JSON.stringify({ connection_string: `postgresql://reader:${PASSWORD}@db.invalid:5432/shop` }));
    expectNoSecret(spec);
    expect(spec.settings.password).toBe(PASSWORD);
  });

  test("a spec that is not valid JSON is refused without echoing its text (a password typed unquoted)", () => {
    const messageOf = (text: string): string => {
      try {
        parseSpec(text);
      } catch (error) {
        return (error as Error).message;
      }
      return "parsed";
    };
    // the parser quotes the text around an unexpected token
    expect(messageOf(`{"database": "shop", "password": ${PASSWORD}}`)).toBe("the spec is not valid JSON");
    expect(messageOf(`{"password": "${PASSWORD}",}`)).toBe("the spec is not valid JSON (at character 37)");
  });

  test("a connection with every secret (its SSH tunnel not yet open) shows none", async () => {
    const connection = openConnection({ database: "shop", ...secretOptions });
    try {
      expect(connection.tunnel).toBeDefined();
      expectNoSecret(connection);
      expectSecretsReadable(connection.settings);
    } finally {
      await connection.close();
    }
  });

  test("a connection that has talked to the server (pool, clients) shows no password", async () => {
    const database = await freshDatabase("gpp_secrets");
    const password = database.appOptions.password;
    expect(password.length).toBeGreaterThan(3);
    const connection: PostgresConnection = openConnection(database.appOptions);
    try {
      expect(shown(connection)).not.toContain(password);
      const result = await connection.query("SELECT current_user AS who");
      expect(result.rows[0].who).toBe(database.appOptions.user);
      expect(format(connection) + inspect(connection, { depth: 8 })).not.toContain(password);
      expect(connection.settings.password).toBe(password);
    } finally {
      await connection.close();
    }
  });
});
