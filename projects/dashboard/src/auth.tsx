import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api, refresh, session, unwrap, type Schemas } from "./api/client";
import { closeLive } from "./api/live";

type Auth = {
  me: Schemas["Principal"] | null;
  ready: boolean;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
};

const Ctx = createContext<Auth | null>(null);

export function useAuth(): Auth {
  const a = useContext(Ctx);
  if (!a) throw new Error("useAuth outside AuthProvider");
  return a;
}

const roles = ["viewer", "operator", "admin"] as const;
/** atLeast reports whether role reaches want (viewer < operator < admin). */
export function atLeast(role: string | undefined, want: (typeof roles)[number]): boolean {
  return roles.indexOf(role as (typeof roles)[number]) >= roles.indexOf(want);
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const [me, setMe] = useState<Schemas["Principal"] | null>(null);
  const [ready, setReady] = useState(false);

  const loadMe = useCallback(async () => {
    setMe(unwrap(await api.GET("/api/v1/auth/me")));
  }, []);

  useEffect(() => {
    session.onSignedOut(() => {
      closeLive();
      setMe(null);
      qc.clear();
    });
    // A reload keeps the session through the stored refresh token.
    (async () => {
      try {
        if (session.hasRefresh && (await refresh())) await loadMe();
      } catch {
        session.clear();
      } finally {
        setReady(true);
      }
    })();
  }, [loadMe, qc]);

  const login = useCallback(
    async (username: string, password: string) => {
      session.set(unwrap(await api.POST("/api/v1/auth/login", { body: { username, password } })));
      await loadMe();
    },
    [loadMe],
  );

  const logout = useCallback(async () => {
    try {
      await api.POST("/api/v1/auth/logout");
    } finally {
      closeLive();
      session.clear();
      setMe(null);
      qc.clear();
    }
  }, [qc]);

  return <Ctx.Provider value={{ me, ready, login, logout }}>{children}</Ctx.Provider>;
}
