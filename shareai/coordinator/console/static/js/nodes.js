import { api, badge, bindSignout, copyButton, el, errorBox, orgPicker, render, table, when, whoami } from "./lib.js";

let org = "";
const tableBox = el("div", { id: "nodes-table" });
const enrollBox = el("div", { class: "enroll", "data-testid": "enroll-panel" });

const PLATFORMS = [
  ["linux", "Linux (systemd)"], ["macos", "macOS (launchd)"], ["windows", "Windows (PowerShell, as administrator)"],
  ["docker", "Docker"], ["agent", "Agent already installed"],
];

async function enroll() {
  const info = await whoami();
  const target = info.role === "owner" ? org : info.org;
  if (!target) {
    enrollBox.replaceChildren(errorBox("Choose an org first."));
    return;
  }
  try {
    const data = await api("enroll", { method: "POST", body: { org: target } });
    enrollBox.replaceChildren(
      el("h2", {}, `Enroll a machine into ${data.org}`),
      el("p", { class: "muted" }, `Run one of these on the machine. The token works once and expires at ${when(data.expires_at)}. `
        + "The node appears in the table below when it connects."),
      ...PLATFORMS.map(([k, label]) => el("div", { class: "command" },
        el("div", { class: "label" }, label),
        el("pre", { "data-testid": k === "linux" ? "enroll-command" : `enroll-command-${k}` }, data.commands[k]),
        copyButton(() => data.commands[k], `enroll-copy-${k}`))),
    );
  } catch (err) {
    enrollBox.replaceChildren(errorBox(err));
  }
}

async function act(node, verb) {
  if (verb === "revoke" && !confirm(`Revoke ${node.name}? It can no longer connect.`)) return;
  try {
    await api(`nodes/${encodeURIComponent(node.id)}/${verb}`, { method: "POST" });
  } catch (err) {
    tableBox.prepend(errorBox(err));
    return;
  }
  await refresh();
}

async function refresh() {
  try {
    const data = await api(`nodes?org=${encodeURIComponent(org)}`);
    tableBox.replaceChildren(table([
      { label: "Name", value: (n) => el("span", { class: "name", "data-testid": "node-name" }, n.name) },
      { label: "Org", value: (n) => n.org },
      { label: "Status", value: (n) => badge(n.status) },
      { label: "GPUs", value: (n) => (n.gpus.length ? n.gpus.join(", ") : "CPU") },
      { label: "Load", value: (n) => n.load },
      { label: "Models", value: (n) => n.models.join(", ") || "–" },
      { label: "Price /1M in·out", value: (n) => (n.price ? `$${n.price.input_per_mtok ?? "–"} · $${n.price.output_per_mtok ?? "–"}` : "default") },
      { label: "Last seen", value: (n) => when(n.last_seen) },
      { label: "", value: (n) => (n.status === "revoked" ? "" : el("span", { class: "actions" },
        el("button", { type: "button", class: "secondary", "data-testid": "node-drain", on: { click: () => act(n, "drain") } }, "Drain"),
        el("button", { type: "button", class: "danger", "data-testid": "node-revoke", on: { click: () => act(n, "revoke") } }, "Revoke"))) },
    ], data.data, { rowTestId: "node-row", tableTestId: "nodes-table",
                    emptyText: "No nodes yet. Enroll a machine to add the first one." }));
  } catch (err) {
    if (err.status !== 401) tableBox.replaceChildren(errorBox(err));
  }
}

async function main() {
  bindSignout();
  const picker = await orgPicker((v) => { org = v; refresh(); }).catch(() => null);
  render(
    el("div", { class: "toolbar" }, picker,
      el("button", { type: "button", "data-testid": "enroll-create", on: { click: enroll } }, "Enroll a machine")),
    enrollBox, tableBox);
  await refresh();
  setInterval(refresh, 2000);
}

main();
