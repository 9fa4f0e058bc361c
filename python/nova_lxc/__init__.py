"""nova-lxc's Nova compute driver: translates Nova's objects and calls the local nova-lxc service."""

__version__ = '0.1.0'
