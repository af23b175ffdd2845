import { loadConfig } from "./config/config.js";
import { openDatabase } from "./persistence/open-database.js";

/** `npm run migrate`: applies pending migrations and exits. */
const database = await openDatabase(loadConfig());
console.log(database.applied.length ? `applied: ${database.applied.join(", ")}` : "no pending migrations");
await database.close();
