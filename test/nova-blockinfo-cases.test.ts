import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runBlockinfo } from '../tools/commands/blockinfo.js';

// Real Nova 26.2.2's answers for 98 calls taken from Nova's own unit tests (provenance in
// test/fixtures/README.md); a missing file fails the suite rather than skipping it.
const casesPath = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'fixtures',
  'nova-blockinfo-cases.json',
);

interface Case {
  name: string;
  source: string;
  input: Record<string, unknown>;
  expected: Record<string, unknown>;
}

function loadCases(): Case[] {
  const file = JSON.parse(readFileSync(casesPath, 'utf8')) as { cases: Case[] };
  return file.cases;
}

const cases = loadCases();

describe('Nova blockinfo cases', () => {
  it('loads every case of the reference file', () => {
    expect(cases.length).toBeGreaterThanOrEqual(98);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s matches real Nova', (_name, c) => {
    const answer = JSON.parse(runBlockinfo(JSON.stringify(c.input))) as Record<string, unknown>;
    expect(answer).toEqual(c.expected);
    // toEqual ignores key order; the mapping's order is part of Nova's answer.
    expect(answer['mapping_keys']).toEqual(c.expected['mapping_keys']);
    // Byte-for-byte, so key order inside results and mutated BDMs is checked too.
    expect(JSON.stringify(answer)).toBe(JSON.stringify(c.expected));
  });

  it('answers the whole file as one list, in order', () => {
    const answers = JSON.parse(
      runBlockinfo(JSON.stringify(cases.map((c) => c.input))),
    ) as unknown[];
    expect(answers).toEqual(cases.map((c) => c.expected));
  });
});
