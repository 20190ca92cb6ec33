// The officers' console: plain JavaScript over the node's own API. The token lives in
// sessionStorage (this tab only). Code lists come from the OpenAPI document and field
// checks from GET /api/v1/check, so the console applies exactly the server's rules.
"use strict";

const TOKEN_KEY = "customs-console-token";
const PAGE = 50;
const state = { token: null, status: null, schemas: {}, cursor: null, stream: null, reload: null, flash: null, groupNames: new Map() };

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error;
    this.field = body && body.field;
  }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (!response.ok) {
    if (response.status === 401 && state.token) signOut("Your token is no longer valid on this node.");
    throw new ApiError(response.status, body);
  }
  return body;
}

// A new idempotency key: one per record an officer submits, kept across resubmits
// of that record, so that submitting again after a lost answer never publishes twice.
function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function notice(message, isError) {
  const box = $("notice");
  box.textContent = message;
  box.classList.toggle("error", !!isError);
  box.hidden = !message;
}

// ---- sign-in -----------------------------------------------------------------------

async function signIn(token) {
  state.token = token;
  state.status = await api("/api/v1/status");
  const doc = await api("/api/v1/openapi.json");
  state.schemas = (doc.components && doc.components.schemas) || {};
  sessionStorage.setItem(TOKEN_KEY, token);
  $("signin").hidden = true;
  $("app").hidden = false;
  fillCodeLists();
  showNode();
  route();
  startStream();
  if (!state.statusTimer) state.statusTimer = setInterval(refreshStatus, STATUS_REFRESH_MS);
}

// The node's own state (can it publish, members refusing its entries) changes without
// an entry arriving: look again now and then.
const STATUS_REFRESH_MS = 10000;

async function refreshStatus() {
  if (!state.token) return;
  try {
    state.status = await api("/api/v1/status");
    showNode();
  } catch (_) {
    // The next look, or the next action, reports a problem that lasts.
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  if (state.stream) state.stream.abort();
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("signin-token").value = "";
  $("signin-token").focus();
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = $("signin-token").value.trim();
  $("signin-error").textContent = "";
  if (!token) {
    $("signin-error").textContent = "Enter your API token.";
    return;
  }
  try {
    await signIn(token);
  } catch (error) {
    state.token = null;
    $("signin-token").setAttribute("aria-invalid", "true");
    $("signin-error").textContent = error.status === 401
      ? "This token is not valid on this node."
      : `Cannot sign in: ${error.message}`;
  }
});
$("signout").addEventListener("click", () => signOut());

// ---- code lists and node info ------------------------------------------------------

function enumValues(name) {
  const schema = state.schemas[name];
  return (schema && schema.enum) || [];
}

const words = (value) => String(value).replace(/_/g, " ");

function fillCodeLists() {
  // Required lists start empty too: nothing is chosen for the officer by default.
  for (const select of document.querySelectorAll("select[data-enum]")) {
    select.replaceChildren(el("option", { value: "" }, select.required ? "choose…" : "—"),
      ...enumValues(select.dataset.enum).map((v) => el("option", { value: v }, words(v))));
  }
  $("f-category").replaceChildren(el("option", { value: "" }, "any"),
    ...enumValues("Category").map((v) => el("option", { value: v }, words(v))));
  $("f-country").replaceChildren(el("option", { value: "" }, "any"),
    ...enumValues("Country").map((v) => el("option", { value: v }, v)));
  const codes = new Set(state.status.frontier.map((f) => f.code).filter(Boolean));
  codes.add(state.status.node.code);
  for (const peer of state.status.peers) codes.add(peer.code);
  $("f-author").replaceChildren(el("option", { value: "" }, "any"),
    ...[...codes].sort().map((c) => el("option", { value: c }, c)));
}

const canPublish = () => ["publisher", "admin"].includes(state.status.node.your_role);

function showNode() {
  const node = state.status.node;
  $("node-code").textContent = node.code;
  $("node-name").textContent = node.name;
  $("role").textContent = `signed in as ${node.your_role}`;
  for (const item of document.querySelectorAll("[data-needs=publisher]")) item.hidden = !canPublish();
  for (const item of document.querySelectorAll("[data-needs=admin]")) item.hidden = state.status.node.your_role !== "admin";
  $("fork-badge").hidden = !(state.status.forks > 0);
  // Why this node will not sign now (not synced, its own key forked, its clock off),
  // and members refusing its entries: on every view, for every role.
  const problems = [];
  if (node.cannot_publish_reason) problems.push(`This node cannot publish: ${node.cannot_publish_reason}`);
  for (const p of state.status.peers) {
    for (const r of p.refused_ours || []) {
      problems.push(`Member ${p.code} refuses ${r.count} of this node's entries (${r.reason}, latest seq ${r.last_seq}): they do not reach it.`);
    }
  }
  const warning = $("node-warning");
  warning.replaceChildren(...problems.map((text) => el("p", {}, text)));
  warning.hidden = problems.length === 0;
  warning.classList.toggle("danger", node.cannot_publish === "own_key_forked");
}

function offsetText(ms) {
  if (ms === null || ms === undefined) return "unknown";
  const seconds = Math.round(ms / 1000);
  if (seconds === 0) return "in step";
  return seconds < 0 ? `${-seconds} s behind ours` : `${seconds} s ahead of ours`;
}

// ---- navigation --------------------------------------------------------------------

const VIEWS = ["dashboard", "feed", "publish", "requests", "watch", "aeo", "groups", "members", "exchange", "network"];

function route() {
  // The dashboard is where a console opens.
  let view = location.hash.replace("#", "") || "dashboard";
  if (!VIEWS.includes(view)) view = "dashboard";
  if (view === "publish" && !canPublish()) view = "feed";
  for (const section of document.querySelectorAll("main > section[data-view]")) {
    section.hidden = section.dataset.view !== view;
  }
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // A message meant for the view being opened (e.g. "published") survives the switch.
  notice(state.flash || "");
  state.flash = null;
  if (view === "feed") loadAlerts();
  if (view === "network") loadNetwork();
  if (view === "members") loadMembers();
  if (view === "groups") loadGroups();
  if (view === "publish") loadRecipients();
  if (view === "requests") loadRequests();
  if (view === "watch") loadWatch();
  if (view === "exchange") loadExchange();
  if (view === "dashboard") loadDashboard();
}
window.addEventListener("hashchange", () => { if (state.token) { route(); $("main").focus(); } });

// ---- the feed ----------------------------------------------------------------------

function filterQuery() {
  const form = new FormData($("filters"));
  const query = new URLSearchParams();
  for (const [key, value] of form.entries()) {
    if (key === "include_retracted") query.set(key, "true");
    else if (value) query.set(key, value);
  }
  query.set("limit", PAGE);
  return query;
}

function alertItem(item, fresh) {
  const a = item.alert;
  const route = [a.route.origin, ...(a.route.transit || []), a.route.destination].filter(Boolean).join(" → ");
  const retracted = !!item.retracted_by;
  const button = el("button", {
    type: "button",
    class: `alert sev-border-${a.severity}${retracted ? " retracted" : ""}${fresh ? " fresh" : ""}`,
    "data-id": item.id,
    onclick: () => showDetail(item.id),
  },
  el("span", { class: `sev sev-${a.severity}` }, a.severity),
  // The record's own words are never translated.
  el("span", { class: "title" }, words(a.category), " · ", "HS", ` ${a.hs_code} · `, el("span", { translate: "no" }, a.description)),
  el("span", { class: "meta" },
    el("span", { class: "code" }, item.author_code || "?"), " ",
    `${formatDate(a.detected_on)} at ${a.location.unlocode} · ${route || "route unknown"} · ${a.reference} `,
    tlpTag(item.markings), " ",
    item.distribution && item.distribution !== "all" ? el("span", { class: "tag sealed" }, `sealed: ${distributionText(item.distribution)}`) : null,
    retracted ? el("span", { class: "tag retracted" }, "retracted") : null));
  return el("li", {}, button);
}

// ---- markings and distribution ---------------------------------------------------

const TLP_NAMES = { clear: "TLP:CLEAR", green: "TLP:GREEN", amber: "TLP:AMBER", amber_strict: "TLP:AMBER+STRICT", red: "TLP:RED" };

function tlpTag(markings) {
  if (!markings) return null;
  return el("span", { class: `tlp tlp-${markings.tlp}` }, TLP_NAMES[markings.tlp] || markings.tlp);
}

function handlingText(markings) {
  const codes = (markings.handling || []).map((h) => (typeof h === "string" ? words(h) : `other: ${h.other}`));
  return codes.length ? codes.join("; ") : "none";
}

function distributionText(distribution, groupName) {
  if (!distribution || distribution === "all") return "every member";
  if (distribution.to) return distribution.to.join(", ");
  if (distribution.group) {
    return `group ${groupName || state.groupNames.get(distribution.group.id) || distribution.group.id}`;
  }
  return JSON.stringify(distribution);
}

async function loadAlerts(append) {
  const query = filterQuery();
  if (append && state.cursor) query.set("cursor", state.cursor);
  $("filter-error").textContent = "";
  for (const input of $("filters").elements) input.removeAttribute("aria-invalid");
  try {
    const known = new Set([...document.querySelectorAll("#alerts [data-id]")].map((b) => b.dataset.id));
    const [page, groups] = await Promise.all([api(`/api/v1/alerts?${query}`), api("/api/v1/groups")]);
    state.groupNames = new Map(groups.groups.map((g) => [g.id, g.name]));
    const items = page.items.map((item) => alertItem(item, !append && known.size > 0 && !known.has(item.id)));
    if (append) $("alerts").append(...items);
    else $("alerts").replaceChildren(...items);
    if (!append && page.items.length === 0) {
      $("alerts").replaceChildren(el("li", { class: "empty" }, "No alerts match these filters."));
    }
    state.cursor = page.next;
    $("more").hidden = !page.next;
  } catch (error) {
    $("filter-error").textContent = error.message;
    const input = error.field && $("filters").elements[error.field];
    if (input) input.setAttribute("aria-invalid", "true");
  }
}

$("filters").addEventListener("submit", (event) => { event.preventDefault(); loadAlerts(); });
$("filters").addEventListener("reset", () => setTimeout(() => { showRouteFilter({}); loadAlerts(); }, 0));
$("route-filter-clear").addEventListener("click", () => { showRouteFilter({}); loadAlerts(); });

// The route or place a dashboard click asked for, as the feed's hidden filters.
function showRouteFilter(filter) {
  $("f-origin").value = filter.origin || "";
  $("f-destination").value = filter.destination || "";
  $("f-place").value = filter.place || "";
  const text = filter.place ? `Alerts detected at ${filter.place}`
    : (filter.origin || filter.destination) ? `Alerts on the route ${filter.origin || "?"} → ${filter.destination || "?"}` : "";
  $("route-filter-text").textContent = text;
  $("route-filter").hidden = !text;
}

function openAlerts(filter) {
  showRouteFilter(filter);
  if (location.hash === "#feed") loadAlerts();
  else location.hash = "#feed";
}
$("more").addEventListener("click", () => loadAlerts(true));

// A record field's name as a label: its words, capitalised, acronyms kept.
const FIELD_LABELS = { hs_code: "HS code", mrn: "MRN", unlocode: "UN/LOCODE", eta: "ETA", vessel_imo: "Vessel IMO",
  mra_partners: "MRA partners", operator_id: "Operator id", risk_alert: "Risk alert", aeo_record: "AEO record",
  control_request: "Request for control", control_result: "Result of control" };

function fieldLabel(key) {
  const text = FIELD_LABELS[key] || words(key);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// A record's value as nodes: code-list values and field names as labels (which the
// console translates), the record's own text as written (translate="no").
function describe(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.length ? value.flatMap((v, i) => (i ? [", ", describe(v)] : [describe(v)])) : "—";
  if (typeof value === "object") {
    return Object.entries(value).filter(([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && !v.length))
      .flatMap(([k, v], i) => [i ? "; " : "", fieldLabel(k), ": ", describe(v)]);
  }
  if (typeof value === "string" && /^[a-z][a-z_]*$/.test(value)) return words(value);
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value)) return formatDate(value);
  return el("span", { translate: "no" }, String(value));
}

async function showDetail(id) {
  const panel = $("detail");
  panel.hidden = false;
  panel.replaceChildren(el("p", {}, "Loading…"));
  try {
    const entry = await api(`/api/v1/entries/${id}`);
    if (entry.restricted) {
      panel.replaceChildren(el("h3", { tabindex: "-1" }, "Restricted record"),
        el("p", {}, `Entry ${entry.seq} of ${entry.author_code || entry.author} is addressed to other members: this node cannot read it.`),
        el("button", { type: "button", class: "secondary", onclick: () => { panel.hidden = true; } }, "Close"));
      return;
    }
    const v = entry.verification;
    const member = state.status.peers.find((p) => p.code === entry.author_code);
    const rows = [
      ["Author", `${entry.author_code || "unknown"}${member ? "" : entry.author_code === state.status.node.code ? " (this node)" : ""}`],
      ["Signature", v.status === "valid" ? "valid (checked just now)" : `INVALID: ${v.reason}`],
      ["Member", v.author_is_member ? "yes" : "not a member of this network"],
      ["Signed at", formatDateTime(entry.created_at)],
      ["Log position", `seq ${entry.seq}`],
    ];
    if (entry.markings) {
      rows.unshift(
        ["Handling", handlingText(entry.markings)],
        ["Source and accuracy", `${entry.markings.source_reliability}${entry.markings.accuracy}`],
        ["Who may read it", distributionText(entry.distribution, entry.group_name)]);
    }
    if (v.forked) rows.push(["Warning", "this author's key signed another entry with the same seq (fork)"]);
    if (entry.retracted_by) rows.push(["Retracted by", entry.retracted_by]);
    for (const answer of entry.answers || []) {
      const what = answer.type === "control_result" ? `result: ${words(answer.body.outcome)}`
        : answer.type === "control_request" ? `request for control ${answer.body.reference} to ${answer.body.addressed_to.join(", ")}`
        : "acknowledged";
      rows.push([`From ${answer.author_code || "?"}`, what]);
    }
    for (const [key, value] of Object.entries(entry.body)) rows.push([fieldLabel(key), describe(value)]);
    rows.push(["Entry id", entry.id], ["Author key", entry.author]);
    // (null children would be written as the text "null")
    panel.replaceChildren(...[
      el("h3", { tabindex: "-1" }, fieldLabel(entry.type), " ", el("span", { translate: "no" }, entry.body.reference || entry.body.operator_id || "")),
      entry.markings ? el("p", { class: "markings-banner", id: "detail-markings" }, tlpTag(entry.markings), " ",
        handlingText(entry.markings) === "none" ? "" : handlingText(entry.markings)) : null,
      entry.attachments ? el("p", { id: "detail-attachments" }, "Loading attachments…") : null,
      el("dl", {}, rows.map(([k, val]) => [el("dt", {}, k),
        el("dd", { class: k === "Signature" ? (v.status === "valid" ? "sig-valid" : "sig-invalid") : null }, val)])),
      el("button", { type: "button", class: "secondary", onclick: () => { panel.hidden = true; } }, "Close"),
    ].filter(Boolean));
    if (entry.attachments) $("detail-attachments").replaceWith(await attachmentList(entry.attachments));
    panel.querySelector("h3").focus({ preventScroll: true });
  } catch (error) {
    panel.replaceChildren(el("p", { class: "field-error" }, error.message));
  }
}

// ---- the live feed (SSE over fetch, so the token travels in a header) --------------

async function startStream() {
  if (state.stream) state.stream.abort();
  const controller = new AbortController();
  state.stream = controller;
  let delay = 1000;
  while (!controller.signal.aborted && state.token) {
    try {
      const response = await fetch("/api/v1/events", {
        headers: { Authorization: `Bearer ${state.token}` },
        signal: controller.signal,
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      setLive(true);
      delay = 1000;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          onEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (_) {
      // reconnect below
    }
    setLive(false);
    if (controller.signal.aborted) return;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 30000);
  }
}

function setLive(on) {
  $("live").textContent = on ? "live" : "reconnecting";
  $("live").classList.toggle("on", on);
}

function onEvent(block) {
  let name = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (!["entry", "lagged", "request", "result", "match"].includes(name)) return;
  if (name === "request") notice("A new request for control is addressed to us: see Requests.");
  if (name === "match") notice("A record matched a watch list: see Watch lists.");
  // Reload through the API so the list keeps exactly the server's filters and order.
  clearTimeout(state.reload);
  state.reload = setTimeout(() => {
    if (!$("view-feed").hidden) loadAlerts();
    if (!$("view-network").hidden) loadNetwork();
    if (!$("view-members").hidden) loadMembers();
    if (!$("view-groups").hidden) loadGroups();
    if (!$("view-requests").hidden) loadRequests();
    if (!$("view-watch").hidden) loadWatch();
  }, 200);
}

// ---- forms: field checks by the server, server errors on their fields --------------

const fieldTimers = new WeakMap();

function errorSlot(input) {
  let slot = document.getElementById(`${input.id}-error`);
  if (!slot) {
    slot = el("p", { id: `${input.id}-error`, class: "field-error", "aria-live": "polite" });
    input.after(slot);
    input.setAttribute("aria-describedby", slot.id);
  }
  return slot;
}

function setFieldError(input, message) {
  delete input.dataset.serverValue;
  errorSlot(input).textContent = message || "";
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function listValues(input) {
  return input.value.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

async function checkField(input) {
  const kind = input.dataset.check;
  const values = input.dataset.list ? listValues(input) : [input.value.trim()].filter(Boolean);
  for (const [i, value] of values.entries()) {
    try {
      const result = await api(`/api/v1/check?${new URLSearchParams({ kind, value })}`);
      if (!result.valid) {
        setFieldError(input, values.length > 1 ? `item ${i + 1}: ${result.message}` : result.message);
        return false;
      }
    } catch (_) {
      return true; // the server decides on submit
    }
  }
  // A refusal by the server stays until the officer changes the value it was about.
  if (input.dataset.serverValue !== input.value) setFieldError(input, "");
  return true;
}

for (const input of document.querySelectorAll("[data-check]")) {
  const run = () => {
    clearTimeout(fieldTimers.get(input));
    fieldTimers.set(input, setTimeout(() => checkField(input), 250));
  };
  input.addEventListener("input", run);
  input.addEventListener("change", run);
  input.addEventListener("blur", () => checkField(input));
}

function setPath(object, path, value) {
  const parts = path.split(".");
  let node = object;
  for (const part of parts.slice(0, -1)) node = node[part] = node[part] || {};
  node[parts[parts.length - 1]] = value;
}

function readForm(form) {
  const body = {};
  for (const input of form.querySelectorAll("[data-path]")) {
    const path = input.dataset.path;
    let value = input.value.trim();
    if (input.dataset.list) value = listValues(input).map((v) => (input.dataset.check === "country" ? v.toUpperCase() : v));
    else if (path === "indicators") value = value.split("\n").map((s) => s.trim()).filter(Boolean);
    else if (value === "") value = null;
    setPath(body, path, value);
  }
  return body;
}

function firstMissing(form) {
  for (const input of form.querySelectorAll("[data-path][required]")) {
    if (!input.value.trim()) {
      setFieldError(input, "required");
      return input;
    }
  }
  return null;
}

// A server path such as conveyance.containers[1] belongs to the input for
// conveyance.containers; quantity.amount to its own input.
function inputFor(form, path) {
  if (!path) return null;
  const base = path.replace(/\[\d+\]/g, "");
  let candidate = base;
  while (candidate) {
    const input = form.querySelector(`[data-path="${candidate}"]`);
    if (input) return input;
    candidate = candidate.includes(".") ? candidate.slice(0, candidate.lastIndexOf(".")) : "";
  }
  return null;
}

async function submitForm(form, errorBox, path, prepare, done) {
  for (const input of form.querySelectorAll("[data-check]")) clearTimeout(fieldTimers.get(input));
  errorBox.textContent = "";
  for (const input of form.querySelectorAll("[data-path]")) setFieldError(input, "");
  const missing = firstMissing(form);
  if (missing) {
    errorBox.textContent = "Some required fields are empty.";
    missing.focus();
    return;
  }
  const checks = await Promise.all([...form.querySelectorAll("[data-check]")].map(checkField));
  const bad = form.querySelector("[aria-invalid=true]");
  if (checks.includes(false) && bad) {
    errorBox.textContent = "Some fields need correcting.";
    bad.focus();
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  form.dataset.idempotencyKey ||= newIdempotencyKey();
  try {
    const published = await api(path, {
      method: "POST",
      body: prepare(readForm(form)),
      idempotencyKey: form.dataset.idempotencyKey,
    });
    delete form.dataset.idempotencyKey;
    done(published);
  } catch (error) {
    if (!(error instanceof ApiError)) {
      errorBox.textContent = "No answer from the node. Submitting again is safe: the record will not be published twice.";
      return;
    }
    const input = inputFor(form, error.field);
    if (input) {
      setFieldError(input, error.message);
      input.dataset.serverValue = input.value;
      input.focus();
      errorBox.textContent = "The node refused the record: see the marked field.";
    } else {
      errorBox.textContent = error.code === "not_synced"
        ? "This node cannot sign yet: it is waiting for a member to confirm its own log. Try again shortly."
        : `The node refused the record: ${error.message}`;
    }
  } finally {
    button.disabled = false;
  }
}

$("alert-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = $("alert-form");
  submitForm(form, $("alert-form-error"), "/api/v1/alerts", (body) => {
    if (!body.quantity.amount) body.quantity = null;
    if (!body.estimated_value.amount && !body.estimated_value.currency) body.estimated_value = null;
    else if (body.estimated_value.currency) body.estimated_value.currency = body.estimated_value.currency.toUpperCase();
    const identifiers = Object.entries(body.consignment).filter(([, v]) => v !== null);
    body.consignment = identifiers.length ? Object.fromEntries(identifiers) : null;
    body.attachments = uploads.map((u) => ({ hash: u.hash, caption: u.caption.value.trim() }));
    return withNeedToKnow(body);
  }, async (published) => {
    const sealed = $("a-dist").value !== "all";
    const draft = form.dataset.draft;
    delete form.dataset.draft;
    // Published: the draft it came from has served (a failure here leaves a draft).
    if (draft) await api(`/api/v1/drafts/${draft}`, { method: "DELETE" }).catch(() => null);
    form.reset();
    uploads.length = 0;
    showUploads();
    state.flash = `Published alert ${published.id} (seq ${published.seq}). Every member will receive it${sealed ? "; only its recipients can read it" : ""}.`;
    location.hash = "#feed";
  });
});

$("aeo-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = $("aeo-form");
  submitForm(form, $("aeo-form-error"), "/api/v1/aeo", (body) => {
    body.identifiers = listValues($("o-identifiers")).map((text) => {
      const [scheme, ...rest] = text.split(":");
      return { scheme: scheme.toUpperCase(), value: rest.join(":") };
    });
    body.exchange_consent = $("o-consent").checked;
    return body;
  }, (published) => {
    const operator = $("o-operator").value.trim();
    form.reset();
    notice(`Published AEO record ${published.id} (seq ${published.seq}).`);
    $("l-operator").value = operator;
    lookUp();
  });
});

// ---- AEO lookup ----------------------------------------------------------------------

async function lookUp() {
  const operator = $("l-operator").value.trim().toUpperCase();
  const date = $("l-date").value;
  setFieldError($("l-operator"), "");
  $("l-operator-error").textContent = "";
  if (!operator) {
    $("l-operator-error").textContent = "Enter an operator id.";
    $("l-operator").setAttribute("aria-invalid", "true");
    return;
  }
  try {
    const query = date ? `?as_of=${encodeURIComponent(date)}` : "";
    const view = await api(`/api/v1/aeo/${encodeURIComponent(operator)}${query}`);
    const when = view.as_of ? `on ${view.as_of}` : "today";
    if (!view.issuers.length) {
      $("aeo-result").replaceChildren(el("p", {}, `No administration has published a status for ${operator} ${when}.`));
      return;
    }
    $("aeo-result").replaceChildren(el("table", { class: "table" },
      el("caption", {}, `${operator}: status ${when} at each issuer`),
      el("thead", {}, el("tr", {}, ["Issuer", "Programme", "Status", "Effective", "Valid until", "MRA partners", "Name", "Identifiers", "Reason"]
        .map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, view.issuers.map((at) => el("tr", {},
        el("td", {}, at.issuer_code || at.issuer.slice(0, 12)),
        el("td", {}, words(at.record.programme).toUpperCase()),
        el("td", { class: ["granted", "reinstated"].includes(at.record.status) ? "yes" : "no" }, at.record.status),
        el("td", {}, formatDate(at.record.effective_from)),
        el("td", {}, at.record.valid_until ? formatDate(at.record.valid_until) : "—"),
        el("td", {}, (at.record.mra_partners || []).join(", ") || "—"),
        el("td", {}, at.record.name),
        el("td", {}, [at.record.operator_id, ...(at.record.identifiers || []).map((i) => `${i.scheme}:${i.value}`)].join(", ")),
        el("td", {}, at.record.reason || "—"))))));
  } catch (error) {
    $("l-operator-error").textContent = error.message;
    $("l-operator").setAttribute("aria-invalid", "true");
  }
}

$("aeo-lookup").addEventListener("submit", (event) => { event.preventDefault(); lookUp(); });

// ---- network -----------------------------------------------------------------------

function ago(ms) {
  if (!ms) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

async function loadNetwork() {
  try {
    state.status = await api("/api/v1/status");
    const forks = state.status.forks > 0 ? (await api("/api/v1/forks")).forks : [];
    showNode();
    const s = state.status;
    $("node-info").replaceChildren(el("p", {},
      `This node: ${s.node.code} (${s.node.name}) on network ${s.node.network}. `,
      `${s.counts.entries} entries from ${s.counts.authors} authors: ${s.counts.risk_alerts} alerts, `,
      `${s.counts.aeo_records} AEO records, ${s.counts.retractions} retractions. `,
      `Clock: ${offsetText(s.node.clock_offset_ms === null ? null : -s.node.clock_offset_ms).replace("ours", "the members'")}.`));
    $("peers").replaceChildren(...s.peers.map((p) => el("tr", {},
      el("th", { scope: "row" }, p.code),
      el("td", { class: p.connected ? "yes" : "no" }, p.connected ? "connected" : "not connected"),
      el("td", {}, ago(p.last_sync_ms)),
      el("td", {}, p.lag_entries),
      el("td", { class: p.in_sync ? "yes" : null }, p.in_sync ? "yes" : "no"),
      el("td", {}, p.entries_received),
      el("td", {}, Object.values(p.rejected).reduce((a, b) => a + b, 0)),
      el("td", { class: (p.refused_ours || []).length ? "no" : null },
        (p.refused_ours || []).map((r) => `${r.reason} × ${r.count}`).join(", ") || "none"),
      el("td", {}, offsetText(p.clock_offset_ms)))));
    if (!s.peers.length) $("peers").replaceChildren(el("tr", {}, el("td", { colspan: 9 }, "No members admitted yet.")));
    $("forks").replaceChildren(...(forks.length ? [el("div", { class: "fork-warning" },
      el("h3", {}, `Warning: ${forks.length} fork proof(s)`),
      el("p", {}, "These member keys signed two different entries with the same sequence number. Their key or store may be compromised or was restored from an old backup: contact the administration before relying on their records."),
      el("ul", {}, forks.map((f) => el("li", {}, `${f.author_code || f.author.slice(0, 12)} at seq ${f.seq}: `,
        f.entries.map((e) => e.id.slice(0, 16)).join(" vs ")))))] : []));
  } catch (error) {
    notice(error.message, true);
  }
}

// ---- members -----------------------------------------------------------------------

const isAdmin = () => state.status.node.your_role === "admin";

function proposalText(p) {
  if (p.action === "propose_admission") return `Admit ${p.subject} (${p.governance.card.name})`;
  if (p.action === "propose_removal") return `Remove ${p.subject}: ${p.reason}`;
  if (p.action === "propose_admin_key") return `Replace ${p.subject}'s administration key: ${p.reason}`;
  return `${p.action} ${p.subject}`;
}

async function approve(id, button) {
  button.disabled = true;
  $("approve-error").textContent = "";
  try {
    await api(`/api/v1/proposals/${id}/approvals`, { method: "POST", body: {} });
    notice("Approval signed and sent to the members.");
    await loadMembers();
  } catch (error) {
    button.disabled = false;
    $("approve-error").textContent = `Cannot approve: ${error.message}`;
  }
}

async function loadMembers() {
  try {
    const [m, p] = await Promise.all([api("/api/v1/members"), api("/api/v1/proposals")]);
    $("members-info").textContent = m.governed
      ? `Network ${m.network}: ${m.member_count} members; a proposal is decided by ${p.needed} approvals (${m.quorum === "majority" ? "more than half" : "two thirds"} of the members).`
      : `Network ${m.network} has no charter: its members are static lists, changed by each administration and a restart.`;
    const pending = p.proposals.filter((x) => x.status === "pending");
    const badge = $("proposal-badge");
    const waiting = pending.filter((x) => !x.approved_by_us).length;
    badge.textContent = waiting;
    badge.hidden = waiting === 0;
    badge.setAttribute("aria-label", `${waiting} proposals wait for this member's approval`);
    $("proposals").replaceChildren(...pending.map((x) => el("tr", {},
      el("th", { scope: "row" }, proposalText(x)),
      el("td", {}, x.proposer),
      el("td", {}, x.proposed_at.replace("T", " ").slice(0, 16)),
      el("td", {}, x.approvals.join(", ")),
      el("td", {}, `${x.approvals.length} of ${x.needed}`),
      el("td", {}, x.approved_by_us ? "approved by this member"
        : isAdmin() ? el("button", { type: "button", "data-proposal": x.id, onclick: (event) => approve(x.id, event.currentTarget) }, `Approve: ${proposalText(x)}`)
        : "an admin token approves"))));
    if (!pending.length) $("proposals").replaceChildren(el("tr", {}, el("td", { colspan: 6 }, "No proposal is pending.")));
    $("members").replaceChildren(...m.members.map((x) => el("tr", { "data-member": x.code },
      el("th", { scope: "row" }, `${x.code} ${x.name}`),
      el("td", { class: x.status === "member" ? "yes" : "no" },
        x.status === "member" ? "member" : `removed ${(x.removed_at || "").slice(0, 10)}: ${x.removal_reason || ""}`),
      el("td", {}, x.since.slice(0, 10)),
      el("td", {}, el("ul", { class: "keys" }, x.nodes.map((n) => el("li", {},
        el("code", {}, n.node_key.slice(0, 16)),
        n.this_node ? " (this node)" : "",
        n.open ? "" : n.last_seq !== null ? ` signs up to seq ${n.last_seq}: ${n.closed_reason}` : ` closed: ${n.closed_reason}`)))))));
    const decided = p.proposals.filter((x) => x.status !== "pending");
    $("decided").replaceChildren(...decided.map((x) => el("li", {},
      `${proposalText(x)}: ${x.status}${x.decided_at ? " " + x.decided_at.slice(0, 16).replace("T", " ") : ""}`,
      x.void_reason ? ` (${x.void_reason})` : "",
      `, approved by ${x.approvals.join(", ")}`)));
    if (!decided.length) $("decided").replaceChildren(el("li", {}, "None yet."));
  } catch (error) {
    notice(error.message, true);
  }
}

// ---- need to know: the publish form's markings and distribution --------------------

// ---- attachments ------------------------------------------------------------------

// Files uploaded for the alert being written: [{name, hash, size, media_type, caption input}].
const uploads = [];
let uploadCount = 0;

async function uploadFile(file) {
  const response = await fetch("/api/v1/attachments", {
    method: "POST",
    headers: { Authorization: `Bearer ${state.token}`, "Content-Type": file.type || "application/octet-stream" },
    body: file,
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function showUploads() {
  $("a-uploads").replaceChildren(...uploads.map((u, i) => el("li", {},
    el("span", {}, `${u.name}: ${Math.ceil(u.size / 1024)} KiB`,
      u.metadata_removed_bytes ? `, ${u.metadata_removed_bytes} bytes of metadata removed` : ""),
    el("span", { class: "caption" }, el("label", { for: u.caption.id, class: "visually-hidden" }, `Caption of ${u.name}`), u.caption),
    el("button", { type: "button", class: "link", onclick: () => { uploads.splice(i, 1); showUploads(); } }, `Remove ${u.name}`))));
}

$("a-files").addEventListener("change", async (event) => {
  const input = event.target;
  setFieldError(input, "");
  for (const file of [...input.files]) {
    try {
      const uploaded = await uploadFile(file);
      uploadCount += 1;
      const caption = el("input", { id: `a-caption-${uploadCount}`, maxlength: "200", placeholder: "Caption: what it shows" });
      uploads.push({ ...uploaded, name: file.name, caption });
    } catch (error) {
      setFieldError(input, `${file.name}: ${error.message}`);
    }
  }
  input.value = "";
  showUploads();
});

// Thumbnails of a record's attachments: fetched with the token (an <img> cannot
// send it), shown from memory; a click opens the full file.
async function attachmentList(attachments) {
  const items = await Promise.all(attachments.map(async (a) => {
    const label = a.caption || a.media_type;
    try {
      const response = await fetch(a.url, { headers: { Authorization: `Bearer ${state.token}` } });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        return el("li", {}, el("figure", {}, el("figcaption", {}, `${label}: ${body ? body.message : response.status}`)));
      }
      const url = URL.createObjectURL(await response.blob());
      const open = el("button", { type: "button", class: "thumb", onclick: () => window.open(url, "_blank", "noopener") },
        a.media_type.startsWith("image/") ? el("img", { src: url, alt: label }) : el("span", { class: "code" }, "PDF"),
        el("span", { class: "visually-hidden" }, `Open ${label}`));
      return el("li", {}, el("figure", {}, open, el("figcaption", {}, label)));
    } catch (_) {
      return el("li", {}, el("figure", {}, el("figcaption", {}, `${label}: no answer from the node`)));
    }
  }));
  return el("ul", { class: "attachments", "aria-label": "Attachments" }, items);
}

function withNeedToKnow(body) {
  body.markings.accuracy = Number(body.markings.accuracy);
  body.markings.handling = [...document.querySelectorAll("#a-need-to-know [data-handling]:checked")]
    .map((box) => box.dataset.handling);
  const kind = $("a-dist").value;
  if (kind === "to") body.distribution = { to: [...$("a-dist-to").selectedOptions].map((o) => o.value) };
  if (kind === "group") body.distribution = { group: { id: $("a-dist-group").value } };
  return body;
}

function showDistributionPicker() {
  $("a-dist-to-field").hidden = $("a-dist").value !== "to";
  $("a-dist-group-field").hidden = $("a-dist").value !== "group";
}
$("a-dist").addEventListener("change", showDistributionPicker);
$("alert-form").addEventListener("reset", () => setTimeout(showDistributionPicker, 0));

// The other members (to address a record or a group to) and this node's groups.
async function loadRecipients() {
  try {
    const [members, groups] = await Promise.all([api("/api/v1/members"), api("/api/v1/groups")]);
    const others = members.members.filter((m) => m.status === "member" && m.code !== state.status.node.code);
    const options = () => others.map((m) => el("option", { value: m.code }, `${m.code} ${m.name}`));
    $("a-dist-to").replaceChildren(...options());
    $("g-members").replaceChildren(...options());
    $("a-dist-group").replaceChildren(...groups.groups.filter((g) => g.active)
      .map((g) => el("option", { value: g.id }, g.name)));
    return { others, groups: groups.groups, claims: groups.claims || [] };
  } catch (error) {
    notice(error.message, true);
    return { others: [], groups: [], claims: [] };
  }
}

// ---- closed user groups --------------------------------------------------------------

async function changeGroup(path, method, body) {
  $("groups-error").textContent = "";
  try {
    await api(path, { method, body });
    notice("The group has a new key, sent sealed to its members.");
    await loadGroups();
  } catch (error) {
    $("groups-error").textContent = `The node refused: ${error.message}`;
  }
}

async function loadGroups() {
  const { others, groups, claims } = await loadRecipients();
  $("group-claims").hidden = !claims.length;
  $("group-claims-list").replaceChildren(...claims.map((c) => el("li", { "data-claim": c.entry },
    el("span", { translate: "no" }, c.reason))));
  $("groups").replaceChildren(...groups.map((g) => {
    const candidates = others.filter((m) => !g.members.includes(m.code));
    const addId = `add-${g.id}`;
    const actions = g.owned_by_us && g.active && canPublish() ? [
      g.members.filter((code) => code !== g.owner).map((code) => el("button", {
        type: "button", class: "secondary", "data-remove": code,
        onclick: () => changeGroup(`/api/v1/groups/${g.id}/members/${code}`, "DELETE"),
      }, `Remove ${code}`)),
      candidates.length ? el("span", {},
        el("label", { for: addId, class: "visually-hidden" }, `Member to add to ${g.name}`),
        el("select", { id: addId }, candidates.map((m) => el("option", { value: m.code }, m.code))),
        el("button", { type: "button", onclick: () => changeGroup(`/api/v1/groups/${g.id}/members`, "POST", { code: $(addId).value }) }, "Add")) : null,
    ] : g.owned_by_us ? "" : `changed by ${g.owner}`;
    return el("tr", { "data-group": g.id },
      el("th", { scope: "row" }, g.name),
      el("td", {}, g.purpose),
      el("td", {}, g.owner),
      el("td", {}, g.members.join(", ")),
      el("td", {}, g.contested ? `${g.ends_on} (contested: nothing may be addressed to it)`
        : `${g.ends_on}${g.active ? "" : " (ended)"}`),
      el("td", {}, actions));
  }));
  if (!groups.length) $("groups").replaceChildren(el("tr", {}, el("td", { colspan: 6 }, "This node is in no group.")));
}

$("group-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("group-form-error");
  error.textContent = "";
  const body = {
    name: $("g-name").value.trim(),
    purpose: $("g-purpose").value.trim(),
    members: [...$("g-members").selectedOptions].map((o) => o.value),
    ends_on: $("g-ends").value,
  };
  if (!body.name || !body.purpose || !body.ends_on) {
    error.textContent = "Name, purpose and end date are required.";
    return;
  }
  try {
    const created = await api("/api/v1/groups", { method: "POST", body });
    $("group-form").reset();
    notice(`Created group ${created.group.name}; its key went sealed to ${created.group.members.join(", ")}.`);
    await loadGroups();
  } catch (failure) {
    error.textContent = `The node refused the group: ${failure.message}`;
  }
});

// ---- requests for control ------------------------------------------------------------

const STATE_ORDER = { overdue: 0, open: 1, acknowledged: 2, answered: 3 };

function consignmentText(c) {
  return [...(c.containers || []), c.bill_of_lading && `B/L ${c.bill_of_lading}`, c.mrn && `MRN ${c.mrn}`,
    c.vessel_imo && `IMO ${c.vessel_imo}`, c.voyage && `voyage ${c.voyage}`, c.vehicle, c.air_waybill && `AWB ${c.air_waybill}`,
    c.flight && `flight ${c.flight}`].filter(Boolean).join(", ");
}

function stateTag(value) {
  return el("span", { class: `tag state-${value}` }, words(value));
}

async function acknowledge(id, button) {
  button.disabled = true;
  $("inbox-error").textContent = "";
  try {
    await api(`/api/v1/requests/${id}/acknowledgement`, { method: "POST", body: {}, idempotencyKey: newIdempotencyKey() });
    notice("Acknowledged: the requester sees it.");
    await loadRequests();
  } catch (error) {
    $("inbox-error").textContent = `The node refused: ${error.message}`;
    button.disabled = false;
  }
}

function answerWith(id) {
  $("x-subject").value = id;
  $("x-outcome").focus();
}

async function loadRequests() {
  try {
    const [inbound, outbound, figures, members] = await Promise.all([
      api("/api/v1/requests?direction=inbound&limit=200"), api("/api/v1/requests?direction=outbound&limit=200"),
      api("/api/v1/effectiveness"), api("/api/v1/members")]);
    const open = inbound.items.filter((r) => r.state !== "answered").length;
    $("inbox-badge").hidden = !open;
    $("inbox-badge").textContent = open;
    // Overdue first, then open, acknowledged, answered; soonest arrival first.
    const sorted = [...inbound.items].sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state]
      || a.request.arrival.eta.localeCompare(b.request.arrival.eta));
    $("inbox").replaceChildren(...sorted.map((r) => el("tr", { "data-request": r.id },
      el("th", { scope: "row" }, r.request.reference),
      el("td", {}, r.author_code || "?"),
      el("td", {}, stateTag(r.state)),
      el("td", {}, `${r.request.arrival.unlocode} ${formatDateTime(r.request.arrival.eta)}`),
      el("td", {}, consignmentText(r.request.consignment)),
      el("td", {}, `${words(r.request.requested_action)}: ${r.request.reason}`),
      el("td", {}, canPublish() && r.state !== "answered" ? [
        r.acknowledgements.some((a) => a.author_code === state.status.node.code) ? null
          : el("button", { type: "button", class: "secondary", onclick: (e) => acknowledge(r.id, e.target) }, "Acknowledge"),
        el("button", { type: "button", onclick: () => answerWith(r.id) }, "Report result")] : ""))));
    if (!sorted.length) $("inbox").replaceChildren(el("tr", {}, el("td", { colspan: 7 }, "No request is addressed to us.")));
    $("sent").replaceChildren(...outbound.items.map((r) => el("tr", { "data-request": r.id },
      el("th", { scope: "row" }, r.request.reference),
      el("td", {}, r.request.addressed_to.join(", ")),
      el("td", {}, stateTag(r.state)),
      el("td", {}, `${r.request.arrival.unlocode} ${formatDateTime(r.request.arrival.eta)}`),
      el("td", {}, r.results.length ? r.results.map((x) => `${x.author_code}: ${words(x.body.outcome)}${x.body.found ? ` (${words(x.body.found.category)})` : ""}`).join("; ") : "none yet"))));
    if (!outbound.items.length) $("sent").replaceChildren(el("tr", {}, el("td", { colspan: 5 }, "We have sent no request.")));
    const share = (n, of) => (of ? `${n} of ${of} (${Math.round((100 * n) / of)} %)` : "—");
    $("figures").replaceChildren(...figures.rows.map((row) => el("tr", {},
      el("th", { scope: "row" }, row.member), el("td", {}, row.category ? words(row.category) : "not given"),
      el("td", {}, row.requests), el("td", {}, share(row.answered, row.requests)), el("td", {}, share(row.hits, row.answered)))));
    if (!figures.rows.length) $("figures").replaceChildren(el("tr", {}, el("td", { colspan: 5 }, "No request yet.")));
    const others = members.members.filter((m) => m.status === "member" && m.code !== state.status.node.code);
    const chosen = new Set([...$("q-to").selectedOptions].map((o) => o.value));
    $("q-to").replaceChildren(...others.map((m) => el("option", { value: m.code, selected: chosen.has(m.code) }, `${m.code} ${m.name}`)));
  } catch (error) {
    notice(error.message, true);
  }
}

$("request-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = $("request-form");
  const to = [...$("q-to").selectedOptions].map((o) => o.value);
  if (!to.length) {
    $("request-form-error").textContent = "Choose at least one member to address.";
    $("q-to").focus();
    return;
  }
  submitForm(form, $("request-form-error"), "/api/v1/requests", (body) => {
    body.addressed_to = to;
    // datetime-local gives YYYY-MM-DDTHH:MM; the field is labelled UTC.
    body.arrival.eta = `${body.arrival.eta.slice(0, 16)}:00Z`;
    body.consignment = Object.fromEntries(Object.entries(body.consignment)
      .filter(([, v]) => v !== null && !(Array.isArray(v) && !v.length)));
    if (!body.category) delete body.category;
    return body;
  }, (published) => {
    form.reset();
    notice(`Sent request ${published.id}; only ${to.join(", ")} can read it.`);
    loadRequests();
  });
});

$("result-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = $("result-form");
  submitForm(form, $("result-form-error"), "/api/v1/results", (body) => {
    if (!body.location.unlocode) body.location = null;
    else if (!body.location.place_type) body.location.place_type = "other";
    if (!body.found.category) body.found = null;
    else if (!body.found.quantity.amount) body.found.quantity = null;
    return body;
  }, (published) => {
    form.reset();
    notice(`Result ${published.id} sent; the requester sees it on its request.`);
    loadRequests();
  });
});

// ---- watch lists and webhooks ----------------------------------------------------------

async function showMatches(list) {
  try {
    const matches = await api(`/api/v1/watchlists/${list.id}/matches?limit=200`);
    $("matches").replaceChildren(el("table", { class: "table" },
      el("caption", {}, `Matches of ${list.name}`),
      el("thead", {}, el("tr", {}, ["Record", "Member", "Rules", "Found"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, matches.items.map((m) => el("tr", {},
        el("td", {}, `${words(m.record.type)} ${m.record.body.reference || m.record.body.operator_id || ""}`),
        el("td", {}, m.record.author_code || "?"),
        el("td", {}, m.rules.map((r) => `${words(r.field)} ${r.value}`).join(", ")),
        el("td", {}, m.retro ? "by the hunt through stored records" : new Date(m.matched_at_ms).toISOString()))))));
  } catch (error) {
    notice(error.message, true);
  }
}

async function showDeliveries(hook) {
  try {
    const log = await api(`/api/v1/webhooks/${hook.id}/deliveries?limit=200`);
    $("deliveries").replaceChildren(el("table", { class: "table" },
      el("caption", {}, `Deliveries to ${hook.url}, newest first`),
      el("thead", {}, el("tr", {}, ["Event", "Record", "Status", "Attempts", "Last error"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, log.items.map((d) => el("tr", {},
        el("td", {}, d.event), el("td", {}, d.entry.slice(0, 12)), el("td", { class: d.status === "delivered" ? "yes" : "no" }, d.status),
        el("td", {}, d.attempts), el("td", {}, d.last_error || "—"))))));
  } catch (error) {
    notice(error.message, true);
  }
}

async function removeNotify(path, done) {
  try {
    await api(path, { method: "DELETE" });
    notice(done);
    await loadWatch();
  } catch (error) {
    notice(error.message, true);
  }
}

async function loadWatch() {
  try {
    const lists = await api("/api/v1/watchlists");
    $("watchlists").replaceChildren(...lists.items.map((list) => el("tr", {},
      el("th", { scope: "row" }, list.name),
      el("td", {}, list.rules.map((r) => `${words(r.field)} ${r.value}`).join(", ")),
      el("td", {}, el("button", { type: "button", class: "link", onclick: () => showMatches(list) }, `${list.matches} match(es)`)),
      el("td", {}, canPublish() ? el("button", { type: "button", class: "secondary", "data-delete-watchlist": list.id,
        onclick: () => removeNotify(`/api/v1/watchlists/${list.id}`, `Removed ${list.name} and its matches.`) }, `Remove ${list.name}`) : ""))));
    if (!lists.items.length) $("watchlists").replaceChildren(el("tr", {}, el("td", { colspan: 4 }, "No watch list yet.")));
    if (state.status.node.your_role === "admin") {
      const hooks = await api("/api/v1/webhooks");
      $("webhooks").replaceChildren(...hooks.items.map((hook) => el("tr", {},
        el("th", { scope: "row" }, hook.url), el("td", {}, hook.events.join(", ")),
        el("td", {}, hook.markings === "deliver_all" ? "every record" : "withholds restricted records"),
        el("td", {}, el("button", { type: "button", class: "link", onclick: () => showDeliveries(hook) }, "delivery log")),
        el("td", {}, el("button", { type: "button", class: "secondary", "data-delete-webhook": hook.id,
          onclick: () => removeNotify(`/api/v1/webhooks/${hook.id}`, "Webhook removed, with its queued deliveries.") }, "Remove")))));
      if (!hooks.items.length) $("webhooks").replaceChildren(el("tr", {}, el("td", { colspan: 5 }, "No webhook yet.")));
    }
  } catch (error) {
    notice(error.message, true);
  }
}

$("watch-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("watch-form-error");
  error.textContent = "";
  const field = $("w-field").value;
  const rules = listValues($("w-values")).map((value) => ({ field, value }));
  if (!$("w-name").value.trim() || !rules.length) {
    error.textContent = "A name and at least one value are required.";
    return;
  }
  try {
    const saved = await api("/api/v1/watchlists", { method: "POST", body: { name: $("w-name").value.trim(), rules } });
    $("watch-form").reset();
    notice(`Saved ${saved.name}; the hunt through stored records found ${saved.retro_matches} match(es).`);
    await loadWatch();
  } catch (failure) {
    error.textContent = `The node refused the list: ${failure.message}`;
  }
});

$("webhook-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("webhook-form-error");
  error.textContent = "";
  const body = {
    url: $("h-url").value.trim(),
    secret: $("h-secret").value,
    events: [...document.querySelectorAll("#webhook-form [data-event]:checked")].map((b) => b.dataset.event),
    markings: $("h-markings").value,
  };
  try {
    await api("/api/v1/webhooks", { method: "POST", body });
    $("webhook-form").reset();
    notice("Webhook registered; deliveries are signed with its secret.");
    await loadWatch();
  } catch (failure) {
    error.textContent = `The node refused the webhook: ${failure.message}`;
  }
});

// Saves what the API answers at `path` as a file (the token cannot ride on a link).
async function download(path, fileName) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new Error(body ? body.message : `HTTP ${response.status}`);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: fileName });
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}

$("aeo-snapshot-csv").addEventListener("click", async (event) => {
  event.preventDefault();
  const code = state.status.node.code;
  try {
    await download(`/api/v1/aeo?issuer=${encodeURIComponent(code)}&format=csv`, `aeo-${code}.csv`);
  } catch (error) {
    notice(`The snapshot could not be fetched: ${error.message}`, true);
  }
});

// ---- dashboard ----------------------------------------------------------------------

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// One colour per category, distinguishable and dark enough on white.
const CATEGORY_COLOURS = {
  drugs: "#b3261e", tobacco: "#8d5a00", alcohol: "#6b4e9b", weapons: "#1f2937", explosives: "#c2410c",
  precursors: "#0f766e", wildlife: "#3f7d20", cultural_goods: "#7c3aed", counterfeits: "#1d4ed8",
  currency: "#047857", waste: "#57534e", revenue_fraud: "#a16207", other: "#64748b",
};

let world = null;

async function loadWorld() {
  if (!world) {
    const response = await fetch("/console/world.json");
    if (!response.ok) throw new Error(`the map data: HTTP ${response.status}`);
    world = await response.json();
    world.byCode = new Map(world.countries.filter((c) => c.code).map((c) => [c.code, c]));
  }
  return world;
}

async function loadDashboard() {
  $("stats-error").textContent = "";
  if ($("s-category").options.length === 1) {
    $("s-category").append(...enumValues("Category").map((v) => el("option", { value: v }, words(v))));
    try {
      const members = await api("/api/v1/members");
      $("s-member").append(...members.members.map((m) => el("option", { value: m.code }, `${m.code} ${m.name}`)));
    } catch (_) { /* the filter stays at "any" */ }
  }
  const query = new URLSearchParams();
  for (const [key, value] of new FormData($("stats-filters")).entries()) if (value) query.set(key, value);
  try {
    const [stats, map] = await Promise.all([api(`/api/v1/stats?${query}`), loadWorld()]);
    drawWeeks(stats);
    drawRankings(stats);
    drawLoopFigures(stats);
    drawMap(stats, map);
  } catch (error) {
    $("stats-error").textContent = error.message;
  }
}

$("stats-filters").addEventListener("submit", (event) => { event.preventDefault(); loadDashboard(); });

function drawWeeks(stats) {
  const weeks = stats.alerts_per_week;
  const max = Math.max(1, ...weeks.map((w) => w.total));
  const width = 10, gap = 2, height = 120;
  const chart = svg("svg", { viewBox: `0 0 ${weeks.length * (width + gap)} ${height + 14}`, class: "weeks",
    role: "img", "aria-labelledby": "weeks-title weeks-summary" },
    svg("desc", { id: "weeks-summary" }, `${stats.alerts} alerts from ${stats.from} to ${stats.to}, at most ${max} in one week.`));
  weeks.forEach((week, i) => {
    let y = height;
    const bars = Object.entries(week.counts).map(([category, count]) => {
      const h = (count / max) * height;
      y -= h;
      return svg("rect", { x: i * (width + gap), y, width, height: h, fill: CATEGORY_COLOURS[category] || "#64748b" });
    });
    const label = `week of ${week.week_start}: ${week.total} alert(s)` +
      (week.total ? ` (${Object.entries(week.counts).map(([c, n]) => `${words(c)} ${n}`).join(", ")})` : "");
    chart.append(svg("g", { class: "week" }, svg("title", {}, label), bars));
  });
  chart.append(svg("line", { x1: 0, y1: height + .5, x2: weeks.length * (width + gap), y2: height + .5, class: "axis" }));
  if (weeks.length) {
    chart.append(svg("text", { x: 0, y: height + 12, class: "tick" }, formatDate(weeks[0].week_start)));
    chart.append(svg("text", { x: weeks.length * (width + gap), y: height + 12, class: "tick end" }, formatDate(weeks[weeks.length - 1].week_start)));
  }
  $("chart-weeks").replaceChildren(chart);
  $("chart-legend").replaceChildren(...Object.entries(stats.categories).map(([category, count]) =>
    el("li", {}, el("span", { class: `swatch swatch-${category}`, "aria-hidden": "true" }), words(category), `: ${formatNumber(count)}`)));
}

function routeText(route) {
  return [route.origin || "?", ...route.transit, route.destination || "?"].join(" → ");
}

function drawRankings(stats) {
  const bar = (value, max) => el("span", { class: "bar", "data-share": Math.round((value / Math.max(1, max)) * 10) });
  const maxRoute = Math.max(0, ...stats.routes.map((r) => r.alerts));
  $("top-routes").replaceChildren(...(stats.routes.length ? stats.routes.slice(0, 10).map((route) => el("li", {},
    el("button", { type: "button", class: "link", "data-route": `${route.origin || ""}-${route.destination || ""}`,
      onclick: () => openAlerts({ origin: route.origin, destination: route.destination }) }, routeText(route)),
    ` ${route.alerts}`, bar(route.alerts, maxRoute))) : [el("li", { class: "empty" }, "No route given in these alerts.")]));
  const maxPlace = Math.max(0, ...stats.places.map((p) => p.alerts));
  $("top-places").replaceChildren(...(stats.places.length ? stats.places.slice(0, 10).map((place) => el("li", {},
    el("button", { type: "button", class: "link", onclick: () => openAlerts({ place: place.unlocode }) }, place.unlocode),
    ` ${place.alerts}`, bar(place.alerts, maxPlace))) : [el("li", { class: "empty" }, "No alerts.")]));
}

function drawLoopFigures(stats) {
  const figure = (term, value) => [el("dt", {}, term), el("dd", {}, typeof value === "number" ? formatNumber(value) : value)];
  const r = stats.requests;
  $("stats-requests").replaceChildren(...figure("Sent", r.total), ...figure("Open", r.open),
    ...figure("Acknowledged", r.acknowledged), ...figure("Answered", r.answered), ...figure("Overdue", r.overdue));
  const results = stats.results;
  const rate = results.hit_rate === null ? "none answered" : `${Math.round(results.hit_rate * 100)} %`;
  $("stats-results").replaceChildren(...figure("Answered (per addressee)", results.answered),
    ...figure("Hits (seizures)", results.hits), ...figure("Hit rate", rate),
    ...Object.entries(results.outcomes).flatMap(([outcome, n]) => figure(words(outcome), n)));
}

function drawMap(stats, map) {
  const at = (code) => (map.byCode.get(code) || {}).c;
  const view = map.viewBox.join(" ");
  const chart = svg("svg", { viewBox: view, class: "world", role: "group", "aria-labelledby": "map-title" },
    svg("g", { class: "land" }, map.countries.map((c) => svg("path", { d: c.d }, svg("title", {}, c.name)))));
  const maxRoute = Math.max(1, ...stats.routes.map((r) => r.alerts));
  for (const route of stats.routes) {
    const points = [route.origin, ...route.transit, route.destination].filter(Boolean).map(at).filter(Boolean);
    if (points.length < 2) continue;
    const open = () => openAlerts({ origin: route.origin, destination: route.destination });
    chart.append(svg("polyline", {
      points: points.map((p) => p.join(",")).join(" "), class: "route", tabindex: 0, role: "button",
      "stroke-width": (0.6 + 2.4 * route.alerts / maxRoute).toFixed(2), "data-route": `${route.origin || ""}-${route.destination || ""}`,
      "aria-label": `${routeText(route)}: ${route.alerts} alert(s)`,
      onclick: open, onkeydown: (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(); } },
    }, svg("title", {}, `${routeText(route)}: ${route.alerts} alert(s)`)));
  }
  const maxPlace = Math.max(1, ...stats.places.map((p) => p.alerts));
  const perCountry = new Map();
  for (const place of stats.places) {
    const centre = at(place.country);
    if (!centre) continue;
    // Places of one country side by side around its centre.
    const n = perCountry.get(place.country) || 0;
    perCountry.set(place.country, n + 1);
    const open = () => openAlerts({ place: place.unlocode });
    chart.append(svg("circle", {
      cx: centre[0] + 1.6 * n, cy: centre[1] - 1.2 * n, r: (0.8 + 2.2 * Math.sqrt(place.alerts / maxPlace)).toFixed(2),
      class: "place", tabindex: 0, role: "button", "data-place": place.unlocode,
      "aria-label": `${place.unlocode}: ${place.alerts} alert(s)`,
      onclick: open, onkeydown: (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(); } },
    }, svg("title", {}, `${place.unlocode}: ${place.alerts} alert(s)`)));
  }
  $("route-map").replaceChildren(chart);
}

// ---- exchange ----------------------------------------------------------------------

async function loadExchange() {
  $("taxii-url").textContent = `${location.origin}/taxii2/`;
  $("misp-url").textContent = `${location.origin}/misp-feed/`;
  if (!$("cen-year").value) $("cen-year").value = String(new Date().getFullYear());
  if (canPublish()) await loadDrafts();
}

async function loadDrafts() {
  const list = await api("/api/v1/drafts");
  const badge = $("draft-badge");
  badge.hidden = !list.items.length;
  badge.textContent = String(list.items.length);
  $("drafts").replaceChildren(...(list.items.length ? list.items.map((draft) => el("tr", { "data-draft": draft.id },
    el("td", {}, draft.source.name || draft.source.object_id),
    el("td", {}, el("span", { class: "code" }, draft.source.bundle_id || "?"), " ", formatDateTime(draft.created_at), " · ", draft.imported_by),
    el("td", {}, draft.missing.length ? draft.missing.map(words).join(", ") : "nothing"),
    el("td", {},
      el("button", { type: "button", onclick: () => reviewDraft(draft) }, "Review and publish"), " ",
      el("button", { type: "button", class: "secondary", onclick: () => deleteDraft(draft.id) }, "Delete")),
  )) : [el("tr", {}, el("td", { colspan: 4 }, "No drafts."))]));
}

async function deleteDraft(id) {
  try {
    await api(`/api/v1/drafts/${id}`, { method: "DELETE" });
    notice(`Deleted draft ${id}.`);
  } catch (error) {
    notice(`The draft could not be deleted: ${error.message}`, true);
  }
  await loadDrafts();
}

// Opens the alert form with what a draft gives; publishing it deletes the draft.
function reviewDraft(draft) {
  const form = $("alert-form");
  form.reset();
  for (const input of form.querySelectorAll("[data-path]")) {
    const value = input.dataset.path.split(".").reduce((node, part) => (node == null ? node : node[part]), draft.alert);
    if (value == null) continue;
    input.value = Array.isArray(value) ? value.join(input.dataset.path === "indicators" ? "\n" : " ") : String(value);
  }
  form.dataset.draft = draft.id;
  state.flash = draft.missing.length ? `Draft ${draft.id}: complete ${draft.missing.map(words).join(", ")}, then publish.` : `Draft ${draft.id}: review, then publish.`;
  location.hash = "#publish";
}

$("export-stix").addEventListener("click", async () => {
  $("export-error").textContent = "";
  try {
    await download("/api/v1/export/stix", `${state.status.node.code}-stix.json`);
  } catch (error) {
    $("export-error").textContent = `The bundle could not be exported: ${error.message}`;
  }
});

$("cen-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("export-error").textContent = "";
  const year = $("cen-year").value.trim();
  const area = $("cen-area").value;
  try {
    await download(`/api/v1/export/cen?year=${encodeURIComponent(year)}&area=${area}`, `cen-${state.status.node.code}-${area}-${year}.csv`);
  } catch (error) {
    $("export-error").textContent = `The reporting file could not be exported: ${error.message}`;
  }
});

$("import-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("import-error");
  error.textContent = "";
  const file = $("import-file").files[0];
  if (!file) {
    error.textContent = "Choose a STIX bundle file first.";
    return;
  }
  let bundle;
  try {
    bundle = JSON.parse(await file.text());
  } catch (_) {
    error.textContent = `${file.name} is not JSON.`;
    return;
  }
  try {
    const imported = await api("/api/v1/import/stix", { method: "POST", body: bundle });
    $("import-form").reset();
    const skipped = imported.skipped.map((s) => `${s.object_id}: ${s.reason}`).join("; ");
    notice(`Imported ${imported.drafts.length} draft(s)${skipped ? `; skipped ${skipped}` : ""}.`);
    await loadDrafts();
  } catch (failure) {
    error.textContent = `The node refused the bundle: ${failure.message}`;
  }
});

// ---- start -------------------------------------------------------------------------

(async function start() {
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    try {
      await signIn(saved);
      return;
    } catch (_) {
      sessionStorage.removeItem(TOKEN_KEY);
    }
  }
  signOut();
})();
