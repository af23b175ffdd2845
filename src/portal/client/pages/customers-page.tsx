import { keepPreviousData, useQueryClient } from "@tanstack/react-query";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useEffect, useState, type FormEvent } from "react";
import { CustomerAdmin } from "../../../../gen/loyalty/v1/admin_pb.js";
import { CustomerStatus } from "../../../../gen/loyalty/v1/types_pb.js";
import { ErrorMessage, Field, Notice, PageHeading, QueryState } from "../components/common.js";
import { customerName, formatDate, formatDateTime, formatNumber, statusLabel } from "../format.js";
import { href, navigate } from "../router.js";

const SORT_FIELDS = [
  ["createdAt", "Date joined"],
  ["name", "Name"],
  ["totalPoints", "Points"],
  ["lastVisitAt", "Last visit"],
] as const;
const PAGE_SIZES = [10, 20, 50, 100];

type SortField = (typeof SORT_FIELDS)[number][0];

function readListParams(q: URLSearchParams) {
  const sortBy = (SORT_FIELDS.find(([f]) => f === q.get("sortBy"))?.[0] ?? "createdAt") as SortField;
  const limit = Number(q.get("limit"));
  const page = Math.floor(Number(q.get("page")));
  const status = q.get("status");
  return {
    search: q.get("search") ?? "",
    status: status === "ACTIVE" || status === "BLOCKED" ? status : "",
    sortBy,
    sortOrder: q.get("sortOrder") === "asc" ? "asc" : "desc",
    page: Number.isFinite(page) && page >= 1 ? page : 1,
    limit: PAGE_SIZES.includes(limit) ? limit : 20,
  } as const;
}

type ListParams = ReturnType<typeof readListParams>;

function listHref(p: ListParams): string {
  const q = new URLSearchParams();
  if (p.search) q.set("search", p.search);
  if (p.status) q.set("status", p.status);
  if (p.sortBy !== "createdAt") q.set("sortBy", p.sortBy);
  if (p.sortOrder !== "desc") q.set("sortOrder", p.sortOrder);
  if (p.page !== 1) q.set("page", String(p.page));
  if (p.limit !== 20) q.set("limit", String(p.limit));
  const s = q.toString();
  return "#/customers" + (s ? `?${s}` : "");
}

/**
 * The customer list with the API's search, status filter, sort and
 * page-number pagination. The filters live in the URL, so reload and the
 * back button keep them.
 */
export function CustomersPage({ query }: { query: URLSearchParams }) {
  const params = readListParams(query);
  const [text, setText] = useState(params.search);

  // Reads the URL at call time: a debounced search must not undo a filter changed meanwhile.
  const go = (changes: Partial<ListParams>, opts: { replace?: boolean } = {}) => {
    const current = readListParams(new URLSearchParams(window.location.hash.split("?")[1] ?? ""));
    navigate(listHref({ ...current, page: 1, ...changes }), opts);
  };

  // The box follows the URL (back button), and typing updates the URL after a pause.
  useEffect(() => setText((t) => (t.trim() === params.search ? t : params.search)), [params.search]);
  useEffect(() => {
    if (text.trim() === params.search) return;
    const t = setTimeout(() => go({ search: text.trim() }, { replace: true }), 350);
    return () => clearTimeout(t);
  }, [text, params.search]);

  const list = useQuery(
    CustomerAdmin.method.listCustomers,
    {
      page: params.page,
      limit: params.limit,
      search: params.search,
      statusFilter: params.status === "ACTIVE" ? CustomerStatus.ACTIVE : params.status === "BLOCKED" ? CustomerStatus.BLOCKED : CustomerStatus.CUSTOMER_STATUS_UNSPECIFIED,
      sortBy: params.sortBy,
      sortOrder: params.sortOrder,
    },
    { placeholderData: keepPreviousData },
  );
  const total = list.data?.pagination?.total ?? 0;
  // The page on screen, which lags the URL while the next one loads.
  const shown = list.data?.pagination;
  const pages = Math.max(1, Math.ceil(total / (shown?.limit || params.limit)));
  const shownPage = Math.min(shown?.page || params.page, pages);
  const filtered = params.search !== "" || params.status !== "";

  return (
    <>
      <PageHeading>Customers</PageHeading>
      {query.get("deleted") === "1" ? <Notice testId="deleted-notice">Customer deleted permanently.</Notice> : null}
      <AddCustomer />
      <form
        role="search"
        aria-label="Find customers"
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          go({ search: text.trim() });
        }}
      >
        <Field label="Search" hint="Part of a name, or of a phone number.">
          {(p) => <input {...p} type="search" name="search" value={text} onChange={(e) => setText(e.target.value)} data-testid="customer-search" />}
        </Field>
        <Field label="Status">
          {(p) => (
            <select {...p} value={params.status} onChange={(e) => go({ status: e.target.value as ListParams["status"] })} data-testid="status-filter">
              <option value="">All customers</option>
              <option value="ACTIVE">Active</option>
              <option value="BLOCKED">Blocked</option>
            </select>
          )}
        </Field>
        <Field label="Sort by">
          {(p) => (
            <select {...p} value={params.sortBy} onChange={(e) => go({ sortBy: e.target.value as SortField })} data-testid="sort-by">
              {SORT_FIELDS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Order">
          {(p) => (
            <select {...p} value={params.sortOrder} onChange={(e) => go({ sortOrder: e.target.value as "asc" | "desc" })} data-testid="sort-order">
              <option value="desc">Descending</option>
              <option value="asc">Ascending</option>
            </select>
          )}
        </Field>
        <Field label="Per page">
          {(p) => (
            <select {...p} value={params.limit} onChange={(e) => go({ limit: Number(e.target.value) })}>
              {PAGE_SIZES.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          )}
        </Field>
        <button type="submit" className="secondary">
          Search
        </button>
      </form>

      <QueryState query={list} what="customers" />
      {list.data ? (
        <section aria-labelledby="customers-result" className="panel">
          <h2 id="customers-result" className="visually-hidden">
            Results
          </h2>
          <p className="result-count" role="status" data-testid="customer-count">
            {total === 0 ? "No customers" : `${formatNumber(total)} customer${total === 1 ? "" : "s"}`}
            {filtered ? " match" : ""}
            {list.isFetching ? " (updating…)" : ""}
          </p>
          {list.data.customers.length === 0 ? (
            <p className="empty">
              {filtered
                ? "No customer matches this search and filter."
                : "No customers yet. They appear here after their first check-in at the till, or when you add one."}
            </p>
          ) : (
            <div className="table-wrap">
              <table data-testid="customers-table" className="cards">
                <caption className="visually-hidden">Customers</caption>
                <thead>
                  <tr>
                    <SortHeader field="name" label="Name" params={params} go={go} />
                    <th scope="col">Phone</th>
                    <th scope="col">Status</th>
                    <SortHeader field="totalPoints" label="Points" params={params} go={go} className="num" />
                    <th scope="col">Reward</th>
                    <SortHeader field="lastVisitAt" label="Last visit" params={params} go={go} />
                    <SortHeader field="createdAt" label="Joined" params={params} go={go} className="col-wide" />
                  </tr>
                </thead>
                <tbody>
                  {list.data.customers.map((c) => (
                    <tr key={c.id} data-testid="customer-row">
                      <td className="card-title">
                        <a href={href("customers", c.id)}>{customerName(c)}</a>
                      </td>
                      <td className="mono" data-label="Phone">
                        {c.phone}
                      </td>
                      <td data-label="Status">
                        <span className={`badge badge-${statusLabel(c.status).toLowerCase()}`}>{statusLabel(c.status)}</span>
                      </td>
                      <td className="num" data-label="Points" data-testid="customer-points">
                        {formatNumber(c.totalPoints)}
                      </td>
                      <td data-label="Reward" data-testid="customer-reward">
                        {c.rewardAvailable ? "Available" : "—"}
                      </td>
                      <td data-label="Last visit">{formatDateTime(c.lastVisitAt, "Never")}</td>
                      <td data-label="Joined" className="col-wide">
                        {formatDate(c.createdAt)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <nav aria-label="Pages" className="pager">
            <button type="button" className="secondary" disabled={params.page <= 1} onClick={() => go({ page: params.page - 1 })}>
              Previous page
            </button>
            <span data-testid="page-info">
              Page {formatNumber(shownPage)} of {formatNumber(pages)}
            </span>
            <button type="button" className="secondary" disabled={params.page >= pages} onClick={() => go({ page: params.page + 1 })}>
              Next page
            </button>
          </nav>
        </section>
      ) : null}
    </>
  );
}

/**
 * A column header that sorts the list by its field: a first click sorts
 * names A→Z and figures and dates highest or newest first, a second click
 * reverses. aria-sort tells screen readers which column orders the list.
 */
function SortHeader({
  field,
  label,
  params,
  go,
  className,
}: {
  field: SortField;
  label: string;
  params: ListParams;
  go: (changes: Partial<ListParams>) => void;
  className?: string;
}) {
  const active = params.sortBy === field;
  const next = active ? (params.sortOrder === "asc" ? "desc" : "asc") : field === "name" ? "asc" : "desc";
  return (
    <th scope="col" className={className} aria-sort={active ? (params.sortOrder === "asc" ? "ascending" : "descending") : undefined}>
      <button type="button" className="sort-button" data-testid={`sort-${field}`} onClick={() => go({ sortBy: field, sortOrder: next })}>
        {label}
        <span aria-hidden="true" className="sort-mark">
          {active ? (params.sortOrder === "asc" ? " ▲" : " ▼") : ""}
        </span>
      </button>
    </th>
  );
}

/** Enrols a customer by hand, optionally with an opening balance. */
function AddCustomer() {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [phone, setPhone] = useState("");
  const [notes, setNotes] = useState("");
  const [initialPoints, setInitialPoints] = useState("0");
  const queryClient = useQueryClient();
  const create = useMutation(CustomerAdmin.method.createCustomer, {
    onSuccess: (res) => {
      void queryClient.invalidateQueries();
      if (res.customer) navigate(href("customers", res.customer.id));
    },
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ name: name.trim(), phone: phone.trim(), notes, initialPoints: Number(initialPoints) || 0 });
  }

  return (
    <section className="panel collapsible">
      <h2>
        <button type="button" className="disclosure" aria-expanded={open} onClick={() => setOpen((v) => !v)}>
          Add a customer
        </button>
      </h2>
      {open ? (
        <form onSubmit={submit} className="grid-form" aria-label="Add a customer">
          <Field label="Name">{(p) => <input {...p} maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
          <Field label="Phone" hint="Any format; local numbers use your program’s country.">
            {(p) => <input {...p} type="tel" required autoComplete="off" value={phone} onChange={(e) => setPhone(e.target.value)} />}
          </Field>
          <Field label="Opening points">
            {(p) => <input {...p} type="number" min={0} step={1} inputMode="numeric" value={initialPoints} onChange={(e) => setInitialPoints(e.target.value)} />}
          </Field>
          <Field label="Notes">{(p) => <textarea {...p} maxLength={2000} rows={2} value={notes} onChange={(e) => setNotes(e.target.value)} />}</Field>
          <div className="form-footer">
            <ErrorMessage error={create.error} />
            <button type="submit" disabled={create.isPending}>
              {create.isPending ? "Adding…" : "Add customer"}
            </button>
          </div>
        </form>
      ) : null}
    </section>
  );
}
