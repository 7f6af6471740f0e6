"""Every ORM model, imported so Alembic and ``create_all`` see one metadata.

Each domain registers its models module here when it adds tables.
"""

from tokenomist.alerts import models as alerts_models  # noqa: F401
from tokenomist.analyst import models as analyst_models  # noqa: F401
from tokenomist.auth import models as auth_models  # noqa: F401
from tokenomist.kit.db import Base
from tokenomist.usage import models as usage_models  # noqa: F401

metadata = Base.metadata
