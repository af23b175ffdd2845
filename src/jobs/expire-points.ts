import { asOfDate } from "../domain/expiry.js";
import { createLotRepository } from "../persistence/lot-repository.js";
import { runExpiry } from "../services/expiry-run.js";
import { defineJob } from "./jobs.js";

/**
 * Point expiry (contract §10): every hour, each business that keeps lots
 * whose local day has no finished run yet gets the run of that day (so once
 * a day, in the first hour after its local midnight). `npm run jobs --
 * expire-points [--as-of YYYY-MM-DD]` runs it now: with `--as-of`, the run
 * of that day for every business, finished or not (back-fills, tests).
 * Safe twice and on any number of instances: see services/expiry-run.ts.
 */
export const expirePoints = defineJob<{ asOf?: string }>({
  name: "expire-points",
  description: "expire the points past their date (each business once a day after its local midnight; --as-of YYYY-MM-DD: the run of that day)",
  schedule: { cron: "0 * * * *" },
  // A missed hour is caught up by the next one; a run cut short by its time is picked up where the lots say.
  queue: { retryLimit: 0, expireInSeconds: 3600 },
  // An hourly job: a worker that looks every 30 s is soon enough and costs a sixth of the default polls.
  pollingIntervalSeconds: 30,
  cli: {
    options: { "as-of": { type: "string" } },
    data: (values) => {
      const asOf = values["as-of"];
      if (asOf === undefined) return {};
      if (typeof asOf !== "string") throw new Error("--as-of must be a date YYYY-MM-DD");
      return { asOf: asOfDate(asOf) };
    },
  },
  async run(data, ctx) {
    const asOf = data.asOf === undefined ? undefined : asOfDate(data.asOf);
    return runExpiry(
      { db: ctx.db, lots: createLotRepository(ctx.db) },
      { asOf, now: ctx.now(), skipFinished: asOf === undefined, signal: ctx.signal, log: ctx.log },
    );
  },
});
