"""What NovaLxcDriver sends to the service and how it maps the service's errors.

On Nova's own fixtures (nova.test.NoDBTestCase, fake_instance, fake_block_device); the
service is a stand-in on a real unix socket (tests/fake_service.py).
"""

import os
import tempfile
from unittest import mock

import fixtures
from nova.compute import power_state
from nova import context as nova_context
from nova import exception
from nova import objects
from nova import test
from nova.tests.unit import fake_block_device
from nova.tests.unit import fake_instance
from nova.virt import block_device as driver_block_device
from nova.virt import driver as virt_driver

from nova_lxc import driver as lxc_driver
from tests.fake_service import FakeService

IMAGE_ID = '155d900f-4e14-4e4c-a73d-069cbf4541e6'
VOLUME_ID = '6ca404f3-d844-4169-bb96-bc792f37de98'
SECRET = 'chap-secret-never-leaves'
RAW_IMAGE = b'\0' * 512


def _bdm(context, instance, connection_info, boot_index=0, device='/dev/vda'):
    bdm = fake_block_device.fake_bdm_object(context, {
        'id': 1, 'instance_uuid': instance.uuid, 'source_type': 'volume',
        'destination_type': 'volume', 'volume_id': VOLUME_ID, 'boot_index': boot_index,
        'device_name': device, 'connection_info': None})
    driver_bdm = driver_block_device.DriverVolumeBlockDevice(bdm)
    driver_bdm['connection_info'] = connection_info
    return driver_bdm


class NovaLxcDriverTestCase(test.NoDBTestCase):

    def setUp(self):
        super(NovaLxcDriverTestCase, self).setUp()
        self.service = FakeService()
        self.addCleanup(self.service.stop)
        self.instances_path = tempfile.mkdtemp(prefix='nova-lxc-unit-')
        self.addCleanup(lambda: __import__('shutil').rmtree(self.instances_path))
        self.flags(instances_path=self.instances_path)
        self.flags(socket_path=self.service.socket_path, request_timeout=30,
                   group='nova_lxc')
        self.flags(uid_maps=['0:100000:65536'], gid_maps=['0:100000:65536'],
                   group='libvirt')
        self.flags(lock_path=os.path.join(self.instances_path, 'locks'),
                   group='oslo_concurrency')
        self.logs = self.useFixture(fixtures.FakeLogger(level='DEBUG'))
        self.context = nova_context.get_admin_context()
        self.driver = virt_driver.load_compute_driver(None, 'novalxc.driver.NovaLxcDriver')
        self.instance = self._instance()
        self.image_meta = objects.ImageMeta.from_dict(
            {'id': IMAGE_ID, 'disk_format': 'raw', 'properties': {}})
        self.fetched = []

        def fetch(context, image_href, path, trusted_certs=None):
            self.fetched.append(image_href)
            with open(path, 'wb') as f:
                f.write(self.image_bytes)
        self.image_bytes = RAW_IMAGE
        self.stub_out('nova.virt.images.fetch', fetch)

    def _instance(self, sysmeta=None, **updates):
        instance = fake_instance.fake_instance_obj(
            self.context, image_ref=IMAGE_ID, **updates)
        instance.system_metadata = dict(sysmeta or {})
        instance.trusted_certs = None
        return instance

    def spawn(self, instance=None, image_meta=None, block_device_info=None,
              network_info=None):
        self.driver.spawn(self.context, instance or self.instance,
                          image_meta or self.image_meta, [], None, {},
                          network_info=network_info, block_device_info=block_device_info)
        return self.service.last('PUT')

    # -- loading ---------------------------------------------------------------------

    def test_nova_loads_the_shim_module(self):
        self.assertIsInstance(self.driver, lxc_driver.NovaLxcDriver)
        self.assertTrue(self.driver.capabilities['supports_image_type_raw'])
        self.assertFalse(self.driver.capabilities['supports_attach_interface'])

    # -- spawn -------------------------------------------------------------------------

    def test_spawn_from_image_fetches_into_base_and_sends_the_flat_spec(self):
        put = self.spawn()
        self.assertEqual('/v1/instances/%s' % self.instance.uuid, put['path'])
        body = put['body']
        base = os.path.join(self.instances_path, '_base', IMAGE_ID)
        self.assertEqual({'id': IMAGE_ID, 'disk_format': 'raw', 'path': base,
                          'properties': {}}, body['image'])
        self.assertTrue(os.path.isfile(base))
        self.assertEqual([IMAGE_ID], self.fetched)
        self.assertIsNone(body['root_volume'])
        self.assertEqual([], body['volumes'])
        self.assertEqual(self.instance.name, body['name'])
        self.assertEqual(self.instance.flavor.memory_mb, body['flavor']['memory_mb'])
        self.assertEqual(self.instance.flavor.vcpus, body['flavor']['vcpus'])
        self.assertEqual({'uid': ['0:100000:65536'], 'gid': ['0:100000:65536']},
                         body['id_maps'])
        self.assertIsNone(body['root_partition'])

    def test_a_cached_image_is_fetched_once(self):
        self.spawn()
        other = self._instance()
        self.spawn(instance=other)
        self.assertEqual([IMAGE_ID], self.fetched)

    def test_an_image_declared_raw_that_is_qcow2_is_refused(self):
        self.image_bytes = b'QFI\xfb' + b'\0' * 60
        self.assertRaises(exception.ImageUnacceptable, self.spawn)
        self.assertIsNone(self.service.last('PUT'))

    def test_an_unsupported_disk_format_is_refused_before_fetching(self):
        meta = objects.ImageMeta.from_dict({'id': IMAGE_ID, 'disk_format': 'vhd'})
        error = self.assertRaises(exception.ImageUnacceptable, self.spawn, image_meta=meta)
        self.assertIn('raw and qcow2', error.format_message())
        self.assertEqual([], self.fetched)

    def test_spawn_from_a_local_volume_passes_the_device_path_and_no_secrets(self):
        info = {'driver_volume_type': 'local',
                'data': {'device_path': '/dev/loop7', 'volume_id': VOLUME_ID,
                         'auth_password': SECRET}}
        bdi = {'block_device_mapping': [_bdm(self.context, self.instance, info)]}
        body = self.spawn(block_device_info=bdi)['body']
        self.assertEqual({'volume_id': VOLUME_ID, 'device_path': '/dev/loop7',
                          'mount_device': '/dev/vda'}, body['root_volume'])
        self.assertIsNone(body['image'])
        self.assertEqual([], self.fetched)
        self.assertNotIn(SECRET, str(self.service.requests))
        self.assertNotIn(SECRET, self.logs.output)

    @mock.patch('os_brick.initiator.connector.InitiatorConnector.factory')
    def test_network_volumes_are_connected_with_os_brick(self, factory):
        factory.return_value.connect_volume.return_value = {'path': '/dev/sdb'}
        info = {'driver_volume_type': 'iscsi',
                'data': {'target_iqn': 'iqn.x', 'volume_id': VOLUME_ID,
                         'auth_password': SECRET}}
        bdi = {'block_device_mapping': [_bdm(self.context, self.instance, info)]}
        body = self.spawn(block_device_info=bdi)['body']
        self.assertEqual('ISCSI', factory.call_args[0][0])
        factory.return_value.connect_volume.assert_called_once_with(info['data'])
        self.assertEqual('/dev/sdb', body['root_volume']['device_path'])
        self.assertNotIn(SECRET, str(self.service.requests))
        self.assertNotIn(SECRET, self.logs.output)

    @mock.patch('os_brick.initiator.connector.InitiatorConnector.factory')
    def test_a_failed_spawn_disconnects_the_volumes_it_connected(self, factory):
        factory.return_value.connect_volume.return_value = {'path': '/dev/sdb'}
        self.service.error('PUT', '/v1/instances/', 500, 'CommandFailed',
                           'Failed to mount /dev/sdb: bad superblock')
        info = {'driver_volume_type': 'iscsi', 'data': {'volume_id': VOLUME_ID}}
        bdi = {'block_device_mapping': [_bdm(self.context, self.instance, info)]}
        self.assertRaises(lxc_driver.NovaLxcFault, self.spawn, block_device_info=bdi)
        factory.return_value.disconnect_volume.assert_called_once()

    def test_a_volume_backed_server_sends_only_the_image_properties(self):
        info = {'driver_volume_type': 'local', 'data': {'device_path': '/dev/loop7'}}
        instance = self._instance(sysmeta={'image_lxc_root_partition': 'label:root',
                                           'image_min_ram': '0'})
        instance.image_ref = ''
        bdi = {'block_device_mapping': [_bdm(self.context, instance, info)]}
        meta = objects.ImageMeta.from_dict({'properties': {}})
        body = self.spawn(instance=instance, image_meta=meta, block_device_info=bdi)['body']
        self.assertEqual({'id': None, 'disk_format': None, 'path': None,
                          'properties': {'lxc_root_partition': 'label:root'}}, body['image'])
        self.assertEqual({'image_lxc_root_partition': 'label:root'}, body['system_metadata'])
        self.assertEqual('label:root', body['root_partition']['policy'])
        self.assertEqual([], self.fetched)

    def test_an_extra_volume_is_sent_besides_the_image_root(self):
        info = {'driver_volume_type': 'local', 'data': {'device_path': '/dev/loop9'}}
        bdi = {'block_device_mapping': [
            _bdm(self.context, self.instance, info, boot_index=None, device='/dev/vdb')]}
        body = self.spawn(block_device_info=bdi)['body']
        self.assertIsNone(body['root_volume'])
        self.assertEqual('/dev/loop9', body['volumes'][0]['device_path'])
        self.assertEqual(IMAGE_ID, body['image']['id'])

    def test_networks_are_refused_with_a_reason(self):
        error = self.assertRaises(exception.InvalidInput, self.spawn,
                                  network_info=[{'id': 'vif'}])
        self.assertIn('does not support networks', error.format_message())
        self.assertIsNone(self.service.last('PUT'))

    # -- root partition precedence ---------------------------------------------------

    def _choice(self, sysmeta=None, extra_specs=None, host=None):
        self.flags(root_partition=host, group='nova_lxc')
        flavor = objects.Flavor(id=1, name='m1', memory_mb=256, vcpus=1, root_gb=1,
                                ephemeral_gb=0, swap=0, flavorid='1',
                                extra_specs=extra_specs or {})
        instance = self._instance(flavor=flavor, sysmeta=sysmeta)
        return self.spawn(instance=instance)['body']

    def test_root_partition_image_property_wins(self):
        body = self._choice({'image_lxc_root_partition': '3'},
                            {'nova_lxc:root_partition': '2'}, 'label:root')
        self.assertEqual({'policy': '3', 'source': 'image property lxc_root_partition'},
                         body['root_partition'])
        self.assertEqual({'lxc_root_partition': '3'}, body['image']['properties'])
        self.assertEqual({'image_lxc_root_partition': '3'}, body['system_metadata'])

    def test_root_partition_flavor_extra_spec_beats_the_host_option(self):
        body = self._choice(None, {'nova_lxc:root_partition': '2', 'hw:cpu': 'x'},
                            'label:root')
        self.assertEqual({'policy': '2',
                          'source': 'flavor extra spec nova_lxc:root_partition'},
                         body['root_partition'])
        self.assertEqual({'nova_lxc:root_partition': '2'}, body['flavor']['extra_specs'])

    def test_root_partition_host_option_last(self):
        body = self._choice(None, None, 'dps')
        self.assertEqual({'policy': 'dps', 'source': 'nova.conf [nova_lxc] root_partition'},
                         body['root_partition'])

    # -- error mapping ---------------------------------------------------------------

    def test_no_root_filesystem_aborts_the_build_with_the_services_message(self):
        message = ('Failed to find a root filesystem on /dev/loop7: partition 1 holds '
                   'no filesystem (blank)')
        self.service.error('PUT', '/v1/instances/', 400, 'NoRootFilesystem', message,
                           hint='Put a filesystem on partition 1.')
        error = self.assertRaises(exception.InvalidInput, self.spawn)
        self.assertIn(message, error.format_message())
        self.assertIn('Put a filesystem on partition 1.', error.format_message())

    def test_a_busy_host_is_a_fault_nova_may_reschedule(self):
        self.service.error('PUT', '/v1/instances/', 409, 'Busy', 'Failed: device busy')
        error = self.assertRaises(lxc_driver.NovaLxcFault, self.spawn)
        self.assertNotIsInstance(error, exception.InvalidInput)

    def test_unknown_instance_is_instance_not_found(self):
        self.service.error('GET', '/v1/instances/', 404, 'NotFound', 'no such instance',
                           nova_type='InstanceNotFound')
        self.assertRaises(exception.InstanceNotFound, self.driver.get_info, self.instance)
        self.assertFalse(self.driver.instance_exists(self.instance))

    def test_unsupported_operation_is_not_implemented(self):
        self.service.error('POST', '/v1/instances/', 501, 'Unsupported',
                           'soft reboot is not supported')
        self.assertRaises(NotImplementedError, self.driver.reboot, self.context,
                          self.instance, [], 'SOFT')

    def test_a_missing_socket_names_the_socket_and_what_to_check(self):
        self.flags(socket_path='/nonexistent/api.sock', group='nova_lxc')
        fresh = lxc_driver.NovaLxcDriver(None)
        error = self.assertRaises(lxc_driver.NovaLxcFault, fresh.init_host, 'compute')
        self.assertIn('/nonexistent/api.sock', error.format_message())
        self.assertIn('nova-lxc.socket', error.format_message())

    def test_init_host_refuses_a_service_with_another_instances_path(self):
        self.service.answer('GET', '/v1/host', 200,
                            dict(self._host(), instances_path='/srv/elsewhere'))
        error = self.assertRaises(lxc_driver.NovaLxcFault, self.driver.init_host, 'c')
        self.assertIn('/srv/elsewhere', error.format_message())

    @staticmethod
    def _host():
        from tests.fake_service import HOST
        return dict(HOST)

    # -- lifecycle calls -------------------------------------------------------------

    def test_lifecycle_calls(self):
        self.driver.reboot(self.context, self.instance, [], 'HARD')
        self.assertEqual({'type': 'hard'}, self.service.last('POST')['body'])
        self.driver.power_off(self.instance, timeout=10, retry_interval=2)
        self.assertEqual(('/v1/instances/%s/power-off' % self.instance.uuid,
                          {'timeout': 10, 'retry_interval': 2}),
                         (self.service.last()['path'], self.service.last()['body']))
        self.driver.power_on(self.context, self.instance, [])
        self.assertTrue(self.service.last()['path'].endswith('/power-on'))
        info = self.driver.get_info(self.instance)
        self.assertEqual(power_state.RUNNING, info.state)
        self.service.answer('GET', '/v1/instances/%s/console' % self.instance.uuid, 200,
                            {'output': 'hello\n'})
        self.assertEqual('hello\n',
                         self.driver.get_console_output(self.context, self.instance))

    def test_resume_state_on_host_boot_leaves_a_running_instance_alone(self):
        self.driver.resume_state_on_host_boot(self.context, self.instance, [])
        self.assertEqual([], [r for r in self.service.requests if r['method'] == 'POST'])

    def test_resume_state_on_host_boot_reconnects_volumes_and_asks_the_service(self):
        from tests.fake_service import VIEW
        self.service.answer('GET', '/v1/instances/', 200,
                            dict(VIEW, uuid=self.instance.uuid, power_state=4, state='shut off'))
        with mock.patch('os_brick.initiator.connector.InitiatorConnector.factory') as f:
            f.return_value.connect_volume.return_value = {'path': '/dev/sdb'}
            info = {'driver_volume_type': 'iscsi', 'data': {'volume_id': VOLUME_ID}}
            bdi = {'block_device_mapping': [_bdm(self.context, self.instance, info)]}
            self.driver.resume_state_on_host_boot(self.context, self.instance, [], bdi)
            f.return_value.connect_volume.assert_called_once()
        self.assertEqual(('/v1/instances/%s/resume-on-host-boot' % self.instance.uuid, {}),
                         (self.service.last()['path'], self.service.last()['body']))

    def test_destroy_keeps_disks_when_asked_and_then_disconnects(self):
        with mock.patch('os_brick.initiator.connector.InitiatorConnector.factory') as f:
            info = {'driver_volume_type': 'iscsi',
                    'data': {'volume_id': VOLUME_ID, 'device_path': '/dev/sdb'}}
            bdi = {'block_device_mapping': [_bdm(self.context, self.instance, info)]}
            self.driver.destroy(self.context, self.instance, [], bdi, destroy_disks=False)
            f.return_value.disconnect_volume.assert_called_once()
        delete = self.service.last('DELETE')
        self.assertEqual({'destroy_disks': 'false'}, delete['query'])

    def test_list_instances(self):
        self.service.answer('GET', '/v1/instances', 200, {'instances': [
            {'uuid': 'u1', 'name': 'instance-1', 'power_state': 1, 'state': 'running'}]})
        self.assertEqual(['instance-1'], self.driver.list_instances())
        self.assertEqual(['u1'], self.driver.list_instance_uuids())

    def test_resources_for_the_resource_tracker_and_placement(self):
        self.driver.init_host('compute')
        self.assertEqual(['compute'], self.driver.get_available_nodes())
        res = self.driver.get_available_resource('compute')
        self.assertEqual((4, 8192, 100, 'lxc', 'compute'),
                         (res['vcpus'], res['memory_mb'], res['local_gb'],
                          res['hypervisor_type'], res['hypervisor_hostname']))
        self.assertEqual([('x86_64', 'lxc', 'exe')], res['supported_instances'])
        tree = mock.Mock()
        tree.data.return_value.inventory = {}
        self.driver.update_provider_tree(tree, 'compute')
        inventory = tree.update_inventory.call_args[0][1]
        self.assertEqual({'VCPU': 4, 'MEMORY_MB': 8192, 'DISK_GB': 100},
                         {k: v['total'] for k, v in inventory.items()})

