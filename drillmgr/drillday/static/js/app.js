// The drill-day screen: choose the drill, Start and All clear, the roll call by group, notes and photos.
// Everything is kept on the phone (IndexedDB) first and sent once, with a one-time key, when online.
import { clock, format } from "./clock.js";
import { allRecords, deleteRecord, getContext, prepare, putRecord } from "./store.js";

const body = document.body;
const msg = body.dataset;
const $ = (id) => document.getElementById(id);
const show = (id, visible) => $(id).classList.toggle("d-none", !visible);
let context = null;
let record = null;
let ticker = null;
let syncing = false;

function status(text, kind = "info") {
  $("dd-status").className = `alert alert-${kind}`;
  $("dd-status").textContent = text;
  show("dd-status", Boolean(text));
}

function routeDrillId() {
  const match = location.pathname.match(/^\/drills\/(\d+)\/day$/);
  return match ? Number(match[1]) : null;
}

async function mine() {
  const userId = context?.user?.id;
  return (await allRecords()).filter((r) => r.userId === userId);
}

async function updateBadge() {
  const waiting = (await mine()).length;
  show("dd-badge", waiting > 0);
  $("dd-network").textContent = navigator.onLine ? msg.msgOnline : msg.msgOffline;
}

async function save() {
  await putRecord(record);
  await updateBadge();
}

function newRecord(drill) {
  return {
    key: crypto.randomUUID(), userId: context.user.id, drillId: drill ? drill.id : null,
    version: drill ? drill.version : null, title: drill ? drill.title : msg.msgUnplanned,
    startedAt: null, clearedAt: null, notes: "", photos: [], state: "draft", current: null,
    groups: context.groups.map((g) => ({ id: g.id, name: g.name, expected: g.expected, present: 0, missing: 0 })),
  };
}

// --- choosing ---------------------------------------------------------------------------------------

function renderChoice() {
  show("dd-run", false);
  show("dd-choose", true);
  $("dd-org").textContent = context?.org?.name || "";
  show("dd-no-context", !context);
  $("dd-new").disabled = !context;
  const list = $("dd-drills");
  list.replaceChildren();
  for (const drill of context?.drills || []) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-danger btn-lg dd-drill btn-wrap";
    button.dataset.drillId = drill.id;
    button.textContent = `${drill.title} · ${drill.starts_at.slice(11, 16)}`;
    button.addEventListener("click", () => begin(drill));
    list.append(button);
  }
}

async function begin(drill) {
  record = newRecord(drill);
  await save();
  renderRun();
}

$("dd-new").addEventListener("click", () => begin(null));

// --- running ----------------------------------------------------------------------------------------

function seconds() {
  if (!record.startedAt) return 0;
  return ((record.clearedAt || Date.now()) - record.startedAt) / 1000;
}

function tick() {
  $("dd-clock").textContent = clock(seconds());
}

function renderClock() {
  show("dd-start", !record.startedAt);
  show("dd-clear", Boolean(record.startedAt) && !record.clearedAt);
  clearInterval(ticker);
  if (record.startedAt && !record.clearedAt) ticker = setInterval(tick, 250);
  tick();
}

function unaccounted() {
  return record.groups.reduce((sum, g) => sum + Math.max(0, g.expected - g.present - g.missing), 0);
}

function renderGroups() {
  const container = $("dd-groups");
  container.replaceChildren();
  const row = $("dd-group-row");
  record.groups.forEach((group, index) => {
    const card = row.content.firstElementChild.cloneNode(true);
    card.dataset.group = group.name;
    const part = (role) => card.querySelector(`[data-role="${role}"]`);
    part("name").textContent = group.name;
    part("expected").textContent = group.expected;
    part("present").textContent = group.present;
    part("missing").textContent = group.missing;
    const change = (field, delta) => async () => {
      const g = record.groups[index];
      g[field] = Math.max(0, g[field] + delta);
      part(field).textContent = g[field];
      $("dd-unaccounted").textContent = unaccounted();
      await save();
    };
    part("present-plus").addEventListener("click", change("present", 1));
    part("present-minus").addEventListener("click", change("present", -1));
    part("missing-plus").addEventListener("click", change("missing", 1));
    part("missing-minus").addEventListener("click", change("missing", -1));
    part("all-present").addEventListener("click", async () => {
      const g = record.groups[index];
      g.present = Math.max(0, g.expected - g.missing);
      part("present").textContent = g.present;
      $("dd-unaccounted").textContent = unaccounted();
      await save();
    });
    container.append(card);
  });
  $("dd-no-groups").textContent = msg.msgNoGroups;
  show("dd-no-groups", record.groups.length === 0);
  $("dd-unaccounted").textContent = unaccounted();
}

function renderPhotos() {
  $("dd-photo-count").textContent = format(msg.msgPhotos, { n: record.photos.length });
}

function renderRun() {
  show("dd-choose", false);
  show("dd-done", false);
  show("dd-conflict", record.state === "conflict");
  show("dd-run", true);
  $("dd-title").textContent = record.title;
  $("dd-notes").value = record.notes;
  renderClock();
  renderGroups();
  renderPhotos();
  if (record.state === "conflict") renderConflict();
}

// A phone photo is several MB: kept as a JPEG of at most 1600 px, which is plenty for a drill record.
async function shrink(file, index) {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
    const canvas = new OffscreenCanvas(Math.round(bitmap.width * scale), Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return { name: `photo-${index}.jpg`, blob: await canvas.convertToBlob({ type: "image/jpeg", quality: 0.8 }) };
  } catch {
    return { name: file.name, blob: file };
  }
}

$("dd-start").addEventListener("click", async () => {
  record.startedAt = Date.now();
  await save();
  renderClock();
});

$("dd-clear").addEventListener("click", async () => {
  record.clearedAt = Date.now();
  await save();
  renderClock();
});

$("dd-notes").addEventListener("input", async () => {
  record.notes = $("dd-notes").value;
  await save();
});

$("dd-photos").addEventListener("change", async (event) => {
  for (const file of event.target.files) record.photos.push(await shrink(file, record.photos.length + 1));
  event.target.value = "";
  await save();
  renderPhotos();
});

$("dd-finish").addEventListener("click", async () => {
  if (!record.startedAt || !record.clearedAt) return status(msg.msgNeedClear, "warning");
  if (record.groups.length && !record.groups.some((g) => g.present > 0)) return status(msg.msgNeedCount, "warning");
  record.state = "ready";
  await save();
  status(msg.msgUnsent, "warning");
  await sync();
});

// --- conflicts ----------------------------------------------------------------------------------------

function renderConflict() {
  const current = record.current || {};
  const part = current.participation || {};
  $("dd-conflict-detail").textContent = record.conflictDetail || "";
  $("dd-current").textContent = format(msg.msgCurrent, {
    version: current.version, status: current.status, total: part.total ?? "—",
    time: part.evacuation_seconds ? clock(part.evacuation_seconds) : "—" });
}

$("dd-overwrite").addEventListener("click", async () => {
  record.version = record.current.version;
  record.state = "ready";
  record.current = null;
  await save();
  show("dd-conflict", false);
  await sync();
});

$("dd-keep").addEventListener("click", () => show("dd-conflict", false));

// --- sending --------------------------------------------------------------------------------------------

function payload(r) {
  const form = new FormData();
  form.append("record", JSON.stringify({
    drill_id: r.drillId, version: r.version, notes: r.notes,
    started_at: new Date(r.startedAt).toISOString(), cleared_at: new Date(r.clearedAt).toISOString(),
    groups: r.groups.map((g) => ({ group_id: g.id, present: g.present, missing: g.missing })),
  }));
  for (const photo of r.photos) form.append("photos", photo.blob, photo.name);
  return form;
}

async function send(r, token) {
  const answer = await fetch("/day/submit", {
    method: "POST", body: payload(r), credentials: "same-origin",
    headers: { "Idempotency-Key": r.key, "X-CSRFToken": token, Accept: "application/json" },
  });
  const json = (answer.headers.get("Content-Type") || "").includes("json") ? await answer.json() : null;
  if (answer.ok && json) {
    await deleteRecord(r.key);
    if (record && record.key === r.key) {
      record = null;
      clearInterval(ticker);
      show("dd-run", false);
      show("dd-conflict", false);
      $("dd-done-link").href = json.url;
      show("dd-done", true);
    }
    status(msg.msgSent, "success");
  } else if (answer.status === 409 && json && json.current) {
    Object.assign(r, { state: "conflict", current: json.current, conflictDetail: json.detail });
    await putRecord(r);
    if (record && record.key === r.key) { record = r; renderRun(); }
    status(json.detail, "warning");
  } else if (json) {
    r.state = "draft";
    await putRecord(r);
    const errors = Object.entries(json.errors || {}).map(([field, list]) => `${field}: ${list.join(" ")}`);
    status(`${msg.msgRefused} ${json.detail} ${errors.join(" · ")}`, "danger");
  } else {
    status(msg.msgLogin, "warning");
  }
}

async function sync() {
  if (syncing || !navigator.onLine || !context) return;
  syncing = true;
  try {
    const waiting = (await mine()).filter((r) => r.state === "ready");
    if (!waiting.length) return;
    const fresh = await fetch("/day/context", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!(fresh.headers.get("Content-Type") || "").includes("json")) return status(msg.msgLogin, "warning");
    const { csrf_token: token, user } = await fresh.json();
    status(msg.msgSending);
    for (const r of waiting) if (r.userId === user.id) await send(r, token);
  } catch {
    // still offline after all: the record stays on the phone and is sent on the next "online"
  } finally {
    syncing = false;
    await updateBadge();
  }
}

// --- start ----------------------------------------------------------------------------------------------

async function start() {
  context = (await getContext()) || null;
  if (navigator.onLine) {
    context = (await prepare("/day/context").catch(() => null)) || context;
  }
  // Who is recording, with their role, as the phone last saw them (the shell itself holds no user data).
  $("dd-user").textContent = context?.user ? [context.user.name, context.user.role].filter(Boolean).join(" · ") : "";
  await updateBadge();
  const drillId = routeDrillId() || Number(body.dataset.drillId) || null;
  const records = context ? await mine() : [];
  record = records.find((r) => r.state !== "ready" && (drillId === null || r.drillId === drillId)) || null;
  if (!record && drillId && context) {
    const drill = context.drills.find((d) => d.id === drillId);
    if (drill) await begin(drill);
  }
  if (record) renderRun(); else renderChoice();
  if (records.some((r) => r.state === "ready")) status(msg.msgUnsent, "warning");
  await sync();
  body.dataset.ready = "1";
}

window.addEventListener("online", () => { updateBadge(); sync(); });
window.addEventListener("offline", updateBadge);
start();
