"""The stylesheet and script of ``mlver ui``, served from the app itself (/static/ui.css,
/static/ui.js) so that the Content-Security-Policy can refuse every inline script and style."""

UI_CSS = """
:root{--fg:#1d1d1f;--muted:#666;--line:#e2e2e2;--soft:#f6f7f9;--bad:#c0392b;--accent:#4c78a8}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0}
nav.top{display:flex;gap:18px;align-items:center;padding:8px 20px;background:#1f2937;color:#fff}
nav.top a{color:#fff;text-decoration:none}nav.top .brand{font-weight:700}
nav.top .root{margin-left:auto;color:#cbd5e1;font-size:12px}
main{padding:14px 20px 40px}
h1{font-size:20px;margin:6px 0 10px}h2{font-size:16px;margin:22px 0 6px}
a{color:#1f5fa8}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.sub{color:var(--muted);font-size:12px}
.notice{background:#fff4e0;border:1px solid #f0d9a8;padding:6px 10px;border-radius:5px;margin:6px 0}
.error{color:var(--bad)}
table{border-collapse:collapse}
th,td{border-bottom:1px solid var(--line);padding:4px 10px 4px 0;text-align:left;vertical-align:top}
th{white-space:nowrap;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.grid th{position:sticky;top:0;background:#fff}
table.grid td{white-space:nowrap}
th.grp-metrics{border-bottom-color:#f58518}th.grp-params{border-bottom-color:#4c78a8}
table.grid tr:hover td{background:var(--soft)}
table.grid tr.sel td{background:#e8f0fb}
th a.sort{color:inherit;text-decoration:none}th .grp{color:var(--muted);font-weight:400}
.scroll{overflow:auto;max-width:100%}
code.cmd{white-space:pre-wrap;overflow-wrap:anywhere}
.bar{display:flex;gap:14px;align-items:center;margin:8px 0}
.bar .count{color:var(--muted)}
button{font:inherit;padding:3px 10px}
.filter{margin:6px 0}
td.failed,.failed{color:var(--bad);font-weight:600}
.failed-badge{background:#fdecea;color:var(--bad);border-radius:8px;padding:0 6px;font-size:12px}
.tag{background:#eef2ff;color:#3730a3;border-radius:8px;padding:0 6px;font-size:12px;
margin-right:3px}
.kind{border-radius:8px;padding:0 6px;font-size:12px}
.kind.model{background:#fdebd3;color:#9a5200}.kind.dataset{background:#dde8f3;color:#2c5282}
.pager{margin:10px 0}
.graph{border:1px solid var(--line);border-radius:6px;padding:6px;background:#fcfcfd}
.graph a.node:hover rect{stroke-width:3}
a.current{font-weight:700}
table.meta th{color:var(--muted);font-weight:500;padding-right:16px}
main{overflow-wrap:anywhere}nav.top .root{min-width:0;overflow-wrap:anywhere}
table.meta td,table.slots td,table.params td,table.metrics td{overflow-wrap:anywhere}
.scroll{overflow-x:auto}
.graph svg{display:block}
.plots{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
figure.history{margin:6px 0;padding:8px;border:1px solid var(--line);border-radius:6px}
figure.history svg{max-width:100%;height:auto}
figcaption{font-size:12.5px;margin-bottom:4px}
ul.files{margin:4px 0;padding-left:18px;max-height:16em;overflow:auto}
"""

UI_JS = """
(function () {
  'use strict';
  var form = document.getElementById('pick');
  if (!form) { return; }
  var button = document.getElementById('diff-btn');
  var ticked = [];
  function boxes() { return Array.prototype.slice.call(form.querySelectorAll('input[name=r]')); }
  function update() {
    var n = boxes().filter(function (b) { return b.checked; }).length;
    button.disabled = n !== 2;
    button.textContent = n === 2 ? 'Diff the two ticked versions'
      : 'Tick two versions to diff them (' + n + ' ticked)';
    boxes().forEach(function (b) {
      var row = b.closest('tr');
      if (row) { row.classList.toggle('sel', b.checked); }
    });
  }
  form.addEventListener('change', function (ev) {
    var b = ev.target;
    if (b.name !== 'r') { return; }
    ticked = ticked.filter(function (x) { return x !== b && x.checked; });
    if (b.checked) {
      ticked.push(b);
      while (ticked.length > 2) { ticked.shift().checked = false; }
    }
    update();
  });
  Array.prototype.forEach.call(form.querySelectorAll('tr[data-oid]'), function (row) {
    row.addEventListener('click', function (ev) {
      if (ev.target.closest('a, input, button')) { return; }
      var b = row.querySelector('input[name=r]');
      b.checked = !b.checked;
      b.dispatchEvent(new Event('change', { bubbles: true }));
    });
  });
  update();
})();
"""
