// One dashboard scenario in headless Chromium: `node tests/browser/run.mjs <scenario>`.
// Environment: BASE_URL (the Worker), API_TOKEN (empty in AUTH_MODE=open), SCENARIO_DATA
// (JSON the pytest side prepared through the API). Exit status 0 and a last line `ok <name>`
// when every check held; otherwise the failed check and what the page recorded.

import { scenarios } from "./scenarios.mjs";
import { launch, openPage } from "./browser.mjs";

const name = process.argv[2];
const scenario = scenarios[name];
if (!scenario) {
  console.error(`unknown scenario '${name}'; one of: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}

const ctx = {
  baseUrl: process.env.BASE_URL,
  token: process.env.API_TOKEN || "",
  data: JSON.parse(process.env.SCENARIO_DATA || "{}"),
  pages: [],
};

const browser = await launch();
ctx.open = async (options) => {
  const opened = await openPage(browser, options);
  ctx.pages.push(opened);
  return opened;
};

let failed = false;
try {
  await scenario(ctx);
} catch (err) {
  failed = true;
  console.error(`FAILED ${name}: ${err.stack ?? err}`);
  for (const { page, problems } of ctx.pages) {
    console.error(`page ${page.url()} recorded: ${JSON.stringify(problems, null, 2)}`);
    try {
      console.error(`status: ${await page.textContent("#status")}`);
      console.error(`banner: ${await page.textContent("#banner")}`);
      console.error(`main text:\n${(await page.innerText("main")).slice(0, 3000)}`);
    } catch {
      // the page may be gone
    }
  }
} finally {
  await browser.close();
}
if (failed) process.exit(1);
console.log(`ok ${name}`);
