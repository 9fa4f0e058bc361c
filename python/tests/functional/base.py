"""Nova's functional harness (_IntegratedTestBase: real API, conductor, scheduler, compute
manager and placement in one process) with compute_driver = novalxc.driver.NovaLxcDriver,
against a nova-lxc service this test starts."""

import os
import re
import shutil
import tempfile

from nova.tests.functional import integrated_helpers
from testtools import content

import nova_lxc.driver  # noqa: F401 (registers the [nova_lxc] options)
from tests.service_fixture import NovaLxcServiceFixture

API_PASTE_ENV = 'NOVA_LXC_API_PASTE'


def api_paste_config():
    """api-paste.ini from Debian's nova-common (tools/test-nova.sh extracts it, not committed)."""
    path = os.environ.get(API_PASTE_ENV)
    if not path or not os.path.isfile(path):
        raise RuntimeError(
            '%s must name api-paste.ini from the Debian package nova-common; run the tests '
            'with `npm run test:nova` (tools/test-nova.sh fetches it)' % API_PASTE_ENV)
    return path


def logged_tracebacks(output, limit=3):
    """The last `limit` log records of `output` that carry a traceback, each whole."""
    records = re.split(r'\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ )', output)
    return [r.rstrip() for r in records if '\nTraceback (most recent call last):' in r][-limit:]


class NovaLxcFunctionalBase(integrated_helpers._IntegratedTestBase):
    # networks='none' needs 2.37; BDM v2 with volume_type etc. is fine at 2.67.
    microversion = '2.67'
    ADMIN_API = True
    #: 'sim' or 'real'
    BACKEND = 'sim'
    SERVICE_ARGS = ()

    def setUp(self):
        self.instances_path = self._make_instances_path()
        super(NovaLxcFunctionalBase, self).setUp()

    def _make_instances_path(self):
        path = tempfile.mkdtemp(prefix='nova-lxc-instances-')
        os.chmod(path, 0o755)
        self.addCleanup(shutil.rmtree, path, True)
        return path

    def _setup_compute_service(self):
        self.service = self.useFixture(NovaLxcServiceFixture(
            self.instances_path, backend=self.BACKEND, extra_args=self.SERVICE_ARGS))
        self.addOnException(self._attach_service_log)
        self.addOnException(self._attach_logged_tracebacks)
        self.flags(compute_driver='novalxc.driver.NovaLxcDriver',
                   instances_path=self.instances_path)
        self.flags(socket_path=self.service.socket_path, request_timeout=300,
                   group='nova_lxc')
        self.flags(api_paste_config=api_paste_config(), group='wsgi')
        return super(NovaLxcFunctionalBase, self)._setup_compute_service()

    def _attach_service_log(self, exc_info):
        self.addDetailUniqueName('nova-lxc-service.log',
                                 content.text_content(self.service.log))

    def _attach_logged_tracebacks(self, exc_info):
        """The tracebacks Nova logged (compute manager, API), as the last detail before the
        test's own traceback: CI shows a failure's tail, and an API 500 names only the class."""
        blocks = logged_tracebacks(self.stdlog.logger.output)
        if blocks:
            self.addDetailUniqueName('zz-tracebacks-nova-logged',
                                     content.text_content('\n\n'.join(blocks)))

    # -- helpers ---------------------------------------------------------------------

    def view(self, server):
        return self.service.client.show(server['id'])

    def boot(self, image_uuid=None, flavor_id=None, bdms=None, expected_state='ACTIVE'):
        body = self._build_server(image_uuid=image_uuid if bdms is None else '',
                                  flavor_id=flavor_id, networks='none')
        if bdms is not None:
            body['block_device_mapping_v2'] = bdms
        server = self.api.post_server({'server': body})
        return self._wait_for_state_change(server, expected_state)

    def local_volume(self, volume_id, device_path):
        """Makes the Cinder fixture hand out connection_info of type local for volume_id."""
        infos = dict(self.cinder.VOLUME_CONNECTION_INFO)
        infos[volume_id] = {'driver_volume_type': 'local',
                            'data': {'device_path': device_path}}
        self.cinder.VOLUME_CONNECTION_INFO = infos

    def stub_volume_create(self, volume_id):
        """Cinder's create for image-to-volume BDMs (the Zed fixture does not stub it)."""
        def create(_self, context, size, name, description, **kwargs):
            return {'id': volume_id, 'status': 'creating', 'size': size}
        self.stub_out('nova.volume.cinder.API.create', create)

    def add_image(self, image_id, disk_format='raw', properties=None, data=None):
        import io
        meta = {'id': image_id, 'name': 'nova-lxc-%s' % image_id[:8],
                'status': 'active', 'disk_format': disk_format,
                'container_format': 'bare', 'min_ram': 0, 'min_disk': 0,
                'size': len(data) if data is not None else 0,
                'properties': dict(properties or {})}
        self.glance.create(None, meta, data=io.BytesIO(data) if data is not None else None)

    def assert_server_gone(self, server):
        self._delete_server(server)
        self.assertNotIn(server['id'], [
            i['uuid'] for i in self.service.client.list_instances()])

    def assert_running_on(self, server, partition):
        """The server's container runs on root partition `partition`; returns the view."""
        view = self.view(server)
        self.assertEqual('running', view['state'], view)
        self.assertEqual(partition, view['root']['partition'], view)
        self.assertEqual('ext4', view['root']['fstype'], view)
        return view

    def assert_nothing_left(self, server):
        """Deletes the server and checks the backend holds nothing of it (per backend)."""
        self.assert_server_gone(server)

    def lifecycle(self, server, partition):
        """reboot --hard, stop, start, running on `partition` throughout; then delete."""
        self.assert_running_on(server, partition)
        server = self._reboot_server(server, hard=True)
        self.assert_running_on(server, partition)
        server = self._stop_server(server)
        self.assertEqual('shut off', self.view(server)['state'])
        server = self._start_server(server)
        self.assert_running_on(server, partition)
        self.assert_nothing_left(server)
