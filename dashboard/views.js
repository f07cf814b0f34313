// What each view shows, built from API answers with `h` (text only, never HTML).

import { age, h, plural, relTime, safeHref } from "./dom.js";

export const TASK_STATUSES = [
  ["complete", "complete"],
  ["in_progress", "in progress"],
  ["blocked", "blocked"],
  ["pending", "pending"],
];

const STATUS_NAMES = Object.fromEntries(TASK_STATUSES);

function statusBadge(status) {
  const known = Object.hasOwn(STATUS_NAMES, status);
  return h("span", { class: `badge s-${known ? status : "unknown"}` },
    known ? STATUS_NAMES[status] : String(status ?? "unknown"));
}

/** The stacked bar of an order's tasks by status, with the same figures as text. */
export function progress(counts, total) {
  const n = (key) => Number(counts?.[key] ?? 0);
  const label = `${n("complete")} of ${total} complete, ${n("in_progress")} in progress, `
    + `${n("blocked")} blocked, ${n("pending")} pending`;
  const bar = h("div", { class: "bar", role: "img", "aria-label": label });
  for (const [key, name] of TASK_STATUSES) {
    if (n(key) === 0) continue;
    const segment = h("span", { class: `seg s-${key}`, title: `${n(key)} ${name}` });
    segment.style.flexGrow = String(n(key)); // CSSOM, which the CSP allows (no inline style)
    bar.append(segment);
  }
  const legend = h("p", { class: "legend", "aria-hidden": "true" },
    h("strong", {}, `${n("complete")}/${total} complete`),
    TASK_STATUSES.filter(([key]) => key !== "complete" && n(key) > 0)
      .map(([key, name]) => h("span", { class: `chip s-${key}` }, `${n(key)} ${name}`)));
  return h("div", { class: "progress" }, bar, legend);
}

export function orderHref(orderId) {
  return `#/order/${encodeURIComponent(orderId)}`;
}

// --- Fleet --------------------------------------------------------------------------------

export function fleetList(orders, now) {
  if (orders.length === 0) return h("p", { class: "empty" }, "No orders yet.");
  return h("ul", { class: "orders", "aria-label": "Orders, newest first" },
    orders.map((order) => {
      const open = Number(order.open_followups ?? 0);
      return h("li", { class: "order", "data-order-id": order.order_id },
        h("div", { class: "order-name" },
          h("a", { href: orderHref(order.order_id), "data-key": `order:${order.order_id}` },
            order.order_id),
          h("span", { class: "factory" }, order.factory)),
        progress(order.counts, Number(order.tasks_total ?? 0)),
        h("p", { class: "facts" },
          h("span", { class: open > 0 ? "followups attention" : "followups" },
            `${plural(open, "open follow-up")}`),
          h("span", { class: "age" }, age(order.created_at, now), " old")));
    }));
}

// --- Order --------------------------------------------------------------------------------

export function countTasks(tasks) {
  const counts = { pending: 0, in_progress: 0, complete: 0, blocked: 0 };
  for (const task of tasks) if (Object.hasOwn(counts, task.status)) counts[task.status] += 1;
  return counts;
}

export function orderSummary(order, now) {
  const claimed = order.tasks.filter((t) => t.claimed_by).length;
  return h("div", { class: "summary" },
    h("p", { class: "facts" },
      h("span", {}, "Factory ", h("strong", {}, order.factory)),
      h("span", {}, "Created ", relTime(order.created_at, now)),
      h("span", {}, plural(claimed, "task claimed", "tasks claimed"))),
    progress(countTasks(order.tasks), order.tasks.length));
}

function cell(label, ...children) {
  return h("td", { "data-label": label }, h("div", {}, ...children));
}

export function taskTable(order, now) {
  if (order.tasks.length === 0) return h("p", { class: "empty" }, "This order has no tasks.");
  const heads = ["File", "Placeholder", "Status", "Claimant", "Lease expires", "Last change"];
  return h("table", { class: "tasks", "aria-labelledby": "tasks-title" },
    h("thead", {}, h("tr", {}, heads.map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, order.tasks.map((task) => h("tr", { "data-task-uuid": task.uuid },
      cell("File", h("code", { class: "path" }, task.file_path)),
      cell("Placeholder",
        h("code", {}, task.placeholder),
        h("span", { class: "muted uuid" }, ` task ${task.uuid}`),
        h("p", { class: "instruction" }, task.instruction)),
      cell("Status", statusBadge(task.status)),
      cell("Claimant", task.claimed_by ? task.claimed_by : h("span", { class: "muted" }, "—")),
      cell("Lease expires", task.lease_expires_at
        ? relTime(task.lease_expires_at, now) : h("span", { class: "muted" }, "—")),
      cell("Last change", relTime(task.updated_at ?? task.created_at, now))))));
}

function detailsText(details) {
  if (details === null || details === undefined) return "";
  const text = typeof details === "string" ? details : JSON.stringify(details);
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

export function logList(logs, now) {
  if (logs.length === 0) return h("p", { class: "empty" }, "No log entries at this level.");
  return h("ol", { class: "log", "aria-labelledby": "logs-title" },
    logs.map((entry) => {
      const details = detailsText(entry.details);
      return h("li", { class: `entry l-${entry.level}`, "data-log-id": entry.id },
        h("p", { class: "entry-head" },
          h("span", { class: `level l-${entry.level}` }, entry.level),
          h("strong", {}, entry.operation),
          h("span", { class: "muted" }, entry.source),
          entry.task_uuid ? h("span", { class: "muted" }, `task ${entry.task_uuid}`) : null,
          relTime(entry.ts, now)),
        details ? h("pre", { class: "details" }, details) : null);
    }));
}

// --- Needs a human --------------------------------------------------------------------------

export const ACTIONS = [
  ["triaging", "Triage"],
  ["fixed", "Fixed"],
  ["wontfix", "Won't fix"],
];

/** Highest impact first (1 is the highest), then newest. */
export function byImpact(a, b) {
  const ia = Number.isFinite(a.impact_level) ? a.impact_level : 99;
  const ib = Number.isFinite(b.impact_level) ? b.impact_level : 99;
  return ia - ib || Number(b.id) - Number(a.id);
}

function githubLink(followup) {
  const href = safeHref(followup.github_url) ?? safeHref(followup.github_issue_id);
  if (!href) return null;
  const kind = followup.github_kind === "pull" || /\/pull\/\d+/.test(href)
    ? "Pull request" : "Issue";
  const parsed = href.match(/^https:\/\/github\.com\/([^/]+\/[^/]+)\/(?:pull|issues)\/(\d+)/) ?? [];
  const number = followup.github_number ?? parsed[2];
  const repo = followup.github_repo ?? parsed[1] ?? "";
  const name = number ? `${kind} ${repo}#${number}` : `${kind} on GitHub`;
  return h("p", {}, h("a", { href, rel: "noopener noreferrer", target: "_blank" }, name));
}

export function humanList(followups, pending, now) {
  if (followups.length === 0) {
    return h("p", { class: "empty" }, "Nothing needs a human right now.");
  }
  return h("ul", { class: "followups" }, followups.map((f) => {
    const busy = pending.has(f.id);
    return h("li", { class: `followup impact-${f.impact_level}`, "data-followup-id": f.id },
      h("h3", {},
        h("span", { class: "impact" }, `Impact ${f.impact_level}`),
        ` ${f.type} #${f.id}`,
        h("span", { class: `badge f-${f.status}` }, f.status.replace("_", " "))),
      h("p", { class: "facts" },
        h("span", {}, "Order ",
          h("a", { href: orderHref(f.order_id), "data-key": `fu-order:${f.id}` }, f.order_id)),
        f.task_uuid ? h("span", {}, `task ${f.task_uuid}`) : null,
        h("span", {}, relTime(f.ts, now))),
      f.note ? h("p", { class: "note" }, f.note) : null,
      githubLink(f),
      h("div", { class: "actions", role: "group", "aria-label": `Actions for follow-up ${f.id}` },
        ACTIONS.filter(([status]) => status !== f.status).map(([status, label]) => h("button", {
          type: "button",
          "data-action": status,
          "data-id": f.id,
          "data-key": `fu:${f.id}:${status}`,
          "aria-label": `${label}: follow-up ${f.id}`,
          disabled: busy,
        }, label))));
  }));
}
