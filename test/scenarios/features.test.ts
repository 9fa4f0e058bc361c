import { describe, expect, it } from 'vitest';
import { createSimHarness } from '../../harness/sim-harness.js';
import { expandScenario, parseScenarioText, runScenario } from '../../scenarios/index.js';
import { runSimScenario } from '../helpers/scenario-run.js';

const HEAD = `
name: demo
volumes:
  vol1:
    disk:
      size: 64M
      table: mbr
      partitions:
        - { number: 1, start: 2048, size: 61440, filesystem: { type: ext4, init: { then: run } } }
steps:
  - boot: { instance: web, volume: vol1 }
`;

/** Runs HEAD plus `steps` on the simulator; returns the failure message ('' when it passed). */
const runWith = (steps: string): Promise<string> => runSimScenario(HEAD, steps);

describe('scenario expectations and steps beyond boot and destroy', () => {
  it('passes when the domain XML contains the subset', async () => {
    expect(
      await runWith(`    expect: { domain_xml: { web: { domain: { '@type': lxc } } } }\n`),
    ).toBe('');
  });

  it('names the first place the domain XML differs', async () => {
    expect(
      await runWith(`    expect: { domain_xml: { web: { domain: { '@type': kvm } } } }\n`),
    ).toContain('domain XML of web.domain.@type: expected "kvm", got "lxc"');
  });

  it('passes XPath expressions on the domain XML: string, count, boolean and a node set', async () => {
    expect(
      await runWith(
        `    expect:\n      domain_xpath:\n        web:\n          string(/domain/os/init): /sbin/init\n` +
          `          count(//filesystem): 1\n          boolean(//idmap): false\n` +
          `          /domain/@type: lxc\n          //initenv/@name: [product_name]\n`,
      ),
    ).toBe('');
  });

  it('names the XPath expression whose value differs', async () => {
    expect(
      await runWith(`    expect: { domain_xpath: { web: { 'count(//filesystem)': 2 } } }\n`),
    ).toContain('count(//filesystem) on the domain XML of web: expected 2, got 1');
  });

  it("matches a subset of the driver's persisted record, devices named as in the trace", async () => {
    expect(
      await runWith(
        `    expect:\n      record:\n        web:\n          rootfs_device_name: '<loop#2>'\n` +
          `          nova_lxc_rootfs: { partition: 1, bootId: '<boot#1>', volumes: [{ key: '<volume:vol1>' }] }\n` +
          `          journal: { operation: null, items: [{ target: { kind: domain } }] }\n`,
      ),
    ).toBe('');
  });

  it('names where the persisted record differs', async () => {
    expect(
      await runWith(`    expect: { record: { web: { nova_lxc_rootfs: { partition: 2 } } } }\n`),
    ).toContain('record of web.nova_lxc_rootfs.partition: expected 2, got 1');
  });

  it('reads a file in an instance disk kept by destroy_disks false, and says when there is no disk', async () => {
    const image = `
name: demo
host: { images_type: raw }
images:
  img:
    disk:
      size: 64M
      table: mbr
      partitions:
        - { number: 1, start: 2048, size: 61440, filesystem: { type: ext4, init: { writes: [{ path: /m, content: hi }], then: run } } }
steps:
  - boot: { instance: web, image: img }
  - destroy: { instance: web, destroy_disks: false }
    expect: { instance_disk_files: [{ instance: web, partition: 1, path: /m, content: hi }] }
  - destroy: web
    expect: { instance_disk_files: [{ instance: web, partition: 1, path: /m, content: hi }] }
`;
    const result = await runScenario(expandScenario(parseScenarioText(image, 'demo.yaml'))[0]!, {
      backend: 'sim',
      harness: () => createSimHarness(),
    });
    expect(result.error).toContain(
      'steps[2]: /m on the instance disk of web partition 1: expected "hi", got "(the instance disk of web does not exist)"',
    );
    expect(result.outcomes.map((o) => o.outcome)).toEqual(['ok', 'ok', 'ok']);
  });

  it('holds the loop device of a volume: destroy is Busy until the holder lets go', async () => {
    expect(
      await runWith(
        `  - host_action: { hold_loop: vol1 }\n  - destroy: web\n    error: { code: Busy }\n` +
          `    expect: { attached: [{ loop: 'volume:vol1', offset: 0 }] }\n` +
          `  - host_action: { release_loop: vol1 }\n    expect: { attached: [] }\n` +
          `  - destroy: web\n    expect: { clean: true }\n`,
      ),
    ).toBe('');
  });

  it('refuses a release_loop without a hold_loop before it', async () => {
    expect(await runWith(`  - host_action: { release_loop: vol1 }\n`)).toContain(
      'steps[1]: no hold_loop of volume vol1 before',
    );
  });

  it('fails a zero region that is not zero, naming the first non-zero byte', async () => {
    expect(
      await runWith(
        `    expect: { disk_bytes: [{ volume: vol1, offset: 0, length: 512, zero: true }] }\n`,
      ),
    ).toMatch(/bytes 0-511 of volume vol1: expected zeros, byte \d+ is \d+/);
  });

  it('compares a region by its SHA-256', async () => {
    const zeros512 = '076a27c79e5ace2a3d47f9dd2e83e4ff6ea8872b3c2218f66c92b89b55f36560';
    expect(
      await runWith(
        `    expect: { disk_bytes: [{ volume: vol1, offset: 1024, length: 512, sha256: ${zeros512} }] }\n`,
      ),
    ).toBe('');
  });

  it('fails a step that takes longer than within_ms on the host clock', async () => {
    expect(await runWith(`  - wait: { ms: 5000 }\n    within_ms: 1000\n`)).toContain(
      'steps[1]: expected to take at most 1000 ms, took 5000 ms',
    );
  });

  it('boots the same instance twice only with retry: true', async () => {
    expect(await runWith(`  - boot: { instance: web, volume: vol1 }\n`)).toContain(
      'or retry: true to boot the same instance again',
    );
  });
});

describe('scenario host shapes', () => {
  const host = (text: string) =>
    parseScenarioText(HEAD.replace('volumes:', `host: ${text}\nvolumes:`), 'demo.yaml').host;

  it('takes uid_maps and gid_maps as nova.conf has them, one comma list', () => {
    expect(host(`{ uid_maps: '0:100000:65536, 65536:0:1', gid_maps: '0:100000:65536' }`)).toEqual({
      uidMaps: ['0:100000:65536', '65536:0:1'],
      gidMaps: ['0:100000:65536'],
    });
  });

  it('accepts virt_type lxc and refuses any other', () => {
    expect(host('{ virt_type: lxc }')).toEqual({});
    expect(() => host('{ virt_type: kvm }')).toThrow(
      'host.virt_type: expected one of lxc (nova-lxc is the LXC driver), got "kvm"',
    );
  });

  it('refuses a host action on an undeclared volume', () => {
    expect(() =>
      parseScenarioText(HEAD + '  - host_action: { attach_loop: vol9 }\n', 'demo.yaml'),
    ).toThrow('steps[1].host_action.attach_loop: expected the name of a declared volume');
  });
});
