import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../scenarios/load.js';

const VALID = `
name: demo
volumes:
  vol1:
    disk: { size: 64M, table: none, filesystem: { type: ext4, init: { then: run } } }
images:
  img: { disk: { size: 64M, table: none } }
steps:
  - boot: { instance: web, block_device: ["source=volume,id=vol1,dest=volume,bootindex=0"] }
  - boot: { instance: web2, image: img }
  - destroy: web
`;

/** VALID with one line replaced. */
function variant(from: string, to: string): string {
  expect(VALID).toContain(from);
  return VALID.replace(from, to);
}

describe('scenario validation', () => {
  it('accepts a well-formed scenario', () => {
    const scenario = parseScenarioText(VALID, 'scenarios/demo.yaml');
    expect(scenario.steps.map((s) => s.action.kind)).toEqual(['boot', 'boot', 'destroy']);
    expect(scenario.steps[0]!.action).toMatchObject({
      bdms: [{ source_type: 'volume', uuid: 'vol1', boot_index: '0' }],
    });
  });

  it.each([
    [
      'an undeclared volume in a --block-device string',
      variant('id=vol1,', 'id=vol9,'),
      'scenarios/demo.yaml: steps[0].boot.block_device[0].id: expected the name of a declared volume, got "vol9"',
    ],
    [
      'an undeclared image',
      variant('image: img', 'image: nope'),
      'steps[1].boot.image: expected the name of a declared image, got "nope"',
    ],
    [
      'an unknown step key',
      variant('  - destroy: web', '  - destroy: web\n    expext: {}'),
      'steps[2].expext: expected one of the keys',
    ],
    [
      'a bad size',
      variant('size: 64M, table: none, filesystem', 'size: lots, table: none, filesystem'),
      'volumes.vol1.disk.size: expected bytes or a number with K, M, G or T',
    ],
    [
      'a bad --block-device string',
      variant('dest=volume,bootindex=0', 'dest=volume,bootindex'),
      "steps[0].boot.block_device[0]: expected a comma-separated list of key=value pairs ('bootindex' is not a key=value pair)",
    ],
    [
      'a missing name',
      variant('name: demo', 'title: demo'),
      '(document).title: expected one of the keys',
    ],
    ['invalid YAML', VALID + '\n  - [unclosed', 'scenarios/demo.yaml: not valid YAML'],
    [
      'a filesystem type only on the list',
      variant('type: ext4', 'type: zfs'),
      'volumes.vol1.disk.filesystem.type: expected one of ext2, ext3, ext4',
    ],
  ])('reports %s with the file, path and what was expected', (_what, text, message) => {
    expect(() => parseScenarioText(text, 'scenarios/demo.yaml')).toThrow(message);
  });

  it('reports errors as InvalidInput', () => {
    try {
      parseScenarioText(variant('image: img', 'image: nope'), 'x.yaml');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({
        code: 'InvalidInput',
        details: { file: 'x.yaml', path: 'steps[1].boot.image' },
      });
    }
  });
});
