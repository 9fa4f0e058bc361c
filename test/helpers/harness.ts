import type { Host } from '../../driver/ports/index.js';
import type { DiskSpec } from '../../scenarios/fixtures/disk-spec.js';

/** What a backend can and cannot do; a missing capability carries the reason a case is skipped. */
export interface Capabilities {
  /** true, or the reason nbd cannot work here (e.g. "no nbd kernel module"). */
  nbd: true | string;
  /** true, or why qcow2 images cannot be made here (e.g. "qemu-img not installed"). */
  qcow2: true | string;
}

/**
 * One backend prepared for a test: its Host plus fixture builders. Contract suites, driver
 * suites and scenarios take a factory of these and never branch on which backend it is.
 */
export interface BackendHarness {
  /** 'sim' or 'real', for messages only; assertions must not depend on it. */
  name: string;
  host: Host;
  /** Root under which instances are made (the driver's instances_path). */
  instancesPath: string;
  capabilities: Capabilities;
  /** Builds a raw disk image file from the declaration and returns its absolute path. */
  makeDiskFile(spec: DiskSpec, name?: string): Promise<string>;
  /** Converts a raw image file to qcow2 next to it and returns the new path. */
  makeQcow2(rawPath: string): Promise<string>;
  /** Registers an image file in the host's image store under `imageId`. */
  addImage(imageId: string, path: string, format: 'raw' | 'qcow2'): Promise<void>;
  /** A fresh empty directory. */
  makeDir(name?: string): Promise<string>;
  /** Reads a file inside a filesystem of a disk file, without leaving anything mounted. */
  readFileOnDisk(
    diskPath: string,
    partition: number | null,
    filePath: string,
  ): Promise<string | null>;
  /** Releases everything the harness made and fails if a port left a device, mount or domain. */
  cleanup(): Promise<void>;
}

/** Creates a fresh harness for the backend named by NOVA_LXC_BACKEND. */
export type HarnessFactory = () => Promise<BackendHarness>;
