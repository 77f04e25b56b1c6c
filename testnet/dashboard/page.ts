/**
 * The dashboard page: one self-contained HTML document (inline CSS, JS and SVG; no external
 * assets: the machines may have no internet). It subscribes to `/events` (server-sent events,
 * one snapshot per message; see server.ts) and redraws: the peers as a grid coloured by health,
 * loss and accuracy over steps with faults, rollbacks and repairs marked, and the timeline.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>codenet testnet</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --bg:#0f1419; --panel:#182029; --fg:#dde3ea; --dim:#8a96a3; --ok:#3fb950; --join:#58a6ff; --slow:#d29922; --bad:#f85149; --off:#6e7681; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg); }
  header { padding:14px 20px; display:flex; gap:24px; align-items:baseline; flex-wrap:wrap; border-bottom:1px solid #263040; }
  header h1 { font-size:18px; margin:0; }
  .kv { color:var(--dim); } .kv b { color:var(--fg); font-weight:600; }
  main { display:grid; grid-template-columns: minmax(320px, 1fr) minmax(420px, 2fr); gap:16px; padding:16px 20px; }
  section { background:var(--panel); border-radius:8px; padding:12px 14px; }
  section h2 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--dim); margin:0 0 10px; }
  #progress { height:10px; background:#263040; border-radius:5px; overflow:hidden; margin-top:6px; }
  #progress div { height:100%; background:var(--join); width:0; transition:width .4s; }
  #peers { display:grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap:10px; }
  .peer { border-radius:8px; padding:8px 10px; border:2px solid var(--off); background:#11171d; }
  .peer .idx { font-size:20px; font-weight:700; }
  .peer .st { font-size:12px; text-transform:uppercase; letter-spacing:.05em; }
  .peer .small { font-size:11px; color:var(--dim); word-break:break-all; }
  .peer[data-state=online] { border-color:var(--ok); } .peer[data-state=online] .st { color:var(--ok); }
  .peer[data-state=joining] { border-color:var(--join); } .peer[data-state=joining] .st { color:var(--join); }
  .peer[data-state=straggling] { border-color:var(--slow); } .peer[data-state=straggling] .st { color:var(--slow); }
  .peer[data-state=faulty] { border-color:var(--bad); } .peer[data-state=faulty] .st { color:var(--bad); }
  .peer[data-state=offline] { border-color:var(--off); opacity:.6; } .peer[data-state=offline] .st { color:var(--off); }
  .legend span { display:inline-block; margin-right:12px; font-size:12px; color:var(--dim); }
  .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:-1px; }
  svg { width:100%; height:200px; display:block; }
  svg text { fill:var(--dim); font-size:10px; }
  #totals { display:grid; grid-template-columns: repeat(4, 1fr); gap:8px; margin-top:10px; }
  #totals div { background:#11171d; border-radius:6px; padding:6px 8px; }
  #totals b { display:block; font-size:18px; }
  #timeline { list-style:none; margin:0; padding:0; max-height:320px; overflow:auto; font-size:12px; }
  #timeline li { padding:3px 0; border-bottom:1px solid #222b36; }
  #timeline li .t { color:var(--dim); display:inline-block; width:70px; }
  #timeline li[data-type=injected] .k { color:var(--bad); } #timeline li[data-type=cleared] .k { color:var(--ok); }
  #timeline li[data-type=rollback] .k, #timeline li[data-type=uncorrectable] .k { color:var(--slow); }
  #timeline li[data-type=repair] .k, #timeline li[data-type=corrected] .k { color:var(--join); }
  #timeline li[data-type=crash] .k, #timeline li[data-type=exit] .k { color:var(--bad); }
  #conn { font-size:12px; } #conn.live { color:var(--ok); } #conn.lost { color:var(--bad); }
  .wide { grid-column: 1 / -1; }
</style>
</head>
<body>
<header>
  <h1>codenet testnet</h1>
  <span class="kv">phase <b id="phase">…</b></span>
  <span class="kv">step <b id="step">0</b></span>
  <span class="kv">loss <b id="loss">–</b></span>
  <span class="kv">test accuracy <b id="acc">–</b></span>
  <span class="kv">elapsed <b id="elapsed">0 s</b></span>
  <span id="conn">connecting…</span>
  <div id="progress" style="flex-basis:100%"><div></div></div>
</header>
<main>
  <section>
    <h2>Peers (<span id="npeers">0</span>)</h2>
    <div class="legend"><span><i style="background:var(--ok)"></i>online</span><span><i style="background:var(--join)"></i>joining</span><span><i style="background:var(--slow)"></i>straggling</span><span><i style="background:var(--bad)"></i>faulty</span><span><i style="background:var(--off)"></i>offline</span></div>
    <div id="peers"></div>
    <div id="totals"></div>
  </section>
  <section>
    <h2>Loss over steps</h2>
    <svg id="lossChart" viewBox="0 0 600 200" preserveAspectRatio="none"></svg>
    <h2 style="margin-top:10px">Accuracy over steps (train: line, test: dots)</h2>
    <svg id="accChart" viewBox="0 0 600 200" preserveAspectRatio="none"></svg>
    <div class="legend"><span><i style="background:var(--bad)"></i>fault injected</span><span><i style="background:var(--slow)"></i>rollback</span><span><i style="background:var(--join)"></i>repair</span></div>
  </section>
  <section class="wide">
    <h2>Timeline: faults injected, detected and corrected; rollbacks; repairs</h2>
    <ul id="timeline"></ul>
  </section>
</main>
<script>
(function () {
  var $ = function (id) { return document.getElementById(id) };
  var esc = function (s) { return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c] }) };
  var fmt = function (v, d) { return v === null || v === undefined || !isFinite(v) ? '–' : Number(v).toFixed(d) };
  var secs = function (ms) { var s = ms / 1000; return s < 60 ? s.toFixed(0) + ' s' : Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s' };
  var markColor = { injected: 'var(--bad)', crash: 'var(--bad)', rollback: 'var(--slow)', repair: 'var(--join)' };

  function chart(svg, lines, dots, events, maxStep, yMin, yMax) {
    var W = 600, H = 200, L = 36, B = 18, T = 6, R = 6;
    var xs = function (s) { return L + (W - L - R) * (maxStep > 0 ? s / maxStep : 0) };
    var ys = function (v) { return H - B - (H - B - T) * ((v - yMin) / ((yMax - yMin) || 1)) };
    var out = '';
    for (var i = 0; i <= 4; i++) {
      var v = yMin + (yMax - yMin) * i / 4, y = ys(v);
      out += '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + y + '" y2="' + y + '" stroke="#263040"/>';
      out += '<text x="2" y="' + (y + 3) + '">' + v.toFixed(2) + '</text>';
    }
    out += '<text x="' + L + '" y="' + (H - 4) + '">0</text><text x="' + (W - 40) + '" y="' + (H - 4) + '">step ' + maxStep + '</text>';
    events.forEach(function (e) {
      if (!markColor[e.type] || e.step === null) return;
      var x = xs(e.step);
      out += '<line class="mark" data-type="' + e.type + '" x1="' + x + '" x2="' + x + '" y1="' + T + '" y2="' + (H - B) + '" stroke="' + markColor[e.type] + '" stroke-dasharray="3,2" opacity=".8"/>';
    });
    lines.forEach(function (ln) {
      var pts = ln.points.filter(function (p) { return p[1] !== null && isFinite(p[1]) }).map(function (p) { return xs(p[0]).toFixed(1) + ',' + ys(Math.max(yMin, Math.min(yMax, p[1]))).toFixed(1) });
      if (pts.length > 1) out += '<polyline fill="none" stroke="' + ln.color + '" stroke-width="1.6" points="' + pts.join(' ') + '"/>';
    });
    dots.forEach(function (d) { out += '<circle cx="' + xs(d[0]) + '" cy="' + ys(d[1]) + '" r="3.5" fill="' + d[2] + '"/>' });
    svg.innerHTML = out;
  }

  function render(s) {
    var v = s.view || {}, peers = s.peers || [], totals = v.totals || {};
    $('phase').textContent = s.phase;
    $('step').textContent = (v.step || 0) + (v.totalSteps ? ' / ' + v.totalSteps : '');
    $('loss').textContent = fmt(v.loss, 4);
    $('acc').textContent = v.testAccuracy === null || v.testAccuracy === undefined ? '–' : (100 * v.testAccuracy).toFixed(2) + ' %';
    $('elapsed').textContent = secs(v.t || 0);
    $('progress').firstElementChild.style.width = (v.totalSteps ? Math.min(100, 100 * (v.step || 0) / v.totalSteps) : 0) + '%';
    $('npeers').textContent = peers.length;
    peers = peers.slice().sort(function (a, b) { return (a.index === null ? 1e9 + a.slot : a.index) - (b.index === null ? 1e9 + b.slot : b.index) });
    $('peers').innerHTML = peers.map(function (p) {
      var f = p.faults || {};
      var bits = [];
      if (f.injected) bits.push('injected ' + f.injected);
      if (f.flagged) bits.push('flagged ' + f.flagged);
      if (f.repaired) bits.push('repaired ' + f.repaired);
      if (f.missing) bits.push('missing ' + f.missing);
      if (f.framesDropped) bits.push('bad frames ' + f.framesDropped);
      if (p.restarts) bits.push('restarts ' + p.restarts);
      return '<div class="peer" data-state="' + esc(p.state) + '" data-index="' + esc(p.index === null ? '' : p.index) + '">' +
        '<div class="idx">' + (p.index === null ? 's' + esc(p.slot) : esc(p.index)) + '</div>' +
        '<div class="st">' + esc(p.state) + '</div>' +
        '<div class="small">step ' + esc(p.step === null ? '–' : p.step) + ' · loss ' + fmt(p.loss, 3) + '</div>' +
        (f.active && f.active.length ? '<div class="small" style="color:var(--bad)">' + esc(f.active.join(', ')) + '</div>' : '') +
        '<div class="small">' + esc(bits.join(' · ')) + '</div>' +
        '<div class="small">' + esc(p.peerId ? p.peerId.slice(0, 8) + '…' + p.peerId.slice(-6) : '') + '</div></div>';
    }).join('');
    var names = [['injected', 'injected'], ['detected', 'detected'], ['corrected', 'corrected'], ['uncorrectable', 'uncorrectable'], ['rollbacks', 'rollbacks'], ['repairs', 'repairs'], ['restarts', 'restarts']];
    $('totals').innerHTML = names.map(function (n) { return '<div id="total-' + n[0] + '"><b>' + (totals[n[0]] || 0) + '</b>' + n[1] + '</div>' }).join('');
    var series = v.series || [], acc = v.accuracy || [], events = v.events || [];
    // The x axis follows the run (up to its total), so early steps are not squeezed into a corner.
    var lastStep = series.length ? series[series.length - 1].step : 0;
    var maxStep = Math.max(1, Math.min(v.totalSteps || Infinity, Math.max(50, Math.ceil(lastStep * 1.15))));
    var losses = series.map(function (p) { return p.loss }).filter(function (x) { return x !== null && isFinite(x) });
    var lossMax = losses.length ? Math.max.apply(null, losses) : 1;
    chart($('lossChart'), [{ color: 'var(--join)', points: series.map(function (p) { return [p.step, p.loss] }) }], [], events, maxStep, 0, Math.max(0.1, lossMax * 1.05));
    chart($('accChart'), [{ color: 'var(--ok)', points: series.map(function (p) { return [p.step, p.trainAccuracy] }) }],
      acc.map(function (a) { return [a.step, a.testAccuracy, '#e6edf3'] }), events, maxStep, 0, 1);
    $('timeline').innerHTML = events.slice(-300).reverse().map(function (e) {
      return '<li class="event" data-type="' + esc(e.type) + '"><span class="t">' + secs(e.t) + '</span><span class="k">' + esc(e.type) + '</span> ' +
        (e.step !== null ? '<span class="t" style="width:auto">step ' + esc(e.step) + '</span> ' : '') + esc(e.detail) + '</li>';
    }).join('');
    document.body.setAttribute('data-ready', '1');
  }

  function connect() {
    var es = new EventSource('/events');
    es.onopen = function () { $('conn').textContent = 'live'; $('conn').className = 'live' };
    es.onmessage = function (m) { try { render(JSON.parse(m.data)) } catch (e) { console.error(e) } };
    es.onerror = function () { $('conn').textContent = 'reconnecting…'; $('conn').className = 'lost' };
  }
  fetch('/snapshot').then(function (r) { return r.json() }).then(render).catch(function () {});
  connect();
})();
</script>
</body>
</html>
`
