import * as z from 'zod';
import type { DiskSpec } from '../harness/disk-spec.js';
import { buildDisk } from '../harness/sim-disks/seed.js';
import type { SimulatedHost } from '../simulator/index.js';
import { DriverError } from '../driver/errors.js';
import type { Route } from './http.js';
import { parseBody } from './spec.js';

const FileSchema = z.union([
  z.string(),
  z.strictObject({ content: z.string(), mode: z.int().min(0).max(0o7777).optional() }),
]);
const InitSchema = z.strictObject({
  writes: z
    .array(z.strictObject({ path: z.string().startsWith('/'), content: z.string() }))
    .optional(),
  then: z.union([z.literal('run'), z.strictObject({ exit: z.int().min(0).max(255) })]),
});
const FilesystemSchema = z.strictObject({
  type: z.enum(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat', 'swap', 'luks', 'lvm2']),
  label: z.string().max(64).optional(),
  files: z.record(z.string().startsWith('/'), FileSchema).optional(),
  init: InitSchema.optional(),
});
const Size = z.union([
  z.int().positive(),
  z.string().regex(/^\d+[KMGT]?$/i, 'expected bytes or 64M-style'),
]);
const DiskSpecSchema = z.strictObject({
  size: Size,
  sectorSize: z.union([z.literal(512), z.literal(4096)]).optional(),
  table: z.enum(['none', 'mbr', 'gpt']),
  filesystem: FilesystemSchema.optional(),
  partitions: z
    .array(
      z.strictObject({
        number: z.int().min(1).max(128),
        start: z.int().min(1),
        size: z.int().min(1),
        type: z.string().max(64).optional(),
        name: z.string().max(36).optional(),
        filesystem: FilesystemSchema.optional(),
      }),
    )
    .max(128)
    .optional(),
  damagePrimaryGpt: z.boolean().optional(),
});
const AbsolutePath = z
  .string()
  .regex(/^\/[^\0]*$/, 'expected an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..');

const DiskBody = z.strictObject({
  path: AbsolutePath,
  kind: z.enum(['file', 'block']).default('file'),
  spec: DiskSpecSchema,
});
const ImageBody = z.strictObject({
  spec: DiskSpecSchema,
  format: z.enum(['raw', 'qcow2']).default('raw'),
});

/**
 * Fixture endpoints of the sim backend only: tests (the Python functional tests among them)
 * declare what the simulated host's disks and cached images hold, and read its whole state.
 */
export function simRoutes(sim: SimulatedHost, imageCache: string): Route[] {
  return [
    {
      method: 'PUT',
      pattern: /^\/v1\/sim\/disks$/,
      handle: async (r) => {
        const body = parseBody(DiskBody, await r.body(), 'the simulated disk');
        if (sim.state.disks.has(body.path) || sim.state.host.existsSync(body.path)) {
          throw new DriverError(
            'AlreadyExists',
            `Failed to add simulated disk: ${body.path} exists`,
          );
        }
        buildDisk(sim.state, body.path, body.spec as DiskSpec, body.kind);
        return { status: 201, body: { path: body.path, kind: body.kind } };
      },
    },
    {
      method: 'PUT',
      pattern: /^\/v1\/sim\/images\/([A-Za-z0-9][A-Za-z0-9._-]{0,254})$/,
      handle: async (r) => {
        const id = r.params[0]!;
        const body = parseBody(ImageBody, await r.body(), 'the simulated image');
        const path = `${imageCache}/${id}`;
        if (sim.state.images.has(id)) {
          throw new DriverError('AlreadyExists', `Failed to add simulated image: ${id} is cached`);
        }
        buildDisk(sim.state, path, body.spec as DiskSpec);
        sim.addImage(id, path, body.format);
        return { status: 201, body: { id, path, format: body.format } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/sim\/reboot$/,
      handle: async (r) => {
        parseBody(z.strictObject({}), (await r.body()) ?? {}, 'the sim reboot request');
        // The kernel's state goes; records, files and persistent definitions stay.
        sim.reboot();
        return { status: 200, body: { rebooted: true } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/sim\/state$/,
      handle: async () => ({ status: 200, body: sim.dump() }),
    },
  ];
}
