// The playground calls the same /v1 API as any client, with this session's own key (created on
// first use, kept in memory only, revoked when the session ends).
import { api, bindSignout, el, errorBox, money, render, whoami } from "./lib.js";

let key = null;
let keyOrg = null;
const model = el("select", { "data-testid": "playground-model", "aria-label": "Model" });
const route = el("select", { "data-testid": "playground-policy", "aria-label": "Route or policy" });
const orgSelect = el("select", { "data-testid": "playground-org", "aria-label": "Org" });
const input = el("textarea", { rows: 4, "data-testid": "playground-input", placeholder: "Say something…", "aria-label": "Message" });
const stream = el("input", { type: "checkbox", checked: true, "data-testid": "playground-stream" });
const send = el("button", { type: "submit", "data-testid": "playground-send" }, "Send");
const output = el("pre", { class: "output", "data-testid": "playground-output", "aria-live": "polite" });
const meta = {
  route: el("span", { "data-testid": "playground-route" }, "–"),
  attempts: el("span", { "data-testid": "playground-attempts" }, "–"),
  cost: el("span", { "data-testid": "playground-cost" }, "–"),
  cache: el("span", { "data-testid": "playground-cache" }, "–"),
};
const errors = el("div");

async function sessionKey(org) {
  if (key === null || keyOrg !== org) {
    const out = await api("playground/key", { method: "POST", body: { org } });
    key = out.secret;
    keyOrg = org;
  }
  return key;
}

async function loadModels() {
  const q = orgSelect.value ? `?org=${encodeURIComponent(orgSelect.value)}` : "";
  const data = await api(`models${q}`);
  const chosen = model.value;
  model.replaceChildren(...data.data.map((m) => el("option", { value: m.model }, m.model)));
  if (chosen) model.value = chosen;
  const routes = new Set();
  data.data.forEach((m) => m.routes.forEach((r) => routes.add(r.kind === "node" ? "node" : r.route)));
  route.replaceChildren(el("option", { value: "" }, "Org policy (default)"),
    ...["cheapest", "fastest", "least-loaded", "prefer-nodes", "nodes-only"].map((p) => el("option", { value: `policy:${p}` }, `policy: ${p}`)),
    ...[...routes].map((r) => el("option", { value: `route:${r}` }, `route: ${r}`)));
  if (!data.data.length) errors.replaceChildren(errorBox("No model is routable now: enroll a node or configure a provider."));
}

function setMeta(headers) {
  meta.route.textContent = headers.get("x-shareai-route") || "–";
  meta.attempts.textContent = headers.get("x-shareai-attempts") || "–";
  meta.cache.textContent = headers.get("x-shareai-cache") || "off (the org does not cache)";
  const cost = headers.get("x-shareai-cost-usd");
  meta.cost.textContent = cost === null ? "…" : money(cost);
}

async function spentCost(before) {
  const after = await api("playground/spent");
  meta.cost.textContent = money(after.cost_usd - before.cost_usd);
}

async function chat(ev) {
  ev.preventDefault();
  errors.replaceChildren();
  output.textContent = "";
  Object.values(meta).forEach((m) => { m.textContent = "–"; });
  send.disabled = true;
  try {
    const secret = await sessionKey(orgSelect.value);
    const before = await api("playground/spent");
    const headers = { "content-type": "application/json", authorization: `Bearer ${secret}` };
    const [kind, value] = route.value.split(/:(.*)/s);
    if (kind === "policy") headers["x-shareai-policy"] = value;
    if (kind === "route") headers["x-shareai-route"] = value;
    const body = { model: model.value, messages: [{ role: "user", content: input.value }], stream: stream.checked };
    const resp = await fetch("/v1/chat/completions", { method: "POST", headers, body: JSON.stringify(body) });
    if (!resp.ok) {
      const data = await resp.json().catch(() => null);
      throw new Error((data && data.error && data.error.message) || `HTTP ${resp.status}`);
    }
    setMeta(resp.headers);
    if (!stream.checked) {
      const data = await resp.json();
      output.textContent = data.choices[0].message.content || "";
      return;
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of frame.split("\n")) {
          if (!line.startsWith("data:")) continue;
          const payload = line.slice(5).trim();
          if (payload === "[DONE]") continue;
          const chunk = JSON.parse(payload);
          if (chunk.error) throw new Error(chunk.error.message);
          const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
          if (delta && delta.content) output.append(document.createTextNode(delta.content));
        }
      }
    }
    await spentCost(before); // a stream's cost is settled after its last chunk
  } catch (err) {
    errors.replaceChildren(errorBox(err));
  } finally {
    send.disabled = false;
  }
}

async function main() {
  bindSignout();
  try {
    const info = await whoami();
    orgSelect.replaceChildren(...info.orgs.map((o) => el("option", { value: o }, o)));
    orgSelect.addEventListener("change", loadModels);
    render(el("form", { class: "playground", on: { submit: chat } },
      el("div", { class: "toolbar" },
        info.role === "owner" ? el("label", { class: "inline" }, "Org ", orgSelect) : null,
        el("label", { class: "inline" }, "Model ", model), el("label", { class: "inline" }, "Route ", route),
        el("label", { class: "inline" }, stream, " Stream")),
      input, el("div", { class: "toolbar" }, send), errors, output,
      el("dl", { class: "meta" }, el("dt", {}, "Route"), el("dd", {}, meta.route), el("dt", {}, "Attempts"),
        el("dd", {}, meta.attempts), el("dt", {}, "Cost"), el("dd", {}, meta.cost), el("dt", {}, "Cache"),
        el("dd", {}, meta.cache))));
    await loadModels();
  } catch (err) {
    if (err.status !== 401) render(errorBox(err));
  }
}

main();
