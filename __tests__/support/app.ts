import { buildPostgresApp } from "../../src/app/postgresApp";

/** The App's own connect, test and disconnect, as the core calls them. */
export async function testApp(app: ReturnType<typeof buildPostgresApp>, appOptions: Record<string, string>) {
  const connection = await app.methods.connect({ appOptions });
  try {
    return await app.methods.test({ appOptions, connection });
  } finally {
    await app.methods.disconnect({ appOptions, connection });
  }
}
