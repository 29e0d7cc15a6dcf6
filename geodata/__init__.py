"""Geography: read units, check CRS and geometry, relate units (adjacency, distances), draw maps.

Nothing here imports a solver or a modelling library: geometry becomes numbers at this edge.
"""

from geodata.errors import GeodataError
from geodata.instance import Geography

__all__ = ["GeodataError", "Geography"]
