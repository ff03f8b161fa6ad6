import { api, badge, el, orgPicker, render, start, table } from "./lib.js";

let org = "";
let picker = null;
const price = (v) => (v === null || v === undefined ? "–" : `$${Number(v).toFixed(2)}`);

async function load() {
  if (picker === null) picker = (await orgPicker((v) => { org = v; load(); })) || el("span");
  const data = await api(`models?org=${encodeURIComponent(org)}`);
  render(picker, data.data.length ? data.data.map((m) => el("section", { class: "model", "data-testid": "model-card" },
    el("h2", {}, m.model),
    table([
      { label: "Route", value: (r) => (r.node_name ? `${r.route} (${r.node_name})` : r.route) },
      { label: "Kind", value: (r) => r.kind },
      { label: "Input /1M", value: (r) => price(r.input_per_mtok), class: "num" },
      { label: "Output /1M", value: (r) => price(r.output_per_mtok), class: "num" },
      { label: "p50 (24 h)", value: (r) => (r.latency_p50_ms === null ? "–" : `${Math.round(r.latency_p50_ms)} ms`), class: "num" },
      { label: "Availability (24 h)", value: (r) => (r.availability === null ? "–" : `${(r.availability * 100).toFixed(1)} %`), class: "num" },
      { label: "Circuit", value: (r) => badge(r.circuit) },
    ], m.routes, { rowTestId: "model-route", emptyText: "No route serves this model now." })))
    : el("p", { class: "empty" }, "No model is routable now: enroll a node or configure a provider."));
}

start(load, { every: 15000 });
