// The clausetag page: paste or upload a policy, see each unit with its labels, filter by label,
// read the Art. 13 summary. Plain DOM code, no libraries, no network but this server. Policy text
// only ever reaches the page as text nodes (textContent), never as markup.
"use strict";

const UI = {
  en: {
    title: "clausetag",
    paste: "Paste a privacy policy",
    upload: "or upload a file",
    format: "Format",
    fmt_txt: "plain text",
    language: "Policy language",
    auto: "detect",
    tag: "Tag the policy",
    summary: "GDPR Art. 13 coverage",
    note: "Automated screening, not legal advice: check the evidence before relying on it.",
    working: "Tagging…",
    empty: "Paste a policy or choose a file first.",
    done: "{units} units, {labelled} with a label · {ms} ms",
    all: "all labels",
    counts: "{present} of {total} items present, {missing} missing, {not_covered} not covered by this model's labels",
    present: "present",
    missing: "missing",
    not_covered: "not covered",
    show: "show",
    unit: "unit",
    failed: "Request failed: {error}",
  },
  lv: {
    title: "clausetag",
    paste: "Ielīmējiet privātuma politiku",
    upload: "vai augšupielādējiet failu",
    format: "Formāts",
    fmt_txt: "vienkāršs teksts",
    language: "Politikas valoda",
    auto: "noteikt",
    tag: "Marķēt politiku",
    summary: "VDAR 13. panta pārklājums",
    note: "Automātiska pārbaude, nevis juridiska konsultācija: pirms paļaušanās pārbaudiet pierādījumus.",
    working: "Marķē…",
    empty: "Vispirms ielīmējiet politiku vai izvēlieties failu.",
    done: "{units} vienības, {labelled} ar birku · {ms} ms",
    all: "visas birkas",
    counts: "{present} no {total} vienībām ir, {missing} nav atrastas, {not_covered} šī modeļa birkas neaptver",
    present: "ir",
    missing: "nav atrasts",
    not_covered: "neaptver",
    show: "rādīt",
    unit: "vienība",
    failed: "Pieprasījums neizdevās: {error}",
  },
};

// Display names of the spec's labels, [English, Latvian]; a model with another scheme shows its own
// label names.
const LABELS = {
  controller: ["Controller", "Pārzinis"],
  data_categories: ["Data categories", "Datu kategorijas"],
  purpose: ["Purpose", "Nolūks"],
  legal_basis: ["Legal basis", "Juridiskais pamats"],
  recipients: ["Recipients", "Saņēmēji"],
  transfer: ["Transfers", "Nosūtīšana"],
  retention: ["Retention", "Glabāšana"],
  security: ["Security", "Drošība"],
  rights: ["Rights", "Tiesības"],
  user_choice: ["Choice & consent", "Izvēle un piekrišana"],
  complaint: ["Complaint", "Sūdzība"],
  cookies: ["Cookies", "Sīkdatnes"],
  automated_decisions: ["Automated decisions", "Automatizēti lēmumi"],
  children: ["Children", "Bērni"],
  policy_changes: ["Policy changes", "Politikas izmaiņas"],
  provision_requirement: ["Provision requirement", "Datu sniegšanas prasība"],
  other: ["Other", "Cits"],
};

const state = {
  ui: (navigator.language || "en").toLowerCase().startsWith("lv") ? "lv" : "en",
  info: null, // GET /v1/info
  result: null, // the last POST /v1/documents answer
  took: 0,
  filter: new Set(),
  docName: "policy",
};

const $ = (sel) => document.querySelector(sel);

function t(key, values) {
  let s = (UI[state.ui] && UI[state.ui][key]) || UI.en[key] || key;
  for (const [k, v] of Object.entries(values || {})) s = s.split(`{${k}}`).join(String(v));
  return s;
}

function labelName(label) {
  const names = Object.hasOwn(LABELS, label) ? LABELS[label] : null;
  return names ? names[state.ui === "lv" ? 1 : 0] : label;
}

function hue(label) {
  const labels = (state.info && state.info.labels) || [];
  const i = labels.indexOf(label);
  if (i >= 0) return Math.round((i * 360) / Math.max(labels.length, 1) + 200) % 360;
  let h = 0;
  for (const c of label) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

// An element with attributes and children (strings become text nodes: never parsed as HTML).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "hue") node.style.setProperty("--hue", String(v));
    else if (k.startsWith("data-") || k === "title" || k === "type" || k === "aria-pressed") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function setStatus(text, isError) {
  const status = $("#status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

function applyUi() {
  document.documentElement.lang = state.ui;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const button of document.querySelectorAll("[data-ui-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.uiLang === state.ui));
  }
  if (state.result) render();
}

async function loadInfo() {
  try {
    const response = await fetch("/v1/info", { headers: { Accept: "application/json" } });
    state.info = await response.json();
    $("#model").textContent = `${state.info.model} · ${state.info.backend} · v${state.info.version}`;
  } catch (err) {
    setStatus(t("failed", { error: String(err) }), true);
  }
}

function formatOf(name) {
  const suffix = (name.match(/\.[^.]+$/) || [""])[0].toLowerCase();
  if ([".md", ".markdown"].includes(suffix)) return "md";
  if ([".html", ".htm", ".xhtml"].includes(suffix)) return "html";
  return "txt";
}

async function readFile(file) {
  $("#policy").value = await file.text();
  $("#format").value = formatOf(file.name);
  state.docName = file.name.replace(/\.[^.]+$/, "") || "policy";
}

async function submit(event) {
  event.preventDefault();
  const text = $("#policy").value;
  if (!text.trim()) {
    setStatus(t("empty"), true);
    return;
  }
  const body = {
    text,
    format: $("#format").value,
    doc: state.docName.slice(0, 200) || "policy",
    return_text: true,
    report: true,
  };
  if ($("#lang").value) body.lang = $("#lang").value;
  $("#submit").disabled = true;
  document.body.dataset.state = "working";
  setStatus(t("working"));
  const started = performance.now();
  try {
    const response = await fetch("/v1/documents", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    state.result = answer;
    state.took = Math.round(performance.now() - started);
    state.filter = new Set();
    render();
    document.body.dataset.state = "done";
  } catch (err) {
    setStatus(t("failed", { error: err.message || String(err) }), true);
    document.body.dataset.state = "error";
  } finally {
    $("#submit").disabled = false;
  }
}

function renderUnits() {
  const { text, units } = state.result;
  const box = $("#units");
  box.replaceChildren();
  let at = 0;
  for (const u of units) {
    if (text && u.start > at) box.append(document.createTextNode(text.slice(at, u.start)));
    const classes = ["unit", u.kind];
    if (u.labels.length) classes.push("labelled");
    const tip = u.labels.map((l) => `${labelName(l)} ${u.scores[l].toFixed(2)}`).join(", ");
    const span = el(
      "span",
      { class: classes.join(" "), id: `unit-${u.index}`, "data-index": String(u.index), "data-labels": u.labels.join(" "), title: tip },
      el("span", { class: "unit-text" }, text ? text.slice(u.start, u.end) : u.text),
    );
    if (u.labels.length) span.style.setProperty("--hue", String(hue(u.labels[0])));
    for (const label of u.labels) {
      span.append(el("span", { class: "chip", "data-label": label, hue: hue(label) }, labelName(label)));
    }
    box.append(span);
    if (!text) box.append(document.createTextNode("\n"));
    at = u.end;
  }
  if (text && at < text.length) box.append(document.createTextNode(text.slice(at)));
}

function renderFilters() {
  const counts = new Map();
  for (const u of state.result.units) for (const l of u.labels) counts.set(l, (counts.get(l) || 0) + 1);
  const box = $("#filters");
  box.replaceChildren();
  const order = state.result.labels.filter((l) => counts.has(l));
  for (const label of order) {
    const pressed = state.filter.has(label);
    const button = el(
      "button",
      { type: "button", "data-label": label, hue: hue(label), "aria-pressed": String(pressed) },
      `${labelName(label)} ${counts.get(label)}`,
    );
    button.addEventListener("click", () => {
      if (state.filter.has(label)) state.filter.delete(label);
      else state.filter.add(label);
      applyFilter();
    });
    box.append(button);
  }
  const clear = el("button", { type: "button", class: "clear", "data-label": "" }, t("all"));
  clear.addEventListener("click", () => {
    state.filter = new Set();
    applyFilter();
  });
  box.append(clear);
}

function applyFilter() {
  for (const button of document.querySelectorAll("#filters button[data-label]")) {
    if (button.dataset.label) button.setAttribute("aria-pressed", String(state.filter.has(button.dataset.label)));
  }
  for (const span of document.querySelectorAll("#units .unit")) {
    const labels = span.dataset.labels ? span.dataset.labels.split(" ") : [];
    const shown = state.filter.size === 0 || labels.some((l) => state.filter.has(l));
    span.classList.toggle("dim", !shown);
  }
}

function showUnit(index) {
  const span = document.getElementById(`unit-${index}`);
  if (!span) return;
  span.scrollIntoView({ block: "center" });
  span.classList.add("flash");
  setTimeout(() => span.classList.remove("flash"), 1200);
}

function renderSummary() {
  const report = state.result.report;
  const titles = new Map(((state.info && state.info.art13) || []).map((i) => [i.key, i.title]));
  $("#summary-counts").textContent = t("counts", report.summary);
  const list = $("#items");
  list.replaceChildren();
  for (const item of report.items) {
    const title = (titles.get(item.key) || {})[state.ui] || item.title;
    const best = item.evidence.length ? item.evidence[0].score.toFixed(2) : "–";
    const li = el(
      "li",
      { class: item.status, "data-item": item.key, "data-status": item.status },
      el("span", { class: "status" }, t(item.status)),
      el("span", { class: "title" }, title),
      " ",
      el("span", { class: "article" }, `(${item.article}) ${best}`),
    );
    if (item.status !== "not_covered") {
      const show = el("button", { type: "button", class: "show" }, t("show"));
      show.addEventListener("click", () => {
        state.filter = new Set(item.labels);
        applyFilter();
        const hit = item.evidence.find((e) => e.above_threshold);
        if (hit) showUnit(hit.unit);
      });
      li.append(" ", show);
    }
    list.append(li);
  }
}

function render() {
  const { units } = state.result;
  renderUnits();
  renderFilters();
  applyFilter();
  renderSummary();
  const labelled = units.filter((u) => u.labels.length).length;
  setStatus(t("done", { units: units.length, labelled, ms: state.took }));
  $("#results").hidden = false;
}

function init() {
  for (const button of document.querySelectorAll("[data-ui-lang]")) {
    button.addEventListener("click", () => {
      state.ui = button.dataset.uiLang;
      applyUi();
    });
  }
  $("#form").addEventListener("submit", submit);
  $("#file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) await readFile(file);
  });
  const area = $("#policy");
  area.addEventListener("dragover", (event) => event.preventDefault());
  area.addEventListener("drop", async (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) await readFile(file);
  });
  applyUi();
  loadInfo().then(() => {
    if (document.body.dataset.state === "loading") document.body.dataset.state = "ready";
  });
}

document.addEventListener("DOMContentLoaded", init);
