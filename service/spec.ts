/**
 * The service's request bodies, validated with zod: every mistake becomes one InvalidInput
 * DriverError naming the fields at fault (`flavor.memory_mb: expected a whole number ≥ 1`).
 * Requests come from a local socket but are still treated as hostile input.
 */
import * as z from 'zod';
import { DriverError } from '../driver/errors.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const ID_MAP = /^\d+:\d+:\d+$/;

/** Nova's UUID form: 32 hex digits in 8-4-4-4-12 groups (any version, any case). */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const text = (max: number) => z.string().min(1).max(max);
const devicePath = z
  .string()
  .max(4096)
  .regex(/^\/[^\0]*$/, 'expected an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..');
const mountDevice = z
  .string()
  .regex(/^\/dev\/[a-z]{2,4}[a-z]+$/, 'expected a device such as /dev/vdb');
const stringMap = z.record(z.string().max(255), z.string().max(65_536));

const volume = z.strictObject({
  volume_id: text(255).nullish(),
  device_path: devicePath,
  mount_device: mountDevice,
});

/** The flat spawn spec (PUT /v1/instances/{uuid}); see service/API.md. */
export const SpawnSpecSchema = z
  .strictObject({
    name: z.string().regex(NAME, 'expected a libvirt domain name ([A-Za-z0-9._-], up to 255)'),
    flavor: z.strictObject({
      name: text(255).nullish(),
      memory_mb: z
        .int()
        .min(1)
        .max(16 * 1024 * 1024),
      vcpus: z.int().min(1).max(4096),
      root_gb: z.int().min(0).max(1_000_000).default(0),
      extra_specs: stringMap.default({}),
    }),
    image: z
      .strictObject({
        id: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, 'expected a Glance image id')
          .nullish(),
        disk_format: text(32).nullish(),
        /** The cached file, as the Nova side fetched it: must be `<instances_path>/_base/<id>`. */
        path: devicePath.nullish(),
        properties: z.record(z.string().max(255), z.unknown()).default({}),
      })
      .nullish(),
    root_volume: volume.nullish(),
    volumes: z.array(volume).max(64).default([]),
    system_metadata: stringMap.default({}),
    /** The Nova side's resolved choice; its policy stands in for the service's --root-partition. */
    root_partition: z.strictObject({ policy: text(255), source: text(255).nullish() }).nullish(),
    id_maps: z
      .strictObject({
        uid: z.array(z.string().regex(ID_MAP, 'expected guest:host:count')).max(64).default([]),
        gid: z.array(z.string().regex(ID_MAP, 'expected guest:host:count')).max(64).default([]),
      })
      .nullish(),
  })
  .superRefine((spec, ctx) => {
    if (spec.image && !spec.root_volume && !spec.image.id) {
      ctx.addIssue({
        code: 'custom',
        path: ['image', 'id'],
        message: 'required to boot from an image (no root_volume)',
      });
    }
    if (!spec.image && !spec.root_volume) {
      ctx.addIssue({
        code: 'custom',
        path: ['image'],
        message: 'one of image (boot from image) or root_volume (boot from volume) is required',
      });
    }
    const devices = [spec.root_volume, ...spec.volumes]
      .filter((v) => v)
      .map((v) => v!.mount_device);
    const twice = devices.find((d, i) => devices.indexOf(d) !== i);
    if (twice) {
      ctx.addIssue({
        code: 'custom',
        path: ['volumes'],
        message: `mount_device ${twice} is used twice`,
      });
    }
  });

/** A validated spawn spec, defaults filled in. */
export type SpawnSpec = z.infer<typeof SpawnSpecSchema>;

/** POST /v1/instances/{uuid}/reboot. */
export const RebootSchema = z.strictObject({ type: z.enum(['hard', 'soft']).default('hard') });

/** POST /v1/instances/{uuid}/power-off: seconds, as Nova's power_off takes them. */
export const PowerOffSchema = z.strictObject({
  timeout: z.number().min(0).max(3600).default(0),
  retry_interval: z.number().min(0).max(3600).default(0),
});

/** An empty JSON object (power-on). */
export const EmptySchema = z.strictObject({});

/** Parses `value` or throws InvalidInput listing each field at fault. */
export function parseBody<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map(describeIssue);
  const fields = result.error.issues.map((i) => fieldName(i.path));
  throw new DriverError('InvalidInput', `Failed to read ${what}: ${problems.join('; ')}`, {
    hint: 'Fix the named fields; service/API.md documents the spec.',
    details: { fields },
  });
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? `${fieldName(issue.path)}: ` : '';
    return `${where}unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  }
  return `${fieldName(issue.path) || '(body)'}: ${issue.message}`;
}

function fieldName(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** Throws InvalidInput naming `uuid` unless it is Nova's UUID form. */
export function checkUuid(uuid: string): string {
  if (!UUID_PATTERN.test(uuid)) {
    throw new DriverError(
      'InvalidInput',
      `Failed to read uuid: expected Nova's UUID form (8-4-4-4-12 hex digits), got ${JSON.stringify(uuid.slice(0, 80))}`,
      { details: { fields: ['uuid'] } },
    );
  }
  return uuid.toLowerCase();
}
