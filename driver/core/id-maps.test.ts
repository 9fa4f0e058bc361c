import { describe, expect, it } from 'vitest';
import { parseIdMapOption, parseIdMaps } from './id-maps.js';

function parse(entries: string[]) {
  const warnings: string[] = [];
  const maps = parseIdMaps(entries, 'uid', (msg) => warnings.push(msg));
  return { maps, warnings };
}

describe('parseIdMaps', () => {
  it.each([
    ['0:1000:100', { start: 0, target: 1000, count: 100 }],
    ['1:2:3:4', { start: 1, target: 2, count: 3 }],
    [' 1 : 2 :3 ', { start: 1, target: 2, count: 3 }],
    ['+1:1_000:10', { start: 1, target: 1000, count: 10 }],
    ['-0:0:1', { start: 0, target: 0, count: 1 }],
    ['-1:0:1', { start: -1, target: 0, count: 1 }],
  ])('converts %j like Python int()', (entry, expected) => {
    expect(parse([entry])).toEqual({ maps: [expected], warnings: [] });
  });

  it.each([
    [''],
    ['0'],
    ['0:1000'],
    ['0:1000:'],
    ['a:b:c'],
    ['0:1000:1e2'],
    ['0:1000:10.5'],
    ['1:2:3:x'],
    ['1__0:2:3'],
    ['0x10:2:3'],
    ['99999999999999999999:0:1'],
  ])('skips %j with a warning', (entry) => {
    expect(parse([entry])).toEqual({
      maps: [],
      warnings: [`Invalid value for id mapping ${entry}`],
    });
  });

  it('keeps the valid entries around a bad one, in order', () => {
    const { maps, warnings } = parse(['0:1000:1', 'bad', '1:2000:1']);
    expect(maps).toEqual([
      { start: 0, target: 1000, count: 1 },
      { start: 1, target: 2000, count: 1 },
    ]);
    expect(warnings).toEqual(['Invalid value for id mapping bad']);
  });

  it('keeps the first five of more than five entries and warns once', () => {
    const entries = ['0:0:1', '1:1:1', '2:2:1', '3:3:1', '4:4:1', '5:5:1', 'bad'];
    const { maps, warnings } = parse(entries);
    expect(maps.map((m) => m.start)).toEqual([0, 1, 2, 3, 4]);
    expect(warnings).toEqual(['Too many id maps, only included first five.']);
  });

  it('truncates before validating, so a bad sixth entry is never reported', () => {
    const entries = ['bad', '1:1:1', '2:2:1', '3:3:1', '4:4:1', 'worse'];
    const { maps, warnings } = parse(entries);
    expect(maps).toHaveLength(4);
    expect(warnings).toEqual([
      'Too many id maps, only included first five.',
      'Invalid value for id mapping bad',
    ]);
  });

  it.each(['uid', 'gid'] as const)('treats %s maps alike', (kind) => {
    expect(parseIdMaps(['0:1000:100'], kind, () => {})).toEqual([
      { start: 0, target: 1000, count: 100 },
    ]);
  });

  it('returns nothing for no entries', () => {
    expect(parse([])).toEqual({ maps: [], warnings: [] });
  });
});

describe('parseIdMapOption', () => {
  it.each<[string | string[], string[]]>([
    ['', []],
    ['   ', []],
    ['0:1000:100', ['0:1000:100']],
    ['0:1000:100,1:2:3', ['0:1000:100', '1:2:3']],
    [' 0:1000:100 , 1:2:3 ,', ['0:1000:100', '1:2:3']],
    ['0:1:1,,1:2:3', ['0:1:1', '', '1:2:3']],
    [
      ['0:1000:100', '1:2:3'],
      ['0:1000:100', '1:2:3'],
    ],
    [[], []],
  ])('splits %j into %j', (value, expected) => {
    expect(parseIdMapOption(value)).toEqual(expected);
  });

  it('feeds parseIdMaps the way Nova reads [libvirt]uid_maps', () => {
    const warnings: string[] = [];
    const maps = parseIdMaps(parseIdMapOption('0:1000:100,oops'), 'gid', (m) => warnings.push(m));
    expect(maps).toEqual([{ start: 0, target: 1000, count: 100 }]);
    expect(warnings).toEqual(['Invalid value for id mapping oops']);
  });
});
