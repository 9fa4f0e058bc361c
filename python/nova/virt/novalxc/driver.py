"""The module Nova imports for ``[DEFAULT] compute_driver = novalxc.driver.NovaLxcDriver``.

Nova 26 loads a compute driver only as ``nova.virt.<compute_driver>``; the real code lives in
the ``nova_lxc`` package.
"""

from nova_lxc.driver import NovaLxcDriver

__all__ = ['NovaLxcDriver']
