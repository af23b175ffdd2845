import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";

/**
 * Who is calling and from where: set by the transport edge (the auth
 * interceptor, each edge's client address), read by the services. It lives
 * here, below the transport, so that services never import transport.
 */

/** Who is calling, as established by the auth interceptor. */
export type Principal =
  | { kind: "api_key"; businessId: string; apiKeyId: string; storeId: string | null }
  | { kind: "owner"; businessId: string; ownerId: string }
  | { kind: "anonymous" };

/** Set by the auth interceptor for every call. */
export const kPrincipal = createContextKey<Principal>({ kind: "anonymous" }, { description: "principal" });

/** The remote address of the call's socket, set by each transport edge (REST, gRPC lane, Connect plugin). */
export const kClientAddress = createContextKey<string | undefined>(undefined, { description: "client address" });

/** The POS principal of a call; the auth interceptor guarantees it. */
export function posPrincipal(ctx: HandlerContext): Extract<Principal, { kind: "api_key" }> {
  const p = ctx.values.get(kPrincipal);
  if (p.kind !== "api_key") throw new ConnectError("an API key is required", Code.Unauthenticated);
  return p;
}

/** The owner principal of a call; the auth interceptor guarantees it. */
export function ownerPrincipal(ctx: HandlerContext): Extract<Principal, { kind: "owner" }> {
  const p = ctx.values.get(kPrincipal);
  if (p.kind !== "owner") throw new ConnectError("an owner token is required", Code.Unauthenticated);
  return p;
}
