/**
 * Renders scenario results for people (pretty), programs (json: one document with totals;
 * ndjson: one object per line, then the totals) and CI (junit). Files that did not load are
 * reported as errored test cases, so a CI server always sees them.
 */
import { XMLBuilder } from 'fast-xml-parser';
import type { ScenarioResult } from './runner.js';

/** The report formats `scenario run --reporter` accepts. */
export const REPORTERS = ['pretty', 'json', 'ndjson', 'junit'] as const;

/** One of REPORTERS. */
export type Reporter = (typeof REPORTERS)[number];

/**
 * `scenario run`'s exit codes: every run passed (or was skipped); a run failed or a file did not
 * load; the command line was wrong (an unknown option, a path or folder that does not exist);
 * no scenario file was found, so nothing ran.
 */
export const EXIT_CODES = { passed: 0, failed: 1, usage: 2, nothingRan: 3 } as const;

/** One line of a report: a run, or a file that did not load (`errored`). */
export interface ReportEntry {
  name: string;
  file: string;
  status: ScenarioResult['status'] | 'errored';
  error?: string;
  durationMs: number;
}

/** How many entries ended each way. */
export interface Totals {
  runs: number;
  passed: number;
  failed: number;
  errored: number;
  skipped: number;
  durationMs: number;
}

const MARK: Record<ReportEntry['status'], string> = {
  passed: 'ok  ',
  failed: 'FAIL',
  errored: 'ERR ',
  skipped: 'skip',
};

/** The entry a file that did not load becomes. */
export function loadErrorEntry(error: { file: string; message: string }): ReportEntry {
  return {
    name: error.file,
    file: error.file,
    status: 'errored',
    error: error.message,
    durationMs: 0,
  };
}

/** One line (pretty) or one object (ndjson) per entry as it finishes; nothing for the others. */
export function progressLine(result: ReportEntry, reporter: Reporter): string | undefined {
  if (reporter === 'ndjson') return JSON.stringify(entryJson(result));
  if (reporter !== 'pretty') return undefined;
  const head = `${MARK[result.status]} ${result.name} (${result.durationMs} ms)`;
  if (result.status === 'passed') return head;
  return `${head}\n${indent(result.error ?? '', '       ')}`;
}

/** Counts entries by outcome. */
export function totals(entries: ReportEntry[]): Totals {
  const count = (s: ReportEntry['status']) => entries.filter((r) => r.status === s).length;
  return {
    runs: entries.length,
    passed: count('passed'),
    failed: count('failed'),
    errored: count('errored'),
    skipped: count('skipped'),
    durationMs: entries.reduce((sum, r) => sum + r.durationMs, 0),
  };
}

/**
 * The closing report: a summary (pretty), one JSON document (json), the totals line (ndjson,
 * after the per-entry lines progressLine wrote), or JUnit XML.
 */
export function renderReport(entries: ReportEntry[], reporter: Reporter, backend: string): string {
  const sum = totals(entries);
  if (reporter === 'json') {
    return JSON.stringify({ backend, totals: sum, results: entries.map(entryJson) }, null, 2);
  }
  if (reporter === 'ndjson') return JSON.stringify({ backend, totals: sum });
  if (reporter === 'junit') return junit(entries, backend);
  const failed = entries.filter((r) => r.status === 'failed' || r.status === 'errored');
  const lines = [
    '',
    `${sum.runs - sum.errored} scenario runs on ${backend}: ${sum.passed} passed, ` +
      `${sum.failed} failed, ${sum.skipped} skipped` +
      (sum.errored > 0 ? `; ${sum.errored} file${sum.errored === 1 ? '' : 's'} did not load` : ''),
  ];
  if (failed.length > 0) lines.push(`failed: ${failed.map((r) => r.name).join(', ')}`);
  return lines.join('\n');
}

function entryJson(r: ReportEntry): Record<string, unknown> {
  return {
    name: r.name,
    file: r.file,
    status: r.status,
    error: r.error ?? null,
    durationMs: r.durationMs,
  };
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  format: true,
  suppressEmptyNode: true,
});

/** JUnit XML as CI servers read it (Jenkins, GitLab, GitHub reporters): always well-formed. */
function junit(entries: ReportEntry[], backend: string): string {
  const sum = totals(entries);
  const counts = {
    '@tests': sum.runs,
    '@failures': sum.failed,
    '@errors': sum.errored,
    '@skipped': sum.skipped,
    '@time': seconds(sum.durationMs),
  };
  const testcase = entries.map((r) => {
    const text = xmlText(r.error ?? '');
    const message = firstLine(text);
    return {
      '@classname': `scenarios.${xmlText(backend)}`,
      '@name': xmlText(r.name),
      '@file': xmlText(r.file),
      '@time': seconds(r.durationMs),
      ...(r.status === 'failed' ? { failure: { '@message': message, '#text': text } } : {}),
      ...(r.status === 'errored'
        ? { error: { '@message': message, '@type': 'LoadError', '#text': text } }
        : {}),
      ...(r.status === 'skipped' ? { skipped: { '@message': message } } : {}),
    };
  });
  const name = `nova-lxc scenarios (${xmlText(backend)})`;
  return builder
    .build({
      '?xml': { '@version': '1.0', '@encoding': 'UTF-8' },
      testsuites: { '@name': name, ...counts, testsuite: { '@name': name, ...counts, testcase } },
    })
    .trimEnd();
}

// A terminal control sequence (CSI: colours, cursor moves), as tools print into their errors.
// eslint-disable-next-line no-control-regex
const ANSI_SEQUENCE = /\x1b\[[0-?]*[ -/]*[@-~]/g;

/**
 * Text XML 1.0 can carry: terminal colour sequences removed, and any other character XML
 * forbids (ESC, NUL, a lone surrogate, ...) written as `\u001b` so the message is still legible.
 */
export function xmlText(text: string): string {
  return text
    .replace(ANSI_SEQUENCE, '')
    .replace(
      /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}
