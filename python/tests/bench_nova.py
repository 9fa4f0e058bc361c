"""Timing a whole server create+delete through real Nova on nova-lxc (the simulator).

Run by `tools/test-nova.sh --bench` (which `npm run bench` calls, tools/bench/nova.bench.ts):
one _IntegratedTestBase case boots and deletes NOVA_LXC_BENCH_RUNS servers from an image
and writes the milliseconds as JSON to NOVA_LXC_BENCH_OUT. Not a test: no assertion on time.
"""

import json
import os
import sys
import time
import unittest

from tests.functional import test_servers_sim as sim


class ServerCycleBench(sim.SimServersTest):
    def test_create_delete(self):
        runs = int(os.environ.get('NOVA_LXC_BENCH_RUNS', '5'))
        self.sim_image(sim.IMAGE_ID, sim.partitioned('bench'))
        create, delete = [], []
        for _ in range(runs):
            start = time.perf_counter()
            server = self.boot(image_uuid=sim.IMAGE_ID)
            created = time.perf_counter()
            self._delete_server(server)
            done = time.perf_counter()
            create.append((created - start) * 1000)
            delete.append((done - created) * 1000)
        with open(os.environ['NOVA_LXC_BENCH_OUT'], 'w') as f:
            json.dump({'create_ms': create, 'delete_ms': delete,
                       'setup_ms': ServerCycleBench.setup_ms}, f)

    def setUp(self):
        start = time.perf_counter()
        super(ServerCycleBench, self).setUp()
        ServerCycleBench.setup_ms = (time.perf_counter() - start) * 1000


if __name__ == '__main__':
    suite = unittest.defaultTestLoader.loadTestsFromName(
        'test_create_delete', ServerCycleBench)
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
