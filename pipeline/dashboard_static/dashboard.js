// The dashboard's only script: polls /operations (the routed read: every worker answers for the
// whole cluster) and updates the two tables in place, so a reader's focus and the failed-host
// lists they opened survive each update. Text only (textContent): host and aggregate names come
// from notifications and are never parsed as HTML.
"use strict";

const POLL_MS = 2000;
const RECENT = 20; // completed operations shown
const SYMBOL = { running: "▶", stalled: "⚠", succeeded: "✔", partial: "◐", failed: "✖" };
const rows = { running: new Map(), completed: new Map() };
const chosen = new Map(); // operation -> whether the reader left its failed-host list open
let lastSummary = "";

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function seconds(iso) {
  return iso ? Date.parse(iso) / 1000 : NaN;
}

function clock(iso) {
  return iso ? iso.slice(11, 19) + " UTC" : "—";
}

function span(s) {
  if (!Number.isFinite(s)) return "—";
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + (s % 60) + " s";
  return Math.floor(m / 60) + " h " + (m % 60) + " min";
}

// hosts per second over Nova's own times (first to last notification), and what is left
function pace(op) {
  const elapsed = seconds(op.updated_at) - seconds(op.started_at);
  const total = op.hosts_total || 0;
  if (!(elapsed > 0) || !op.hosts_reported) return { rate: "—", left: "—" };
  const rate = op.hosts_reported / elapsed;
  const left = total > op.hosts_reported ? (total - op.hosts_reported) / rate : 0;
  return { rate: rate.toFixed(rate < 10 ? 1 : 0) + " hosts/s", left: "≈ " + span(left) };
}

function name(op) {
  return op.aggregate.name || op.aggregate.uuid;
}

function label(word) {
  return (SYMBOL[word] || "") + " " + word;
}

function setText(row, cls, text) {
  const cell = row.querySelector("." + cls);
  if (cell.textContent !== text) cell.textContent = text;
}

function row(kind, op, cells) {
  let tr = rows[kind].get(op.operation_id);
  if (!tr) {
    tr = el("tr", { "data-operation-id": op.operation_id });
    for (const [cls, tag] of cells) tr.appendChild(el(tag || "td", { class: cls }));
    rows[kind].set(op.operation_id, tr);
  }
  return tr;
}

function updateRunning(op) {
  const tr = row("running", op, [
    ["aggregate", "th"], ["region"], ["state"], ["progress"],
    ["errors num"], ["rate num"], ["left num"], ["started"],
  ]);
  tr.querySelector("th").setAttribute("scope", "row");
  const stalled = op.state === "stalled";
  tr.classList.toggle("stalled", stalled);
  setText(tr, "aggregate", name(op));
  setText(tr, "region", op.region);
  const state = tr.querySelector(".state");
  state.className = "state badge state-" + op.state;
  state.textContent = label(op.state) + (stalled && op.stalls > 1 ? " (" + op.stalls + "×)" : "");
  const total = op.hosts_total || 0;
  let cell = tr.querySelector(".progress");
  if (!cell.firstChild) {
    cell.appendChild(el("progress", { max: "1", value: "0" }));
    cell.appendChild(el("span", { class: "progress-text" }));
  }
  const bar = cell.querySelector("progress");
  bar.max = Math.max(total, 1);
  bar.value = op.hosts_reported;
  const text = total
    ? op.hosts_reported + " / " + total + " hosts (" + Math.floor(op.percent) + "%)"
    : op.hosts_reported + " hosts, total not known yet";
  bar.setAttribute("aria-label", name(op) + ": " + text);
  cell.querySelector(".progress-text").textContent = text;
  setText(tr, "errors", String(op.hosts_failed));
  const { rate, left } = pace(op);
  setText(tr, "rate", stalled ? "—" : rate);
  setText(tr, "left", stalled ? "— (stalled)" : left);
  setText(tr, "started", clock(op.started_at));
  return tr;
}

// failed hosts with why: no_report (never reported, listed as missing) or image_failed
function failures(op) {
  const missing = new Set(op.missing_hosts);
  return op.failed_hosts.map((host) => [
    host,
    missing.has(host) ? "no_report" : op.missing_hosts_truncated ? "failed" : "image_failed",
  ]);
}

function updateFailed(op, cell) {
  const list = failures(op);
  const key = JSON.stringify([list, op.hosts_failed]);
  if (cell.dataset.key === key) return;
  cell.dataset.key = key;
  cell.replaceChildren();
  if (!op.hosts_failed) {
    cell.textContent = "none";
    return;
  }
  const details = el("details", { class: "failed-hosts" });
  const id = op.operation_id;
  details.open = chosen.has(id) ? chosen.get(id) : list.length <= 12;
  details.addEventListener("toggle", () => chosen.set(id, details.open));
  details.appendChild(el("summary", {}, op.hosts_failed + " failed"));
  const ul = el("ul");
  for (const [host, reason] of list) {
    const li = el("li");
    li.appendChild(el("span", { class: "host" }, host));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("span", { class: "reason" }, reason));
    ul.appendChild(li);
  }
  if (op.hosts_failed > list.length) {
    ul.appendChild(el("li", { class: "muted" }, "… and " + (op.hosts_failed - list.length) + " more"));
  }
  details.appendChild(ul);
  cell.appendChild(details);
}

function updateCompleted(op) {
  const tr = row("completed", op, [
    ["aggregate", "th"], ["region"], ["outcome"], ["hosts num"], ["duration num"],
    ["completed"], ["failed"],
  ]);
  tr.querySelector("th").setAttribute("scope", "row");
  setText(tr, "aggregate", name(op));
  setText(tr, "region", op.region);
  const outcome = tr.querySelector(".outcome");
  outcome.className = "outcome badge outcome-" + op.outcome;
  outcome.textContent = label(op.outcome || "unknown");
  setText(tr, "hosts", (op.hosts_total - op.hosts_failed) + " / " + op.hosts_total + " cached");
  setText(tr, "duration", span(op.duration_s));
  setText(tr, "completed", clock(op.completed_at));
  updateFailed(op, tr.querySelector(".failed"));
  return tr;
}

function fill(kind, ops, update) {
  const table = document.getElementById(kind);
  const body = table.tBodies[0];
  const keep = ops.map(update);
  const wanted = new Set(ops.map((op) => op.operation_id));
  for (const [id, tr] of rows[kind]) if (!wanted.has(id)) { tr.remove(); rows[kind].delete(id); }
  keep.forEach((tr, i) => { if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null); });
  table.hidden = ops.length === 0;
  document.getElementById(kind + "-empty").hidden = ops.length !== 0;
}

function render(ops) {
  const running = ops
    .filter((op) => op.state !== "completed")
    .sort((a, b) => (a.started_at || "").localeCompare(b.started_at || ""));
  const completed = ops
    .filter((op) => op.state === "completed")
    .sort((a, b) => (b.completed_at || "").localeCompare(a.completed_at || ""))
    .slice(0, RECENT);
  fill("running", running, updateRunning);
  fill("completed", completed, updateCompleted);
  const stalled = running.filter((op) => op.state === "stalled").length;
  const summary = running.length + " running" + (stalled ? " (" + stalled + " stalled)" : "") +
    ", " + ops.filter((op) => op.state === "completed").length + " completed";
  if (summary !== lastSummary) { // announced to screen readers only when it changes
    document.getElementById("summary").textContent = summary;
    lastSummary = summary;
  }
}

async function poll() {
  const updated = document.getElementById("updated");
  if (document.hidden) { // a background tab costs the workers nothing (each poll scans tables)
    setTimeout(poll, POLL_MS);
    return;
  }
  try {
    const response = await fetch("/operations", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    render((await response.json()).operations);
    updated.classList.remove("error");
    updated.textContent = "Updated " + new Date().toISOString().slice(11, 19) + " UTC";
  } catch (err) {
    updated.classList.add("error");
    updated.textContent = "Cannot reach the worker (" + err.message + "); retrying";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
