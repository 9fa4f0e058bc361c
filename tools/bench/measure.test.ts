import { describe, expect, it } from 'vitest';
import { loadSections, renderTable } from '../bench.js';
import { compare, stats } from './measure.js';

describe('bench measurement', () => {
  it('summarises samples as min, median and max', () => {
    expect(stats([5, 1, 3])).toEqual({ runs: 3, min: 1, median: 3, max: 5 });
    expect(stats([4, 1, 3, 2])).toMatchObject({ median: 2.5 });
  });

  it('alternates the two sides, switching which goes first, after the warm-up', async () => {
    const order: string[] = [];
    await compare(
      { label: 'a', run: () => order.push('a') },
      { label: 'b', run: () => order.push('b') },
      { runs: 4, warmup: 1 },
    );
    expect(order.join('')).toBe('ab' + 'ab' + 'ba' + 'ab' + 'ba');
  });

  it('finds every section file under tools/bench, the simulator part first', async () => {
    const names = (await loadSections()).map((s) => s.name);
    expect(names[0]).toBe('sim');
    expect(names).toEqual(expect.arrayContaining(['sim', 'cli', 'real']));
  });

  it('prints ratio and target in the table', () => {
    const s = { runs: 3, min: 1, median: 2, max: 3 };
    const table = renderTable([
      { what: 'x', reference: 'y', unit: 'ms', a: s, b: s, ratio: 1, target: '≤ 1.3×', met: true },
    ]);
    expect(table).toContain(
      '| x | 3 | 1.00 / **2.00** / 3.00 ms | y: 1.00 / **2.00** / 3.00 ms | 1.00× | ≤ 1.3× ✓ |',
    );
  });
});
