import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { OwnerAuth } from "../../../gen/loyalty/v1/account_pb.js";

/**
 * The portal's one way to the API: Connect over HTTP/1.1 to the origin that
 * served the page. The owner's token goes in `Authorization: Bearer` on
 * every call but sign-up and log-in; an UNAUTHENTICATED answer to an
 * authenticated call means the session is over (expired, or the secret
 * changed) and is reported through `onSessionRejected`.
 */
export function createPortalTransport(opts: {
  getToken: () => string | undefined;
  onSessionRejected: () => void;
}): Transport {
  const auth: Interceptor = (next) => async (req) => {
    const needsToken = req.service.typeName !== OwnerAuth.typeName;
    const token = needsToken ? opts.getToken() : undefined;
    if (token) req.header.set("Authorization", `Bearer ${token}`);
    try {
      return await next(req);
    } catch (err) {
      if (token && ConnectError.from(err).code === Code.Unauthenticated) opts.onSessionRejected();
      throw err;
    }
  };
  return createConnectTransport({ baseUrl: window.location.origin, interceptors: [auth] });
}
