import { startTestApp } from "./support/test-app.js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { FastifyInstance } from "fastify";
import { fromBinary, create, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  ServerReflection,
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
} from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1Alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { loadConfig } from "../src/config/config.js";

const run = promisify(execFile);
const BUF = new URL("../node_modules/.bin/buf", import.meta.url).pathname;

/**
 * The real application, which registers reflection with its services.
 * The services need no database to be listed; Health reports the stubbed
 * database as up.
 */
async function startServer(): Promise<{ app: FastifyInstance; url: string; close(): Promise<void> }> {
  // The real application (real PostgreSQL and Redis); reflection is on by
  // default outside production.
  const t = await startTestApp();
  return { app: t.app, url: t.url, close: () => t.close() };
}

async function buf(...args: string[]): Promise<string> {
  const { stdout } = await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { timeout: 45_000 });
  return stdout;
}

let server: { app: FastifyInstance; url: string; close(): Promise<void> };
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
});

describe("buf curl through server reflection (no proto files)", { timeout: 120_000 }, () => {
  test("lists the services and methods (grpc.reflection.v1)", async () => {
    const services = (await buf("--list-services", server.url)).trim().split("\n");
    expect(services).toEqual(
      expect.arrayContaining([
        "loyalty.v1.LoyaltyPos",
        "loyalty.v1.CustomerAdmin",
        "loyalty.v1.OwnerAuth",
        "loyalty.v1.BusinessSettings",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]),
    );
    const methods = (await buf("--list-methods", server.url)).trim().split("\n");
    expect(methods).toEqual(
      expect.arrayContaining([
        "loyalty.v1.LoyaltyPos/Checkin",
        "loyalty.v1.LoyaltyPos/GetCustomer",
        "loyalty.v1.LoyaltyPos/GetBalance",
        "loyalty.v1.LoyaltyPos/Redeem",
        "loyalty.v1.CustomerAdmin/CreateCustomer",
        "loyalty.v1.CustomerAdmin/ListCustomers",
        "loyalty.v1.CustomerAdmin/GetCustomer",
        "loyalty.v1.CustomerAdmin/UpdateCustomer",
        "loyalty.v1.CustomerAdmin/AdjustPoints",
        "loyalty.v1.CustomerAdmin/DeleteCustomer",
        "grpc.health.v1.Health/Check",
      ]),
    );
  });

  test("calls a method described only by reflection", async () => {
    const out = await buf("-d", "{}", `${server.url}/grpc.health.v1.Health/Check`);
    expect(JSON.parse(out)).toEqual({ status: "SERVING" });
    const one = await buf("-d", '{"service": "loyalty.v1.LoyaltyPos"}', `${server.url}/grpc.health.v1.Health/Check`);
    expect(JSON.parse(one)).toEqual({ status: "SERVING" });
  });

  test("works over grpc.reflection.v1alpha too", async () => {
    const methods = await buf("--reflect-protocol", "grpc-v1alpha", "--list-methods", server.url);
    expect(methods).toContain("loyalty.v1.LoyaltyPos/Checkin");
    expect(methods).toContain("loyalty.v1.CustomerAdmin/ListCustomers");
    const out = await buf("--reflect-protocol", "grpc-v1alpha", "-d", "{}", `${server.url}/grpc.health.v1.Health/Check`);
    expect(JSON.parse(out)).toEqual({ status: "SERVING" });
  });

  test("describes message types with their fields", async () => {
    // Calling with a field the schema lacks fails in buf itself: the schema
    // really came from reflection.
    await expect(buf("-d", '{"noSuchField": 1}', `${server.url}/grpc.health.v1.Health/Check`)).rejects.toThrow(/noSuchField|unknown field/i);
  });
});

describe("the ServerReflectionInfo stream", () => {
  /** Sends the requests on one stream and collects the answers. */
  async function ask(requests: MessageInitShape<typeof ServerReflectionRequestSchema>[], version: "v1" | "v1alpha" = "v1"): Promise<ServerReflectionResponse[]> {
    const transport = createGrpcTransport({ baseUrl: server.url });
    const client = createClient(version === "v1" ? ServerReflection : (ServerReflectionV1Alpha as unknown as typeof ServerReflection), transport);
    async function* input() {
      for (const r of requests) yield create(ServerReflectionRequestSchema, r);
    }
    const out: ServerReflectionResponse[] = [];
    for await (const res of client.serverReflectionInfo(input())) out.push(res);
    return out;
  }

  const fileNames = (res: ServerReflectionResponse) => {
    expect(res.messageResponse.case).toBe("fileDescriptorResponse");
    const files = res.messageResponse.case === "fileDescriptorResponse" ? res.messageResponse.value.fileDescriptorProto : [];
    return files.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
  };

  test("list_services lists every registered service", async () => {
    const [res] = await ask([{ host: "localhost", messageRequest: { case: "listServices", value: "" } }]);
    expect(res!.validHost).toBe("localhost");
    expect(res!.originalRequest?.messageRequest.case).toBe("listServices");
    expect(res!.messageResponse.case).toBe("listServicesResponse");
    const names = res!.messageResponse.case === "listServicesResponse" ? res!.messageResponse.value.service.map((s) => s.name) : [];
    expect(names.sort()).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "loyalty.v1.BusinessSettings",
      "loyalty.v1.CustomerAdmin",
      "loyalty.v1.EventService",
      "loyalty.v1.LoyaltyPos",
      "loyalty.v1.OwnerAuth",
      "loyalty.v1.WebhookService",
    ]);
  });

  test("file_containing_symbol answers the file with its dependencies, each file once per stream", async () => {
    const [svc, method, message, nested] = await ask([
      { messageRequest: { case: "fileContainingSymbol", value: "loyalty.v1.LoyaltyPos" } },
      { messageRequest: { case: "fileContainingSymbol", value: "loyalty.v1.CustomerAdmin.ListCustomers" } },
      { messageRequest: { case: "fileContainingSymbol", value: "loyalty.v1.Customer" } },
      { messageRequest: { case: "fileContainingSymbol", value: "grpc.health.v1.HealthCheckResponse.ServingStatus" } },
    ]);
    const first = fileNames(svc!);
    expect(first[0]).toBe("loyalty/v1/pos.proto");
    expect(first).toEqual(
      expect.arrayContaining([
        "loyalty/v1/types.proto",
        "google/api/annotations.proto",
        "google/api/http.proto",
        "google/protobuf/descriptor.proto",
        "google/protobuf/timestamp.proto",
      ]),
    );
    expect(new Set(first).size).toBe(first.length);
    // Already sent on this stream: only the requested file again, and admin.proto's own new dependencies (none).
    expect(fileNames(method!)).toEqual(["loyalty/v1/admin.proto"]);
    expect(fileNames(message!)).toEqual(["loyalty/v1/types.proto"]);
    expect(fileNames(nested!)).toEqual(["grpc/health/v1/health.proto"]);
  });

  test("the descriptors are complete: messages, fields, services and the http annotations", async () => {
    const [res] = await ask([{ messageRequest: { case: "fileByFilename", value: "loyalty/v1/pos.proto" } }]);
    const files = res!.messageResponse.case === "fileDescriptorResponse" ? res!.messageResponse.value.fileDescriptorProto : [];
    const pos = fromBinary(FileDescriptorProtoSchema, files[0]!);
    expect(pos.package).toBe("loyalty.v1");
    expect(pos.dependency).toEqual(["google/api/annotations.proto", "loyalty/v1/options.proto", "loyalty/v1/types.proto"]);
    expect(pos.service.map((s) => s.name)).toEqual(["LoyaltyPos"]);
    expect(pos.service[0]!.method.map((m) => m.name)).toEqual(["Checkin", "GetCustomer", "GetBalance", "Redeem", "PreviewCheckin", "RefundCheckin", "VoidRedemption"]);
    const checkin = pos.messageType.find((m) => m.name === "CheckinRequest")!;
    expect(checkin.field.map((f) => f.name)).toEqual(["phone", "customer_id", "store_id", "amount", "units", "order_ref"]);
    // The google.api.http option travels as an extension of MethodOptions.
    expect(pos.service[0]!.method[0]!.options?.$unknown?.some((u) => u.no === 72295728)).toBe(true);
    // So does who may call: (loyalty.v1.default_auth) on the service, read-only methods marked.
    expect(pos.service[0]!.options?.$unknown?.some((u) => u.no === 50301)).toBe(true);
    expect(pos.service[0]!.method.filter((m) => m.options?.idempotencyLevel === 1).map((m) => m.name)).toEqual(["GetCustomer", "GetBalance", "PreviewCheckin"]);
  });

  test("file_by_filename, file_containing_extension and all_extension_numbers_of_type", async () => {
    const [byName, ext, numbers] = await ask([
      { messageRequest: { case: "fileByFilename", value: "grpc/health/v1/health.proto" } },
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 72295728 },
        },
      },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" } },
    ]);
    expect(fileNames(byName!)).toEqual(["grpc/health/v1/health.proto"]);
    expect(fileNames(ext!)[0]).toBe("google/api/annotations.proto");
    expect(numbers!.messageResponse.case).toBe("allExtensionNumbersResponse");
    if (numbers!.messageResponse.case === "allExtensionNumbersResponse") {
      expect(numbers!.messageResponse.value.baseTypeName).toBe("google.protobuf.MethodOptions");
      expect(numbers!.messageResponse.value.extensionNumber).toContain(72295728);
    }
  });

  test("unknown symbols, files and extensions answer error_response NOT_FOUND and the stream goes on", async () => {
    const answers = await ask([
      { messageRequest: { case: "fileContainingSymbol", value: "loyalty.v1.NoSuchService" } },
      { messageRequest: { case: "fileByFilename", value: "no/such.proto" } },
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 1 },
        },
      },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "no.Such" } },
      { messageRequest: { case: "listServices", value: "" } },
    ]);
    for (const res of answers.slice(0, 4)) {
      expect(res.messageResponse.case).toBe("errorResponse");
      if (res.messageResponse.case === "errorResponse") {
        expect(res.messageResponse.value.errorCode).toBe(5); // NOT_FOUND
        expect(res.messageResponse.value.errorMessage).toMatch(/not found/);
      }
    }
    expect(answers[4]!.messageResponse.case).toBe("listServicesResponse");
  });

  test("v1alpha answers the same over its own service", async () => {
    const [res] = await ask([{ messageRequest: { case: "fileContainingSymbol", value: "loyalty.v1.CustomerAdmin" } }], "v1alpha");
    expect(fileNames(res!)[0]).toBe("loyalty/v1/admin.proto");
  });
});

describe("configuration", () => {
  const secret = { JWT_SECRET: "test-secret-that-is-at-least-32-bytes-long!!" };
  test("reflection is on by default outside production, off in production unless GRPC_REFLECTION says so", () => {
    expect(loadConfig({ NODE_ENV: "development", ...secret }).reflection).toBe(true);
    expect(loadConfig({ NODE_ENV: "production", ...secret }).reflection).toBe(false);
    expect(loadConfig({ NODE_ENV: "production", GRPC_REFLECTION: "true", ...secret }).reflection).toBe(true);
    expect(loadConfig({ NODE_ENV: "development", GRPC_REFLECTION: "off", ...secret }).reflection).toBe(false);
  });
});
