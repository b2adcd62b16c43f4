"""Tooling around the kit: the ``verticalkit`` CLI (``cli``), ``verticalkit new``
(``scaffold``) and the vertical conformance check (``testing``).

May import: anything in core/; never verticals/ (verticals are found through the registry).
"""
