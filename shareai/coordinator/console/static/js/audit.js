import { api, el, orgPicker, render, start, table, when } from "./lib.js";

let org = "";
let picker = null;
const action = el("input", { type: "search", placeholder: "action, e.g. key.", "data-testid": "audit-action" });
const actor = el("input", { type: "search", placeholder: "actor, e.g. user:ann@", "data-testid": "audit-actor" });
const results = el("div");

async function load() {
  if (picker === null) {
    picker = (await orgPicker((v) => { org = v; load(); })) || el("span");
    const form = el("form", { class: "toolbar", on: { submit: (ev) => { ev.preventDefault(); load(); } } },
      picker, el("label", { class: "inline" }, "Action ", action), el("label", { class: "inline" }, "Actor ", actor),
      el("button", { type: "submit", "data-testid": "audit-filter" }, "Filter"));
    render(form, results);
  }
  const q = new URLSearchParams({ org, action: action.value, actor: actor.value });
  const data = await api(`audit?${q}`);
  results.replaceChildren(table([
    { label: "Time (UTC)", value: (e) => when(e.ts) },
    { label: "Actor", value: (e) => e.actor },
    { label: "Action", value: (e) => e.action },
    { label: "Target", value: (e) => e.target },
    { label: "Details", value: (e) => el("code", {}, JSON.stringify(e.details)) },
  ], data.data, { rowTestId: "audit-row", emptyText: "No matching events." }));
}

start(load);
