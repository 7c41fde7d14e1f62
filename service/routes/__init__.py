"""Routers of the service, one module per group; the app factory includes them.

``meta`` (municipalities, statistics, rules, export, health, metrics), ``lookup`` (address lookup and
autocomplete) and ``features`` (OGC API – Features) come first, in that order. Every other module
of this package that exposes a ``router`` (``tiles``, ``pages``, ``changes``, ...) is included after
them, alphabetically, so new route groups need no change to the factory. Earlier routes win: the
OGC landing page owns ``/``.
"""

#: Core routers, included first and in this order.
ROUTERS = ("meta", "lookup", "features")
