import { loadConfig } from "./config/config.js";
import { startEmbeddedPostgres } from "./infrastructure/embedded-postgres.js";
import { createOrm, migrate } from "./persistence/orm.js";

/** `npm run migrate`: applies pending migrations and exits. */
const config = loadConfig();
const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres({ dataDir: config.dataDir });
const orm = await createOrm(config.databaseUrl ?? embedded!.url);
try {
  const applied = await migrate(orm);
  console.log(applied.length ? `applied: ${applied.join(", ")}` : "no pending migrations");
} finally {
  await orm.close();
  await embedded?.stop();
}
