"""The single HTML page the server shows (no external assets: it works offline)."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>actionlab</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 14px 24px; }
  header h1 { margin: 0; font-size: 20px; }
  header span { color: #aab; font-size: 13px; }
  main { max-width: 980px; margin: 20px auto; padding: 0 16px; }
  .card { background: #fff; border-radius: 8px; padding: 16px 20px; margin-bottom: 16px;
          box-shadow: 0 1px 3px rgba(0,0,0,.08); }
  h2 { font-size: 16px; margin: 0 0 10px; }
  #status { margin-left: 12px; color: #556; }
  #error { display: none; background: #fde8e8; color: #8a1c1c; border: 1px solid #f5b5b5;
           padding: 10px 14px; border-radius: 6px; margin-bottom: 16px; }
  #results { display: none; }
  table { border-collapse: collapse; width: 100%; font-size: 14px; }
  td, th { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eee; }
  .bar { background: #4c78a8; height: 10px; border-radius: 3px; }
  #top-label { font-size: 22px; font-weight: 600; }
  img { max-width: 100%; }
  .row { display: flex; gap: 16px; flex-wrap: wrap; }
  .row > .card { flex: 1 1 300px; }
  button { background: #4c78a8; color: #fff; border: 0; border-radius: 5px; padding: 7px 16px;
           font-size: 14px; cursor: pointer; }
  button:disabled { background: #99a; }
</style>
</head>
<body>
<header><h1>actionlab</h1><span id="model-info">loading model info...</span></header>
<main>
  <div class="card">
    <h2>Upload a video</h2>
    <form id="upload-form">
      <input type="file" id="video-input" name="file" accept="video/*" required>
      <button type="submit" id="submit">Analyse</button>
      <span id="status"></span>
    </form>
  </div>
  <div id="error" role="alert"></div>
  <div id="results">
    <div class="card">
      <h2>Prediction</h2>
      <div id="top-label"></div>
      <table id="topk"><thead><tr><th>label</th><th>probability</th><th></th></tr></thead>
        <tbody></tbody></table>
    </div>
    <div class="card">
      <h2>Timeline</h2>
      <img id="timeline-img" alt="class probabilities over time">
      <table id="segments"><thead><tr><th>label</th><th>start (s)</th><th>end (s)</th>
        <th>score</th></tr></thead><tbody></tbody></table>
    </div>
    <div class="card" id="gradcam-card">
      <h2>Where the model looks (Grad-CAM)</h2>
      <img id="gradcam-img" alt="Grad-CAM overlay">
    </div>
  </div>
</main>
<script>
const $ = (id) => document.getElementById(id);
function cell(row, text) { const td = document.createElement("td"); td.textContent = text;
  row.appendChild(td); return td; }
fetch("/api/info").then(r => r.json()).then(info => {
  $("model-info").textContent = `model ${info.model} - ${info.classes.length} classes - ` +
    `uploads up to ${info.max_upload_mb} MB`;
  if (info.live) {  // serve --live SOURCE: link the live view
    const a = document.createElement("a"); a.href = "/live"; a.textContent = " - live view";
    $("model-info").appendChild(a);
  }
});
$("upload-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = $("video-input").files[0];
  if (!file) return;
  $("error").style.display = "none";
  $("results").style.display = "none";
  $("submit").disabled = true;
  $("status").textContent = "analysing " + file.name + "...";
  const body = new FormData();
  body.append("file", file);
  try {
    const res = await fetch("/api/analyze", {method: "POST", body});
    const data = await res.json().catch(() => ({error: "HTTP " + res.status}));
    if (!res.ok) throw new Error(data.error || ("HTTP " + res.status));
    show(data);
    $("status").textContent = "done";
  } catch (err) {
    $("error").textContent = err.message;
    $("error").style.display = "block";
    $("status").textContent = "";
  } finally {
    $("submit").disabled = false;
  }
});
function show(data) {
  const best = data.top[0];
  $("top-label").textContent = best.label + " (" + (100 * best.prob).toFixed(1) + "%)";
  const tb = $("topk").querySelector("tbody"); tb.replaceChildren();
  for (const t of data.top) {
    const row = tb.insertRow(); cell(row, t.label); cell(row, t.prob.toFixed(3));
    const bar = document.createElement("div"); bar.className = "bar";
    bar.style.width = Math.round(200 * t.prob) + "px"; cell(row, "").appendChild(bar);
  }
  $("timeline-img").src = data.files.timeline;
  const sb = $("segments").querySelector("tbody"); sb.replaceChildren();
  if (!data.segments.length) { const row = sb.insertRow();
    cell(row, "no segments above the threshold").colSpan = 4; }
  for (const s of data.segments) {
    const row = sb.insertRow(); cell(row, s.label); cell(row, s.start.toFixed(2));
    cell(row, s.end.toFixed(2)); cell(row, s.score.toFixed(3));
  }
  if (data.files.gradcam) { $("gradcam-img").src = data.files.gradcam;
    $("gradcam-card").style.display = "block"; }
  else { $("gradcam-card").style.display = "none"; }
  $("results").style.display = "block";
}
</script>
</body>
</html>
"""
