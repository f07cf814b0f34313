// The operator's dashboard: sign-in, the three views, polling. Plain ES modules, no build.
//
// Routes live in the URL's fragment (#/fleet, #/human, #/order/<id>) so the browser's back
// button and a reload keep the operator's place; the token never goes into the URL.

import { ApiError, Unreachable, createApi, query } from "./api.js";
import { clock, h, patch } from "./dom.js";
import {
  byImpact, fleetList, humanList, logList, orderSummary, taskTable,
} from "./views.js";

const TOKEN_KEY = "mission-control.token";
const ORDERS_PAGE = 50;
const LOGS_PAGE = 50;
const LOGS_MAX = 200; // the API's largest page
const HUMAN_STATUSES = ["open", "needs_human", "triaging"];
// `?refresh=<seconds>` shortens the polling period (the browser tests use it).
const REFRESH_MS = Math.max(1, Number(new URLSearchParams(location.search).get("refresh")) || 10)
  * 1000;

const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? "",
  signedIn: false,
  route: { view: "fleet", orderId: null },
  fleet: { factory: "", pages: 1, more: false, factories: new Set() },
  order: { level: "", limit: LOGS_PAGE },
  human: { items: [], pending: new Set() },
  lastRefresh: null,
  unreachableSince: null,
  timer: null,
  generation: 0, // bumps on every navigation so late answers for an old view are dropped
};

const api = createApi(() => state.token);

// --- messages -------------------------------------------------------------------------------

let announced = null;

/** A status message for everyone (the region is aria-live); it fades after a while. */
function announce(text) {
  $("status").textContent = text;
  clearTimeout(announced);
  announced = setTimeout(() => { $("status").textContent = ""; }, 20_000);
}

function showBanner(err) {
  state.unreachableSince ??= new Date();
  const since = state.unreachableSince.toLocaleTimeString();
  const shown = state.lastRefresh
    ? ` Showing what it said at ${state.lastRefresh.toLocaleTimeString()}.` : "";
  $("banner").textContent = `Cannot reach the orchestrator since ${since} (${err.message}).`
    + `${shown} Retrying every ${REFRESH_MS / 1000} s.`;
  $("banner").hidden = false;
}

function clearBanner() {
  if (state.unreachableSince) announce("The orchestrator is reachable again.");
  state.unreachableSince = null;
  $("banner").hidden = true;
  $("banner").textContent = "";
}

function explain(err) {
  if (err instanceof ApiError) return `${err.message} (${err.status} ${err.code})`;
  return err.message;
}

// --- sign-in --------------------------------------------------------------------------------

/** Any authenticated route tells whether a token (or none, in AUTH_MODE=open) is accepted. */
function probe(token) {
  return api.get("/api/followups?limit=1", token);
}

function showOnly(sectionId) {
  for (const id of ["connecting", "signin", "fleet", "order", "human"]) {
    $(id).hidden = id !== sectionId;
  }
}

function showSignIn(message) {
  state.signedIn = false;
  stopPolling();
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("refreshed-line").hidden = true;
  showOnly("signin");
  $("signin-error").textContent = message ?? "";
  $("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  if (!token) {
    $("signin-error").textContent = "Enter the API token.";
    $("token").focus();
    return;
  }
  $("signin-error").textContent = "Checking the token…";
  try {
    await probe(token);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      $("signin-error").textContent = "The orchestrator did not accept that token "
        + "(401 unauthorized). Check it against the API_TOKEN the Worker was deployed with.";
    } else if (err instanceof Unreachable) {
      $("signin-error").textContent = `Cannot reach the orchestrator (${err.message}). Try again.`;
    } else {
      $("signin-error").textContent = `Sign-in failed: ${explain(err)}`;
    }
    $("token").select();
    return;
  }
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token").value = "";
  $("signin-error").textContent = "";
  enterApp(true);
}

function signOut() {
  state.token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  announce("Signed out.");
  showSignIn();
}

function enterApp(fromSignIn = false) {
  state.signedIn = true;
  $("nav").hidden = false;
  $("sign-out").hidden = !state.token; // nothing to sign out of in AUTH_MODE=open
  route(fromSignIn);
}

/** A 401 while signed in: the token was rotated or this tab's was wrong. */
function lostAuth() {
  state.token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn("The orchestrator no longer accepts this tab's token. Sign in again.");
}

// --- routing --------------------------------------------------------------------------------

function parseRoute() {
  const [, view, ...rest] = location.hash.split("/");
  if (view === "order" && rest.length) {
    return { view: "order", orderId: decodeURIComponent(rest.join("/")) };
  }
  return { view: view === "human" ? "human" : "fleet", orderId: null };
}

/** Shows the view the URL names; `focusTitle` moves the keyboard to its heading. */
function route(focusTitle = false) {
  if (!state.signedIn) return;
  const next = parseRoute();
  const changed = next.view !== state.route.view || next.orderId !== state.route.orderId;
  state.route = next;
  state.generation += 1;
  showOnly(next.view);
  for (const link of $("nav").querySelectorAll("a")) {
    if (link.dataset.view === next.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (next.view === "order") {
    $("order-id").textContent = next.orderId;
    if (changed) {
      state.order.limit = LOGS_PAGE;
      for (const id of ["order-summary", "order-tasks", "order-logs"]) patch($(id));
      $("logs-more").hidden = true;
    }
  }
  document.title = next.view === "order" ? `${next.orderId} · Mission Control`
    : next.view === "human" ? "Needs a human · Mission Control" : "Fleet · Mission Control";
  if (changed || focusTitle === true) $(`${next.view}-title`).focus();
  refresh();
}

// --- loading --------------------------------------------------------------------------------

async function loadFleet(generation) {
  const orders = [];
  let cursor = null;
  let more = false;
  for (let page = 0; page < state.fleet.pages; page += 1) {
    const answer = await api.get(`/api/orders${query({
      factory: state.fleet.factory, limit: ORDERS_PAGE, cursor,
    })}`);
    orders.push(...answer.orders);
    cursor = answer.next_cursor;
    more = Boolean(cursor);
    if (!cursor) break;
  }
  if (generation !== state.generation) return;
  for (const order of orders) state.fleet.factories.add(order.factory);
  patch($("factories"), [...state.fleet.factories].sort().map((f) => h("option", { value: f })));
  patch($("fleet-list"), fleetList(orders, Date.now()));
  state.fleet.more = more;
  $("fleet-more").hidden = !more;
}

async function loadOrder(generation) {
  const id = state.route.orderId;
  let order;
  try {
    order = await api.get(`/api/tasks/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      if (generation !== state.generation) return;
      patch($("order-summary"), h("p", { class: "error" }, `There is no order ${id}.`));
      patch($("order-tasks"));
      patch($("order-logs"));
      return;
    }
    throw err;
  }
  const logs = await api.get(`/api/ops/logs${query({
    order_id: id, level: state.order.level, limit: state.order.limit,
  })}`);
  if (generation !== state.generation) return;
  const now = Date.now();
  patch($("order-summary"), orderSummary(order, now));
  patch($("order-tasks"), taskTable(order, now));
  patch($("order-logs"), logList(logs.logs, now));
  $("logs-more").hidden = !logs.next_cursor || state.order.limit >= LOGS_MAX;
}

async function loadHuman(generation) {
  const lists = await Promise.all(HUMAN_STATUSES.map((status) =>
    api.get(`/api/followups${query({ status, limit: 200 })}`)));
  if (generation !== state.generation) return;
  const items = lists.flatMap((list) => list.followups).sort(byImpact);
  state.human.items = items;
  const more = lists.some((list) => list.next_cursor);
  $("human-count").textContent = `(${items.length}${more ? "+" : ""})`;
  if (state.route.view === "human") {
    patch($("human-list"), humanList(items, state.human.pending, Date.now()));
  }
}

let refreshing = null;

/** Reloads what the current view shows (and the follow-up count); keeps the place. */
async function refresh() {
  if (!state.signedIn) return;
  while (refreshing) await refreshing; // a navigation mid-refresh loads its view afterwards
  if (!state.signedIn) return;
  stopPolling();
  const generation = state.generation;
  refreshing = (async () => {
    try {
      const view = state.route.view === "fleet" ? loadFleet(generation)
        : state.route.view === "order" ? loadOrder(generation) : Promise.resolve();
      await Promise.all([view, loadHuman(generation)]);
      clearBanner();
      state.lastRefresh = new Date();
      const stamp = clock(state.lastRefresh);
      $("refreshed").dateTime = stamp.dateTime;
      $("refreshed").title = stamp.title;
      $("refreshed").textContent = stamp.textContent;
      $("refreshed-line").hidden = false;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        lostAuth();
        return;
      }
      if (err instanceof Unreachable) showBanner(err);
      else announce(`Could not refresh: ${explain(err)}`);
    }
  })();
  await refreshing;
  refreshing = null;
  if (state.signedIn) state.timer = setTimeout(refresh, REFRESH_MS);
}

function stopPolling() {
  clearTimeout(state.timer);
  state.timer = null;
}

// --- actions --------------------------------------------------------------------------------

const ACTION_WORDS = { triaging: "in triage", fixed: "fixed", wontfix: "won't fix" };

async function act(button) {
  const id = Number(button.dataset.id);
  const status = button.dataset.action;
  const item = button.closest("li");
  state.human.pending.add(id);
  for (const b of item.querySelectorAll("button")) b.disabled = true;
  announce(`Marking follow-up ${id} ${ACTION_WORDS[status]}…`);
  try {
    const updated = await api.patch(`/api/followups/${id}`, { status, actor: "dashboard" });
    announce(`Follow-up ${id} is now ${updated.status.replace("_", " ")}.`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      lostAuth();
      return;
    }
    announce(`Could not mark follow-up ${id} ${ACTION_WORDS[status]}: ${explain(err)}`);
  } finally {
    state.human.pending.delete(id);
  }
  // Keep the keyboard on this follow-up, or on its neighbour when it left the list.
  const next = item.nextElementSibling ?? item.previousElementSibling;
  const ids = [String(id), next?.dataset.followupId].filter(Boolean);
  await refresh();
  if ($("human").hidden) return;
  const target = ids.map((key) => document.querySelector(
    `li[data-followup-id="${CSS.escape(key)}"] button:not([disabled])`)).find(Boolean);
  (target ?? $("human-title")).focus();
}

// --- wiring ---------------------------------------------------------------------------------

function wire() {
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", () => route());
  $("fleet-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    state.fleet.factory = $("factory").value.trim();
    state.fleet.pages = 1;
    announce(state.fleet.factory ? `Showing factory ${state.fleet.factory}.` : "Showing every factory.");
    refresh();
  });
  $("factory-clear").addEventListener("click", () => {
    $("factory").value = "";
    state.fleet.factory = "";
    state.fleet.pages = 1;
    announce("Showing every factory.");
    refresh();
  });
  $("fleet-more").addEventListener("click", () => {
    state.fleet.pages += 1;
    refresh();
  });
  $("log-level").addEventListener("change", () => {
    state.order.level = $("log-level").value;
    state.order.limit = LOGS_PAGE;
    refresh();
  });
  $("logs-more").addEventListener("click", () => {
    state.order.limit = Math.min(LOGS_MAX, state.order.limit + LOGS_PAGE);
    refresh();
  });
  $("human-list").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button && !button.disabled) act(button);
  });
}

async function start() {
  wire();
  // In AUTH_MODE=open no token is needed; otherwise a token from earlier in this tab is tried.
  for (;;) {
    try {
      await probe(state.token);
      $("banner").hidden = true;
      enterApp();
      return;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        const hadToken = Boolean(state.token);
        state.token = "";
        sessionStorage.removeItem(TOKEN_KEY);
        showSignIn(hadToken ? "The saved token is no longer accepted. Sign in again." : "");
        return;
      }
      if (err instanceof Unreachable) {
        showBanner(err);
        await new Promise((resolve) => setTimeout(resolve, REFRESH_MS));
        continue;
      }
      showOnly("signin");
      $("signin-error").textContent = `The orchestrator refused: ${explain(err)}`;
      return;
    }
  }
}

start();
