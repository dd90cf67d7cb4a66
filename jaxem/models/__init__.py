"""Built-in models: ordinary :class:`jaxem.Model` instances with registered closed-form updates."""

from jaxem.models import gaussian

__all__ = ["gaussian"]
