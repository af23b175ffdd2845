import { stat } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply } from "fastify";
import { packageRoot } from "../infrastructure/package-root.js";

/** Where `buildPortal` writes the portal. */
export const PORTAL_DIST = join(packageRoot(import.meta.url), "src/portal/dist");

/**
 * The portal loads its scripts, styles and icon from its own origin and
 * talks to the API on that origin only (Connect over fetch): nothing else
 * is allowed, no inline script, no framing.
 */
export const PORTAL_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const PORTAL_HEADERS: Record<string, string> = {
  "content-security-policy": PORTAL_CSP,
  "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
  "cross-origin-resource-policy": "same-origin",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

/**
 * Serves the built admin portal at /portal/ (and redirects / and /portal
 * there). Brotli or gzip copies written by the build are sent to browsers
 * that accept them. Hashed assets are cached for a year; index.html is revalidated on
 * every load, so a new build is picked up at once. Routing is by hash, so
 * any other /portal/ path answers index.html. When the portal has not been
 * built, /portal/ answers 503 with the command that builds it, and the API
 * is unaffected.
 *
 * Registered in its own encapsulated scope: its hooks and the `sendFile`
 * decorator touch only these routes.
 */
export async function registerPortal(app: FastifyInstance, opts: { distDir?: string; redirectRoot?: boolean } = {}): Promise<void> {
  const root = opts.distDir ?? PORTAL_DIST;
  await app.register(async (scope) => {
    await scope.register(fastifyStatic, { root, serve: false, preCompressed: true, suppressWarning: true });
    scope.addHook("onSend", async (_req, reply, payload) => {
      for (const [name, value] of Object.entries(PORTAL_HEADERS)) reply.header(name, value);
      return payload;
    });

    if (opts.redirectRoot !== false) scope.get("/", async (_req, reply) => reply.redirect("/portal/", 302));
    scope.get("/portal", async (req, reply) => {
      const query = req.url.indexOf("?");
      return reply.redirect("/portal/" + (query >= 0 ? req.url.slice(query) : ""), 301);
    });

    scope.get<{ Params: { "*": string } }>("/portal/*", async (req, reply) => {
      const rel = normalize(decodeSafe(req.params["*"] ?? "")).replace(/^([/\\])+/, "");
      if (rel.startsWith("..") || rel.includes(`${sep}..${sep}`) || rel.includes("\0")) return notFound(reply);
      if (rel !== "" && rel !== "index.html" && !/\.(br|gz)$/.test(rel) && (await isFile(join(root, rel)))) {
        const hashed = rel.startsWith(`assets${sep}`);
        return reply
          .header("cache-control", hashed ? "public, max-age=31536000, immutable" : "public, max-age=3600")
          .sendFile(rel, root, { cacheControl: false });
      }
      // A missing asset is a 404; any other path is a page of the app.
      if (rel.startsWith(`assets${sep}`) || (extname(rel) !== "" && extname(rel) !== ".html")) return notFound(reply);
      if (!(await isFile(join(root, "index.html")))) {
        return reply
          .code(503)
          .header("cache-control", "no-store")
          .type("text/plain; charset=utf-8")
          .send("The admin portal has not been built. Run `npm run build` (npm ci and npm start do it), then reload.\n");
      }
      return reply.header("cache-control", "no-cache").sendFile("index.html", root, { cacheControl: false });
    });
  });
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function notFound(reply: FastifyReply) {
  return reply.code(404).header("cache-control", "no-store").type("text/plain; charset=utf-8").send("Not found\n");
}
