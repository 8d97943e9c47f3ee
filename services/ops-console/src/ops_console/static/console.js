// The ops console's page: plain DOM and SVG, no library. Every value from the platform is put in
// with textContent (dead letters hold arbitrary bytes), never as HTML.
"use strict";

const REFRESH_MS = 5000;
const COLORS = ["#0b5cad", "#b3261e", "#1a7f37", "#9a6700", "#8250df", "#bf3989",
  "#0a7d8c", "#57606a", "#d1580b", "#3f6212"];
const state = { token: sessionStorage.getItem("opsToken"), minutes: 15, timer: null,
  topic: null, includeResolved: false };

// ---- small helpers ---------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const $ = (sel) => document.querySelector(sel);
function say(text) { $("#status").textContent = text; }
function when(ts) { return ts ? new Date(ts).toLocaleString() : "—"; }
function badge(ok, yes, no) { return h("span", { class: "badge " + (ok ? "ok" : "bad") }, ok ? yes : no); }

class ApiFailure extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status; this.code = e.code || `http_${status}`;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await r.json(); } catch (_) { /* no JSON body */ }
  if (!r.ok) {
    if (r.status === 401) logout("Your token is no longer accepted; log in again.");
    throw new ApiFailure(r.status, data);
  }
  return data;
}

function table(columns, rows, opts = {}) {
  if (!rows.length) return h("p", { class: "muted" }, opts.empty || "None.");
  return h("table", { "aria-label": opts.label || null },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.title)))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-key": opts.key ? opts.key(r) : null },
      columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(r)))))));
}

function confirmDialog(text, okLabel) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

// ---- charts: inline SVG ----------------------------------------------------------------------
function chart(c, minutes, limit) {
  const W = 560, H = 170, L = 46, R = 8, T = 8, B = 22;
  const end = Date.now() / 1000, start = end - minutes * 60;
  const values = c.lines.flatMap((l) => l.points.map((p) => p[1]));
  const max = Math.max(1, limit || 0, ...values) * 1.1;
  const x = (t) => L + ((t - start) / (end - start)) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const NS = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  };
  const latest = c.lines.map((l) => (l.points.length ? l.points[l.points.length - 1][1] : 0));
  const peak = values.length ? Math.max(...values) : 0;
  const last = latest.length ? Math.max(...latest) : 0;
  const fmt = (v) => (v >= 100 || Number.isInteger(v) ? Math.round(v).toString() : v.toFixed(2));
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `${c.title}: now ${fmt(last)} ${c.unit}, peak ${fmt(peak)} over ${minutes} min` });
  for (const frac of [0, 0.5, 1]) {
    const v = (max / 1.1) * frac;
    svg.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#d0d7de" }));
    svg.append(s("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#57606a" }, fmt(v)));
  }
  svg.append(s("text", { x: L, y: H - 6, "font-size": 11, fill: "#57606a" }, `−${minutes} min`));
  svg.append(s("text", { x: W - R, y: H - 6, "font-size": 11, fill: "#57606a", "text-anchor": "end" }, "now"));
  if (limit) {
    svg.append(s("line", { x1: L, x2: W - R, y1: y(limit), y2: y(limit), stroke: "#b3261e", "stroke-dasharray": "6 4", class: "limit" }));
    svg.append(s("text", { x: W - R, y: y(limit) - 4, "text-anchor": "end", "font-size": 11, fill: "#b3261e" }, `limit ${limit}/min`));
  }
  c.lines.forEach((l, i) => {
    if (!l.points.length) return;
    const pts = l.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    svg.append(s("polyline", { points: pts, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 1.8, "data-line": l.name }));
  });
  const legend = h("ul", { class: "legend" },
    c.lines.slice(0, 12).map((l, i) => h("li", {}, h("i", { style: `background:${COLORS[i % COLORS.length]}` }), `${l.name}: ${fmt(latest[i])}`)),
    c.lines.length > 12 ? h("li", {}, `+${c.lines.length - 12} more`) : null,
    c.lines.length ? null : h("li", {}, "no series yet"));
  return h("figure", { class: "chart", "data-chart": c.id, "data-peak": peak, "data-last": last, "data-points": values.length },
    h("figcaption", {}, `${c.title} (${c.unit})`), svg, legend);
}

// ---- pages -----------------------------------------------------------------------------------
const pages = {
  async services(root) {
    const box = h("div", {});
    root.append(h("h2", {}, "Services"), box);
    const draw = async () => {
      const data = await api("GET", "/api/services");
      box.replaceChildren(table([
        { title: "Service", cell: (s) => s.name },
        { title: "URL", cell: (s) => h("a", { href: s.url + "/docs" }, s.url) },
        { title: "Alive", cell: (s) => badge(s.alive, "alive", "down") },
        { title: "Ready", cell: (s) => badge(s.ready, "ready", "not ready") },
        { title: "Checks", cell: (s) => Object.entries(s.checks || {}).map(([k, v]) => `${k}: ${v}`).join("; ") || "—" },
        { title: "Supervisor", cell: (s) => (s.supervisor ? s.supervisor.state + (s.supervisor.last_exit_code !== null && s.supervisor.last_exit_code !== undefined ? ` (last exit ${s.supervisor.last_exit_code} at ${when(s.supervisor.last_exit_at)})` : "") : "—") },
        { title: "Restarts (supervisor)", num: true, cell: (s) => (s.supervisor ? s.supervisor.restarts : "—") },
        { title: "Restarts (1 h, Prometheus)", num: true, cell: (s) => (s.restarts_last_hour ?? "—") },
      ], data.services, { label: "Services", key: (s) => s.name }),
      data.prometheus ? "" : h("p", { class: "warn" }, "Prometheus is not answering: restarts unknown."));
    };
    await draw();
    return draw;
  },

  async flow(root) {
    const select = h("select", { id: "window", onchange: (e) => { state.minutes = +e.target.value; draw(); } },
      [5, 15, 60].map((m) => h("option", { value: m, selected: m === state.minutes }, `last ${m} min`)));
    const box = h("div", { class: "charts" });
    const lagNow = h("div", {});
    root.append(h("h2", {}, "Event flow"),
      h("div", { class: "toolbar" }, h("label", { for: "window" }, "Window"), select,
        h("span", { class: "muted" }, `refreshes every ${REFRESH_MS / 1000} s`)),
      box, h("h3", {}, "Consumer lag now, per group and partition"), lagNow);
    const draw = async () => {
      const data = await api("GET", `/api/charts/flow?minutes=${state.minutes}`);
      box.replaceChildren(...data.charts.map((c) => chart(c, state.minutes)));
      const rows = data.charts.filter((c) => c.id.startsWith("lag")).flatMap((c) =>
        c.lines.map((l) => ({ group: c.title.replace(/^Consumer lag: /, ""), name: l.name,
          lag: l.points.length ? l.points[l.points.length - 1][1] : 0 })));
      rows.sort((a, b) => b.lag - a.lag || a.group.localeCompare(b.group));
      const columns = [
        { title: "Consumer group", cell: (r) => r.group },
        { title: "Topic[partition]", cell: (r) => r.name },
        { title: "Lag (records)", num: true, cell: (r) => r.lag },
      ];
      const behind = rows.filter((r) => r.lag > 0), caughtUp = rows.filter((r) => r.lag <= 0);
      lagNow.replaceChildren(
        table(columns, behind, { label: "Consumer lag now", empty: "Every reporting partition is caught up." }),
        caughtUp.length ? h("details", {}, h("summary", {}, `Partitions with no lag (${caughtUp.length})`),
          table(columns, caughtUp, { label: "Partitions with no lag" })) : "");
    };
    await draw();
    return draw;
  },

  async "dead-letters"(root) {
    const topics = h("div", {});
    const letters = h("div", {});
    root.append(h("h2", {}, "Dead letters"), topics, letters);
    const drawTopics = async () => {
      const data = await api("GET", "/api/dead-letters");
      topics.replaceChildren(table([
        { title: "Topic", cell: (t) => t.topic },
        { title: "Letters", num: true, cell: (t) => t.total },
        { title: "Since the last full replay", num: true, cell: (t) => t.waiting },
        { title: "Actions", cell: (t) => [
          h("button", { type: "button", class: "secondary", disabled: !t.total, onclick: () => { state.topic = t.topic; drawLetters(); } }, `Browse ${t.topic}`),
          " ",
          h("button", { type: "button", disabled: !t.waiting, onclick: () => replayAll(t) }, `Replay all of ${t.topic}`)] },
      ], data.topics, { label: "Dead-letter topics", key: (t) => t.topic }));
    };
    const replay = async (topic, body, what) => {
      if (!(await confirmDialog(`Send ${what} back to its source topic? Do this only after the cause is fixed: a letter still refused comes back here.`, "Replay"))) {
        say("Replay cancelled."); return;
      }
      const out = await api("POST", `/api/dead-letters/${encodeURIComponent(topic)}/replay`, body);
      say(`Replayed ${out.replayed} letter(s) from ${topic}.`);
      await drawTopics();
      if (state.topic) await drawLetters();
    };
    const replayAll = (t) => replay(t.topic, { all: true }, `all ${t.waiting} waiting letter(s) of ${t.topic}`);
    const drawLetters = async () => {
      const topic = state.topic;
      const data = await api("GET", `/api/dead-letters/${encodeURIComponent(topic)}`);
      const title = h("h3", { id: "letters-title", tabindex: "-1" }, `${topic}: newest ${data.messages.length}`);
      letters.replaceChildren(title,
        ...data.messages.map((m) => h("article", { class: "letter", "data-event-id": m.event_id || "", "aria-label": `letter ${m.dlq_partition}:${m.dlq_offset}` },
          h("h4", {}, `${m.event_type || "unknown type"} · partition ${m.dlq_partition} offset ${m.dlq_offset}`, m.replayed ? h("span", { class: "badge ok" }, " replayed") : ""),
          h("dl", { class: "fields" },
            h("dt", {}, "Reason"), h("dd", { class: "reason" }, m.reason || "—"),
            h("dt", {}, "Error type"), h("dd", {}, m.error_type || "—"),
            h("dt", {}, "Consumer"), h("dd", {}, m.consumer || "—"),
            h("dt", {}, "Attempts"), h("dd", {}, m.attempts || "—"),
            h("dt", {}, "Source"), h("dd", {}, m.source),
            h("dt", {}, "Event id"), h("dd", {}, m.event_id || "—"),
            h("dt", {}, "Key"), h("dd", {}, m.key ?? "—"),
            h("dt", {}, "Dead-lettered"), h("dd", {}, when(m.timestamp_ms))),
          h("details", {}, h("summary", {}, `Headers (${Object.keys(m.headers).length})`),
            h("dl", { class: "fields" }, Object.entries(m.headers).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
          h("details", { open: true }, h("summary", {}, `Original bytes (${m.value_format})`), h("pre", { class: "original" }, m.value)),
          h("button", { type: "button", onclick: () => replay(topic, { partition: m.dlq_partition, offset: m.dlq_offset }, `letter ${m.dlq_partition}:${m.dlq_offset} (${m.event_type || "unknown type"})`) },
            `Replay letter ${m.dlq_partition}:${m.dlq_offset}`))));
      if (document.contains(title)) title.focus();  // the operator may have moved on meanwhile
    };
    await drawTopics();
    if (state.topic) await drawLetters();
    return null;  // user-driven: no auto-refresh that would move focus
  },

  async quickbooks(root) {
    const calls = h("div", { class: "charts" });
    const body = h("div", {});
    root.append(h("h2", {}, "QuickBooks"), calls, body);
    const drawCalls = async () => {
      const data = await api("GET", "/api/charts/quickbooks?minutes=15");
      calls.replaceChildren(...data.charts.map((c) => chart(c, 15, data.limit_per_minute)));
    };
    const act = async (path, payload, done) => {
      try {
        const row = await api("POST", path, payload);
        say(`${done}: ${row.customer_id} is now ${row.status}.`);
      } catch (e) { say(`Refused: ${e.message}`); }
      await drawRows();
    };
    const actions = (r) => {
      const base = `/api/quickbooks/sync/${encodeURIComponent(r.realm_id)}/${encodeURIComponent(r.customer_id)}`;
      const out = [];
      if (r.status === "failed" || r.status === "needs_link") {
        out.push(h("button", { type: "button", "aria-label": `Retry ${r.customer_id}`, onclick: () => act(`${base}/retry`, undefined, "Retried") }, "Retry"));
      }
      if (r.status === "conflict") {
        out.push(h("button", { type: "button", onclick: () => act(`${base}/resolve`, { keep: "platform" }, "Resolved") }, "Keep platform values"), " ",
          h("button", { type: "button", class: "secondary", onclick: () => act(`${base}/resolve`, { keep: "quickbooks" }, "Resolved") }, "Keep QuickBooks values"));
      }
      if (r.status === "needs_link") {
        const id = `link-${r.realm_id}-${r.customer_id}`;
        const input = h("input", { id, type: "text", value: r.candidate_qb_customer_id || "", style: "min-width:6rem" });
        out.push(" ", h("label", { for: id }, "QuickBooks id"), input,
          h("button", { type: "button", class: "secondary", onclick: () => act(`${base}/resolve`, { qb_customer_id: input.value }, "Linked") }, "Link"));
      }
      return out.length ? out : "—";
    };
    const drawRows = async () => {
      const data = await api("GET", "/api/quickbooks");
      body.replaceChildren(
        h("h3", {}, "Connections"),
        table([
          { title: "Company (realm)", cell: (c) => (c.kind === "desktop" ? `${c.company} (${c.realm_id})` : c.realm_id) },
          { title: "Kind", cell: (c) => ({ online: "QuickBooks Online", desktop: "QuickBooks Desktop" })[c.kind] || c.kind },
          { title: "Status", cell: (c) => h("span", { class: c.status === "connected" ? "ok" : "bad" }, c.status) },
          { title: "Token or session", cell: (c) => (c.kind === "desktop" ? `${c.session_state}; ${c.queue}` : c.token_state) },
          { title: "Connected", cell: (c) => when(c.connected_at) },
          { title: "Last error", cell: (c) => c.last_error || "—" },
        ], data.connections, { label: "QuickBooks connections", key: (c) => c.realm_id, empty: "No QuickBooks company is connected for this tenant." }),
        h("h3", {}, "Sync status per customer (failures first)"),
        table([
          { title: "Customer", cell: (r) => r.customer_id },
          { title: "Company", cell: (r) => r.realm_id },
          { title: "Status", cell: (r) => h("span", { class: ["failed", "needs_link", "conflict"].includes(r.status) ? "bad" : r.status === "synced" ? "ok" : "warn" }, r.status) },
          { title: "QuickBooks id", cell: (r) => r.qb_customer_id || "—" },
          { title: "Attempts", num: true, cell: (r) => r.attempts },
          { title: "Last error", cell: (r) => (r.last_error_code ? `${r.last_error_code}: ${r.last_error_message || ""}` : "—") },
          { title: "Updated", cell: (r) => when(r.updated_at) },
          { title: "Actions", cell: actions },
        ], data.sync, { label: "Sync status", key: (r) => r.customer_id, empty: "Nothing pushed yet." }));
    };
    await Promise.all([drawCalls(), drawRows()]);
    return drawCalls;  // the chart refreshes itself; the table waits for the operator
  },

  async billing(root) {
    const box = h("div", {});
    const toggle = h("input", { type: "checkbox", id: "include-resolved", checked: state.includeResolved,
      onchange: (e) => { state.includeResolved = e.target.checked; draw(); } });
    root.append(h("h2", {}, "Billing"),
      h("div", { class: "toolbar" }, toggle, h("label", { for: "include-resolved" }, "Show resolved rejections"),
        h("button", { type: "button", class: "secondary", onclick: () => draw() }, "Refresh")), box);
    const draw = async () => {
      const data = await api("GET", `/api/billing?include_resolved=${state.includeResolved}`);
      box.replaceChildren(
        h("h3", {}, `Parked transactions, waiting for what they need (${data.pending.length})`),
        table([
          { title: "Event", cell: (r) => r.event_id },
          { title: "Customer", cell: (r) => r.customer_id },
          { title: "Waits for", cell: (r) => r.waits_for },
          { title: "Parked", cell: (r) => when(r.parked_at) },
        ], data.pending, { label: "Parked transactions" }),
        h("h3", {}, `Conflicts: same key, different content (${data.conflicts.length})`),
        table([
          { title: "Event", cell: (r) => r.event_id },
          { title: "Customer", cell: (r) => r.customer_id },
          { title: "Type", cell: (r) => r.event_type },
          { title: "Key", cell: (r) => r.idempotency_key },
          { title: "Ledger entry", cell: (r) => r.existing_entry_id },
          { title: "Parked", cell: (r) => when(r.parked_at) },
        ], data.conflicts, { label: "Conflicts" }),
        h("h3", {}, `Rejections (${data.rejections.length})`),
        table([
          { title: "Event", cell: (r) => r.event_id },
          { title: "Customer", cell: (r) => r.customer_id },
          { title: "Type", cell: (r) => r.event_type },
          { title: "Reason", cell: (r) => r.reason },
          { title: "Rejected", cell: (r) => when(r.rejected_at) },
          { title: "Resolved", cell: (r) => (r.resolved_at ? h("span", { class: "ok" }, `resolved ${when(r.resolved_at)}`) : h("span", { class: "bad" }, "open")) },
        ], data.rejections, { label: "Rejections", key: (r) => r.event_id }));
    };
    await draw();
    return null;
  },
};

// ---- routing, login --------------------------------------------------------------------------
async function show() {
  clearInterval(state.timer);
  const name = (location.hash.replace(/^#\//, "") || "services");
  const page = pages[name] ? name : "services";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#/${page}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const root = $("#page");
  root.replaceChildren();
  root.dataset.page = page;
  root.dataset.loaded = "false";
  try {
    const refresh = await pages[page](root);
    root.dataset.loaded = "true";
    say(`Updated ${new Date().toLocaleTimeString()}`);
    if (refresh) {
      state.timer = setInterval(async () => {
        if ($("#confirm").open) return;
        try { await refresh(); say(`Updated ${new Date().toLocaleTimeString()}`); }
        catch (e) { say(`Refresh failed: ${e.message}`); }
      }, REFRESH_MS);
    }
  } catch (e) {
    root.append(h("p", { class: "error", role: "alert" }, `Could not load this page: ${e.message}`));
    root.dataset.loaded = "error";
  }
}

function logout(message) {
  clearInterval(state.timer);
  state.token = null;
  sessionStorage.removeItem("opsToken");
  $("#page").hidden = true; $("#nav").hidden = true; $("#who").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  $("#token").focus();
}

async function enter() {
  const who = await api("GET", "/api/session");
  $("#who-text").textContent = `tenant ${who.tenant_id}${who.name ? ` · ${who.name}` : ""}`;
  $("#login").hidden = true; $("#page").hidden = false; $("#nav").hidden = false; $("#who").hidden = false;
  await show();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    state.token = $("#token").value.trim();
    try {
      await enter();
      sessionStorage.setItem("opsToken", state.token);
      $("#token").value = "";
      $("#main").focus();
    } catch (err) {
      const text = err.code === "forbidden" ? "This token lacks the admin scope." : `Log in refused: ${err.message}`;
      $("#token").value = "";
      logout(text);
    }
  });
  $("#logout").addEventListener("click", () => logout("Logged out."));
  window.addEventListener("hashchange", () => { if (state.token) show(); });
  if (state.token) enter().catch(() => logout("Log in again."));
});
