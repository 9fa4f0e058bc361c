"""Servers through real Nova on nova-lxc, with the service on the simulator.

The test declares, as DiskSpec, what the Glance and Cinder fixtures' images and volumes hold
(PUT /v1/sim/images/{id}, PUT /v1/sim/disks), so each container really boots from a
filesystem on a partition of the simulated host; the service's view and the simulator's
state prove which partition was chosen and that a deleted server left nothing behind.
"""

from nova.tests.fixtures import os_brick as os_brick_fixture

from tests.functional import base

IMAGE_ID = '155d900f-4e14-4e4c-a73d-069cbf4541e6'  # the Glance fixture's image1 (raw)
VOLUME_ID = '6ca404f3-d844-4169-bb96-bc792f37de98'  # the Cinder fixture's IMAGE_BACKED_VOL
IMAGE_VOLUME_ID = 'c0ffee00-1d2e-4f00-9a00-0000000000b1'
BLANK_VOLUME_ID = 'c0ffee00-1d2e-4f00-9a00-0000000000b2'
PART2_IMAGE_ID = 'c0ffee00-1d2e-4f00-9a00-0000000000a2'


def rootfs(marker):
    return {'type': 'ext4', 'label': 'root',
            'files': {'/etc/os-release': 'ID=%s\n' % marker},
            'init': {'writes': [{'path': '/run/booted', 'content': marker}], 'then': 'run'}}


def partitioned(marker, table='mbr'):
    """64 MiB: partition 1 holds the root filesystem."""
    return {'size': '64M', 'table': table, 'partitions': [
        {'number': 1, 'start': 2048, 'size': 120832, 'filesystem': rootfs(marker)}]}


def two_partitions(marker):
    """Partition 1 is swap, partition 2 the root filesystem."""
    return {'size': '64M', 'table': 'gpt', 'partitions': [
        {'number': 1, 'start': 2048, 'size': 16384, 'type': 'swap',
         'filesystem': {'type': 'swap'}},
        {'number': 2, 'start': 18432, 'size': 100000, 'filesystem': rootfs(marker)}]}


BLANK_PARTITION = {'size': '64M', 'table': 'mbr', 'partitions': [
    {'number': 1, 'start': 2048, 'size': 120832}]}


class SimServersTest(base.NovaLxcFunctionalBase):
    BACKEND = 'sim'
    SERVICE_ARGS = ('--images-type', 'raw')

    def setUp(self):
        super(SimServersTest, self).setUp()
        self.useFixture(os_brick_fixture.OSBrickFixture())

    def sim_image(self, image_id, spec):
        self.service.client.call('PUT', '/sim/images/%s' % image_id,
                                 {'spec': spec, 'format': 'raw'})

    def sim_volume(self, volume_id, spec):
        path = '/dev/disk/by-id/nova-lxc-sim-%s' % volume_id
        self.service.client.call('PUT', '/sim/disks',
                                 {'path': path, 'kind': 'block', 'spec': spec})
        self.local_volume(volume_id, path)
        return path

    def sim_state(self):
        return self.service.client.call('GET', '/sim/state')

    def assert_running_on(self, server, partition):
        view = super(SimServersTest, self).assert_running_on(server, partition)
        self.assertEqual(1, view['power_state'])
        return view

    def assert_nothing_left(self, server):
        self.assert_server_gone(server)
        state = self.sim_state()
        self.assertEqual([], state['loops'])
        self.assertEqual([], state['nbd'])
        self.assertEqual([], state['domains'])
        self.assertEqual([], [m for m in state['hostMounts']
                              if self.instances_path in str(m.get('target'))])
        self.assertEqual([], [d['path'] for d in state['disks'] if server['id'] in d['path']])

    # -- boot from image -----------------------------------------------------------------

    def test_server_from_image_boots_partition_1(self):
        self.sim_image(IMAGE_ID, partitioned('from-image'))
        server = self.boot(image_uuid=IMAGE_ID)
        self.assertEqual('compute', server['OS-EXT-SRV-ATTR:host'])
        self.lifecycle(server, 1)

    def test_image_property_chooses_the_root_partition(self):
        self.add_image(PART2_IMAGE_ID, properties={'lxc_root_partition': '2'})
        self.sim_image(PART2_IMAGE_ID, two_partitions('part2'))
        server = self.boot(image_uuid=PART2_IMAGE_ID)
        self.assert_running_on(server, 2)
        self.assert_nothing_left(server)

    def test_flavor_extra_spec_chooses_the_root_partition(self):
        flavor = self._create_flavor(memory_mb=256, vcpu=1, disk=1, ephemeral=0,
                                     extra_spec={'nova_lxc:root_partition': '2'})
        self.sim_image(IMAGE_ID, two_partitions('flavor'))
        server = self.boot(image_uuid=IMAGE_ID, flavor_id=flavor)
        self.assert_running_on(server, 2)
        self.assert_nothing_left(server)

    def test_nova_conf_root_partition_reaches_the_service(self):
        self.flags(root_partition='2', group='nova_lxc')
        self.sim_image(IMAGE_ID, two_partitions('nova-conf'))
        server = self.boot(image_uuid=IMAGE_ID)
        self.assert_running_on(server, 2)
        self.assert_nothing_left(server)

    def test_flavor_beats_nova_conf_and_a_swap_partition_gives_error(self):
        flavor = self._create_flavor(memory_mb=256, vcpu=1, disk=1, ephemeral=0,
                                     extra_spec={'nova_lxc:root_partition': '1'})
        self.flags(root_partition='2', group='nova_lxc')
        self.sim_image(IMAGE_ID, two_partitions('swap-first'))
        server = self.boot(image_uuid=IMAGE_ID, flavor_id=flavor, expected_state='ERROR')
        # The flavor's 1 won over nova.conf's 2: the fault names the disk and what 1 holds.
        message = server['fault']['message']
        self.assertIn('partition 1 holds swap', message)
        self.assertIn(server['id'], message)
        self._delete_server(server)

    def test_a_host_reboot_then_nova_compute_starting_brings_the_server_back(self):
        # nova-compute's init_host calls resume_state_on_host_boot for a server whose
        # database power state is RUNNING while the driver says otherwise.
        self.flags(resume_guests_state_on_host_boot=True)
        self.sim_image(IMAGE_ID, partitioned('resumed'))
        server = self.boot(image_uuid=IMAGE_ID)
        self.assert_running_on(server, 1)
        self.service.client.call('POST', '/sim/reboot', {})
        self.assertEqual('shut off', self.view(server)['state'])
        self.assertEqual([], self.sim_state()['loops'])
        self.compute = self.restart_compute_service(self.compute)
        view = self.assert_running_on(server, 1)
        self.assertEqual(1, len([e for e in view['journal'] if e['target']['kind'] == 'loop']))
        self.assert_nothing_left(server)

    # -- boot from volume ----------------------------------------------------------------

    def test_server_from_an_existing_partitioned_volume(self):
        device = self.sim_volume(VOLUME_ID, partitioned('from-volume', table='gpt'))
        server = self.boot(bdms=[{'uuid': VOLUME_ID, 'source_type': 'volume',
                                  'destination_type': 'volume', 'boot_index': 0}])
        view = self.assert_running_on(server, 1)
        self.assertEqual(device, view['root']['source'])
        self.assertEqual([VOLUME_ID], list(self.cinder.volume_ids_for_instance(server['id'])))
        self.lifecycle(server, 1)

    def test_server_from_image_to_volume(self):
        self.sim_image(IMAGE_ID, partitioned('image-cache'))
        self.stub_volume_create(IMAGE_VOLUME_ID)
        device = self.sim_volume(IMAGE_VOLUME_ID, partitioned('image-to-volume'))
        server = self.boot(bdms=[{'uuid': IMAGE_ID, 'source_type': 'image',
                                  'destination_type': 'volume', 'volume_size': 1,
                                  'boot_index': 0}])
        view = self.assert_running_on(server, 1)
        self.assertEqual(device, view['root']['source'])
        self.lifecycle(server, 1)

    def test_a_volume_without_a_filesystem_gives_error_naming_device_and_partition(self):
        device = self.sim_volume(BLANK_VOLUME_ID, BLANK_PARTITION)
        server = self.boot(bdms=[{'uuid': BLANK_VOLUME_ID, 'source_type': 'volume',
                                  'destination_type': 'volume', 'boot_index': 0}],
                           expected_state='ERROR')
        message = server['fault']['message']
        self.assertIn(device, message)
        self.assertIn('partition 1', message)
        state = self.sim_state()
        self.assertEqual(([], []), (state['loops'], state['domains']))
        self._delete_server(server)
