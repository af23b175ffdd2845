import { MikroORM, type Options } from "@mikro-orm/postgresql";
import { Migrator } from "@mikro-orm/migrations";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { allEntities } from "./entities/index.js";
import { migrationsList } from "./migrations/index.js";

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The MikroORM options of Loyalty+. Migrations are listed as classes (not
 * loaded from a folder) so that tsx, tsc output and vitest all run them.
 */
export function createOrmOptions(clientUrl: string, poolMax = 32): Options {
  return {
    clientUrl,
    entities: allEntities,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: false },
    // The instance's one pool: MikroORM's reads and migrations, and every
    // SQL statement of db.ts (which borrows it). pg-boss keeps 2 of its own.
    // 32 (the two pools it replaced were 16 + 10): a transaction that
    // waits on a customer's row lock holds its connection, and at 16 and 24 sixty
    // concurrent redeems, refunds and voids of three customers waited over
    // the 3 s connection timeout (503) on this 2-core machine.
    pool: { min: 0, max: poolMax, idleTimeoutMillis: 30_000 },
    // pg Pool options (MikroORM 7 runs on kysely's pg dialect, no knex);
    // a dead pooled connection is reported through `logger` below, i.e. not
    // at all: the failing request reports it (classified, without SQL).
    driverOptions: { connectionTimeoutMillis: 3_000, statement_timeout: 15_000 },
    migrations: {
      path: join(here, "migrations"),
      pathTs: join(here, "migrations"),
      tableName: "mikro_orm_migrations",
      transactional: true,
      snapshot: true,
      snapshotName: ".snapshot-loyalty",
      // The snapshot is written by `migration:create` only: MikroORM 7 would
      // rewrite it from the database after every run that applied something,
      // i.e. write into the code folder at run time (dist/ in production).
      snapshotOnMigrate: false,
      migrationsList,
    },
    debug: false,
    // Migrations are reported by the caller through pino; MikroORM's own
    // console logger would print coloured, unstructured lines.
    logger: () => undefined,
  };
}

/** Connects the ORM; the caller closes it. */
export async function createOrm(clientUrl: string, poolMax?: number): Promise<MikroORM> {
  return MikroORM.init(createOrmOptions(clientUrl, poolMax));
}

/** Applies pending migrations (idempotent; several instances may race safely). */
export async function migrate(orm: MikroORM): Promise<string[]> {
  // One instance migrates at a time: the others wait on this advisory lock
  // and then find nothing pending.
  // A connection-level transaction: migrations are SQL, there is nothing for
  // an EntityManager to flush.
  const connection = orm.em.getConnection();
  return connection.transactional(async (trx) => {
    await connection.execute("select pg_advisory_xact_lock(7310001)", [], "run", trx);
    const done = await orm.migrator.up({ transaction: trx });
    return done.map((m) => m.name);
  });
}
