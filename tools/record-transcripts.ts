/**
 * Records the adapter transcripts under test/fixtures/transcripts/ on a prepared real host
 * (root; run tools/prepare-real-host.sh first):  npx tsx tools/record-transcripts.ts [name...]
 */
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ProcessCommandRunner } from '../driver/adapters/command-runner.js';
import { createRealHost } from '../driver/adapters/real-host.js';
import { NodeSystemFiles } from '../driver/adapters/system-files.js';
import type { DiskSpec } from '../harness/disk-spec.js';
import { TRANSCRIPT_SCENARIOS } from '../harness/transcript-scenarios.js';
import { createRealHarness } from '../harness/real-harness.js';
import { RecordingHost, TRANSCRIPTS_DIR, type Transcript } from '../harness/scripted-runner.js';

const ROOTFS: DiskSpec = {
  size: '32M',
  table: 'none',
  filesystem: {
    type: 'ext4',
    label: 'rootfs',
    init: { writes: [{ path: '/marker', content: 'started' }], then: 'run' },
  },
};

const PARTITIONED: DiskSpec = {
  size: '64M',
  table: 'mbr',
  partitions: [{ number: 1, start: 2048, size: 61440, filesystem: { type: 'ext4', label: 'p1' } }],
};

function domainXml(name: string, rootfs: string, init: string): string {
  return `<domain type='lxc'>
  <name>${name}</name>
  <memory>65536</memory>
  <vcpu>1</vcpu>
  <os><type>exe</type><init>${init}</init></os>
  <devices>
    <filesystem type='mount'><source dir='${rootfs}'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>
`;
}

async function toolVersions(): Promise<Record<string, string>> {
  const runner = new ProcessCommandRunner();
  const first = async (argv: string[]): Promise<string> => {
    try {
      const { stdout, stderr } = await runner.run(argv);
      return (stdout || stderr).split('\n')[0] ?? '';
    } catch {
      return 'not installed';
    }
  };
  return {
    losetup: await first(['losetup', '--version']),
    mount: await first(['mount', '--version']),
    virsh: `virsh ${await first(['virsh', '--version'])}`,
    'qemu-img': await first(['qemu-img', '--version']),
    kernel: await first(['uname', '-r']),
  };
}

const names = process.argv.slice(2).length
  ? process.argv.slice(2)
  : Object.keys(TRANSCRIPT_SCENARIOS);
const harness = await createRealHarness();
try {
  const tools = await toolVersions();
  const rootfsDisk = await harness.makeDiskFile(ROOTFS, 'rootfs');
  const partitioned = await harness.makeDiskFile(PARTITIONED, 'mbr');
  const blank = await harness.makeDiskFile({ size: '16M', table: 'none' }, 'blank');
  const rootfs = await harness.makeDir('rootfs');
  const target = await harness.makeDir('mount target');
  const spaced = `${target}/a b`;
  await harness.host.files.ensureDir(spaced);
  await harness.addImage('raw-image', rootfsDisk, 'raw');
  await harness.addImage('qcow2-image', await harness.makeQcow2(rootfsDisk), 'qcow2');
  const imagesDir = join(harness.instancesPath, '..', 'images');
  const instanceDir = await harness.makeDir('instance');
  const contexts: Record<string, Record<string, string>> = {
    losetup: { disk: partitioned, missing: `${partitioned}.missing` },
    mounts: { disk: rootfsDisk, blank, target: spaced },
    virsh: {
      disk: rootfsDisk,
      rootfs,
      name: 'nlxc-rec-virsh',
      xml: domainXml('nlxc-rec-virsh', rootfs, '/sbin/init'),
      xmlNoInit: domainXml('nlxc-rec-virsh', rootfs, '/sbin/nothere'),
      xmlBroken: '<domain type="lxc"><name>nlxc-rec-broken</name><os>',
    },
    images: { instanceDir },
    volumes: { disk: rootfsDisk },
    nbd: { disk: rootfsDisk },
  };
  for (const name of names) {
    const scenario = TRANSCRIPT_SCENARIOS[name];
    const context = contexts[name];
    if (!scenario || !context) throw new Error(`no scenario ${name}`);
    const recorder = new RecordingHost(new ProcessCommandRunner(), new NodeSystemFiles());
    const host = createRealHost({ imagesDir, runner: recorder, systemFiles: recorder });
    const outcomes = await scenario(host, context);
    const transcript: Transcript = {
      name,
      provenance: {
        recordedAt: new Date().toISOString(),
        host: `${hostname()} (Debian 12, root, libvirtd per tools/prepare-real-host.sh)`,
        tools,
        recordedBy: `npx tsx tools/record-transcripts.ts ${name}`,
      },
      context,
      steps: recorder.steps,
      outcomes,
    };
    await writeFile(
      join(TRANSCRIPTS_DIR, `${name}.json`),
      JSON.stringify(transcript, null, 2) + '\n',
    );
    console.log(`recorded ${name}: ${recorder.steps.length} steps, ${outcomes.length} outcomes`);
  }
} finally {
  await harness.cleanup();
}
