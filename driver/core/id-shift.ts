import type { IdMap } from '../ports/host-files.js';

/** The id Nova's idmapshift gives files whose owner no map covers. */
export const NOBODY_ID = 65534;

/**
 * Maps a file owner id into the container's host range, as Nova's idmapshift does:
 * an id inside a map's guest range moves by that map's offset; any other id becomes nobody.
 */
export function shiftId(id: number, maps: readonly IdMap[], nobody = NOBODY_ID): number {
  for (const map of maps) {
    if (id >= map.start && id < map.start + map.count) {
      return map.target + (id - map.start);
    }
  }
  return nobody;
}
