// Shared helpers of the console pages. Untrusted text (node, model, key and user names, audit
// details) is only ever written with textContent or attribute setters, never parsed as HTML.

export const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { accept: "application/json" };
  if (method !== "GET") headers["x-csrf-token"] = csrf();
  if (body !== undefined) headers["content-type"] = "application/json";
  const resp = await fetch(`/console/api/${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await resp.json().catch(() => null);
  if (resp.status === 401 && path !== "signin") {
    location.assign("/console/signin");
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

// el("td", {class: "num", "data-testid": "x"}, "text", otherNode)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function app() {
  return document.getElementById("app");
}

export function render(...nodes) {
  app().replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined));
}

export function errorBox(err) {
  return el("p", { class: "error", role: "alert" }, err instanceof Error ? err.message : String(err));
}

export function empty(text) {
  return el("p", { class: "empty" }, text);
}

// columns: [{label, value: row => text|Node, class}]
export function table(columns, rows, { rowTestId, tableTestId, emptyText = "Nothing here yet." } = {}) {
  if (!rows.length) return empty(emptyText);
  return el("div", { class: "table-wrap" },
    el("table", { "data-testid": tableTestId },
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", { class: c.class }, c.label)))),
      el("tbody", {}, rows.map((r) => el("tr", { "data-testid": rowTestId },
        columns.map((c) => el("td", { class: c.class, "data-label": c.label }, c.value(r))))))));
}

export const money = (v) => (v === null || v === undefined ? "–" : `$${Number(v).toFixed(6)}`);
export const num = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en"));
export const when = (ts) => (ts ? new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) : "–");

export function badge(text, kind) {
  return el("span", { class: `badge ${kind || text}` }, text);
}

export function copyButton(getText, testid) {
  return el("button", {
    type: "button", class: "secondary", "data-testid": testid,
    on: { click: async (ev) => {
      try { await navigator.clipboard.writeText(getText()); ev.target.textContent = "Copied"; }
      catch { ev.target.textContent = "Select and copy"; }
    } },
  }, "Copy");
}

let me = null;
export async function whoami() {
  if (me === null) me = await api("me");
  return me;
}

// An org picker for owners (who see every org); admins and members have exactly one.
export async function orgPicker(onChange, { all = true } = {}) {
  const info = await whoami();
  if (info.role !== "owner") return null;
  const select = el("select", { "data-testid": "org-select", "aria-label": "Org" },
    all ? el("option", { value: "" }, "All orgs") : null,
    info.orgs.map((o) => el("option", { value: o }, o)));
  select.addEventListener("change", () => onChange(select.value));
  return el("label", { class: "inline" }, "Org ", select);
}

export function bindSignout() {
  const button = document.getElementById("signout");
  if (!button) return;
  button.addEventListener("click", async () => {
    try { await api("signout", { method: "POST" }); } finally { location.assign("/console/signin"); }
  });
}

// Runs a page's loader, showing its error in place; `every` re-runs it (live tables).
export function start(loader, { every } = {}) {
  bindSignout();
  const run = async () => {
    try { await loader(); } catch (err) { if (err.status !== 401) render(errorBox(err)); }
  };
  run();
  if (every) setInterval(run, every);
}
