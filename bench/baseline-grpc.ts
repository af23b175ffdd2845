/**
 * The bench's gRPC yardstick: a plain `@grpc/grpc-js` server (the proto
 * loaded with `@grpc/proto-loader`, as grpc-js's own examples do: pos-proto.ts) serving
 * LoyaltyPos's Checkin, GetBalance, GetCustomer and Redeem with the same
 * statements as the REST yardstick (`baseline-sql.ts`: one per call, named
 * prepared statements). The API key is read from the `x-api-key` metadata
 * and mapped through the static BASELINE_KEYS; nothing else is checked.
 *
 * Run as a separate process: `PORT=… DATABASE_URL=… BASELINE_KEYS=… node
 * --import tsx bench/baseline-grpc.ts`. It also answers GET /healthz on
 * HEALTH_PORT (plain HTTP, default PORT+1), for the bench's readiness poll.
 */
import http from "node:http";
import * as grpc from "@grpc/grpc-js";
import * as sql from "./baseline-sql.js";
import { loyaltyPos } from "./pos-proto.js";

const port = Number(process.env.PORT ?? 18091);

const service = loyaltyPos().service;

const STATUS: Record<string, string> = { ACTIVE: "CUSTOMER_STATUS_ACTIVE", BLOCKED: "CUSTOMER_STATUS_BLOCKED" };

type Call = grpc.ServerUnaryCall<any, any>;
type Callback = grpc.sendUnaryData<any>;

/** A unary handler: the business from the metadata, the answer or NOT_FOUND / FAILED_PRECONDITION. */
const unary =
  (work: (businessId: string, req: any) => Promise<unknown>, missing: [grpc.status, string] = [grpc.status.NOT_FOUND, "customer not found"]) =>
  (call: Call, callback: Callback) => {
    const businessId = sql.businessOfKey(call.metadata.get("x-api-key")[0]);
    work(businessId, call.request).then(
      (out) => (out ? callback(null, out) : callback({ code: missing[0], details: missing[1] })),
      (err: Error) => callback({ code: grpc.status.INTERNAL, details: err.message }),
    );
  };

const handlers: grpc.UntypedServiceImplementation = {
  Checkin: unary((b, req) => sql.checkin(b, req)),
  GetBalance: unary((b, req) => sql.balance(b, req.identifier)),
  GetCustomer: unary(async (b, req) => {
    const c = await sql.findCustomer(b, req.identifier);
    return (
      c && {
        customerId: c.id,
        name: c.name,
        phone: c.phone,
        status: STATUS[c.status],
        totalPoints: c.total_points,
        rewardAvailable: c.total_points >= sql.REWARD_THRESHOLD,
        lifetimePoints: Number(c.lifetime_points),
      }
    );
  }),
  Redeem: unary((b, req) => sql.redeem(b, req), [grpc.status.FAILED_PRECONDITION, "insufficient points"]),
};
// Only the POS paths the bench loads; every other method is UNIMPLEMENTED.
const implemented = Object.fromEntries(Object.keys(service).map((name) => [name, handlers[name] ?? ((_c: Call, cb: Callback) => cb({ code: grpc.status.UNIMPLEMENTED }))]));

const server = new grpc.Server();
server.addService(service, implemented);
await new Promise<void>((res, rej) =>
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? rej(err) : res())),
);
const health = http.createServer((_req, res) => res.end('{"status":"ok"}')).listen(Number(process.env.HEALTH_PORT ?? port + 1), "127.0.0.1");

const shutdown = () => {
  health.close();
  server.tryShutdown(() => void sql.closePool().then(() => process.exit(0)));
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
