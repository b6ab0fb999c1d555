/* nnviz interactive viewer. Plain ES2020, no libraries, no network, no code from strings,
   no HTML parsing of data:
   model strings only ever reach the page through textContent or canvas fillText.
   Geometry is precomputed in Python: one layout per group ("view"); opening a group switches
   to its view. Drawing is on a canvas, culled to the visible rectangle, with level of detail
   (no text when too small to read, a cached bitmap when the whole view is on screen). */
(function () {
  'use strict';

  performance.mark('nnviz-start');
  var holder = document.getElementById('nnviz-data');
  loadData(holder.textContent, holder.getAttribute('data-encoding')).then(function (D) {
    performance.mark('nnviz-parsed');
    main(D);
  }).catch(function (err) {
    // No half-working page: say what is missing, in the page itself.
    var st = document.getElementById('status');
    st.textContent = 'This page cannot be shown: ' + (err && err.message ? err.message : String(err));
    st.className = 'fatal';
    document.documentElement.setAttribute('data-error', '1');
  });

  // ---- page data (nnviz/viewer/payload.py) ----------------------------------------------------
  // base64 of [u32 header length | header JSON | pad to 4 | integer columns], deflated unless the
  // page was written with compress=False; inflated by the browser's own DecompressionStream.
  function loadData(text, encoding) {
    var bin = atob(text.trim()), n = bin.length, bytes = new Uint8Array(n);
    for (var i = 0; i < n; i++) bytes[i] = bin.charCodeAt(i);
    performance.mark('nnviz-base64');
    if (encoding === 'base64') return Promise.resolve(unpack(bytes.buffer));
    if (encoding !== 'deflate-base64') return Promise.reject(new Error('unknown data encoding "' + encoding + '".'));
    if (typeof DecompressionStream === 'undefined' || typeof Response === 'undefined') {
      return Promise.reject(new Error('this browser has no DecompressionStream to unpack the model data. ' +
        'Open it in a current browser (Chrome/Edge 80+, Firefox 113+, Safari 16.4+), or write the page ' +
        'uncompressed (nnviz.draw(..., compress=False)).'));
    }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
    return new Response(stream).arrayBuffer().then(unpack);
  }
  function unpack(buf) {
    performance.mark('nnviz-inflated');
    var size = new DataView(buf).getUint32(0, true);
    var head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, size)));
    performance.mark('nnviz-header');
    var start = 4 + size + (4 - (4 + size) % 4) % 4;
    return expand(head, buf, start);
  }
  // Columns become typed-array views; tables of distinct dicts are looked up; per view, the
  // offsets of its slices (a view with "s" draws with the geometry of view s).
  function expand(D, buf, start) {
    var cols = D.cols;
    function col(name) {
      // [byte offset, length, bytes per value]; typed arrays are little-endian on every
      // platform browsers run on, as written
      var c = cols[name];
      if (!c) return new Int32Array(0);
      var Type = c[2] === 1 ? Int8Array : c[2] === 2 ? Int16Array : Int32Array;
      return new Type(buf, start + c[0], c[1]);
    }
    function offsets(name) {  // per-node counts -> prefix sums (slices are cut on demand)
      var cnt = col(name), o = new Int32Array(cnt.length + 1);
      for (var i = 0; i < cnt.length; i++) o[i + 1] = o[i] + cnt[i];
      return o;
    }
    function records(t, prefix) {
      // same-keyed dicts as columns (payload.py _records), back to one object per row
      if (t.rows) return t.rows;
      var vals = {}, out = new Array(t.n);
      t.cols.forEach(function (k) { vals[k] = col(prefix + k); });
      Object.keys(t.json).forEach(function (k) { vals[k] = t.json[k]; });
      if (t.dict) vals[t.dict] = table(vals[t.dict]);
      for (var i = 0; i < t.n; i++) {
        var o = out[i] = {};
        for (var j = 0; j < t.keys.length; j++) o[t.keys[j]] = vals[t.keys[j]][i];
      }
      return out;
    }
    function table(idx) {
      var out = new Array(idx.length);
      for (var i = 0; i < idx.length; i++) out[i] = idx[i] < 0 ? 0 : D.dicts[idx[i]];
      return out;
    }
    var T = D.tensors, N = D.nodes;
    T.shape = col('t.shape'); T.dtype = col('t.dtype'); T.producer = col('t.producer');
    N.op = col('n.op'); N.kind = col('n.kind'); N.group = col('n.group'); N.scope = col('n.scope');
    N.inFlat = col('n.inputs'); N.inOff = offsets('n.inputs.n');
    N.outFlat = col('n.outputs'); N.outOff = offsets('n.outputs.n');
    N.meta = table(col('n.meta')); N.attrs = table(col('n.attrs'));
    N.id = new Array(N.name.length).fill(null);
    N.ids.forEach(function (p) { N.id[p[0]] = p[1]; });
    // parameters (name, shape, dtype, count) of node i: pOff[i] .. pOff[i + 1]
    N.pOff = offsets('n.params.n'); N.pShape = col('p.shape'); N.pDtype = col('p.dtype');
    N.pCount = N.pcount || col('p.count');
    D.groups = records(D.groups, 'g.');
    var C = D.col = {};
    ['b.type', 'b.x', 'b.y', 'b.w', 'b.h', 'b.ref', 'e.src', 'e.dst', 'e.count', 'e.delta', 'e.tensor',
      'f.x', 'f.y', 'f.w', 'f.h', 'f.tx', 'f.tw', 'l.box', 'l.n', 'l.text', 'l.style'].forEach(function (k) { C[k] = col(k); });
    var gb = 0, ge = 0, gp = 0, gf = 0, rb = 0, re = 0, lb = 0, lt = 0;
    D.views.forEach(function (v) {
      var o = v.s === undefined ? null : D.views[v.s];
      if (o) { v.gb = o.gb; v.ge = o.ge; v.gp = o.gp; v.gf = o.gf; v.sp = o.sp; v.fl = o.fl; }
      else {
        v.gb = gb; v.ge = ge; v.gp = gp; v.gf = gf;
        gb += v.nb; gf += v.fl ? v.fl.length : 0;
        for (var j = 0; j < v.ne; j++) gp += 2 * C['e.count'][ge + j];
        ge += v.ne;
      }
      v.rb = rb; v.re = re; rb += v.nb; re += v.ne;
      // box lines: nl boxes from lb in l.box/l.n, their lines from lt in l.text/l.style
      v.lb = lb; v.lt = lt;
      for (var q = 0; q < (v.nl || 0); q++) lt += C['l.n'][lb + q];
      lb += v.nl || 0;
    });
    return D;
  }

  // The viewer proper: everything below runs once the data is unpacked. (Not re-indented, to
  // keep its history readable.)
  function main(D) {
  var N = D.nodes, T = D.tensors, G = D.groups, V = D.views;
  var NN = N.name.length, NT = T.id.length;
  (function decode() {
    // Names come front-coded ([shared prefix length, rest]); exporter-style tensor ids come
    // as [suffix] of their producer's name (see nnviz/render/html.py).
    var prev = '', i, x;
    for (i = 0; i < NN; i++) {
      x = N.name[i];
      if (typeof x !== 'string') N.name[i] = x = prev.slice(0, x[0]) + x[1];
      prev = x;
    }
    for (i = 0; i < NT; i++) {
      x = T.id[i];
      if (typeof x !== 'string') T.id[i] = N.name[T.producer[i]] + x[0];
    }
  })();
  var FONT = 'nnviz-dejavu, "DejaVu Sans", "Verdana", sans-serif';
  var MET = D.metrics;
  var theme = D.theme;

  var $ = function (id) { return document.getElementById(id); };
  var canvas = $('canvas'), ctx = canvas.getContext('2d');
  var mini = $('minimap'), mctx = mini.getContext('2d');
  var stage = $('stage');

  // ---- state -------------------------------------------------------------------------------
  var cur = null;            // the prepared current view
  var s = 1, tx = 0, ty = 0; // screen = world * s + t   (CSS px)
  var W = 1, H = 1, dpr = 1;
  var sel = null;            // {t: 'node'|'group'|'tensor', i}
  var hi = null;             // {tensor, boxes: Set, edges: Set} for the highlighted tensor
  var prepared = [];
  var frameTimes = [];
  var firstFrame = 0;
  // colour-by (nnviz.values): the page's numbers per node, the viridis ramp, flagged layers
  var VAL = D.values || {metrics: []};
  var VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];
  var FLAG = '#d1005f';
  var tint = null, tintText = null, colorKey = 'kind';
  var flagged = new Map();
  (VAL.flags || []).forEach(function (f) { flagged.set(f[0], f[1]); });

  // ---- small helpers -----------------------------------------------------------------------
  function el(tag, props) {
    var e = document.createElement(tag);
    if (props) {
      for (var k in props) {
        if (k === 'text') e.textContent = props[k];
        else if (k === 'cls') e.className = props[k];
        else if (k === 'on') e.addEventListener('click', props[k]);
        else e[k] = props[k];
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }
  function human(n) {
    var u = [['T', 1e12], ['B', 1e9], ['M', 1e6], ['K', 1e3]];
    for (var i = 0; i < u.length; i++) if (n >= u[i][1]) return (n / u[i][1]).toFixed(1) + u[i][0];
    return String(n);
  }
  function full(n) { return Number(n).toLocaleString('en-US'); }
  function shapeOf(t) { var k = T.shape[t]; return k < 0 ? '?' : D.shapes[k]; }
  function dtypeOf(t) { var k = T.dtype[t]; return k < 0 ? '' : D.dtypes[k]; }
  function opOf(i) { return D.ops[N.op[i]]; }
  function kindOf(i) { return D.kinds[N.kind[i]]; }
  function nodeId(i) { return N.id[i] === null ? N.name[i] : N.id[i]; }
  function groupPath(g) {
    var p = [];
    for (; g > 0; g = G[g].parent) p.push(g);
    return p.reverse();
  }
  function pathText(g) { return groupPath(g).map(function (k) { return G[k].label; }).join(' / '); }
  function isAncestor(a, g) { for (; g >= 0; g = G[g].parent) if (g === a) return true; return false; }
  var consumers = null;
  function consumersOf(t) {
    if (!consumers) {
      consumers = new Array(NT);
      for (var i = 0; i < NN; i++) {
        for (var j = N.inOff[i]; j < N.inOff[i + 1]; j++) {
          var c = consumers[N.inFlat[j]] || (consumers[N.inFlat[j]] = []);
          if (c[c.length - 1] !== i) c.push(i);
        }
      }
    }
    return consumers[t] || [];
  }
  // A node's tensors and parameters, cut from the page's columns when asked for (not at start).
  function insOf(i) { return N.inFlat.subarray(N.inOff[i], N.inOff[i + 1]); }
  function outsOf(i) { return N.outFlat.subarray(N.outOff[i], N.outOff[i + 1]); }
  function paramsOf(i) {  // [[name, shape, dtype, count or null], ...] or 0
    var out = [];
    for (var k = N.pOff[i]; k < N.pOff[i + 1]; k++) {
      var c = N.pCount[k];
      out.push([N.pname[k], N.pShape[k], N.pDtype[k], c === null || c < 0 ? null : c]);
    }
    return out.length ? out : 0;
  }
  function paramCount(i) {
    var n = 0;
    for (var k = N.pOff[i]; k < N.pOff[i + 1]; k++) n += N.pCount[k] > 0 ? N.pCount[k] : 0;
    return n;
  }
  function fontPx(style) { return style === 0 ? theme.font.title_size : theme.font.size; }
  function fontSpec(style, size) { return (style === 0 ? 'bold ' : '') + size + 'px ' + FONT; }
  function lineHeight(size) { return (MET.ascent - MET.descent) * size / MET.upm; }
  function ascent(size) { return MET.ascent * size / MET.upm; }

  // The lines of a real node's box, as nnviz/layout/labels.py writes them (Python embeds the
  // lines of any box where they would differ).
  function nodeLines(i) {
    var meta = N.meta[i] || {};
    var op = opOf(i), out = [[op + (meta.repeat ? ' \u00d7' + meta.repeat : ''), 0]];
    if (N.name[i] && N.name[i] !== op) out.push([N.name[i], 1]);
    var shapes = [], outs = outsOf(i), ins = insOf(i);
    for (var j = 0; j < outs.length && j < 2; j++) if (T.shape[outs[j]] >= 0) shapes.push(shapeOf(outs[j]));
    if (shapes.length) out.push([shapes.join(' '), 2]);
    if (kindOf(i) === 'io' && !shapes.length && ins.length && T.shape[ins[0]] >= 0) {
      out.push([shapeOf(ins[0]), 2]);
    }
    var c = paramCount(i);
    if (c) out.push(['params: ' + human(c), 2]);
    return out;
  }

  var measureCtx = document.createElement('canvas').getContext('2d');
  var fitCache = new Map();
  function fitText(text, style, maxw, size) {
    size = size || fontPx(style);
    var key = style + '\u0001' + maxw + '\u0001' + size + '\u0001' + text;
    var r = fitCache.get(key);
    if (r !== undefined) return r;
    measureCtx.font = fontSpec(style, size);
    r = text;
    if (measureCtx.measureText(text).width > maxw + 0.5) {
      var lo = 0, hi2 = text.length;
      while (lo < hi2) {
        var mid = (lo + hi2 + 1) >> 1;
        if (measureCtx.measureText(text.slice(0, mid) + '\u2026').width <= maxw + 0.5) lo = mid;
        else hi2 = mid - 1;
      }
      r = text.slice(0, lo) + '\u2026';
    }
    if (fitCache.size > 200000) fitCache.clear();
    fitCache.set(key, r);
    return r;
  }

  // ---- views -------------------------------------------------------------------------------
  function prep(vi) {
    if (prepared[vi]) return prepared[vi];
    // Slices of the page's columns (see expand): geometry at the geometry owner's offsets
    // (gb/ge/gp/gf), this view's own box refs and edge tensors at rb/re.
    var v = V[vi], C = D.col, n = v.nb, ne = v.ne, nf = v.fg ? v.fg.length : 0;
    var cnt = C['e.count'], dl = C['e.delta'];
    // Edge points come as per-edge counts and deltas: rebuild offsets and absolute points.
    var np = 0;
    for (var j0 = 0; j0 < ne; j0++) np += 2 * cnt[v.ge + j0];
    var off = new Int32Array(ne + 1), pts = new Float64Array(np);
    var q0 = 0, d0 = v.gp;
    for (j0 = 0; j0 < ne; j0++) {
      off[j0] = q0;
      var ax = 0, ay = 0;
      for (var c0 = 0; c0 < cnt[v.ge + j0]; c0++, q0 += 2) {
        ax += dl[d0 + q0]; ay += dl[d0 + q0 + 1];
        pts[q0] = ax; pts[q0 + 1] = ay;
      }
    }
    off[ne] = q0;
    var lines = {}, LT = D.texts, ls = C['l.style'], lx = C['l.text'];
    for (var l0 = 0, t0 = v.lt; l0 < (v.nl || 0); l0++) {
      var L0 = lines[C['l.box'][v.lb + l0]] = [];
      for (var m0 = C['l.n'][v.lb + l0]; m0 > 0; m0--, t0++) L0.push([LT[lx[t0]], ls[t0]]);
    }
    var P = {
      vi: vi, w: v.w, h: v.h, n: n, type: C['b.type'].subarray(v.gb, v.gb + n),
      ref: C['b.ref'].subarray(v.rb, v.rb + n),
      x: tenths(C['b.x'], v.gb, n), y: tenths(C['b.y'], v.gb, n), bw: tenths(C['b.w'], v.gb, n),
      bh: tenths(C['b.h'], v.gb, n), lines: new Array(n), kind: new Array(n),
      nodeBox: new Map(), groupBox: new Map(), proxyBox: [],
      ne: ne, src: C['e.src'].subarray(v.ge, v.ge + ne), dst: C['e.dst'].subarray(v.ge, v.ge + ne),
      et: C['e.tensor'].subarray(v.re, v.re + ne), off: off, pts: pts,
      spline: new Set(v.sp || []), ex0: new Float64Array(ne), ey0: new Float64Array(ne),
      ex1: new Float64Array(ne), ey1: new Float64Array(ne), buckets: null, cache: null,
      miniCache: null, real: 0,
      // frames of the groups drawn open in this view (outermost first)
      nf: nf, fg: v.fg || [], fl: v.fl || [], fx: tenths(C['f.x'], v.gf, nf),
      fy: tenths(C['f.y'], v.gf, nf), fw: tenths(C['f.w'], v.gf, nf), fh: tenths(C['f.h'], v.gf, nf),
      // each title's patch: left x and width (the spot no edge crosses, as in the SVG)
      ftx: tenths(C['f.tx'], v.gf, nf), ftw: tenths(C['f.tw'], v.gf, nf),
      frameOf: new Map(), embedded: lines
    };
    for (var f0 = 0; f0 < P.nf; f0++) P.frameOf.set(P.fg[f0], f0);
    for (var i = 0; i < n; i++) {
      var t = P.type[i], r = P.ref[i];
      if (t === 0) { P.nodeBox.set(r, i); P.kind[i] = kindOf(r); P.real++; }
      else if (t === 1) { P.groupBox.set(r, i); P.kind[i] = 'group'; P.real++; }
      else if (t === 4) P.kind[i] = 'io';  // reference stub of a high-fan-out input
      else { P.proxyBox.push(i); P.kind[i] = 'io'; }
      var L = lines[i];
      if (L) P.lines[i] = L;  // real nodes' lines are derived when first drawn (linesOf)
      else if (t !== 0) P.lines[i] = [];
    }
    var buckets = new Map();
    for (i = 0; i < n; i++) {
      var k = P.type[i] >= 2 ? '\u0000proxy' : P.kind[i];
      if (!buckets.has(k)) buckets.set(k, []);
      buckets.get(k).push(i);
    }
    P.buckets = Array.from(buckets.entries()).sort(function (a, c) { return a[0] < c[0] ? -1 : 1; });
    for (var j = 0; j < ne; j++) {
      var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (var q = off[j]; q < off[j + 1]; q += 2) {
        var px = P.pts[q], py = P.pts[q + 1];
        if (px < x0) x0 = px; if (px > x1) x1 = px; if (py < y0) y0 = py; if (py > y1) y1 = py;
      }
      P.ex0[j] = x0; P.ey0[j] = y0; P.ex1[j] = x1; P.ey1[j] = y1;
    }
    prepared[vi] = P;
    return P;
  }

  function tenths(c, at, n) {
    var out = new Float64Array(n);
    for (var i = 0; i < n; i++) out[i] = c[at + i] / 10;
    return out;
  }
  function linesOf(P, i) {
    var L = P.lines[i];
    if (L === undefined) L = P.lines[i] = nodeLines(P.ref[i]);
    return L;
  }

  function trivial(vi) {
    // A view that only holds one child group (plus border proxies) is skipped when opening.
    var P = prep(vi);
    return P.real === 1 && P.groupBox.size === 1;
  }

  // ---- drawing -----------------------------------------------------------------------------
  function kindStyle(k) { return theme.kinds[k] || theme.kinds.other; }

  function drawScene(c, P, sc, X0, Y0, X1, Y1, forExport) {
    var i, j, q, k;
    var ed = theme.edge, nd = theme.node, gt = theme.group;
    // Frames of open groups, under everything else.
    if (P.nf) {
      c.fillStyle = gt.fill; c.strokeStyle = gt.stroke;
      c.lineWidth = Math.max(gt.stroke_width, 0.8 / sc);
      for (i = 0; i < P.nf; i++) {
        if (P.fx[i] > X1 || P.fx[i] + P.fw[i] < X0 || P.fy[i] > Y1 || P.fy[i] + P.fh[i] < Y0) continue;
        c.beginPath();
        rect(c, P.fx[i], P.fy[i], P.fw[i], P.fh[i], sc * 8 >= 2 ? gt.radius : 0);
        c.fill();
        c.stroke();
      }
      if (gt.label_size * sc >= 4.5) {
        c.font = fontSpec(1, gt.label_size);
        c.fillStyle = gt.label_color;
        c.textAlign = 'left';
        c.textBaseline = 'alphabetic';
        for (i = 0; i < P.nf; i++) {
          if (P.fx[i] > X1 || P.fx[i] + P.fw[i] < X0 || P.fy[i] > Y1 || P.fy[i] + P.fh[i] < Y0) continue;
          // a title wider than its frame's content comes on two lines ('\n' between them)
          var tl = P.fl[i].split('\n');
          for (var q = 0; q < tl.length; q++) {
            c.fillText(fitText(tl[q], 1, P.ftw[i] - 2, gt.label_size), P.ftx[i] + 2,
              P.fy[i] + ascent(gt.label_size) + 4 + q * lineHeight(gt.label_size));
          }
        }
      }
    }
    // Edges: one batched path.
    // Preallocated index buffers: no garbage per frame, so no GC pauses while panning.
    var visE = P.visE || (P.visE = new Int32Array(P.ne)), nE = 0;
    for (j = 0; j < P.ne; j++) {
      if (P.ex1[j] < X0 || P.ex0[j] > X1 || P.ey1[j] < Y0 || P.ey0[j] > Y1) continue;
      visE[nE++] = j;
    }
    c.lineWidth = Math.max(ed.width, 0.9 / sc);
    c.strokeStyle = ed.stroke;
    c.lineJoin = 'round';
    c.beginPath();
    for (k = 0; k < nE; k++) traceEdge(c, P, visE[k]);
    c.stroke();
    var arrow = ed.arrow_size;
    if (arrow * sc >= 2.5) {
      c.fillStyle = ed.stroke;
      c.beginPath();
      for (k = 0; k < nE; k++) traceArrow(c, P, visE[k], arrow);
      c.fill();
    }
    // Boxes, batched per kind colour.
    var boxStroke = sc * 12 >= 3, round = sc * 8 >= 2;
    var visB = P.visB || (P.visB = new Int32Array(P.n)), nB = 0;
    for (var bi = 0; bi < P.buckets.length; bi++) {
      var key = P.buckets[bi][0], list = P.buckets[bi][1];
      var proxy = key === '\u0000proxy';
      var st = kindStyle(proxy ? 'io' : key);
      var isGroup = key === 'group';
      if (isGroup) {
        // A stacked card behind each group box says "this opens".
        c.beginPath();
        for (q = 0; q < list.length; q++) {
          i = list[q];
          if (!inView(P, i, X0, Y0, X1, Y1)) continue;
          rect(c, P.x[i] + 4, P.y[i] + 4, P.bw[i], P.bh[i], round ? nd.radius : 0);
        }
        c.fillStyle = st.fill; c.fill();
        if (boxStroke) { c.lineWidth = Math.max(nd.stroke_width, 0.8 / sc); c.strokeStyle = st.stroke || nd.stroke; c.stroke(); }
      }
      c.beginPath();
      for (q = 0; q < list.length; q++) {
        i = list[q];
        if (!inView(P, i, X0, Y0, X1, Y1)) continue;
        visB[nB++] = i;
        rect(c, P.x[i], P.y[i], P.bw[i], P.bh[i], round ? (proxy ? P.bh[i] / 2 : nd.radius) : 0);
      }
      // Too small for outlines: fill with the kind's stroke colour so kinds stay visible.
      c.fillStyle = boxStroke ? st.fill : (st.stroke || st.fill);
      c.fill();
      if (boxStroke) {
        c.lineWidth = Math.max(isGroup ? nd.stroke_width * 1.6 : nd.stroke_width, 0.8 / sc);
        c.strokeStyle = st.stroke || nd.stroke;
        if (proxy) c.setLineDash([3, 2]);
        c.stroke();
        if (proxy) c.setLineDash([]);
      }
    }
    // Colour by a value (nnviz.values, params, FLOPs): each tinted box repainted on its own;
    // flagged layers outlined.
    if (tint || flagged.size) {
      for (q = 0; q < nB; q++) {
        i = visB[q];
        if (P.type[i] !== 0) continue;
        var rr = P.ref[i], col = tint ? tint[rr] : null;
        if (col) {
          c.beginPath(); rect(c, P.x[i], P.y[i], P.bw[i], P.bh[i], round ? nd.radius : 0);
          c.fillStyle = col; c.fill();
          if (boxStroke) { c.lineWidth = Math.max(nd.stroke_width, 0.8 / sc); c.strokeStyle = kindStyle(P.kind[i]).stroke || nd.stroke; c.stroke(); }
        }
        if (flagged.has(rr)) {
          c.beginPath(); rect(c, P.x[i], P.y[i], P.bw[i], P.bh[i], round ? nd.radius : 0);
          c.lineWidth = Math.max(3, 1.5 / sc); c.strokeStyle = FLAG; c.stroke();
        }
      }
    }
    // Text, only when readable; grouped by style so the font is set three times per frame.
    if (theme.font.size * sc >= 4.5 || forExport) {
      c.textAlign = 'center';
      c.textBaseline = 'alphabetic';
      var pad = nd.padding_x, gap = nd.line_gap;
      for (var style = 0; style < 3; style++) {
        var size = fontPx(style);
        c.font = fontSpec(style, size);
        var baseFill = style === 2 ? (theme.font.muted || theme.font.color) : theme.font.color;
        c.fillStyle = baseFill;
        for (q = 0; q < nB; q++) {
          i = visB[q];
          var L = linesOf(P, i);
          if (!L.length) continue;
          if (tint) c.fillStyle = (P.type[i] === 0 && tintText[P.ref[i]]) || baseFill;
          var total = 0;
          for (k = 0; k < L.length; k++) total += lineHeight(fontPx(L[k][1]));
          total += gap * (L.length - 1);
          var y = P.y[i] + (P.bh[i] - total) / 2;
          for (k = 0; k < L.length; k++) {
            var sz = fontPx(L[k][1]);
            if (L[k][1] === style) {
              c.fillText(fitText(L[k][0], style, P.bw[i] - 2 * pad), P.x[i] + P.bw[i] / 2, y + ascent(sz));
            }
            y += lineHeight(sz) + gap;
          }
        }
      }
    } else if (sc * 30 * 0.5 >= 5) {
      // Medium zoom: the details are unreadable, so each box shows only its title, enlarged
      // to the box height (a 36% view still says MatMul / Softmax / layers.3).
      c.textAlign = 'center';
      c.textBaseline = 'middle';
      c.fillStyle = theme.font.color;
      var lastSize = 0;
      for (q = 0; q < nB; q++) {
        i = visB[q];
        var T0 = linesOf(P, i)[0];
        if (!T0) continue;
        var fs = Math.min(Math.round(P.bh[i] * 0.5), 28);
        if (fs * sc < 5) continue;
        if (fs !== lastSize) { c.font = fontSpec(0, fs); lastSize = fs; }
        c.fillText(fitText(T0[0], 0, P.bw[i] - 8, fs), P.x[i] + P.bw[i] / 2, P.y[i] + P.bh[i] / 2);
      }
    }
  }

  function inView(P, i, X0, Y0, X1, Y1) {
    return !(P.x[i] > X1 || P.x[i] + P.bw[i] + 4 < X0 || P.y[i] > Y1 || P.y[i] + P.bh[i] + 4 < Y0);
  }
  function rect(c, x, y, w, h, r) {
    if (r > 0 && c.roundRect) c.roundRect(x, y, w, h, Math.min(r, w / 2, h / 2));
    else c.rect(x, y, w, h);
  }
  function traceEdge(c, P, j) {
    var a = P.off[j], b = P.off[j + 1], p = P.pts;
    c.moveTo(p[a], p[a + 1]);
    if (P.spline.has(j)) {
      for (var q = a + 2; q + 5 < b + 1; q += 6) c.bezierCurveTo(p[q], p[q + 1], p[q + 2], p[q + 3], p[q + 4], p[q + 5]);
    } else {
      for (q = a + 2; q < b; q += 2) c.lineTo(p[q], p[q + 1]);
    }
  }
  function traceArrow(c, P, j, size) {
    var b = P.off[j + 1], p = P.pts;
    var x = p[b - 2], y = p[b - 1], px = p[b - 4], py = p[b - 3];
    var dx = x - px, dy = y - py, len = Math.hypot(dx, dy) || 1;
    dx /= len; dy /= len;
    c.moveTo(x, y);
    c.lineTo(x - dx * size - dy * size * 0.45, y - dy * size + dx * size * 0.45);
    c.lineTo(x - dx * size + dy * size * 0.45, y - dy * size - dx * size * 0.45);
    c.closePath();
  }

  // A bitmap of the whole view, used whenever the whole view (or most of it) is on screen:
  // a zoomed-out frame of a 50k-box view is then one drawImage.
  function overviewScale(P) {
    return Math.min(1, 4096 / Math.max(P.w, P.h), Math.sqrt(16e6 / (P.w * P.h)));
  }
  function overview(P) {
    if (P.cache !== null) return P.cache;
    P.cache = false;
    if (P.n + P.ne < 1500) return false;
    var sc = overviewScale(P);
    var oc = document.createElement('canvas');
    oc.width = Math.max(1, Math.ceil(P.w * sc));
    oc.height = Math.max(1, Math.ceil(P.h * sc));
    var c = oc.getContext('2d');
    c.fillStyle = theme.background;
    c.fillRect(0, 0, oc.width, oc.height);
    c.setTransform(sc, 0, 0, sc, 0, 0);
    drawScene(c, P, sc, 0, 0, P.w, P.h, false);
    P.cache = {canvas: oc, scale: sc};
    return P.cache;
  }

  function draw() {
    var t0 = performance.now();
    var P = cur;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = theme.background;
    ctx.fillRect(0, 0, W, H);
    var X0 = -tx / s, Y0 = -ty / s, X1 = (W - tx) / s, Y1 = (H - ty) / s;
    // The bitmap is only built when this frame needs it (zoomed far out), so opening a huge
    // view zoomed in does not pay for drawing all of it first.
    var ov = (P.cache !== null || s <= overviewScale(P) * 1.3) ? overview(P) : false;
    if (ov && s <= ov.scale * 1.3) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(ov.canvas, tx, ty, ov.canvas.width / ov.scale * s, ov.canvas.height / ov.scale * s);
      ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * tx, dpr * ty);
    } else {
      ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * tx, dpr * ty);
      drawScene(ctx, P, s, X0, Y0, X1, Y1, false);
    }
    drawHighlights(ctx, P, s);
    drawMinimap();
    var dt = performance.now() - t0;
    frameTimes.push(dt);
    if (frameTimes.length > 240) frameTimes.shift();
    if (!firstFrame) {
      firstFrame = performance.now();
      window.__nnvizFirstFrame = firstFrame;
      document.documentElement.setAttribute('data-ready', '1');
    }
  }

  function accent() { return isDark() ? '#4493f8' : '#0969da'; }
  function isDark() {
    var c = theme.background.replace('#', '');
    var r = parseInt(c.substr(0, 2), 16), g = parseInt(c.substr(2, 2), 16), b = parseInt(c.substr(4, 2), 16);
    return 0.299 * r + 0.587 * g + 0.114 * b < 128;
  }

  function drawHighlights(c, P, sc) {
    var col = accent();
    if (hi) {
      c.strokeStyle = col;
      c.lineWidth = Math.max(2.2, 2.2 / sc);
      c.beginPath();
      hi.edges.forEach(function (j) { traceEdge(c, P, j); });
      c.stroke();
      c.fillStyle = col;
      c.beginPath();
      hi.edges.forEach(function (j) { traceArrow(c, P, j, theme.edge.arrow_size * 1.2); });
      c.fill();
      c.lineWidth = Math.max(2, 2 / sc);
      c.beginPath();
      hi.boxes.forEach(function (i) { rect(c, P.x[i] - 2, P.y[i] - 2, P.bw[i] + 4, P.bh[i] + 4, theme.node.radius + 2); });
      c.stroke();
    }
    if (sel && sel.t === 'group' && P.frameOf.has(sel.i)) {
      var f = P.frameOf.get(sel.i);
      c.strokeStyle = col;
      c.lineWidth = Math.max(2.5, 2.5 / sc);
      c.beginPath();
      rect(c, P.fx[f], P.fy[f], P.fw[f], P.fh[f], theme.group.radius);
      c.stroke();
    }
    var b = selectedBox();
    if (b >= 0) {
      c.strokeStyle = col;
      c.lineWidth = Math.max(3, 3 / sc);
      c.beginPath();
      rect(c, P.x[b] - 3, P.y[b] - 3, P.bw[b] + 6, P.bh[b] + 6, theme.node.radius + 3);
      c.stroke();
    }
  }

  function drawMinimap() {
    var P = cur, mw = mini.width, mh = mini.height;
    if (!P.miniCache && P.cache === null && P.n + P.ne >= 1500) {
      // A big view's minimap needs the overview bitmap: build it just after this frame.
      mini.hidden = true;
      if (!P.miniPending) {
        P.miniPending = true;
        setTimeout(function () { overview(P); requestDraw(); }, 30);
      }
      return;
    }
    if (!P.miniCache) {
      var mc = document.createElement('canvas');
      mc.width = mw; mc.height = mh;
      var c = mc.getContext('2d');
      c.fillStyle = theme.background;
      c.fillRect(0, 0, mw, mh);
      var sc = Math.min((mw - 8) / P.w, (mh - 8) / P.h);
      var ox = (mw - P.w * sc) / 2, oy = (mh - P.h * sc) / 2;
      var ov = overview(P);
      if (ov) {
        c.imageSmoothingEnabled = true;
        c.drawImage(ov.canvas, ox, oy, P.w * sc, P.h * sc);
      } else {
        c.setTransform(sc, 0, 0, sc, ox, oy);
        drawScene(c, P, sc, 0, 0, P.w, P.h, false);
      }
      P.miniCache = {canvas: mc, sc: sc, ox: ox, oy: oy};
    }
    var m = P.miniCache;
    // Nothing to navigate when the whole view is on screen.
    var all = tx >= 0 && ty >= 0 && tx + P.w * s <= W && ty + P.h * s <= H;
    mini.hidden = all;
    if (all) return;
    mctx.setTransform(1, 0, 0, 1, 0, 0);
    mctx.drawImage(m.canvas, 0, 0);
    var x = m.ox + (-tx / s) * m.sc, y = m.oy + (-ty / s) * m.sc;
    var w = W / s * m.sc, h = H / s * m.sc;
    mctx.fillStyle = isDark() ? 'rgba(68,147,248,0.16)' : 'rgba(9,105,218,0.10)';
    mctx.fillRect(x, y, w, h);
    mctx.strokeStyle = accent();
    mctx.lineWidth = 1.5;
    mctx.strokeRect(x, y, w, h);
  }

  var pending = false;
  function requestDraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; draw(); scheduleHash(); updateStatus(); });
  }

  // ---- view control ------------------------------------------------------------------------
  function resize() {
    var r = stage.getBoundingClientRect();
    dpr = window.devicePixelRatio || 1;
    W = Math.max(1, r.width); H = Math.max(1, r.height);
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    if (cur) requestDraw();
  }
  // The width not covered by the details panel: fitting and centring aim at it.
  function freeW() {
    var p = $('panel');
    return p.hidden ? W : Math.max(W / 3, W - p.offsetWidth - 20);
  }
  function fitScale() {
    return Math.min((freeW() - 48) / cur.w, (H - 48) / cur.h, 1.2);
  }
  function fit() {
    s = Math.max(fitScale(), 1e-4);
    tx = (freeW() - cur.w * s) / 2; ty = (H - cur.h * s) / 2;
    requestDraw();
  }
  function startView() {
    // Fit when the view is readable that way; otherwise start readable at the inputs end.
    var f = fitScale();
    if (f >= 0.45) return fit();
    s = 0.8;
    if (D.direction === 'LR' || D.direction === 'RL') {
      ty = (H - cur.h * s) / 2; tx = 24;
      if (cur.h * s > H) ty = 24;
    } else {
      tx = (freeW() - cur.w * s) / 2; ty = 24;
      if (cur.w * s > freeW()) tx = 24;
    }
    requestDraw();
  }
  function zoomAt(factor, px, py) {
    var min = Math.min(fitScale() * 0.5, 0.05), ns = Math.min(8, Math.max(min, s * factor));
    factor = ns / s;
    tx = px - (px - tx) * factor; ty = py - (py - ty) * factor; s = ns;
    requestDraw();
  }
  function centerOn(x, y, zoom) {
    if (zoom) s = zoom;
    tx = freeW() / 2 - x * s; ty = H / 2 - y * s;
    requestDraw();
  }
  function centerBox(b) {
    var z = Math.max(s, 0.9);
    centerOn(cur.x[b] + cur.bw[b] / 2, cur.y[b] + cur.bh[b] / 2, Math.min(z, 2));
  }

  function setView(vi, how) {
    cur = prep(vi);
    $('tip').hidden = true;
    hi = null;
    if (sel && sel.t === 'tensor') computeHi(sel.i);
    renderCrumbs();
    $('btn-up').disabled = vi === 0;
    if (how !== 'keep') startView();
    requestDraw();
  }
  function openGroup(g) {
    while (trivial(g)) g = prep(g).groupBox.keys().next().value;
    setView(g);
  }
  function up() {
    var g = G[cur.vi].parent;
    if (g < 0) return;
    var from = cur.vi;
    while (g > 0 && trivial(g)) g = G[g].parent;
    setView(g);
    // Keep the group we came out of selected and in sight.
    var child = from;
    while (child >= 0 && G[child].parent !== g) child = G[child].parent;
    if (child >= 0 && cur.groupBox.has(child)) { select({t: 'group', i: child}); centerBox(cur.groupBox.get(child)); }
  }

  // ---- selection ---------------------------------------------------------------------------
  function selectedBox() {
    if (!sel) return -1;
    if (sel.t === 'node') { var b = cur.nodeBox.get(sel.i); return b === undefined ? -1 : b; }
    if (sel.t === 'group') { b = cur.groupBox.get(sel.i); return b === undefined ? -1 : b; }
    return -1;
  }
  function boxForNode(P, i) {
    var b = P.nodeBox.get(i);
    if (b !== undefined) return b;
    // The child group box of P's view that holds node i.
    var g = N.group[i];
    while (g >= 0 && G[g].parent !== P.vi) g = G[g].parent;
    b = g >= 0 ? P.groupBox.get(g) : undefined;
    return b === undefined ? -1 : b;
  }
  function computeHi(t) {
    var P = cur, boxes = new Set(), edges = new Set();
    for (var j = 0; j < P.ne; j++) if (P.et[j] === t) { edges.add(j); boxes.add(P.src[j]); boxes.add(P.dst[j]); }
    var ends = consumersOf(t).slice();
    if (T.producer[t] >= 0) ends.push(T.producer[t]);
    for (var k = 0; k < ends.length; k++) { var b = boxForNode(P, ends[k]); if (b >= 0) boxes.add(b); }
    for (k = 0; k < P.proxyBox.length; k++) if (P.ref[P.proxyBox[k]] === t) boxes.add(P.proxyBox[k]);
    hi = {tensor: t, boxes: boxes, edges: edges};
  }
  function select(x) {
    sel = x;
    hi = null;
    if (x && x.t === 'tensor') computeHi(x.i);
    renderDetails();
    requestDraw();
  }

  function gotoNode(i) {
    var g = N.group[i];
    if (cur.vi !== g) setView(g, 'keep');
    select({t: 'node', i: i});
    centerBox(cur.nodeBox.get(i));
  }
  function hasView(g) { return V[g].nb > 0; }
  function gotoGroup(g) {
    var p = G[g].parent;
    if (p < 0) { setView(0); return; }
    if (!hasView(g) || (p >= 0 && !hasView(p) && !prep(p).groupBox.has(g))) {
      // Drawn open (a frame) in the view of its nearest ancestor that has a view.
      var a = p;
      while (a > 0 && !hasView(a)) a = G[a].parent;
      if (cur.vi !== a) setView(a, 'keep');
      select({t: 'group', i: g});
      var f = cur.frameOf.get(g);
      if (f !== undefined) centerOn(cur.fx[f] + cur.fw[f] / 2, cur.fy[f] + Math.min(cur.fh[f], H / s) / 2);
      return;
    }
    if (cur.vi !== p) setView(p, 'keep');
    select({t: 'group', i: g});
    centerBox(cur.groupBox.get(g));
  }
  function gotoTensor(t) {
    var p = T.producer[t], c = consumersOf(t);
    var anchor = p >= 0 ? p : (c.length ? c[0] : -1);
    if (anchor >= 0 && cur.vi !== N.group[anchor]) setView(N.group[anchor], 'keep');
    select({t: 'tensor', i: t});
    if (anchor >= 0) centerBox(cur.nodeBox.get(anchor));
  }

  // ---- hit testing -------------------------------------------------------------------------
  function hitBox(wx, wy) {
    var P = cur;
    for (var i = P.n - 1; i >= 0; i--) {
      if (wx >= P.x[i] && wx <= P.x[i] + P.bw[i] && wy >= P.y[i] && wy <= P.y[i] + P.bh[i]) return i;
    }
    return -1;
  }
  function hitEdge(wx, wy) {
    var P = cur, tol = 6 / s, best = -1, bd = tol;
    for (var j = 0; j < P.ne; j++) {
      if (wx < P.ex0[j] - tol || wx > P.ex1[j] + tol || wy < P.ey0[j] - tol || wy > P.ey1[j] + tol) continue;
      for (var q = P.off[j]; q + 3 < P.off[j + 1]; q += 2) {
        var d = segDist(wx, wy, P.pts[q], P.pts[q + 1], P.pts[q + 2], P.pts[q + 3]);
        if (d < bd) { bd = d; best = j; }
      }
    }
    return best;
  }
  function segDist(px, py, ax, ay, bx, by) {
    var dx = bx - ax, dy = by - ay, l = dx * dx + dy * dy;
    var t = l ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / l)) : 0;
    return Math.hypot(px - ax - t * dx, py - ay - t * dy);
  }
  function selectBox(b) {
    var t = cur.type[b], r = cur.ref[b];
    select(t === 0 ? {t: 'node', i: r} : t === 1 ? {t: 'group', i: r} : {t: 'tensor', i: r});
  }
  function clickAt(px, py, dbl) {
    var wx = (px - tx) / s, wy = (py - ty) / s;
    var b = hitBox(wx, wy);
    if (b >= 0) {
      var t = cur.type[b], r = cur.ref[b];
      if (t === 0) select({t: 'node', i: r});
      else if (t === 1) { if (dbl) openGroup(r); else select({t: 'group', i: r}); }
      else if (t === 4) { if (r >= 0) { selectBox(r); centerBox(r); } }
      else select({t: 'tensor', i: r});
      return;
    }
    var e = hitEdge(wx, wy);
    if (e >= 0 && cur.et[e] >= 0) { select({t: 'tensor', i: cur.et[e]}); return; }
    for (var f = cur.nf - 1; f >= 0; f--) {  // innermost frame first
      if (wx >= cur.fx[f] && wx <= cur.fx[f] + cur.fw[f] && wy >= cur.fy[f] && wy <= cur.fy[f] + cur.fh[f]) {
        select({t: 'group', i: cur.fg[f]});
        return;
      }
    }
    select(null);
  }

  // ---- input -------------------------------------------------------------------------------
  var pointers = new Map(), dragMoved = 0, pinch = null, lastClick = 0;
  canvas.addEventListener('pointerdown', function (e) {
    canvas.setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, {x: e.offsetX, y: e.offsetY});
    dragMoved = 0;
    if (pointers.size === 2) {
      var p = Array.from(pointers.values());
      pinch = {d: Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y), mx: (p[0].x + p[1].x) / 2, my: (p[0].y + p[1].y) / 2};
    }
    canvas.classList.add('dragging');
  });
  canvas.addEventListener('pointermove', function (e) {
    var prev = pointers.get(e.pointerId);
    if (!prev) { hover(e.offsetX, e.offsetY); return; }
    tip.hidden = true;
    var nx = e.offsetX, ny = e.offsetY;
    if (pointers.size === 2 && pinch) {
      pointers.set(e.pointerId, {x: nx, y: ny});
      var p = Array.from(pointers.values());
      var d = Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y), mx = (p[0].x + p[1].x) / 2, my = (p[0].y + p[1].y) / 2;
      tx += mx - pinch.mx; ty += my - pinch.my;
      if (pinch.d > 0) zoomAt(d / pinch.d, mx, my);
      pinch = {d: d, mx: mx, my: my};
      dragMoved += 10;
      requestDraw();
      return;
    }
    tx += nx - prev.x; ty += ny - prev.y;
    dragMoved += Math.abs(nx - prev.x) + Math.abs(ny - prev.y);
    pointers.set(e.pointerId, {x: nx, y: ny});
    requestDraw();
  });
  // Hover: the full text of a box (box labels are cut to the box width) and what a click does.
  var tip = $('tip'), hoverBox = -1;
  function hover(px, py) {
    var b = hitBox((px - tx) / s, (py - ty) / s);
    canvas.style.cursor = b >= 0 ? 'pointer' : '';
    if (b === hoverBox) { placeTip(px, py); return; }
    hoverBox = b;
    clear(tip);
    if (b < 0) { tip.hidden = true; return; }
    var t = cur.type[b], r = cur.ref[b];
    if (t === 0) {
      tip.appendChild(el('strong', {text: opOf(r)}));
      if (N.name[r] && N.name[r] !== opOf(r)) tip.appendChild(el('div', {text: N.name[r]}));
      Array.from(outsOf(r).slice(0, 2)).forEach(function (o) { tip.appendChild(el('div', {cls: 'mono', text: shapeOf(o) + ' ' + dtypeOf(o)})); });
    } else if (t === 1) {
      tip.appendChild(el('strong', {text: G[r].label}));
      if (G[r].op) tip.appendChild(el('div', {text: G[r].op}));
      tip.appendChild(el('div', {cls: 'note', text: full(G[r].nodes) + ' nodes \u00b7 double-click to open'}));
    } else if (t === 4) {
      var src = r >= 0 ? linesOf(cur, r) : null;
      tip.appendChild(el('strong', {text: 'Reference'}));
      tip.appendChild(el('div', {text: (linesOf(cur, b)[0] || [''])[0]}));
      tip.appendChild(el('div', {cls: 'note', text: src ? 'click: go to the source' : ''}));
    } else {
      tip.appendChild(el('strong', {text: t === 2 ? 'Input of this group' : 'Output of this group'}));
      tip.appendChild(el('div', {cls: 'mono', text: T.id[r]}));
      tip.appendChild(el('div', {cls: 'mono', text: shapeOf(r) + ' ' + dtypeOf(r)}));
    }
    tip.hidden = false;
    placeTip(px, py);
  }
  function placeTip(px, py) {
    if (tip.hidden) return;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = Math.min(px + 14, W - w - 8) + 'px';
    tip.style.top = (py + 18 + h > H ? py - h - 10 : py + 18) + 'px';
  }
  canvas.addEventListener('pointerleave', function () { tip.hidden = true; hoverBox = -1; });

  function pointerEnd(e) {
    if (!pointers.has(e.pointerId)) return;
    pointers.delete(e.pointerId);
    if (pointers.size < 2) pinch = null;
    if (pointers.size === 0) {
      canvas.classList.remove('dragging');
      if (dragMoved < 5 && e.type === 'pointerup') {
        var now = performance.now(), dbl = now - lastClick < 350;
        lastClick = dbl ? 0 : now;
        clickAt(e.offsetX, e.offsetY, dbl);
      }
    }
  }
  canvas.addEventListener('pointerup', pointerEnd);
  canvas.addEventListener('pointercancel', pointerEnd);
  canvas.addEventListener('wheel', function (e) {
    e.preventDefault();
    tip.hidden = true; hoverBox = -1;
    var dy = e.deltaY * (e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1);
    if (e.ctrlKey || e.metaKey || !e.shiftKey) zoomAt(Math.exp(-dy * (e.ctrlKey ? 0.01 : 0.0018)), e.offsetX, e.offsetY);
    else { tx -= dy; requestDraw(); }
  }, {passive: false});

  function miniPan(e) {
    var m = cur.miniCache;
    if (!m) return;
    var r = mini.getBoundingClientRect();
    centerOn((e.clientX - r.left - m.ox) / m.sc, (e.clientY - r.top - m.oy) / m.sc);
  }
  var miniDrag = false;
  mini.addEventListener('pointerdown', function (e) { miniDrag = true; mini.setPointerCapture(e.pointerId); miniPan(e); });
  mini.addEventListener('pointermove', function (e) { if (miniDrag) miniPan(e); });
  mini.addEventListener('pointerup', function () { miniDrag = false; });

  document.addEventListener('keydown', function (e) {
    var inSearch = document.activeElement === $('search');
    if (inSearch) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var k = e.key, step = 80;
    if (k === '/') { e.preventDefault(); $('search').focus(); $('search').select(); }
    else if (k === '+' || k === '=') zoomAt(1.25, W / 2, H / 2);
    else if (k === '-' || k === '_') zoomAt(0.8, W / 2, H / 2);
    else if (k === 'f' || k === 'F' || k === '0') fit();
    else if (k === 'ArrowLeft') { tx += step; requestDraw(); }
    else if (k === 'ArrowRight') { tx -= step; requestDraw(); }
    else if (k === 'ArrowUp') { ty += step; requestDraw(); }
    else if (k === 'ArrowDown') { ty -= step; requestDraw(); }
    else if (k === 'Backspace' || k === 'u' || k === 'U') { e.preventDefault(); up(); }
    else if (k === 'Enter' && sel && sel.t === 'group') openGroup(sel.i);
    else if (k === 'Escape') { $('help').hidden = true; select(null); }
    else if (k === 't' || k === 'T') toggleTheme();
    else if (k === '?') $('help').hidden = !$('help').hidden;
    else return;
    if (k.indexOf('Arrow') === 0) e.preventDefault();
  });

  $('btn-up').addEventListener('click', up);
  $('btn-fit').addEventListener('click', fit);
  $('btn-zoom-in').addEventListener('click', function () { zoomAt(1.25, W / 2, H / 2); });
  $('btn-zoom-out').addEventListener('click', function () { zoomAt(0.8, W / 2, H / 2); });
  $('btn-theme').addEventListener('click', toggleTheme);
  $('btn-help').addEventListener('click', function () { $('help').hidden = !$('help').hidden; });
  $('help').addEventListener('click', function () { $('help').hidden = true; });
  $('panel-close').addEventListener('click', function () { select(null); });
  $('btn-svg').addEventListener('click', exportSvg);
  $('btn-png').addEventListener('click', exportPng);

  // ---- breadcrumb, details panel, status ---------------------------------------------------
  function renderCrumbs() {
    var nav = $('crumbs');
    clear(nav);
    var chain = [0].concat(groupPath(cur.vi));
    chain.forEach(function (g, k) {
      if (k) nav.appendChild(el('span', {cls: 'sep', text: '\u203a'}));
      var b = el('button', {type: 'button', text: g === 0 ? 'top' : G[g].label, title: g === 0 ? 'The whole model' : pathText(g)});
      if (g === cur.vi) b.setAttribute('aria-current', 'page');
      else b.addEventListener('click', function () { setView(g); });
      nav.appendChild(b);
    });
  }

  function linkNode(i) {
    return el('button', {cls: 'link', type: 'button', text: N.name[i] || nodeId(i), title: opOf(i),
      on: function () { gotoNode(i); }});
  }
  function linkTensor(t) {
    var b = el('button', {cls: 'link mono', type: 'button', text: T.id[t], on: function () { gotoTensor(t); }});
    return b;
  }
  function row(label, value, cls) {
    var td = el('td', cls ? {cls: cls} : null);
    if (value instanceof Node) td.appendChild(value); else td.textContent = value;
    return el('tr', null, el('th', {text: label}), td);
  }
  function pathLinks(g) {
    var wrap = el('div', {cls: 'path'});
    var chain = groupPath(g);
    if (!chain.length) wrap.appendChild(el('span', {cls: 'note', text: '(top level)'}));
    chain.forEach(function (k, j) {
      if (j) wrap.appendChild(el('span', {cls: 'note', text: '/'}));
      // Small groups have no view of their own: they are drawn open (framed) in the parent.
      wrap.appendChild(el('button', {cls: 'link', type: 'button', text: G[k].label, title: pathText(k),
        on: function () { if (hasView(k)) setView(k); else gotoGroup(k); }}));
    });
    return wrap;
  }
  function tensorTable(list, dir) {
    // One block per tensor: long exporter names wrap on their own line instead of squeezing
    // table columns.
    var wrap = el('div', {cls: 'tensors'});
    list.forEach(function (t) {
      var ends = el('span', {cls: 'ends'});
      if (dir === 'in') {
        if (T.producer[t] >= 0) { ends.appendChild(document.createTextNode('from ')); ends.appendChild(linkNode(T.producer[t])); }
        else ends.textContent = D.graph_inputs.indexOf(t) >= 0 ? 'graph input' : 'no producer';
      } else {
        var c = consumersOf(t);
        if (c.length) ends.appendChild(document.createTextNode('to '));
        c.slice(0, 4).forEach(function (i, j) { if (j) ends.appendChild(document.createTextNode(', ')); ends.appendChild(linkNode(i)); });
        if (c.length > 4) ends.appendChild(document.createTextNode(' +' + (c.length - 4) + ' more'));
        if (!c.length) ends.textContent = D.graph_outputs.indexOf(t) >= 0 ? 'graph output' : 'unused';
      }
      var item = el('div', {cls: 'tensor'}, linkTensor(t),
        el('div', {cls: 'tmeta'}, el('span', {cls: 'shape', text: shapeOf(t)}), el('span', {cls: 'dtype', text: dtypeOf(t)}), ends));
      if (hi && hi.tensor === t) item.classList.add('hl');
      wrap.appendChild(item);
    });
    return wrap;
  }
  function kv(obj) {
    var tb = el('table');
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      tb.appendChild(row(k, typeof v === 'string' ? v : JSON.stringify(v), 'mono'));
    });
    return tb;
  }
  function chip(kind) {
    var st = kindStyle(kind), c = el('span', {cls: 'chip', text: kind});
    c.style.background = st.fill; c.style.borderColor = st.stroke || theme.node.stroke;
    c.style.color = theme.font.color;
    return c;
  }

  function renderDetails() {
    var panel = $('panel'), d = $('details');
    clear(d);
    if (!sel) { panel.hidden = true; return; }
    panel.hidden = false;
    if (sel.t === 'node') nodeDetails(d, sel.i);
    else if (sel.t === 'group') groupDetails(d, sel.i);
    else tensorDetails(d, sel.i);
  }
  function nodeDetails(d, i) {
    var meta = N.meta[i] || {};
    d.appendChild(el('h2', null, chip(kindOf(i)), opOf(i)));
    d.appendChild(el('div', {cls: 'sub', text: N.name[i]}));
    var info = el('table');
    if (N.id[i] !== null) info.appendChild(row('id', N.id[i], 'mono'));
    info.appendChild(row('kind', kindOf(i)));
    info.appendChild(row('group', pathLinks(N.scope[i])));
    if (typeof meta.flops === 'number') info.appendChild(row('FLOPs', human(meta.flops) + '  (' + full(meta.flops) + ')', 'num'));
    if (typeof meta.macs === 'number') info.appendChild(row('MACs', human(meta.macs) + '  (' + full(meta.macs) + ')', 'num'));
    var pc = paramCount(i);
    if (pc) info.appendChild(row('parameters', human(pc) + '  (' + full(pc) + ')', 'num'));
    d.appendChild(info);
    var ins = insOf(i), outs = outsOf(i);
    if (ins.length) { d.appendChild(el('h3', {text: 'Inputs'})); d.appendChild(tensorTable(Array.from(ins), 'in')); }
    if (outs.length) { d.appendChild(el('h3', {text: 'Outputs'})); d.appendChild(tensorTable(Array.from(outs), 'out')); }
    var ps = paramsOf(i);
    if (ps) {
      d.appendChild(el('h3', {text: 'Parameters'}));
      var tb = el('table');
      tb.appendChild(el('tr', null, el('th', {text: 'name'}), el('th', {text: 'shape'}), el('th', {text: 'dtype'}), el('th', {cls: 'num', text: 'count'})));
      ps.forEach(function (p) {
        tb.appendChild(el('tr', null, el('td', {cls: 'mono', text: p[0]}), el('td', {cls: 'shape', text: p[1] < 0 ? '?' : D.shapes[p[1]]}),
          el('td', {cls: 'mono', text: p[2] < 0 ? '' : D.dtypes[p[2]]}), el('td', {cls: 'num', text: p[3] === null ? '?' : full(p[3])})));
      });
      d.appendChild(tb);
    }
    valueDetails(d, i);
    if (N.attrs[i]) { d.appendChild(el('h3', {text: 'Attributes'})); d.appendChild(kv(N.attrs[i])); }
    var rest = {};
    // flops/macs/params are shown above; zero counters say nothing.
    Object.keys(meta).forEach(function (k) {
      if (['flops', 'macs', 'params', 'trainable_params'].indexOf(k) < 0 && meta[k] !== 0 && meta[k] !== null) rest[k] = meta[k];
    });
    if (Object.keys(rest).length) { d.appendChild(el('h3', {text: 'Analysis'})); d.appendChild(kv(rest)); }
  }
  // ---- colour by a value, histograms, flagged layers (nnviz.values) ----------------------------
  function fmtVal(v) {
    if (v === null || v === undefined) return '\u2014';
    if (v === 0) return '0';
    var a = Math.abs(v);
    return (a >= 1e4 || a < 1e-2) ? v.toExponential(2) : String(Number(v.toPrecision(3)));
  }
  function metricOf(key) {
    for (var k = 0; k < VAL.metrics.length; k++) if (VAL.metrics[k].key === key) return VAL.metrics[k];
    return null;
  }
  function rampColor(t) {
    t = Math.max(0, Math.min(1, t));
    var pos = t * (VIRIDIS.length - 1), k = Math.min(Math.floor(pos), VIRIDIS.length - 2), f = pos - k;
    var a = VIRIDIS[k], b = VIRIDIS[k + 1], rgb = [];
    for (var j = 0; j < 3; j++) {
      var x = parseInt(a.slice(1 + 2 * j, 3 + 2 * j), 16), y = parseInt(b.slice(1 + 2 * j, 3 + 2 * j), 16);
      rgb.push(Math.round(x + (y - x) * f));
    }
    return rgb;
  }
  function colorBy(key) {
    var m = metricOf(key);
    colorKey = m ? key : 'kind';
    tint = null; tintText = null;
    var legend = $('legend');
    if (m) {
      var lo = Infinity, hi2 = -Infinity, plo = Infinity, k;
      for (k = 0; k < m.v.length; k++) {
        var v = m.v[k];
        if (v === null) continue;
        if (v < lo) lo = v; if (v > hi2) hi2 = v; if (v > 0 && v < plo) plo = v;
      }
      var log = m.log && lo >= 0 && plo < Infinity && hi2 / plo > 100;
      if (log) lo = plo;
      tint = new Array(NN); tintText = new Array(NN);
      for (k = 0; k < m.v.length; k++) {
        var val = m.v[k];
        if (val === null) continue;
        var t = log ? (val > 0 ? (Math.log(val) - Math.log(lo)) / (Math.log(hi2) - Math.log(lo) || 1) : 0)
          : (hi2 > lo ? (val - lo) / (hi2 - lo) : 0.5);
        var c3 = rampColor(t);
        tint[k] = 'rgb(' + c3.join(',') + ')';
        tintText[k] = (0.2126 * c3[0] + 0.7152 * c3[1] + 0.0722 * c3[2]) > 140 ? '#111111' : '#ffffff';
      }
      $('legend-title').textContent = m.label + (log ? ' (log scale)' : '');
      $('legend-lo').textContent = fmtVal(lo);
      $('legend-hi').textContent = fmtVal(hi2);
      var lc = $('legend-bar').getContext('2d');
      for (k = 0; k < 180; k++) { lc.fillStyle = 'rgb(' + rampColor(k / 179).join(',') + ')'; lc.fillRect(k, 0, 1, 10); }
      legend.hidden = false;
    } else legend.hidden = true;
    $('color-by').value = colorKey;
    prepared.forEach(function (P) { if (P) { P.cache = null; P.miniCache = null; } });
    renderDetails();
    requestDraw();
  }
  function histogram(h, title) {
    var box = el('div');
    box.appendChild(el('h3', {text: title}));
    var cv = el('canvas', {cls: 'hist', width: 320, height: 72}), c = cv.getContext('2d');
    var counts = h[2], mx = Math.max.apply(null, counts) || 1, bw = 320 / counts.length;
    c.fillStyle = accent();
    for (var k = 0; k < counts.length; k++) {
      if (!counts[k]) continue;
      var bh = Math.max(1, 70 * counts[k] / mx);
      c.fillRect(k * bw + 0.5, 72 - bh, bw - 1, bh);
    }
    box.appendChild(cv);
    box.appendChild(el('div', {cls: 'hist-ticks'}, el('span', {text: fmtVal(h[0])}), el('span', {text: fmtVal(h[1])})));
    return box;
  }
  function valueDetails(d, i) {
    var rows = el('table'), any = false;
    VAL.metrics.forEach(function (m) {
      if (m.key === 'params' || m.key === 'flops' || m.v[i] === null) return;
      rows.appendChild(row(m.label, fmtVal(m.v[i]), 'num')); any = true;
    });
    if (flagged.has(i)) { rows.appendChild(row('flags', flagList(i))); any = true; }
    if (any) { d.appendChild(el('h3', {text: 'Values'})); d.appendChild(rows); }
    if (VAL.hist && VAL.hist.act[i]) d.appendChild(histogram(VAL.hist.act[i], 'Activation histogram'));
    if (VAL.hist && VAL.hist.grad[i]) d.appendChild(histogram(VAL.hist.grad[i], 'Gradient histogram'));
    if (any && VAL.note) d.appendChild(el('div', {cls: 'note', text: VAL.note}));
  }
  function flagList(i) {
    for (var k = 0; k < VAL.flags.length; k++) if (VAL.flags[k][0] === i) return VAL.flags[k][2].join(', ');
    return '';
  }
  function setupValues() {
    var selEl = $('color-by');
    VAL.metrics.forEach(function (m) { selEl.appendChild(el('option', {value: m.key, text: 'colour: ' + m.label})); });
    selEl.addEventListener('change', function () { colorBy(selEl.value); });
    var fl = VAL.flags || [];
    if (fl.length) {
      var btn = $('btn-flags'), list = $('flag-list');
      btn.textContent = '\u2691 ' + fl.length + ' flagged';
      btn.hidden = false;
      fl.forEach(function (f) {
        list.appendChild(el('li', null, el('button', {cls: 'link', type: 'button', text: N.name[f[0]] || nodeId(f[0]),
          on: function () { list.hidden = true; gotoNode(f[0]); }}), el('span', {cls: 'badge', text: f[1]})));
      });
      btn.addEventListener('click', function () { list.hidden = !list.hidden; });
    }
  }

  function groupDetails(d, g) {
    var gr = G[g];
    d.appendChild(el('h2', null, chip('group'), gr.label));
    if (gr.op) d.appendChild(el('div', {cls: 'sub', text: gr.op}));
    var info = el('table');
    info.appendChild(row('path', pathLinks(gr.parent >= 0 ? gr.parent : 0)));
    info.appendChild(row('nodes', full(gr.nodes), 'num'));
    if (gr.params) info.appendChild(row('parameters', human(gr.params) + '  (' + full(gr.params) + ')', 'num'));
    if (gr.flops) info.appendChild(row('FLOPs', human(gr.flops) + '  (' + full(gr.flops) + ')', 'num'));
    d.appendChild(info);
    if (hasView(g)) d.appendChild(el('div', {cls: 'actions'}, el('button', {id: 'btn-open', type: 'button', text: 'Open group', on: function () { openGroup(g); }})));
    else d.appendChild(el('div', {cls: 'note', text: 'Drawn open in its parent (a small group).'}));
    var inner = prep(g), ins = [], outs = [];
    inner.proxyBox.forEach(function (b) { (inner.type[b] === 2 ? ins : outs).push(inner.ref[b]); });
    if (ins.length) { d.appendChild(el('h3', {text: 'Inputs'})); d.appendChild(tensorTable(ins, 'in')); }
    if (outs.length) { d.appendChild(el('h3', {text: 'Outputs'})); d.appendChild(tensorTable(outs, 'out')); }
    if (gr.attrs) { d.appendChild(el('h3', {text: 'Attributes'})); d.appendChild(kv(gr.attrs)); }
  }
  function tensorDetails(d, t) {
    d.appendChild(el('h2', null, chip('tensor'), 'Tensor'));
    d.appendChild(el('div', {cls: 'sub mono', text: T.id[t]}));
    var info = el('table');
    info.appendChild(row('shape', shapeOf(t), 'shape'));
    info.appendChild(row('dtype', dtypeOf(t) || '?', 'mono'));
    var p = T.producer[t];
    info.appendChild(row('producer', p >= 0 ? linkNode(p) : (D.graph_inputs.indexOf(t) >= 0 ? 'graph input' : '\u2014')));
    d.appendChild(info);
    var c = consumersOf(t);
    d.appendChild(el('h3', {text: 'Consumers (' + c.length + ')'}));
    var list = el('table');
    c.slice(0, 200).forEach(function (i) { list.appendChild(row(opOf(i), linkNode(i))); });
    if (c.length > 200) list.appendChild(row('', '+' + (c.length - 200) + ' more'));
    if (D.graph_outputs.indexOf(t) >= 0) list.appendChild(row('', 'graph output'));
    d.appendChild(list);
  }

  function updateStatus() {
    var total = G[0].nodes, params = G[0].params;
    $('status').textContent = cur.real + (cur.real === 1 ? ' box' : ' boxes') + ' here \u00b7 ' + full(total) + ' nodes' +
      (params ? ' \u00b7 ' + human(params) + ' params' : '') + ' \u00b7 ' + Math.round(s * 100) + '%';
  }

  // ---- search ------------------------------------------------------------------------------
  var idx = null, results = [], active = -1;
  function buildIndex() {
    idx = {name: new Array(NN), id: new Array(NN), op: D.ops.map(function (o) { return o.toLowerCase(); }),
      t: T.id.map(function (x) { return x.toLowerCase(); }), g: G.map(function (g) { return g.label.toLowerCase(); })};
    for (var i = 0; i < NN; i++) { idx.name[i] = N.name[i].toLowerCase(); idx.id[i] = N.id[i] === null ? '' : N.id[i].toLowerCase(); }
  }
  function score(text, q) {
    if (text === q) return 0;
    var k = text.indexOf(q);
    if (k < 0) return -1;
    return k === 0 ? 1 : (text.charAt(k - 1) === '/' || text.charAt(k - 1) === '.' ? 2 : 3);
  }
  var lastQuery = null;
  function runSearch(q) {
    lastQuery = q;
    q = q.trim().toLowerCase();
    results = [];
    if (!q) return results;
    if (!idx) buildIndex();
    var cap = 5000, i, sc;
    for (i = 0; i < G.length && results.length < cap; i++) {
      if (i && G[i].nodes && (sc = score(idx.g[i], q)) >= 0) results.push({t: 'group', i: i, s: sc});
    }
    for (i = 0; i < NN && results.length < cap; i++) {
      sc = score(idx.name[i], q);
      var so = score(idx.op[N.op[i]], q);
      if (so >= 0 && (sc < 0 || so + 1 < sc)) sc = so + 1;
      if (sc < 0 && idx.id[i]) sc = score(idx.id[i], q);
      if (sc >= 0) results.push({t: 'node', i: i, s: sc});
    }
    for (i = 0; i < NT && results.length < cap; i++) {
      if ((sc = score(idx.t[i], q)) >= 0) results.push({t: 'tensor', i: i, s: sc + 0.5});
    }
    results.sort(function (a, b) { return a.s - b.s || (a.t < b.t ? -1 : a.t > b.t ? 1 : a.i - b.i); });
    return results;
  }
  function showResults() {
    var ol = $('results');
    clear(ol);
    active = results.length ? 0 : -1;
    if (!$('search').value.trim()) { ol.hidden = true; return; }
    results.slice(0, 200).forEach(function (r, k) {
      var li = el('li', {role: 'option'});
      li.setAttribute('aria-selected', k === active ? 'true' : 'false');
      if (r.t === 'node') {
        li.appendChild(el('span', {cls: 'r-op', text: opOf(r.i)}));
        li.appendChild(el('span', {cls: 'r-name', text: N.name[r.i]}));
        var outs = outsOf(r.i);
        li.appendChild(el('span', {cls: 'r-path', text: (pathText(N.group[r.i]) || '(top level)') + (outs.length ? '  \u00b7  ' + shapeOf(outs[0]) : '')}));
      } else if (r.t === 'group') {
        li.appendChild(el('span', {cls: 'r-op', text: 'group'}));
        li.appendChild(el('span', {cls: 'r-name', text: G[r.i].label + (G[r.i].op ? '  (' + G[r.i].op + ')' : '')}));
        li.appendChild(el('span', {cls: 'r-path', text: pathText(r.i) + '  \u00b7  ' + full(G[r.i].nodes) + ' nodes'}));
      } else {
        li.appendChild(el('span', {cls: 'r-op', text: 'tensor'}));
        li.appendChild(el('span', {cls: 'r-name', text: T.id[r.i]}));
        li.appendChild(el('span', {cls: 'r-path', text: shapeOf(r.i) + ' ' + dtypeOf(r.i)}));
      }
      li.addEventListener('mousedown', function (e) { e.preventDefault(); choose(k); });
      ol.appendChild(li);
    });
    if (results.length > 200) ol.appendChild(el('li', {cls: 'r-more', text: (results.length >= 5000 ? 'more than ' : '') + full(results.length) + ' matches; showing 200'}));
    if (!results.length) ol.appendChild(el('li', {cls: 'r-more', text: 'No matches'}));
    ol.hidden = false;
  }
  function setActive(k) {
    var items = $('results').querySelectorAll('li[role=option]');
    if (!items.length) return;
    active = (k + items.length) % items.length;
    items.forEach(function (li, j) { li.setAttribute('aria-selected', j === active ? 'true' : 'false'); });
    items[active].scrollIntoView({block: 'nearest'});
  }
  function choose(k) {
    var r = results[k];
    if (!r) return;
    $('results').hidden = true;
    if (r.t === 'node') gotoNode(r.i);
    else if (r.t === 'group') gotoGroup(r.i);
    else gotoTensor(r.i);
    canvas.focus();
  }
  var searchTimer = 0;
  $('search').addEventListener('input', function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { runSearch($('search').value); showResults(); }, 60);
  });
  $('search').addEventListener('keydown', function (e) {
    if (e.key === 'ArrowDown') { e.preventDefault(); setActive(active + 1); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); setActive(active - 1); }
    else if (e.key === 'Enter') {
      e.preventDefault();
      clearTimeout(searchTimer);
      // Typing faster than the debounce: the list may belong to an older query.
      if (lastQuery !== $('search').value || active < 0) { runSearch($('search').value); showResults(); }
      choose(Math.max(active, 0));
    } else if (e.key === 'Escape') { $('results').hidden = true; canvas.focus(); }
  });
  $('search').addEventListener('blur', function () { $('results').hidden = true; });
  $('search').addEventListener('focus', function () { if ($('search').value.trim()) { runSearch($('search').value); showResults(); } });

  // ---- export ------------------------------------------------------------------------------
  function xml(t) {
    return String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  }
  function num(v) { return String(Math.round(v * 100) / 100); }
  function fileStem() { return (D.name || 'model').replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'model'; }
  function download(blob, name) {
    var a = el('a', {href: URL.createObjectURL(blob), download: name});
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  function svgOfView() {
    var P = cur, X0 = -tx / s, Y0 = -ty / s, X1 = (W - tx) / s, Y1 = (H - ty) / s;
    var ed = theme.edge, nd = theme.node, out = [];
    out.push('<svg xmlns="http://www.w3.org/2000/svg" width="' + num(W) + '" height="' + num(H) +
      '" viewBox="' + [X0, Y0, X1 - X0, Y1 - Y0].map(num).join(' ') + '" font-family="DejaVu Sans, sans-serif">');
    out.push('<title>' + xml(D.name) + '</title>');
    out.push('<rect x="' + num(X0) + '" y="' + num(Y0) + '" width="' + num(X1 - X0) + '" height="' + num(Y1 - Y0) + '" fill="' + xml(theme.background) + '"/>');
    var gt = theme.group;
    for (var f = 0; f < P.nf; f++) {
      if (P.fx[f] > X1 || P.fx[f] + P.fw[f] < X0 || P.fy[f] > Y1 || P.fy[f] + P.fh[f] < Y0) continue;
      out.push('<rect x="' + num(P.fx[f]) + '" y="' + num(P.fy[f]) + '" width="' + num(P.fw[f]) + '" height="' + num(P.fh[f]) +
        '" rx="' + num(gt.radius) + '" fill="' + xml(gt.fill) + '" stroke="' + xml(gt.stroke) + '"/>');
      var tls = P.fl[f].split('\n');
      for (var q = 0; q < tls.length; q++) {
        out.push('<text x="' + num(P.fx[f] + 8) + '" y="' + num(P.fy[f] + ascent(gt.label_size) + 4 + q * lineHeight(gt.label_size)) + '" font-size="' + gt.label_size +
          '" fill="' + xml(gt.label_color) + '">' + xml(fitText(tls[q], 1, P.fw[f] - 16, gt.label_size)) + '</text>');
      }
    }
    out.push('<g fill="none" stroke="' + xml(ed.stroke) + '" stroke-width="' + num(ed.width) + '">');
    for (var j = 0; j < P.ne; j++) {
      if (P.ex1[j] < X0 || P.ex0[j] > X1 || P.ey1[j] < Y0 || P.ey0[j] > Y1) continue;
      var a = P.off[j], b = P.off[j + 1], d = 'M' + num(P.pts[a]) + ',' + num(P.pts[a + 1]);
      if (P.spline.has(j)) {
        for (var q = a + 2; q + 5 < b + 1; q += 6) d += ' C' + [0, 2, 4].map(function (o) { return num(P.pts[q + o]) + ',' + num(P.pts[q + o + 1]); }).join(' ');
      } else {
        for (q = a + 2; q < b; q += 2) d += ' L' + num(P.pts[q]) + ',' + num(P.pts[q + 1]);
      }
      var hl = hi && hi.edges.has(j);
      out.push('<path d="' + d + '"' + (hl ? ' stroke="' + accent() + '" stroke-width="2.2"' : '') + '/>');
      var x = P.pts[b - 2], y = P.pts[b - 1], dx = x - P.pts[b - 4], dy = y - P.pts[b - 3], l = Math.hypot(dx, dy) || 1, z = ed.arrow_size;
      dx /= l; dy /= l;
      out.push('<path stroke="none" fill="' + xml(hl ? accent() : ed.stroke) + '" d="M' + num(x) + ',' + num(y) + ' L' +
        num(x - dx * z - dy * z * 0.45) + ',' + num(y - dy * z + dx * z * 0.45) + ' L' + num(x - dx * z + dy * z * 0.45) + ',' + num(y - dy * z - dx * z * 0.45) + ' z"/>');
    }
    out.push('</g>');
    var selB = selectedBox();
    for (var i = 0; i < P.n; i++) {
      if (!inView(P, i, X0, Y0, X1, Y1)) continue;
      var proxy = P.type[i] >= 2, st = kindStyle(proxy ? 'io' : P.kind[i]);
      var r = proxy ? P.bh[i] / 2 : nd.radius;
      var attrs = ' width="' + num(P.bw[i]) + '" height="' + num(P.bh[i]) + '" rx="' + num(r) + '" fill="' + xml(st.fill) + '" stroke="' + xml(st.stroke || nd.stroke) + '"';
      if (P.type[i] === 1) out.push('<rect x="' + num(P.x[i] + 4) + '" y="' + num(P.y[i] + 4) + '"' + attrs + '/>');
      var strong = i === selB || (hi && hi.boxes.has(i));
      out.push('<rect x="' + num(P.x[i]) + '" y="' + num(P.y[i]) + '"' + attrs +
        (strong ? ' stroke-width="3" style="stroke:' + accent() + '"' : '') + (proxy ? ' stroke-dasharray="3,2"' : '') + '/>');
      var L = linesOf(P, i), total = 0, k;
      for (k = 0; k < L.length; k++) total += lineHeight(fontPx(L[k][1]));
      total += nd.line_gap * Math.max(0, L.length - 1);
      var yy = P.y[i] + (P.bh[i] - total) / 2;
      for (k = 0; k < L.length; k++) {
        var sty = L[k][1], sz = fontPx(sty);
        out.push('<text x="' + num(P.x[i] + P.bw[i] / 2) + '" y="' + num(yy + ascent(sz)) + '" text-anchor="middle" font-size="' + sz + '"' +
          (sty === 0 ? ' font-weight="bold"' : '') + ' fill="' + xml(sty === 2 ? (theme.font.muted || theme.font.color) : theme.font.color) + '">' +
          xml(fitText(L[k][0], sty, P.bw[i] - 2 * nd.padding_x)) + '</text>');
        yy += lineHeight(sz) + nd.line_gap;
      }
    }
    out.push('</svg>\n');
    return out.join('\n');
  }
  function exportSvg() { download(new Blob([svgOfView()], {type: 'image/svg+xml'}), fileStem() + '.svg'); }
  function exportPng() {
    draw();
    canvas.toBlob(function (b) { if (b) download(b, fileStem() + '.png'); }, 'image/png');
  }

  // ---- theme -------------------------------------------------------------------------------
  function applyTheme() {
    var r = document.documentElement.style, dark = isDark();
    r.setProperty('--bg', theme.background);
    r.setProperty('--fg', theme.font.color);
    r.setProperty('--muted', theme.font.muted || theme.font.color);
    r.setProperty('--chrome', dark ? '#151b23' : (theme.group.fill || '#f6f8fa'));
    r.setProperty('--line', dark ? '#3d444d' : '#d0d7de');
    r.setProperty('--accent', accent());
    r.setProperty('--accent-bg', dark ? 'rgba(68,147,248,0.18)' : 'rgba(9,105,218,0.12)');
    r.setProperty('--shadow', dark ? '0 8px 24px rgba(1,4,9,0.6)' : '0 8px 24px rgba(31,35,40,0.18)');
    document.documentElement.style.colorScheme = dark ? 'dark' : 'light';
  }
  function toggleTheme() {
    var t = D.alt_theme; D.alt_theme = theme; theme = t;
    prepared.forEach(function (P) { if (P) { P.cache = null; P.miniCache = null; } });
    applyTheme();
    renderDetails();
    requestDraw();
  }

  // ---- URL hash: view, position, zoom, selection -------------------------------------------
  var hashTimer = 0;
  function scheduleHash() {
    clearTimeout(hashTimer);
    hashTimer = setTimeout(writeHash, 250);
  }
  function writeHash() {
    var cx = (W / 2 - tx) / s, cy = (H / 2 - ty) / s;
    var h = 'v=' + cur.vi + '&x=' + Math.round(cx) + '&y=' + Math.round(cy) + '&z=' + (Math.round(s * 1000) / 1000);
    if (sel) h += '&' + ({node: 'n', group: 'g', tensor: 't'})[sel.t] + '=' + sel.i;
    if ('#' + h === location.hash) return;
    try { history.replaceState(null, '', '#' + h); } catch (err) { /* sandboxed iframe */ }
  }
  function readHash() {
    var q = {};
    location.hash.replace(/^#/, '').split('&').forEach(function (kv2) {
      var p = kv2.split('=');
      if (p.length === 2) q[p[0]] = Number(p[1]);
    });
    var ok = function (v, n) { return Number.isInteger(v) && v >= 0 && v < n; };
    if (!ok(q.v, V.length)) return false;
    setView(q.v);
    if (ok(q.n, NN)) select({t: 'node', i: q.n});
    else if (ok(q.g, G.length)) select({t: 'group', i: q.g});
    else if (ok(q.t, NT)) select({t: 'tensor', i: q.t});
    if (isFinite(q.x) && isFinite(q.y) && q.z > 0) centerOn(q.x, q.y, Math.min(8, q.z));
    return true;
  }
  window.addEventListener('hashchange', function () { readHash(); });

  // ---- start -------------------------------------------------------------------------------
  window.nnviz = {
    state: function () {
      return {view: cur.vi, path: groupPath(cur.vi).map(function (g) { return G[g].label; }), scale: s, tx: tx, ty: ty,
        selection: sel ? {type: sel.t, index: sel.i, name: sel.t === 'node' ? N.name[sel.i] : sel.t === 'group' ? G[sel.i].label : T.id[sel.i]} : null,
        boxes: cur.n, edges: cur.ne, theme: theme.name};
    },
    search: function (q) { return runSearch(q).slice(0, 50).map(function (r) { return {type: r.t, index: r.i}; }); },
    colorBy: colorBy, colorKey: function () { return colorKey; },
    tintOf: function (i) { return tint ? (tint[i] || null) : null; },
    gotoNode: gotoNode, gotoGroup: gotoGroup, gotoTensor: gotoTensor, openGroup: openGroup, up: up, fit: fit,
    zoomAt: zoomAt, pan: function (dx, dy) { tx += dx; ty += dy; requestDraw(); },
    // The cost of one frame including rasterisation: reading a pixel back waits for it.
    drawNow: function () { var t0 = performance.now(); draw(); ctx.getImageData(0, 0, 1, 1); return performance.now() - t0; },
    frameTimes: function () { return frameTimes.slice(); },
    views: function () { return V.map(function (v, i) { return {boxes: v.nb, edges: v.ne, index: i}; }); },
    // One view as the page decoded it (tests compare it with the Python decoder).
    viewData: function (vi) {
      var P = prep(vi), a = function (x) { return Array.from(x); };
      return {type: a(P.type), ref: a(P.ref), x: a(P.x), y: a(P.y), w: a(P.bw), h: a(P.bh), src: a(P.src),
        dst: a(P.dst), tensor: a(P.et), points: a(P.pts), frames: a(P.fg), frameX: a(P.fx), titleX: a(P.ftx), titleW: a(P.ftw),
        frameLabels: P.fl, lines: P.embedded};
    },
    boxScreenRect: function (kind, i) {
      var b = kind === 'group' ? cur.groupBox.get(i) : cur.nodeBox.get(i);
      if (b === undefined) return null;
      var r = canvas.getBoundingClientRect();
      return {x: r.left + tx + cur.x[b] * s, y: r.top + ty + cur.y[b] * s, w: cur.bw[b] * s, h: cur.bh[b] * s};
    },
    svg: svgOfView
  };

  setupValues();
  $('model-name').textContent = D.name;
  $('brand').title = D.name;
  applyTheme();
  new ResizeObserver(function () { var had = W; resize(); if (cur && had <= 1) startView(); }).observe(stage);
  resize();
  var fontsReady = document.fonts && document.fonts.load ?
    Promise.race([Promise.all([document.fonts.load('10px nnviz-dejavu'), document.fonts.load('bold 12px nnviz-dejavu')]),
      new Promise(function (r) { setTimeout(r, 800); })]) : Promise.resolve();
  fontsReady.catch(function () {}).then(function () {
    fitCache.clear();
    if (!readHash()) openGroup(0);
    if (VAL.start && metricOf(VAL.start)) colorBy(VAL.start);
    draw();
    updateStatus();
  });
  }
})();
