/**
 * A process that holds a state directory through the real Journal adapter, prints HELD, and
 * runs until it is killed (test/helpers/other-process.ts):
 *   node --import tsx test/helpers/hold-state-dir.ts DIR ROLE NAME
 */
import { FileJournal } from '../../driver/adapters/file-journal.js';
import type { HolderRole } from '../../driver/ports/journal.js';

const [dir, role, name] = process.argv.slice(2) as [string, HolderRole, string];
await new FileJournal().hold(dir, role, name);
process.stdout.write('HELD\n');
setInterval(() => undefined, 1 << 30);
