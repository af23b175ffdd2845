import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { TransportProvider } from "@connectrpc/connect-query";
import { Code, ConnectError } from "@connectrpc/connect";
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { PageHeading } from "./components/common.js";
import { ApiKeysPage } from "./pages/api-keys-page.js";
import { AuthPage } from "./pages/auth-page.js";
import { CustomerPage } from "./pages/customer-page.js";
import { CustomersPage } from "./pages/customers-page.js";
import { DashboardPage } from "./pages/dashboard-page.js";
import { DevelopersPage } from "./pages/developers-page.js";
import { ProgramPage } from "./pages/program-page.js";
import { StoresPage } from "./pages/stores-page.js";
import { RewardsPage } from "./pages/rewards-page.js";
import { PromotionsPage } from "./pages/promotions-page.js";
import { ImportExportPage } from "./pages/import-export-page.js";
import { href, navigate, useRoute, type Route } from "./router.js";
import { clearSession, isLive, loadSession, saveSession, SESSION_STORAGE_KEY, type Session } from "./session.js";
import { createPortalTransport } from "./transport.js";

const EXPIRED = "Your session has expired. Please log in again.";
/** setTimeout's largest delay; longer sessions are re-checked when it fires. */
const MAX_TIMER_MS = 2_147_483_647;

/** Retries only what may succeed on a second try: the network, not a refusal. */
function shouldRetry(failures: number, err: unknown): boolean {
  const code = ConnectError.from(err).code;
  return failures < 2 && (code === Code.Unavailable || code === Code.Unknown);
}

/**
 * The portal: the owner's session (in localStorage, ended when the token
 * expires or the server refuses it), the Connect transport that carries the
 * token, and the pages.
 */
export function App() {
  const initial = useMemo(() => loadSession(), []);
  const [session, setSession] = useState<Session | undefined>(initial.session);
  const [notice, setNotice] = useState<string | undefined>(initial.expired ? EXPIRED : undefined);
  const sessionRef = useRef(session);
  sessionRef.current = session;

  const queryClient = useMemo(
    () => new QueryClient({ defaultOptions: { queries: { retry: shouldRetry, staleTime: 5_000 }, mutations: { retry: false } } }),
    [],
  );

  const endSession = useCallback(
    (message: string | undefined) => {
      clearSession();
      sessionRef.current = undefined;
      setSession(undefined);
      setNotice(message);
      queryClient.clear();
    },
    [queryClient],
  );

  const transport = useMemo(
    () =>
      createPortalTransport({
        getToken: () => sessionRef.current?.token,
        onSessionRejected: () => endSession(EXPIRED),
      }),
    [endSession],
  );

  // End the session when the token expires, even if the tab sits idle.
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!session) return;
    const check = () => {
      if (!isLive(session)) endSession(EXPIRED);
    };
    const delay = session.exp * 1000 - Date.now();
    if (delay <= 0) {
      endSession(EXPIRED);
      return;
    }
    const timer = setTimeout(() => (isLive(session) ? setTick((t) => t + 1) : endSession(EXPIRED)), Math.min(delay + 250, MAX_TIMER_MS));
    document.addEventListener("visibilitychange", check);
    return () => {
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", check);
    };
  }, [session, tick, endSession]);

  // Log out and in across tabs.
  useEffect(() => {
    const onStorage = (e: StorageEvent) => {
      if (e.key !== SESSION_STORAGE_KEY && e.key !== null) return;
      const next = loadSession().session;
      if (!next && sessionRef.current) endSession("You logged out in another tab.");
      else if (next && next.token !== sessionRef.current?.token) {
        queryClient.clear();
        setSession(next);
      }
    };
    window.addEventListener("storage", onStorage);
    return () => window.removeEventListener("storage", onStorage);
  }, [endSession, queryClient]);

  const route = useRoute();

  function signedIn(next: Session) {
    queryClient.clear();
    saveSession(next);
    setNotice(undefined);
    setSession(next);
    const page = route.segments[0];
    if (!page || page === "login" || page === "signup") navigate(href("dashboard"));
  }

  return (
    <TransportProvider transport={transport}>
      <QueryClientProvider client={queryClient}>
        {session ? (
          <Shell
            session={session}
            route={route}
            onLogout={() => {
              endSession("You have logged out.");
              navigate(href("login"));
            }}
          />
        ) : (
          <AuthPage mode={route.segments[0] === "signup" ? "signup" : "login"} notice={notice} onSignedIn={signedIn} />
        )}
      </QueryClientProvider>
    </TransportProvider>
  );
}

const NAV: { label: ReactNode; name: string; target: string; match: string }[] = [
  { label: "Dashboard", name: "Dashboard", target: href("dashboard"), match: "dashboard" },
  { label: "Customers", name: "Customers", target: href("customers"), match: "customers" },
  { label: "Program", name: "Program", target: href("program"), match: "program" },
  { label: "Rewards", name: "Rewards", target: href("rewards"), match: "rewards" },
  { label: "Promotions", name: "Promotions", target: href("promotions"), match: "promotions" },
  { label: "Stores", name: "Stores", target: href("stores"), match: "stores" },
  // Called what it is: there is no billing yet (the old #/billing/api-key still opens it).
  { label: "API keys", name: "API keys", target: href("api-keys"), match: "api-keys" },
  { label: "Developers", name: "Developers", target: href("developers"), match: "developers" },
  { label: "Import/export", name: "Import and export", target: href("import-export"), match: "import-export" },
];

/** Which page a route shows, and its title. */
function pageOf(route: Route): { key: string; title: string; node: ReactNode } {
  const [first = "dashboard", second] = route.segments;
  switch (first) {
    case "dashboard":
    case "login":
    case "signup":
      return { key: "dashboard", title: "Dashboard", node: <DashboardPage /> };
    case "customers":
      return second
        ? { key: `customer:${second}`, title: "Customer", node: <CustomerPage id={second} /> }
        : { key: "customers", title: "Customers", node: <CustomersPage query={route.query} /> };
    case "api-keys":
    case "billing":
      return { key: "api-keys", title: "API keys", node: <ApiKeysPage /> };
    case "developers":
      return { key: "developers", title: "Developers", node: <DevelopersPage /> };
    case "program":
      return { key: "program", title: "Program", node: <ProgramPage /> };
    case "stores":
      return { key: "stores", title: "Stores", node: <StoresPage /> };
    case "rewards":
      return { key: "rewards", title: "Rewards", node: <RewardsPage /> };
    case "promotions":
      return { key: "promotions", title: "Promotions", node: <PromotionsPage /> };
    case "import-export":
      return { key: "import-export", title: "Import and export", node: <ImportExportPage /> };
    default:
      return {
        key: "not-found",
        title: "Page not found",
        node: (
          <>
            <PageHeading>Page not found</PageHeading>
            <p>
              There is no such page. Go to the <a href={href("dashboard")}>dashboard</a>.
            </p>
          </>
        ),
      };
  }
}

function Shell({ session, route, onLogout }: { session: Session; route: Route; onLogout: () => void }) {
  const page = pageOf(route);
  const current = route.segments[0] ?? "dashboard";
  useEffect(() => {
    document.title = `${page.title} · Loyalty+ Admin Portal`;
  }, [page.title]);
  // The sign-in pages are not for signed-in owners: show the dashboard's URL.
  useEffect(() => {
    if (current === "login" || current === "signup") navigate(href("dashboard"), { replace: true });
    if (current === "billing") navigate(href("api-keys"), { replace: true });
  }, [current]);

  return (
    <div className="shell">
      <a className="skip-link" href="#main" onClick={(e) => {
        e.preventDefault();
        document.getElementById("main")?.focus();
      }}>
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" href={href("dashboard")} aria-label="Loyalty+ dashboard">
          Loyalty<span>+</span>
        </a>
        <nav aria-label="Main" className="mainnav">
          <ul>
            {NAV.map((item) => (
              <li key={item.match}>
                <a href={item.target} aria-current={item.match === current ? "page" : undefined} data-testid={`nav-${item.match}`}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="account">
          <span className="account-name" title={session.email} data-testid="account-email">
            {session.businessName ?? session.email}
          </span>
          <button type="button" className="secondary small" onClick={onLogout}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1} className="content" key={page.key}>
        {page.node}
      </main>
    </div>
  );
}
