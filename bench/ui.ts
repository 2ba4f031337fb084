/**
 * UI benchmarks: print figures, assert nothing about time. `npm run bench:ui`.
 *
 * Builds the app (`npx vite build`, skipped with BENCH_UI_NOBUILD=1), serves the
 * build with Vite's `preview()` and drives the system Chromium with Playwright:
 *
 *   1. production JavaScript, gzipped: first load (the entry chunk of index.html
 *      and its static imports) vs lazy chunks vs the emulator Worker;
 *   2. navigation → interactive (`main[aria-busy="false"]` and "Step 0 / N"),
 *      median of cold loads (a new browser context each), with the browser's
 *      navigation timing for reference;
 *   3. main-thread long tasks and responsiveness while the Worker runs the cost
 *      comparison (1,000,000 requests, static and dynamic);
 *   4. frame times while panning and zooming a 10,000-leaf page-table tree.
 *
 * Environment:
 *   BENCH_UI_NOBUILD=1   serve the existing build instead of building
 *   BENCH_UI_DIST=dir    build into / serve from this directory (default: dist)
 *   BENCH_UI_PORT=n      preview port (default 4174, strict; 0 = any free port)
 *   BENCH_QUICK=1        dynamic comparison with 100,000 requests instead of 1,000,000
 *   BENCH_UI_ONLY=a,b    run only some parts: size, load, compare, tree
 *   BENCH_UI_LOADS=n     cold loads for part 2 (default 5)
 *
 * Exits non-zero only when something fails (build, server, browser, a page that
 * does not behave as expected), never because a figure is slow.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { encodeShare } from '../src/state/share';
import { preview, type PreviewServer } from 'vite';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = resolve(ROOT, process.env.BENCH_UI_DIST ?? 'dist');
const PORT = Number(process.env.BENCH_UI_PORT ?? 4174);
const QUICK = process.env.BENCH_QUICK === '1';
const LOADS = Math.max(1, Number(process.env.BENCH_UI_LOADS ?? 5) || 5);
const ONLY = new Set((process.env.BENCH_UI_ONLY ?? 'size,load,compare,tree').split(',').map((s) => s.trim()).filter(Boolean));
const VIEWPORT = { width: 1280, height: 800 };
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const FIRST_LOAD_TARGET_KB = 250;
const DYNAMIC_REQUESTS = QUICK ? 100_000 : 1_000_000;

// ---------------------------------------------------------------------------
// Output

interface Row {
  part: string;
  figure: string;
  result: string;
  target?: string;
}
const rows: Row[] = [];
const json: Record<string, unknown> = { quick: QUICK };
const errors: string[] = [];

function row(part: string, figure: string, result: string, target = ''): void {
  rows.push({ part, figure, result, target });
  console.log(`  ${figure.padEnd(64)} ${result}${target ? `   (target ${target})` : ''}`);
}

function log(msg: string): void {
  console.log(msg);
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(x < 10 ? 1 : 0)} ms`);
const r1 = (x: number) => Math.round(x * 10) / 10;

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}
const median = (xs: number[]) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const max = (xs: number[]) => (xs.length ? Math.max(...xs) : Number.NaN);
const sleep = (t: number) => new Promise<void>((res) => setTimeout(res, t));

// ---------------------------------------------------------------------------
// 0. Build and serve

function build(): void {
  if (process.env.BENCH_UI_NOBUILD === '1') {
    if (!existsSync(join(DIST, 'index.html'))) throw new Error(`BENCH_UI_NOBUILD=1 but ${relative(ROOT, DIST) || DIST}/index.html does not exist`);
    log(`Using the existing build in ${relative(ROOT, DIST) || DIST} (BENCH_UI_NOBUILD=1).`);
    return;
  }
  log(`Building (npx vite build → ${relative(ROOT, DIST) || DIST}) …`);
  const t = performance.now();
  const args = ['vite', 'build', '--logLevel', 'warn'];
  if (resolve(DIST) !== resolve(ROOT, 'dist')) args.push('--outDir', DIST, '--emptyOutDir');
  const r = spawnSync('npx', args, { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`vite build failed (exit ${r.status ?? r.signal})`);
  log(`Built in ${((performance.now() - t) / 1000).toFixed(1)} s.`);
}

async function serve(): Promise<{ server: PreviewServer; url: string }> {
  const start = (port: number) =>
    preview({
      root: ROOT,
      logLevel: 'warn',
      build: { outDir: DIST },
      preview: { host: '127.0.0.1', port, strictPort: port !== 0, open: false },
    });
  let server: PreviewServer;
  try {
    server = await start(PORT);
  } catch (e) {
    // The machine is shared: when the default port is taken (and no port was asked for), take any free one.
    if (process.env.BENCH_UI_PORT !== undefined || !/in use/i.test((e as Error).message)) throw e;
    log(`Port ${PORT} is in use; serving on a free port instead.`);
    server = await start(0);
  }
  const addr = server.httpServer.address() as AddressInfo | string | null;
  const port = addr && typeof addr === 'object' ? addr.port : PORT;
  return { server, url: `http://127.0.0.1:${port}` };
}

// ---------------------------------------------------------------------------
// 1. JavaScript size

interface ChunkInfo {
  file: string;
  raw: number;
  gzip: number;
}

/** Static imports / re-exports (`import{a}from"./x.js"`, `import"./x.js"`, `export*from"./x.js"`); never `import(` or `import.meta`. */
const STATIC_IMPORT = /\b(?:import|export)\s*(?:[\w$*{}\s,]*?\bfrom\s*)?(["'`])([^"'`\s]+?\.js)\1/g;
const DYNAMIC_IMPORT = /\bimport\(\s*(["'`])([^"'`\s]+?\.js)\1\s*\)/g;
const WORKER_URL = /new\s+(?:Shared)?Worker\(\s*new\s+URL\(\s*(["'`])([^"'`\s]+?\.js)\1/g;

function measureSize(): void {
  log('\n## 1. Production JavaScript (gzip, node:zlib default level)');
  const html = readFileSync(join(DIST, 'index.html'), 'utf8');
  /** dist-relative posix path of a URL in index.html or a chunk. */
  const resolveRef = (ref: string, fromFile: string | null): string | null => {
    if (/^[a-z]+:/i.test(ref)) return null;
    const clean = ref.split(/[?#]/)[0];
    const p = clean.startsWith('/') ? clean.slice(1) : posix.normalize(posix.join(fromFile ? posix.dirname(fromFile) : '', clean));
    return existsSync(join(DIST, p)) ? p : null;
  };
  const text = new Map<string, string>();
  const read = (f: string) => {
    let t = text.get(f);
    if (t === undefined) {
      t = readFileSync(join(DIST, f), 'utf8');
      text.set(f, t);
    }
    return t;
  };
  const refs = (f: string, re: RegExp) => {
    const out: string[] = [];
    for (const m of read(f).matchAll(re)) {
      const p = resolveRef(m[2], f);
      if (p) out.push(p);
    }
    return out;
  };
  const closure = (starts: string[], exclude: Set<string> = new Set()) => {
    const seen = new Set<string>();
    const todo = [...starts];
    while (todo.length) {
      const f = todo.pop() as string;
      if (seen.has(f) || exclude.has(f)) continue;
      seen.add(f);
      todo.push(...refs(f, STATIC_IMPORT));
    }
    return seen;
  };

  const entries: string[] = [];
  for (const m of html.matchAll(/<script\b[^>]*\btype=["']module["'][^>]*\bsrc=["']([^"']+)["']/g)) {
    const p = resolveRef(m[1], null);
    if (p) entries.push(p);
  }
  for (const m of html.matchAll(/<link\b[^>]*\brel=["']modulepreload["'][^>]*\bhref=["']([^"']+)["']/g)) {
    const p = resolveRef(m[1], null);
    if (p) entries.push(p);
  }
  if (entries.length === 0) throw new Error('no module script found in dist/index.html');
  const css: string[] = [];
  for (const m of html.matchAll(/<link\b[^>]*\brel=["']stylesheet["'][^>]*\bhref=["']([^"']+)["']/g)) {
    const p = resolveRef(m[1], null);
    if (p) css.push(p);
  }

  const first = closure(entries);
  const workerStarts = new Set<string>();
  const lazyStarts = new Set<string>();
  const scan = (files: Iterable<string>) => {
    for (const f of files) {
      for (const w of refs(f, WORKER_URL)) workerStarts.add(w);
      for (const d of refs(f, DYNAMIC_IMPORT)) lazyStarts.add(d);
    }
  };
  scan(first);
  // Lazy chunks: reached by dynamic import, minus what the first load already has (repeat: lazy chunks may import more lazily).
  const lazy = new Set<string>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const f of closure([...lazyStarts], first)) {
      if (!lazy.has(f)) {
        lazy.add(f);
        changed = true;
        scan([f]);
      }
    }
  }
  const worker = closure([...workerStarts]);
  const allJs = readdirSync(DIST, { recursive: true, encoding: 'utf8' })
    .map((p) => p.split('\\').join('/'))
    .filter((p) => p.endsWith('.js'));
  const other = allJs.filter((f) => !first.has(f) && !lazy.has(f) && !worker.has(f));

  const info = (f: string): ChunkInfo => {
    const buf = readFileSync(join(DIST, f));
    return { file: f, raw: buf.length, gzip: gzipSync(buf).length };
  };
  const group = (files: Iterable<string>) => [...files].sort().map(info);
  const sum = (cs: ChunkInfo[], k: 'raw' | 'gzip') => cs.reduce((a, c) => a + c[k], 0);
  const groups: Array<[string, ChunkInfo[]]> = [
    ['First load JS', group(first)],
    ['Lazy chunks (dynamic import)', group(lazy)],
    ['Worker', group(worker)],
    ['First load CSS', group(css)],
  ];
  if (other.length) groups.push(['Other JS (not reached)', group(other)]);
  for (const [name, cs] of groups) {
    log(`  ${name}: ${kb(sum(cs, 'gzip'))} gzip (${kb(sum(cs, 'raw'))} raw)`);
    for (const c of cs) log(`      ${c.file.padEnd(44)} ${kb(c.gzip).padStart(10)} gzip ${kb(c.raw).padStart(10)} raw`);
  }
  const [fl, lz, wk, cs] = groups.map((g) => g[1]);
  const workerShared = [...worker].filter((f) => first.has(f));
  row('size', 'First-load JS (entry + static imports), gzip', `${kb(sum(fl, 'gzip'))} (${kb(sum(fl, 'raw'))} raw, ${fl.length} files)`, `< ${FIRST_LOAD_TARGET_KB} KB`);
  row('size', 'First-load CSS, gzip', `${kb(sum(cs, 'gzip'))} (${kb(sum(cs, 'raw'))} raw)`);
  const biggestLazy = [...lz].sort((a, b) => b.gzip - a.gzip)[0];
  row('size', 'Lazy JS chunks, gzip', `${kb(sum(lz, 'gzip'))} (${lz.length} chunks${biggestLazy ? `; largest ${biggestLazy.file.replace(/^assets\//, '').replace(/-[\w-]{8}\.js$/, '')} ${kb(biggestLazy.gzip)}` : ''})`);
  row('size', 'Worker JS, gzip', `${kb(sum(wk, 'gzip'))} (${kb(sum(wk, 'raw'))} raw${workerShared.length ? `; ${workerShared.length} file(s) shared with the first load` : ''})`);
  json.size = {
    firstLoadJsGzip: sum(fl, 'gzip'),
    firstLoadJsRaw: sum(fl, 'raw'),
    firstLoadCssGzip: sum(cs, 'gzip'),
    lazyJsGzip: sum(lz, 'gzip'),
    workerJsGzip: sum(wk, 'gzip'),
    workerJsRaw: sum(wk, 'raw'),
    targetFirstLoadGzip: FIRST_LOAD_TARGET_KB * 1024,
    files: Object.fromEntries(groups.map(([n, c]) => [n, c])),
  };
}

// ---------------------------------------------------------------------------
// In-page probes. Plain JS strings (not functions): tsx/esbuild's keepNames would
// otherwise inject a `__name` helper the page does not have.

/** Installed before any page script: long tasks, long animation frames, and the "interactive" moment. */
const PROBE = `(() => {
  const B = (window.__bench = { longtasks: [], loafs: [], ready: undefined, readyFrame: undefined, readySteps: undefined });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries())
        B.longtasks.push({ start: e.startTime, dur: e.duration, name: e.name,
          attr: (e.attribution || []).map((a) => [a.name, a.containerType, a.containerName, a.containerSrc].filter(Boolean).join(' ')).join('; ') });
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) { B.longtaskError = String(e); }
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries())
        B.loafs.push({ start: e.startTime, dur: e.duration, blocking: e.blockingDuration, renderStart: e.renderStart, styleAndLayoutStart: e.styleAndLayoutStart,
          scripts: (e.scripts || []).map((s) => ({ invoker: s.invoker, type: s.invokerType, src: s.sourceURL, fn: s.sourceFunctionName, char: s.sourceCharPosition, dur: s.duration, forced: s.forcedStyleAndLayoutDuration })) });
    }).observe({ type: 'long-animation-frame', buffered: true });
  } catch (e) { B.loafError = String(e); }
  // When the emulator Worker starts and what it sends first (boot breakdown); a listener beside the app's own onmessage.
  B.worker = { created: [], messages: [] };
  const NativeWorker = window.Worker;
  if (NativeWorker) {
    window.Worker = class extends NativeWorker {
      constructor(...args) {
        super(...args);
        B.worker.created.push(performance.now());
        this.addEventListener('message', (e) => {
          if (B.worker.messages.length < 20) B.worker.messages.push({ t: performance.now(), type: e.data && e.data.type });
        });
      }
    };
  }
  const check = () => {
    if (B.ready !== undefined) return;
    const main = document.querySelector('main[aria-busy="false"]');
    if (!main) return;
    const counter = document.querySelector('[data-testid="step-counter"]') || [...document.querySelectorAll('output')].find((o) => /Step \\d+ \\/ \\d+/.test(o.textContent || ''));
    const m = counter && /Step 0 \\/ (\\d+)/.exec(counter.textContent || '');
    if (!m) return;
    B.ready = performance.now();
    B.readySteps = Number(m[1]);
    mo.disconnect();
    requestAnimationFrame(() => { B.readyFrame = performance.now(); });
  };
  const mo = new MutationObserver(check);
  mo.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
})();`;

interface LongTask {
  start: number;
  dur: number;
  name: string;
  attr: string;
}
interface Loaf {
  start: number;
  dur: number;
  blocking: number;
  renderStart: number;
  styleAndLayoutStart: number;
  scripts: Array<{ invoker: string; type: string; src: string; fn: string; char: number; dur: number; forced: number }>;
}

async function newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: VIEWPORT, reducedMotion: 'no-preference' });
  await context.addInitScript({ content: PROBE });
  const page = await context.newPage();
  page.on('pageerror', (e) => log(`    [page error] ${e.message}`));
  return { context, page };
}

async function waitInteractive(page: Page, timeout = 60_000): Promise<void> {
  await page.waitForFunction('window.__bench && window.__bench.ready !== undefined && window.__bench.readyFrame !== undefined', null, { timeout, polling: 50 });
}

async function longTasksBetween(page: Page, t0: number, t1: number): Promise<{ tasks: LongTask[]; loafs: Loaf[] }> {
  return (await page.evaluate(`(() => ({
    tasks: window.__bench.longtasks.filter((e) => e.start + e.dur >= ${t0} && e.start <= ${t1}),
    loafs: window.__bench.loafs.filter((e) => e.start + e.dur >= ${t0} && e.start <= ${t1}),
  }))()`)) as { tasks: LongTask[]; loafs: Loaf[] };
}

/** The scripts that took longest in long animation frames: where the main thread's time went. */
function topScripts(loafs: Loaf[], n = 4): string[] {
  const byKey = new Map<string, { dur: number; count: number; forced: number }>();
  for (const f of loafs) {
    for (const s of f.scripts) {
      const src = (s.src || '').replace(/^.*\/assets\//, '');
      const key = `${s.invoker || s.type}${src ? ` @ ${src}${s.char >= 0 ? `:${s.char}` : ''}` : ''}${s.fn ? ` (${s.fn})` : ''}`;
      const e = byKey.get(key) ?? { dur: 0, count: 0, forced: 0 };
      e.dur += s.dur;
      e.count++;
      e.forced += s.forced || 0;
      byKey.set(key, e);
    }
  }
  return [...byKey.entries()]
    .sort((a, b) => b[1].dur - a[1].dur)
    .slice(0, n)
    .map(([k, v]) => `${k}: ${v.count}× ${ms(v.dur)} total${v.forced > 1 ? `, ${ms(v.forced)} forced style/layout` : ''}`);
}

/** Time spent rendering (style, layout, paint) in long animation frames, i.e. after the scripts. */
function renderTime(loafs: Loaf[]): number {
  return loafs.reduce((a, f) => a + (f.renderStart > 0 ? f.start + f.dur - f.renderStart : 0), 0);
}

// ---------------------------------------------------------------------------
// 2. Navigation → interactive

async function measureLoad(browser: Browser, url: string): Promise<void> {
  log(`\n## 2. Navigation → interactive (${LOADS} cold loads, new context each)`);
  const wall: number[] = [];
  const ready: number[] = [];
  const readyFrame: number[] = [];
  const dcl: number[] = [];
  const loadEv: number[] = [];
  const fcp: number[] = [];
  const longest: number[] = [];
  const ltCount: number[] = [];
  const workerCreated: number[] = [];
  const workerLoaded: number[] = [];
  const workerScriptEnd: number[] = [];
  let steps = 0;
  let lastLoafs: Loaf[] = [];
  for (let i = 0; i < LOADS; i++) {
    const { context, page } = await newPage(browser);
    try {
      const t = performance.now();
      await page.goto(url + '/', { waitUntil: 'commit' });
      await waitInteractive(page);
      wall.push(performance.now() - t);
      await sleep(300); // let the load event and the paint entries land
      const r = (await page.evaluate(`(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const paint = performance.getEntriesByName('first-contentful-paint')[0];
        const B = window.__bench;
        return { ready: B.ready, readyFrame: B.readyFrame, steps: B.readySteps, dcl: nav ? nav.domContentLoadedEventEnd : NaN, load: nav ? nav.loadEventEnd : NaN,
          fcp: paint ? paint.startTime : NaN,
          workerCreated: B.worker.created[0], workerMsgs: B.worker.messages.slice(0, 4),
          workerScript: (() => { const r = performance.getEntriesByType('resource').find((e) => /worker[^/]*[.]js/.test(e.name)); return r ? { start: r.startTime, end: r.responseEnd } : null; })(),
          longtasks: B.longtasks.filter((e) => e.start <= B.readyFrame), loafs: B.loafs.filter((e) => e.start <= B.readyFrame) };
      })()`)) as {
        ready: number;
        readyFrame: number;
        steps: number;
        dcl: number;
        load: number;
        fcp: number;
        workerCreated?: number;
        workerMsgs: Array<{ t: number; type: string }>;
        workerScript: { start: number; end: number } | null;
        longtasks: LongTask[];
        loafs: Loaf[];
      };
      const loaded = r.workerMsgs.find((m) => m.type === 'loaded');
      workerCreated.push(r.workerCreated ?? Number.NaN);
      workerLoaded.push(loaded?.t ?? Number.NaN);
      workerScriptEnd.push(r.workerScript?.end ?? Number.NaN);
      ready.push(r.ready);
      readyFrame.push(r.readyFrame);
      dcl.push(r.dcl);
      loadEv.push(r.load);
      fcp.push(r.fcp);
      ltCount.push(r.longtasks.length);
      longest.push(max(r.longtasks.map((e) => e.dur)) || 0);
      steps = r.steps;
      lastLoafs = r.loafs;
      log(
        `  load ${i + 1}: interactive ${ms(r.ready)} (next frame ${ms(r.readyFrame)}), goto→interactive ${ms(wall[i])} wall, DCL ${ms(r.dcl)}, load ${ms(r.load)}, FCP ${ms(r.fcp)}, ` +
          `${r.longtasks.length} long task(s), longest ${ms(longest[i])}`,
      );
      log(
        `          Worker created ${ms(r.workerCreated)}, its script fetched by ${ms(r.workerScript?.end)}, messages: ${r.workerMsgs.map((m) => `${m.type} ${ms(m.t)}`).join(', ') || 'none seen'}`,
      );
    } finally {
      await context.close();
    }
  }
  if (steps !== 8) log(`  note: the default scenario has ${steps} steps (the brief expected "Step 0 / 8").`);
  const range = (xs: number[]) => `${ms(median(xs))} (${ms(Math.min(...xs))}–${ms(Math.max(...xs))})`;
  row('load', `Navigation → interactive (aria-busy=false, "Step 0 / ${steps}"), median`, range(ready));
  row('load', 'page.goto → interactive, wall clock (incl. CDP), median', range(wall));
  row('load', 'domContentLoaded (navigation timing), median', range(dcl));
  row('load', 'First contentful paint, median', range(fcp));
  row('load', 'Long tasks before interactive (median count / longest)', `${median(ltCount)} / ${ms(max(longest))}`);
  row('load', 'Worker created → its first snapshot ("loaded"), median', `${ms(median(workerCreated))} → ${ms(median(workerLoaded))} (script fetched by ${ms(median(workerScriptEnd))})`);
  for (const s of topScripts(lastLoafs, 3)) log(`    LoAF script (last load): ${s}`);
  json.load = {
    loads: LOADS,
    steps,
    interactiveMs: ready.map(r1),
    interactiveMedianMs: r1(median(ready)),
    interactiveNextFrameMedianMs: r1(median(readyFrame)),
    gotoToInteractiveWallMedianMs: r1(median(wall)),
    domContentLoadedMedianMs: r1(median(dcl)),
    loadEventMedianMs: r1(median(loadEv)),
    fcpMedianMs: r1(median(fcp)),
    longTasksBeforeInteractive: ltCount,
    longestTaskBeforeInteractiveMs: r1(max(longest)),
    workerCreatedMedianMs: r1(median(workerCreated)),
    workerScriptFetchedMedianMs: r1(median(workerScriptEnd)),
    workerLoadedMedianMs: r1(median(workerLoaded)),
  };
}

// ---------------------------------------------------------------------------
// 3. Long tasks while the Worker runs the comparison

const START_RUN = `(() => {
  const st = window.__explorer.store;
  const R = (window.__bench.run = { t0: performance.now(), running: undefined, done: undefined, status: undefined, progress: 0, raf: [], lag: [] });
  let last = st.getState().compare.progress;
  R.unsub = st.subscribe((s) => {
    const c = s.compare;
    if (c.progress && c.progress !== last) { R.progress++; last = c.progress; }
    if (c.status === 'running' && R.running === undefined) R.running = performance.now();
    if (R.running !== undefined && R.done === undefined && (c.status === 'done' || c.status === 'error' || c.status === 'cancelled')) {
      R.done = performance.now(); R.status = c.status; R.error = c.error;
      R.designs = c.result ? c.result.designs.map((d) => d.design) : [];
    }
  });
  let expected = performance.now() + 100;
  R.iv = setInterval(() => {
    const now = performance.now();
    R.lag.push(Math.max(0, now - expected));
    expected = now + 100;
    requestAnimationFrame(() => R.raf.push(performance.now() - now));
  }, 100);
})()`;

const STOP_RUN = `(() => {
  const R = window.__bench.run;
  clearInterval(R.iv);
  R.unsub();
  return { running: R.running, done: R.done, status: R.status, error: R.error, designs: R.designs, progress: R.progress, raf: R.raf, lag: R.lag };
})()`;

interface RunOut {
  running: number;
  done: number;
  status: string;
  error?: string;
  designs: string[];
  progress: number;
  raf: number[];
  lag: number[];
}

async function measureCompare(browser: Browser, url: string, kind: 'static' | 'dynamic', requests: number): Promise<void> {
  const label = `${kind}, ${requests.toLocaleString('en-US')} requests`;
  log(`\n## 3. Comparison run in the Worker (${label})`);
  const { context, page } = await newPage(browser);
  try {
    await page.goto(url + '/');
    await waitInteractive(page);
    await page.locator('body').focus();
    await page.keyboard.press('6');
    const tab = page.getByRole('tab', { name: 'Costs' });
    if ((await tab.getAttribute('aria-selected')) !== 'true') await tab.click();
    const reqInput = page.getByLabel('Requests', { exact: true });
    await reqInput.waitFor({ state: 'visible', timeout: 30_000 });
    await page.getByLabel('Kind', { exact: true }).selectOption(kind);
    await reqInput.fill(String(requests));
    await page.waitForFunction(
      `(() => { const w = window.__explorer.store.getState().compareWorkload; return w.kind === ${JSON.stringify(kind)} && w.requests === ${requests}; })()`,
      null,
      { timeout: 10_000 },
    );
    const run = page.getByRole('button', { name: 'Run comparison' });
    await run.waitFor({ state: 'visible' });
    if (await run.isDisabled()) throw new Error('the Run comparison button is disabled');
    await sleep(500); // let the page settle
    await page.evaluate(START_RUN);
    await run.click();
    await page.waitForFunction('window.__bench.run.done !== undefined', null, { timeout: 30 * 60_000, polling: 500 });
    await sleep(1500); // the results render, then some idle frames
    const r = (await page.evaluate(STOP_RUN)) as RunOut;
    if (r.status !== 'done') throw new Error(`comparison ended with status ${r.status}${r.error ? `: ${r.error}` : ''}`);
    const { tasks, loafs } = await longTasksBetween(page, r.running - 1, r.done + 1500);
    // The task that delivered the result (it contains the "done" moment) and later ones render the results.
    const during = tasks.filter((t) => t.start + t.dur < r.done);
    const after = tasks.filter((t) => t.start + t.dur >= r.done);
    const durLoafs = loafs.filter((f) => f.start + f.dur < r.done);
    const afterLoafs = loafs.filter((f) => f.start + f.dur >= r.done);
    const total = r.done - r.running;
    log(`  designs: ${r.designs.join(', ')}; run ${ms(total)}; ${r.progress} progress updates`);
    log(`  long tasks during the run: ${during.length} (longest ${ms(max(during.map((t) => t.dur)) || 0)}, total ${ms(during.reduce((a, t) => a + t.dur, 0))})`);
    log(`  long tasks rendering the results (after "done"): ${after.length} (longest ${ms(max(after.map((t) => t.dur)) || 0)})`);
    log(`  rAF round trip sampled every 100 ms: median ${ms(median(r.raf))}, p95 ${ms(quantile(r.raf, 0.95))}, max ${ms(max(r.raf))} (${r.raf.length} samples); timer lateness max ${ms(max(r.lag))}`);
    for (const s of topScripts(durLoafs)) log(`    LoAF during run: ${s}`);
    for (const s of topScripts(afterLoafs)) log(`    LoAF results render: ${s}`);
    if (afterLoafs.length) log(`    results render: ${afterLoafs.length} long animation frame(s), ${ms(max(afterLoafs.map((f) => f.dur)))} longest, ${ms(renderTime(afterLoafs))} style/layout/paint`);
    const key = kind === 'static' ? 'compareStatic' : 'compareDynamic';
    const lt = (ts: LongTask[]) => `${ts.length}, longest ${ms(max(ts.map((t) => t.dur)) || 0)}`;
    row('compare', `${label}: run time (Run → done), progress updates`, `${ms(total)}, ${r.progress} updates`);
    row('compare', `${label}: long tasks > 50 ms during run`, lt(during));
    row('compare', `${label}: long tasks rendering the results`, lt(after));
    row('compare', `${label}: rAF round trip every 100 ms, p95 / max`, `${ms(quantile(r.raf, 0.95))} / ${ms(max(r.raf))}`);
    json[key] = {
      kind,
      requests,
      runMs: r1(total),
      progressUpdates: r.progress,
      designs: r.designs,
      longTasksDuringRun: during.length,
      longestTaskDuringRunMs: r1(max(during.map((t) => t.dur)) || 0),
      longTasksResultsRender: after.length,
      longestTaskResultsRenderMs: r1(max(after.map((t) => t.dur)) || 0),
      rafSamples: r.raf.length,
      rafMedianMs: r1(median(r.raf)),
      rafP95Ms: r1(quantile(r.raf, 0.95)),
      rafMaxMs: r1(max(r.raf)),
      timerLatenessMaxMs: r1(max(r.lag)),
    };
  } finally {
    await context.close();
  }
}

// ---------------------------------------------------------------------------
// 4. Frame times while panning a 10,000-leaf page-table tree

const TREE_LEAVES = 10_000;
const TREE_SCENARIO = {
  v: 1,
  title: 'bench: 10,000 4 KiB leaves',
  machine: { ram: [{ base: '0x40000000', size: '0x80000000' }], devices: [{ sid: 1, name: 'dev' }] },
  mode: 'bare',
  steps: [
    { do: 'host', op: 'init' },
    { do: 'host', op: 'alloc_domain', domain: 'd', stage: 's1' },
    { do: 'host', op: 'attach', domain: 'd', sid: 1 },
    // paddr is 4 KiB but not 2 MiB aligned relative to the iova: only 4 KiB leaves.
    { do: 'host', op: 'map', domain: 'd', iova: '0x100000', paddr: '0x50001000', size: '0x' + (TREE_LEAVES * 4096).toString(16), prot: ['read', 'write'] },
  ],
};

/** Check the scenario with the headless CLI first (it prints the final state). */
function checkTreeScenarioCli(): void {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ui-'));
  try {
    const file = join(dir, 'tree10k.json');
    writeFileSync(file, JSON.stringify(TREE_SCENARIO));
    const r = spawnSync('npx', ['tsx', 'src/cli/main.ts', 'scenario', file], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`cli scenario failed (exit ${r.status}): ${r.stderr.slice(0, 500)}`);
    const out = JSON.parse(r.stdout) as { results: Array<{ ret?: unknown }>; cost: { counts: { ptes: number } }; state: { tables: unknown[] } };
    const bad = out.results.findIndex((x) => x.ret !== 0);
    if (bad >= 0) throw new Error(`cli scenario: step ${bad + 1} returned ${JSON.stringify(out.results[bad])}`);
    if (out.cost.counts.ptes !== TREE_LEAVES) throw new Error(`cli scenario wrote ${out.cost.counts.ptes} PTEs, expected ${TREE_LEAVES}`);
    log(`  CLI check: all ${out.results.length} steps ok, ${out.cost.counts.ptes} PTEs written, ${out.state.tables.length} table(s).`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const TREE_SVG = 'svg[role="img"][aria-labelledby^="pt-"]';

const START_FRAMES = `(() => {
  const svg = document.querySelector(${JSON.stringify(TREE_SVG)});
  const g = svg.querySelector(':scope > g');
  const F = (window.__bench.frames = { t: [], nodes: [], links: [], on: true, t0: performance.now() });
  const loop = (ts) => {
    if (!F.on) return;
    F.t.push(ts);
    F.nodes.push(g.childElementCount - 1);
    F.links.push(g.firstElementChild ? g.firstElementChild.childElementCount : 0);
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
})()`;

const STOP_FRAMES = `(() => {
  const F = window.__bench.frames;
  F.on = false;
  const g = document.querySelector(${JSON.stringify(TREE_SVG)}).querySelector(':scope > g');
  return { t0: F.t0, t1: performance.now(), t: F.t, nodes: F.nodes, links: F.links, transform: g.getAttribute('transform') };
})()`;

interface FramesOut {
  t0: number;
  t1: number;
  t: number[];
  nodes: number[];
  links: number[];
  transform: string | null;
}

interface PhaseStats {
  phase: string;
  frames: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  dropped: number;
  nodesMedian: number;
  nodesMax: number;
  linksMax: number;
  longTasks: number;
  longestTaskMs: number;
  scale: number;
  durationMs: number;
}

async function measureTree(browser: Browser, url: string): Promise<void> {
  log(`\n## 4. Panning a ${TREE_LEAVES.toLocaleString('en-US')}-leaf page-table tree`);
  checkTreeScenarioCli();
  const hash = '#' + encodeShare({ scenario: TREE_SCENARIO, step: 0 });
  const { context, page } = await newPage(browser);
  try {
    await page.goto(url + '/' + hash);
    await waitInteractive(page);
    const nSteps = TREE_SCENARIO.steps.length;
    const counter = page.getByTestId('step-counter');
    if ((await counter.textContent())?.trim() !== `Step 0 / ${nSteps}`) throw new Error(`the share link did not open the scenario (counter: ${await counter.textContent()})`);
    const loadError = await page.evaluate('window.__explorer.store.getState().loadError');
    if (loadError) throw new Error(`the share link was refused: ${String(loadError)}`);
    await page.locator('body').focus();
    await page.keyboard.press('End');
    await page.waitForFunction(`(() => { const s = window.__explorer.store.getState(); return s.step === ${nSteps} && s.snapshot && s.snapshot.step === ${nSteps} && s.status === 'ready'; })()`, null, { timeout: 30_000 });
    const openT0 = (await page.evaluate('performance.now()')) as number;
    const tOpen = performance.now();
    await page.keyboard.press('3');
    const select = page.getByLabel('Page table', { exact: true });
    await select.waitFor({ state: 'visible', timeout: 30_000 });
    const options = await select.locator('option').evaluateAll((os) => os.map((o) => ({ value: (o as HTMLOptionElement).value, text: o.textContent ?? '' })));
    const s1 = options.find((o) => /stage 1|\bs1\b|s1:/i.test(o.text + ' ' + o.value)) ?? options[0];
    if (!s1) throw new Error('no page table to select');
    // The panel picks the first table itself; selecting the same one again would fetch the tree twice.
    if ((await select.inputValue()) !== s1.value) await select.selectOption(s1.value);
    await page.waitForFunction(
      `(() => { const t = window.__explorer.store.getState().tree; return !!t && t.ref.id === ${JSON.stringify(s1.value)} && !!document.querySelector(${JSON.stringify(TREE_SVG)}); })()`,
      null,
      { timeout: 30_000, polling: 'raf' },
    );
    const treeMs = performance.now() - tOpen;
    await sleep(300);
    const openT1 = (await page.evaluate('performance.now()')) as number;
    const openTasks = await longTasksBetween(page, openT0, openT1);
    const info = (await page.evaluate('(() => { const t = window.__explorer.store.getState().tree; return { leaves: t.leaves, tables: t.tables, truncated: t.truncated }; })()')) as {
      leaves: number;
      tables: number;
      truncated: boolean;
    };
    log(`  table "${s1.text.trim()}" (${s1.value}): ${info.leaves} leaves, ${info.tables} tables${info.truncated ? ', TRUNCATED' : ''}; tree drawn ${ms(treeMs)} after opening the panel (${openTasks.tasks.length} long tasks, longest ${ms(max(openTasks.tasks.map((t) => t.dur)) || 0)})`);
    for (const s of topScripts(openTasks.loafs, 3)) log(`    LoAF while opening: ${s}`);
    if (info.leaves !== TREE_LEAVES) throw new Error(`the tree reports ${info.leaves} leaves, expected ${TREE_LEAVES}`);

    // Expand everything with the ARIA tree's keyboard interface: open the path down to the
    // last-level tables, then open those from the bottom up (each opened table's rows land
    // below it, so ArrowUp always reaches the next closed one).
    const shownCount = async () => {
      const h = await page.getByRole('heading', { name: /^Entries \(/ }).textContent();
      const m = /\((\d+) shown of (\d+)\)/.exec(h ?? '');
      if (!m) throw new Error(`cannot read the tree's entry count from "${h}"`);
      return { shown: Number(m[1]), total: Number(m[2]) };
    };
    const expandT0 = (await page.evaluate('performance.now()')) as number;
    const tExpand = performance.now();
    const row0 = page.locator('[role="tree"] [role="treeitem"][tabindex="0"]');
    await row0.focus();
    await page.keyboard.press('Home');
    let presses = 0;
    const press = async (key: string) => {
      await page.keyboard.press(key);
      presses++;
    };
    // Root (open) → its first entry; open it; → its first child; … until a table whose children are leaves.
    const FOCUSED = '[role="tree"] [role="treeitem"][tabindex="0"]';
    for (let depth = 0; depth < 6; depth++) {
      const focused = page.locator(FOCUSED);
      if ((await focused.getAttribute('aria-expanded')) === 'false') {
        await press('ArrowRight');
        await page.waitForFunction(`document.querySelector('${FOCUSED}')?.getAttribute('aria-expanded') === 'true'`);
        const leafChild = await page.evaluate(`(() => { const rows = [...document.querySelectorAll('[role="tree"] [role="treeitem"]')];
          const i = rows.findIndex((r) => r.getAttribute('tabindex') === '0'); const next = rows[i + 1]; return !!next && !next.hasAttribute('aria-expanded'); })()`);
        if (leafChild) {
          // A last-level table: close it again; all of them are opened bottom-up below.
          await press('ArrowLeft');
          await page.waitForFunction(`document.querySelector('${FOCUSED}')?.getAttribute('aria-expanded') === 'false'`);
          break;
        }
      }
      await press('ArrowRight'); // open → move to the first child
    }
    // Now focused on the first last-level table: its siblings are the other ones. Go to the last row of this level.
    await press('End');
    let opened = 0;
    for (let guard = 0; guard < 600; guard++) {
      const focused = page.locator(FOCUSED);
      const attr = await focused.getAttribute('aria-expanded');
      if (attr === 'false') {
        const { shown } = await shownCount();
        await press('ArrowRight');
        await page.waitForFunction(`(() => { const h = [...document.querySelectorAll('h3')].find((e) => /^Entries \\(/.test(e.textContent || '')); const m = h && /\\((\\d+) shown/.exec(h.textContent); return m && Number(m[1]) > ${shown}; })()`);
        opened++;
      } else if (attr === null && opened > 0) {
        // A leaf row: we went past the first table of the level (should not happen going up).
        break;
      }
      const pos = await focused.getAttribute('aria-posinset');
      if (pos === '1' && attr !== null) break;
      await press('ArrowUp');
    }
    const expandMs = performance.now() - tExpand;
    const expandT1 = (await page.evaluate('performance.now()')) as number;
    const counts = await shownCount();
    const expandTasks = await longTasksBetween(page, expandT0, expandT1);
    log(
      `  expanded ${opened} last-level tables with the keyboard (${presses} key presses) in ${ms(expandMs)}: ${counts.shown} of ${counts.total} entries visible; ` +
        `${expandTasks.tasks.length} long tasks, longest ${ms(max(expandTasks.tasks.map((t) => t.dur)) || 0)}`,
    );
    for (const s of topScripts(expandTasks.loafs, 3)) log(`    LoAF while expanding: ${s}`);
    if (counts.shown < TREE_LEAVES) throw new Error(`only ${counts.shown} entries visible after expanding (expected ≥ ${TREE_LEAVES})`);

    // Centre the drawing on a leaf in the middle of the range (the search expands and centres).
    const mid = 0x100000 + Math.floor(TREE_LEAVES / 2) * 4096;
    await page.getByLabel(/^Find input address/).fill('0x' + mid.toString(16));
    await page.getByRole('button', { name: 'Find', exact: true }).click();
    await sleep(800); // the 350 ms centring transition
    await page.evaluate(`document.querySelector(${JSON.stringify(TREE_SVG)}).scrollIntoView({ block: 'center' })`);
    await sleep(200);
    const box = await page.locator(TREE_SVG).boundingBox();
    if (!box) throw new Error('tree SVG has no box');
    const cx = box.x + box.width * 0.45;
    const cy = box.y + box.height * 0.5;

    const phases: PhaseStats[] = [];
    /** The screen position of the rendered node glyph nearest the SVG's centre (zoom in on the tree, not on empty space). */
    const nearestGlyph = async (): Promise<{ x: number; y: number }> => {
      const p = (await page.evaluate(`(() => {
        const svg = document.querySelector(${JSON.stringify(TREE_SVG)});
        const b = svg.getBoundingClientRect();
        const mx = b.left + b.width / 2, my = b.top + b.height / 2;
        let best = null, bd = Infinity;
        for (const g of svg.querySelectorAll(':scope > g > g')) {
          const c = g.querySelector('circle');
          if (!c) continue;
          const r = c.getBoundingClientRect();
          const x = r.left + r.width / 2, y = r.top + r.height / 2;
          if (x < b.left || x > b.right || y < b.top || y > b.bottom) continue;
          const d = (x - mx) ** 2 + (y - my) ** 2;
          if (d < bd) { bd = d; best = { x, y }; }
        }
        return best;
      })()`)) as { x: number; y: number } | null;
      return p ?? { x: cx, y: cy };
    };
    let at = { x: cx, y: cy };
    const phase = async (name: string, act: () => Promise<void>) => {
      await page.mouse.move(at.x, at.y);
      await sleep(300);
      await page.evaluate(START_FRAMES);
      await sleep(100);
      const t = performance.now();
      await act();
      const dur = performance.now() - t;
      await sleep(250);
      const f = (await page.evaluate(STOP_FRAMES)) as FramesOut;
      const iv = f.t.slice(1).map((x, i) => x - f.t[i]);
      const lt = await longTasksBetween(page, f.t0, f.t1);
      const k = Number(/scale\(([\d.e+-]+)/.exec(f.transform ?? '')?.[1] ?? 1);
      const st: PhaseStats = {
        phase: name,
        frames: iv.length,
        medianMs: r1(median(iv)),
        p95Ms: r1(quantile(iv, 0.95)),
        maxMs: r1(max(iv)),
        dropped: iv.filter((x) => x > 33).length,
        nodesMedian: median(f.nodes),
        nodesMax: max(f.nodes),
        linksMax: max(f.links),
        longTasks: lt.tasks.length,
        longestTaskMs: r1(max(lt.tasks.map((x) => x.dur)) || 0),
        scale: Math.round(k * 1000) / 1000,
        durationMs: Math.round(dur),
      };
      phases.push(st);
      log(
        `  ${name.padEnd(34)} ${String(st.frames).padStart(4)} frames: median ${ms(st.medianMs)}, p95 ${ms(st.p95Ms)}, max ${ms(st.maxMs)}, ${st.dropped} > 33 ms; ` +
          `nodes rendered median ${st.nodesMedian} / max ${st.nodesMax} (links ≤ ${st.linksMax}); long tasks ${st.longTasks} (longest ${ms(st.longestTaskMs)}); scale ${st.scale}`,
      );
      for (const s of topScripts(lt.loafs, 2)) log(`      LoAF: ${s}`);
    };
    const drag = async (dx: number, dy: number, moves = 60) => {
      const x0 = cx - (dx * moves) / 2;
      const y0 = cy - (dy * moves) / 2;
      await page.mouse.move(x0, y0);
      await page.mouse.down();
      for (let i = 1; i <= moves; i++) {
        await page.mouse.move(x0 + dx * i, y0 + dy * i);
        await sleep(16);
      }
      await page.mouse.up();
    };
    const wheel = async (dy: number, n = 20) => {
      for (let i = 0; i < n; i++) {
        await page.mouse.wheel(0, dy);
        await sleep(16);
      }
    };
    await phase('pan, scale 1 (labels), 60 moves', async () => {
      await drag(0, -6);
      await drag(0, 6);
    });
    await phase('wheel zoom out ×20', () => wheel(100));
    await phase('pan, zoomed out (dots), 60 moves', async () => {
      await drag(0, -6);
      await drag(3, 6);
    });
    at = await nearestGlyph();
    await phase('wheel zoom in ×20 (on a node)', () => wheel(-100));
    at = { x: cx, y: cy };
    await phase('idle (reference)', () => sleep(1000));

    const active = phases.filter((p) => !p.phase.startsWith('idle'));
    for (const p of active) {
      row('tree', `Tree ${TREE_LEAVES / 1000}k leaves: ${p.phase} — frame median / p95 / max, > 33 ms`, `${ms(p.medianMs)} / ${ms(p.p95Ms)} / ${ms(p.maxMs)}, ${p.dropped} of ${p.frames}; ${p.nodesMax} nodes`);
    }
    row('tree', `Tree ${TREE_LEAVES / 1000}k leaves: open the panel → tree drawn, long tasks`, `${ms(treeMs)}, ${openTasks.tasks.length} long, longest ${ms(max(openTasks.tasks.map((t) => t.dur)) || 0)}`);
    row('tree', `Tree ${TREE_LEAVES / 1000}k leaves: expand all (keyboard), long tasks`, `${ms(expandMs)} wall, ${expandTasks.tasks.length} long, longest ${ms(max(expandTasks.tasks.map((t) => t.dur)) || 0)}`);
    json.tree = {
      leaves: info.leaves,
      tables: info.tables,
      entriesVisible: counts.shown,
      entriesTotal: counts.total,
      treeDrawnMs: r1(treeMs),
      treeOpenLongTasks: openTasks.tasks.length,
      treeOpenLongestTaskMs: r1(max(openTasks.tasks.map((t) => t.dur)) || 0),
      expandMs: r1(expandMs),
      expandLongTasks: expandTasks.tasks.length,
      expandLongestTaskMs: r1(max(expandTasks.tasks.map((t) => t.dur)) || 0),
      phases,
    };
  } finally {
    await context.close();
  }
}

// ---------------------------------------------------------------------------

function printTable(): void {
  log(`\n## Summary${QUICK ? ' (BENCH_QUICK=1)' : ''} — Chromium ${String(json.browserVersion ?? '')} headless, ${VIEWPORT.width}×${VIEWPORT.height}\n`);
  log('| Figure | Result | Target |');
  log('| --- | --- | --- |');
  for (const r of rows) log(`| ${r.figure} | ${r.result.replace(/\|/g, '\\|')} | ${r.target ?? ''} |`);
  if (errors.length) {
    log('\nErrors:');
    for (const e of errors) log(`  - ${e}`);
  }
  json.errors = errors;
  log('\nBENCH_UI_JSON ' + JSON.stringify(json));
}

async function main(): Promise<void> {
  let server: PreviewServer | null = null;
  let browser: Browser | null = null;
  const part = async (name: string, fn: () => Promise<void> | void) => {
    if (!ONLY.has(name)) return;
    try {
      await fn();
    } catch (e) {
      const msg = `${name}: ${(e as Error).stack ?? String(e)}`;
      errors.push(msg.split('\n')[0]);
      log(`  ERROR in ${msg}`);
    }
  };
  try {
    build();
    await part('size', measureSize);
    if (ONLY.has('load') || ONLY.has('compare') || ONLY.has('tree')) {
      const s = await serve();
      server = s.server;
      log(`\nServing ${relative(ROOT, DIST) || DIST} at ${s.url}`);
      browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
      json.browserVersion = browser.version();
      const b = browser;
      await part('load', () => measureLoad(b, s.url));
      await part('compare', () => measureCompare(b, s.url, 'static', 1_000_000));
      await part('compare', () => measureCompare(b, s.url, 'dynamic', DYNAMIC_REQUESTS));
      await part('tree', () => measureTree(b, s.url));
    }
  } catch (e) {
    errors.push((e as Error).message);
    log(`ERROR: ${(e as Error).stack ?? String(e)}`);
  } finally {
    if (browser) await browser.close().catch((e: unknown) => log(`closing the browser: ${String(e)}`));
    if (server) await server.close().catch((e: unknown) => log(`closing the server: ${String(e)}`));
  }
  printTable();
  process.exitCode = errors.length ? 1 : 0;
}

await main();
