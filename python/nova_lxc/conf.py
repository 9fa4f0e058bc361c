"""The ``[nova_lxc]`` options in nova.conf."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'nova_lxc',
    title='nova-lxc options',
    help='How the nova-lxc compute driver reaches the local nova-lxc service.')

OPTS = [
    cfg.StrOpt(
        'socket_path',
        default='/run/nova-lxc/api.sock',
        help='Unix socket of the nova-lxc service (nova-lxc.socket). The nova user must be '
             'in the group that owns it (mode 0660).'),
    cfg.FloatOpt(
        'connect_timeout',
        default=10.0,
        min=0.1,
        help='Seconds to wait for the service to accept a connection.'),
    cfg.FloatOpt(
        'request_timeout',
        default=600.0,
        min=1.0,
        help='Seconds to wait for one answer (a spawn includes mounting the root '
             'filesystem and starting the container).'),
    cfg.StrOpt(
        'root_partition',
        help='Host-wide choice of the partition that holds the root filesystem of a '
             'partitioned image or volume: a number, "label:NAME", "dps" (Discoverable '
             'Partitions) or "first". Overridden by the flavor extra spec '
             'nova_lxc:root_partition, which is overridden by the image property '
             'lxc_root_partition. Unset: the service\'s own option, else partition 1.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    """For oslo-config-generator (entry point oslo.config.opts: nova_lxc)."""
    return [(GROUP, OPTS)]
