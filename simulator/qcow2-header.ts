/**
 * The bytes at the start of a qcow2 file, as qemu-img 7.2 writes them (version 3, 64 KiB
 * clusters, header length 112, a backing format extension when there is a backing file):
 * what a raw read of a simulated qcow2 file shows, so the real format inspector runs on it.
 * @see https://gitlab.com/qemu-project/qemu/-/blob/master/docs/interop/qcow2.txt
 */
export interface Qcow2HeaderOptions {
  virtualSize: number;
  backingFile?: string;
  backingFormat?: string;
  /** Incompatible feature bits (bit 2: external data file). */
  incompatible?: bigint;
  /** The external data file name extension. */
  dataFile?: string;
  version?: 2 | 3;
}

const CLUSTER_BITS = 16;
const HEADER_LENGTH = 112;

/** Builds the first cluster's meaningful bytes (header, extensions, backing file name). */
export function qcow2Header(options: Qcow2HeaderOptions): Uint8Array {
  const out = new Uint8Array(4096);
  const dv = new DataView(out.buffer);
  const version = options.version ?? 3;
  dv.setUint32(0, 0x514649fb);
  dv.setUint32(4, version);
  dv.setUint32(20, CLUSTER_BITS);
  dv.setBigUint64(24, BigInt(options.virtualSize));
  const text = new TextEncoder();
  let at = version === 3 ? HEADER_LENGTH : 72;
  if (version === 3) {
    dv.setBigUint64(72, options.incompatible ?? 0n);
    dv.setUint32(96, 4); // refcount order
    dv.setUint32(100, HEADER_LENGTH);
  }
  const extension = (type: number, data: Uint8Array): void => {
    dv.setUint32(at, type);
    dv.setUint32(at + 4, data.length);
    out.set(data, at + 8);
    at += 8 + Math.ceil(data.length / 8) * 8;
  };
  if (options.backingFormat !== undefined) {
    extension(0xe2792aca, text.encode(options.backingFormat));
  }
  if (options.dataFile !== undefined) extension(0x44415441, text.encode(options.dataFile));
  at += 8; // end-of-extensions marker (zeros)
  if (options.backingFile !== undefined) {
    const name = text.encode(options.backingFile);
    dv.setBigUint64(8, BigInt(at));
    dv.setUint32(16, name.length);
    out.set(name, at);
  }
  return out;
}
