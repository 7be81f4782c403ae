"""A registry of named extensions: tasklet designs, scenarios, lock kinds.

Each kind of extension has one :class:`Registry`. An entry is registered
under its name (``cls.name``, ``cls.kind``...), once: a second registration of
the same name raises :class:`~taskletsim.core.config.ConfigError` unless
``replace=True`` is given. A registry also finds entries three other ways:

- the package's own (``builtins``, a module imported on first use, whose
  import registers them), so lower layers can look names up without
  importing the layer that defines them;
- entry points of a group (``taskletsim.designs``, ``taskletsim.scenarios``)
  of any installed distribution, loaded on first use, as pytest finds its
  plugins;
- ``package.module:Name``: the module is imported and the object registered,
  so a name can be handed to a worker process (spawned or forked) that has
  never seen the registration.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .config import ConfigError

T = TypeVar("T")

BUILTIN = "builtin"
ENTRY_POINT = "entry point"
USER = "user"


class Registry(Generic[T]):
    """Named objects of one kind, in registration order.

    ``key(obj)`` gives an object's name; ``check(obj)`` raises ``TypeError``
    for an object of the wrong kind. ``field`` names the configuration field
    in errors (``design``, ``scenario``, ``lock``).
    """

    def __init__(
        self,
        field: str,
        key: Callable[[T], str],
        *,
        builtins: str | None = None,
        group: str | None = None,
        check: Callable[[object], T] | None = None,
    ) -> None:
        self.field = field
        self._key = key
        self._builtins = builtins
        self._group = group
        self._check = check
        self._entries: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._builtins_loaded = builtins is None
        self._plugins_loaded = group is None

    # -- registering -----------------------------------------------------------

    def register(self, obj: T, *, replace: bool = False) -> T:
        """Register ``obj`` under its name and return it (usable as a class decorator).

        A name already taken by another object raises ``ConfigError`` unless
        ``replace`` is true.
        """
        self._load_builtins()
        return self._add(obj, replace, None)

    def _add(self, obj: T, replace: bool, origin: str | None) -> T:
        if self._check is not None:
            obj = self._check(obj)
        name = self._key(obj)
        if not isinstance(name, str) or not name or ":" in name:
            raise ConfigError(self.field, name, "a non-empty name without ':'")
        old = self._entries.get(name)
        if old is not None and old is not obj and not replace:
            raise ConfigError(
                self.field,
                name,
                f"a name not registered yet ({self._describe(name)} has it; "
                "pass replace=True to replace it)",
            )
        if origin is None:
            module = str(getattr(obj, "__module__", ""))
            origin = BUILTIN if module.startswith("taskletsim.") else USER
        self._entries[name] = obj
        self._origin[name] = origin
        return obj

    def _describe(self, name: str) -> str:
        obj = self._entries[name]
        where = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', '?')}"
        return f"the {self._origin[name]} {where}"

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests, or a notebook cell run again)."""
        self._entries.pop(name, None)
        self._origin.pop(name, None)

    # -- loading -----------------------------------------------------------------

    def _load_builtins(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True
            assert self._builtins is not None
            importlib.import_module(self._builtins)

    def _load(self) -> None:
        """Import the built-ins, then load the entry points, once."""
        self._load_builtins()
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in importlib.metadata.entry_points(group=str(self._group)):
            try:
                obj = ep.load()
            except Exception as error:
                raise ConfigError(
                    f"entry point {ep.name} ({self._group})",
                    ep.value,
                    f"an importable {self.field} ({type(error).__name__}: {error})",
                ) from None
            self._add(obj, False, ENTRY_POINT)

    # -- finding -----------------------------------------------------------------

    def resolve(self, name: str) -> T:
        """The object registered as ``name``, or imported from ``package.module:Name``."""
        self._load()
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        if isinstance(name, str) and ":" in name:
            return self._import(name)
        raise ConfigError(
            self.field, name, "one of " + ", ".join(self._entries) + " (or package.module:Name)"
        )

    def _import(self, spec: str) -> T:
        module_name, _, attr = spec.partition(":")
        try:
            found: object = importlib.import_module(module_name)
            for part in attr.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError, ValueError) as error:
            raise ConfigError(
                self.field, spec, f"package.module:Name naming an importable object ({error})"
            ) from None
        try:
            obj = self._check(found) if self._check is not None else found
        except TypeError as error:
            raise ConfigError(self.field, spec, str(error)) from None
        name = self._key(obj)  # type: ignore[arg-type]
        if self._entries.get(name) is not obj:
            self._add(obj, False, None)  # type: ignore[arg-type]
        return obj  # type: ignore[return-value]

    def names(self, *, builtin: bool | None = None) -> list[str]:
        """Registered names in registration order; ``builtin=True`` keeps only the
        package's own, ``builtin=False`` only the others."""
        self._load()
        return [
            n for n in self._entries if builtin is None or (self._origin[n] == BUILTIN) == builtin
        ]

    def origin(self, name: str) -> str:
        """Where ``name`` came from: ``builtin``, ``entry point`` or ``user``."""
        return self._origin[self._key(self.resolve(name))]

    def spec(self, name: str) -> str:
        """A name another process can resolve: ``module:qualname`` for an object
        registered from an importable module outside the package, else its name (a
        worker started by fork has every registration; one started by spawn re-runs
        ``__main__``, and with it the registrations of a script)."""
        obj = self.resolve(name)
        key = self._key(obj)
        module = str(getattr(obj, "__module__", ""))
        qualname = str(getattr(obj, "__qualname__", ""))
        loaded = sys.modules.get(module)
        importable = loaded is not None and getattr(loaded, "__spec__", None) is not None
        if (
            self._origin[key] == BUILTIN
            or module in ("__main__", "__mp_main__")
            or not importable
            or "<locals>" in qualname
        ):
            return key
        return f"{module}:{qualname}"

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __getitem__(self, name: str) -> T:
        self._load()
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)
