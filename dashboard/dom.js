// Building the page from API data. Every value is set as text (text nodes, textContent,
// attributes through setAttribute); nothing here parses HTML, so an instruction such as
// `<img src=x onerror=alert(1)>` shows as those characters.

/** An element: attributes (names are always this code's constants), then children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Only http(s) links from API data become hrefs (never `javascript:` or `data:`). */
export function safeHref(value) {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * Replaces a container's content with freshly built nodes, keeping the operator's place:
 * nothing changes when the rendering is the same, and the focused control (marked with
 * `data-key`) is focused again after a change.
 */
export function patch(container, ...children) {
  const next = document.createElement(container.tagName);
  append(next, children);
  if (next.innerHTML === container.innerHTML) return false;
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.getAttribute("data-key") : null;
  const scroll = window.scrollY;
  container.replaceChildren(...next.childNodes);
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus({ preventScroll: true });
  }
  if (window.scrollY !== scroll) window.scrollTo({ top: scroll });
  return true;
}

// --- time: the API's timestamps are UTC, `YYYY-MM-DD HH:MM:SS` (SQLite's format) ----------

export function parseTs(value) {
  if (typeof value !== "string" || value === "") return null;
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value.replace(" ", "T")}Z`;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "45 s", "12 min", "3 h", "4 d" */
export function span(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

function utc(date) {
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A <time> saying how long ago (or, for the future, how soon), with the UTC time as title. */
export function relTime(value, now = Date.now()) {
  const date = parseTs(value);
  if (!date) return h("span", { class: "muted" }, "—");
  const diff = date.getTime() - now;
  const text = diff > 1000 ? `in ${span(diff)}` : `${span(-diff)} ago`;
  return h("time", { datetime: date.toISOString(), title: utc(date) }, text);
}

/** A <time> with the age only ("3 h"), for lists. */
export function age(value, now = Date.now()) {
  const date = parseTs(value);
  if (!date) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: date.toISOString(), title: utc(date) }, span(now - date.getTime()));
}

export function clock(date) {
  return h("time", { datetime: date.toISOString(), title: utc(date) },
    date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }));
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}
