// Builds the static assets Django serves from frontend/dist/ (STATICFILES_DIRS):
//   frontend/src/app.css                  -> frontend/dist/app.css (Tailwind, minified)
//   node_modules/htmx.org/dist/htmx.min.js -> frontend/dist/htmx.min.js
//   node_modules/sortablejs/Sortable.min.js -> frontend/dist/Sortable.min.js (the deal board)
//   node_modules/chart.js/dist/chart.umd.min.js -> frontend/dist/chart.umd.min.js (the dashboard)
//   frontend/src/dashboard.js             -> frontend/dist/dashboard.js (draws the dashboard's charts)
//   frontend/src/finance.js               -> frontend/dist/finance.js (draws the Finance page's charts)
//   frontend/src/favicon.svg              -> frontend/dist/favicon.svg
// Usage: npm run build            (one-off build)
//        npm run watch            (rebuild the CSS whenever a template changes)
import { spawnSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const dist = join(here, "dist");
const watch = process.argv.includes("--watch");
const require = createRequire(join(root, "package.json"));

mkdirSync(dist, { recursive: true });

// htmx: copy the minified build shipped in the npm package.
const htmxSrc = join(dirname(require.resolve("htmx.org/package.json")), "dist", "htmx.min.js");
if (!existsSync(htmxSrc)) {
  console.error(`htmx build not found at ${htmxSrc}; run npm ci first.`);
  process.exit(1);
}
copyFileSync(htmxSrc, join(dist, "htmx.min.js"));
console.log("copied htmx.min.js -> frontend/dist/htmx.min.js");

// SortableJS: the pipeline board's drag and drop, as shipped in the npm package.
copyFileSync(
  join(dirname(require.resolve("sortablejs/package.json")), "Sortable.min.js"),
  join(dist, "Sortable.min.js"),
);

// Chart.js: the dashboard's charts, as shipped in the npm package, and the page's own script
// that draws them from the figures the page carries.
copyFileSync(
  // (chart.js exports no package.json: its main module sits in dist/ beside the UMD build)
  join(dirname(require.resolve("chart.js")), "chart.umd.min.js"),
  join(dist, "chart.umd.min.js"),
);
copyFileSync(join(here, "src", "dashboard.js"), join(dist, "dashboard.js"));
copyFileSync(join(here, "src", "finance.js"), join(dist, "finance.js"));

// The site icon, as drawn in frontend/src.
copyFileSync(join(here, "src", "favicon.svg"), join(dist, "favicon.svg"));

// Tailwind: run the CLI from the repo root so paths in app.css resolve the same way.
const cli = join(dirname(require.resolve("@tailwindcss/cli/package.json")), "dist", "index.mjs");
const args = [
  cli,
  "--input", join(here, "src", "app.css"),
  "--output", join(dist, "app.css"),
  ...(watch ? ["--watch"] : ["--minify"]),
];
if (watch) {
  spawn(process.execPath, args, { cwd: root, stdio: "inherit" }).on("exit", (code) => process.exit(code ?? 0));
} else {
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
  console.log("built frontend/dist/app.css");
}
