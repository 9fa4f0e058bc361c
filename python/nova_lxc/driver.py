"""NovaLxcDriver: Nova's ComputeDriver for nova-lxc, a thin client of the local service.

It translates Nova's objects into the service's flat spec (nova_lxc.spec), connects network
volumes with os-brick and fetches Glance images into ``<instances_path>/_base/`` (as Nova's
libvirt driver does); the service does the disk, mount and container work.
"""

import os

from os_brick.initiator import connector as brick_connector
from oslo_log import log as logging
from oslo_serialization import jsonutils
import os_resource_classes as orc

from nova.compute import power_state
import nova.conf
from nova import exception
from nova.i18n import _
from nova import utils
from nova.virt import driver
from nova.virt import hardware
from nova.virt import images

from nova_lxc import client as service_client
from nova_lxc import conf as lxc_conf
from nova_lxc import spec as lxc_spec

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF
lxc_conf.register_opts(CONF)

#: Power states resume_state_on_host_boot leaves alone, as Nova's libvirt driver does.
_RESUME_LEAVES = (power_state.RUNNING, power_state.SUSPENDED, power_state.NOSTATE,
                  power_state.PAUSED)

#: Disk formats the service boots from (service API v1, spawn spec image.disk_format).
SUPPORTED_DISK_FORMATS = ('raw', 'qcow2')
QCOW2_MAGIC = b'QFI\xfb'
#: Service codes that mean "this request cannot work", so Nova aborts the build with the
#: message (BuildAbortException) instead of rescheduling to hit the same fault elsewhere.
DETERMINISTIC_CODES = ('InvalidInput', 'NoRootFilesystem', 'Unsupported', 'NotFound',
                       'FailedPrecondition', 'DeviceChanged', 'AlreadyExists', 'Conflict')


class NovaLxcFault(exception.NovaException):
    """A service error Nova shows as the instance fault (the message is the service's)."""
    msg_fmt = '%(reason)s'


class NovaLxcInvalid(exception.InvalidInput):
    """A build that cannot succeed as asked; the compute manager aborts it with the message."""
    msg_fmt = '%(reason)s'


class NovaLxcDriver(driver.ComputeDriver):
    """compute_driver = novalxc.driver.NovaLxcDriver"""

    capabilities = dict(
        driver.ComputeDriver.capabilities,
        has_imagecache=False,
        supports_image_type_raw=True,
        supports_image_type_qcow2=True,
    )

    def __init__(self, virtapi, read_only=False):
        super(NovaLxcDriver, self).__init__(virtapi)
        self._client = service_client.Client(
            CONF.nova_lxc.socket_path,
            connect_timeout=CONF.nova_lxc.connect_timeout,
            request_timeout=CONF.nova_lxc.request_timeout)
        self._host = None

    # -- service calls and error mapping -----------------------------------------------

    def _call(self, what, fn, *args, instance=None, spawning=False, **kwargs):
        try:
            return fn(*args, **kwargs)
        except service_client.ServiceUnavailable as error:
            raise NovaLxcFault(reason=str(error))
        except service_client.ServiceError as error:
            raise self._nova_exception(error, what, instance, spawning)

    @staticmethod
    def _nova_exception(error, what, instance, spawning):
        uuid = instance.uuid if instance is not None else None
        if error.nova_type == 'InstanceNotFound' or (
                error.code == 'NotFound' and error.status == 404 and not spawning
                and uuid is not None):
            return exception.InstanceNotFound(instance_id=uuid)
        reason = error.describe()
        if spawning and error.code in DETERMINISTIC_CODES:
            return NovaLxcInvalid(reason=reason)
        if error.code == 'Unsupported':
            return NotImplementedError(
                _('nova-lxc cannot %(what)s: %(reason)s') % {'what': what, 'reason': reason})
        if error.code == 'InvalidInput':
            return NovaLxcInvalid(reason=reason)
        return NovaLxcFault(reason=reason)

    # -- host ----------------------------------------------------------------------------

    def init_host(self, host):
        self._host = host
        health = self._call('reach the nova-lxc service', self._client.health)
        LOG.info('nova-lxc service %(version)s (backend %(backend)s) at %(socket)s',
                 {'version': health.get('version'), 'backend': health.get('backend'),
                  'socket': CONF.nova_lxc.socket_path})
        info = self._call('read host resources', self._client.host)
        served = info.get('instances_path')
        if served and os.path.realpath(served) != os.path.realpath(CONF.instances_path):
            raise NovaLxcFault(reason=_(
                'The nova-lxc service uses instances_path %(served)s but nova.conf '
                '[DEFAULT] instances_path is %(ours)s: images are fetched into '
                '<instances_path>/_base/, so both must name the same directory. Start the '
                'service with --instances-path %(ours)s.')
                % {'served': served, 'ours': CONF.instances_path})

    def get_available_nodes(self, refresh=False):
        return [self._host or CONF.host]

    def node_is_available(self, nodename):
        return nodename in self.get_available_nodes()

    def get_host_ip_addr(self):
        return CONF.my_ip

    def get_available_resource(self, nodename):
        info = self._call('read host resources', self._client.host)
        return {
            'vcpus': info['vcpus'],
            'memory_mb': info['memory_mb'],
            'local_gb': info['local_gb'],
            'vcpus_used': info.get('vcpus_used', 0),
            'memory_mb_used': info.get('memory_mb_used', 0),
            'local_gb_used': info.get('local_gb_used', 0),
            'hypervisor_type': info.get('hypervisor_type', 'lxc'),
            'hypervisor_version': info.get('hypervisor_version', 0),
            'hypervisor_hostname': nodename,
            'cpu_info': info.get('cpu_info') or jsonutils.dumps({}),
            'disk_available_least': info.get('disk_available_least'),
            'supported_instances': [
                tuple(s) for s in info.get('supported_instances') or
                [('x86_64', 'lxc', 'exe')]],
            'numa_topology': None,
        }

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        info = self._call('read host resources', self._client.host)
        inventory = provider_tree.data(nodename).inventory
        ratios = self._get_allocation_ratios(inventory)
        totals = {orc.VCPU: (info['vcpus'], CONF.reserved_host_cpus),
                  orc.MEMORY_MB: (info['memory_mb'], CONF.reserved_host_memory_mb),
                  orc.DISK_GB: (info['local_gb'],
                                self._get_reserved_host_disk_gb_from_config())}
        result = {}
        for rc, (total, reserved) in totals.items():
            if total <= 0:
                continue
            result[rc] = {'total': total, 'min_unit': 1, 'max_unit': total,
                          'step_size': 1, 'allocation_ratio': ratios[rc],
                          'reserved': reserved}
        provider_tree.update_inventory(nodename, result)

    def get_volume_connector(self, instance):
        return brick_connector.get_connector_properties(
            utils.get_root_helper(), CONF.my_block_storage_ip,
            CONF.libvirt.volume_use_multipath, enforce_multipath=True, host=CONF.host)

    # -- instances -----------------------------------------------------------------------

    def list_instances(self):
        return [i['name'] for i in self._call('list instances', self._client.list_instances)]

    def list_instance_uuids(self):
        return [i['uuid'] for i in self._call('list instances', self._client.list_instances)]

    def instance_exists(self, instance):
        try:
            self._client.show(instance.uuid)
            return True
        except service_client.ServiceError as error:
            if error.status == 404:
                return False
            raise self._nova_exception(error, 'look up the instance', instance, False)
        except service_client.ServiceUnavailable as error:
            raise NovaLxcFault(reason=str(error))

    def get_info(self, instance, use_cache=True):
        view = self._call('read the instance state', self._client.show, instance.uuid,
                          instance=instance)
        domain = view.get('domain') or {}
        return hardware.InstanceInfo(
            state=view.get('power_state', power_state.NOSTATE),
            internal_id=domain.get('uuid'))

    def spawn(self, context, instance, image_meta, injected_files, admin_password,
              allocations, network_info=None, block_device_info=None, power_on=True,
              accel_info=None):
        if network_info:
            raise NovaLxcInvalid(reason=_(
                'nova-lxc does not support networks yet: boot the server with no network '
                '(networks "none", API microversion 2.37 or later)'))
        if injected_files:
            LOG.warning('nova-lxc ignores injected files', instance=instance)
        connected = []
        try:
            root, volumes = self._connect_volumes(block_device_info, connected, instance)
            image = None
            if root is None:
                image = self._cache_image(context, instance, image_meta)
            body = lxc_spec.build_spawn_spec(
                instance, image_meta, image=image, root_volume=root, volumes=volumes,
                uid_maps=CONF.libvirt.uid_maps, gid_maps=CONF.libvirt.gid_maps,
                host_root_partition=CONF.nova_lxc.root_partition)
            view = self._call('spawn the instance', self._client.spawn, instance.uuid, body,
                              instance=instance, spawning=True)
        except Exception:
            self._disconnect(connected, instance)
            raise
        if not power_on:
            self.power_off(instance)
        root_view = view.get('root') or {}
        LOG.info('Container running from %(device)s partition %(partition)s (%(fstype)s)',
                 {'device': root_view.get('source'), 'partition': root_view.get('partition'),
                  'fstype': root_view.get('fstype')}, instance=instance)

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        self._call('destroy the instance', self._client.destroy, instance.uuid,
                   destroy_disks=destroy_disks, instance=instance)
        self._disconnect(lxc_spec.volume_bdms(block_device_info), instance)

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        self.destroy(context, instance, network_info, block_device_info,
                     destroy_disks=destroy_disks)

    def reboot(self, context, instance, network_info, reboot_type,
               block_device_info=None, bad_volumes_callback=None, accel_info=None):
        if str(reboot_type).upper() == 'HARD':
            # As the libvirt driver does: make sure network volumes are connected again.
            self._connect_volumes(block_device_info, [], instance)
        self._call('reboot the instance', self._client.reboot, instance.uuid,
                   str(reboot_type).lower(), instance=instance)

    def power_off(self, instance, timeout=0, retry_interval=0):
        self._call('power off the instance', self._client.power_off, instance.uuid,
                   timeout=timeout, retry_interval=retry_interval, instance=instance)

    def power_on(self, context, instance, network_info, block_device_info=None,
                 accel_info=None):
        self._call('power on the instance', self._client.power_on, instance.uuid,
                   instance=instance)

    def resume_state_on_host_boot(self, context, instance, network_info,
                                  block_device_info=None):
        # As Nova's libvirt driver: a guest that runs (or is paused, suspended, or in no
        # state) is left alone; any other is brought back with a hard reboot, its network
        # volumes connected again first (a host reboot dropped their connections). The
        # service never releases what the instance's record names from an earlier boot.
        try:
            state = self.get_info(instance).state
        except exception.InstanceNotFound:
            state = None
        if state in _RESUME_LEAVES:
            return
        self._connect_volumes(block_device_info, [], instance)
        self._call('resume the instance after a host boot', self._client.resume_on_host_boot,
                   instance.uuid, instance=instance)

    def get_console_output(self, context, instance):
        return self._call('read the console', self._client.console, instance.uuid,
                          instance=instance)

    # -- volumes and images --------------------------------------------------------------

    def _connect_volumes(self, block_device_info, connected, instance):
        """Connects every volume; returns (root volume or None, extra volumes) as spec dicts."""
        bdms = lxc_spec.volume_bdms(block_device_info)
        root_bdm = lxc_spec.root_bdm(block_device_info)
        root, volumes = None, []
        for bdm in bdms:
            info = bdm.get('connection_info')
            if not info:
                raise NovaLxcInvalid(reason=_(
                    'Volume %s has no connection_info; attach it through Cinder first')
                    % _volume_id(bdm))
            device_path = self._connect_volume(info, instance)
            connected.append(bdm)
            entry = {'volume_id': _volume_id(bdm), 'device_path': device_path,
                     'mount_device': bdm.get('mount_device')}
            if bdm is root_bdm:
                root = entry
            else:
                volumes.append(entry)
        return root, volumes

    def _connect_volume(self, connection_info, instance):
        kind = connection_info.get('driver_volume_type')
        data = connection_info.get('data') or {}
        if kind == 'local':
            path = data.get('device_path')
            if not path:
                raise NovaLxcInvalid(reason=_(
                    'Volume %s: connection_info of type local has no data.device_path')
                    % data.get('volume_id'))
            return path
        connector = self._brick_connector(kind, data.get('volume_id'))
        # Never log connection_info itself: it can carry CHAP secrets and keys.
        LOG.debug('Connecting volume %(id)s (%(kind)s) with os-brick',
                  {'id': data.get('volume_id'), 'kind': kind}, instance=instance)
        device = connector.connect_volume(data)
        path = device.get('path') if isinstance(device, dict) else None
        if not path:
            raise NovaLxcFault(reason=_('os-brick connected volume %s but gave no device '
                                        'path') % data.get('volume_id'))
        # As Nova's libvirt volume drivers do, so disconnect finds it again.
        data['device_path'] = path
        return path

    def _brick_connector(self, kind, volume_id):
        try:
            return brick_connector.InitiatorConnector.factory(
                str(kind).upper(), utils.get_root_helper(),
                use_multipath=CONF.libvirt.volume_use_multipath,
                device_scan_attempts=CONF.libvirt.num_volume_scan_tries)
        except Exception:
            raise NovaLxcInvalid(reason=_(
                'Volume %(id)s: nova-lxc cannot connect volumes of type %(kind)s '
                '(os-brick has no connector for it)') % {'id': volume_id, 'kind': kind})

    def _disconnect(self, bdms, instance):
        for bdm in bdms:
            info = bdm.get('connection_info') or {}
            kind = info.get('driver_volume_type')
            if not kind or kind == 'local':
                continue
            data = info.get('data') or {}
            try:
                connector = self._brick_connector(kind, data.get('volume_id'))
                connector.disconnect_volume(data, {'path': data.get('device_path')},
                                            force=False)
            except Exception as error:
                LOG.warning('Failed to disconnect volume %(id)s: %(error)s',
                            {'id': data.get('volume_id'), 'error': type(error).__name__},
                            instance=instance)

    def _cache_image(self, context, instance, image_meta):
        """Fetches the Glance image into <instances_path>/_base/<image id>, once per host."""
        image_id = image_meta.id if 'id' in image_meta else instance.image_ref
        disk_format = image_meta.disk_format if 'disk_format' in image_meta else None
        if disk_format not in SUPPORTED_DISK_FORMATS:
            raise exception.ImageUnacceptable(image_id=image_id, reason=_(
                'nova-lxc boots raw and qcow2 images; this one is %s. Convert it with '
                'qemu-img, or boot from a volume.') % disk_format)
        base_dir = os.path.join(CONF.instances_path, '_base')
        path = os.path.join(base_dir, image_id)

        @utils.synchronized(image_id, external=True,
                            lock_path=os.path.join(CONF.instances_path, 'locks'))
        def fetch():
            if os.path.exists(path):
                return
            os.makedirs(base_dir, exist_ok=True)
            part = path + '.part'
            images.fetch(context, image_id, part, trusted_certs=instance.trusted_certs)
            os.rename(part, path)

        fetch()
        with open(path, 'rb') as f:
            magic = f.read(4)
        if disk_format == 'raw' and magic == QCOW2_MAGIC:
            raise exception.ImageUnacceptable(image_id=image_id, reason=_(
                'the image is declared raw but the file is qcow2; fix its disk_format'))
        return {'id': image_id, 'disk_format': disk_format, 'path': path}


def _volume_id(bdm):
    info = bdm.get('connection_info') or {}
    return bdm.get('volume_id') or (info.get('data') or {}).get('volume_id')


