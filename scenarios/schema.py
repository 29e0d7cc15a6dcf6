"""The scenario schema (pydantic): every key a scenario may hold, with its meaning and default.

Strict: unknown keys are errors, models are frozen. scenarios/README.md documents each key and a
test checks that the documentation and this schema agree.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnitsConfig(Strict):
    """Where the geographic units come from."""

    path: str = Field(description="GeoPackage, Shapefile, GeoJSON, or CSV with latitude/longitude; "
                      "relative to the scenario file, or package://PACKAGE/path inside an installed package")
    id: str = Field(description="column holding the unit id")
    crs: str | None = Field(None, description="CRS of a file that has none (e.g. EPSG:26916); CSV default EPSG:4326")
    lat: str | None = Field(None, description="latitude column of a CSV (default: latitude or lat)")
    lon: str | None = Field(None, description="longitude column of a CSV (default: longitude, lon or lng)")
    label: str | None = Field(None, description="column with a readable unit name, used on maps")
    repair_geometry: bool = Field(False, description="repair invalid polygons with make_valid instead of stopping")


class AdjacencyConfig(Strict):
    """Which units touch."""

    method: Literal["queen", "rook"] = Field("queen", description="queen: a shared point is enough; rook: a shared edge")
    edges: str | None = Field(None, description="CSV with columns a,b that replaces the derived adjacency")


class DistancesConfig(Strict):
    """How far apart units are; by default from coordinates (km)."""

    matrix: str | None = Field(None, description="CSV with columns from,to,<value> (distance or drive time)")
    column: str | None = Field(None, description="value column of the matrix (default: the first other column)")
    unit: str = Field("minutes", description="unit of the matrix values, for reports")


class CentreConfig(Strict):
    """A fixed territory centre: a unit id, or a home location mapped to the unit containing it."""

    name: str | None = Field(None, description="territory name (default T01, T02, ...)")
    unit: str | None = Field(None, description="unit id of the centre")
    lat: float | None = Field(None, ge=-90, le=90, description="latitude of a home (WGS84)")
    lon: float | None = Field(None, ge=-180, le=180, description="longitude of a home (WGS84)")

    @model_validator(mode="after")
    def _one_location(self) -> CentreConfig:
        has_point = self.lat is not None and self.lon is not None
        if (self.unit is None) == (not has_point):
            raise ValueError("give either unit or both lat and lon")
        return self


class TerritoriesConfig(Strict):
    """How many territories, where they are centred, and units that must stay put."""

    count: int = Field(ge=1, description="number of territories")
    centres: Literal["free"] | list[CentreConfig] = Field(
        "free", description="'free' lets the model choose each centre among its own units; or a list of centres"
    )
    names: list[str] | None = Field(None, description="territory names with free centres (default T01, T02, ...)")
    locked: dict[str, str] = Field(
        default_factory=dict, description="unit id -> territory name; free centres: same name together, names apart"
    )


class BalanceConfig(Strict):
    """One balanced attribute: a relative tolerance around the mean, or absolute bounds."""

    attribute: str = Field(description="numeric unit column to balance (e.g. potential, workload)")
    tolerance: float | None = Field(None, gt=0, lt=1, description="relative tolerance around the mean, 0.05 = ±5%")
    min: float | None = Field(None, ge=0, description="absolute lower bound per territory")
    max: float | None = Field(None, gt=0, description="absolute upper bound per territory")

    @model_validator(mode="after")
    def _one_kind(self) -> BalanceConfig:
        absolute = self.min is not None or self.max is not None
        if (self.tolerance is None) == (not absolute):
            raise ValueError("give either tolerance or min/max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is larger than max")
        return self


class ObjectiveConfig(Strict):
    """Compactness: sum over units of weight x distance to the territory centre ** power."""

    weight: str | None = Field(None, description="unit column used as weight (default 1 for every unit)")
    power: Literal[1, 2] = Field(2, description="2: moment of inertia (classic); 1: weighted distance")


class SolverConfig(Strict):
    """Engine and its standard options."""

    engine: Literal["highs"] = Field("highs", description="solver engine")
    time_limit: float = Field(60.0, gt=0, description="seconds for the whole search; the best plan is kept")
    rel_gap: float = Field(1e-4, ge=0, lt=1, description="stop when proven within this relative gap")
    threads: int = Field(1, ge=1, description="solver threads")
    seed: int = Field(0, ge=0, description="random seed (solver and heuristic)")
    options: dict[str, Any] = Field(default_factory=dict, description="engine-specific options passed through")


class OutputConfig(Strict):
    """Where runs go."""

    dir: str = Field("runs", description="folder for run folders, relative to the working directory")


class Scenario(Strict):
    """A territory design run, fully described."""

    name: str | None = Field(None, description="scenario name (default: the file name without .yaml)")
    description: str | None = Field(None, description="free text shown in reports")
    units: UnitsConfig
    adjacency: AdjacencyConfig = AdjacencyConfig()
    distances: DistancesConfig = DistancesConfig()
    territories: TerritoriesConfig
    balance: list[BalanceConfig] = Field(default_factory=list, description="balanced attributes")
    contiguity: bool = Field(True, description="every territory one connected piece")
    objective: ObjectiveConfig = ObjectiveConfig()
    solver: SolverConfig = SolverConfig()
    output: OutputConfig = OutputConfig()
