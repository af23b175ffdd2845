import { useMutation, useTransport } from "@connectrpc/connect-query";
import { useState, type FormEvent } from "react";
import { BusinessSettings, OwnerAuth } from "../../../../gen/loyalty/v1/account_pb.js";
import { createClient } from "@connectrpc/connect";
import { ErrorMessage, Field, Notice, PageHeading } from "../components/common.js";
import { CountrySelect } from "../components/country-select.js";
import { href } from "../router.js";
import { sessionFromToken, type Session } from "../session.js";

const BAD_TOKEN = new Error("the server sent a token the portal cannot read");

/** Sign-up and log-in: the only pages a signed-out owner sees. */
export function AuthPage({
  mode,
  notice,
  onSignedIn,
}: {
  mode: "login" | "signup";
  notice?: string;
  onSignedIn: (session: Session) => void;
}) {
  return (
    <main id="main" className="auth">
      <div className="auth-card">
        <p className="brand brand-large" aria-hidden="true">
          Loyalty<span>+</span>
        </p>
        <nav aria-label="Account" className="tabs">
          <a href={href("login")} aria-current={mode === "login" ? "page" : undefined}>
            Log in
          </a>
          <a href={href("signup")} aria-current={mode === "signup" ? "page" : undefined}>
            Sign up
          </a>
        </nav>
        <Notice testId="auth-notice">{notice}</Notice>
        {mode === "login" ? <LoginForm onSignedIn={onSignedIn} /> : <SignupForm onSignedIn={onSignedIn} />}
      </div>
    </main>
  );
}

function LoginForm({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [localError, setLocalError] = useState<Error>();
  const login = useMutation(OwnerAuth.method.login);
  const transport = useTransport();

  function submit(e: FormEvent) {
    e.preventDefault();
    setLocalError(undefined);
    login.mutate(
      { email: email.trim(), password },
      {
        async onSuccess(res) {
          // The business name for the header; the email stands in if it fails.
          const account = await createClient(BusinessSettings, transport)
            .getAccount({}, { headers: { Authorization: `Bearer ${res.token}` } })
            .catch(() => undefined);
          const session = sessionFromToken(res.token, email.trim(), account?.businessName);
          if (session) onSignedIn(session);
          else setLocalError(BAD_TOKEN);
        },
      },
    );
  }

  return (
    <form onSubmit={submit} aria-labelledby="login-title" data-testid="login-form">
      <PageHeading>
        <span id="login-title">Log in to your Admin Portal</span>
      </PageHeading>
      <Field label="Email">
        {(p) => <input {...p} type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />}
      </Field>
      <Field label="Password">
        {(p) => (
          <input {...p} type="password" name="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        )}
      </Field>
      <ErrorMessage error={login.error ?? localError} />
      <button type="submit" disabled={login.isPending}>
        {login.isPending ? "Logging in…" : "Log in"}
      </button>
      <p className="aside">
        New to Loyalty+? <a href={href("signup")}>Create your business account</a>.
      </p>
    </form>
  );
}

function SignupForm({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [businessName, setBusinessName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [country, setCountry] = useState("IE");
  const [localError, setLocalError] = useState<Error>();
  const register = useMutation(OwnerAuth.method.register);

  function submit(e: FormEvent) {
    e.preventDefault();
    setLocalError(undefined);
    register.mutate(
      { businessName: businessName.trim(), email: email.trim(), password, defaultCountry: country },
      {
        onSuccess(res) {
          const session = sessionFromToken(res.token, email.trim(), businessName.trim());
          if (session) onSignedIn(session);
          else setLocalError(BAD_TOKEN);
        },
      },
    );
  }

  return (
    <form onSubmit={submit} aria-labelledby="signup-title" data-testid="signup-form">
      <PageHeading>
        <span id="signup-title">Create your business account</span>
      </PageHeading>
      <Field label="Business name">
        {(p) => <input {...p} name="businessName" autoComplete="organization" required maxLength={200} value={businessName} onChange={(e) => setBusinessName(e.target.value)} />}
      </Field>
      <Field label="Email">
        {(p) => <input {...p} type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />}
      </Field>
      <Field label="Password" hint="At least 8 characters.">
        {(p) => (
          <input
            {...p}
            type="password"
            name="password"
            autoComplete="new-password"
            required
            minLength={8}
            maxLength={256}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        )}
      </Field>
      <Field label="Country" hint="Local phone numbers (087 123 4567) are read as numbers of this country.">
        {(p) => <CountrySelect {...p} name="country" value={country} onChange={setCountry} />}
      </Field>
      <ErrorMessage error={register.error ?? localError} />
      <button type="submit" disabled={register.isPending}>
        {register.isPending ? "Creating your account…" : "Sign up"}
      </button>
      <p className="aside">
        Already have an account? <a href={href("login")}>Log in</a>.
      </p>
    </form>
  );
}
