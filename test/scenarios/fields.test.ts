import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../scenarios/load.js';

const BASE = `
name: demo
volumes:
  vol1:
    disk:
      size: 64M
      table: gpt
      partitions: [{ number: 1, start: 2048, size: 61440, label: root, name: other }]
steps:
  - boot: { instance: web, volume: vol1 }
`;

describe('table-read mappings', () => {
  it.each(['root', 'files'])('refuses expect.%s: null with the path, not a TypeError', (key) => {
    const text = `${BASE}    expect: { ${key}: null }\n`;
    expect(() => parseScenarioText(text, 'demo.yaml')).toThrow(
      `steps[0].expect.${key}: expected a mapping, got null`,
    );
  });

  it('takes a partition name from label first, and a null label as absent', () => {
    const both = parseScenarioText(BASE, 'demo.yaml');
    expect(both.volumes['vol1']!.disk.partitions![0]!.name).toBe('root');
    const nullLabel = parseScenarioText(BASE.replace('label: root', 'label: null'), 'demo.yaml');
    expect(nullLabel.volumes['vol1']!.disk.partitions![0]!.name).toBe('other');
  });

  it('lists the allowed keys from the table and suggests the closest', () => {
    const text = BASE.replace('table: gpt', 'tabel: gpt');
    expect(() => parseScenarioText(text, 'demo.yaml')).toThrow(
      /volumes\.vol1\.disk\.tabel: expected one of the keys size, sector_size, table, filesystem, partitions, damage_primary_gpt, got "tabel" \(did you mean "table"\?\)/,
    );
  });
});
