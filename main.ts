/**
 * The process entry (`node dist/main.js`, built from this file by `tsc`).
 * It imports nothing until it has checked the runtime, so that an older Node
 * (the Node 20 a system may still carry) stops here with a message naming
 * the version needed instead of failing on the first module of the stack
 * that needs Node 22 or later.
 *
 *   node dist/main.js           the service (src/main.ts)
 *   node dist/main.js migrate   apply pending migrations and exit (src/migrate-cli.ts)
 *   node dist/main.js jobs …    run one background job now and exit (src/jobs-cli.ts)
 */
const REQUIRED_MAJOR = 24;
const major = Number(process.versions.node.split(".")[0]);

if (!(major >= REQUIRED_MAJOR)) {
  console.error(
    `Loyalty+ needs Node.js ${REQUIRED_MAJOR} or later; this is ${process.version} (${process.execPath}). ` +
      "Run it through npm (`npm start`, `npm run migrate`): `npm ci` installs Node 24 into node_modules/.bin, " +
      "which npm scripts run first; or install Node 24 LTS (see .nvmrc).",
  );
  process.exit(1);
}

// V8's code cache on disk (Node 22.1+; under the system's temp folder, keyed
// by Node's version): a warm start compiles the stack's modules once, not
// at every start. A folder that cannot be written only turns it off.
(await import("node:module")).enableCompileCache?.();

if (process.argv[2] === "migrate") await import("./src/migrate-cli.js");
else if (process.argv[2] === "jobs") await import("./src/jobs-cli.js");
else await import("./src/main.js");
