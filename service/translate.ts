import { DriverError } from '../driver/errors.js';
import { normalizeImageMeta } from '../driver/nova/model.js';
import type { SpawnSpec } from './spec.js';

/** Glance disk formats the driver can boot; others need conversion nova-lxc does not do. */
const BOOTABLE_FORMATS = new Set(['raw', 'qcow2']);

/** The driver's Nova-shaped inputs for one instance. */
export interface NovaInputs {
  instance: Record<string, unknown>;
  imageMeta: Record<string, unknown>;
  blockDeviceInfo: Record<string, unknown>;
}

/**
 * Translates the flat spawn spec into what Nova's compute manager hands a virt driver: an
 * instance dict, image_meta, and block_device_info with the root volume at boot_index 0. The
 * volumes are already connected by the caller (os-brick), so each is a `local` connection of
 * its device path. `systemMetadata` is the record's copy, which the driver writes into.
 */
export function toNovaInputs(
  uuid: string,
  spec: SpawnSpec,
  systemMetadata: Record<string, string>,
  imageCache?: string,
): NovaInputs {
  if (spec.image && !spec.root_volume) {
    const expected = imageCache === undefined ? undefined : `${imageCache}/${spec.image.id}`;
    if (spec.image.path && expected !== undefined && spec.image.path !== expected) {
      throw new DriverError(
        'InvalidInput',
        `Failed to spawn instance ${uuid}: image.path ${spec.image.path} is not in the service's image cache (${expected})`,
        {
          hint: "Start the service with --instances-path set to nova.conf's [DEFAULT]instances_path.",
          details: { fields: ['image.path'] },
        },
      );
    }
    const format = spec.image.disk_format;
    if (format && !BOOTABLE_FORMATS.has(format)) {
      throw new DriverError(
        'Unsupported',
        `Failed to spawn instance ${uuid}: image.disk_format '${format}' is not supported`,
        { hint: 'Upload the image as raw or qcow2.', details: { fields: ['image.disk_format'] } },
      );
    }
  }
  const imageMeta = {
    ...(spec.image?.id ? { id: spec.image.id } : {}),
    ...(spec.image?.disk_format ? { disk_format: spec.image.disk_format } : {}),
    properties: spec.image?.properties ?? {},
  };
  // Validates the properties blockinfo reads, naming them as the spec does (image.properties.…).
  normalizeImageMeta(imageMeta, 'image');
  const volumes = [
    ...(spec.root_volume ? [{ ...spec.root_volume, root: true }] : []),
    ...spec.volumes.map((v) => ({ ...v, root: false })),
  ];
  const rootDevice = spec.root_volume?.mount_device ?? null;
  return {
    instance: {
      uuid,
      name: spec.name,
      flavor: {
        name: spec.flavor.name ?? null,
        memory_mb: spec.flavor.memory_mb,
        vcpus: spec.flavor.vcpus,
        root_gb: spec.flavor.root_gb,
        ephemeral_gb: 0,
        swap: 0,
        extra_specs: spec.flavor.extra_specs,
      },
      image_ref: spec.root_volume ? '' : (spec.image?.id ?? ''),
      root_device_name: rootDevice,
      ephemeral_gb: 0,
      config_drive: null,
      system_metadata: systemMetadata,
    },
    imageMeta,
    blockDeviceInfo: {
      root_device_name: rootDevice,
      image: [],
      ephemerals: [],
      swap: null,
      block_device_mapping: volumes.map((v) => ({
        boot_index: v.root ? 0 : null,
        mount_device: v.mount_device,
        device_type: 'disk',
        disk_bus: null,
        delete_on_termination: false,
        connection_info: {
          driver_volume_type: 'local',
          data: { device_path: v.device_path, ...(v.volume_id ? { volume_id: v.volume_id } : {}) },
        },
      })),
    },
  };
}
