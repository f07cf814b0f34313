// The dashboard's scenarios. Each gets { baseUrl, token, data, open } and throws on failure.

import assert from "node:assert/strict";
import { api, horizontalOverflow } from "./browser.mjs";

const XSS = "<img src=x onerror=alert(1)>";

/** Polls quickly so the tests need not wait ten seconds for a refresh. */
const FAST = "/?refresh=1";

async function signIn(page, token) {
  await page.locator("#signin").waitFor({ state: "visible" });
  await page.locator("#token").fill(token);
  await page.locator("#token").press("Enter"); // the keyboard submits the form
  await page.locator("#nav").waitFor({ state: "visible" });
}

/**
 * Nothing went wrong on the page. `refusals` is how many 401 answers Chromium logged (it logs
 * every failed request as a console error): with token auth, a first visit's probe without a
 * token is refused once, which is how the page knows to ask for one.
 */
function noProblems(problems, { refusals = 0 } = {}) {
  const is401 = (m) => /status of 401/.test(m);
  assert.deepEqual(problems.consoleErrors.filter((m) => !is401(m)), [], "console errors");
  assert.equal(problems.consoleErrors.filter(is401).length, refusals,
    `401s logged: ${JSON.stringify(problems.consoleErrors)}`);
  assert.deepEqual(problems.pageErrors, [], "uncaught exceptions");
  assert.deepEqual(problems.dialogs, [], "dialogs (injected markup ran?)");
}

async function waitForRefreshes(page, count) {
  for (let i = 0; i < count; i += 1) {
    const before = await page.locator("#refreshed").getAttribute("datetime");
    await page.waitForFunction(
      (prev) => document.getElementById("refreshed").getAttribute("datetime") !== prev, before);
  }
}

function orderRow(page, orderId) {
  return page.locator(`li.order[data-order-id="${orderId}"]`);
}

async function barLabel(page, orderId) {
  return orderRow(page, orderId).locator(".bar").getAttribute("aria-label");
}

async function assertNoSideScroll(page, what) {
  const overflow = await horizontalOverflow(page);
  assert.ok(overflow <= 0, `${what}: the page scrolls sideways by ${overflow}px`);
}

export const scenarios = {
  /** AUTH_MODE=open: no sign-in, every view loads, no console errors; the unreachable banner. */
  async open({ baseUrl, data, open }) {
    const { page, problems } = await open();
    const response = await page.goto(baseUrl + FAST);
    const csp = response.headers()["content-security-policy"] ?? "";
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.equal(response.headers()["x-content-type-options"], "nosniff");

    await page.locator("#fleet").waitFor({ state: "visible" });
    assert.equal(await page.locator("#signin").isHidden(), true, "no sign-in in open mode");
    assert.equal(await page.locator("#sign-out").isHidden(), true, "nothing to sign out of");
    await orderRow(page, data.order_id).waitFor();

    await page.locator(`a[href="#/order/${data.order_id}"]`).first().click();
    await page.locator("#order").waitFor({ state: "visible" });
    await page.locator("table.tasks tbody tr").nth(data.tasks - 1).waitFor();

    await page.locator('nav a[data-view="human"]').click();
    await page.locator(`li[data-followup-id="${data.followup_id}"]`).waitFor();
    await waitForRefreshes(page, 2);
    assert.match(await page.locator("#refreshed").innerText(), /\d\d:\d\d:\d\d/);
    noProblems(problems);

    // The orchestrator goes away: a banner, and the last data stays on screen.
    await page.route("**/api/**", (route) => route.abort("internetdisconnected"));
    await page.locator("#banner").waitFor({ state: "visible" });
    assert.match(await page.locator("#banner").innerText(), /Cannot reach the orchestrator/);
    assert.equal(await page.locator(`li[data-followup-id="${data.followup_id}"]`).count(), 1);
    await page.unroute("**/api/**");
    await page.locator("#banner").waitFor({ state: "hidden" });
    assert.match(await page.locator("#status").innerText(), /reachable again/);
    assert.deepEqual(problems.pageErrors, []);
  },

  /** A wrong token gets a clear message; the right one signs in and lasts the tab's session. */
  async sign_in({ baseUrl, token, open }) {
    const { page, problems } = await open();
    await page.goto(`${baseUrl}${FAST}#/human`);
    await page.locator("#signin").waitFor({ state: "visible" });
    assert.equal(await page.locator("#human").isHidden(), true);
    assert.equal(await page.evaluate(() => document.activeElement.id), "token",
      "the token field has the keyboard");

    await page.locator("#token").fill(`${token}-wrong`);
    await page.locator("#signin-form button[type=submit]").click();
    await page.locator("#signin-error").filter({ hasText: "did not accept" }).waitFor();
    assert.match(await page.locator("#signin-error").innerText(), /401 unauthorized/);
    assert.equal(await page.locator("#signin").isVisible(), true, "still a form, not a blank page");
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused token is not kept");

    await signIn(page, token);
    await page.locator("#human").waitFor({ state: "visible" });
    assert.equal(await page.locator("#signin").isHidden(), true);
    assert.equal(await page.locator("#signin-error").innerText(), "");
    const stored = await page.evaluate(() => Object.values(sessionStorage));
    assert.deepEqual(stored, [token], "the token lives in sessionStorage");
    assert.ok(!page.url().includes(token), "never in the URL");
    assert.deepEqual((await page.context().cookies()).length, 0, "never in a cookie");

    await page.reload();
    await page.locator("#human").waitFor({ state: "visible" });
    assert.equal(await page.locator("#signin").isHidden(), true, "signed in for the tab's life");
    await waitForRefreshes(page, 1);

    await page.locator("#sign-out").click();
    await page.locator("#signin").waitFor({ state: "visible" });
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, "signing out forgets it");
    // The first visit's probe without a token, and the wrong token.
    noProblems(problems, { refusals: 2 });
  },

  /** An order made through the API shows its progress, and follows its tasks' changes. */
  async progress({ baseUrl, token, data, open }) {
    const { page, problems } = await open();
    await page.goto(baseUrl + FAST);
    await signIn(page, token);
    await page.locator("#fleet").waitFor({ state: "visible" });

    await page.locator("#factory").fill(data.factory);
    await page.locator("#factory").press("Enter");
    await page.waitForFunction((factory) => {
      const rows = [...document.querySelectorAll("li.order")];
      return rows.length > 0
        && rows.every((r) => r.querySelector(".factory").textContent === factory);
    }, data.factory);
    const total = data.tasks.length;
    assert.equal(await barLabel(page, data.order_id),
      `0 of ${total} complete, 0 in progress, 0 blocked, ${total} pending`);
    assert.match(await orderRow(page, data.order_id).innerText(), /0 open follow-ups/);
    assert.match(await orderRow(page, data.order_id).locator(".age").innerText(), /\d+ (s|min) old/);

    // The operator's place: keyboard on this order's link, the filter as typed.
    const link = orderRow(page, data.order_id).locator("a");
    await link.focus();

    const [a, b, c] = data.tasks;
    const status = (uuid, s) => api(baseUrl, token, "POST", `/api/task/${uuid}/status`, { status: s });
    await status(a, "in_progress");
    await status(a, "complete");
    await status(b, "in_progress");
    await status(c, "blocked");

    await page.waitForFunction(({ id, label }) => document
      .querySelector(`li.order[data-order-id="${id}"] .bar`)?.getAttribute("aria-label") === label,
    { id: data.order_id, label: `1 of ${total} complete, 1 in progress, 1 blocked, ${total - 3} pending` },
    { timeout: 10_000 });
    assert.match(await orderRow(page, data.order_id).locator(".legend").innerText(),
      new RegExp(`1/${total} complete`));
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute("data-key")),
      `order:${data.order_id}`, "focus stays on the order after the refresh");
    assert.equal(await page.locator("#factory").inputValue(), data.factory, "the filter stays");

    await page.keyboard.press("Enter"); // open the focused order
    await page.locator("#order").waitFor({ state: "visible" });
    await page.locator("table.tasks tbody tr").nth(total - 1).waitFor();
    const statuses = await page.locator("table.tasks tbody tr td[data-label=Status]").allInnerTexts();
    assert.deepEqual(statuses.map((s) => s.trim()),
      ["complete", "in progress", "blocked", ...Array(total - 3).fill("pending")]);
    noProblems(problems, { refusals: 1 });
  },

  /** Tasks, the log newest first with its level filter, and markup shown as text. */
  async order_view({ baseUrl, token, data, open }) {
    const { page, problems } = await open();
    await page.goto(`${baseUrl}${FAST}#/order/${data.order_id}`);
    await signIn(page, token);
    await page.locator("#order").waitFor({ state: "visible" });
    assert.equal(await page.locator("#order-id").innerText(), data.order_id);
    const rows = page.locator("table.tasks tbody tr");
    await rows.nth(data.tasks.length - 1).waitFor();
    assert.equal(await rows.count(), data.tasks.length);
    for (const [i, task] of data.tasks.entries()) {
      const row = rows.nth(i);
      assert.equal(await row.getAttribute("data-task-uuid"), task.uuid);
      assert.equal(await row.locator("td[data-label=File] code").innerText(), task.file_path);
      assert.equal(await row.locator("td[data-label=Placeholder] code").innerText(), task.placeholder);
      assert.equal(await row.locator(".instruction").textContent(), task.instruction);
    }
    const xssRow = rows.filter({ hasText: "XSS_PROBE" });
    assert.equal(await xssRow.locator(".instruction").textContent(), XSS, "markup shown as text");
    assert.equal(await xssRow.locator("td[data-label=Status]").innerText(), "in progress");
    assert.match(await xssRow.locator("td[data-label='Last change']").innerText(), /ago/);

    // The log: newest first, with the orchestrator's own entries among the test's.
    const operations = () => page.locator("ol.log li .entry-head strong").allInnerTexts();
    await page.locator("ol.log li").filter({ hasText: "third-step" }).waitFor();
    let ops = await operations();
    const at = (op) => ops.indexOf(op);
    assert.ok(at("third-step") < at("second-step") && at("second-step") < at("first-step"), ops.join());
    const details = await page.locator("ol.log li").filter({ hasText: "first-step" })
      .locator(".details").textContent();
    assert.ok(details.includes(XSS), `details shown as text: ${details}`);

    await page.locator("#log-level").selectOption("warn");
    await page.waitForFunction(() => [...document.querySelectorAll("ol.log li .level")]
      .every((el) => ["warn", "error", "critical"].includes(el.textContent)));
    ops = await operations();
    assert.ok(ops.includes("third-step") && ops.includes("second-step"), ops.join());
    assert.ok(!ops.includes("first-step"), ops.join());

    // A refresh with news keeps the operator's place: filter, focus, scroll.
    await page.locator("#log-level").focus();
    const scroll = await page.evaluate(() => window.scrollY);
    await api(baseUrl, token, "POST", "/api/ops/log", {
      source: "browser-test", operation: "fourth-step", level: "error", order_id: data.order_id,
    });
    await page.locator("ol.log li").first().filter({ hasText: "fourth-step" }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), "log-level");
    assert.equal(await page.locator("#log-level").inputValue(), "warn");
    assert.equal(await page.evaluate(() => window.scrollY), scroll);
    assert.ok(page.url().endsWith(`#/order/${data.order_id}`));

    await page.waitForTimeout(500); // an injected onerror would have fired by now
    assert.equal(await page.locator("img").count(), 0, "no element was made from data");
    noProblems(problems, { refusals: 1 });
  },

  /** Triage with the keyboard, fix with a click; the page says what happened. */
  async followups({ baseUrl, token, data, open }) {
    const { page, problems } = await open();
    await page.goto(`${baseUrl}${FAST}#/human`);
    await signIn(page, token);
    const item = (id) => page.locator(`li[data-followup-id="${id}"]`);
    await item(data.fix_id).waitFor();
    await item(data.triage_id).waitFor();
    assert.match(await item(data.fix_id).innerText(), /Impact 3/);
    assert.match(await item(data.fix_id).innerText(), /warning/);
    assert.equal(await item(data.fix_id).locator(".note").textContent(), data.fix_note);
    const impacts = await page.locator("li.followup .impact").allInnerTexts();
    const levels = impacts.map((t) => Number(t.replace(/\D/g, "")));
    assert.deepEqual(levels, [...levels].sort((x, y) => x - y), "highest impact first");

    await item(data.triage_id).locator('button[data-action="triaging"]').focus();
    await page.keyboard.press("Enter");
    await page.locator("#status").filter({ hasText: `Follow-up ${data.triage_id} is now triaging.` })
      .waitFor();
    await item(data.triage_id).locator(".badge").filter({ hasText: "triaging" }).waitFor();
    assert.equal(await item(data.triage_id).locator('button[data-action="triaging"]').count(), 0);

    await item(data.fix_id).locator('button[data-action="fixed"]').click();
    await page.locator("#status").filter({ hasText: `Follow-up ${data.fix_id} is now fixed.` })
      .waitFor();
    await item(data.fix_id).waitFor({ state: "detached" });
    assert.ok(await page.evaluate(() => document.activeElement !== document.body),
      "the keyboard is not dropped when the item leaves the list");
    noProblems(problems, { refusals: 1 });
  },

  /** Phone width: nothing scrolls sideways, in any view. */
  async phone({ baseUrl, token, data, open }) {
    const { page, problems } = await open({ viewport: { width: 390, height: 844 } });
    await page.goto(`${baseUrl}/?refresh=60`);
    await page.locator("#signin").waitFor({ state: "visible" });
    await assertNoSideScroll(page, "sign-in");
    await signIn(page, token);
    await page.locator("li.order").first().waitFor();
    await assertNoSideScroll(page, "fleet");
    await page.screenshot({ path: `${data.out_dir}/phone-fleet.png`, fullPage: true });

    await page.goto(`${baseUrl}/?refresh=60#/order/${data.order_id}`);
    await page.locator("table.tasks tbody tr").first().waitFor();
    await page.locator("ol.log li").first().waitFor();
    await assertNoSideScroll(page, "order");
    await page.screenshot({ path: `${data.out_dir}/phone-order.png`, fullPage: true });

    await page.goto(`${baseUrl}/?refresh=60#/human`);
    await page.locator("li.followup").first().waitFor();
    await assertNoSideScroll(page, "needs a human");
    await page.screenshot({ path: `${data.out_dir}/phone-human.png`, fullPage: true });
    noProblems(problems, { refusals: 1 });
  },

  /** The README's picture: the fleet at laptop width with the data the test made. */
  async screenshot({ baseUrl, token, data, open }) {
    const { page, problems } = await open({ viewport: { width: 1280, height: 640 } });
    await page.goto(`${baseUrl}/?refresh=60`);
    await signIn(page, token);
    await page.locator("li.order").nth(data.orders - 1).waitFor();
    await page.locator("#human-count").filter({ hasText: /\d/ }).waitFor();
    await page.screenshot({ path: data.path, fullPage: true });
    noProblems(problems, { refusals: 1 });
  },
};
