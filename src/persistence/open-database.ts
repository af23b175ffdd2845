import type { MikroORM } from "@mikro-orm/postgresql";
import type { Config } from "../config/config.js";
import { startEmbeddedPostgres } from "../dev/embedded-postgres/embedded-postgres.js";
import { createOrm, migrate } from "./orm.js";

/** A connected, migrated database, and how to let go of it. */
export interface OpenDatabase {
  orm: MikroORM;
  /** Migrations this call applied. */
  applied: string[];
  /** Closes the ORM, then stops the embedded PostgreSQL if one was started. */
  close(): Promise<void>;
}

/**
 * Connects to DATABASE_URL, or starts the embedded PostgreSQL under the data
 * folder when it is not set (contract §7), and applies pending migrations:
 * what both `npm start` and `npm run migrate` begin with.
 */
export async function openDatabase(config: Config, log: (msg: string) => void = () => undefined): Promise<OpenDatabase> {
  let url = config.databaseUrl;
  const embedded = url ? undefined : await startEmbeddedPostgres({ dataDir: config.dataDir, log });
  if (embedded) {
    url = embedded.url;
    log(`DATABASE_URL not set: using the embedded PostgreSQL under ${config.dataDir}`);
  }
  const orm = await createOrm(url!);
  try {
    const applied = await migrate(orm);
    return {
      orm,
      applied,
      async close() {
        await orm.close();
        await embedded?.stop();
      },
    };
  } catch (err) {
    await orm.close();
    await embedded?.stop();
    throw err;
  }
}
