import { describe } from 'vitest';
import { BACKEND, makeHarness } from '../../harness/backend.js';
import { describeBlockDevicesContract } from './block-devices.contract.js';
import { describeClockContract } from './clock.contract.js';
import { describeHostFilesContract } from './host-files.contract.js';
import { describeHypervisorContract } from './hypervisor.contract.js';
import { describeImageStoreContract } from './image-store.contract.js';
import { describeJournalContract } from './journal.contract.js';
import { describeMountsContract } from './mounts.contract.js';
import { describeNbdContract } from './nbd.contract.js';
import { describeVolumeConnectorContract } from './volume-connector.contract.js';

describe(`port contracts on the ${BACKEND} backend`, () => {
  describeBlockDevicesContract(makeHarness);
  describeMountsContract(makeHarness);
  describeHypervisorContract(makeHarness);
  describeHostFilesContract(makeHarness);
  describeVolumeConnectorContract(makeHarness);
  describeImageStoreContract(makeHarness);
  describeNbdContract(makeHarness);
  describeClockContract(makeHarness);
  describeJournalContract(makeHarness);
});
