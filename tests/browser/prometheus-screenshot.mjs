// Renders PromQL queries in Prometheus' own graph page (the classic UI that Debian's prometheus
// package serves at /classic/graph) with headless Debian chromium through playwright-core, and
// writes a full-page PNG. Fails when a graph does not render, when Prometheus shows an error for
// a query, or when a query has no data points.
//
// Run by tests/e2e_monitoring.rs with the dashboard's panel queries against a Prometheus that
// scrapes a real authproxy (AUTHPROXY_UPDATE_SCREENSHOTS=1 writes docs/images/monitoring-prometheus.png):
//   node prometheus-screenshot.mjs PROMETHEUS_URL QUERIES.json OUT.png
// QUERIES.json: [{"title": "...", "expr": "..."}, ...]. Environment: CHROMIUM (default
// /usr/bin/chromium), RANGE (graph range, default 1m).
import { readFileSync } from 'node:fs';

const [base, queriesPath, out] = process.argv.slice(2);
if (!base || !queriesPath || !out) {
  console.error('usage: node prometheus-screenshot.mjs PROMETHEUS_URL QUERIES.json OUT.png');
  process.exit(2);
}
const queries = JSON.parse(readFileSync(queriesPath, 'utf8'));
const range = process.env.RANGE || '1m';

// The first graph comes from the URL; the others are added by the page's own Prometheus.Graph
// (the classic UI's URL parser mixes up graphs g10 and up).
const graphOptions = queries.map((q) => ({ expr: q.expr, tab: 0, range_input: range, stacked: '0' }));
const params = new URLSearchParams();
for (const [k, v] of Object.entries(graphOptions[0])) params.set(`g0.${k}`, String(v));
const url = `${base.replace(/\/$/, '')}/classic/graph?${params}`;

const { chromium } = await import('playwright-core');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  // Three graphs per row, shorter than the default, so that one picture shows every panel. The
  // style is in place before the graphs are drawn (their size is read from the layout).
  await page.addInitScript(() => {
    document.addEventListener('DOMContentLoaded', () => {
      const style = document.createElement('style');
      style.textContent = `
        #graph_container { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 0 12px; }
        .graph_wrapper { min-width: 0; margin-bottom: 8px; }
        .graph_wrapper .expression_input { font-size: 11px; height: 3.2em !important; }
        .graph_wrapper .form-inline, .graph_wrapper .clearfix, .graph_wrapper .nav-tabs,
        .graph_wrapper .eval_stats, .graph_wrapper .spinner { display: none !important; }
        .graph_wrapper .form-row .col-lg-10 { flex: 0 0 100%; max-width: 100%; }
        .graph_wrapper .form-row .col-lg-2 { display: none; }
        #graph_container > .clearfix, .graph_wrapper .text-right { display: none !important; }
        .graph { min-height: 0 !important; height: 190px !important; }
        .graph_area { margin: 4px 0 !important; }
        .legend { font-size: 10px; max-height: 96px; overflow: hidden; margin-left: 40px !important; }
        .panel-title { font: 600 13px sans-serif; margin: 6px 0 2px; }
        #add_graph, .navbar { display: none !important; }
        body { padding-top: 8px !important; }
      `;
      document.head.appendChild(style);
    });
  });
  await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
  await page.waitForSelector('.graph_wrapper', { timeout: 30_000 });
  await page.evaluate((rest) => {
    for (const options of rest) {
      // eslint-disable-next-line no-undef
      pageConfig.graphs.push(new Prometheus.Graph($('#graph_container'), options, () => {}, () => {}));
    }
  }, graphOptions.slice(1));
  // Every graph has drawn its lines, or shown an error or "no data".
  const deadline = Date.now() + 45_000;
  let state;
  for (;;) {
    state = await page.evaluate(() =>
      [...document.querySelectorAll('.graph_wrapper')].map((w) => {
        const error = w.querySelector('.error');
        const errorText = error && error.offsetParent !== null ? error.textContent.trim() : '';
        const area = w.querySelector('.graph_area');
        return {
          error: errorText,
          paths: w.querySelectorAll('.graph svg path').length,
          text: area ? area.textContent.trim() : '',
        };
      }),
    );
    const done = state.length === queries.length && state.every((s) => s.error || s.paths > 0 || s.text);
    if (done || Date.now() > deadline) break;
    await page.waitForTimeout(250);
  }
  if (state.length !== queries.length) {
    console.error(`prometheus-screenshot: ${state.length} graphs on the page, ${queries.length} queries`);
    failed = true;
  }
  state.forEach((s, i) => {
    const q = queries[i] || { title: `graph ${i}` };
    if (s.error) {
      console.error(`prometheus-screenshot: ${q.title}: Prometheus says: ${s.error}`);
      failed = true;
    } else if (s.paths === 0) {
      console.error(`prometheus-screenshot: ${q.title}: nothing drawn (${s.text || 'no graph'})`);
      failed = true;
    }
  });
  // A caption with the dashboard panel's title above each graph.
  await page.evaluate((titles) => {
    document.querySelectorAll('.graph_wrapper').forEach((w, i) => {
      const h = document.createElement('div');
      h.className = 'panel-title';
      h.textContent = titles[i] || '';
      w.prepend(h);
    });
  }, queries.map((q) => q.title));
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.screenshot({ path: out, fullPage: true });
  console.log(`prometheus-screenshot: ${queries.length} graphs -> ${out}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
