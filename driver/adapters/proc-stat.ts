/**
 * Fields of /proc/<pid>/stat. The command name (field 2) is in parentheses and may hold spaces
 * or ')', so the fields are counted from the last ')'.
 */
function fieldsAfterName(stat: string | null): string[] {
  if (stat === null) return [];
  const end = stat.lastIndexOf(')');
  return end < 0
    ? []
    : stat
        .slice(end + 2)
        .trim()
        .split(/\s+/);
}

/** Field 3, the process state letter (R, S, D, Z, ...), or null. */
export function procStateOf(stat: string | null): string | null {
  return fieldsAfterName(stat)[0] ?? null;
}

/** Field 22, the start time in clock ticks since boot: with the pid, which process this is. */
export function procStartTimeOf(stat: string | null): string | null {
  return fieldsAfterName(stat)[22 - 3] ?? null;
}
