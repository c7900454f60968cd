// The management dashboard: plain DOM, no framework. It logs in through MI's /management/login, then polls
// /management/dashboard and switches proxies and message processors through MI's POST resources.
"use strict";

const POLL_MS = 2000;
let token = sessionStorage.getItem("gatewayToken");
let previous = null; // the last answer, for per-second rates
let timer = null;

const $ = (selector) => document.querySelector(selector);

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function fill(table, rows, columns, emptyText) {
  const body = $(table + " tbody");
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell(emptyText, "empty");
    td.colSpan = columns;
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const row of rows) body.append(row);
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token }, options.headers || {});
  const response = await fetch("/management" + path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    showLogin("Your session ended: log in again.");
    throw new Error("unauthorized");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.Error || "HTTP " + response.status);
  return body;
}

function switchButton(resource, name, active, admin) {
  const button = document.createElement("button");
  button.textContent = active ? "Deactivate" : "Activate";
  button.dataset.name = name;
  button.disabled = !admin;
  button.title = admin ? "" : "read-only user";
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api(resource, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name, status: active ? "inactive" : "active" }),
      });
      $("#notice").textContent = "";
      await refresh();
    } catch (error) {
      $("#notice").textContent = name + ": " + error.message;
      button.disabled = false;
    }
  });
  return button;
}

function rate(item, field, seconds) {
  if (!previous || seconds <= 0) return "–";
  const before = previous.artifacts.find((a) => a.kind === item.kind && a.name === item.name);
  if (!before || before[field] === undefined) return "–";
  return ((item[field] - before[field]) / seconds).toFixed(1);
}

function render(data) {
  const seconds = previous ? data.time - previous.time : 0;
  const admin = data.user.admin;
  $("#summary").textContent =
    "version " + data.version + " · " + data.workers + " worker(s) · hot deployment " +
    (data.hotDeploy ? "on" : "off") + " · " + data.user.name + (admin ? "" : " (read only)");

  fill("#artifacts", data.artifacts.map((item) => {
    const tr = document.createElement("tr");
    tr.dataset.name = item.name;
    const isProxy = item.kind === "proxy";
    const counted = item.requests !== undefined; // proxies, APIs and endpoints (from the metrics)
    tr.append(
      cell(item.kind), cell(item.name), cell(item.path), cell(item.state, "state-" + item.state),
      cell(counted ? item.requests : "", "number"), cell(counted ? item.errors : "", "number"),
      cell(counted ? rate(item, "requests", seconds) : "", "number"),
      cell(counted ? rate(item, "errors", seconds) : "", "number"),
    );
    const actions = document.createElement("td");
    if (isProxy) actions.append(switchButton("/proxy-services", item.name, item.state === "active", admin));
    tr.append(actions);
    return tr;
  }), 9, "no artifacts deployed");

  fill("#failed", data.failed.map((problem) => {
    const tr = document.createElement("tr");
    const where = problem.line ? problem.path + ":" + problem.line : problem.path;
    tr.append(cell(where), cell(problem.element),
      cell(problem.reason + (problem.hint ? " (" + problem.hint + ")" : ""), "error"));
    return tr;
  }), 3, "none");

  fill("#events", data.events.map((event) => {
    const tr = document.createElement("tr");
    const problems = event.problems.map((p) => (p.line ? p.path + ":" + p.line : p.path) + ": " + p.reason);
    tr.append(cell(new Date(event.time * 1000).toLocaleTimeString()),
      cell(event.action, "action-" + event.action.replace(" ", "-")),
      cell(event.path + (problems.length ? " — " + problems.join("; ") : "")),
      cell(event.name ? event.kind + " " + event.name : ""), cell(event.backup || ""));
    return tr;
  }), 5, "no change since start");

  fill("#stores", data.stores.map((store) => {
    const tr = document.createElement("tr");
    tr.append(cell(store.name), cell(store.type), cell(store.size, "number"));
    return tr;
  }), 3, "no message stores deployed");

  fill("#processors", data.processors.map((processor) => {
    const tr = document.createElement("tr");
    const actions = document.createElement("td");
    actions.append(switchButton("/message-processors", processor.name, processor.status === "active", admin));
    tr.append(cell(processor.name), cell(processor.type), cell(processor.status, "state-" + processor.status), actions);
    return tr;
  }), 4, "no message processors deployed");
  previous = data;
}

async function refresh() {
  try {
    render(await api("/dashboard"));
  } catch (error) {
    if (error.message !== "unauthorized") $("#notice").textContent = error.message;
  }
}

function showLogin(message) {
  clearInterval(timer);
  token = null;
  previous = null;
  sessionStorage.removeItem("gatewayToken");
  $("#board").hidden = true;
  $("#logout").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
}

function showBoard() {
  $("#login").hidden = true;
  $("#board").hidden = false;
  $("#logout").hidden = false;
  refresh();
  timer = setInterval(refresh, POLL_MS);
}

$("#login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const credentials = btoa(unescape(encodeURIComponent(form.get("user") + ":" + form.get("password"))));
  const response = await fetch("/management/login", {
    headers: { Authorization: "Basic " + credentials, "X-Requested-With": "dashboard" },
  });
  if (!response.ok) {
    $("#login-error").textContent = "Wrong user or password.";
    return;
  }
  token = (await response.json()).AccessToken;
  sessionStorage.setItem("gatewayToken", token);
  showBoard();
});

$("#logout").addEventListener("click", async () => {
  await fetch("/management/logout", { headers: { Authorization: "Bearer " + token } }).catch(() => {});
  showLogin("");
});

if (token) showBoard();
