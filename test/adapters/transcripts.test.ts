import { describe, expect, it } from 'vitest';
import { createRealHost } from '../../driver/adapters/real-host.js';
import { ScriptedHost, loadTranscript } from '../../harness/scripted-runner.js';
import { TRANSCRIPT_SCENARIOS } from '../../harness/transcript-scenarios.js';

function replay(name: string) {
  const transcript = loadTranscript(name);
  const scripted = new ScriptedHost(transcript);
  const host = createRealHost({
    imagesDir: transcript.context['imagesDir'] ?? imagesDirOf(transcript.outcomes),
    runner: scripted,
    systemFiles: scripted,
  });
  const scenario = TRANSCRIPT_SCENARIOS[name];
  if (!scenario) throw new Error(`no scenario ${name}`);
  return { transcript, scripted, run: () => scenario(host, transcript.context) };
}

// The images scenario's store directory is where its lookups found the images.
function imagesDirOf(outcomes: { call: string; value?: unknown }[]): string {
  const lookup = outcomes.find((o) => o.call === 'lookup raw')?.value as
    { path?: string } | undefined;
  return lookup?.path?.replace(/\/raw-image$/, '') ?? '/nonexistent';
}

describe('recorded transcripts', () => {
  it.each(Object.keys(TRANSCRIPT_SCENARIOS))(
    '%s replays step by step with the outcomes recorded on the real host',
    async (name) => {
      const { transcript, scripted, run } = replay(name);
      expect(await run()).toEqual(transcript.outcomes);
      scripted.assertDone();
    },
  );

  it('carries provenance: recording command, tool versions and date', () => {
    for (const name of Object.keys(TRANSCRIPT_SCENARIOS)) {
      const { provenance } = loadTranscript(name);
      expect(provenance.recordedBy).toContain('tools/record-transcripts.ts');
      expect(provenance.tools['losetup']).toMatch(/util-linux/);
      expect(Date.parse(provenance.recordedAt)).not.toBeNaN();
    }
  });
});

describe('adapter semantics in the recordings', () => {
  const outcomes = (name: string) =>
    Object.fromEntries(loadTranscript(name).outcomes.map((o) => [o.call, o]));

  it.each([
    ['losetup', 'detach again', 'NotFound'],
    ['losetup', 'attach a missing file', 'NotFound'],
    ['losetup', 'read a missing file', 'NotFound'],
    ['mounts', 'mount again', 'Busy'],
    ['mounts', 'detach while mounted', 'Busy'],
    ['mounts', 'unmount again', 'NotFound'],
    ['mounts', 'mount a blank device', 'InvalidInput'],
    ['mounts', 'mount on a missing target', 'NotFound'],
    ['virsh', 'start again', 'FailedPrecondition'],
    ['virsh', 'destroy again', 'FailedPrecondition'],
    ['virsh', 'container root when stopped', 'FailedPrecondition'],
    ['virsh', 'info after undefine', 'NotFound'],
    ['virsh', 'undefine again', 'NotFound'],
    ['virsh', 'start with a missing init', 'FailedPrecondition'],
    ['virsh', 'define broken XML', 'InvalidInput'],
    ['images', 'lookup unknown', 'NotFound'],
    ['images', 'lookup a bad id', 'InvalidInput'],
    ['volumes', 'connect local on a file', 'InvalidInput'],
    ['volumes', 'connect local missing', 'NotFound'],
    ['volumes', 'connect iscsi', 'Unsupported'],
    ['nbd', 'connect', 'Unsupported'],
  ])('%s: %s fails with %s', (name, call, code) => {
    expect(outcomes(name)[call]).toMatchObject({ error: code });
  });

  it('reads the partition through a loop device with offset and size limit', () => {
    const o = outcomes('losetup');
    expect(o['attach partition 1']).toMatchObject({
      value: { offset: 1048576, sizeLimit: 31457280, autoclear: false },
    });
    expect(o['ext4 magic through the loop device']).toEqual({
      call: 'ext4 magic through the loop device',
      value: '53ef',
    });
  });

  it('keeps libvirt_lxc start error text verbatim', () => {
    expect(outcomes('virsh')['start with a missing init']).toMatchObject({
      message: expect.stringContaining(
        "cannot find init path '/sbin/nothere' relative to container root",
      ),
    });
  });

  it('finds the container root from the init pid libvirt records', () => {
    expect(outcomes('virsh')['container root']).toMatchObject({
      value: { source: expect.stringMatching(/^\/dev\/loop\d+$/), target: '/', fstype: 'ext4' },
    });
  });

  it('fails nbd at once with what to do instead', async () => {
    const { scripted, run } = replay('nbd');
    const started = Date.now();
    await run();
    expect(Date.now() - started).toBeLessThan(1000);
    scripted.assertDone();
  });
});
