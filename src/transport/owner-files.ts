import { PassThrough, Readable, pipeline } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type Interceptor, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import multipart from "@fastify/multipart";
import { stringify } from "csv-stringify";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { CustomerAdmin } from "../../gen/loyalty/v1/admin_pb.js";
import { invalidArgument } from "../domain/errors.js";
import { CUSTOMER_EXPORT_COLUMNS, LEDGER_EXPORT_COLUMNS, createCustomerExporter, ledgerRange } from "../services/customer-export.js";
import { createCustomerImporter } from "../services/customer-import.js";
import type { ServiceDeps } from "../services/deps.js";
import { kPrincipal, type Principal } from "../services/principal.js";
import { codeName, HTTP_STATUS_HEADER, toConnectError } from "./errors.js";
import { jsonBytes, sendError } from "./rest-gateway.js";

/** The largest import file (contract §12): 50 MiB. */
export const IMPORT_LIMIT_BYTES = 50 * 1024 * 1024;

const IMPORT_PATH = "/v1/owner/customers/import";
const CUSTOMERS_EXPORT_PATH = "/v1/owner/customers/export";
const LEDGER_EXPORT_PATH = "/v1/owner/ledger/export";
/** Content types read as the CSV file itself (browsers label .csv files text/csv, or application/vnd.ms-excel on Windows). */
const CSV_TYPES = ["text/csv", "application/csv", "text/plain", "application/vnd.ms-excel", "application/octet-stream"];
const HOW_TO_SEND =
  "send the file as Content-Type: text/csv (curl -H 'Content-Type: text/csv' --data-binary @customers.csv) or as multipart/form-data (curl -F file=@customers.csv)";

type OwnerPrincipal = Extract<Principal, { kind: "owner" }>;

/**
 * Owner authentication for plain HTTP routes: the request's headers go
 * through the same auth interceptor as every CustomerAdmin RPC (token
 * checks, rate limit), so there is one implementation of who an owner is.
 */
export function createOwnerGate(auth: Interceptor): (req: FastifyRequest) => Promise<OwnerPrincipal> {
  const method = CustomerAdmin.method.listCustomers;
  const passed = auth((async () => ({}) as UnaryResponse) as never) as unknown as (req: UnaryRequest) => Promise<unknown>;
  return async (req) => {
    const header = new Headers();
    for (const h of ["authorization", "x-request-id", "user-agent"]) {
      const value = req.headers[h];
      if (typeof value === "string") header.set(h, value);
    }
    const contextValues = createContextValues();
    await passed({
      stream: false,
      service: CustomerAdmin,
      method,
      requestMethod: req.method,
      url: req.url,
      signal: new AbortController().signal,
      header,
      contextValues,
      message: create(method.input),
    } as unknown as UnaryRequest);
    const principal = contextValues.get(kPrincipal);
    if (principal.kind !== "owner") throw new ConnectError("an owner token is required", Code.Unauthenticated);
    return principal;
  };
}

/** Fastify's and @fastify/multipart's errors of a request, in the contract's shape. */
function requestError(err: unknown): ConnectError | undefined {
  const e = err as { statusCode?: number; code?: string };
  if (e.code === "FST_REQ_FILE_TOO_LARGE" || e.code === "FST_ERR_CTP_BODY_TOO_LARGE" || e.statusCode === 413) {
    return new ConnectError(`the file exceeds ${IMPORT_LIMIT_BYTES / 1024 / 1024} MiB (${IMPORT_LIMIT_BYTES.toLocaleString("en-US")} bytes): split it`, Code.InvalidArgument, {
      [HTTP_STATUS_HEADER]: "413",
    });
  }
  if (e.statusCode === 415 || e.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    return new ConnectError(`unsupported Content-Type: ${HOW_TO_SEND}`, Code.InvalidArgument, { [HTTP_STATUS_HEADER]: "415" });
  }
  if (typeof e.code === "string" && e.code.startsWith("FST_") && (e.statusCode ?? 500) < 500) {
    return new ConnectError(`malformed upload: ${HOW_TO_SEND}`, Code.InvalidArgument);
  }
  return undefined;
}

/** The query of a file route: only the parameters named; each given once. */
function queryOf(req: FastifyRequest, allowed: string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries((req.query ?? {}) as Record<string, unknown>)) {
    if (!allowed.includes(key)) throw invalidArgument(`unknown query parameter "${key.slice(0, 64)}"`);
    if (typeof value !== "string") throw invalidArgument(`query parameter "${key}" must be given once`);
    out[key] = value;
  }
  return out;
}

function booleanParam(value: string | undefined, name: string): boolean {
  if (value === undefined || value === "" || value === "false" || value === "0") return false;
  if (value === "true" || value === "1") return true;
  throw invalidArgument(`${name} must be true or false`);
}

/** The uploaded file: the body itself, or the first file of a multipart form. */
async function fileOf(req: FastifyRequest): Promise<Buffer> {
  if (req.isMultipart()) {
    const part = await req.file({ limits: { fileSize: IMPORT_LIMIT_BYTES, files: 1, fields: 20, fieldSize: 1024 } });
    if (!part) throw invalidArgument(`the form holds no file: ${HOW_TO_SEND}`);
    return part.toBuffer();
  }
  const body = req.body;
  if (body === undefined || body === null) throw invalidArgument("the file is empty");
  if (!Buffer.isBuffer(body)) throw invalidArgument(`unsupported body: ${HOW_TO_SEND}`);
  return body;
}

const ndjsonLine = (value: unknown) => `${JSON.stringify(value)}\n`;

/** Whether the client asked for NDJSON progress (`Accept: application/x-ndjson`). */
function wantsProgress(req: FastifyRequest): boolean {
  const accept = req.headers.accept;
  return typeof accept === "string" && /application\/(x-)?ndjson/i.test(accept);
}

/**
 * Streams CSV records as a download. The first page is read before the
 * status is sent, so a failure to start (database down) is an ordinary
 * error answer; a failure later cuts the download short (logged).
 */
async function sendCsv(
  req: FastifyRequest,
  reply: FastifyReply,
  filename: string,
  columns: readonly string[],
  records: AsyncGenerator<(string | number)[]>,
): Promise<FastifyReply> {
  const first = await records.next();
  const source = Readable.from(
    (async function* () {
      if (first.done) return;
      yield first.value;
      yield* records;
    })(),
  );
  const csv = stringify({ header: true, columns: [...columns] });
  pipeline(source, csv, (err) => {
    // Mostly a client that stopped reading; a database failure mid-way too.
    if (err) req.log.warn({ errType: err.name, errCode: (err as { code?: string }).code, url: req.routeOptions.url }, "export cut short");
  });
  return reply
    .code(200)
    .header("content-type", "text/csv; charset=utf-8")
    .header("content-disposition", `attachment; filename="${filename}"`)
    .send(csv);
}

/**
 * The owner's file routes (contract §12) — plain HTTP, not RPCs, since
 * they move files: the customer import (CSV body or multipart, up to
 * 50 MiB; `?dryRun=true`; NDJSON progress with `Accept:
 * application/x-ndjson`) and the streamed CSV exports of customers and of
 * the ledger. Same owner auth, tenancy and error shape as the REST API.
 */
export async function registerOwnerFiles(app: FastifyInstance, opts: { auth: Interceptor; deps: ServiceDeps }): Promise<void> {
  const gate = createOwnerGate(opts.auth);
  const importer = createCustomerImporter(opts.deps);
  const exporter = createCustomerExporter(opts.deps);
  const owners = new WeakMap<FastifyRequest, OwnerPrincipal>();
  const ownerOf = (req: FastifyRequest) => owners.get(req)!;
  const fail = (req: FastifyRequest, reply: FastifyReply, err: unknown) =>
    sendError(
      reply,
      requestError(err) ??
        toConnectError(err, (bug) => req.log.error({ errType: (bug as Error)?.name, errCode: (bug as { code?: string })?.code, url: req.routeOptions.url }, "unexpected error in a file route")),
    );

  await app.register(async (scope) => {
    scope.setErrorHandler((err, req, reply) => fail(req, reply, err));
    // The owner is known before the body is read: a stranger's 50 MiB are refused unread.
    scope.addHook("onRequest", async (req, reply) => {
      try {
        owners.set(req, await gate(req));
      } catch (err) {
        return fail(req, reply, err);
      }
    });
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(CSV_TYPES, { parseAs: "buffer", bodyLimit: IMPORT_LIMIT_BYTES }, (_req, body, done) => done(null, body));
    await scope.register(multipart, { limits: { fileSize: IMPORT_LIMIT_BYTES, files: 1 } });

    scope.post(IMPORT_PATH, { bodyLimit: IMPORT_LIMIT_BYTES }, async (req, reply) => {
      let progress: PassThrough | undefined;
      try {
        const owner = ownerOf(req);
        const query = queryOf(req, ["dryRun"]);
        const dryRun = booleanParam(query.dryRun, "dryRun");
        const bytes = await fileOf(req);
        const key = req.headers["idempotency-key"];
        const streamed = !dryRun && wantsProgress(req);
        const startProgress = (rows: number) => {
          if (!streamed || progress) return;
          progress = new PassThrough();
          // A client that goes away ends the stream; the import still commits (and a retry replays it).
          progress.on("error", () => undefined);
          reply.code(200).header("content-type", "application/x-ndjson").send(progress);
          progress.write(ndjsonLine({ progress: { done: 0, rows } }));
        };
        const outcome = await importer.run({
          businessId: owner.businessId,
          ownerId: owner.ownerId,
          bytes,
          dryRun,
          idempotencyKey: typeof key === "string" ? key : undefined,
          onStart: startProgress,
          onProgress: (done, rows) => {
            if (progress && !progress.destroyed) progress.write(ndjsonLine({ progress: { done, rows } }));
          },
        });
        if (streamed && outcome.status === 200) {
          startProgress((outcome.body as { rows?: number }).rows ?? 0);
          if (!progress!.destroyed) progress!.end(ndjsonLine({ result: outcome.body, replayed: outcome.replayed }));
          return reply;
        }
        if (outcome.replayed) reply.header("idempotent-replayed", "true");
        return reply.code(outcome.status).header("content-type", "application/json").send(jsonBytes(JSON.stringify(outcome.body)));
      } catch (err) {
        if (progress) {
          const e = requestError(err) ?? toConnectError(err, (bug) => req.log.error({ errType: (bug as Error)?.name, url: IMPORT_PATH }, "unexpected error in an import"));
          if (!progress.destroyed) progress.end(ndjsonLine({ error: { code: codeName(e.code), message: e.rawMessage } }));
          return reply;
        }
        return fail(req, reply, err);
      }
    });

    scope.get(CUSTOMERS_EXPORT_PATH, async (req, reply) => {
      try {
        queryOf(req, []);
        const day = new Date().toISOString().slice(0, 10);
        return await sendCsv(req, reply, `customers-${day}.csv`, CUSTOMER_EXPORT_COLUMNS, exporter.customers(ownerOf(req).businessId));
      } catch (err) {
        return fail(req, reply, err);
      }
    });

    scope.get(LEDGER_EXPORT_PATH, async (req, reply) => {
      try {
        const query = queryOf(req, ["from", "to"]);
        const range = ledgerRange(query.from, query.to);
        const name = `ledger-${query.from?.slice(0, 10) || "start"}-to-${query.to?.slice(0, 10) || new Date().toISOString().slice(0, 10)}.csv`;
        return await sendCsv(req, reply, name.replace(/[^A-Za-z0-9._-]/g, "_"), LEDGER_EXPORT_COLUMNS, exporter.ledger(ownerOf(req).businessId, range));
      } catch (err) {
        return fail(req, reply, err);
      }
    });
  });
}

const ERROR_RESPONSES = {
  "4XX": { $ref: "#/components/responses/Error" },
  "5XX": { $ref: "#/components/responses/Error" },
};

/** The file routes in OpenAPI form (they have no proto binding), for /openapi.json. */
export const OWNER_FILE_OPENAPI_PATHS: Record<string, Record<string, unknown>> = {
  [IMPORT_PATH]: {
    post: {
      operationId: "OwnerFiles_ImportCustomers",
      tags: ["CustomerAdmin"],
      summary: "Imports customers from a CSV file (contract §12).",
      description:
        "Columns `phone` (required), `name`, `notes`, `points`, `status`; other columns are ignored. Delimiter `,` `;` or tab, " +
        "detected from the header line; UTF-8 with or without a BOM; at most 50 MiB (413). `?dryRun=true` writes nothing and " +
        "answers every problem (`errors[]` of `{line, column, message}`, the header being line 1) and the counts. The real run " +
        "is all or nothing (any problem: 400 with the list), creates customers by normalised phone, updates name/notes/status " +
        "of existing ones (an empty cell keeps the field) and adds each row's points as one `IMPORT` ledger entry. The same " +
        "file again, or the same Idempotency-Key, changes nothing and answers the first run's response. With " +
        "`Accept: application/x-ndjson`, a valid file's run answers NDJSON lines `{progress: {done, rows}}` and finally " +
        "`{result}` (or `{error}`).",
      parameters: [
        { name: "dryRun", in: "query", required: false, schema: { type: "boolean" }, description: "Check only; write nothing." },
        { $ref: "#/components/parameters/IdempotencyKey" },
      ],
      requestBody: {
        required: true,
        content: {
          "text/csv": { schema: { type: "string" } },
          "multipart/form-data": { schema: { type: "object", properties: { file: { type: "string", format: "binary" } } } },
        },
      },
      responses: {
        "200": {
          description: "The import's (or dry run's) summary.",
          content: {
            "application/json": {
              schema: {
                type: "object",
                properties: {
                  success: { type: "boolean" },
                  dryRun: { type: "boolean" },
                  importId: { type: "string" },
                  rows: { type: "integer" },
                  created: { type: "integer" },
                  updated: { type: "integer" },
                  unchanged: { type: "integer" },
                  pointsAdded: { type: "integer" },
                  ignoredColumns: { type: "array", items: { type: "string" } },
                  errors: {
                    type: "array",
                    items: {
                      type: "object",
                      properties: { line: { type: "integer" }, column: { type: ["string", "null"] }, message: { type: "string" } },
                    },
                  },
                  errorCount: { type: "integer" },
                  valid: { type: "boolean" },
                  alreadyImported: { type: "boolean" },
                },
              },
            },
            "application/x-ndjson": { schema: { type: "string" } },
          },
        },
        ...ERROR_RESPONSES,
      },
      security: [{ BearerAuth: [] }],
    },
  },
  [CUSTOMERS_EXPORT_PATH]: {
    get: {
      operationId: "OwnerFiles_ExportCustomers",
      tags: ["CustomerAdmin"],
      summary: "Downloads every customer as CSV, streamed.",
      description: `Columns: ${CUSTOMER_EXPORT_COLUMNS.join(", ")}. \`points\` is the balance, so the file imports as it is into another business.`,
      responses: { "200": { description: "CSV, oldest customer first.", content: { "text/csv": { schema: { type: "string" } } } }, ...ERROR_RESPONSES },
      security: [{ BearerAuth: [] }],
    },
  },
  [LEDGER_EXPORT_PATH]: {
    get: {
      operationId: "OwnerFiles_ExportLedger",
      tags: ["CustomerAdmin"],
      summary: "Downloads the ledger entries of a date range as CSV, streamed.",
      description: `Columns: ${LEDGER_EXPORT_COLUMNS.join(", ")}. \`from\` and \`to\` are dates (YYYY-MM-DD, UTC; \`to\` includes that day) or RFC 3339 times (\`to\` exclusive); \`from\` after \`to\` is 400.`,
      parameters: [
        { name: "from", in: "query", required: false, schema: { type: "string" } },
        { name: "to", in: "query", required: false, schema: { type: "string" } },
      ],
      responses: { "200": { description: "CSV, oldest entry first.", content: { "text/csv": { schema: { type: "string" } } } }, ...ERROR_RESPONSES },
      security: [{ BearerAuth: [] }],
    },
  },
};
