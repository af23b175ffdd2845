import { isUtf8 } from "node:buffer";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { CsvError, parse } from "csv-parse";
import { DomainError, invalidArgument } from "../domain/errors.js";
import { normalizePhoneUnmemoised } from "../domain/phone.js";
import * as v from "../domain/validation.js";

/** The columns an import reads (contract §12); `phone` is required. */
export const IMPORT_COLUMNS = ["phone", "name", "notes", "points", "status"] as const;
type ImportColumn = (typeof IMPORT_COLUMNS)[number];

/** The largest `points` of one row, as for a new customer's initial points. */
export const MAX_IMPORT_POINTS = 10_000_000;
/** Rows per file. */
export const MAX_IMPORT_ROWS = 1_000_000;
/** Problems listed in one answer (the count is always exact). */
export const MAX_LISTED_PROBLEMS = 100_000;
/** CSV syntax errors the reader recovers from before it stops reading. */
const MAX_SYNTAX_ERRORS = 1_000;

/** One problem of an import file: `line` of the file (the header is line 1), `column` as the header names it. */
export interface ImportProblem {
  line: number;
  column: string | null;
  message: string;
}

/**
 * A file read and checked, row by row, as columns (one array per field:
 * 100,000 rows as 100,000 objects would cost several times the memory, and
 * the arrays go to PostgreSQL's `unnest` as they are). Empty cells are null:
 * they leave an existing customer's field unchanged.
 */
export interface ImportFile {
  /** The header as written, the columns read, and the others (ignored). */
  header: string[];
  ignoredColumns: string[];
  /** The file line each row starts on. */
  lines: number[];
  phones: string[];
  names: (string | null)[];
  notes: (string | null)[];
  points: number[];
  statuses: ("ACTIVE" | "BLOCKED" | null)[];
  problems: ImportProblem[];
  problemCount: number;
}

/** A cell's trimmed text; null when empty or when the file has no such column. */
function cellOf(fields: string[], i: number | undefined): string | null {
  if (i === undefined) return null;
  const value = fields[i]!.trim();
  return value === "" ? null : value;
}

/** A problem with the file as a whole (not CSV, no phone column…): nothing is read. */
function fileError(message: string): DomainError {
  return invalidArgument(message);
}

/** The delimiter the header line uses: the most frequent of `,` `;` and tab outside quotes (`,` if none). */
function detectDelimiter(headerLine: string): string {
  const counts = new Map<string, number>([[",", 0], [";", 0], ["\t", 0]]);
  let quoted = false;
  for (const ch of headerLine) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && counts.has(ch)) counts.set(ch, counts.get(ch)! + 1);
  }
  let best = ",";
  for (const [ch, n] of counts) if (n > counts.get(best)!) best = ch;
  return best;
}

/** Plain words for csv-parse's syntax errors. */
function syntaxMessage(err: CsvError): string {
  switch (err.code) {
    case "CSV_INVALID_CLOSING_QUOTE":
      return 'malformed CSV: a closing quote (") must be followed by the delimiter or the end of the line';
    case "INVALID_OPENING_QUOTE":
      return 'malformed CSV: a quote (") inside a field that does not start with one; quote the whole field and double the quote ("")';
    case "CSV_QUOTE_NOT_CLOSED":
      return 'malformed CSV: a quoted field starts on this line and its closing quote (") is missing';
    case "CSV_MAX_RECORD_SIZE":
      return "malformed CSV: the row is longer than 1 MiB";
    default:
      return `malformed CSV: ${err.message.replace(/ at line \d+/, "").slice(0, 200)}`;
  }
}

/** Where the line `lines` lines after the one starting at `from` starts (the file's length past the last line). */
function lineStartAfter(bytes: Buffer, from: number, lines: number): number {
  let at = from - 1;
  for (let n = 0; n < lines; n++) {
    at = bytes.indexOf(10, at + 1);
    if (at === -1) return bytes.length;
  }
  return at + 1;
}

/** Line feeds in a record's fields: a quoted field may hold line breaks. */
function feedsIn(fields: string[]): number {
  let n = 0;
  for (const f of fields) {
    for (let at = f.indexOf("\n"); at !== -1; at = f.indexOf("\n", at + 1)) n++;
  }
  return n;
}

/**
 * Reads the records of `bytes`: calls `onRecord(fields, line)` for each
 * (`line`: where the record starts; blank lines are counted, not passed),
 * and after a CSV syntax error resumes reading at the line after the one
 * its row starts on (unless `onSyntaxError` says to stop), so every problem
 * of the file is found, not only the first.
 */
async function readRecords(
  bytes: Buffer,
  delimiter: string,
  onRecord: (fields: string[], line: number) => boolean,
  onSyntaxError: (line: number, message: string) => boolean,
): Promise<void> {
  let start = 0;
  let line = 1;
  let syntaxErrors = 0;
  while (start < bytes.length) {
    const startLine = line;
    let stopped = false;
    // Lines are counted here, from each record's own line breaks (csv-parse's
    // line count counts a CRLF twice when trimming, and its per-record info
    // costs a fifth of the parse).
    const parser = parse({ bom: true, delimiter, relax_column_count: true, trim: true, max_record_size: 1 << 20 });
    parser.on("data", (record: string[]) => {
      if (stopped) return;
      const at = line;
      line += 1 + feedsIn(record);
      if (record.length === 1 && record[0] === "") return; // a blank line
      if (!onRecord(record, at)) stopped = true;
    });
    const done = new Promise<CsvError | undefined>((resolve, reject) => {
      parser.on("error", (err) => (err instanceof CsvError ? resolve(err) : reject(err)));
      parser.on("end", () => resolve(undefined));
    });
    let failed = false;
    void done.then((err) => (failed = err !== undefined));
    // A 50 MiB file is parsed in 64 KiB pieces: the tills' calls are served in between.
    for (let at = start; at < bytes.length && !stopped && !failed; at += 65_536) {
      parser.write(bytes.subarray(at, Math.min(at + 65_536, bytes.length)));
      await yieldToLoop();
    }
    if (!failed) parser.end();
    const err = await done;
    if (err === undefined || stopped) return;
    // Reported on the line its row starts on, as other problems are.
    if (!onSyntaxError(line, syntaxMessage(err))) return;
    if (++syntaxErrors >= MAX_SYNTAX_ERRORS) {
      onSyntaxError(line, `more than ${MAX_SYNTAX_ERRORS} malformed lines: the rest of the file was not read`);
      return;
    }
    start = lineStartAfter(bytes, start, line - startLine + 1);
    line += 1;
  }
}

/**
 * Reads and checks an import file: UTF-8 CSV with a header line naming its
 * columns (`phone` required; `name`, `notes`, `points`, `status` optional;
 * others, such as an export's `id`, are ignored), separated by `,` `;` or
 * tab (detected from the header line), quoted fields with doubled quotes
 * and line breaks inside them, with or without a byte-order mark. Every
 * problem of every row is listed, with its line and column; phone numbers
 * are normalised with `defaultCountry`, and a number given twice is a
 * problem naming both lines. Throws INVALID_ARGUMENT for a file that cannot
 * be read at all (empty, binary, not UTF-8, no phone column).
 */
export async function readImportFile(bytes: Buffer, defaultCountry: string): Promise<ImportFile> {
  if (bytes.length === 0) throw fileError("the file is empty");
  if (bytes.includes(0)) throw fileError("the file is not a CSV file: it holds binary data (save it as CSV UTF-8)");
  if (!isUtf8(bytes)) throw fileError("the file is not UTF-8 text: save it as CSV UTF-8");

  const body = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
  const firstFeed = body.indexOf(10);
  const delimiter = detectDelimiter(body.subarray(0, firstFeed === -1 ? body.length : firstFeed).toString("utf8"));

  const out: ImportFile = {
    header: [],
    ignoredColumns: [],
    lines: [],
    phones: [],
    names: [],
    notes: [],
    points: [],
    statuses: [],
    problems: [],
    problemCount: 0,
  };
  const problem = (line: number, column: string | null, message: string) => {
    out.problemCount++;
    if (out.problems.length < MAX_LISTED_PROBLEMS) out.problems.push({ line, column, message });
  };

  let index: Partial<Record<ImportColumn, number>> | undefined;
  let headerError: DomainError | undefined;
  /** Normalised phone → the line it was first seen on. */
  const seen = new Map<string, number>();
  let tooManyRows = false;

  await readRecords(
    bytes,
    delimiter,
    (fields, line) => {
      if (index === undefined) {
        index = {};
        out.header = fields;
        fields.forEach((raw, i) => {
          const name = raw.trim().toLowerCase() as ImportColumn;
          if (!(IMPORT_COLUMNS as readonly string[]).includes(name)) {
            if (raw.trim() !== "") out.ignoredColumns.push(raw.trim());
            return;
          }
          if (index![name] !== undefined) headerError ??= fileError(`the header names the column "${raw.trim()}" twice`);
          index![name] = i;
        });
        if (index.phone === undefined) {
          headerError ??= fileError(
            `the file has no phone column: its first line must name the columns, e.g. phone,name,notes,points,status (found: ${fields.join(delimiter).slice(0, 200)})`,
          );
        }
        return headerError === undefined;
      }
      if (fields.every((f) => f === "")) return true; // a row of empty cells (spreadsheets write them)
      if (out.lines.length >= MAX_IMPORT_ROWS) {
        tooManyRows = true;
        return false;
      }
      checkRow(fields, line, index);
      return true;
    },
    (line, message) => {
      if (index === undefined) {
        headerError = fileError(`the first line is not a CSV header naming the columns (e.g. phone,name,notes,points,status): ${message}`);
        return false;
      }
      problem(line, null, message);
      return true;
    },
  );
  if (headerError) throw headerError;
  if (index === undefined) throw fileError("the file is empty");
  if (tooManyRows) throw fileError(`the file has more than ${MAX_IMPORT_ROWS.toLocaleString("en-US")} rows: split it`);
  if (out.lines.length === 0 && out.problemCount === 0) throw fileError("the file has a header but no rows");
  out.problems.sort((a, b) => a.line - b.line);
  return out;

  function checkRow(fields: string[], line: number, at: Partial<Record<ImportColumn, number>>) {
    if (fields.length !== out.header.length) {
      problem(line, null, `the row has ${fields.length} ${fields.length === 1 ? "field" : "fields"}; the header has ${out.header.length}`);
      return;
    }
    const before = out.problemCount;
    let phone = "";
    const rawPhone = cellOf(fields, at.phone);
    if (rawPhone === null) problem(line, columnName(at.phone), "phone is required");
    else {
      try {
        phone = normalizePhoneUnmemoised(rawPhone, defaultCountry);
      } catch {
        problem(line, columnName(at.phone), `"${rawPhone.slice(0, 40)}" is not a possible phone number (national numbers are read as ${defaultCountry})`);
      }
    }
    const name = textCell(fields, at.name, "name", 200, line);
    const notes = textCell(fields, at.notes, "notes", 2000, line);
    let points = 0;
    const rawPoints = cellOf(fields, at.points);
    if (rawPoints !== null) {
      points = /^\+?\d{1,9}$/.test(rawPoints) ? Number(rawPoints) : NaN;
      if (!(points <= MAX_IMPORT_POINTS)) {
        problem(line, columnName(at.points), `points must be a whole number from 0 to ${MAX_IMPORT_POINTS.toLocaleString("en-US")} (found "${rawPoints.slice(0, 20)}")`);
      }
    }
    let status: "ACTIVE" | "BLOCKED" | null = null;
    const rawStatus = cellOf(fields, at.status);
    if (rawStatus !== null) {
      const upper = rawStatus.toUpperCase();
      if (upper === "ACTIVE" || upper === "BLOCKED") status = upper;
      else problem(line, columnName(at.status), `status must be ACTIVE or BLOCKED (found "${rawStatus.slice(0, 20)}")`);
    }
    if (phone !== "") {
      const first = seen.get(phone);
      if (first !== undefined) problem(line, columnName(at.phone), `the phone number ${phone} is also on line ${first}`);
      else seen.set(phone, line);
    }
    if (out.problemCount !== before) return;
    out.lines.push(line);
    out.phones.push(phone);
    out.names.push(name);
    out.notes.push(notes);
    out.points.push(points);
    out.statuses.push(status);
  }

  function columnName(i: number | undefined): string {
    return out.header[i!]!.trim();
  }

  function textCell(fields: string[], i: number | undefined, field: "name" | "notes", max: number, line: number): string | null {
    const value = cellOf(fields, i);
    if (value === null) return null;
    try {
      return v.text(value, field, { max });
    } catch (err) {
      problem(line, columnName(i), (err as Error).message);
      return null;
    }
  }
}
