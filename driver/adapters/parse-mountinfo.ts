import { DriverError } from '../errors.js';
import type { MountEntry } from '../ports/mounts.js';

/** One line of /proc/PID/mountinfo, fields decoded. */
export interface MountinfoEntry extends MountEntry {
  id: number;
  parentId: number;
  /** `major:minor` of the filesystem's device. */
  device: string;
  /** The directory of the filesystem that is mounted here (`/` for a whole filesystem). */
  root: string;
  /** Optional fields such as `shared:2`, `master:1`. */
  propagation: string[];
  superOptions: string[];
}

/** Decodes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash). */
export function decodeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}

function malformed(lineNumber: number, line: string, why: string): DriverError {
  return new DriverError(
    'Internal',
    `Failed to parse mountinfo line ${lineNumber}: ${why}: ${JSON.stringify(line)}`,
  );
}

/** Parses /proc/PID/mountinfo text; a malformed line is rejected, never skipped. */
export function parseMountinfo(text: string): MountinfoEntry[] {
  const entries: MountinfoEntry[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator < 0) throw malformed(index + 1, line, "no ' - ' separator");
    if (fields.length !== separator + 4) {
      throw malformed(index + 1, line, 'expected fstype, source and super options after " - "');
    }
    const [id, parentId, device, root, target, options] = fields;
    if (!/^\d+$/.test(id ?? '') || !/^\d+$/.test(parentId ?? '')) {
      throw malformed(index + 1, line, 'mount ids are not numbers');
    }
    if (!/^\d+:\d+$/.test(device ?? '')) throw malformed(index + 1, line, 'bad major:minor');
    if (!root?.startsWith('/') || !target?.startsWith('/') || !options) {
      throw malformed(index + 1, line, 'root and mount point must be absolute');
    }
    entries.push({
      id: Number(id),
      parentId: Number(parentId),
      device: device as string,
      root: decodeMountField(root),
      target: decodeMountField(target),
      options: options.split(','),
      propagation: fields.slice(6, separator),
      fstype: decodeMountField(fields[separator + 1] as string),
      source: decodeMountField(fields[separator + 2] as string),
      superOptions: (fields[separator + 3] as string).split(','),
    });
  });
  return entries;
}

/** The port's view of an entry (what a caller may compare across backends). */
export function toMountEntry(entry: MountinfoEntry): MountEntry {
  return {
    source: entry.source,
    target: entry.target,
    fstype: entry.fstype,
    options: entry.options,
  };
}
