/** Port of `nova.virt.configdrive.required_by`. */
import { forceConfigDrive, type BlockinfoContext } from './conf.js';
import { isDict, truthy } from './py.js';

/** The instance fields `required_by` reads. */
export interface ConfigDriveInstance {
  config_drive?: unknown;
  launched_at?: unknown;
  system_metadata?: unknown;
}

/**
 * Whether the instance needs a config drive: it asked for one, `[DEFAULT]force_config_drive`
 * is set and the instance was never launched, or its image says `img_config_drive=mandatory`.
 */
export function configDriveRequiredBy(
  instance: ConfigDriveInstance,
  ctx: BlockinfoContext = {},
): boolean {
  // instance.image_meta is rebuilt from system_metadata's image_* keys (ImageMeta.from_instance).
  const sysmeta = isDict(instance.system_metadata) ? instance.system_metadata : {};
  const imageProp = sysmeta['image_img_config_drive'] ?? 'optional';
  return (
    truthy(instance.config_drive) ||
    (forceConfigDrive(ctx) && !truthy(instance.launched_at)) ||
    imageProp === 'mandatory'
  );
}
