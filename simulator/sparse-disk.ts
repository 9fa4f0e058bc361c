/**
 * A disk's bytes in memory, stored in fixed chunks so that a 16 TiB volume costs memory
 * only for what was written. Offsets are plain numbers: exact up to 2^53 bytes.
 */
import { DriverError } from '../driver/errors.js';
import type { ByteReader } from '../driver/core/partition-table.js';

/** Bytes per stored chunk: large enough for few Map entries, small enough to stay sparse. */
export const SPARSE_CHUNK_SIZE = 64 * 1024;

/** A run of stored chunks, as summarised in dumps. */
export interface SparseExtent {
  offset: number;
  length: number;
}

/** One stored chunk for export; bytes never written are absent (holes). */
export interface SparseChunk {
  offset: number;
  data: Uint8Array;
}

function checkRange(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new DriverError(
      'InvalidInput',
      `Failed to access the sparse disk: ${what} ${value} is not a byte count`,
    );
  }
}

/** In-memory disk content: reads of unwritten ranges return zeros. */
export class SparseDisk {
  readonly size: number;
  readonly sectorSize: number;
  private readonly store = new Map<number, Uint8Array>();

  constructor(size: number, sectorSize = 512) {
    checkRange(size, 'size');
    if (sectorSize !== 512 && sectorSize !== 4096) {
      throw new DriverError(
        'InvalidInput',
        `Failed to create a sparse disk: sector size ${sectorSize} is not 512 or 4096`,
      );
    }
    this.size = size;
    this.sectorSize = sectorSize;
  }

  /** Bytes of memory held by stored chunks. */
  get bytesStored(): number {
    return this.store.size * SPARSE_CHUNK_SIZE;
  }

  /** Up to `length` bytes at `offset`; zeros where never written, short only at the end. */
  read(offset: number, length: number): Uint8Array {
    checkRange(offset, 'offset');
    checkRange(length, 'length');
    const end = Math.min(this.size, offset + length);
    if (end <= offset) return new Uint8Array(0);
    const out = new Uint8Array(end - offset);
    let pos = offset;
    while (pos < end) {
      const index = Math.floor(pos / SPARSE_CHUNK_SIZE);
      const within = pos - index * SPARSE_CHUNK_SIZE;
      const count = Math.min(SPARSE_CHUNK_SIZE - within, end - pos);
      const chunk = this.store.get(index);
      if (chunk) out.set(chunk.subarray(within, within + count), pos - offset);
      pos += count;
    }
    return out;
  }

  /** Writes `data` at `offset`; throws InvalidInput when it would run past the end. */
  write(offset: number, data: Uint8Array): void {
    checkRange(offset, 'offset');
    if (offset + data.length > this.size) {
      throw new DriverError(
        'InvalidInput',
        `Failed to write ${data.length} bytes at offset ${offset}: the disk ends at ${this.size}`,
      );
    }
    let pos = 0;
    while (pos < data.length) {
      const absolute = offset + pos;
      const index = Math.floor(absolute / SPARSE_CHUNK_SIZE);
      const within = absolute - index * SPARSE_CHUNK_SIZE;
      const count = Math.min(SPARSE_CHUNK_SIZE - within, data.length - pos);
      const piece = data.subarray(pos, pos + count);
      let chunk = this.store.get(index);
      // Zeros over a hole stay a hole, so zero-filling a region costs nothing.
      if (!chunk && piece.some((b) => b !== 0)) {
        chunk = new Uint8Array(SPARSE_CHUNK_SIZE);
        this.store.set(index, chunk);
      }
      chunk?.set(piece, within);
      pos += count;
    }
  }

  /** An independent copy (copy-on-write is not worth it at fixture sizes). */
  clone(): SparseDisk {
    const copy = new SparseDisk(this.size, this.sectorSize);
    for (const [index, chunk] of this.store) copy.store.set(index, chunk.slice());
    return copy;
  }

  /** Stored chunks in offset order, clipped at the disk's end. */
  *chunks(): IterableIterator<SparseChunk> {
    for (const index of [...this.store.keys()].sort((a, b) => a - b)) {
      const offset = index * SPARSE_CHUNK_SIZE;
      const chunk = this.store.get(index)!;
      yield { offset, data: chunk.subarray(0, Math.min(SPARSE_CHUNK_SIZE, this.size - offset)) };
    }
  }

  /** Hands every stored chunk to `writeChunk` in offset order (e.g. into a sparse file). */
  async exportTo(
    writeChunk: (offset: number, data: Uint8Array) => void | Promise<void>,
  ): Promise<void> {
    for (const { offset, data } of this.chunks()) await writeChunk(offset, data);
  }

  /** Stored ranges merged into extents, for dumps. */
  extents(): SparseExtent[] {
    const extents: SparseExtent[] = [];
    for (const { offset, data } of this.chunks()) {
      const last = extents.at(-1);
      if (last && last.offset + last.length === offset) last.length += data.length;
      else extents.push({ offset, length: data.length });
    }
    return extents;
  }

  /** This disk as the driver core's ByteReader (with its sector size as the hint). */
  asByteReader(): ByteReader {
    return {
      size: this.size,
      sectorSizeHint: this.sectorSize,
      read: (offset, length) => Promise.resolve(this.read(offset, length)),
    };
  }

  /** A summary for state dumps: geometry and written extents, never the bytes. */
  toJSON(): Record<string, unknown> {
    return {
      size: this.size,
      sectorSize: this.sectorSize,
      bytesStored: this.bytesStored,
      extents: this.extents(),
    };
  }
}
