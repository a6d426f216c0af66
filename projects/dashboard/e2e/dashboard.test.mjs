// End-to-end: a real `phoenix server --dev` (the built binary, free ports,
// its own data dir) driven through Debian's Chromium with playwright-core.
// Screenshots land in e2e-artifacts/ (gitignored), with timings.json.
// With CI=true a missing binary or browser fails instead of skipping.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { createServer as createHTTPServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const artifacts = join(root, "e2e-artifacts");
const BIN = process.env.PHOENIX_BIN || resolve(root, "../../bin/phoenix");
const COLLECTOR = process.env.PHOENIX_COLLECTOR_BIN || resolve(root, "../../bin/phoenix-collector");
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const PASSWORD = "e2e-dashboard-password";
const CI = process.env.CI === "true";
const BUNDLE_BUDGET = 300 * 1024; // gzipped bytes of the main JS bundle

const missing = [
  [BIN, "phoenix binary (make build-phoenix)"],
  [CHROMIUM, "chromium (apt-get install chromium)"],
  [COLLECTOR, "phoenix-collector (make build-collector; the --dev loop's data)"],
  [join(root, "dist/ui/index.html"), "the UI build (npm run build)"],
].filter(([p]) => !existsSync(p));
if (missing.length && CI) {
  throw new Error(`e2e needs ${missing.map((m) => m[1]).join(", ")}; CI=true does not skip`);
}
const skip = missing.length ? `missing ${missing.map((m) => m[1]).join(", ")}` : false;

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on("error", fail);
  });
}

async function waitFor(what, fn, ms) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      if (await fn()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

describe("bundle", () => {
  it(`keeps the main JS bundle under ${BUNDLE_BUDGET / 1024} KB gzipped`, { skip: existsSync(join(root, "dist/ui/index.html")) ? false : "no build" }, () => {
    const html = readFileSync(join(root, "dist/ui/index.html"), "utf8");
    const src = html.match(/<script type="module"[^>]*src="\/(assets\/[^"]+\.js)"/)?.[1];
    assert.ok(src, "index.html loads no module script");
    const size = gzipSync(readFileSync(join(root, "dist/ui", src)), { level: 9 }).length;
    console.log(`main bundle ${src}: ${(size / 1024).toFixed(1)} KB gzipped`);
    assert.ok(size < BUNDLE_BUDGET, `main bundle is ${size} bytes gzipped, over ${BUNDLE_BUDGET}`);
    // The CSP forbids inline scripts: the page must have none.
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, "index.html has an inline script");
  });
});

describe("dashboard against phoenix server --dev", { skip }, () => {
  let server, base, browser, dataDir, otlpHTTP, logs = "";
  const timings = {};

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), "phoenix-e2e-"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      PHOENIX_DATA_DIR: dataDir,
      PHOENIX_BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
      PHOENIX_API_ADDR: `127.0.0.1:${port}`,
      PHOENIX_COLLECTOR_BIN: COLLECTOR,
    };
    for (const k of [
      "ANALYTICS_OTLP_GRPC_ADDR",
      "ANALYTICS_OTLP_HTTP_ADDR",
      "CONTROLLER_OPAMP_ADDR",
      "CONTROLLER_DEV_OTLP_GRPC_ADDR",
      "CONTROLLER_DEV_OTLP_HTTP_ADDR",
      "CONTROLLER_DEV_TELEMETRY_ADDR",
      "CONTROLLER_DEV_HEALTH_ADDR",
    ]) {
      env[`PHOENIX_${k}`] = `127.0.0.1:${await freePort()}`;
    }
    otlpHTTP = env.PHOENIX_ANALYTICS_OTLP_HTTP_ADDR;
    server = spawn(BIN, ["server", "--dev"], { env, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (b) => {
      logs = (logs + b.toString()).slice(-20000); // bounded: the tail is what a failure needs
    };
    server.stdout.on("data", keep);
    server.stderr.on("data", keep);
    await waitFor("the gateway", async () => (await fetch(`${base}/healthz`)).ok, 60_000);
    // Data: the --dev collector's hostmetrics reach the default stream.
    await waitFor(
      "series in the default stream",
      async () => {
        const tok = await apiLogin();
        const r = await fetch(`${base}/api/v1/streams`, { headers: { Authorization: `Bearer ${tok}` } });
        const d = await r.json();
        return d.items?.some((s) => s.stream === "default" && s.active_series > 0);
      },
      90_000,
    );
    browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "phoenix-chromium-")), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1280, height: 860 },
    });
    guard.start();
  });

  after(async () => {
    guard.stop();
    await browser?.close();
    if (server && server.exitCode === null) {
      server.kill("SIGTERM");
      await new Promise((r) => server.once("exit", r));
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    writeFileSync(join(artifacts, "timings.json"), JSON.stringify(timings, null, 2));
    writeFileSync(join(artifacts, "accessibility.json"), JSON.stringify(accessibility, null, 2));
  });

  async function apiLogin() {
    const r = await fetch(`${base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "admin", password: PASSWORD }),
    });
    return (await r.json()).access_token;
  }

  async function newPage(viewport) {
    const page = await browser.newPage();
    if (viewport) await page.setViewportSize(viewport);
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    page.errors = errors;
    return page;
  }

  async function login(page) {
    await page.goto(base + "/");
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
  }

  const goNav = (page, name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();

  // axe: no serious or critical WCAG violation. The script is evaluated over
  // the DevTools protocol, so the page's CSP (no inline scripts) stays on.
  const accessibility = {};
  async function checkA11y(page, name) {
    await page.evaluate(axeSource);
    const res = await page.evaluate(() =>
      window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }, resultTypes: ["violations"] }),
    );
    const bad = res.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    accessibility[name] = res.violations.map((v) => `${v.impact} ${v.id} (${v.nodes.length})`);
    assert.deepEqual(
      bad.map((v) => `${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`),
      [],
      `${name}: serious accessibility violations`,
    );
  }

  const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

  // The guard path of tests/e2e/guard_test.go, over the wire: steady OTLP
  // traffic (200 series of http.server.request_count) into stream
  // e2e-guard from the start, then, when explode() is called, 500 new
  // request_id values a second until the explosion alert fires.
  const GUARD_STREAM = "e2e-guard";
  const guard = {
    timer: null,
    exploding: false,
    next: 0,
    start() {
      const tick = async () => {
        try {
          await sendRequests(this.exploding ? 500 : 0, this.next);
          if (this.exploding) this.next += 500;
        } catch (e) {
          logs += `guard traffic: ${e.message}\n`;
        }
        if (this.timer !== null) this.timer = setTimeout(tick, 1000);
      };
      this.timer = setTimeout(tick, 0);
    },
    explode() {
      this.exploding = true;
    },
    stop() {
      clearTimeout(this.timer);
      this.timer = null;
    },
  };

  async function sendRequests(requestIDs, firstID) {
    const ts = String(BigInt(Date.now()) * 1_000_000n);
    const start = String(BigInt(Date.now() - 60_000) * 1_000_000n);
    const kv = (key, v) => ({ key, value: { stringValue: v } });
    const dataPoints = [];
    for (let r = 0; r < 20; r++) {
      for (let c = 0; c < 10; c++) {
        dataPoints.push({ attributes: [kv("http.route", `/api/r${r}`), kv("http.status_code", String(200 + c))], timeUnixNano: ts, startTimeUnixNano: start, asInt: "1" });
      }
    }
    for (let i = 0; i < requestIDs; i++) {
      dataPoints.push({
        attributes: [kv("http.route", "/api/r0"), kv("http.status_code", "200"), kv("request_id", `req-${String(firstID + i).padStart(8, "0")}`)],
        timeUnixNano: ts,
        startTimeUnixNano: start,
        asInt: "1",
      });
    }
    const body = {
      resourceMetrics: [
        {
          resource: { attributes: [kv("service.name", "checkout")] },
          scopeMetrics: [{ metrics: [{ name: "http.server.request_count", sum: { isMonotonic: true, aggregationTemporality: 2, dataPoints } }] }],
        },
      ],
    };
    const r = await fetch(`http://${otlpHTTP}/v1/metrics`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Phoenix-Stream": GUARD_STREAM },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`OTLP export: ${r.status} ${await r.text()}`);
  }

  async function apiGet(path) {
    const tok = await apiLogin();
    const r = await fetch(base + path, { headers: { Authorization: `Bearer ${tok}` } });
    if (!r.ok) throw new Error(`GET ${path}: ${r.status}`);
    return r.json();
  }

  // liveFrames records the WebSocket frames a page receives, to prove an
  // update came over the socket (no polling).
  function liveFrames(page) {
    const frames = [];
    page.on("websocket", (ws) => {
      if (!ws.url().includes("/api/v1/ws")) return;
      ws.on("framereceived", ({ payload }) => {
        try {
          frames.push(JSON.parse(String(payload)));
        } catch {
          /* not JSON */
        }
      });
    });
    return frames;
  }

  it("rejects a wrong password with the API's detail", async () => {
    const page = await newPage();
    await page.goto(base + "/");
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.textContent(), /Unauthorized \(401\)/);
    await shot(page, "login-error");
    await checkA11y(page, "login");
    await page.close();
  });

  it("logs in; the overview fills with live data; measures its first load", async () => {
    const page = await newPage();
    await login(page);
    const card = page.getByTestId("stream-default");
    await card.waitFor();
    // A rollup event for the default stream over /api/v1/ws, within two rollup intervals.
    const rollupFrame = new Promise((ok, fail) => {
      const t = setTimeout(() => fail(new Error("no rollup event over the WebSocket within 30 s")), 30_000);
      page.on("websocket", (ws) => {
        if (!ws.url().includes("/api/v1/ws")) return;
        ws.on("framereceived", ({ payload }) => {
          if (String(payload).includes('"topic":"stream:default"') && String(payload).includes('"event":"rollup"')) {
            clearTimeout(t);
            ok();
          }
        });
      });
    });
    rollupFrame.catch(() => {}); // awaited below; a failure before then must not crash the runner
    // A reload keeps the session (refresh token) and measures a warm first load:
    // navigation start to the stream's numbers rendered.
    await page.reload();
    const rendered = await page.waitForFunction(
      () => {
        const dps = document.querySelector('[data-testid="stream-default"] [data-testid="dps"]');
        const cost = document.querySelector('[data-testid="stream-default"] [data-testid="cost"]');
        const series = document.querySelector('[data-testid="stream-default"] [data-testid="active-series"]');
        const ok = dps && cost && series && dps.textContent !== "…" && cost.textContent !== "…" && /\d/.test(series.textContent);
        return ok ? performance.now() : false;
      },
      null,
      { timeout: 15_000, polling: 10 },
    );
    timings.overview_first_load_ms = Math.round(await rendered.jsonValue());
    console.log(`overview first load (navigation start to data rendered): ${timings.overview_first_load_ms} ms`);
    const series = Number((await card.getByTestId("active-series").textContent()).replace(/,/g, ""));
    assert.ok(series > 0, `active series ${series}`);
    assert.match(await card.getByTestId("cost").textContent(), /\$/);
    const services = await page.getByTestId("services").textContent();
    for (const s of ["analytics", "generator", "controller", "platform-api"]) assert.match(services, new RegExp(s));
    // Live: the socket connects, a rollup event arrives over it (no polling),
    // and the trend is drawn.
    await page.locator(".live.on").waitFor({ timeout: 15_000 });
    await rollupFrame;
    await card.locator(".chart canvas").waitFor({ timeout: 45_000 });
    await page.getByTestId("fleet-summary").waitFor();
    await shot(page, "overview");
    await checkA11y(page, "overview");
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  it("drills into process.cpu.time in the cardinality explorer", async () => {
    const page = await newPage();
    await login(page);
    await goNav(page, "Cardinality");
    await page.getByRole("heading", { name: "Cardinality", exact: true }).waitFor();
    await page.getByRole("combobox", { name: /^Stream/ }).selectOption("default");
    await page.getByRole("link", { name: "process.cpu.time", exact: true }).click();
    await page.getByRole("heading", { name: "process.cpu.time" }).waitFor();
    const labels = page.getByTestId("labels");
    await labels.waitFor();
    const text = await labels.textContent();
    assert.match(text, /process\.pid|state|process\.executable\.name/, "no process label in the table");
    assert.ok((await labels.locator("tbody tr").count()) > 0);
    await shot(page, "cardinality-process-cpu-time");
    await checkA11y(page, "cardinality");
    // The way back to recommendations for this metric.
    await page.getByRole("link", { name: /Recommend a rule/ }).click();
    await page.getByRole("heading", { name: "Recommendations" }).waitFor();
    await page.waitForSelector("table, .state.empty");
    await shot(page, "recommendations-process-cpu-time");
    await page.getByLabel("Metric").fill("");
    await page.waitForSelector("table, .state.empty");
    await shot(page, "recommendations");
    await checkA11y(page, "recommendations");
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  it("builds a pipeline, shows validation errors inline, saves and diffs versions", async () => {
    const page = await newPage();
    await login(page);
    await goNav(page, "Pipelines");
    await page.getByRole("link", { name: "New pipeline" }).click();
    await page.locator('select[name="template"]').selectOption("topk");
    // The generator refuses a bad parameter, and names it.
    await page.locator('input[name="set.k"]').fill("0");
    await page.getByRole("button", { name: "Generate and validate" }).click();
    const err = page.getByRole("alert");
    await err.waitFor();
    assert.match(await err.textContent(), /set\.k/);
    await page.locator('input[name="set.k"]').fill("5");
    await page.getByRole("button", { name: "Generate and validate" }).click();
    await page.getByTestId("validated").waitFor();
    const yaml = page.getByLabel("Collector YAML");
    assert.match(await yaml.inputValue(), /phoenix_topk/);
    // The real collector rejects a bad key, with its own path.
    const good = await yaml.inputValue();
    await yaml.fill(good.replace(/^processors:\n/m, "processors:\n  memory_limiter/bogus:\n    bogus_key: 1\n"));
    await page.getByRole("button", { name: "Validate YAML" }).click();
    await page.getByRole("alert").filter({ hasText: "bogus" }).waitFor({ timeout: 20_000 });
    await shot(page, "builder-validation-error");
    await checkA11y(page, "builder");
    // Save v1, then a second version, and see the diff.
    await yaml.fill(good);
    await page.getByLabel("Name", { exact: true }).fill("e2e-topk");
    await page.getByLabel("Reason", { exact: true }).fill("first");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("heading", { name: "e2e-topk" }).waitFor({ timeout: 20_000 });
    await page.getByRole("link", { name: "New version" }).click();
    await page.locator('select[name="template"]').selectOption("topk");
    await page.locator('input[name="set.k"]').fill("7");
    await page.getByRole("button", { name: "Generate and validate" }).click();
    await page.getByTestId("validated").waitFor();
    await page.getByLabel("Reason", { exact: true }).fill("k=7");
    await page.getByRole("button", { name: "Save" }).click();
    const diff = page.getByTestId("diff");
    await diff.waitFor({ timeout: 20_000 });
    assert.match(await diff.textContent(), /^\+.*7/m);
    await shot(page, "pipeline-diff");
    await checkA11y(page, "pipeline");
    assert.deepEqual(page.errors.filter((e) => !/status of 400/.test(e)), []);
    await page.close();
  });

  it("shows the fleet and settings", async () => {
    const page = await newPage();
    await login(page);
    await goNav(page, "Fleet");
    const agents = page.getByTestId("agents");
    await agents.waitFor();
    assert.ok((await agents.locator("tbody tr").count()) >= 1, "the --dev agent is missing");
    // The fleet listens on the agents topic over the same socket.
    await page.locator(".live.on").waitFor({ timeout: 10_000 });
    await shot(page, "fleet");
    await checkA11y(page, "fleet");
    await agents.locator("tbody tr th a").first().click();
    await page.getByRole("heading", { name: "History" }).waitFor();
    await shot(page, "agent");
    await goNav(page, "Settings");
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    await page.getByLabel("Key name").fill("e2e-key");
    await page.getByRole("button", { name: "Create key" }).click();
    await page.getByText(/Copy it now/).waitFor();
    await shot(page, "settings");
    await checkA11y(page, "settings");
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  it("works on a phone-sized viewport", async () => {
    const page = await newPage({ width: 390, height: 844 });
    await login(page);
    await page.getByTestId("stream-default").waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
    // The menu is behind a button, reachable by keyboard.
    const menu = page.getByRole("button", { name: "Menu" });
    assert.equal(await menu.getAttribute("aria-expanded"), "false");
    await menu.focus();
    await page.keyboard.press("Enter");
    assert.equal(await menu.getAttribute("aria-expanded"), "true");
    await shot(page, "phone-menu");
    await checkA11y(page, "phone");
    await goNav(page, "Fleet");
    await page.getByTestId("agents").waitFor();
    await shot(page, "phone-fleet");
    await page.close();
  });

  it("drags strategy blocks into a pipeline and shows the generator's errors inline", async () => {
    const page = await newPage();
    await login(page);
    await goNav(page, "Pipelines");
    await page.getByRole("link", { name: "New pipeline" }).click();
    await page.getByLabel("strategy blocks").check();
    // Drag from the palette into the empty list, then a second block before it.
    await page.getByTestId("palette-drop_labels").dragTo(page.getByTestId("dropzone"));
    await page.getByTestId("block-0").waitFor();
    await page.getByTestId("palette-topk").dragTo(page.getByTestId("block-0"));
    await page.getByTestId("block-1").waitFor();
    assert.match(await page.getByTestId("block-0").textContent(), /topk/);
    assert.match(await page.getByTestId("block-1").textContent(), /drop_labels/);
    // The keyboard path: move topk down with its button.
    await page.getByRole("button", { name: "Move topk down" }).focus();
    await page.keyboard.press("Enter");
    assert.match(await page.getByTestId("block-0").textContent(), /drop_labels/);
    assert.match(await page.getByTestId("block-1").textContent(), /topk/);
    await page.locator('input[name="strategies.0.labels"]').fill("process.pid");
    await page.locator('input[name="strategies.1.k"]').fill("0");
    await page.getByRole("button", { name: "Generate and validate" }).click();
    // The generator's field error shows under the topk block's k field.
    const inline = page.getByTestId("block-1").locator(".field-error");
    await inline.first().waitFor({ timeout: 20_000 });
    assert.ok((await inline.first().textContent()).length > 0);
    assert.equal(await page.locator('input[name="strategies.1.k"]').getAttribute("aria-invalid"), "true");
    await shot(page, "builder-blocks-inline-error");
    await checkA11y(page, "builder-blocks");
    await page.locator('input[name="strategies.1.k"]').fill("5");
    await page.getByRole("button", { name: "Generate and validate" }).click();
    await page.getByTestId("validated").waitFor({ timeout: 20_000 });
    assert.equal(await page.locator(".field-error").count(), 0);
    assert.deepEqual(page.errors.filter((e) => !/status of 400/.test(e)), []);
    await page.close();
  });

  it("shows an explosion alert live and acknowledges it", async () => {
    const page = await newPage();
    const frames = liveFrames(page);
    await login(page);
    // The guard stream needs a baseline: at least two rollups of steady traffic.
    await waitFor(
      "two rollups of the guard stream",
      async () => (await apiGet(`/api/v1/streams/${GUARD_STREAM}/rollups`)).items.length >= 2,
      60_000,
    );
    await goNav(page, "Alerts");
    await page.getByRole("heading", { name: "Alerts" }).waitFor();
    await page.locator(`select option[value="${GUARD_STREAM}"], select option:text-is("${GUARD_STREAM}")`).first().waitFor({ state: "attached" });
    await page.getByRole("combobox", { name: "Stream" }).selectOption(GUARD_STREAM);
    await page.getByText(/No alert matches/).waitFor();
    await page.locator(".live.on").waitFor({ timeout: 15_000 });
    await checkA11y(page, "alerts-empty");
    guard.explode();
    // The alert appears without a reload, carried by an `alerts` event.
    const row = page.getByTestId("alerts").locator("tbody tr").first();
    await row.waitFor({ timeout: 60_000 });
    assert.ok(frames.some((f) => f.topic === "alerts" && f.event !== "subscribed"), "no alerts event over the WebSocket");
    assert.match(await row.textContent(), /request_id/);
    assert.match(await row.textContent(), /http\.server\.request_count/);
    await shot(page, "alerts-firing");
    await checkA11y(page, "alerts");
    await row.getByRole("button", { name: /^Acknowledge/ }).click();
    await waitFor("the alert acknowledged", async () => /acknowledged/.test(await row.getByTestId("alert-state").textContent()), 15_000);
    guard.stop();
    await shot(page, "alerts-acknowledged");
    // The alert's deliveries: no channel exists yet, so none was sent.
    await row.getByRole("button", { name: /^Deliveries/ }).click();
    await page.getByText(/No notification was sent for this alert/).waitFor({ timeout: 15_000 });
    // A silence of the guard stream, created from the page, is listed as active.
    await page.getByLabel("Matching stream").fill(GUARD_STREAM);
    await page.getByLabel("For", { exact: true }).fill("1h");
    await page.getByLabel("Comment").fill("e2e");
    await page.getByRole("button", { name: "Add silence" }).click();
    const silence = page.getByTestId("silences").locator("tbody tr", { hasText: GUARD_STREAM });
    await silence.waitFor({ timeout: 15_000 });
    assert.match(await silence.textContent(), /active/);
    await shot(page, "alerts-silence");
    await checkA11y(page, "alerts-silence");
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  it("shows rollouts in the fleet and the price catalog in settings", async () => {
    const page = await newPage();
    await login(page);
    await goNav(page, "Fleet");
    await page.getByRole("heading", { name: "Rollouts" }).waitFor();
    await page.getByRole("heading", { name: "Roll out a pipeline" }).waitFor();
    // A bad rollout shows the API's field errors.
    await page.getByLabel("Agent labels").fill("env=dev");
    const pipelineOption = await page.locator("option", { hasText: "e2e-topk" }).first().getAttribute("value");
    await page.getByRole("combobox", { name: "Pipeline" }).selectOption(pipelineOption);
    await page.getByLabel("Strategy").selectOption("staged");
    await page.getByLabel("Steps %").fill("50, 10");
    await page.getByRole("button", { name: "Start rollout" }).click();
    const err = page.getByRole("alert");
    await err.waitFor({ timeout: 15_000 });
    assert.match(await err.textContent(), /\((400|404|409)\)/);
    await shot(page, "fleet-rollouts");
    await checkA11y(page, "fleet-rollouts");
    await goNav(page, "Settings");
    const models = page.getByTestId("price-models");
    await models.waitFor({ timeout: 15_000 });
    const text = await models.textContent();
    for (const m of ["self-hosted", "datadog"]) assert.match(text, new RegExp(m));
    await shot(page, "settings-price-catalog");
    await checkA11y(page, "settings-price-catalog");
    // A webhook channel to a receiver in this test (a private address, which
    // only an admin may allow), and its test notification delivered to it.
    const received = [];
    const hook = createHTTPServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        received.push({ signature: req.headers["x-phoenix-signature"], body });
        res.end("ok");
      });
    });
    await new Promise((r) => hook.listen(0, "127.0.0.1", r));
    try {
      await page.getByLabel("Channel name").fill("e2e-hook");
      await page.getByLabel("URL", { exact: true }).fill(`http://127.0.0.1:${hook.address().port}/hook`);
      await page.getByLabel("Secret", { exact: true }).fill("e2e-secret");
      await page.getByLabel(/Allow private addresses/).check();
      await page.getByRole("button", { name: "Add channel" }).click();
      const ch = page.getByTestId("channels").locator("tbody tr", { hasText: "e2e-hook" });
      await ch.waitFor({ timeout: 15_000 });
      await ch.getByRole("button", { name: /^Test/ }).click();
      const tested = page.getByTestId("channel-test");
      await tested.waitFor({ timeout: 15_000 });
      assert.match(await tested.textContent(), /delivered/);
      assert.equal(received.length, 1, "the webhook receiver got no test notification");
      assert.match(received[0].signature ?? "", /^sha256=[0-9a-f]{64}$/);
    } finally {
      hook.close();
    }
    await page.getByRole("heading", { name: "Budgets" }).waitFor();
    await page.waitForSelector('[data-testid="budgets"], section[aria-labelledby="budgets-h"] .state.empty');
    await shot(page, "settings-channels");
    await checkA11y(page, "settings-channels");
    assert.deepEqual(page.errors.filter((e) => !/status of 400/.test(e)), []);
    await page.close();
  });

  it("runs an experiment to a verdict from the wizard, live", async () => {
    const page = await newPage();
    const frames = liveFrames(page);
    await login(page);
    await goNav(page, "Experiments");
    await page.getByRole("heading", { name: "Experiments" }).waitFor();
    await page.waitForSelector("table, .state.empty");
    await checkA11y(page, "experiments");
    await page.getByRole("link", { name: "New experiment" }).click();
    const name = `e2e-${Date.now().toString(36)}`;
    // 1. Target: the --dev agent carries env=dev.
    await page.locator('input[name="name"]').fill(name);
    await page.getByRole("button", { name: "env=dev" }).click();
    await page.getByTestId("matching").filter({ hasText: /^1 agent matches/ }).waitFor();
    await shot(page, "experiment-wizard-target");
    await checkA11y(page, "experiment-wizard");
    await page.getByRole("button", { name: "Next" }).click();
    // 2. Baseline: the pass-through template (the default).
    await page.getByRole("heading", { name: "2. Baseline" }).waitFor();
    await page.getByRole("button", { name: "Next" }).click();
    // 3. Candidate: the topk template, k=5.
    await page.getByRole("heading", { name: "3. Candidates" }).waitFor();
    await page.getByLabel("Candidate name").fill("topk");
    await page.locator('select[name="template"]').selectOption("topk");
    await page.locator('input[name="set.k"]').fill("5");
    await page.getByRole("button", { name: "Next" }).click();
    // 4. Criteria: short, so the suite waits about a minute.
    await page.getByRole("heading", { name: "4. Criteria" }).waitFor();
    await page.locator('input[name="warmup"]').fill("0s");
    await page.locator('input[name="duration"]').fill("40s");
    await page.getByRole("button", { name: "Next" }).click();
    await page.getByRole("heading", { name: "5. Review" }).waitFor();
    assert.match(await page.getByTestId("spec").textContent(), /"template": "topk"/);
    await shot(page, "experiment-wizard-review");
    await page.getByRole("button", { name: "Create and start" }).click();
    await page.getByRole("heading", { name }).waitFor({ timeout: 20_000 });
    const id = decodeURIComponent(new URL(page.url()).pathname.split("/").pop());
    // The state moves on by itself, over experiment:<id> events.
    const verdict = page.getByTestId("verdict");
    await verdict.waitFor({ timeout: 240_000 });
    const state = await page.getByTestId("state").first().textContent();
    assert.match(state, /succeeded|failed|inconclusive/);
    assert.ok(frames.some((f) => f.topic === `experiment:${id}` && f.event !== "subscribed"), "no experiment event over the WebSocket");
    const criteria = page.getByTestId("criteria-topk");
    assert.match(await criteria.textContent(), /min_series_reduction_pct/);
    assert.match(await page.getByTestId("timeline").textContent(), /analyzing/);
    timings.experiment_verdict = state.trim();
    console.log(`experiment ${name}: ${state.trim()}; ${(await verdict.locator("h2").textContent()).trim()}`);
    await page.getByTestId("variants").waitFor();
    await shot(page, "experiment-verdict-before-charts");
    const exp = await apiGet(`/api/v1/experiments/${encodeURIComponent(id)}`);
    for (const q of ["", `?from=${encodeURIComponent(exp.created_at)}&to=${encodeURIComponent(exp.progress.window_to ?? exp.updated_at)}&step=10s`]) {
      const r = await apiGet(`/api/v1/streams/${encodeURIComponent(`${name}--topk`)}/rollups${q}`);
      console.log(`rollups of ${name}--topk${q}: ${r.items.length} items; first ${JSON.stringify(r.items[0] ?? null)?.slice(0, 200)}`);
    }
    await page.locator(".chart canvas").first().waitFor({ timeout: 30_000 });
    await shot(page, "experiment-verdict");
    await checkA11y(page, "experiment-detail");
    assert.deepEqual(page.errors, []);
    await page.close();

    // A viewer sees the experiment but no action buttons.
    const tok = await apiLogin();
    const mk = await fetch(`${base}/api/v1/users`, {
      method: "POST",
      headers: { Authorization: `Bearer ${tok}`, "Content-Type": "application/json" },
      body: JSON.stringify({ username: "e2e-viewer", password: "e2e-viewer-password", role: "viewer" }),
    });
    assert.ok(mk.ok, `create viewer: ${mk.status}`);
    const vp = await newPage();
    await vp.goto(base + "/");
    await vp.getByLabel("Username").fill("e2e-viewer");
    await vp.getByLabel("Password").fill("e2e-viewer-password");
    await vp.getByRole("button", { name: "Sign in" }).click();
    await vp.getByRole("heading", { name: "Overview" }).waitFor();
    await vp.goto(`${base}/experiments/${encodeURIComponent(id)}`);
    const forbidden = await vp.getByRole("heading", { name }).waitFor({ timeout: 10_000 }).then(() => false, () => true);
    if (forbidden) {
      // The viewer belongs to no team: the experiment is another team's (404), shown as the API's problem.
      await vp.getByRole("alert").waitFor();
      assert.match(await vp.getByRole("alert").textContent(), /404/);
    } else {
      assert.equal(await vp.getByRole("group", { name: "Experiment actions" }).getByRole("button").count(), 0);
    }
    await vp.goto(`${base}/experiments`);
    await vp.getByRole("heading", { name: "Experiments" }).waitFor();
    assert.equal(await vp.getByRole("link", { name: "New experiment" }).count(), 0);
    await vp.close();
  });

  it("is an installable PWA whose service worker caches the shell, never the API", async () => {
    const page = await newPage();
    await login(page);
    const manifest = await page.evaluate(async () => {
      const href = document.querySelector('link[rel="manifest"]').href;
      const r = await fetch(href);
      return { type: r.headers.get("content-type"), body: await r.json() };
    });
    assert.match(manifest.type, /manifest\+json/);
    assert.equal(manifest.body.display, "standalone");
    assert.ok(manifest.body.icons.some((i) => i.sizes === "512x512"));
    const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
    assert.equal(scope, base + "/");
    // Visit pages that call the API, under the worker's control, then look in its cache.
    await page.reload();
    await page.getByTestId("stream-default").waitFor();
    await goNav(page, "Fleet");
    await page.getByTestId("agents").waitFor();
    const cached = await page.evaluate(async () => {
      const out = [];
      for (const k of await caches.keys()) for (const r of await (await caches.open(k)).keys()) out.push(new URL(r.url).pathname);
      return out;
    });
    console.log(`service worker cache: ${cached.length} entries`);
    assert.ok(cached.includes("/"), `the shell is not cached: ${cached}`);
    assert.ok(cached.some((p) => p.startsWith("/assets/")), "no asset cached");
    assert.deepEqual(cached.filter((p) => p.startsWith("/api/")), [], "an API response is cached");
    await page.close();
  });

  it("lays the new pages out on a phone", async () => {
    const page = await newPage({ width: 390, height: 844 });
    await login(page);
    for (const [path, heading] of [
      ["/experiments", "Experiments"],
      ["/experiments/new", "New experiment"],
      ["/alerts", "Alerts"],
      ["/pipelines/new", "Pipeline builder"],
      ["/fleet", "Fleet"],
      ["/settings", "Settings"],
    ]) {
      await page.goto(base + path);
      await page.getByRole("heading", { name: heading, exact: true }).waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} scrolls sideways by ${overflow}px`);
      await shot(page, `phone${path.replaceAll("/", "-")}`);
      await checkA11y(page, `phone${path}`);
    }
    await page.close();
  });

  it("signs out", async () => {
    const page = await newPage();
    await login(page);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await page.reload();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await page.close();
  });

  after(() => {
    if (process.exitCode) console.error("phoenix output (tail):\n" + logs.slice(-6000));
  });
});
