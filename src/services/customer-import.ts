import { createHash } from "node:crypto";
import { DomainError, invalidArgument } from "../domain/errors.js";
import { newId } from "../infrastructure/ids.js";
import { createImportRepository, type ExistingCustomer, type ImportBatch } from "../persistence/import-repository.js";
import type { ServiceDeps } from "./deps.js";
import { readImportFile, type ImportFile, type ImportProblem } from "./import-file.js";

/** Rows per INSERT/UPDATE statement (and per progress report). */
const BATCH = 5_000;
/** The largest balance PostgreSQL's `int` column holds. */
const MAX_BALANCE = 2_147_483_647;
const KEY_PATTERN = /^[\x20-\x7E]{1,255}$/;

/** What an import answers (contract §12), as JSON. */
export interface ImportSummary {
  success: boolean;
  dryRun: boolean;
  /** The import's id (real runs; a dry run of a file already imported names that import). */
  importId: string;
  /** Rows read (every non-empty line after the header). */
  rows: number;
  /** Customers that are (or would be) created, updated with a change, and found without a change. */
  created: number;
  updated: number;
  unchanged: number;
  /** Points added over all rows (one IMPORT ledger entry per row with points). */
  pointsAdded: number;
  /** Header names the import does not read (an export's id, timestamps…). */
  ignoredColumns: string[];
  /** Every problem (up to 100,000 listed), ordered by line; `errorCount` counts them all. */
  errors: ImportProblem[];
  errorCount: number;
  /** Dry run: whether the real run would succeed. */
  valid: boolean;
  /** This very file (same bytes) was imported before: the real run changes nothing. */
  alreadyImported: boolean;
}

/** The outcome of a call: the status and body to send, and whether it replays an earlier run. */
export interface ImportOutcome {
  status: number;
  body: object;
  replayed: boolean;
}

export interface ImportRequest {
  businessId: string;
  ownerId: string;
  bytes: Buffer;
  dryRun: boolean;
  idempotencyKey?: string;
  /** Called once the file is valid and the writing starts (real runs), with the number of rows. */
  onStart?: (rows: number) => void;
  /** Called after each batch written. */
  onProgress?: (done: number, rows: number) => void;
}

/**
 * CSV import of customers (contract §12). A dry run reads and checks the
 * file against the business's customers and writes nothing. A real run is
 * one PostgreSQL transaction, all or nothing: new customers (by normalised
 * phone) are created, existing ones get the file's name, notes and status
 * (an empty cell keeps the field), and each row's points are one `IMPORT`
 * ledger entry written with the balance. It is idempotent twice over: the
 * same bytes again (a SHA-256 kept per business, for good) or the same
 * Idempotency-Key (24 hours, as for every mutating call) change nothing and
 * answer the first run's response, with `Idempotent-Replayed: true`.
 */
export function createCustomerImporter(deps: ServiceDeps) {
  const { db, accounts, reads } = deps;
  const repo = createImportRepository(db);

  function summary(file: ImportFile, extra: Partial<ImportSummary>): ImportSummary {
    return {
      success: true,
      dryRun: false,
      importId: "",
      rows: file.lines.length,
      created: 0,
      updated: 0,
      unchanged: 0,
      pointsAdded: 0,
      ignoredColumns: file.ignoredColumns,
      errors: file.problems,
      errorCount: file.problemCount,
      valid: file.problemCount === 0,
      alreadyImported: false,
      ...extra,
    };
  }

  /** Compares the rows with the customers they name; adds the problems only the database can tell (a balance past the limit). */
  function plan(file: ImportFile, existing: Map<string, ExistingCustomer>) {
    let created = 0;
    let updated = 0;
    let unchanged = 0;
    let pointsAdded = 0;
    const isNew: boolean[] = [];
    const late: ImportProblem[] = [];
    const pointsColumn = file.header.find((h) => h.trim().toLowerCase() === "points")?.trim() ?? "points";
    file.phones.forEach((phone, i) => {
      const c = existing.get(phone);
      const points = file.points[i]!;
      pointsAdded += points;
      isNew.push(c === undefined);
      if (c === undefined) {
        created++;
        return;
      }
      if (c.total_points + points > MAX_BALANCE) {
        late.push({ line: file.lines[i]!, column: pointsColumn, message: `the balance of ${phone} would pass ${MAX_BALANCE.toLocaleString("en-US")} points` });
      }
      const name = file.names[i];
      const notes = file.notes[i];
      const status = file.statuses[i];
      const changed = points !== 0 || (name !== null && name !== c.name) || (notes !== null && notes !== c.notes) || (status !== null && status !== c.status);
      if (changed) updated++;
      else unchanged++;
    });
    if (late.length > 0) {
      file.problems.push(...late);
      file.problems.sort((a, b) => a.line - b.line);
      file.problemCount += late.length;
    }
    return { created, updated, unchanged, pointsAdded, isNew };
  }

  function batchOf(file: ImportFile, indexes: number[]): ImportBatch {
    return {
      ids: indexes.map(() => newId()),
      ledgerIds: indexes.map(() => newId()),
      phones: indexes.map((i) => file.phones[i]!),
      names: indexes.map((i) => file.names[i]!),
      notes: indexes.map((i) => file.notes[i]!),
      points: indexes.map((i) => file.points[i]!),
      statuses: indexes.map((i) => file.statuses[i]!),
    };
  }

  const replay = (body: object): ImportOutcome => ({ status: 200, body, replayed: true });

  /** A stored Idempotency-Key: the same file answers its response, another file is refused. */
  function keyReplay(stored: { requestHash: string; response: Buffer | null; outcome: string } | undefined, requestHash: string): ImportOutcome | undefined {
    if (stored === undefined) return undefined;
    if (stored.requestHash !== requestHash || stored.outcome !== "ok" || stored.response === null) {
      // 422, as for every other call (README, Decisions).
      const error = { code: "invalid_argument", message: "this Idempotency-Key was already used with a different request" };
      return { status: 422, body: { success: false, error }, replayed: false };
    }
    return replay(JSON.parse(stored.response.toString("utf8")) as object);
  }

  return {
    async run(req: ImportRequest): Promise<ImportOutcome> {
      const { businessId, ownerId, bytes } = req;
      const key = req.idempotencyKey;
      if (key !== undefined && !KEY_PATTERN.test(key)) {
        throw invalidArgument("Idempotency-Key must be 1-255 printable ASCII characters");
      }
      const contentHash = createHash("sha256").update(bytes).digest("hex");
      // The key's request is the file: the same key with another file is a 422.
      const requestHash = createHash("sha256").update("CustomerImport\n").update(contentHash).digest("hex");

      if (!req.dryRun) {
        // Answered before the file is read again (checked once more under the locks below).
        if (key !== undefined) {
          const early = keyReplay(await repo.findKey(businessId, key), requestHash);
          if (early) return early;
        }
        const done = await repo.findByHash(businessId, contentHash);
        if (done) return replay(done);
      }

      const program = await reads.program(businessId);
      const file = await readImportFile(bytes, program.defaultCountry);
      const existing = await repo.existing(businessId, file.phones);
      const counts = plan(file, existing);

      if (req.dryRun) {
        const done = await repo.findByHash(businessId, contentHash);
        return {
          status: 200,
          body: summary(file, {
            dryRun: true,
            created: counts.created,
            updated: counts.updated,
            unchanged: counts.unchanged,
            pointsAdded: counts.pointsAdded,
            importId: typeof done?.importId === "string" ? done.importId : "",
            alreadyImported: done !== undefined,
          }),
          replayed: false,
        };
      }
      if (file.problemCount > 0) {
        const noun = file.problemCount === 1 ? "problem" : "problems";
        return {
          status: 400,
          body: {
            success: false,
            error: { code: "invalid_argument", message: `the file has ${file.problemCount.toLocaleString("en-US")} ${noun}; nothing was imported` },
            errors: file.problems,
            errorCount: file.problemCount,
          },
          replayed: false,
        };
      }

      req.onStart?.(file.lines.length);
      const outcome = await db.tx(async (): Promise<ImportOutcome> => {
        if (key !== undefined) {
          if (!(await repo.tryLock(businessId, `key:${key}`))) {
            throw new DomainError("aborted", "a request with this Idempotency-Key is still in progress");
          }
          const again = keyReplay(await repo.findKey(businessId, key), requestHash);
          if (again) return again;
        }
        // A second upload of the file waits for the first, then answers its result.
        await repo.lock(businessId, contentHash);
        const done = await repo.findByHash(businessId, contentHash);
        if (done) return replay(done);

        await repo.roomForIndexes();
        const importId = newId();
        let created = 0;
        let updated = 0;
        let unchanged = 0;
        const rows = file.lines.length;
        for (let at = 0; at < rows; at += BATCH) {
          const indexes = Array.from({ length: Math.min(BATCH, rows - at) }, (_, k) => at + k);
          let fresh = indexes.filter((i) => counts.isNew[i]);
          let known = indexes.filter((i) => !counts.isNew[i]);
          // Customers created or deleted since the look-up (a till's check-in
          // enrols by phone) move from one statement to the other, once.
          for (let pass = 0; pass < 2 && (fresh.length > 0 || known.length > 0); pass++) {
            const missed: number[] = [];
            if (fresh.length > 0) {
              const inserted = await repo.insertNew(businessId, ownerId, batchOf(file, fresh));
              created += inserted.size;
              for (const i of fresh) if (!inserted.has(file.phones[i]!)) missed.push(i);
            }
            const gone: number[] = [];
            const toUpdate = [...known, ...missed];
            if (toUpdate.length > 0) {
              const found = await repo.updateExisting(businessId, ownerId, batchOf(file, toUpdate));
              for (const i of toUpdate) {
                const changed = found.get(file.phones[i]!);
                if (changed === undefined) gone.push(i);
                else if (changed) updated++;
                else unchanged++;
              }
            }
            fresh = gone;
            known = [];
          }
          if (fresh.length > 0) throw new DomainError("aborted", "customers changed while the file was imported; send it again");
          req.onProgress?.(Math.min(at + BATCH, rows), rows);
        }
        const result = summary(file, { importId, created, updated, unchanged, pointsAdded: counts.pointsAdded });
        await repo.record({ id: importId, businessId, contentHash, ownerId, rows, created, updated, result });
        if (key !== undefined) await repo.storeKey(businessId, key, requestHash, Buffer.from(JSON.stringify(result)));
        await accounts.audit({
          businessId,
          actorType: "owner",
          actorId: ownerId,
          action: "customers.imported",
          subjectId: importId,
          data: { rows, created, updated, unchanged, pointsAdded: counts.pointsAdded },
        });
        return { status: 200, body: result, replayed: false };
      });
      if (outcome.status === 200 && !outcome.replayed) await reads.changed(businessId, "customers");
      return outcome;
    },
  };
}

export type CustomerImporter = ReturnType<typeof createCustomerImporter>;
