/**
 * LoyaltyPos as grpc-js sees it: `proto/loyalty/v1/pos.proto` loaded by
 * `@grpc/proto-loader` (camelCase fields, enums as names, numbers for
 * 64-bit values), for the bench's gRPC load generator and the gRPC yardstick.
 * Imports nothing of the bench (lib.ts installs the orchestrator's signal
 * handlers, which a yardstick process must not have).
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

let pos: grpc.ServiceClientConstructor | undefined;

export function loyaltyPos(): grpc.ServiceClientConstructor {
  if (!pos) {
    const def = protoLoader.loadSync("loyalty/v1/pos.proto", {
      includeDirs: [join(dirname(fileURLToPath(import.meta.url)), "..", "proto")],
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: false,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as any;
    pos = pkg.loyalty.v1.LoyaltyPos as grpc.ServiceClientConstructor;
  }
  return pos;
}
