/**
 * A scenario's fixtures: its instances path, volumes and images, built through the harness
 * before the first step, each registered with the placeholder traces show it as.
 */
import type { BdmV2 } from '../driver/nova/novaclient-block-device.js';
import { SkipRun, type RunState } from './run-state.js';

/** Builds the volumes and images the scenario declares, and the driver that uses them. */
export async function prepareFixtures(state: RunState): Promise<void> {
  const { harness, scenario, replacements } = state;
  const bare = harness.bare;
  const sub = scenario.host.instancesSubdir;
  state.instancesPath = sub
    ? `${harness.instancesPath.replace(/\/+$/, '')}/${sub}`
    : harness.instancesPath;
  await bare.files.ensureDir(state.instancesPath);
  replacements.set(state.instancesPath, '<instances>');
  // The driver's journal: the run's own, never the host's default /var/lib/nova-lxc.
  state.runStateDir = await harness.makeDir('state');
  replacements.set(state.runStateDir, '<state>');
  if (scenario.host.instancesPathSymlink) {
    // nova.conf names a symlink; the driver resolves it, the checks look at the real folder.
    state.driverInstancesPath = await harness.makeSymlink(state.instancesPath, 'instances-link');
    replacements.set(state.driverInstancesPath, '<instances-link>');
  }
  for (const [name, volume] of Object.entries(scenario.volumes)) {
    const path = await harness.makeDiskFile(volume.disk, `vol-${name}`);
    state.volumes.set(name, path);
    replacements.set(path, `<volume:${name}>`);
    if (volume.localDevice) {
      const loop = await bare.blockDevices.attachLoop(path, {
        sectorSize: volume.localDevice.sectorSize,
      });
      state.outOfBandLoops.add(loop.device);
      state.localDevices.set(name, loop.device);
    }
  }
  for (const [name, image] of Object.entries(scenario.images)) {
    let path = await harness.makeDiskFile(image.disk, `img-${name}`);
    replacements.set(path, `<image-source:${name}>`);
    if (image.format === 'qcow2') {
      if (harness.capabilities.qcow2 !== true) {
        throw new SkipRun(`the backend cannot make qcow2 images: ${harness.capabilities.qcow2}`);
      }
      path = await harness.makeQcow2(path);
      replacements.set(path, `<image-source:${name}>`);
    }
    await harness.addImage(name, path, image.format);
    const cached = await bare.images.lookup(name);
    state.images.set(name, cached.path);
    replacements.set(cached.path, `<image:${name}>`);
  }
  state.driver = state.newDriver(state.host);
}

/** The volume file a BDM names; source=image,dest=volume makes `<instance>-root` from the image. */
export async function volumeFor(state: RunState, instance: string, bdm: BdmV2): Promise<string> {
  const id = bdm.uuid ?? '';
  if (bdm.source_type === 'volume') return state.volumes.get(id)!;
  const name = `${instance}-root`;
  // Cinder's image-to-volume: a new volume with the image's bytes, built from its declaration.
  const path = await state.harness.makeDiskFile(state.scenario.images[id]!.disk, `vol-${name}`);
  state.volumes.set(name, path);
  state.replacements.set(path, `<volume:${name}>`);
  return path;
}

/** Properties the root disk carries: the image's, or the volume's volume_image_metadata. */
export function propertiesOf(state: RunState, bdm: BdmV2): Record<string, string> {
  const id = bdm.uuid ?? '';
  return bdm.source_type === 'image'
    ? (state.scenario.images[id]?.properties ?? {})
    : (state.scenario.volumes[id]?.properties ?? {});
}
