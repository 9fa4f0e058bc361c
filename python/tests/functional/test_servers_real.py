"""Servers through real Nova on nova-lxc with the service on the real host (root, loop
devices, libvirt LXC): a real container from a raw Glance image and from a loop-backed
volume (connection_info of type local), reboot --hard, stop, start, delete, and nothing left
behind. Run by `tools/test-nova.sh tests.functional.test_servers_real` after
tools/prepare-real-host.sh (CI does both); it fails, never skips, where it cannot run.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile

from nova.tests.fixtures import os_brick as os_brick_fixture

from tests.functional import base
from tests.functional import test_servers_sim as sim
from tests.service_fixture import REPO

#: tools/prepare-real-host.sh makes this a shared mount libvirtd sees (harness/real-harness.ts).
REAL_ROOT = os.environ.get('NOVA_LXC_REAL_ROOT', '/var/tmp/nova-lxc-real')
IMAGE_ID = 'c0ffee00-1d2e-4f00-9a00-0000000000c1'
VOLUME_ID = 'c0ffee00-1d2e-4f00-9a00-0000000000c2'
BLANK_VOLUME_ID = 'c0ffee00-1d2e-4f00-9a00-0000000000c3'
IMAGE_VOLUME_ID = 'c0ffee00-1d2e-4f00-9a00-0000000000c4'
LXC = ['virsh', '-c', os.environ.get('NOVA_LXC_CONNECTION_URI', 'lxc:///')]


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs).stdout


class RealServersTest(base.NovaLxcFunctionalBase):
    BACKEND = 'real'
    SERVICE_ARGS = ('--images-type', 'raw')

    def _make_instances_path(self):
        if os.geteuid() != 0:
            raise RuntimeError('the real-host Nova tests need root (loop devices, libvirt LXC)')
        if not os.path.isdir(REAL_ROOT):
            raise RuntimeError('%s is missing: run tools/prepare-real-host.sh first' % REAL_ROOT)
        self.scratch = tempfile.mkdtemp(prefix='nova-', dir=REAL_ROOT)
        os.chmod(self.scratch, 0o755)
        self.addCleanup(shutil.rmtree, self.scratch, True)
        path = os.path.join(self.scratch, 'instances')
        os.mkdir(path, 0o755)
        self.domains_before = set(run(LXC + ['list', '--all', '--name']).split())
        # Real Nova names domains instance-%08x from its DB id, 1 in every test: unique names
        # keep a leftover of one run (or another user's domain) from colliding with the next.
        self.flags(instance_name_template='nova-lxc-ft-%(uuid)s')
        # The fixture's init (busybox sleep as PID 1) ignores the clean-shutdown signal, so
        # stop would wait Nova's whole 60 s shutdown_timeout before forcing.
        self.flags(shutdown_timeout=2)
        return path

    def setUp(self):
        super(RealServersTest, self).setUp()
        self.useFixture(os_brick_fixture.OSBrickFixture())
        self.addCleanup(self.assert_nothing_left_on_the_host)
        self.addCleanup(self.release_what_the_service_holds)

    def release_what_the_service_holds(self):
        """After a failed test: destroy (through the service) what it still has."""
        for instance in self.service.client.list_instances():
            self.service.client.destroy(instance['uuid'], destroy_disks=True)

    def disk(self, spec, name):
        """A raw disk image file built from the DiskSpec (tools/nova-fixture-disk.ts)."""
        dest = os.path.join(self.scratch, name + '.img')
        run(['npx', 'tsx', os.path.join(REPO, 'tools', 'nova-fixture-disk.ts'), dest],
            input=json.dumps(spec), cwd=REPO)
        return dest

    def loop_volume(self, volume_id, spec):
        """A Cinder volume as this host sees it: a loop device over a built disk file."""
        path = self.disk(spec, 'volume-' + volume_id[-4:])
        device = run(['losetup', '--find', '--show', path]).strip()
        self.addCleanup(subprocess.run, ['losetup', '--detach', device], check=False)
        self.local_volume(volume_id, device)
        return device

    def assert_nothing_left_on_the_host(self):
        with open('/proc/self/mountinfo') as f:
            mounts = [line.split()[4] for line in f]
        self.assertEqual([], [m for m in mounts if m.startswith(self.scratch)])
        loops = json.loads(run(['losetup', '--json', '--list']) or '{"loopdevices": []}')
        leftover = [d for d in loops.get('loopdevices', [])
                    if str(d.get('back-file')).startswith(self.instances_path)]
        self.assertEqual([], leftover)
        domains = set(run(LXC + ['list', '--all', '--name']).split())
        self.assertEqual(set(), domains - self.domains_before)

    def assert_running_on(self, server, partition):
        view = super(RealServersTest, self).assert_running_on(server, partition)
        state = run(LXC + ['domstate', view['domain']['name']]).strip()
        self.assertEqual('running', state)
        return view

    def assert_nothing_left(self, server):
        self.assert_server_gone(server)
        self.assertFalse(os.path.exists(os.path.join(self.instances_path, server['id'])))

    def test_real_container_from_a_raw_image(self):
        with open(self.disk(sim.partitioned('real-image'), 'image'), 'rb') as f:
            data = f.read()
        self.add_image(IMAGE_ID, disk_format='raw', data=data)
        server = self.boot(image_uuid=IMAGE_ID)
        self.assertTrue(os.path.isfile(os.path.join(self.instances_path, '_base', IMAGE_ID)))
        self.lifecycle(server, 1)

    def test_real_container_from_a_loop_backed_volume(self):
        device = self.loop_volume(VOLUME_ID, sim.partitioned('real-volume', table='gpt'))
        server = self.boot(bdms=[{'uuid': VOLUME_ID, 'source_type': 'volume',
                                  'destination_type': 'volume', 'boot_index': 0}])
        view = self.assert_running_on(server, 1)
        self.assertEqual(device, view['root']['source'])
        self.lifecycle(server, 1)

    def test_real_container_from_image_to_volume(self):
        # Cinder would copy the image into the new volume; the test builds that volume.
        self.add_image(IMAGE_ID, disk_format='raw', data=b'')
        self.stub_volume_create(IMAGE_VOLUME_ID)
        device = self.loop_volume(IMAGE_VOLUME_ID, sim.partitioned('real-image-to-volume'))
        server = self.boot(bdms=[{'uuid': IMAGE_ID, 'source_type': 'image',
                                  'destination_type': 'volume', 'volume_size': 1,
                                  'boot_index': 0}])
        self.assertEqual(device, self.assert_running_on(server, 1)['root']['source'])
        self._delete_server(server)

    def test_a_real_volume_without_a_filesystem_gives_error(self):
        device = self.loop_volume(BLANK_VOLUME_ID, sim.BLANK_PARTITION)
        server = self.boot(bdms=[{'uuid': BLANK_VOLUME_ID, 'source_type': 'volume',
                                  'destination_type': 'volume', 'boot_index': 0}],
                           expected_state='ERROR')
        self.assertTrue(re.search(re.escape(device), server['fault']['message']),
                        server['fault']['message'])
        self.assertIn('partition 1', server['fault']['message'])
        self._delete_server(server)
