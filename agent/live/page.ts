/**
 * The live view's page: one HTML document with its style and script inline (no CDN, no
 * build step: it works on an offline device), fed by `/events` (Server-Sent Events).
 * Plain DOM and SVG; a few thousand sensors stay usable through the search and the top-N
 * the server picks (by activity, open alerts or name). Kept in ASCII (the bundle is).
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Brook</title>
<style>
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2430;--mute:#6b7585;--line:#dde1e7;--ok:#1f9d55;--warn:#d98a00;--bad:#d64545;--info:#3572b0}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;flex-wrap:wrap;gap:8px;align-items:center;padding:10px 14px;background:var(--ink);color:#fff}
header h1{font-size:16px;margin:0 12px 0 0}header .dim{color:#aab3c2}
.conn{margin-left:auto;font-size:12px}.conn.off{color:#ffb4b4}
main{display:grid;gap:12px;padding:12px;grid-template-columns:repeat(auto-fit,minmax(300px,1fr))}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px;min-width:0}
section h2{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--mute);margin:0 0 8px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(110px,1fr));gap:8px}
.tile b{display:block;font-size:20px}.tile span{color:var(--mute);font-size:12px}
.wide{grid-column:1/-1}svg{display:block;width:100%}
.state-live{color:var(--ok)}.state-draining{color:var(--info)}.state-connecting{color:var(--warn)}.state-offline{color:var(--bad)}
ul{list-style:none;margin:0;padding:0}#alerts{max-height:300px;overflow:auto}li{padding:3px 0;border-bottom:1px solid var(--line);overflow-wrap:anywhere}
.sev-critical{color:var(--bad);font-weight:600}.sev-warning{color:var(--warn);font-weight:600}.sev-info{color:var(--info)}
.resolved{color:var(--mute)}table{border-collapse:collapse;width:100%}td{padding:2px 4px;border-bottom:1px solid var(--line)}td:last-child{text-align:right}
.controls{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:8px}.controls input{flex:1;min-width:140px;padding:5px}
.grid{display:grid;gap:8px;grid-template-columns:repeat(auto-fill,minmax(220px,1fr))}
.sensor{border:1px solid var(--line);border-radius:6px;padding:6px}.sensor.alerting{border-color:var(--bad);box-shadow:0 0 0 1px var(--bad)}
.sensor .name{font-weight:600;overflow-wrap:anywhere}.sensor .meta{color:var(--mute);font-size:12px}
.band{fill:#3572b0;opacity:.14}.mean{stroke:#3572b0;stroke-dasharray:3 3}.values{fill:none;stroke:#1d2430;stroke-width:1.3}
.marker{fill:var(--bad)}.empty{color:var(--mute);font-size:12px}
</style></head><body>
<header><h1>Brook</h1><span id="device" class="dim"></span><span id="state"></span><span id="conn" class="conn off">connecting...</span></header>
<main>
<section class="wide"><div class="tiles">
<div class="tile"><b id="rps">-</b><span>readings/s</span></div>
<div class="tile"><b id="sensors-n">-</b><span>sensors</span></div>
<div class="tile"><b id="alerts-open">-</b><span>alerts open</span></div>
<div class="tile"><b id="outbox">-</b><span>outbox results</span></div>
<div class="tile"><b id="uplink">-</b><span>uplink</span></div>
<div class="tile"><b id="windows">-</b><span>open windows</span></div>
<div class="tile"><b id="state-mem">-</b><span>state of budget</span></div>
<div class="tile"><b id="lag">-</b><span>loop lag p99</span></div>
</div></section>
<section><h2>Readings/s, last 5 min</h2><svg id="series-rps" viewBox="0 0 300 60" preserveAspectRatio="none"></svg></section>
<section><h2>Outbox depth and uplink</h2><svg id="series-outbox" viewBox="0 0 300 60" preserveAspectRatio="none"></svg>
<svg id="series-uplink" viewBox="0 0 300 8" preserveAspectRatio="none"></svg><div id="uplink-note" class="empty"></div></section>
<section><h2>Alerts</h2><ul id="alerts"></ul></section>
<section><h2>Dropped and refused</h2><table id="drops"></table></section>
<section><h2>Rules</h2><ul id="rules"></ul></section>
<section class="wide"><h2>Sensors <span id="sensors-count" class="empty"></span></h2>
<div class="controls"><input id="q" type="search" placeholder="search sensors" aria-label="search sensors">
<select id="by" aria-label="order"><option value="activity">most active</option><option value="alerts">alerts first</option><option value="name">by name</option></select>
<select id="n" aria-label="how many"><option>12</option><option>24</option><option>60</option></select></div>
<div id="sensors" class="grid"></div></section>
</main>
<script>
"use strict";
var $ = function (s) { return document.getElementById(s); };
var NS = "http://www.w3.org/2000/svg";
var series = [], alertsOpen = [], alertsRecent = [], es = null;
function el(tag, attrs, text) {
  var e = tag.indexOf("svg:") === 0 ? document.createElementNS(NS, tag.slice(4)) : document.createElement(tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function fmt(v) { return typeof v !== "number" || isNaN(v) ? "-" : Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2); }
function time(ms) { return new Date(ms).toLocaleTimeString(); }
function line(svg, values, w, h, cls) {
  var max = Math.max.apply(null, values.concat([1]));
  var pts = values.map(function (v, i) { return (values.length < 2 ? 0 : i * w / (values.length - 1)).toFixed(1) + "," + (h - 2 - (v / max) * (h - 4)).toFixed(1); });
  svg.appendChild(el("svg:polyline", { points: pts.join(" "), class: cls || "values" }));
  svg.appendChild(el("svg:text", { x: 2, y: 10, "font-size": 9, fill: "#6b7585" }, "max " + fmt(max)));
}
var COLORS = { live: "#1f9d55", draining: "#3572b0", connecting: "#d98a00", offline: "#d64545", disabled: "#aab3c2" };
function renderSeries() {
  var rps = $("series-rps"), ob = $("series-outbox"), up = $("series-uplink");
  rps.textContent = ""; ob.textContent = ""; up.textContent = "";
  line(rps, series.map(function (s) { return s.readingsPerSec; }), 300, 60);
  line(ob, series.map(function (s) { return s.outboxDepth; }), 300, 60);
  var w = 300 / Math.max(1, series.length);
  series.forEach(function (s, i) { up.appendChild(el("svg:rect", { x: (i * w).toFixed(2), y: 0, width: (w + 0.3).toFixed(2), height: 8, fill: COLORS[s.uplink] || "#aab3c2", "data-state": s.uplink })); });
  var last = series[series.length - 1];
  $("uplink-note").textContent = last ? "uplink " + last.uplink + ", " + last.outboxDepth + " results waiting" : "";
}
function renderStatus(s) {
  $("device").textContent = s.device + " - brook " + s.version + " - up " + Math.round(s.uptimeS) + "s";
  $("state").textContent = s.state + (s.ready.ready ? "" : " (not ready: " + s.ready.why.join("; ") + ")");
  $("rps").textContent = s.readingsPerSec;
  $("sensors-n").textContent = s.sensors.tracked;
  $("alerts-open").textContent = s.alertsOpen;
  $("outbox").textContent = s.outbox.depth;
  var u = $("uplink"); u.textContent = s.uplink.state; u.className = "state-" + s.uplink.state;
  $("windows").textContent = s.openWindows;
  $("state-mem").textContent = Math.round(100 * s.stateBytes / Math.max(1, s.stateBudgetBytes)) + " %";
  $("lag").textContent = s.eventLoopLagMs.p99.toFixed(1) + " ms";
  var drops = $("drops"); drops.textContent = "";
  var dead = 0;
  Object.keys(s.drops).forEach(function (k) { if (k.indexOf("dead_letter.") === 0) dead += s.drops[k]; });
  var rows = [["dead letters", dead], ["late readings", s.drops.late_readings || 0], ["evicted keys", s.drops.evicted_keys || 0]];
  Object.keys(s.drops).forEach(function (k) { if (k !== "late_readings" && k !== "evicted_keys") rows.push([k, s.drops[k]]); });
  Object.keys(s.outbox.drops).forEach(function (k) { if (s.outbox.drops[k] > 0) rows.push(["outbox_quota." + k, s.outbox.drops[k]]); });
  rows.forEach(function (r) { var tr = el("tr"); tr.appendChild(el("td", {}, r[0])); tr.appendChild(el("td", {}, String(r[1]))); drops.appendChild(tr); });
  var rules = $("rules"); rules.textContent = "";
  rules.appendChild(el("li", {}, (s.rules.names.join(", ") || "(none)") + " - loaded " + time(s.rules.loadedAt)));
  s.rules.reloads.forEach(function (r) { rules.appendChild(el("li", { class: r.ok ? "" : "sev-warning" }, time(r.at) + ": reload " + (r.ok ? "applied" : "rejected: " + r.problems.join("; ")))); });
}
function renderAlerts() {
  var ul = $("alerts"); ul.textContent = "";
  var open = {}, seen = {};
  alertsOpen.forEach(function (a) { open[a.id] = true; });
  // Open ones first, in colour; then the recent openings and resolutions, greyed.
  alertsOpen.concat(alertsRecent).slice(0, 40).forEach(function (a, i) {
    var now = i < alertsOpen.length, key = (now ? "now" : a.state) + a.id;
    if (seen[key] || (!now && a.state === "open" && open[a.id] && seen["now" + a.id])) return; seen[key] = true;
    ul.appendChild(el("li", { class: now ? "sev-" + a.severity : "resolved", "data-alert-id": a.id, "data-state": a.state },
      time(a.ts) + " " + (now ? "OPEN" : a.state === "open" ? "opened" : "resolved") + " " + a.severity + " " + a.rule + " " + a.key + " = " + fmt(a.value) + " (" + a.detector + " " + fmt(a.score) + ")"));
  });
  if (!ul.firstChild) ul.appendChild(el("li", { class: "empty" }, "no alerts"));
}
function spark(v) {
  var svg = el("svg:svg", { viewBox: "0 0 220 60", class: "spark", preserveAspectRatio: "none" });
  var pts = v.points || [];
  if (pts.length === 0) { svg.appendChild(el("svg:text", { x: 4, y: 30, "font-size": 10, fill: "#6b7585" }, v.points ? "no readings yet" : "no history kept (most active sensors only)")); return svg; }
  var t0 = pts[0][0], t1 = pts[pts.length - 1][0];
  var ys = pts.map(function (p) { return p[1]; });
  var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
  if (v.band) { lo = Math.min(lo, v.band.lo); hi = Math.max(hi, v.band.hi); }
  if (hi === lo) { hi += 1; lo -= 1; }
  var X = function (t) { return t1 === t0 ? 110 : 2 + (t - t0) * 216 / (t1 - t0); };
  var Y = function (y) { return 58 - (y - lo) * 56 / (hi - lo); };
  if (v.band) {
    svg.appendChild(el("svg:rect", { class: "band", x: 0, width: 220, y: Y(v.band.hi).toFixed(1), height: Math.max(1, Y(v.band.lo) - Y(v.band.hi)).toFixed(1) }));
    svg.appendChild(el("svg:line", { class: "mean", x1: 0, x2: 220, y1: Y(v.band.mean).toFixed(1), y2: Y(v.band.mean).toFixed(1) }));
  }
  svg.appendChild(el("svg:polyline", { class: "values", points: pts.map(function (p) { return X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1); }).join(" ") }));
  v.markers.forEach(function (m) { if (m[0] >= t0 && m[0] <= t1) svg.appendChild(el("svg:circle", { class: "marker", cx: X(m[0]).toFixed(1), cy: Y(m[1]).toFixed(1), r: 3.5, "data-ts": m[0] })); });
  return svg;
}
function sensorCard(v) {
  var d = el("div", { class: "sensor" + (v.open > 0 ? " alerting" : ""), "data-sensor": v.sensor });
  d.appendChild(el("div", { class: "name" }, v.sensor));
  d.appendChild(el("div", { class: "meta" }, "last " + fmt(v.last) + " - " + v.perSec + "/s - " + v.alerts + " alerts" + (v.band ? " - window mean " + fmt(v.band.mean) + " (" + v.band.kind + " band)" : "")));
  d.appendChild(spark(v));
  return d;
}
function renderSensors(r) {
  var grid = $("sensors"); grid.textContent = "";
  r.sensors.forEach(function (v) { grid.appendChild(sensorCard(v)); });
  $("sensors-count").textContent = "(" + r.sensors.length + " shown of " + r.matched + " matching, " + r.total + " in all)";
  if (r.sensors.length === 0) grid.appendChild(el("div", { class: "empty" }, "no sensor matches"));
}
function updateSensor(v) {
  var old = document.querySelector('[data-sensor="' + CSS.escape(v.sensor) + '"]');
  if (old) old.replaceWith(sensorCard(v));
}
function apply(d) {
  renderStatus(d.status);
  alertsOpen = d.alerts.open; alertsRecent = d.alerts.recent; renderAlerts();
  renderSeries(); renderSensors(d.sensors);
}
function setConn(on) { var c = $("conn"); c.textContent = on ? "live" : "reconnecting..."; c.className = "conn" + (on ? "" : " off"); }
function connect() {
  if (es) es.close();
  var p = new URLSearchParams({ q: $("q").value, by: $("by").value, n: $("n").value });
  es = new EventSource("/events?" + p.toString());
  es.onopen = function () { setConn(true); };
  es.onerror = function () { setConn(false); };
  es.addEventListener("snapshot", function (e) { var d = JSON.parse(e.data); series = d.series.slice(); apply(d); });
  es.addEventListener("update", function (e) { var d = JSON.parse(e.data); if (d.sample) { series.push(d.sample); if (series.length > 300) series.shift(); } apply(d); });
  es.addEventListener("alert", function (e) {
    var d = JSON.parse(e.data);
    if (d.alert.state === "open") alertsOpen.unshift(d.alert); else alertsOpen = alertsOpen.filter(function (a) { return a.id !== d.alert.id; });
    alertsRecent.unshift(d.alert); renderAlerts();
    $("alerts-open").textContent = alertsOpen.length;
    if (d.sensor) updateSensor(d.sensor);
  });
}
var typing;
$("q").addEventListener("input", function () { clearTimeout(typing); typing = setTimeout(connect, 300); });
$("by").addEventListener("change", connect); $("n").addEventListener("change", connect);
connect();
</script></body></html>
`;
