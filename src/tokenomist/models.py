"""Every ORM model, imported so Alembic and ``create_all`` see one metadata.

Each domain registers its models module here when it adds tables.
"""

from tokenomist.kit.db import Base

# --- auth ---
from tokenomist.auth import models as auth_models  # noqa: E402, F401
# --- analyst ---
from tokenomist.analyst import models as analyst_models  # noqa: E402, F401

metadata = Base.metadata
