"""Settings, split by concern; each module reads only from `env`."""

from .api import *  # noqa: F403
from .billing import *  # noqa: F403
from .core import *  # noqa: F403
from .identity import *  # noqa: F403
from .logs import *  # noqa: F403
from .production import check_production_settings
from .tenancy import *  # noqa: F403

check_production_settings(globals())
