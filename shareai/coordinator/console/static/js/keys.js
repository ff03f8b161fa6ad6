import { api, badge, bindSignout, copyButton, el, errorBox, orgPicker, render, table, when, whoami } from "./lib.js";

let org = "";
const secretBox = el("div", { "aria-live": "polite" });
const tableBox = el("div");
const name = el("input", { type: "text", maxlength: 128, placeholder: "e.g. ci, backend", "data-testid": "key-name",
                           "aria-label": "Key name" });

function showSecret(title, key) {
  secretBox.replaceChildren(el("div", { class: "card secret" },
    el("strong", {}, title),
    el("p", { class: "muted" }, "Copy it now: it is shown this once and stored only as a hash."),
    el("pre", { "data-testid": "key-secret" }, key.secret),
    copyButton(() => key.secret, "key-copy")));
}

async function create(ev) {
  ev.preventDefault();
  const info = await whoami();
  try {
    const key = await api("keys", { method: "POST", body: { name: name.value, org: info.role === "owner" ? org : undefined } });
    name.value = "";
    showSecret(`New key ${key.name || key.id} (${key.org})`, key);
    await refresh();
  } catch (err) {
    secretBox.replaceChildren(errorBox(err));
  }
}

async function act(key, verb) {
  if (verb === "revoke" && !confirm(`Revoke ${key.name || key.id}? Clients using it get 401 at once.`)) return;
  try {
    const out = await api(`keys/${encodeURIComponent(key.id)}/${verb}`, { method: "POST" });
    if (verb === "rotate") showSecret(`Rotated ${key.name || key.id}: the old secret works for 24 h more`, out);
    await refresh();
  } catch (err) {
    secretBox.replaceChildren(errorBox(err));
  }
}

async function refresh() {
  try {
    const data = await api(`keys?org=${encodeURIComponent(org)}`);
    tableBox.replaceChildren(table([
      { label: "Name", value: (k) => k.name || "–" },
      { label: "Org", value: (k) => k.org },
      { label: "Prefix", value: (k) => el("code", {}, `${k.prefix}…`) },
      { label: "State", value: (k) => badge(k.state) },
      { label: "Created", value: (k) => when(k.created_at) },
      { label: "Expires", value: (k) => when(k.expires_at) },
      { label: "", value: (k) => (k.state === "revoked" ? "" : el("span", { class: "actions" },
        el("button", { type: "button", class: "secondary", "data-testid": "key-rotate", on: { click: () => act(k, "rotate") } }, "Rotate"),
        el("button", { type: "button", class: "danger", "data-testid": "key-revoke", on: { click: () => act(k, "revoke") } }, "Revoke"))) },
    ], data.data, { rowTestId: "key-row", emptyText: "No API keys yet: create one above." }));
  } catch (err) {
    if (err.status !== 401) tableBox.replaceChildren(errorBox(err));
  }
}

async function main() {
  bindSignout();
  const picker = await orgPicker((v) => { org = v; refresh(); }).catch(() => null);
  render(el("form", { class: "toolbar", on: { submit: create } }, picker,
    el("label", { class: "inline" }, "Name ", name),
    el("button", { type: "submit", "data-testid": "key-create" }, "Create key")), secretBox, tableBox);
  await refresh();
}

main();
