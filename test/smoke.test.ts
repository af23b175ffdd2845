import { afterAll, beforeAll, expect, test } from "vitest";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { LoyaltyPos } from "../gen/loyalty/v1/pos_pb.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { registerBusiness, rest, posAuth } from "./support/rest.js";

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

test("smoke: REST, gRPC and Connect on one port", async () => {
  const b = await registerBusiness(t.url);
  const r = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353123456789", amount: 25.5 }, headers: posAuth(b) });
  expect(r.body.pointsAwarded).toBe(25);
  const def = protoLoader.loadSync("loyalty/v1/pos.proto", { includeDirs: ["proto"], keepCase: false });
  const pkg = grpc.loadPackageDefinition(def) as any;
  const client = new pkg.loyalty.v1.LoyaltyPos(`127.0.0.1:${t.port}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata(); md.set("x-api-key", b.apiKey);
  const res: any = await new Promise((ok, ko) => client.GetBalance({ identifier: "+353123456789" }, md, (e: any, v: any) => (e ? ko(e) : ok(v))));
  expect(res.totalPoints).toBe(25);
  client.close();
  const connect = createClient(LoyaltyPos, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
  const bal = await connect.getBalance({ identifier: "+353123456789" }, { headers: { "x-api-key": b.apiKey } });
  expect(bal.totalPoints).toBe(25);
});
