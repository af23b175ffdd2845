import { createContextKey } from "@connectrpc/connect";

/** The protocol of an in-process call ("rest", "grpc"), set by the invoker; unset for calls through Connect's router. */
export const kProtocol = createContextKey<string | undefined>(undefined, { description: "protocol" });
