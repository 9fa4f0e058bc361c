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

function overlaps(maps: readonly IdMap[]): boolean {
  return maps.some((guest) =>
    maps.some(
      (host) => guest.start < host.target + host.count && host.target < guest.start + guest.count,
    ),
  );
}

/**
 * How one tree is shifted so that doing it again changes nothing: Nova shifts on every boot,
 * and a second shift moved owners on (0 → 100000 → 65534 → 165534) and changed the customer's
 * volume for good.
 */
export interface IdShiftPlan {
  /** The owner a shifted tree's root has: the guest's root through the maps. */
  readonly root: { uid: number; gid: number };
  /** Whether a tree whose root has these owners is already shifted (and must be left alone). */
  isShifted(uid: number, gid: number): boolean;
  /** The new owner of one entry; ids already in a host range stay (a shift cut short by a crash). */
  uid(id: number): number;
  gid(id: number): number;
}

/** The plan for one pair of uid and gid maps. */
export function idShiftPlan(uidMaps: readonly IdMap[], gidMaps: readonly IdMap[]): IdShiftPlan {
  // When a guest range overlaps a host range an id is ambiguous; then only the root says.
  const keep = (maps: readonly IdMap[]) => (id: number) =>
    !overlaps(maps) && maps.some((m) => id >= m.target && id < m.target + m.count);
  const keepUid = keep(uidMaps);
  const keepGid = keep(gidMaps);
  const root = { uid: shiftId(0, uidMaps), gid: shiftId(0, gidMaps) };
  return {
    root,
    isShifted: (uid, gid) => uid === root.uid && gid === root.gid && uid !== 0,
    uid: (id) => (keepUid(id) ? id : shiftId(id, uidMaps)),
    gid: (id) => (keepGid(id) ? id : shiftId(id, gidMaps)),
  };
}
