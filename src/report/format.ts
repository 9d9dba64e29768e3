/**
 * Number and text formatting shared by the text, JSON and HTML reports.
 */
import { item } from '../common/item.ts';

const COUNT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** A count as perf stat prints it: rounded, with thousands separators (en_US). */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return COUNT.format(Math.round(value));
}

/** A percentage with two decimals: '6.21%'. */
export function formatPercent(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return 'n/a';
  return `${value.toFixed(digits)}%`;
}

/** A signed percentage with two decimals: '+0.01%', '-37.50%'. */
export function formatSignedPercent(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return value > 0 ? '+inf%' : value < 0 ? '-inf%' : 'n/a';
  const text = Math.abs(value).toFixed(digits);
  const zero = Number(text) === 0;
  return `${zero ? '' : value < 0 ? '-' : '+'}${text}%`;
}

/** The `(62.50%)` perf stat prints after a multiplexed count; '' when it ran all the time it was enabled. */
export function formatRunning(
  timeEnabledNs: number | undefined,
  timeRunningNs: number | undefined,
): string {
  if (timeEnabledNs === undefined || timeRunningNs === undefined) return '';
  if (!(timeEnabledNs > 0) || timeRunningNs >= timeEnabledNs) return '';
  return `(${((timeRunningNs / timeEnabledNs) * 100).toFixed(2)}%)`;
}

/** perf stat's `<not counted>`: enabled for a while, never running. */
export function notCounted(
  timeEnabledNs: number | undefined,
  timeRunningNs: number | undefined,
): boolean {
  return timeEnabledNs !== undefined && timeEnabledNs > 0 && timeRunningNs === 0;
}

/**
 * What the counted column shows for a guest event: `<refused: ENOENT>` when
 * perf_event_open failed (e.g. a guest with no usable PMU), `<not counted>`
 * when it never ran, else the count.
 */
export function countedCell(e: {
  refused?: string;
  counted: number;
  timeEnabledNs: number;
  timeRunningNs: number;
}): string {
  if (e.refused !== undefined) return `<refused: ${e.refused}>`;
  if (notCounted(e.timeEnabledNs, e.timeRunningNs)) return '<not counted>';
  return formatCount(e.counted);
}

/** Rounds to `digits` decimals; non-finite values are kept (JSON turns them into null). */
export function round(value: number, digits: number): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  const rounded = Math.round(value * factor) / factor;
  return Object.is(rounded, -0) ? 0 : rounded;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => item(HTML_ESCAPES, c));
}
