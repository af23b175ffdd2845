import type { Interceptor } from "@connectrpc/connect";
import type { CachedReads } from "../services/cached-reads.js";
import { kPrincipal } from "../services/principal.js";
import { isMutating } from "./method-rules.js";

/**
 * Tells the cached reads that a business's customers changed, once a mutating call has
 * finished — after its transaction committed, whatever the outcome — so no
 * cached read outlives a write. Sits inside the auth interceptor (it needs
 * the principal) and outside the idempotency interceptor (whose transaction
 * must have committed).
 */
export function createChangeInterceptor(reads: CachedReads): Interceptor {
  return (next) => async (req) => {
    if (!isMutating(req.method)) return next(req);
    try {
      return await next(req);
    } finally {
      const principal = req.contextValues.get(kPrincipal);
      if (principal.kind !== "anonymous") await reads.changed(principal.businessId, "customers");
    }
  };
}
