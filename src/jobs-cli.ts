import { parseArgs } from "node:util";
import pino from "pino";
import { loadConfig } from "./config/config.js";
import { allJobs } from "./jobs/all-jobs.js";
import { createJobs } from "./jobs/jobs.js";
import { createDb } from "./persistence/db.js";
import { openDatabase } from "./persistence/open-database.js";

/**
 * `npm run jobs -- <job> [options]`: runs one job of src/jobs/ once, now,
 * in this process (outside pg-boss's queue; every job is safe to run beside
 * a scheduled run), prints its result as JSON and exits. Without a job name
 * it lists the jobs.
 */
const [name, ...rest] = process.argv.slice(3);
const job = allJobs.find((j) => j.name === name);
if (job === undefined) {
  if (name !== undefined) console.error(`unknown job "${name}"\n`);
  console.error("usage: npm run jobs -- <job> [options]\n\njobs:");
  for (const j of allJobs) console.error(`  ${j.name.padEnd(28)} ${j.description}${j.schedule ? ` (scheduled: ${j.schedule.cron})` : ""}`);
  process.exit(name === undefined ? 0 : 2);
}
let data: object;
try {
  const { values } = parseArgs({ args: rest, options: job.cli?.options ?? {}, strict: true, allowPositionals: false });
  data = job.cli ? job.cli.data(values as Record<string, string | boolean | undefined>) : {};
} catch (err) {
  console.error(`${job.name}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}

const config = loadConfig();
const log = pino({ level: config.logLevel });
const database = await openDatabase(config, (msg) => log.info(msg));
const db = createDb(database.orm);
let code = 0;
try {
  const result = await createJobs({ url: "", db, log, jobs: allJobs }).runNow(job.name, data);
  console.log(JSON.stringify(result ?? null));
} catch (err) {
  log.error({ err }, `${job.name} failed`);
  code = 1;
} finally {
  await db.close();
  await database.close();
}
process.exit(code);
