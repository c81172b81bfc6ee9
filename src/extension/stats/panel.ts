// "Show Stats": a webview with four small live charts (CPU %, memory, network and block I/O rates) drawn as SVG
// from the shared StatsHub. The panel subscribes only while it is visible; a hidden or closed panel keeps no stream.
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import type { Berth } from '../berth';
import type { StatsSample } from '../../views/stats';

const panels = new Map<string, StatsPanel>();

export class StatsPanel {
  private sub?: { dispose(): void };
  private readonly disposables: vscode.Disposable[] = [];

  static show(berth: Berth, id: string, name: string): StatsPanel {
    const existing = panels.get(id);
    if (existing) {
      existing.panel.reveal();
      return existing;
    }
    const p = new StatsPanel(berth, id, name);
    panels.set(id, p);
    return p;
  }

  /** Panels open right now (tests and Diagnose read it). */
  static get open(): string[] {
    return [...panels.keys()];
  }

  private readonly panel: vscode.WebviewPanel;

  private constructor(
    private readonly berth: Berth,
    readonly containerId: string,
    name: string,
  ) {
    this.panel = vscode.window.createWebviewPanel('berth.stats', `${name} (stats)`, vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: false,
    });
    this.panel.webview.html = html(this.panel.webview.cspSource, name);
    this.disposables.push(
      this.panel.onDidDispose(() => this.dispose()),
      this.panel.onDidChangeViewState(() => this.follow()),
      // A stopped container's stream ends; its next start opens a new one if the chart is on screen.
      berth.events.onEvent((e) => {
        if (e.Type !== 'container' || e.Actor?.ID !== containerId) return;
        if (e.Action === 'start') {
          this.sub?.dispose();
          this.sub = undefined;
          this.follow();
        }
        if (e.Action === 'die' || e.Action === 'destroy')
          void this.panel.webview.postMessage({ type: 'state', text: e.Action === 'die' ? 'stopped' : 'removed' });
      }),
      this.panel.webview.onDidReceiveMessage((m) => {
        // The webview asks for the history once its script runs (also after being hidden, which reloads it).
        if (m?.type === 'ready') {
          void this.panel.webview.postMessage({ type: 'history', samples: this.berth.stats.history(containerId) });
          this.follow();
        }
      }),
    );
  }

  /** Subscribed exactly while visible. */
  private follow(): void {
    if (!this.panel.visible) {
      this.sub?.dispose();
      this.sub = undefined;
      return;
    }
    if (this.sub && this.berth.stats.isOpen(this.containerId)) return;
    this.sub?.dispose();
    this.sub = this.berth.stats.subscribe(this.containerId, (_id, s: StatsSample) => {
      void this.panel.webview.postMessage({ type: 'sample', sample: s });
    });
    void this.panel.webview.postMessage({ type: 'state', text: 'live' });
  }

  dispose(): void {
    panels.delete(this.containerId);
    this.sub?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

function html(cspSource: string, name: string): string {
  const nonce = crypto.randomBytes(16).toString('base64');
  const title = name.replace(/[<>&"]/g, '');
  return `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'nonce-${nonce}'; script-src 'nonce-${nonce}';">
<style nonce="${nonce}">
body{font-family:var(--vscode-font-family);color:var(--vscode-foreground);padding:8px 16px}
h2{font-weight:600;font-size:1.1em;margin:4px 0 12px}
#state{font-weight:normal;opacity:.7;margin-left:8px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
.chart{border:1px solid var(--vscode-panel-border,#8884);border-radius:4px;padding:8px}
.chart h3{margin:0 0 4px;font-size:.95em;font-weight:600;display:flex;justify-content:space-between}
.chart h3 span{font-weight:normal;opacity:.85}
svg{width:100%;height:120px;display:block}
.grid-line{stroke:var(--vscode-panel-border,#8884);stroke-width:1}
.a{fill:none;stroke:var(--vscode-charts-blue,#3794ff);stroke-width:2}
.b{fill:none;stroke:var(--vscode-charts-orange,#d18616);stroke-width:2}
.af{fill:var(--vscode-charts-blue,#3794ff);opacity:.15}
.legend{font-size:.85em;opacity:.8}.legend i{display:inline-block;width:10px;height:3px;margin:0 4px 2px 8px;vertical-align:middle}
.la{background:var(--vscode-charts-blue,#3794ff)}.lb{background:var(--vscode-charts-orange,#d18616)}
</style></head><body>
<h2>${title}<span id="state">connecting…</span></h2>
<div class="grid">
 <div class="chart" id="cpu"><h3>CPU<span></span></h3><svg viewBox="0 0 300 100" preserveAspectRatio="none"></svg></div>
 <div class="chart" id="mem"><h3>Memory<span></span></h3><svg viewBox="0 0 300 100" preserveAspectRatio="none"></svg></div>
 <div class="chart" id="net"><h3>Network<span></span></h3><svg viewBox="0 0 300 100" preserveAspectRatio="none"></svg><div class="legend"><i class="la"></i>received<i class="lb"></i>sent</div></div>
 <div class="chart" id="blk"><h3>Block I/O<span></span></h3><svg viewBox="0 0 300 100" preserveAspectRatio="none"></svg><div class="legend"><i class="la"></i>read<i class="lb"></i>written</div></div>
</div>
<script nonce="${nonce}">
const vscode = acquireVsCodeApi();
const N = 60;
let samples = [];
const size = (n) => { const u=['B','kB','MB','GB','TB']; let i=0; while(n>=1000&&i<u.length-1){n/=1000;i++;} return (i&&n<100?n.toFixed(1):Math.round(n))+' '+u[i]; };
function rates(key) {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = Math.max(0.001, (samples[i].time - samples[i-1].time) / 1000);
    out.push(Math.max(0, (samples[i][key] - samples[i-1][key]) / dt));
  }
  return out;
}
function path(values, max) {
  if (!values.length) return '';
  const step = 300 / (N - 1);
  const x0 = 300 - (values.length - 1) * step;
  return values.map((v, i) => (i ? 'L' : 'M') + (x0 + i * step).toFixed(1) + ' ' + (100 - (v / max) * 96 - 2).toFixed(1)).join(' ');
}
function draw(id, series, max, label) {
  const el = document.getElementById(id);
  el.querySelector('h3 span').textContent = label;
  const svg = el.querySelector('svg');
  let body = '';
  for (const y of [25, 50, 75]) body += '<line class="grid-line" x1="0" x2="300" y1="'+y+'" y2="'+y+'"/>';
  series.forEach((values, k) => {
    const d = path(values, max);
    if (!d) return;
    if (k === 0 && series.length === 1) body += '<path class="af" d="'+d+' L300 100 L'+(300-(values.length-1)*300/(N-1)).toFixed(1)+' 100 Z"/>';
    body += '<path class="'+(k ? 'b' : 'a')+'" d="'+d+'"/>';
  });
  svg.innerHTML = body;
}
function render() {
  const last = samples[samples.length - 1];
  if (!last) return;
  const cpu = samples.map((s) => s.cpuPercent);
  draw('cpu', [cpu], Math.max(100, ...cpu), last.cpuPercent.toFixed(1) + ' %');
  const mem = samples.map((s) => s.memUsage);
  const memMax = last.memLimit && last.memLimit < 2 * Math.max(...mem) ? last.memLimit : Math.max(1, ...mem) * 1.25;
  draw('mem', [mem], memMax, size(last.memUsage) + (last.memLimit ? ' / ' + size(last.memLimit) : ''));
  const rx = rates('netRx'), tx = rates('netTx');
  draw('net', [rx, tx], Math.max(1024, ...rx, ...tx) * 1.2, '↓ ' + size(rx[rx.length-1] || 0) + '/s  ↑ ' + size(tx[tx.length-1] || 0) + '/s');
  const rd = rates('blockRead'), wr = rates('blockWrite');
  draw('blk', [rd, wr], Math.max(1024, ...rd, ...wr) * 1.2, 'R ' + size(rd[rd.length-1] || 0) + '/s  W ' + size(wr[wr.length-1] || 0) + '/s');
}
window.addEventListener('message', (ev) => {
  const m = ev.data;
  if (m.type === 'history') { samples = m.samples.slice(-N); render(); }
  if (m.type === 'sample') { samples.push(m.sample); if (samples.length > N) samples.shift(); render(); document.getElementById('state').textContent = 'live · ' + samples.length + ' s'; }
  if (m.type === 'state') document.getElementById('state').textContent = m.text;
});
vscode.postMessage({ type: 'ready' });
</script></body></html>`;
}
