"""What both tables share in their public face: a name, an endpoint, a region, connection settings,
the bound PynamoDB model and its clients. Their plumbing is a private :class:`~pynamodb_tables.
store.Store`.

A table object binds its item model to a table name, endpoint, region and connection settings by
deriving a subclass with its own ``Meta`` (cached, so any number of tables can be used side by
side in one process).
"""

import os
import re
from typing import Any, Generic, List, Optional, Tuple, Type, TypeVar

from pynamodb.models import Model

from .connection import ConnectionSettings, resolved_endpoint, resolved_region
from .errors import ConfigurationError
from .store import Store

M = TypeVar("M", bound=Model)

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{3,255}$")


class BoundTable(Generic[M]):
    """A DynamoDB table holding items of one model; subclasses add the table's operations."""

    _env_var: str
    _key_names: Tuple[str, ...]
    _missing: str  # what an operation on an unknown key reports

    def __init__(
        self,
        item_class: Type[M],
        table_name: Optional[str] = None,
        *,
        host: Optional[str] = None,
        region: Optional[str] = None,
        **connection_settings: Any,
    ) -> None:
        name = table_name if table_name is not None else os.environ.get(self._env_var)
        if name is None:
            raise ConfigurationError(f"no table name: pass table_name or set {self._env_var}")
        if not isinstance(name, str) or not _TABLE_NAME.match(name):
            raise ConfigurationError(
                f"invalid table name {name!r}: 3 to 255 characters of letters, digits, '_', '-' and '.'"
            )
        owner = type(self).__name__
        try:  # (an unknown keyword is a TypeError, as for any function)
            settings = ConnectionSettings.from_keywords(owner, connection_settings)
            host, region = resolved_endpoint(host), resolved_region(region)
        except ValueError as exc:
            raise ConfigurationError(str(exc) if str(exc).startswith(owner) else f"{owner}(): {exc}") from None
        self._store: Store[M] = Store(item_class, name, host, region, settings, self._key_names, self._missing)

    @property
    def table_name(self) -> str:
        """The DynamoDB table's name."""
        return self._store.table_name

    @property
    def host(self) -> Optional[str]:
        """The endpoint URL: the one given, else botocore's configured one (``AWS_ENDPOINT_URL_DYNAMODB``...),
        resolved when the table object was made; ``None``: AWS's own endpoint for the region."""
        return self._store.host

    @property
    def region(self) -> Optional[str]:
        """The region: the one given, else botocore's (``AWS_DEFAULT_REGION``...), resolved when the table
        object was made (``None``: none configured)."""
        return self._store.region

    @property
    def settings(self) -> ConnectionSettings:
        """The connection settings every call of this table uses."""
        return self._store.settings

    @property
    def model(self) -> Type[M]:
        """The PynamoDB model bound to this table (``table.model.create_table(...)`` in tests)."""
        return self._store.model

    def clients(self) -> List[Any]:
        """The botocore clients this table sends on: its own, and its transactions' (to hook events on)."""
        return self._store.clients()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.table_name!r})"
