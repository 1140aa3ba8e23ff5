"""The error of the board flows, apart so that hw/links (which the flows import) can raise it too."""
from __future__ import annotations

from hw.errors import HardwireError


class FlowError(HardwireError):
    """A step of the open flow failed or its output is not what was expected."""
