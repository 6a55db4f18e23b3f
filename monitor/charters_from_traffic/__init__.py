"""Charters from observed behaviour: ``mcpmon map``, ``charter suggest``, ``charter diff``, what-if.

Tight charters cost operators time; this package makes the tight charter the
cheap one. :mod:`.traffic` reads recorded events once into a compact picture per
agent; :mod:`.map` draws it; :mod:`.suggest` turns it into a least-privilege
charter with its evidence on every line; :mod:`.diff` says what a charter change
grants or removes; :mod:`.whatif` replays past traffic under the current and the
proposed charters with the one detection engine; :mod:`.evaluation` measures
suggest on the simulator. None of it detects anything itself.
"""
