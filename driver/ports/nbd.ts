/** One qemu-nbd connection. */
export interface NbdConnection {
  /** `/dev/nbdN`. */
  device: string;
  /** Absolute path of the image file served. */
  file: string;
  format: 'qcow2' | 'raw';
}

/**
 * Network block devices served by qemu-nbd, for qcow2 instance disks.
 * A host without the nbd kernel module fails every call at once with Unsupported:
 * never a retry loop (Nova waits 30 s for a device that cannot appear).
 */
export interface Nbd {
  /**
   * Connects `file` to a free /dev/nbdN. Fails with Unsupported (no nbd module),
   * ResourceExhausted (no free device) or NotFound (no such file). Not idempotent.
   */
  connect(file: string, format: 'qcow2' | 'raw'): Promise<NbdConnection>;

  /**
   * Disconnects `device`. NotFound when it serves nothing, so not idempotent: a second call
   * fails with NotFound.
   */
  disconnect(device: string): Promise<void>;

  /**
   * Every connected nbd device, everyone's. Empty (not an error) on a host without nbd. Reads
   * only; safe to repeat. A server whose command line cannot be read shows with file ''.
   */
  list(): Promise<NbdConnection[]>;

  /** Whether this host can serve nbd at all, with the reason when it cannot. */
  available(): Promise<{ ok: boolean; reason?: string }>;
}
