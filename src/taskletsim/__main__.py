"""``python -m taskletsim``."""

from .cli import main

raise SystemExit(main())
