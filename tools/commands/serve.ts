import { Option, type Command } from 'commander';
import { DriverError } from '../../driver/errors.js';
import { createNovaLogger } from '../../service/log.js';
import { DEFAULTS, startService } from '../../service/index.js';

/** Options of `nova-lxc serve`, as commander parses them. */
export interface ServeFlags {
  backend: 'real' | 'sim';
  socket: string;
  socketMode: string;
  socketGroup?: string;
  stateDir: string;
  instancesPath: string;
  imagesType?: string;
  useCowImages: boolean;
  rootPartition?: string;
  uidMaps?: string;
  gidMaps?: string;
  connect?: string;
  softRebootTimeout: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** nova.conf's list form: `0:100000:65536, 1:…` → entries. */
function list(value: string | undefined): string[] | undefined {
  return value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}

/** Parses the socket mode (octal digits, as chmod takes them). */
export function parseMode(value: string): number {
  if (!/^0?[0-7]{3}$/.test(value)) {
    throw new DriverError(
      'InvalidInput',
      `Failed to read --socket-mode: expected octal digits such as 0660, got '${value}'`,
    );
  }
  return parseInt(value, 8);
}

/** Registers `nova-lxc serve`. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'Run the nova-lxc service: HTTP/1.1 + JSON under /v1 on a unix socket, for the Nova compute driver',
    )
    .addOption(
      new Option('--backend <backend>', 'real host, or an in-memory simulated host')
        .choices(['real', 'sim'])
        .default('real'),
    )
    .option(
      '--socket <path>',
      'unix socket to listen on (ignored under systemd socket activation)',
      DEFAULTS.socketPath,
    )
    .option('--socket-mode <octal>', 'permission bits of the socket', '0660')
    .option('--socket-group <group>', 'group owning the socket (e.g. nova)')
    .option('--state-dir <dir>', 'instance records (instances/) and journal', DEFAULTS.stateDir)
    .option('--instances-path <dir>', "Nova's [DEFAULT]instances_path", DEFAULTS.instancesPath)
    .option('--images-type <type>', '[libvirt]images_type: default, raw, flat or qcow2')
    .option('--no-use-cow-images', '[DEFAULT]use_cow_images=False')
    .option('--root-partition <policy>', 'host default root partition: first, N, label:NAME or dps')
    .option('--uid-maps <list>', '[libvirt]uid_maps, e.g. 0:100000:65536')
    .option('--gid-maps <list>', '[libvirt]gid_maps')
    .option('-c, --connect <uri>', 'libvirt connection URI (default lxc:///)')
    .option('--soft-reboot-timeout <seconds>', '[libvirt]wait_soft_reboot_seconds', '120')
    .addOption(
      new Option('--log-level <level>', 'lowest level logged')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .action(async (flags: ServeFlags) => {
      const softSeconds = Number(flags.softRebootTimeout);
      if (!Number.isFinite(softSeconds) || softSeconds < 0) {
        throw new DriverError(
          'InvalidInput',
          `Failed to read --soft-reboot-timeout: expected seconds, got '${flags.softRebootTimeout}'`,
        );
      }
      const uidMaps = list(flags.uidMaps);
      const gidMaps = list(flags.gidMaps);
      const service = await startService({
        backend: flags.backend,
        socketPath: flags.socket,
        mode: parseMode(flags.socketMode),
        ...(flags.socketGroup ? { group: flags.socketGroup } : {}),
        stateDir: flags.stateDir,
        ...(flags.connect ? { connectionUri: flags.connect } : {}),
        logger: createNovaLogger({ level: flags.logLevel }),
        driver: {
          instancesPath: flags.instancesPath,
          useCowImages: flags.useCowImages,
          softRebootTimeoutMs: softSeconds * 1000,
          ...(flags.imagesType ? { imagesType: flags.imagesType } : {}),
          ...(flags.rootPartition ? { rootPartition: flags.rootPartition } : {}),
          ...(uidMaps ? { uidMaps } : {}),
          ...(gidMaps ? { gidMaps } : {}),
        },
      });
      // Runs until systemd (or the operator) stops it; calls in progress finish first.
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          void service.close().then(resolve);
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
    });
}
