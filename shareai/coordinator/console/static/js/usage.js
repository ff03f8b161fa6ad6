import uPlot from "../vendor/uplot/uPlot.esm.js";
import { api, el, money, num, orgPicker, render, start, table } from "./lib.js";

let org = "";
let picker = null;
let since = "30d";
let plot = null;
const chartBox = el("div", { class: "chart", "data-testid": "usage-chart", role: "img", "aria-label": "Cost and tokens per day" });
const tables = el("div");
const sinceSelect = el("select", { "data-testid": "usage-since", "aria-label": "Period" },
  [["1d", "Last day"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]].map(([v, t]) => el("option", { value: v }, t)));
const csv = el("span", { class: "csv" });

const COLUMNS = [
  { label: "Requests", value: (g) => num(g.requests), class: "num" },
  { label: "Errors", value: (g) => num(g.errors), class: "num" },
  { label: "Cache hits", value: (g) => num(g.cache_hits), class: "num" },
  { label: "Tokens", value: (g) => num(g.total_tokens), class: "num" },
  { label: "Cost", value: (g) => money(g.cost_usd), class: "num" },
  { label: "Cost/request", value: (g) => money(g.cost_per_request_usd), class: "num" },
  { label: "p50", value: (g) => `${Math.round(g.latency_p50_ms)} ms`, class: "num" },
  { label: "p95", value: (g) => `${Math.round(g.latency_p95_ms)} ms`, class: "num" },
];

const DAYS = { "1d": 1, "7d": 7, "30d": 30 };

// Every day of the period, with zeros where nothing was used, so the axis spans the period.
function series(days) {
  const byDay = new Map(days.map((d) => [d.group, d]));
  const today = Math.floor(Date.now() / 86400000) * 86400;
  const xs = [];
  const cost = [];
  const tokens = [];
  for (let i = DAYS[since] - 1; i >= 0; i--) {
    const x = today - i * 86400;
    const d = byDay.get(new Date(x * 1000).toISOString().slice(0, 10));
    xs.push(x);
    cost.push(d ? d.cost_usd : 0);
    tokens.push(d ? d.total_tokens : 0);
  }
  return [xs, cost, tokens];
}

function drawChart(days) {
  const data = series(days);
  chartBox.dataset.requests = String(days.reduce((s, d) => s + d.requests, 0));
  chartBox.dataset.tokens = String(days.reduce((s, d) => s + d.total_tokens, 0));
  if (!days.length) {
    if (plot) { plot.destroy(); plot = null; }
    chartBox.replaceChildren(el("p", { class: "empty" }, "No requests in this period yet."));
    return;
  }
  const width = Math.max(280, Math.min(chartBox.clientWidth || 900, 1100));
  if (plot) plot.destroy();
  chartBox.replaceChildren();
  plot = new uPlot({
    width, height: 260,
    series: [{}, { label: "Cost (USD)", stroke: "#2563eb", width: 2, scale: "usd", points: { size: 7 } },
      { label: "Tokens", stroke: "#16a34a", width: 2, scale: "tok", points: { size: 7 } }],
    axes: [{}, { scale: "usd", label: "USD" }, { scale: "tok", side: 1, label: "tokens", grid: { show: false } }],
    scales: { x: { time: true, range: (u, min, max) => [min - 43200, max + 43200] } },
  }, data, chartBox);
}

// A share of the period's total as a <meter> (a bar chart per row that needs no inline style).
function share(field, total) {
  return {
    label: field === "cost_usd" ? "Share of cost" : "Share of tokens",
    value: (g) => el("meter", { min: 0, max: 1, value: total ? g[field] / total : 0,
                                title: `${total ? ((100 * g[field]) / total).toFixed(1) : 0} %` }),
  };
}

function groupTable(title, by, report, testid) {
  const cost = report.data.reduce((s, g) => s + g.cost_usd, 0);
  const tokens = report.data.reduce((s, g) => s + g.total_tokens, 0);
  return el("section", {},
    el("h2", {}, title),
    table([{ label: by === "route" ? "Route" : "Model", value: (g) => g.group }, ...COLUMNS,
           share("total_tokens", tokens), share("cost_usd", cost)], report.data,
          { tableTestId: testid, rowTestId: `${testid}-row`, emptyText: "No requests in this period yet." }));
}

async function load() {
  if (picker === null) {
    picker = (await orgPicker((v) => { org = v; load(); })) || el("span");
    sinceSelect.value = since;
    sinceSelect.addEventListener("change", () => { since = sinceSelect.value; load(); });
    render(el("div", { class: "toolbar" }, picker, el("label", { class: "inline" }, "Period ", sinceSelect), csv),
      el("h2", {}, "Cost and tokens per day"), chartBox, tables);
  }
  const q = (by) => new URLSearchParams({ by, org, since }).toString();
  const [days, models, routes] = await Promise.all([api(`usage?${q("day")}`), api(`usage?${q("model")}`), api(`usage?${q("route")}`)]);
  drawChart(days.data);
  csv.replaceChildren("CSV: ", ...["day", "model", "route"].map((by) =>
    el("a", { href: `/console/api/usage.csv?${q(by)}`, download: `usage-by-${by}.csv`, "data-testid": `usage-csv-${by}` }, by)));
  tables.replaceChildren(groupTable("By model", "model", models, "usage-table"),
    groupTable("By route: the same models compared across routes", "route", routes, "usage-table-route"));
}

start(load, { every: 5000 });
