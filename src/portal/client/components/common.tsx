import { ConnectError } from "@connectrpc/connect";
import { useEffect, useId, useRef, type ReactNode } from "react";
import { errorText } from "../errors.js";

/**
 * A failed call, written next to what caused it. role="alert" makes screen
 * readers announce it; nothing is left to fail silently. `describe` words a
 * refusal with what the page knows (a balance, a name); undefined falls back
 * to the general wording.
 */
export function ErrorMessage({
  error,
  testId,
  describe,
}: {
  error: unknown;
  testId?: string;
  describe?: (err: ConnectError) => string | undefined;
}) {
  if (!error) return null;
  return (
    <p className="message message-error" role="alert" data-testid={testId ?? "error"}>
      {describe?.(ConnectError.from(error)) ?? errorText(error)}
    </p>
  );
}

/** A success note, announced politely. */
export function Notice({ children, testId }: { children: ReactNode; testId?: string }) {
  if (!children) return null;
  return (
    <p className="message message-ok" role="status" data-testid={testId ?? "notice"}>
      {children}
    </p>
  );
}

/**
 * The page's h1. It takes the focus when the page opens, so keyboard and
 * screen-reader users start at the top of the new page after navigating.
 */
export function PageHeading({ children, eyebrow }: { children: ReactNode; eyebrow?: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus({ preventScroll: false });
  }, []);
  return (
    <header className="page-header">
      {eyebrow ? <p className="eyebrow">{eyebrow}</p> : null}
      <h1 ref={ref} tabIndex={-1}>
        {children}
      </h1>
    </header>
  );
}

/** A labelled form control with an optional hint tied to it by aria-describedby. */
export function Field({
  label,
  hint,
  children,
}: {
  label: string;
  hint?: string;
  children: (props: { id: string; "aria-describedby"?: string }) => ReactNode;
}) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({ id, ...(hintId ? { "aria-describedby": hintId } : {}) })}
      {hint ? (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      ) : null}
    </div>
  );
}

/** The shape of a query that may still be loading or may have failed. */
export function QueryState({
  query,
  what,
}: {
  query: { isPending: boolean; error: unknown; refetch: () => unknown };
  what: string;
}) {
  if (query.error) {
    return (
      <div className="panel">
        <ErrorMessage error={query.error} />
        <button type="button" className="secondary" onClick={() => void query.refetch()}>
          Try again
        </button>
      </div>
    );
  }
  if (query.isPending) {
    return (
      <p className="loading" role="status">
        Loading {what}…
      </p>
    );
  }
  return null;
}

/**
 * A confirmation in a native modal <dialog>: the browser traps the focus
 * inside it and Escape cancels.
 */
export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  busy,
  error,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  busy?: boolean;
  error?: unknown;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
    >
      <h2 id={titleId}>{title}</h2>
      <div>{children}</div>
      <ErrorMessage error={error} />
      <div className="actions">
        <button type="button" className="secondary" onClick={onCancel} autoFocus>
          Cancel
        </button>
        <button type="button" className="danger" onClick={onConfirm} disabled={busy}>
          {busy ? "Working…" : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
