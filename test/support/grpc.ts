import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

/** The repository's proto/ folder: POS vendors compile their stubs from it. */
export const PROTO_DIR = fileURLToPath(new URL("../../proto", import.meta.url));

/**
 * grpc-js stubs compiled at run time from proto/, as a POS vendor would:
 * camelCase fields, enums as their names, zero values present.
 */
export function loadGrpcStubs(address: string) {
  const def = protoLoader.loadSync(
    ["loyalty/v1/pos.proto", "loyalty/v1/admin.proto", "loyalty/v1/account.proto", "loyalty/v1/events.proto", "grpc/health/v1/health.proto"],
    { includeDirs: [PROTO_DIR], keepCase: false, longs: String, enums: String, defaults: true, oneofs: true },
  );
  const pkg = grpc.loadPackageDefinition(def) as any;
  const creds = grpc.credentials.createInsecure();
  const clients = {
    pos: new pkg.loyalty.v1.LoyaltyPos(address, creds) as grpc.Client,
    admin: new pkg.loyalty.v1.CustomerAdmin(address, creds) as grpc.Client,
    auth: new pkg.loyalty.v1.OwnerAuth(address, creds) as grpc.Client,
    settings: new pkg.loyalty.v1.BusinessSettings(address, creds) as grpc.Client,
    events: new pkg.loyalty.v1.EventService(address, creds) as grpc.Client,
    webhooks: new pkg.loyalty.v1.WebhookService(address, creds) as grpc.Client,
    health: new pkg.grpc.health.v1.Health(address, creds) as grpc.Client,
  };
  return {
    ...clients,
    close() {
      for (const c of Object.values(clients)) c.close();
    },
  };
}

/** Builds call metadata from plain key/value pairs. */
export function metadata(pairs: Record<string, string> = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(pairs)) md.set(k, v);
  return md;
}

/** The outcome of one unary call: the response or the status error, plus the response headers. */
export interface UnaryResult<T = any> {
  response?: T;
  error?: grpc.ServiceError;
  headers: grpc.Metadata;
}

/** Calls a unary method and never rejects: the test looks at `response` or `error`. */
export function call<T = any>(
  client: grpc.Client,
  method: string,
  request: object,
  md: Record<string, string> = {},
): Promise<UnaryResult<T>> {
  return new Promise((resolve) => {
    let headers = new grpc.Metadata();
    const fn = (client as any)[method];
    if (typeof fn !== "function") throw new Error(`no method ${method} on the stub`);
    const c = fn.call(client, request, metadata(md), { deadline: Date.now() + 15_000 }, (err: grpc.ServiceError | null, res: T) =>
      resolve(err ? { error: err, headers } : { response: res, headers }),
    );
    c.on("metadata", (m: grpc.Metadata) => {
      headers = m;
    });
  });
}

/** Calls a unary method and returns the response; throws with the status on an error. */
export async function ok<T = any>(client: grpc.Client, method: string, request: object, md: Record<string, string> = {}): Promise<T> {
  const r = await call<T>(client, method, request, md);
  if (r.error) throw new Error(`${method} failed: ${r.error.code} ${r.error.details}`);
  return r.response!;
}

/** Calls a unary method that must fail; returns `{code, details}` of the status. */
export async function fails(client: grpc.Client, method: string, request: object, md: Record<string, string> = {}) {
  const r = await call(client, method, request, md);
  if (!r.error) throw new Error(`${method} succeeded unexpectedly: ${JSON.stringify(r.response)}`);
  return { code: r.error.code, details: r.error.details };
}
