import { api, el, num, money, orgPicker, render, start, table } from "./lib.js";

let org = "";
let picker = null;

async function load() {
  if (picker === null) picker = (await orgPicker((v) => { org = v; load(); })) || el("span");
  const data = await api(`limits?org=${encodeURIComponent(org)}`);
  render(picker, el("p", { class: "muted" }, "Limits are set by the deployment owner: shareai-coordinator limits set."),
    table([
      { label: "Scope", value: (l) => l.scope },
      { label: "Org", value: (l) => l.org || "–" },
      { label: "Requests/min", value: (l) => num(l.rpm), class: "num" },
      { label: "Tokens/min", value: (l) => num(l.tpm), class: "num" },
      { label: "Tokens/day", value: (l) => num(l.daily_tokens), class: "num" },
      { label: "Tokens/month", value: (l) => num(l.monthly_tokens), class: "num" },
      { label: "Cost/day", value: (l) => money(l.daily_cost), class: "num" },
      { label: "Cost/month", value: (l) => money(l.monthly_cost), class: "num" },
    ], data.data, { rowTestId: "limit-row", emptyText: "No limits: requests are not capped." }));
}

start(load);
