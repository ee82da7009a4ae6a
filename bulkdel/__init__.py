"""bulkdel: delete Direct Connect virtual-interface peers in bulk, safely."""

__version__ = "0.1.0"
__all__ = ["__version__"]
