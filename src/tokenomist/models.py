"""Every ORM model, imported so Alembic and ``create_all`` see one metadata.

Each domain registers its models module here when it adds tables.
"""

from tokenomist.kit.db import Base

# --- auth ---
# --- analyst ---

metadata = Base.metadata
