import { describe, expect, it } from 'vitest';
import { decodeMountField, parseMountinfo } from '../../driver/adapters/parse-mountinfo.js';
import {
  parseBlockdevGeometry,
  parseLoopSysfs,
  parseLosetupJson,
  parseLosetupShow,
  parseSysfsGeometry,
} from '../../driver/adapters/parse-losetup.js';
import {
  domainNameOf,
  parseDomainState,
  parseDominfo,
  parseDomstate,
  parseListNames,
  parseLxcStatusInitPid,
} from '../../driver/adapters/parse-virsh.js';
import { loadTranscript, type TranscriptStep } from '../../harness/scripted-runner.js';

/** Real output captured in the transcripts (see their provenance). */
function captured(name: string, pick: (step: TranscriptStep) => boolean): TranscriptStep {
  const step = loadTranscript(name).steps.find(pick);
  if (!step) throw new Error(`no such step in ${name}`);
  return step;
}

/** Every file text a transcript captured, from single reads and batches of attributes. */
function capturedTexts(name: string): { path: string; text: string }[] {
  return loadTranscript(name).steps.flatMap((s) =>
    s.op === 'readText' && s.text !== undefined
      ? [{ path: s.path, text: s.text }]
      : s.op === 'readAttributes'
        ? s.paths.flatMap((path, i) => {
            const text = s.texts?.[i];
            return typeof text === 'string' ? [{ path, text }] : [];
          })
        : [],
  );
}

function capturedText(name: string, pick: (file: { path: string; text: string }) => boolean) {
  const file = capturedTexts(name).find(pick);
  if (!file) throw new Error(`no such file read in ${name}`);
  return file.text;
}

const mountinfoWithSpace = capturedText(
  'mounts',
  (f) => f.path === '/proc/self/mountinfo' && /a\\040b/.test(f.text),
);

describe('parseMountinfo', () => {
  it('parses the captured host table and decodes the space in a mount point', () => {
    const entries = parseMountinfo(mountinfoWithSpace);
    expect(entries.length).toBeGreaterThan(5);
    expect(entries.find((e) => e.target.endsWith('/a b'))).toMatchObject({
      source: expect.stringMatching(/^\/dev\/loop\d+$/),
      fstype: 'ext4',
      root: '/',
    });
    expect(entries.find((e) => e.target === '/')).toMatchObject({ parentId: expect.any(Number) });
  });

  it.each([
    ['\\040', ' '],
    ['\\011', '\t'],
    ['\\012', '\n'],
    ['\\134', '\\'],
    ['a\\040b\\134c', 'a b\\c'],
    ['plain', 'plain'],
  ])('decodes %s', (field, decoded) => {
    expect(decodeMountField(field)).toBe(decoded);
  });

  it('keeps optional fields such as shared peer groups', () => {
    const [entry] = parseMountinfo(
      '58 42 7:0 / /var/tmp/x\\040y rw,relatime shared:2 master:1 - ext4 /dev/loop0 rw\n',
    );
    expect(entry).toMatchObject({
      target: '/var/tmp/x y',
      propagation: ['shared:2', 'master:1'],
      options: ['rw', 'relatime'],
      superOptions: ['rw'],
    });
  });

  it.each([
    ['no separator', '58 42 7:0 / /mnt rw ext4 /dev/loop0 rw'],
    ['missing super options', '58 42 7:0 / /mnt rw - ext4 /dev/loop0'],
    ['non-numeric id', 'x 42 7:0 / /mnt rw - ext4 /dev/loop0 rw'],
    ['bad major:minor', '58 42 7 / /mnt rw - ext4 /dev/loop0 rw'],
    ['relative mount point', '58 42 7:0 / mnt rw - ext4 /dev/loop0 rw'],
    ['truncated line', '58 42 7:0'],
  ])('rejects a malformed line: %s', (_why, line) => {
    expect(() => parseMountinfo(`${line}\n`)).toThrow(/Failed to parse mountinfo line 1/);
  });
});

describe('losetup output', () => {
  it('parses a --json listing as util-linux 2.38 prints it (the real harness clean-up reads it)', () => {
    const stdout = `{
   "loopdevices": [
      {
         "name": "/dev/loop1",
         "back-file": "/dev/loop0",
         "offset": 1048576,
         "sizelimit": 31457280,
         "ro": false,
         "log-sec": 512,
         "autoclear": false
      }
   ]
}
`;
    expect(parseLosetupJson(stdout)).toEqual([
      {
        device: '/dev/loop1',
        backingFile: '/dev/loop0',
        offset: 1048576,
        sizeLimit: 31457280,
        readOnly: false,
        sectorSize: 512,
        autoclear: false,
      },
    ]);
  });

  it('reads a loop device from the sysfs attributes captured on the real host', () => {
    const text = (path: RegExp) => capturedText('losetup', (f) => path.test(f.path));
    const offsets = capturedTexts('losetup').filter(
      (f) => /\/loop\/offset$/.test(f.path) && f.text === '1048576\n',
    );
    expect(offsets.length).toBeGreaterThan(0);
    expect(
      parseLoopSysfs('/dev/loop1', '/dev/loop0', {
        offset: '1048576\n',
        sizeLimit: text(/\/loop\/sizelimit$/),
        autoclear: text(/\/loop\/autoclear$/),
        readOnly: text(/\/ro$/),
        sectorSize: text(/\/queue\/logical_block_size$/),
      }),
    ).toMatchObject({ offset: 1048576, readOnly: false, sectorSize: 512, autoclear: false });
    expect(() =>
      parseLoopSysfs('/dev/loop1', '/f', {
        offset: 'x',
        sizeLimit: '0',
        autoclear: '0',
        readOnly: '0',
        sectorSize: '512',
      }),
    ).toThrow(/loop1 from sysfs: offset is not a number/);
    expect(parseSysfsGeometry('/dev/loop1', '61440\n', '4096\n')).toEqual({
      size: 61440 * 512,
      logicalSectorSize: 4096,
    });
  });

  it.each([
    ['empty output', ''],
    ['an empty table', '{\n   "loopdevices": [\n\n   ]\n}\n'],
  ])('reads %s as no devices', (_what, text) => {
    expect(parseLosetupJson(text)).toEqual([]);
  });

  it('orders devices by number, not by text', () => {
    const row = (n: number) =>
      `{"name":"/dev/loop${n}","back-file":"/f","offset":0,"sizelimit":0,"ro":false,"log-sec":512,"autoclear":false}`;
    const parsed = parseLosetupJson(`{"loopdevices":[${row(10)},${row(2)}]}`);
    expect(parsed.map((d) => d.device)).toEqual(['/dev/loop2', '/dev/loop10']);
  });

  it.each([
    ['not JSON', 'loop0 /f'],
    ['no table', '{"devices":[]}'],
    ['bad name', '{"loopdevices":[{"name":"/dev/sda"}]}'],
    [
      'bad offset',
      '{"loopdevices":[{"name":"/dev/loop0","back-file":"/f","offset":"x","sizelimit":0,"ro":false,"log-sec":512,"autoclear":false}]}',
    ],
  ])('rejects %s', (_what, text) => {
    expect(() => parseLosetupJson(text)).toThrow(/Failed to parse losetup/);
  });

  it.each([
    ['/dev/loop3\n', '/dev/loop3'],
    ['/dev/loop12', '/dev/loop12'],
  ])('reads the attached device from %j', (stdout, device) => {
    expect(parseLosetupShow(stdout)).toBe(device);
  });

  it('rejects --show output that is not a loop device', () => {
    expect(() => parseLosetupShow('')).toThrow();
  });

  it('parses blockdev --getsize64 --getss', () => {
    expect(parseBlockdevGeometry('31457280\n512\n')).toEqual({
      size: 31457280,
      logicalSectorSize: 512,
    });
    expect(() => parseBlockdevGeometry('31457280\n')).toThrow(/blockdev/);
  });
});

describe('virsh output', () => {
  const dominfo = captured(
    'virsh',
    (s) => s.op === 'run' && s.argv.includes('dominfo') && s.exitCode === 0,
  );
  const listNames = captured('virsh', (s) => s.op === 'run' && s.argv.includes('--name'));
  const status = captured(
    'virsh',
    (s) => s.op === 'readText' && s.path.startsWith('/run/libvirt/lxc/'),
  );

  it('parses captured dominfo', () => {
    expect(parseDominfo(dominfo.op === 'run' ? dominfo.stdout : '')).toMatchObject({
      name: 'nlxc-rec-virsh',
      uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      state: 'shut off',
      persistent: true,
      id: null,
    });
  });

  it('parses captured list --all --name output', () => {
    expect(parseListNames(listNames.op === 'run' ? listNames.stdout : '')).toContain(
      'nlxc-rec-virsh',
    );
    expect(parseListNames('\n\n')).toEqual([]);
  });

  it('reads the init pid from the captured LXC status XML', () => {
    expect(parseLxcStatusInitPid(status.op === 'readText' ? (status.text ?? '') : '')).toEqual(
      expect.any(Number),
    );
    expect(parseLxcStatusInitPid('<domstatus/>')).toBeNull();
  });

  it.each([
    ['running', 'running'],
    ['shut off', 'shut off'],
    ['in shutdown', 'shutdown'],
    ['idle', 'blocked'],
    ['no state', 'nostate'],
    ['paused', 'paused'],
    ['crashed', 'crashed'],
    ['pmsuspended', 'pmsuspended'],
  ])('maps the printed state %j to %j', (printed, state) => {
    expect(parseDomainState(printed)).toBe(state);
  });

  it('reads domstate output with its trailing blank line', () => {
    expect(parseDomstate('running\n\n')).toBe('running');
    expect(() => parseDomstate('\n')).toThrow(/domstate/);
    expect(() => parseDomainState('dancing')).toThrow();
  });

  it.each([
    [`<domain type='lxc'><name>a</name></domain>`, 'a'],
    [`<domain>\n  <name> instance-1 </name>`, 'instance-1'],
    ['<domain/>', null],
  ])('finds the domain name in %j', (xml, name) => {
    expect(domainNameOf(xml)).toBe(name);
  });

  it('rejects dominfo without the persistence line', () => {
    expect(() => parseDominfo('Name: a\nUUID: b\nState: running\n')).toThrow(/dominfo/);
  });
});
