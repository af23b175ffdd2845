import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import type { FastifyInstance, FastifyReply } from "fastify";
import { openApiDocument } from "../../gen/openapi.js";
import { sendError } from "./rest-gateway.js";

/**
 * The API reference page at `GET /docs`: Swagger UI rendering
 * `/openapi.json`, above it the published reference's authentication note
 * and code examples. Every asset is served by this process from the
 * installed `swagger-ui-dist` package under `/docs/assets/`; the page loads
 * nothing from another host (Swagger UI's online validator is switched off).
 */

const require = createRequire(import.meta.url);

/** The swagger-ui-dist files the page uses, by the name it asks for. */
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui.css.map": "application/json",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui-bundle.js.map": "application/json",
  "favicon-32x32.png": "image/png",
  "favicon-16x16.png": "image/png",
};

/** The reference's curl example, verbatim (loyalty-plus-api-reference.txt). */
export const REFERENCE_CURL_EXAMPLE = `curl -X POST https://api.loyaltyplus.app/v1/pos/checkin \\
-H "Content-Type: application/json" \\
-H "X-API-Key: loy_your_api_key_here" \\
-d '{"phone": "+353123456789", "amount": 25.50}'`;

/** The reference's fetch example, verbatim. */
export const REFERENCE_FETCH_EXAMPLE = `const response = await fetch('https://api.loyaltyplus.app/v1/owner/customers', {
method: 'POST',
headers: {
'Content-Type': 'application/json',
'Authorization': 'Bearer YOUR_JWT_TOKEN'
},
body: JSON.stringify({
name: 'John Doe',
phone: '+353123456789',
initialPoints: 50
})
});
const data = await response.json();`;

const escapeHtml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

const PAGE_CSS = `
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2933; background: #fafafa; }
.lp-intro { max-width: 1460px; margin: 0 auto; padding: 24px 20px 8px; box-sizing: border-box; }
.lp-intro h1 { margin: 0 0 4px; font-size: 28px; }
.lp-intro p { margin: 8px 0; line-height: 1.5; }
.lp-intro a { color: #1d4ed8; }
.lp-intro code { background: #eef2f7; padding: 1px 4px; border-radius: 3px; }
.lp-intro pre { background: #1f2933; color: #f5f7fa; padding: 12px 14px; border-radius: 6px; overflow-x: auto; font-size: 13px; line-height: 1.45; margin: 6px 0 14px; }
.lp-intro pre code { background: none; color: inherit; padding: 0; border-radius: 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre; }
.lp-intro h2 { font-size: 18px; margin: 20px 0 6px; }
.lp-example p { margin: 14px 0 0; display: flex; align-items: center; gap: 10px; font-weight: 600; }
.lp-copy { font: inherit; font-size: 13px; padding: 4px 10px; border: 1px solid #9aa5b1; border-radius: 4px; background: #fff; cursor: pointer; }
.lp-copy:focus-visible, .lp-intro a:focus-visible { outline: 2px solid #1d4ed8; outline-offset: 2px; }
`;

/** The client-side start of Swagger UI; a file of its own, not an inline script. */
const INIT_JS = `"use strict";
(function () {
  var here = window.location.origin;
  var local = document.getElementById("lp-curl-local");
  if (local) local.textContent = local.textContent.split("https://api.loyaltyplus.app").join(here);
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.textContent).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    persistAuthorization: true,
    displayRequestDuration: true,
    tryItOutEnabled: false
  });
})();
`;

function renderPage(): string {
  const curl = escapeHtml(REFERENCE_CURL_EXAMPLE);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Loyalty+ API Reference</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="/docs/assets/favicon-16x16.png" sizes="16x16">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="stylesheet" href="/docs/assets/page.css">
</head>
<body>
<main>
<section class="lp-intro" aria-labelledby="lp-title">
<h1 id="lp-title">API Reference</h1>
<p>Integrate Loyalty+ with your POS, e-commerce, or custom application. The same service answers REST (below), gRPC and Connect on one port; the machine-readable description is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1), and gRPC clients can discover the services through server reflection.</p>
<h2>Authentication</h2>
<p>All POS API endpoints require an API key. Generate one from your <a href="/portal/">Admin Portal</a> under <strong>Billing → API Key</strong>, and send it in the <code>X-API-Key</code> header:</p>
<pre><code>X-API-Key: loy_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</code></pre>
<p>Customer management endpoints take the owner's token from <code>POST /v1/auth/login</code> (or <code>/v1/auth/register</code>): <code>Authorization: Bearer &lt;token&gt;</code>. Errors answer <code>{"success": false, "error": {"code": "not_found", "message": "customer not found"}}</code> with the matching HTTP status.</p>
<h2>Code examples</h2>
<div>
<div class="lp-example">
<p>curl (from the reference) <button type="button" class="lp-copy" data-copy="lp-curl">Copy</button></p>
<pre><code id="lp-curl">${curl}</code></pre>
</div>
<div class="lp-example">
<p>The same call against this server <button type="button" class="lp-copy" data-copy="lp-curl-local">Copy</button></p>
<pre><code id="lp-curl-local">${curl}</code></pre>
</div>
<div class="lp-example">
<p>JavaScript (fetch) <button type="button" class="lp-copy" data-copy="lp-fetch">Copy</button></p>
<pre><code id="lp-fetch">${escapeHtml(REFERENCE_FETCH_EXAMPLE)}</code></pre>
</div>
</div>
</section>
<div id="swagger-ui"></div>
</main>
<script src="/docs/assets/swagger-ui-bundle.js" charset="utf-8"></script>
<script src="/docs/assets/docs.js" charset="utf-8"></script>
</body>
</html>
`;
}

/** Where swagger-ui-dist is installed. */
function swaggerUiDir(): string {
  return dirname(require.resolve("swagger-ui-dist/package.json"));
}

/**
 * Registers `GET /docs` (and `/docs/`) and the page's assets under
 * `/docs/assets/`. Assets are read once, on first request, and kept in
 * memory; only the listed files can be fetched.
 */
/**
 * Serves the OpenAPI document at `GET /openapi.json`: the one generated at
 * `npm run generate` from the descriptors and their comments
 * (gen/openapi.ts, scripts/protoc-gen-openapi.ts), with the routes that have
 * no proto binding (the owner's CSV file routes) added. Returns it.
 */
export function registerOpenApi(app: FastifyInstance, opts: { extraPaths?: Record<string, Record<string, unknown>> } = {}): Record<string, any> {
  const paths: Record<string, Record<string, unknown>> = { ...openApiDocument.paths };
  for (const [path, item] of Object.entries(opts.extraPaths ?? {})) paths[path] = { ...paths[path], ...item };
  const doc = { ...openApiDocument, paths };
  const body = JSON.stringify(doc);
  app.get("/openapi.json", async (_req, reply) =>
    reply.header("content-type", "application/json; charset=utf-8").header("cache-control", "no-cache").send(body),
  );
  return doc;
}

export function registerDocs(app: FastifyInstance): void {
  const html = renderPage();
  const dir = swaggerUiDir();
  const cache = new Map<string, Buffer>();
  const own: Record<string, { type: string; body: string }> = {
    "docs.js": { type: "text/javascript; charset=utf-8", body: INIT_JS },
    "page.css": { type: "text/css; charset=utf-8", body: PAGE_CSS },
  };

  const sendPage = async (_req: unknown, reply: FastifyReply) =>
    reply.header("content-type", "text/html; charset=utf-8").header("cache-control", "no-cache").send(html);
  app.get("/docs", sendPage);
  app.get("/docs/", sendPage);

  app.get<{ Params: { file: string } }>("/docs/assets/:file", async (req, reply) => {
    const name = req.params.file;
    // Own keys only: a plain object also answers inherited names (constructor, __proto__).
    const mine = Object.hasOwn(own, name) ? own[name] : undefined;
    if (mine) return reply.header("content-type", mine.type).header("cache-control", "public, max-age=300").send(mine.body);
    const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!type) return sendError(reply, new ConnectError("route not found", Code.NotFound));
    let body = cache.get(name);
    if (!body) {
      body = await readFile(join(dir, name));
      cache.set(name, body);
    }
    return reply.header("content-type", type).header("cache-control", "public, max-age=86400").send(body);
  });
}
