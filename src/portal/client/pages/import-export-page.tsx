import { useQueryClient } from "@tanstack/react-query";
import { useId, useRef, useState, type FormEvent } from "react";
import { PageHeading } from "../components/common.js";
import { loadSession } from "../session.js";

/** One problem of an import file, as the server lists it. */
interface Problem {
  line: number;
  column: string | null;
  message: string;
}

/** The import's (or dry run's) answer. */
interface Summary {
  dryRun: boolean;
  importId: string;
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  pointsAdded: number;
  ignoredColumns: string[];
  errors: Problem[];
  errorCount: number;
  valid: boolean;
  alreadyImported: boolean;
}

type Phase =
  | { kind: "idle" }
  | { kind: "uploading"; dryRun: boolean; sent: number; total: number }
  | { kind: "checking" }
  | { kind: "writing"; done: number; rows: number }
  | { kind: "checked"; summary: Summary }
  | { kind: "imported"; summary: Summary; replayed: boolean }
  | { kind: "refused"; message: string; errors?: Problem[]; errorCount?: number };

const number = new Intl.NumberFormat();
const plural = (n: number, one: string, many: string) => `${number.format(n)} ${n === 1 ? one : many}`;

function token(): string {
  return loadSession().session?.token ?? "";
}

/** The message of an error answer in the API's shape. */
function messageOf(body: unknown, status: number): string {
  const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
  if (typeof message === "string" && message) return message.charAt(0).toUpperCase() + message.slice(1) + ".";
  return `The server answered ${status}.`;
}

/**
 * Sends the file with XMLHttpRequest, which reports the upload's progress
 * and the answer as it arrives: a real run asks for NDJSON, whose
 * `{progress}` lines come while the rows are written, then `{result}` or
 * `{error}`. Errors found before the writing (a bad file) are plain JSON
 * answers with their status.
 */
function sendFile(file: File, dryRun: boolean, key: string, onPhase: (p: Phase) => void): Promise<Phase> {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1/owner/customers/import${dryRun ? "?dryRun=true" : ""}`);
    xhr.setRequestHeader("Authorization", `Bearer ${token()}`);
    xhr.setRequestHeader("Content-Type", "text/csv");
    if (!dryRun) {
      xhr.setRequestHeader("Accept", "application/x-ndjson");
      xhr.setRequestHeader("Idempotency-Key", key);
    }
    xhr.upload.onprogress = (e) => onPhase({ kind: "uploading", dryRun, sent: e.loaded, total: e.lengthComputable ? e.total : file.size });
    xhr.upload.onload = () => onPhase({ kind: "checking" });
    let seen = 0;
    let last: Phase | undefined;
    const readLines = () => {
      if (!(xhr.getResponseHeader("content-type") ?? "").startsWith("application/x-ndjson")) return;
      const text = xhr.responseText;
      const end = text.lastIndexOf("\n") + 1;
      for (const line of text.slice(seen, end).split("\n")) {
        if (!line.trim()) continue;
        const msg = JSON.parse(line) as { progress?: { done: number; rows: number }; result?: Summary; replayed?: boolean; error?: { message: string } };
        if (msg.progress) onPhase({ kind: "writing", done: msg.progress.done, rows: msg.progress.rows });
        if (msg.result) last = { kind: "imported", summary: msg.result, replayed: msg.replayed === true };
        if (msg.error) last = { kind: "refused", message: messageOf(msg, 500) };
      }
      seen = end;
    };
    xhr.onprogress = readLines;
    xhr.onerror = () => resolve({ kind: "refused", message: "The file could not be sent: check the connection and try again." });
    xhr.onload = () => {
      readLines();
      if (last) return resolve(last);
      let body: any;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = undefined;
      }
      if (xhr.status === 200 && body) {
        if (dryRun) return resolve({ kind: "checked", summary: body as Summary });
        return resolve({ kind: "imported", summary: body as Summary, replayed: xhr.getResponseHeader("idempotent-replayed") === "true" });
      }
      resolve({ kind: "refused", message: messageOf(body, xhr.status), errors: body?.errors, errorCount: body?.errorCount });
    };
    xhr.send(file);
  });
}

/** Downloads an export: fetched with the owner's token, then saved under the server's file name. */
async function download(path: string): Promise<string | undefined> {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (!res.ok) {
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    return messageOf(body, res.status);
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? "export.csv";
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return undefined;
}

function Counts({ s, future }: { s: Summary; future: boolean }) {
  return (
    <ul className="import-counts" data-testid="import-counts">
      <li>
        {plural(s.rows, "row", "rows")} read
      </li>
      <li>
        {plural(s.created, "customer", "customers")} {future ? "to create" : "created"}
      </li>
      <li>
        {plural(s.updated, "customer", "customers")} {future ? "to update" : "updated"}
      </li>
      <li>{plural(s.unchanged, "customer", "customers")} unchanged</li>
      <li>
        {plural(s.pointsAdded, "point", "points")} {future ? "to add" : "added"}
      </li>
      {s.ignoredColumns.length > 0 ? <li>Columns not read: {s.ignoredColumns.join(", ")}</li> : null}
    </ul>
  );
}

function Problems({ errors, count }: { errors: Problem[]; count: number }) {
  if (count === 0) return null;
  return (
    <>
      <p className="message message-error" role="alert" data-testid="import-problem-count">
        {plural(count, "problem", "problems")} in the file; nothing was imported. Correct {count === 1 ? "it" : "them"} and check the file again.
      </p>
      <div className="table-wrap">
        <table className="cards" data-testid="import-problems">
          <caption className="visually-hidden">Problems, by line of the file</caption>
          <thead>
            <tr>
              <th scope="col">Line</th>
              <th scope="col">Column</th>
              <th scope="col">Problem</th>
            </tr>
          </thead>
          <tbody>
            {errors.map((e, i) => (
              <tr key={i}>
                <td data-label="Line">{e.line}</td>
                <td data-label="Column">{e.column ?? "—"}</td>
                <td data-label="Problem">{e.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {errors.length < count ? <p className="hint">The first {number.format(errors.length)} are shown.</p> : null}
    </>
  );
}

/**
 * Import and export (contract §12): check a CSV file (dry run) and see
 * every problem by line and column, import it with progress, and download
 * the customers or the ledger of a date range as CSV.
 */
export function ImportExportPage() {
  const [file, setFile] = useState<File>();
  const [phase, setPhase] = useState<Phase>({ kind: "idle" });
  const [checked, setChecked] = useState<Summary>();
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [exportError, setExportError] = useState<string>();
  const [exporting, setExporting] = useState<string>();
  const keyRef = useRef("");
  const fileId = useId();
  const queryClient = useQueryClient();
  const busy = phase.kind === "uploading" || phase.kind === "checking" || phase.kind === "writing";

  async function check(e: FormEvent) {
    e.preventDefault();
    if (!file) return;
    setChecked(undefined);
    const out = await sendFile(file, true, "", setPhase);
    setPhase(out);
    if (out.kind === "checked") setChecked(out.summary);
  }

  async function runImport() {
    if (!file) return;
    // One key per chosen file: a retry after a lost answer is answered, not run twice.
    keyRef.current ||= `portal-import-${crypto.randomUUID()}`;
    const out = await sendFile(file, false, keyRef.current, setPhase);
    setPhase(out);
    if (out.kind === "imported") void queryClient.invalidateQueries();
  }

  async function exportFile(kind: "customers" | "ledger") {
    setExportError(undefined);
    if (kind === "ledger" && from && to && from > to) {
      setExportError("The start date is after the end date.");
      return;
    }
    setExporting(kind);
    const query = new URLSearchParams();
    if (from) query.set("from", from);
    if (to) query.set("to", to);
    const q = query.toString();
    const path = kind === "customers" ? "/v1/owner/customers/export" : `/v1/owner/ledger/export${q ? `?${q}` : ""}`;
    try {
      setExportError(await download(path));
    } catch {
      setExportError("The download failed: check the connection and try again.");
    } finally {
      setExporting(undefined);
    }
  }

  return (
    <>
      <PageHeading>Import and export</PageHeading>
      <p className="lead">
        Bring customers in from a spreadsheet, or take your customers and their points history out as CSV files.
      </p>

      <section className="panel" aria-labelledby="import-title">
        <h2 id="import-title">Import customers</h2>
        <p>
          A CSV file (UTF-8, separated by commas or semicolons) whose first line names the columns: <code>phone</code> (required),{" "}
          <code>name</code>, <code>notes</code>, <code>points</code> and <code>status</code> (ACTIVE or BLOCKED). Customers are matched by
          phone number: new numbers become new customers, known ones get the file&apos;s name, notes and status (an empty cell keeps what
          is there), and each row&apos;s points are added to the balance. Up to 50 MiB.
        </p>
        <form onSubmit={check} data-testid="import-form">
          <div className="field">
            <label htmlFor={fileId}>CSV file</label>
            <input
              id={fileId}
              type="file"
              accept=".csv,text/csv"
              data-testid="import-file"
              disabled={busy}
              onChange={(e) => {
                setFile(e.target.files?.[0]);
                setChecked(undefined);
                setPhase({ kind: "idle" });
                keyRef.current = "";
              }}
            />
          </div>
          <div className="actions">
            <button type="submit" disabled={!file || busy} data-testid="import-check">
              Check the file
            </button>
            <button
              type="button"
              disabled={!file || busy || !checked?.valid || checked.alreadyImported}
              onClick={() => void runImport()}
              data-testid="import-run"
            >
              {checked?.valid ? `Import ${plural(checked.rows, "row", "rows")}` : "Import"}
            </button>
          </div>
        </form>

        {phase.kind === "uploading" ? (
          <div role="status" data-testid="import-progress">
            <p>
              Sending the file… {phase.total > 0 ? `${Math.round((phase.sent / phase.total) * 100)} %` : null}
            </p>
            <progress max={phase.total || 1} value={phase.sent} />
          </div>
        ) : null}
        {phase.kind === "checking" ? (
          <p role="status" className="loading" data-testid="import-progress">
            Reading and checking the rows…
          </p>
        ) : null}
        {phase.kind === "writing" ? (
          <div role="status" data-testid="import-progress">
            <p>
              Importing: {number.format(phase.done)} of {plural(phase.rows, "row", "rows")} written…
            </p>
            <progress max={phase.rows || 1} value={phase.done} />
          </div>
        ) : null}

        {phase.kind === "checked" ? (
          <div data-testid="import-check-result">
            {phase.summary.alreadyImported ? (
              <p className="message message-ok" role="status">
                This file was imported before; importing it again would change nothing.
              </p>
            ) : phase.summary.valid ? (
              <p className="message message-ok" role="status">
                The file is ready to import.
              </p>
            ) : null}
            {phase.summary.valid ? <Counts s={phase.summary} future /> : null}
            <Problems errors={phase.summary.errors} count={phase.summary.errorCount} />
          </div>
        ) : null}
        {phase.kind === "imported" ? (
          <div data-testid="import-result">
            <p className="message message-ok" role="status">
              {phase.replayed ? "This file had already been imported: nothing changed." : "Import complete."}
            </p>
            <Counts s={phase.summary} future={false} />
          </div>
        ) : null}
        {phase.kind === "refused" ? (
          <div data-testid="import-refused">
            {phase.errors && phase.errorCount ? (
              <Problems errors={phase.errors} count={phase.errorCount} />
            ) : (
              <p className="message message-error" role="alert">
                {phase.message}
              </p>
            )}
          </div>
        ) : null}
      </section>

      <section className="panel" aria-labelledby="export-title">
        <h2 id="export-title">Export</h2>
        <p>CSV files that open in any spreadsheet. The customer file imports as it is into another Loyalty+ account.</p>
        <div className="actions">
          <button type="button" className="secondary" disabled={exporting !== undefined} onClick={() => void exportFile("customers")} data-testid="export-customers">
            {exporting === "customers" ? "Preparing…" : "Download customers (CSV)"}
          </button>
        </div>
        <h3>Points history</h3>
        <div className="inline-form">
          <div className="field">
            <label htmlFor={`${fileId}-from`}>From</label>
            <input id={`${fileId}-from`} type="date" value={from} max={to || undefined} onChange={(e) => setFrom(e.target.value)} data-testid="export-from" />
          </div>
          <div className="field">
            <label htmlFor={`${fileId}-to`}>To (included)</label>
            <input id={`${fileId}-to`} type="date" value={to} min={from || undefined} onChange={(e) => setTo(e.target.value)} data-testid="export-to" />
          </div>
          <button type="button" className="secondary" disabled={exporting !== undefined} onClick={() => void exportFile("ledger")} data-testid="export-ledger">
            {exporting === "ledger" ? "Preparing…" : "Download points history (CSV)"}
          </button>
        </div>
        <p className="hint">Leave the dates empty for the whole history. Dates are in UTC.</p>
        {exportError ? (
          <p className="message message-error" role="alert" data-testid="export-error">
            {exportError}
          </p>
        ) : null}
      </section>
    </>
  );
}
