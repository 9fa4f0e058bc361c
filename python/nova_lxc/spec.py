"""Nova's objects -> the service's flat spawn spec (service API v1, "Spawn spec").

Pure functions: no IO, no configuration reads; the driver passes in what they need.
"""

from nova import block_device
from nova.virt import driver as virt_driver

ROOT_PARTITION_PROPERTY = 'lxc_root_partition'
ROOT_PARTITION_EXTRA_SPEC = 'nova_lxc:root_partition'
#: Nova's compute manager copies image properties into system_metadata as image_<key>;
#: custom ones (like lxc_root_partition) survive only there, not in ImageMeta.
SYSMETA_IMAGE_PREFIX = 'image_'


def volume_bdms(block_device_info):
    """The volume BDMs Nova passes (DriverVolumeBlockDevice dicts), root first if any."""
    return list(virt_driver.block_device_info_get_mapping(block_device_info))


def root_bdm(block_device_info):
    """The boot volume (boot_index 0) or None for a server booted from an image."""
    return block_device.get_root_bdm(volume_bdms(block_device_info))


def image_properties(instance):
    """The image properties nova-lxc reads, from system_metadata (image_<key>)."""
    props = {}
    sysmeta = instance.system_metadata or {}
    value = sysmeta.get(SYSMETA_IMAGE_PREFIX + ROOT_PARTITION_PROPERTY)
    if value not in (None, ''):
        props[ROOT_PARTITION_PROPERTY] = str(value)
    return props


def root_partition_choice(instance, host_option=None):
    """(value, source) of the root partition policy, by nova-lxc's precedence.

    image property lxc_root_partition > flavor extra spec nova_lxc:root_partition >
    nova.conf [nova_lxc] root_partition > (None: the service's option, else partition 1).
    """
    props = image_properties(instance)
    if ROOT_PARTITION_PROPERTY in props:
        return props[ROOT_PARTITION_PROPERTY], 'image property ' + ROOT_PARTITION_PROPERTY
    extra = dict(getattr(instance.flavor, 'extra_specs', None) or {})
    if extra.get(ROOT_PARTITION_EXTRA_SPEC) not in (None, ''):
        return (str(extra[ROOT_PARTITION_EXTRA_SPEC]),
                'flavor extra spec ' + ROOT_PARTITION_EXTRA_SPEC)
    if host_option not in (None, ''):
        return str(host_option), 'nova.conf [nova_lxc] root_partition'
    return None, None


def build_spawn_spec(instance, image_meta, image=None, root_volume=None, volumes=(),
                     uid_maps=(), gid_maps=(), host_root_partition=None):
    """The PUT /v1/instances/{uuid} body.

    ``image``: ``{"id", "disk_format", "path"}`` of the cached image file (boot from image);
    ``root_volume`` / ``volumes``: ``{"volume_id", "device_path", "mount_device"}`` of volumes
    already connected on this host. Nothing from connection_info but the local device path
    is ever copied here (no CHAP secrets, keys or targets).
    """
    flavor = instance.flavor
    sysmeta = dict(instance.system_metadata or {})
    spec = {
        'name': instance.name,
        'flavor': {
            'name': flavor.name,
            'memory_mb': flavor.memory_mb,
            'vcpus': flavor.vcpus,
            'root_gb': flavor.root_gb,
            'extra_specs': {k: str(v) for k, v in (flavor.extra_specs or {}).items()
                            if k.startswith('nova_lxc:')},
        },
        'image': None,
        'root_volume': root_volume,
        'volumes': list(volumes),
        'system_metadata': {k: str(v) for k, v in sysmeta.items()
                            if k.startswith(SYSMETA_IMAGE_PREFIX + 'lxc_')},
        'id_maps': {'uid': list(uid_maps), 'gid': list(gid_maps)},
    }
    props = image_properties(instance)
    if image is not None:
        spec['image'] = dict(image, properties=props)
    elif props:
        # A volume-backed server: only the image properties are used.
        image_id = image_meta.id if 'id' in image_meta else None
        spec['image'] = {'id': image_id, 'disk_format': None, 'path': None,
                         'properties': props}
    value, source = root_partition_choice(instance, host_root_partition)
    spec['root_partition'] = (
        None if value is None else {'policy': value, 'source': source})
    return spec
