// Makes the README's pictures of a report: `bun scripts/readme-images.ts` (needs Chromium).
// Records the demo run and a 12-run sweep over two parameters of the demo strategy (backtest --param), writes the
// report and the comparison page, and screenshots their first screens into scripts/readme/.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { main } from "../src/cli/main.ts";

const out = join(import.meta.dir, "readme");
const dir = mkdtempSync(join(tmpdir(), "runtape-readme-"));
const db = join(dir, "runs.db");
const run = async (...args: string[]) => {
  if ((await main(args)) !== 0) throw new Error(`runtape ${args.join(" ")} failed`);
};

await run("record", db, "--run-id", "demo-1");
const sweep: string[] = [];
for (const fast of [3, 5, 8, 13]) {
  for (const slow of [20, 30, 50]) {
    sweep.push(`f${fast}-s${slow}`);
    await run(
      ...["backtest", "--strategy", join(import.meta.dir, "../src/sim/strategy.ts")],
      ...["--param", `fastPeriod=${fast}`, "--param", `slowPeriod=${slow}`],
      ...["--into", db, "--run-id", `f${fast}-s${slow}`],
    );
  }
}
const report = join(dir, "report.html");
const compare = join(dir, "compare.html");
await run("report", db, "--run", "demo-1", "-o", report);
await run("report", db, "--runs", sweep.join(","), "-o", compare);

const browser = await chromium.launch({
  executablePath: Bun.which("chromium") ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  // First screens only: each PNG stays under 300 KB.
  for (const [file, png, height] of [
    [report, "report.png", 1500],
    [compare, "compare.png", 1000],
  ] as const) {
    const page = await browser.newPage({ viewport: { width: 1240, height } });
    await page.goto(pathToFileURL(file).href);
    await page.screenshot({ path: join(out, png) });
    await page.close();
  }
} finally {
  await browser.close();
}
console.error(`wrote ${out}/report.png and compare.png`);
