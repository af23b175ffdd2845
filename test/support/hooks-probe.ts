/**
 * Run as its own process by test/transaction-scope.test.ts (vitest's workers
 * keep async hooks on for themselves): starts the real app, drives each kind
 * of write through it, and after each prints one JSON line saying whether
 * any async hook is on in this process and how the pg transaction store is.
 */
import { executionAsyncResource } from "node:async_hooks";
import { transactionStore } from "../../src/persistence/db.js";
import { startTestApp } from "./test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest } from "./rest.js";

/** With a promise hook on, a continuation runs with its promise as the resource. */
async function hooksOn(): Promise<boolean> {
  await null;
  return executionAsyncResource() instanceof Promise;
}

async function report(phase: string, status?: number) {
  console.log(JSON.stringify({ phase, status, hooks: await hooksOn(), ...transactionStore() }));
}

const t = await startTestApp();
try {
  await report("migrated and started");
  const b = await registerBusiness(t.url);
  await report("registered, API key created");
  const store = await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "Probe St" }, headers: ownerAuth(b) });
  await report("store created", store.status);
  const program = await rest(t.url, "PATCH", "/v1/owner/program", { body: { rewardTitle: "Probe" }, headers: { ...ownerAuth(b), "idempotency-key": "p1" } });
  await report("program changed with a key", program.status);
  const checkin = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353851230000", amount: 5 }, headers: { ...posAuth(b), "idempotency-key": "c1" } });
  await report("idempotent check-in", checkin.status);
  const created = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Probe", phone: "+353851230001", initialPoints: 5 }, headers: ownerAuth(b) });
  await report("customer created (db.tx)", created.status);
  const login = await rest(t.url, "POST", "/v1/auth/login", { body: { email: b.email, password: b.password } });
  const keys = await rest(t.url, "GET", "/v1/owner/api-keys", { headers: ownerAuth(b) });
  await report("logged in, keys listed (MikroORM reads)", Math.max(login.status, keys.status));
} finally {
  await t.close();
}
process.exit(0);
