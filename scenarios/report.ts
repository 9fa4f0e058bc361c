/** Renders scenario results for people (pretty), programs (json) and CI (junit). */
import type { ScenarioResult } from './runner.js';

/** The report formats `scenario run --reporter` accepts. */
export const REPORTERS = ['pretty', 'json', 'junit'] as const;

/** One of REPORTERS. */
export type Reporter = (typeof REPORTERS)[number];

const MARK: Record<ScenarioResult['status'], string> = {
  passed: 'ok  ',
  failed: 'FAIL',
  skipped: 'skip',
};

/** One line per scenario as it finishes (pretty); nothing for the other formats. */
export function progressLine(result: ScenarioResult, reporter: Reporter): string | undefined {
  if (reporter !== 'pretty') return undefined;
  const head = `${MARK[result.status]} ${result.name} (${result.durationMs} ms)`;
  if (result.status === 'passed') return head;
  return `${head}\n${indent(result.error ?? '', '       ')}`;
}

/** The closing report: a summary (pretty), one JSON object per line (json), or JUnit XML. */
export function renderReport(
  results: ScenarioResult[],
  reporter: Reporter,
  backend: string,
): string {
  if (reporter === 'json') {
    return results
      .map((r) =>
        JSON.stringify({
          name: r.name,
          file: r.file,
          backend,
          status: r.status,
          error: r.error ?? null,
          durationMs: r.durationMs,
        }),
      )
      .join('\n');
  }
  if (reporter === 'junit') return junit(results, backend);
  const count = (s: ScenarioResult['status']) => results.filter((r) => r.status === s).length;
  const failed = results.filter((r) => r.status === 'failed');
  const lines = [
    '',
    `${results.length} scenario runs on ${backend}: ${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped`,
  ];
  if (failed.length > 0) lines.push(`failed: ${failed.map((r) => r.name).join(', ')}`);
  return lines.join('\n');
}

function junit(results: ScenarioResult[], backend: string): string {
  const failures = results.filter((r) => r.status === 'failed').length;
  const skipped = results.filter((r) => r.status === 'skipped').length;
  const total = results.reduce((sum, r) => sum + r.durationMs, 0) / 1000;
  const cases = results.map((r) => {
    const open = `  <testcase classname="scenarios.${xml(backend)}" name="${xml(r.name)}" file="${xml(r.file)}" time="${(r.durationMs / 1000).toFixed(3)}"`;
    if (r.status === 'passed') return `${open}/>`;
    const inner =
      r.status === 'skipped'
        ? `<skipped message="${xml(r.error ?? '')}"/>`
        : `<failure message="${xml(firstLine(r.error ?? ''))}">${xml(r.error ?? '')}</failure>`;
    return `${open}>\n    ${inner}\n  </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="nova-lxc scenarios (${xml(backend)})" tests="${results.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${total.toFixed(3)}">`,
    ...cases,
    '</testsuite>',
  ].join('\n');
}

function xml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
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
