/**
 * The HTML report draws its charts with vega and vega-lite, the largest part
 * of an install. They are optional peer dependencies of the package: the
 * library and the text/JSON reports never load them, and `vpmu run --html`
 * imports them here, only when asked, with a one-line answer when they are
 * not installed.
 */

import type { renderHtml, renderSweepHtml } from './html.ts';

/** The HTML report's two renderers (html.ts). */
export interface HtmlReport {
  renderHtml: typeof renderHtml;
  renderSweepHtml: typeof renderSweepHtml;
}

/** vega or vega-lite is not installed; the message says what to install. */
export class MissingPackageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingPackageError';
  }
}

/** Node's message for a bare specifier it cannot resolve names the package. */
const NOT_FOUND = /Cannot find package '(vega(?:-lite)?)'/;

/** html.ts (renderHtml, renderSweepHtml), or MissingPackageError without vega. */
export async function loadHtmlReport(): Promise<HtmlReport> {
  try {
    return await import('./html.ts');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' ? NOT_FOUND.exec(String(error)) : null;
    if (missing) {
      throw new MissingPackageError(
        `the HTML report needs the optional packages vega and vega-lite, and ${missing[1]} is not installed (npm install vega vega-lite)`,
      );
    }
    throw error;
  }
}
