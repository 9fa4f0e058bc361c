/** What the kernel appends to a held path once its file was unlinked. */
const DELETED = ' (deleted)';

/** How the kernel shows a path it holds (a loop device's backing file) once it was unlinked. */
export function deletedName(path: string): string {
  return `${path}${DELETED}`;
}

/**
 * Whether the kernel's spelling of a path (a loop device's backing file, a mount's target) is
 * `dir` or inside it. A file unlinked since shows as `PATH (deleted)`: it is still where it
 * was. Plain string comparison of canonical absolute paths, so `/a/bc` is not inside `/a/b`.
 */
export function isUnder(path: string, dir: string): boolean {
  const file = path.endsWith(DELETED) ? path.slice(0, -DELETED.length) : path;
  return file === dir || file.startsWith(`${dir}/`);
}
