import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, expect, test } from "vitest";
import { registerPortal } from "../../src/portal/serve-portal.js";

/** The portal's static serving on a bare Fastify, with a hand-made dist folder. */
let dir: string;
let app: FastifyInstance;
const INDEX = '<!doctype html><div id="root"></div>';
const JS = "console.log('portal');".repeat(100);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "portal-dist-"));
  await mkdir(join(dir, "assets"));
  await writeFile(join(dir, "index.html"), INDEX);
  await writeFile(join(dir, "assets", "index-abc123.js"), JS);
  await writeFile(join(dir, "assets", "index-abc123.js.gz"), gzipSync(JS));
  await writeFile(join(dir, "favicon.svg"), "<svg/>");
  app = Fastify();
  await registerPortal(app, { distDir: dir });
  expect(app.hasRoute({ method: "GET", url: "/portal/*" })).toBe(true);
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await rm(dir, { recursive: true, force: true });
});

test("redirects / and /portal to /portal/", async () => {
  const root = await app.inject("/");
  expect(root.statusCode).toBe(302);
  expect(root.headers.location).toBe("/portal/");
  const bare = await app.inject("/portal?x=1");
  expect(bare.statusCode).toBe(301);
  expect(bare.headers.location).toBe("/portal/?x=1");
});

test("serves index.html for /portal/ and any page path, revalidated, with a self-only CSP", async () => {
  for (const url of ["/portal/", "/portal/index.html", "/portal/customers/abc", "/portal/billing/api-key"]) {
    const res = await app.inject(url);
    expect(res.statusCode, url).toBe(200);
    expect(res.body).toBe(INDEX);
    expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(res.headers["cache-control"]).toBe("no-cache");
    expect(res.headers["content-security-policy"]).toMatch(/^default-src 'self'; script-src 'self'; style-src 'self';/);
    expect(res.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(res.headers["x-frame-options"]).toBe("DENY");
  }
});

test("serves hashed assets immutable, compressed when the browser accepts it", async () => {
  const plain = await app.inject("/portal/assets/index-abc123.js");
  expect(plain.statusCode).toBe(200);
  expect(plain.body).toBe(JS);
  expect(plain.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
  expect(plain.headers["content-type"]).toMatch(/javascript/);
  const gz = await app.inject({ url: "/portal/assets/index-abc123.js", headers: { "accept-encoding": "gzip" } });
  expect(gz.headers["content-encoding"]).toBe("gzip");
  expect(gz.headers.vary).toMatch(/accept-encoding/i);
  const icon = await app.inject("/portal/favicon.svg");
  expect(icon.statusCode).toBe(200);
  expect(icon.headers["cache-control"]).toBe("public, max-age=3600");
});

test("answers 404 for missing assets, compressed copies and paths outside dist", async () => {
  for (const url of ["/portal/assets/missing.js", "/portal/nope.png", "/portal/assets/index-abc123.js.gz", "/portal/../package.json", "/portal/%2e%2e/%2e%2e/package.json"]) {
    const res = await app.inject(url);
    expect(res.statusCode, url).toBe(404);
  }
});

test("answers 503 with the build command when the portal is not built", async () => {
  const bare = Fastify();
  await registerPortal(bare, { distDir: join(dir, "missing"), redirectRoot: false });
  const res = await bare.inject("/portal/");
  expect(res.statusCode).toBe(503);
  expect(res.body).toContain("npm run build");
  expect((await bare.inject("/")).statusCode).toBe(404);
  await bare.close();
});
