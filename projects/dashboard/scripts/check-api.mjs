// Fails when src/api/schema.d.ts is not what openapi-typescript makes from
// api/openapi.yaml today: the UI must type-check against the real spec.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const out = join(mkdtempSync(join(tmpdir(), "phoenix-api-")), "schema.d.ts");
execFileSync("npx", ["openapi-typescript", "../../api/openapi.yaml", "-o", out], { stdio: "ignore" });
if (readFileSync(out, "utf8") !== readFileSync("src/api/schema.d.ts", "utf8")) {
  console.error("src/api/schema.d.ts is stale: run `npm run gen:api` in projects/dashboard and commit it");
  process.exit(1);
}
console.log("src/api/schema.d.ts matches api/openapi.yaml");
