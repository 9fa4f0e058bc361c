import { describe, expect, it } from 'vitest';
import { firstTraceDifference, normaliseTrace, type RawTraceEntry } from './trace.js';

const ctx = {
  replacements: new Map([
    ['/var/tmp/x/instances', '<instances>'],
    ['/var/tmp/x/disks/vol-1.img', '<volume:vol1>'],
  ]),
  domainNames: new Set(['nlt-1']),
};

describe('trace normalisation', () => {
  it('names devices by first appearance and replaces known paths', () => {
    const raw: RawTraceEntry[] = [
      {
        step: 's',
        op: 'volumes.connect',
        args: [{ data: { path: '/var/tmp/x/disks/vol-1.img' } }],
        result: { devicePath: '/dev/loop7' },
      },
      {
        step: 's',
        op: 'blockDevices.attachLoop',
        args: ['/dev/loop7', { offset: 1 }],
        result: { device: '/dev/loop3' },
      },
      { step: 's', op: 'mounts.mount', args: ['/dev/loop3', '/var/tmp/x/instances/u/rootfs'] },
    ];
    expect(normaliseTrace(raw, ctx).map((e) => [e.args, e.result])).toEqual([
      [[{ data: { path: '<volume:vol1>' } }], { devicePath: '<loop#1>' }],
      [['<loop#1>', { offset: 1 }], { device: '<loop#2>' }],
      [['<loop#2>', '<instances>/u/rootfs'], undefined],
    ]);
  });

  it('keeps only the scenario entries of host-wide lists', () => {
    const raw: RawTraceEntry[] = [
      {
        step: 's',
        op: 'blockDevices.listLoops',
        args: [],
        result: [
          { device: '/dev/loop0', backingFile: '/var/lib/snapd/snaps/core.snap' },
          { device: '/dev/loop1', backingFile: '/var/tmp/x/disks/vol-1.img' },
        ],
      },
      {
        step: 's',
        op: 'hypervisor.list',
        args: [],
        result: [{ name: 'other' }, { name: 'nlt-1' }],
      },
    ];
    expect(normaliseTrace(raw, ctx).map((e) => e.result)).toEqual([
      [{ device: '<loop#1>', backingFile: '<volume:vol1>' }],
      [{ name: 'nlt-1' }],
    ]);
  });

  it('orders a concurrent group by branch and hides mid-group lists', () => {
    const raw: RawTraceEntry[] = [
      { step: 'g', branch: 1, op: 'files.ensureDir', args: ['b'] },
      { step: 'g', branch: 0, op: 'files.ensureDir', args: ['a'] },
      { step: 'g', branch: 0, op: 'mounts.list', args: [], result: [] },
    ];
    expect(normaliseTrace(raw, ctx).map((e) => [e.args, e.result])).toEqual([
      [['a'], undefined],
      [[], '<concurrent>'],
      [['b'], undefined],
    ]);
  });

  it('finds the first differing call', () => {
    const a = [{ step: 's', op: 'x', args: [] }];
    const b = [...a, { step: 's', op: 'y', args: [] }];
    expect(firstTraceDifference(a, a)).toBeNull();
    expect(firstTraceDifference(a, b)).toEqual({ index: 1, right: b[1] });
  });
});

describe('host file identities', () => {
  it('shows an identity as a placeholder, an absent file as null', () => {
    const entries = normaliseTrace(
      [
        { step: 's', op: 'files.identity', args: ['/v'], result: { device: 65024, inode: 7 } },
        { step: 's', op: 'files.identity', args: ['/w'], result: null },
      ],
      { replacements: new Map(), domainNames: new Set() },
    );
    expect(entries.map((e) => e.result)).toEqual(['<identity>', null]);
  });
});
