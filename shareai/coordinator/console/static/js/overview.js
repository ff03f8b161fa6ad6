import { api, badge, el, money, num, orgPicker, render, start, table } from "./lib.js";

let org = "";
let picker = null;

async function load() {
  if (picker === null) picker = (await orgPicker((v) => { org = v; load(); })) || el("span");
  const data = await api(`overview?org=${encodeURIComponent(org)}`);
  const card = (label, value, testid) => el("div", { class: "card stat", "data-testid": testid },
    el("div", { class: "label" }, label), el("div", { class: "value" }, value));
  render(
    picker,
    el("div", { class: "cards" },
      card("Requests today", num(data.today.requests), "stat-requests"),
      card("Tokens today", num(data.today.total_tokens), "stat-tokens"),
      card("Cost today", money(data.today.cost_usd), "stat-cost"),
      card("Nodes online", `${data.nodes.online} / ${data.nodes.total}`, "stat-nodes")),
    el("h2", {}, "Providers"),
    table([
      { label: "Provider", value: (p) => p.name },
      { label: "Circuit", value: (p) => badge(p.circuit) },
      { label: "Models", value: (p) => p.models.join(", ") },
    ], data.providers, { rowTestId: "provider-row", emptyText: "No third-party providers are configured." }),
  );
}

start(load, { every: 10000 });
