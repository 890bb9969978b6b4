// edge-sdk live viewer: draws what the device sends; sends nothing back but "ack" (frame shown).
'use strict';

const STAGES = ['preprocess', 'segment', 'postprocess', 'crop', 'classify', 'total', 'grab_to_result'];
const COLORS = { preprocess: '#8a96a3', segment: '#4aa3ff', postprocess: '#b184f0', crop: '#f08bc1',
                 classify: '#3ecf6a', total: '#e0b341', grab_to_result: '#e5534b' };
const KNOWN = ['fps', 'captured', 'processed', 'failed', 'dropped_at_source', 'dropped_in_runtime',
               'source_errors', 'discarded_at_stop', 'reconnects', 'stalls', 'latency_p50_ms', 'elapsed_s'];
const HISTORY = 120;  // chart points (two a second: one minute)

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token');
const feedUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws' +
  (token ? '?token=' + encodeURIComponent(token) : '');

// What the page has seen, readable from the console (and by the browser test).
const view = { framesReceived: 0, frameIndex: null, lastMeta: null, pageReconnects: 0, ended: false,
               series: Object.fromEntries(STAGES.map((s) => [s, []])), arrivals: [] };
window.edgeView = view;

function setStatus(status, text) {
  const el = $('status');
  el.dataset.status = status;
  el.textContent = text || status;
}

function fmt(value, digits) {
  if (value === null || value === undefined) return '–';
  if (typeof value === 'number') return Number.isInteger(value) && digits === undefined ? String(value) : value.toFixed(digits ?? 3);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function showInfo(info) {
  $('i-source').textContent = info.source ?? '–';
  $('i-backend').textContent = info.backend ?? '–';
  $('i-threads').textContent = info.threads ?? '–';
  const digest = info.bundle_digest ? ' @ ' + info.bundle_digest.slice(0, 12) : '';
  $('i-bundle').textContent = (info.bundle ?? '–') + digest;
  $('i-bundle').title = info.bundle_digest ?? '';
  $('i-smooth').textContent = info.smooth ? 'K = ' + info.smooth : 'off';
}

function showCounters(counters, ended) {
  for (const cell of document.querySelectorAll('#counters td[data-key]')) {
    const value = counters[cell.dataset.key];
    cell.dataset.value = value === undefined ? '' : JSON.stringify(value);
    cell.textContent = cell.dataset.key === 'fps' && typeof value === 'number' ? value.toFixed(1) : fmt(value);
  }
  const more = $('counters-more');
  more.replaceChildren();
  for (const [key, value] of Object.entries(counters)) {
    if (KNOWN.includes(key)) continue;  // e.g. a thread budget or IGTL counters, shown as given
    const row = more.insertRow(), name = document.createElement('th');
    name.textContent = key.replaceAll('_', ' ');
    row.append(name);
    const cell = row.insertCell();
    cell.colSpan = 3;
    cell.dataset.key = key;
    cell.dataset.value = JSON.stringify(value);
    cell.textContent = fmt(value);
  }
  $('counter-caption').textContent = ended ? 'final (the run’s summary)' : 'live';
}

function showViewer(v) {
  for (const key of ['published', 'encoded', 'skipped', 'withheld', 'browsers', 'cpu_s']) $('v-' + key).textContent = v[key] ?? '–';
  $('v-shown').textContent = view.framesReceived;
  $('v-page-reconnects').textContent = view.pageReconnects;
}

function showLesions(meta) {
  const body = $('lesions').tBodies[0];
  body.replaceChildren();
  const ids = meta.tracking ? meta.tracking.track_ids : [];
  meta.lesions.forEach((lesion, i) => {
    const row = body.insertRow();
    row.dataset.frame = meta.frame_index;
    const cells = [i + 1, lesion.bbox.join(','), lesion.area_px, lesion.seg_score.toFixed(3),
                   lesion.malignancy.toFixed(3), lesion.label, ids[i] ?? '–'];
    for (const text of cells) row.insertCell().textContent = text;
    row.cells[5].className = lesion.label;
  });
  const n = meta.lesions.length;
  $('lesion-caption').textContent = 'frame ' + meta.frame_index + ': ' +
    (n ? n + ' lesion' + (n > 1 ? 's' : '') : 'no lesion') +
    (meta.lesions_over_limit ? ' (+' + meta.lesions_over_limit + ' over the limit)' : '') +
    (meta.color_overlay ? ' · colour overlay in the image' : '');
  const tracking = $('tracking');
  tracking.hidden = !meta.tracking;
  if (meta.tracking) {
    tracking.textContent = 'smoothed: ' + n + ' confirmed (tracks ' + (ids.join(', ') || 'none') +
      '), ' + meta.tracking.pending + ' pending confirmation';
  }
  $('frame-index').textContent = meta.frame_index;
  $('frame-latency').textContent = 'pipeline ' + meta.latency_ms.total.toFixed(1) + ' ms · grab to result ' +
    meta.grab_to_result_ms.toFixed(1) + ' ms';
}

async function onFrame(buffer, ws) {
  const size = new DataView(buffer).getUint32(0);
  const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, size)));
  const blob = new Blob([new Uint8Array(buffer, 4 + size)], { type: 'image/jpeg' });
  try {
    const image = await createImageBitmap(blob);
    const canvas = $('frame');
    if (canvas.width !== image.width || canvas.height !== image.height) {
      canvas.width = image.width;
      canvas.height = image.height;
    }
    canvas.getContext('2d').drawImage(image, 0, 0);
    image.close();
  } catch (error) {
    console.warn('edge-sdk viewer: a frame could not be decoded', error);
  }
  showLesions(meta);
  view.lastMeta = meta;
  view.frameIndex = meta.frame_index;
  view.framesReceived += 1;
  $('frames-received').textContent = view.framesReceived;
  const now = performance.now();
  view.arrivals.push(now);
  while (view.arrivals.length && now - view.arrivals[0] > 2000) view.arrivals.shift();
  const span = (view.arrivals.at(-1) - view.arrivals[0]) / 1000;
  $('viewer-fps').textContent = (span > 0 ? (view.arrivals.length - 1) / span : 0).toFixed(1);
  if (ws.readyState === WebSocket.OPEN) ws.send('ack');  // ready for the next frame
}

function showLatency(latency, histograms) {
  const body = $('latency').tBodies[0];
  body.replaceChildren();
  for (const stage of STAGES) {
    const p = latency[stage];
    if (!p) continue;
    const row = body.insertRow();
    row.dataset.stage = stage;
    for (const text of [stage.replaceAll('_', ' '), p.p50.toFixed(2), p.p99.toFixed(2)]) row.insertCell().textContent = text;
    row.cells[0].style.color = COLORS[stage];
    const series = view.series[stage];
    series.push([p.p50, p.p99]);
    if (series.length > HISTORY) series.shift();
    $('window-n').textContent = p.n;
  }
  drawChart();
  view.histograms = histograms;
  drawHistogram();
}

function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width, height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = '11px system-ui, sans-serif';
  return [ctx, width, height];
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= value) return m * step;
  return 10 * step;
}

function axes(ctx, left, top, width, height, maxY, label) {
  ctx.strokeStyle = '#2c333c';
  ctx.fillStyle = '#8a96a3';
  for (let i = 0; i <= 4; i++) {
    const y = top + height - (i / 4) * height;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + width, y); ctx.stroke();
    const value = maxY * i / 4;
    ctx.fillText(Number.isInteger(value) || maxY >= 20 ? value.toFixed(0) : value.toFixed(1), 4, y + 4);
  }
  if (label) ctx.fillText(label, left + width - ctx.measureText(label).width, top + height + 14);
}

function drawChart() {
  const [ctx, w, h] = prepare($('chart'));
  const left = 40, top = 8, width = w - left - 8, height = h - top - 22;
  let maxY = 0;
  for (const stage of STAGES) for (const [, p99] of view.series[stage]) maxY = Math.max(maxY, p99);
  maxY = niceMax(maxY);
  axes(ctx, left, top, width, height, maxY, 'last ' + HISTORY / 2 + ' s');
  for (const stage of STAGES) {
    const series = view.series[stage];
    for (const [which, dash] of [[0, []], [1, [4, 3]]]) {
      ctx.strokeStyle = COLORS[stage];
      ctx.setLineDash(dash);
      ctx.lineWidth = which ? 1 : 1.6;
      ctx.beginPath();
      series.forEach((point, i) => {
        const x = left + width * (i + HISTORY - series.length) / (HISTORY - 1);
        const y = top + height - (point[which] / maxY) * height;
        if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      });
      ctx.stroke();
    }
  }
  ctx.setLineDash([]);
}

function drawHistogram() {
  const [ctx, w, h] = prepare($('hist'));
  const histogram = view.histograms && view.histograms[$('hist-stage').value];
  if (!histogram) return;
  const left = 40, top = 8, width = w - left - 8, height = h - top - 22;
  const maxY = Math.max(4, Math.ceil(Math.max(...histogram.counts) / 4) * 4);  // whole counts
  axes(ctx, left, top, width, height, maxY, null);
  const n = histogram.counts.length, bar = width / n;
  ctx.fillStyle = COLORS[$('hist-stage').value];
  histogram.counts.forEach((count, i) => {
    const barHeight = (count / maxY) * height;
    ctx.fillRect(left + i * bar + 1, top + height - barHeight, Math.max(1, bar - 2), barHeight);
  });
  ctx.fillStyle = '#8a96a3';
  const first = histogram.edges[0].toFixed(1) + ' ms', last = histogram.edges[n].toFixed(1) + ' ms';
  ctx.fillText(first, left, top + height + 14);
  ctx.fillText(last, left + width - ctx.measureText(last).width, top + height + 14);
}

function onMessage(message) {
  if (message.type === 'hello') {
    showInfo(message.info || {});
    setStatus('live');
  }
  const state = message.type === 'hello' ? message.state : message;
  if (!state || !state.counters) return;
  if (message.type === 'end') {
    view.ended = true;
    setStatus('ended', 'stream ended');
  }
  showCounters(state.counters, view.ended || state.ended);
  showViewer(state.viewer);
  if (message.type !== 'hello') showLatency(state.latency, state.histograms);
}

function connect() {
  const ws = new WebSocket(feedUrl);
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (event) => {
    if (typeof event.data === 'string') onMessage(JSON.parse(event.data));
    else onFrame(event.data, ws);
  };
  ws.onclose = () => {
    if (view.ended) return;
    setStatus('disconnected', 'disconnected: retrying');
    view.pageReconnects += 1;
    setTimeout(connect, 1000);
  };
}

function init() {
  const select = $('hist-stage');
  for (const stage of STAGES) select.add(new Option(stage.replaceAll('_', ' '), stage, false, stage === 'total'));
  select.addEventListener('change', drawHistogram);
  for (const stage of STAGES) {  // built node by node: the page's policy allows no inline style
    const item = document.createElement('span'), swatch = document.createElement('i');
    swatch.style.background = COLORS[stage];
    item.append(swatch, stage.replaceAll('_', ' '));
    $('legend').append(item);
  }
  connect();
}

init();
