import type { ReactNode } from "react";
import { ApiError } from "../api/client";

export function Loading({ what }: { what: string }) {
  return (
    <p className="state" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="state empty">{children}</p>;
}

/** ErrorBox shows an API problem's title, detail and field errors, never a bare "something went wrong". */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof ApiError) {
    const p = error.problem;
    return (
      <div className="error" role="alert">
        <strong>
          {p.title} ({p.status})
        </strong>
        {p.detail && <p>{p.detail}</p>}
        {p.errors && p.errors.length > 0 && (
          <ul>
            {p.errors.map((e, i) => (
              <li key={i}>
                <code>{e.path}</code>: {e.message}
              </li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  return (
    <div className="error" role="alert">
      <strong>Request failed</strong>
      <p>{error instanceof Error ? error.message : String(error)}</p>
    </div>
  );
}

/** Query renders the loading, error and empty states of a query, or its children. */
export function Query<T>({
  q,
  what,
  empty,
  children,
}: {
  q: { data?: T; error: unknown; isPending: boolean };
  what: string;
  empty?: (d: T) => ReactNode | false;
  children: (d: T) => ReactNode;
}) {
  if (q.isPending) return <Loading what={what} />;
  if (q.error) return <ErrorBox error={q.error} />;
  const d = q.data as T;
  const e = empty?.(d);
  if (e) return <Empty>{e}</Empty>;
  return <>{children(d)}</>;
}
