// otcdesk web: one EventSource for the blotter, the lag and the broker status; fetch for the rest.
"use strict";
const $ = (id) => document.getElementById(id);
const deals = new Map();  // rfq_id -> row
let lagData = { groups: [], error: "" };

// -- tabs ------------------------------------------------------------------------------------
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
    for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + tab.dataset.view;
    if (tab.dataset.view === "analytics" && !$("report").options.length) loadReports();
  });
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined || text === "" ? "-" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}
const utc = (us) => us ? new Date(us / 1000).toISOString().slice(11, 19) : "-";
const stateClass = (s) => "st-" + String(s || "").split(" ")[0];

async function send(url, body) {
  const resp = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify(body) });
  let data;
  try { data = await resp.json(); } catch (e) { data = { error: `HTTP ${resp.status}` }; }
  return { ok: resp.ok, data };
}

function showErrors(prefix, formId, data) {
  for (const el of document.querySelectorAll(`[id^="err-"]`)) if (el.closest("#" + formId)) el.textContent = "";
  $("err-" + (formId === "ticket" ? "form" : "report-form")).textContent = "";
  if (!data) return;
  const target = data.field && $("err-" + data.field) ? $("err-" + data.field) :
    $("err-" + (formId === "ticket" ? "form" : "report-form"));
  target.textContent = data.error;
}

// -- ticket ------------------------------------------------------------------------------------
let countdownTimer = null;
let current = null;  // the quote on the ticket

$("ticket").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showErrors("err-", "ticket", null);
  $("publish").disabled = true;
  $("outcome").textContent = "";
  const body = { client: $("client").value, symbol: $("symbol").value, side: $("side").value,
                 qty: $("qty").value || null, notional: $("notional").value || null };
  try {
    const { ok, data } = await send("/api/rfq", body);
    if (!ok) { showErrors("err-", "ticket", data); return; }
    if (data.rejected) {
      $("quote").hidden = false; current = null; stopCountdown("-");
      $("outcome").innerHTML = "";
      $("outcome").textContent = `rejected: ${data.rejected.reason}: ${data.rejected.detail}`;
      $("outcome").className = "err";
      return;
    }
    $("quote").dataset.rfq = data.rfq_id;
    showQuote(data.quote, data.valid_for_s);
  } catch (e) {
    $("err-form").textContent = "the page's server did not answer";
  } finally {
    $("publish").disabled = false;
  }
});

function showQuote(q, validFor) {
  current = q;
  $("quote").hidden = false;
  $("quote-id").textContent = q.quote_id;
  $("q-symbol").textContent = q.symbol; $("q-qty").textContent = q.qty_base;
  $("q-bid").textContent = q.bid_price_quote; $("q-ask").textContent = q.ask_price_quote;
  $("q-mid").textContent = q.mid_price_quote; $("q-skew").textContent = q.skew_bps;
  $("q-spread").textContent = `base ${q.spread_base_bps} + size ${q.spread_size_bps} + impact ${q.spread_impact_bps}` +
    ` + vol ${q.spread_vol_bps}`;
  $("q-venues").textContent = (q.venues_used || []).join(", ");
  const twoWay = q.side === "TWO_WAY";
  $("accept").hidden = twoWay; $("accept-buy").hidden = !twoWay; $("accept-sell").hidden = !twoWay;
  for (const b of document.querySelectorAll("#answer-buttons button")) b.disabled = false;
  $("outcome").textContent = ""; $("outcome").className = "";
  const until = performance.now() + validFor * 1000;
  stopCountdown();
  const tick = () => {
    const left = (until - performance.now()) / 1000;
    if (left <= 0) { stopCountdown("expired"); $("countdown").classList.add("expired"); return; }
    $("countdown").classList.remove("expired");
    $("countdown").textContent = left.toFixed(1) + " s";
  };
  tick();
  countdownTimer = setInterval(tick, 100);
}

function stopCountdown(text) {
  if (countdownTimer) clearInterval(countdownTimer);
  countdownTimer = null;
  if (text !== undefined) $("countdown").textContent = text;
}

async function answer(action, side) {
  if (!current) return;
  for (const b of document.querySelectorAll("#answer-buttons button")) b.disabled = true;
  $("outcome").className = ""; $("outcome").textContent = action === "accept" ? "accepting..." : "declining...";
  const { ok, data } = await send(`/api/quotes/${encodeURIComponent(current.quote_id)}/${action}`,
                                  side ? { side } : {});
  stopCountdown(ok ? "answered" : undefined);
  if (!ok) { $("outcome").className = "err"; $("outcome").textContent = data.error; return; }
  if (data.trade) {
    const t = data.trade;
    $("outcome").className = "st-SETTLED";
    $("outcome").textContent = `trade ${t.trade_id} ${t.side} ${t.qty_base} ${t.symbol} @ ${t.price_quote} = ${t.notional_quote}`;
  } else {
    $("outcome").textContent = `declined ${data.declined}`;
  }
}
$("accept").addEventListener("click", () => answer("accept"));
$("accept-buy").addEventListener("click", () => answer("accept", "buy"));
$("accept-sell").addEventListener("click", () => answer("accept", "sell"));
$("decline").addEventListener("click", () => answer("decline"));

// -- blotter -----------------------------------------------------------------------------------
const BLOTTER_ROWS = 500;

function dealRow(d) {
  const tr = document.createElement("tr");
  tr.id = "deal-" + d.rfq_id;
  tr.dataset.rfq = d.rfq_id;
  tr.dataset.state = d.state;
  tr.dataset.recon = d.recon_status || "";
  cell(tr, utc(d.booked_us)); cell(tr, d.rfq_id.slice(0, 8), "mono"); cell(tr, d.client_id); cell(tr, d.symbol);
  cell(tr, d.side); cell(tr, d.qty_base); cell(tr, d.price_quote === "0" ? "" : d.price_quote);
  cell(tr, d.state, "state " + stateClass(d.state)); cell(tr, d.hedged_qty_base);
  cell(tr, d.avg_fill_price_quote === "0" ? "" : d.avg_fill_price_quote); cell(tr, d.fees_quote); cell(tr, d.pnl_quote);
  cell(tr, d.base_leg, stateClass(d.base_leg)); cell(tr, d.quote_leg, stateClass(d.quote_leg));
  cell(tr, d.recon_status, "recon " + stateClass(d.recon_status));
  tr.addEventListener("click", () => openDeal(d.rfq_id));
  return tr;
}

function renderBlotter() {
  const body = $("blotter").tBodies[0];
  const rows = [...deals.values()].sort((a, b) => b.updated_us - a.updated_us).slice(0, BLOTTER_ROWS);
  body.replaceChildren(...rows.map(dealRow));
}

function upsertDeal(d) {
  deals.set(d.rfq_id, d);
  const body = $("blotter").tBodies[0];
  const old = $("deal-" + d.rfq_id);
  const tr = dealRow(d);
  tr.classList.add("fresh");
  if (old) old.remove();
  body.insertBefore(tr, body.firstChild);
  while (body.rows.length > BLOTTER_ROWS) body.deleteRow(-1);
  if (!$("history").hidden && $("history-id").textContent === d.rfq_id) openDeal(d.rfq_id);
}

async function openDeal(rfqId) {
  const resp = await fetch(`/api/deals/${encodeURIComponent(rfqId)}`);
  const data = await resp.json();
  $("history").hidden = false;
  $("history-id").textContent = rfqId;
  const body = $("history-events").tBodies[0];
  if (!resp.ok) { body.replaceChildren(); $("history-id").textContent = rfqId + ": " + data.error; return; }
  body.replaceChildren(...data.events.map((e) => {
    const tr = document.createElement("tr");
    cell(tr, utc(e.ts_us)); cell(tr, e.topic); cell(tr, e.event); cell(tr, e.source);
    cell(tr, summarize(e.fields));
    return tr;
  }));
  if (data.note || !data.events.length) {
    const tr = document.createElement("tr");
    cell(tr, data.note || "no events found for this deal");
    body.appendChild(tr);
  }
}
$("history-close").addEventListener("click", () => { $("history").hidden = true; });

const HIDDEN_FIELDS = new Set(["event_id", "rfq_id", "ts_us", "source", "venues_excluded"]);
function summarize(fields) {
  return Object.entries(fields).filter(([k, v]) => !HIDDEN_FIELDS.has(k) && v !== null && v !== "")
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
}

// -- lag ---------------------------------------------------------------------------------------
function age(s) {
  if (s === null || s === undefined) return "-";
  if (s < 60) return s === 0 ? "0s" : s.toFixed(1) + "s";
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

function renderLag() {
  $("lag-error").textContent = lagData.error || "";
  $("lag").tBodies[0].replaceChildren(...lagData.groups.map((g) => {
    const tr = document.createElement("tr");
    tr.dataset.group = g.group; tr.dataset.status = g.status; tr.dataset.lag = g.total_lag;
    tr.dataset.members = g.members;
    cell(tr, g.group); cell(tr, g.state); cell(tr, g.members); cell(tr, g.total_lag, "total-lag");
    cell(tr, age(g.max_lag_seconds)); cell(tr, g.status, "status " + stateClass(g.status));
    return tr;
  }));
}

// -- status and the stream -----------------------------------------------------------------------
function showStatus(s) {
  $("banner").hidden = s.broker !== false;
  $("conn").textContent = s.broker === false ? "broker down" : s.broker ? "live" : "connecting";
  $("conn").className = "conn " + (s.broker === false ? "down" : s.broker ? "up" : "");
  $("history-note").textContent = s.history ? `(history: ${s.history})` : "";
}

function connect() {
  const source = new EventSource("/api/stream");
  source.addEventListener("snapshot", (ev) => {
    const snap = JSON.parse(ev.data);
    deals.clear();
    for (const d of snap.deals) deals.set(d.rfq_id, d);
    renderBlotter();
    lagData = snap.lag; renderLag();
    showStatus(snap.status);
  });
  source.addEventListener("deal", (ev) => upsertDeal(JSON.parse(ev.data)));
  source.addEventListener("lag", (ev) => { lagData = JSON.parse(ev.data); renderLag(); });
  source.addEventListener("status", (ev) => showStatus(JSON.parse(ev.data)));
  source.addEventListener("reload", () => { source.close(); connect(); });  // the history arrived
  source.onerror = () => { $("conn").textContent = "page server unreachable"; $("conn").className = "conn down"; };
}
connect();

// -- analytics ---------------------------------------------------------------------------------
async function loadReports() {
  const list = await (await fetch("/api/reports")).json();
  $("report").replaceChildren(...list.map((r) => {
    const o = document.createElement("option");
    o.value = r.name; o.textContent = r.name + (r.plot ? " (chart)" : ""); o.dataset.plot = r.plot;
    return o;
  }));
}

$("report-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showErrors("err-", "report-form", null);
  const params = new URLSearchParams();
  for (const k of ["since", "until", "bucket", "as_of", "limit"]) if ($(k).value.trim()) params.set(k, $(k).value.trim());
  const name = $("report").value;
  $("run").disabled = true;
  try {
    const resp = await fetch(`/api/reports/${encodeURIComponent(name)}?${params}`);
    const data = await resp.json();
    if (!resp.ok) { showErrors("err-", "report-form", data); return; }
    $("report-title").textContent = `${data.title} (${data.database}): ${data.rows.length} rows`;
    const head = document.createElement("tr");
    for (const c of data.columns) { const th = document.createElement("th"); th.textContent = c; head.appendChild(th); }
    $("report-table").tHead.replaceChildren(head);
    $("report-table").tBodies[0].replaceChildren(...data.rows.map((r) => {
      const tr = document.createElement("tr"); for (const v of r) cell(tr, v); return tr;
    }));
    const plot = $("report").selectedOptions[0].dataset.plot === "true";
    $("report-plot").hidden = !plot;
    if (plot) $("report-plot").src = `/api/reports/${encodeURIComponent(name)}/plot.png?${params}`;
  } finally {
    $("run").disabled = false;
  }
});
