import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../scenarios/load.js';
import { ERROR_CODES } from '../../driver/errors.js';

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
      'scenarios/demo.yaml:9:43: steps[0].boot.block_device[0].id: expected the name of a declared volume, got "vol9"',
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
    ['invalid YAML', VALID + '\n  - [unclosed', 'scenarios/demo.yaml:13:14: not valid YAML'],
    [
      'a filesystem type only on the list',
      variant('type: ext4', 'type: zfs'),
      'volumes.vol1.disk.filesystem.type: expected one of ext2, ext3, ext4',
    ],
    [
      'an XPath expression that does not parse',
      variant(
        '  - destroy: web',
        "  - destroy: web\n    expect: { domain_xpath: { web: { 'count(//': 1 } } }",
      ),
      'steps[2].expect.domain_xpath.web["count(//"]: expected a valid XPath 1.0 expression',
    ],
    [
      'an XPath expression with an unknown function',
      variant(
        '  - destroy: web',
        "  - destroy: web\n    expect: { domain_xpath: { web: { 'nodes(1)': 1 } } }",
      ),
      'expected a valid XPath 1.0 expression (Unknown function nodes)',
    ],
    [
      'an XPath value that is a mapping',
      variant(
        '  - destroy: web',
        "  - destroy: web\n    expect: { domain_xpath: { web: { 'count(//a)': { n: 1 } } } }",
      ),
      'steps[2].expect.domain_xpath.web["count(//a)"]: expected a string, number, boolean or a list of strings',
    ],
    [
      'a relative heartbeat path',
      variant('init: { then: run }', 'init: { heartbeat: { path: hb, every_s: 1 }, then: run }'),
      'volumes.vol1.disk.filesystem.init.heartbeat.path: expected an absolute path, got "hb"',
    ],
    [
      'a heartbeat every 0 seconds',
      variant('init: { then: run }', 'init: { heartbeat: { path: /hb, every_s: 0 }, then: run }'),
      'volumes.vol1.disk.filesystem.init.heartbeat.every_s: expected',
    ],
    [
      'a fill without its status file',
      variant('init: { then: run }', 'init: { fill: { path: /fill }, then: run }'),
      'volumes.vol1.disk.filesystem.init.fill.status_to: expected a string',
    ],
    [
      'an exit status above 255',
      variant('init: { then: run }', 'init: { then: { exit: 256 } }'),
      'scenarios/demo.yaml:5:79: volumes.vol1.disk.filesystem.init.then.exit: expected an exit status from 0 to 255, got 256',
    ],
    [
      'an exit after 0 seconds',
      variant('init: { then: run }', 'init: { then: { exit: 1, after_s: 0 } }'),
      'volumes.vol1.disk.filesystem.init.then.after_s: expected',
    ],
    [
      'a relative environ_to',
      variant('init: { then: run }', 'init: { environ_to: env, then: run }'),
      'volumes.vol1.disk.filesystem.init.environ_to: expected an absolute path, got "env"',
    ],
    [
      'a heartbeat expectation with both advances and at_least',
      variant(
        '  - destroy: web',
        '  - destroy: web\n    expect: { heartbeat: { web: { path: /hb, advances: true, at_least: 2 } } }',
      ),
      'steps[2].expect.heartbeat.web: expected exactly one of advances: true or at_least: N',
    ],
    [
      'a heartbeat expectation with neither',
      variant(
        '  - destroy: web',
        '  - destroy: web\n    expect: { heartbeat: { web: { path: /hb } } }',
      ),
      'steps[2].expect.heartbeat.web: expected exactly one of advances: true or at_least: N',
    ],
    [
      'advances: false',
      variant(
        '  - destroy: web',
        '  - destroy: web\n    expect: { heartbeat: { web: { path: /hb, advances: false } } }',
      ),
      'steps[2].expect.heartbeat.web.advances: expected true, got false',
    ],
    [
      'an init_env without vars',
      variant(
        '  - destroy: web',
        '  - destroy: web\n    expect: { init_env: { web: { file: /env } } }',
      ),
      'steps[2].expect.init_env.web.vars: expected',
    ],
    [
      'an init_env with no variable',
      variant(
        '  - destroy: web',
        '  - destroy: web\n    expect: { init_env: { web: { file: /env, vars: {} } } }',
      ),
      'steps[2].expect.init_env.web.vars: expected at least one variable',
    ],
    [
      'a relative path in file_owners_host',
      variant(
        '  - destroy: web',
        '  - destroy: web\n    expect: { file_owners_host: { web: { etc: { uid: 0 } } } }',
      ),
      'steps[2].expect.file_owners_host.web["etc"]: expected an absolute path as the key, got "etc"',
    ],
    [
      'an instance in init_user never booted',
      variant(
        '  - destroy: web',
        '  - destroy: web\n    expect: { init_user: { ghost: { uid: 0 } } }',
      ),
      'steps[2].expect.init_user.ghost: expected an instance booted by this or an earlier step (web, web2), got "ghost"',
    ],
    [
      'a kill_init of an instance not booted yet',
      variant(
        '  - boot: { instance: web2, image: img }',
        '  - host_action: { kill_init: web2 }\n  - boot: { instance: web2, image: img }',
      ),
      'steps[1].host_action.kill_init: expected an instance booted by this or an earlier step (web), got "web2"',
    ],
    [
      'a wait for no instance',
      variant('  - destroy: web', '  - wait: { ms: 10, for: {} }\n  - destroy: web'),
      'steps[2].wait.for: expected instances and their states',
    ],
    [
      'a wait for an instance never booted',
      variant(
        '  - destroy: web',
        '  - wait: { ms: 10, for_files: { ghost: { /a: b } } }\n  - destroy: web',
      ),
      'steps[2].wait.for_files.ghost: expected an instance booted by this or an earlier step (web, web2), got "ghost"',
    ],
    [
      'a record key the driver does not persist',
      variant(
        '  - destroy: web',
        '  - destroy: web\n    expect: { record: { web: { rootfs_device: x } } }',
      ),
      'steps[2].expect.record.web.rootfs_device: expected one of the keys rootfs_device_name, nova_lxc_rootfs, journal',
    ],
    [
      'an instance_disk_files entry without a path',
      variant(
        '  - destroy: web',
        '  - destroy: web\n    expect: { instance_disk_files: [{ instance: web2 }] }',
      ),
      'steps[2].expect.instance_disk_files[0].path: expected a string',
    ],
    [
      'an instance_disk_files entry for an instance never booted',
      variant(
        '  - destroy: web',
        '  - destroy: web\n    expect: { instance_disk_files: [{ instance: db, path: /m, content: x }] }',
      ),
      'steps[2].expect.instance_disk_files[0].instance: expected an instance booted by this or an earlier step',
    ],
    [
      'a resume of an instance never booted',
      variant('  - destroy: web', '  - resume: db'),
      'steps[2].resume: expected an instance booted by this or an earlier step',
    ],
    [
      'host_reboot with a value other than true',
      variant('  - destroy: web', '  - host_reboot: yes'),
      'steps[2].host_reboot: expected true',
    ],
  ])('reports %s with the file, path and what was expected', (_what, text, message) => {
    expect(() => parseScenarioText(text, 'scenarios/demo.yaml')).toThrow(message);
  });

  it.each([
    [
      'a mistyped step key',
      variant('  - destroy: web', '  - destroy: web\n    expext: {}'),
      'steps[2].expext',
      'expect',
    ],
    ['a mistyped top-level key', variant('steps:', 'stpes:'), '(document).stpes', 'steps'],
    [
      'a mistyped filesystem type',
      variant('type: ext4', 'type: etx4'),
      'volumes.vol1.disk.filesystem.type',
      'ext4',
    ],
    [
      'a mistyped init key',
      variant('init: { then: run }', 'init: { enviro_to: /env, then: run }'),
      'volumes.vol1.disk.filesystem.init.enviro_to',
      'environ_to',
    ],
    [
      'a mistyped key of then',
      variant('init: { then: run }', 'init: { then: { exit: 1, after: 2 } }'),
      'volumes.vol1.disk.filesystem.init.then.after',
      'after_s',
    ],
    [
      'a mistyped init_user key',
      variant(
        '  - destroy: web',
        '  - destroy: web\n    expect: { init_user: { web: { host_id: 0 } } }',
      ),
      'steps[2].expect.init_user.web.host_id',
      'host_uid',
    ],
    [
      'a mistyped host action',
      variant('  - destroy: web', '  - host_action: { kill_int: web }\n  - destroy: web'),
      'steps[2].host_action.kill_int',
      'kill_init',
    ],
  ])('suggests the nearest key or value for %s', (_what, text, path, suggestion) => {
    expect(() => parseScenarioText(text, 'demo.yaml')).toThrow(
      new RegExp(
        `${path.replace(/[[\]().]/g, '\\$&')}: expected .*\\(did you mean "${suggestion}"\\?\\)$`,
      ),
    );
  });

  it('makes no suggestion for a key nothing resembles', () => {
    expect(() =>
      parseScenarioText(
        variant('  - destroy: web', '  - destroy: web\n    zzzzzzzzzz: {}'),
        'demo.yaml',
      ),
    ).toThrow(/expected one of the keys [^(]*, got "zzzzzzzzzz"$/);
  });

  it('names the line and column of the key at fault', () => {
    try {
      parseScenarioText(variant('  - destroy: web', '  - destroy: web\n    expext: {}'), 'x.yaml');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({
        message: expect.stringMatching(/^x\.yaml:12:5: steps\[2\]\.expext: /),
        details: { file: 'x.yaml', path: 'steps[2].expext', line: 12, column: 5 },
      });
    }
  });

  it.each([
    [
      'overlapping partitions',
      `{ size: 64M, table: gpt, partitions: [{ number: 1, start: 2048, size: 40000 }, { number: 2, start: 40000, size: 1000 }] }`,
      'volumes.vol1.disk.partitions[1]: expected a partition table that can be laid out (partition 1 overlaps partition 2)',
    ],
    [
      'a partition past the end of the disk',
      `{ size: 64M, table: mbr, partitions: [{ number: 1, start: 2048, size: 200000 }] }`,
      'volumes.vol1.disk.partitions[0]: expected a partition table that can be laid out (partition 1 (sectors 2048-202047) lies outside the usable sectors 1-131071)',
    ],
    [
      'a GPT partition over the backup entries',
      `{ size: 64M, table: gpt, partitions: [{ number: 1, start: 2048, size: 129024 }] }`,
      'lies outside the usable sectors 34-131038',
    ],
    [
      'a GPT partition over the backup entries of a 4096-byte-sector disk',
      `{ size: 64M, table: gpt, sector_size: 4096, partitions: [{ number: 1, start: 256, size: 16128 }] }`,
      'lies outside the usable sectors 6-16378',
    ],
  ])('finds %s at load time, with the YAML path', (_what, disk, message) => {
    const text = variant(
      'disk: { size: 64M, table: none, filesystem: { type: ext4, init: { then: run } } }',
      `disk: ${disk}`,
    );
    expect(() => parseScenarioText(text, 'demo.yaml')).toThrow(message);
  });

  it('refuses images_type lvm at load time, saying why', () => {
    expect(() =>
      parseScenarioText(variant('volumes:', 'host: { images_type: lvm }\nvolumes:'), 'demo.yaml'),
    ).toThrow(
      'host.images_type: expected one of default, raw, flat, qcow2 (lvm, rbd and ploop are not supported for LXC by nova-lxc), got "lvm"',
    );
  });

  it.each([
    [
      'a state expectation',
      '  - destroy: web',
      '  - destroy: web\n    expect: { state: { wbe: absent } }',
      'steps[2].expect.state.wbe',
    ],
    ['a destroy', '  - destroy: web', '  - destroy: db', 'steps[2].destroy'],
    [
      'a files expectation before the boot',
      '  - boot: { instance: web2, image: img }',
      '  - boot: { instance: web2, image: img }\n    expect: { files: { web3: { /x: y } } }',
      'steps[1].expect.files.web3',
    ],
  ])('finds an instance named in %s but never booted at load time', (_what, from, to, path) => {
    expect(() => parseScenarioText(variant(from, to), 'demo.yaml')).toThrow(
      new RegExp(
        `${path.replace(/[[\]().]/g, '\\$&')}: expected an instance booted by this or an earlier step \\(web, web2\\)`,
      ),
    );
  });

  it('accepts an expectation on an instance booted in the same step', () => {
    const text = variant(
      '  - boot: { instance: web2, image: img }',
      '  - boot: { instance: web2, image: img }\n    expect: { state: { web2: running } }',
    );
    expect(parseScenarioText(text, 'demo.yaml').steps).toHaveLength(3);
  });

  it('reports an empty --block-device string once, plainly', () => {
    expect(() =>
      parseScenarioText(
        variant('"source=volume,id=vol1,dest=volume,bootindex=0"', '""'),
        'demo.yaml',
      ),
    ).toThrow(
      /steps\[0\]\.boot\.block_device\[0\]: expected a --block-device string such as "source=volume,id=vol1,dest=volume,bootindex=0" \(this one is empty\), got ""$/,
    );
  });

  it('refuses a boot_index that is not a number in Nova API JSON', () => {
    const text = variant(
      'block_device: ["source=volume,id=vol1,dest=volume,bootindex=0"]',
      'block_device_mapping_v2: [{ source_type: volume, uuid: vol1, boot_index: zero }]',
    );
    expect(() => parseScenarioText(text, 'demo.yaml')).toThrow(
      'block_device_mapping_v2[0].boot_index: expected a whole number such as 0',
    );
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

describe('scenarios/README.md', () => {
  it('lists every error code a scenario can expect, and no other', async () => {
    const readme = await readFile('scenarios/README.md', 'utf8');
    const table = readme.slice(readme.indexOf('| code | the driver means |'));
    const listed = [...table.slice(0, table.indexOf('\n\n')).matchAll(/^\| `(\w+)` \|/gm)].map(
      (m) => m[1],
    );
    expect(listed.sort()).toEqual([...ERROR_CODES].sort());
  });
});
