import { PortVolumeConnector } from '../core/volume-connector.js';
import type { Host } from '../ports/index.js';
import { HelperCommandRunner } from './command-helper.js';
import { ProcessCommandRunner, type CommandRunner } from './command-runner.js';
import { FileImageStore } from './file-image-store.js';
import { FileJournal } from './file-journal.js';
import { LinuxMounts } from './linux-mounts.js';
import { LosetupBlockDevices } from './losetup-block-devices.js';
import { NodeHostFiles } from './node-host-files.js';
import { QemuNbd } from './qemu-nbd.js';
import { SystemClock } from './system-clock.js';
import { NodeSystemFiles, type SystemFiles } from './system-files.js';
import { VirshHypervisor } from './virsh-hypervisor.js';

/** How the real host is wired. */
export interface RealHostOptions {
  /** libvirt URI; default `lxc:///`. */
  connectionUri?: string;
  /** Directory of cached images, `<imagesDir>/<imageId>`. */
  imagesDir: string;
  /** Runs commands; default node:child_process (ProcessCommandRunner). Tests pass a scripted runner. */
  runner?: CommandRunner;
  /**
   * Start commands from the command helper (a small python3 process, see command-helper.ts)
   * instead of forking this process for each: for long-lived processes (the service, a
   * scenario suite), where it saves 0.5-1.5 ms per command; a one-shot CLI command would pay
   * more for python3's start (~10 ms) than it saves. Ignored when `runner` is given.
   */
  commandHelper?: boolean;
  /** Reads /proc, /sys and devices; default node:fs. */
  systemFiles?: SystemFiles;
  /** libvirt's LXC state directory; default /run/libvirt/lxc. */
  lxcStateDir?: string;
}

/** The Host of this machine: loop devices, mounts, libvirt LXC, files, images. */
export function createRealHost(options: RealHostOptions): Host {
  const runner =
    options.runner ??
    (options.commandHelper ? new HelperCommandRunner() : new ProcessCommandRunner());
  const system = options.systemFiles ?? new NodeSystemFiles();
  const clock = new SystemClock();
  const blockDevices = new LosetupBlockDevices(runner, system, clock);
  const files = new NodeHostFiles(system);
  return {
    blockDevices,
    nbd: new QemuNbd(runner, system),
    mounts: new LinuxMounts(runner, system),
    hypervisor: new VirshHypervisor(runner, system, {
      clock,
      ...(options.connectionUri ? { uri: options.connectionUri } : {}),
      ...(options.lxcStateDir ? { stateDir: options.lxcStateDir } : {}),
    }),
    files,
    volumes: new PortVolumeConnector(blockDevices, files),
    images: new FileImageStore(runner, system, options.imagesDir),
    journal: new FileJournal(),
    clock,
  };
}
