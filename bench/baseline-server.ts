/**
 * The bench's REST yardstick: a minimal hand-written Fastify server doing
 * the POS work of Loyalty+ with the product repository's statements (one per
 * call, named prepared statements: `baseline-sql.ts`, shared with the gRPC
 * yardstick `baseline-grpc.ts`) on the same schema, and nothing else.
 *
 * Run as a separate process: `PORT=… DATABASE_URL=… BASELINE_KEYS=… node
 * --import tsx bench/baseline-server.ts`. `/v1/pos/checkin-tx` is the same
 * check-in as a five-statement transaction.
 */
import Fastify, { type FastifyReply } from "fastify";
import * as sql from "./baseline-sql.js";

const port = Number(process.env.PORT ?? 18090);
const app = Fastify({ logger: false });

const fail = (reply: FastifyReply, status: number, code: string, message: string) =>
  reply.code(status).send({ success: false, error: { code, message } });

app.get("/healthz", async () => ({ status: "ok" }));

app.post("/v1/pos/checkin", async (req, reply) => {
  const out = await sql.checkin(sql.businessOfKey(req.headers["x-api-key"]), req.body as sql.CheckinInput);
  return out ?? fail(reply, 404, "not_found", "customer not found");
});

app.post("/v1/pos/checkin-tx", async (req, reply) => {
  const out = await sql.checkinTx(sql.businessOfKey(req.headers["x-api-key"]), req.body as sql.CheckinInput);
  return out ?? fail(reply, 404, "not_found", "customer not found");
});

app.get("/v1/pos/balance/:identifier", async (req, reply) => {
  const { identifier } = req.params as { identifier: string };
  const out = await sql.balance(sql.businessOfKey(req.headers["x-api-key"]), identifier);
  return out ?? fail(reply, 404, "not_found", "customer not found");
});

app.get("/v1/pos/customer/:identifier", async (req, reply) => {
  const { identifier } = req.params as { identifier: string };
  const c = await sql.findCustomer(sql.businessOfKey(req.headers["x-api-key"]), identifier);
  if (!c) return fail(reply, 404, "not_found", "customer not found");
  return {
    customerId: c.id,
    name: c.name,
    phone: c.phone,
    status: c.status,
    totalPoints: c.total_points,
    rewardAvailable: c.total_points >= sql.REWARD_THRESHOLD,
    lifetimePoints: Number(c.lifetime_points),
  };
});

app.post("/v1/pos/redeem", async (req, reply) => {
  const out = await sql.redeem(sql.businessOfKey(req.headers["x-api-key"]), req.body as sql.RedeemInput);
  return out ?? fail(reply, 400, "failed_precondition", "insufficient points");
});

app.get("/v1/owner/customers", async (req) => sql.ownerList(req.query as Record<string, string | undefined>));

const shutdown = async () => {
  await app.close();
  await sql.closePool();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());

await app.listen({ port, host: "127.0.0.1" });
