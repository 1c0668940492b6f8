// glow-gpu serve's page: plain JavaScript, no libraries. Each panel sends at most one request
// at a time; moving a slider while one runs sends the latest value once it is answered.
"use strict";

const $ = (id) => document.getElementById(id);
let card = null;

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (e) { data = { error: `HTTP ${response.status}` }; }
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

const pngURL = (b64) => `data:image/png;base64,${b64}`;

function status(id, text, isError) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", Boolean(isError));
}

// One request in flight per panel; the latest wish is remembered and sent next.
function coalesced(task) {
  let running = false, again = false;
  return async function run() {
    if (running) { again = true; return; }
    running = true;
    document.body.dataset.pending = String(Number(document.body.dataset.pending || 0) + 1);
    try { await task(); } finally {
      running = false;
      document.body.dataset.pending = String(Number(document.body.dataset.pending) - 1);
      if (again) { again = false; run(); }
    }
  };
}

function readFile(input) {
  return new Promise((resolve, reject) => {
    const file = input.files && input.files[0];
    if (!file) { resolve(null); return; }
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(new Error(`cannot read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

async function imageSource(indexId, fileId) {
  const png = await readFile($(fileId));
  return png ? { png } : { index: Number($(indexId).value) };
}

function classField() {
  if (!card || card.classes === 0) return {};
  return { class: Number($("class").value) };
}

// --- Sample -----------------------------------------------------------------------------------
const runSample = coalesced(async () => {
  const temperature = Number($("temperature").value);
  $("temperature-value").textContent = temperature.toFixed(2);
  const body = { temperature, seed: Number($("seed").value), count: Number($("count").value) };
  if (card && card.classes > 0) body.class = $("class").value === "all" ? "all" : Number($("class").value);
  try {
    const r = await api("/api/sample", body);
    $("sample-grid").src = pngURL(r.png);
    status("sample-status", `${r.count} images at T = ${temperature.toFixed(2)}, seed ${r.seed}: ` +
      `${(r.seconds * 1000).toFixed(0)} ms (${r.images_per_second.toFixed(0)} images/s)`);
    refreshCard();
  } catch (e) { status("sample-status", e.message, true); }
});

// --- Interpolate ------------------------------------------------------------------------------
const runInterpolate = coalesced(async () => {
  const steps = Number($("steps").value);
  $("steps-value").textContent = String(steps);
  try {
    const body = Object.assign({ from: await imageSource("from-index", "from-file"),
                                 to: await imageSource("to-index", "to-file"), steps }, classField());
    const r = await api("/api/interpolate", body);
    $("interp-row").src = pngURL(r.png);
    status("interp-status", `${steps} steps: ${(r.seconds * 1000).toFixed(0)} ms`);
    refreshCard();
  } catch (e) { status("interp-status", e.message, true); }
});

// --- Manipulate -------------------------------------------------------------------------------
function buildSliders() {
  const box = $("manip-sliders");
  box.textContent = "";
  if (!card.labels.length) {
    box.textContent = "no label directions (the server has no labelled data set)";
    return;
  }
  const [lo, hi] = card.limits.alpha;
  for (const { label, name } of card.labels) {
    const caption = document.createElement("span");
    caption.textContent = name;
    const slider = document.createElement("input");
    Object.assign(slider, { type: "range", min: String(Math.max(lo, -2)), max: String(Math.min(hi, 2)), step: "0.1", value: "0" });
    slider.id = `manip-slider-${label}`;
    slider.className = "label-slider";
    slider.dataset.label = String(label);
    const value = document.createElement("output");
    value.textContent = "0.0";
    slider.addEventListener("input", () => { value.textContent = Number(slider.value).toFixed(1); runManipulate(); });
    box.append(caption, slider, value);
  }
}

const runManipulate = coalesced(async () => {
  if (!card || !card.labels.length) return;
  const alphas = {};
  for (const s of document.querySelectorAll(".label-slider")) {
    if (Number(s.value) !== 0) alphas[s.dataset.label] = Number(s.value);
  }
  try {
    const body = Object.assign({ image: await imageSource("manip-index", "manip-file"), alphas }, classField());
    const r = await api("/api/manipulate", body);
    $("manip-image").src = pngURL(r.png);
    const moved = Object.entries(alphas).map(([l, a]) => `${l}: ${a}`).join(", ") || "none (reconstruction)";
    status("manip-status", `moves ${moved}; ${(r.seconds * 1000).toFixed(0)} ms`);
    refreshCard();
  } catch (e) { status("manip-status", e.message, true); }
});

// --- Encode -----------------------------------------------------------------------------------
const runEncode = coalesced(async () => {
  try {
    const png = await readFile($("encode-file"));
    if (!png) return;
    const r = await api("/api/encode", Object.assign({ png }, classField()));
    $("encode-input").src = pngURL(r.input_png);
    $("encode-recon").src = pngURL(r.png);
    status("encode-status", `${r.uploaded.width}×${r.uploaded.height} upload: ` +
      `${r.bpd === null ? "non-finite" : r.bpd.toFixed(3)} bits per dimension`);
    $("encode-status").dataset.bpd = String(r.bpd);
    refreshCard();
  } catch (e) { status("encode-status", e.message, true); }
});

// --- Model card -------------------------------------------------------------------------------
function fmt(v) { return typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : String(v); }

async function refreshCard() {
  try { card = await api("/api/model"); } catch (e) { $("card-summary").textContent = e.message; return; }
  const c = card.config;
  $("card-summary").textContent = `K=${c.K} L=${c.L} hidden ${c.hidden}, ${card.image.channels}×${card.image.height}×` +
    `${card.image.width} on ${card.device}` + (card.test_bpd === null ? "" : `, test ${card.test_bpd.toFixed(3)} bpd`);
  const rows = [
    ["checkpoint", card.checkpoint ?? "(in memory)"],
    ["device", card.device],
    ["configuration", Object.entries(c).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("×") : v}`).join(", ")],
    ["test bpd", card.test_bpd === null ? "unknown" : `${card.test_bpd.toFixed(4)} (${card.test_bpd_source})`],
    ["data set", card.dataset ? `${card.dataset.name} ${card.dataset.split}, ${card.dataset.count} images` : "none"],
    ["label directions", card.labels.map((l) => l.name).join(", ") || "none"],
    ["last call", card.last_call ? `${card.last_call.route}: ${card.last_call.images} image${card.last_call.images === 1 ? "" : "s"} in ` +
      `${(card.last_call.seconds * 1000).toFixed(0)} ms, ${card.last_call.images_per_second.toFixed(1)} images/s` : "none yet"],
    ["queue", `${card.queue.busy} of ${card.queue.capacity} busy, ${card.queue.timeout_seconds} s timeout`],
  ];
  const table = $("card");
  table.textContent = "";
  for (const [k, v] of rows) {
    const tr = table.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = fmt(v);
  }
}

// --- Start ------------------------------------------------------------------------------------
async function start() {
  await refreshCard();
  if (!card) return;
  if (card.classes > 0) {
    $("class-label").hidden = false;
    const sel = $("class");
    for (let k = 0; k < card.classes; k++) sel.add(new Option(String(k), String(k)));
    sel.add(new Option("all", "all"));
    sel.addEventListener("change", runSample);
  }
  if (card.dataset) {
    for (const id of ["from-index", "to-index", "manip-index"]) $(id).max = String(card.dataset.count - 1);
  } else {
    for (const id of ["from-index", "to-index", "manip-index"]) $(id).disabled = true;
  }
  buildSliders();
  $("temperature").addEventListener("input", runSample);
  $("seed").addEventListener("change", runSample);
  $("count").addEventListener("change", runSample);
  $("new-seed").addEventListener("click", () => { $("seed").value = String(Math.floor(Math.random() * 1e6)); runSample(); });
  for (const id of ["from-index", "to-index", "from-file", "to-file"]) $(id).addEventListener("change", runInterpolate);
  $("steps").addEventListener("input", runInterpolate);
  for (const id of ["manip-index", "manip-file"]) $(id).addEventListener("change", runManipulate);
  $("manip-reset").addEventListener("click", () => {
    for (const s of document.querySelectorAll(".label-slider")) { s.value = "0"; s.dispatchEvent(new Event("input")); }
  });
  $("encode-file").addEventListener("change", runEncode);
  runSample();
  if (card.dataset) { runInterpolate(); runManipulate(); }
}

start();
