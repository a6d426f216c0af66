import { lazy, Suspense, useState } from "react";
import { BrowserRouter, NavLink, Navigate, Route, Routes } from "react-router-dom";
import { useAuth } from "./auth";
import { useLiveStatus } from "./api/hooks";
import { Loading } from "./components/States";
import Login from "./pages/Login";
import Overview from "./pages/Overview";

// The overview is in the main bundle (it is the first page); the others load on demand.
const Cardinality = lazy(() => import("./pages/Cardinality"));
const Recommendations = lazy(() => import("./pages/Recommendations"));
const Pipelines = lazy(() => import("./pages/Pipelines"));
const PipelineDetail = lazy(() => import("./pages/Pipelines").then((m) => ({ default: m.PipelineDetail })));
const Builder = lazy(() => import("./pages/Builder"));
const Fleet = lazy(() => import("./pages/Fleet"));
const AgentDetail = lazy(() => import("./pages/Fleet").then((m) => ({ default: m.AgentDetail })));
const Settings = lazy(() => import("./pages/Settings"));
const Experiments = lazy(() => import("./pages/Experiments"));
const ExperimentDetail = lazy(() => import("./pages/Experiments").then((m) => ({ default: m.ExperimentDetail })));
const ExperimentNew = lazy(() => import("./pages/ExperimentNew"));
const Alerts = lazy(() => import("./pages/Alerts"));

const NAV = [
  ["/", "Overview"],
  ["/cardinality", "Cardinality"],
  ["/recommendations", "Recommendations"],
  ["/experiments", "Experiments"],
  ["/pipelines", "Pipelines"],
  ["/fleet", "Fleet"],
  ["/alerts", "Alerts"],
  ["/settings", "Settings"],
] as const;

export default function App() {
  return (
    <BrowserRouter>
      <Shell />
    </BrowserRouter>
  );
}

function Shell() {
  const { me, ready, logout } = useAuth();
  const live = useLiveStatus();
  const [open, setOpen] = useState(false);
  if (!ready) return <Loading what="session" />;
  if (!me) return <Login />;
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <button className="menu" aria-expanded={open} aria-controls="nav" onClick={() => setOpen(!open)}>
          <span aria-hidden>☰</span>
          <span className="sr-only">Menu</span>
        </button>
        <strong className="brand">Phoenix</strong>
        {live !== "idle" && (
          <span className={`live ${live === "live" ? "on" : ""}`} role="status" title={live === "live" ? "Live updates connected" : "Connecting for live updates"}>
            {live === "live" ? "live" : "connecting…"}
          </span>
        )}
        <span className="who">
          {me.subject} <span className="muted">({me.role})</span>
        </span>
        <button type="button" onClick={() => void logout()}>
          Sign out
        </button>
      </header>
      <nav id="nav" className={open ? "open" : ""} aria-label="Main">
        <ul>
          {NAV.map(([to, label]) => (
            <li key={to}>
              <NavLink to={to} end={to === "/"} onClick={() => setOpen(false)}>
                {label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<Loading what="page" />}>
          <Routes>
            <Route path="/" element={<Overview />} />
            <Route path="/cardinality" element={<Cardinality />} />
            <Route path="/cardinality/:stream" element={<Cardinality />} />
            <Route path="/cardinality/:stream/:metric" element={<Cardinality />} />
            <Route path="/recommendations" element={<Recommendations />} />
            <Route path="/pipelines" element={<Pipelines />} />
            <Route path="/pipelines/new" element={<Builder />} />
            <Route path="/pipelines/:id" element={<PipelineDetail />} />
            <Route path="/pipelines/:id/edit" element={<Builder />} />
            <Route path="/experiments" element={<Experiments />} />
            <Route path="/experiments/new" element={<ExperimentNew />} />
            <Route path="/experiments/:id" element={<ExperimentDetail />} />
            <Route path="/alerts" element={<Alerts />} />
            <Route path="/fleet" element={<Fleet />} />
            <Route path="/fleet/:id" element={<AgentDetail />} />
            <Route path="/settings" element={<Settings />} />
            <Route path="/login" element={<Navigate to="/" replace />} />
            <Route path="*" element={<p className="state">No page at this address. <NavLink to="/">Go to the overview</NavLink>.</p>} />
          </Routes>
        </Suspense>
      </main>
    </div>
  );
}
