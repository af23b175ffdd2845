import type { MigrationObject } from "@mikro-orm/core";
import { Migration20261125172641 } from "./Migration20261125172641.js";
import { Migration20261125172700 } from "./Migration20261125172700.js";
import { Migration20261125174500 } from "./Migration20261125174500.js";
import { Migration20261125202000 } from "./Migration20261125202000.js";
import { Migration20261201120000 } from "./Migration20261201120000.js";
import { Migration20261201210000 } from "./Migration20261201210000.js";
import { Migration20261201220000 } from "./Migration20261201220000.js";
import { Migration20261202090000 } from "./Migration20261202090000.js";
import { Migration20261202100000 } from "./Migration20261202100000.js";
import { Migration20261202120000 } from "./Migration20261202120000.js";
import { Migration20261203000000 } from "./Migration20261203000000.js";
import { Migration20261204000000 } from "./Migration20261204000000.js";
import { Migration20261208000000 } from "./Migration20261208000000.js";
import { Migration20261209000000 } from "./Migration20261209000000.js";

/**
 * Every migration, in order; new ones are appended here. Listing classes
 * (rather than a folder to scan) lets tsx, vitest and compiled code run them.
 */
export const migrationsList: MigrationObject[] = [
  { name: "Migration20261125172641", class: Migration20261125172641 },
  { name: "Migration20261125172700", class: Migration20261125172700 },
  { name: "Migration20261125174500", class: Migration20261125174500 },
  { name: "Migration20261125202000", class: Migration20261125202000 },
  { name: "Migration20261201120000", class: Migration20261201120000 },
  { name: "Migration20261201210000", class: Migration20261201210000 },
  { name: "Migration20261201220000", class: Migration20261201220000 },
  { name: "Migration20261202090000", class: Migration20261202090000 },
  { name: "Migration20261202100000", class: Migration20261202100000 },
  { name: "Migration20261202120000", class: Migration20261202120000 },
  { name: "Migration20261203000000", class: Migration20261203000000 },
  { name: "Migration20261204000000", class: Migration20261204000000 },
  { name: "Migration20261208000000", class: Migration20261208000000 },
  { name: "Migration20261209000000", class: Migration20261209000000 },
];
