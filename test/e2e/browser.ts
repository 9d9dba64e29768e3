/**
 * Opens an HTML report in Debian's Chromium (playwright-core, headless) and
 * checks that it renders: every `figure[data-chart]` holds an `<svg>` with
 * vega mark elements that have a non-empty box, the page logs no console
 * error and no page error, and it loads nothing but itself.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

/**
 * The little of the DOM the page callback below uses (it runs in the browser;
 * this project's type check has no DOM library, so it is spelt out here).
 */
interface PageElement {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  getBoundingClientRect(): { width: number; height: number };
  getAttribute(name: string): string | null;
}

/** Where Debian's chromium package installs the browser (.ci/run installs it); VPMU_CHROMIUM overrides. */
export const CHROMIUM_PATH = process.env.VPMU_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Why the browser tests cannot run here, or undefined when they can. In CI
 * (process.env.CI) a missing browser is a failure, elsewhere a skip.
 */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  return `${CHROMIUM_PATH} not found: install Debian's chromium (apt-get install -y --no-install-recommends chromium) or point VPMU_CHROMIUM at a Chromium`;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 60_000 });
}

export interface ChartCheck {
  /** How many `figure[data-chart]` the page has. */
  charts: number;
  /** Everything wrong, one line each; empty when the page renders cleanly. */
  errors: string[];
}

interface FigureInPage {
  chart: string;
  svgs: number;
  svgBox: { width: number; height: number };
  marks: number;
  visibleMarks: number;
}

/**
 * Loads `htmlPath` from a file:// URL in a fresh browser (playwright gives it
 * a new, empty profile) and checks its charts. Pass `browser` to reuse one.
 */
export async function checkChartsRender(htmlPath: string, browser?: Browser): Promise<ChartCheck> {
  const errors: string[] = [];
  // playwright gives each launched browser a new, empty profile directory of its own.
  const own = browser === undefined;
  const b = browser ?? (await launchChromium());
  try {
    const page = await b.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console error: ${message.text()}`);
    });
    page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
    const url = pathToFileURL(resolve(htmlPath)).href;
    page.on('request', (request) => {
      if (request.url() !== url && !request.url().startsWith('data:')) {
        errors.push(`the page loaded ${request.url()}: the report must be self-contained`);
      }
    });
    const response = await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
    if (response && !response.ok()) errors.push(`loading ${url}: status ${response.status()}`);
    const figures: FigureInPage[] = await page.$$eval(
      'figure[data-chart]',
      (nodes: PageElement[]) =>
        nodes.map((figure) => {
          const svg = figure.querySelector('svg');
          const box = svg?.getBoundingClientRect();
          const marks = svg ? Array.from(svg.querySelectorAll('.role-mark > *')) : [];
          const visible = marks.filter((m) => {
            const r = m.getBoundingClientRect();
            return r.width > 0 && r.height > 0;
          });
          return {
            chart: figure.getAttribute('data-chart') ?? '',
            svgs: figure.querySelectorAll('svg').length,
            svgBox: { width: box?.width ?? 0, height: box?.height ?? 0 },
            marks: marks.length,
            visibleMarks: visible.length,
          };
        }),
    );
    for (const f of figures) {
      if (f.svgs === 0) errors.push(`figure[data-chart=${f.chart}] has no <svg>`);
      else if (f.svgBox.width <= 0 || f.svgBox.height <= 0)
        errors.push(`figure[data-chart=${f.chart}]: its <svg> has an empty box`);
      else if (f.visibleMarks === 0) {
        errors.push(
          `figure[data-chart=${f.chart}]: no mark element with a non-empty box (${f.marks} marks)`,
        );
      }
    }
    await page.close();
    return { charts: figures.length, errors };
  } finally {
    if (own) await b.close();
  }
}
