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

    count: int | None = Field(None, ge=1, description="number of territories (with reps: one per active, vacant or "
                              "new-hire rep, so it may be left out)")
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


class NewRepConfig(Strict):
    """A rep added by the scenario (a new hire, a vacancy to fill): not in the reps file."""

    id: str = Field(description="rep id")
    name: str | None = Field(None, description="rep name (default: the id)")
    unit: str | None = Field(None, description="unit id of the home")
    lat: float | None = Field(None, ge=-90, le=90, description="home latitude (WGS84)")
    lon: float | None = Field(None, ge=-180, le=180, description="home longitude (WGS84)")
    status: Literal["new_hire", "vacant", "active"] = Field("new_hire", description="new_hire, vacant or active")

    @model_validator(mode="after")
    def _one_location(self) -> NewRepConfig:
        if (self.unit is None) == (self.lat is None or self.lon is None):
            raise ValueError("give either unit or both lat and lon")
        return self


class RepsConfig(Strict):
    """The sales reps: one territory per active, vacant or new-hire rep, centred on the rep's home."""

    path: str = Field(description="CSV with one row per rep")
    id: str = Field("rep_id", description="column with the rep id")
    name: str | None = Field(None, description="column with the rep name (default: the id)")
    lat: str | None = Field(None, description="column with the home latitude (WGS84)")
    lon: str | None = Field(None, description="column with the home longitude (WGS84)")
    unit: str | None = Field(None, description="column with the home unit id (instead of lat/lon)")
    status: str | None = Field(None, description="column with the status: active, vacant, new_hire or leaving "
                               "(default: all active)")
    capacity: str | None = Field(None, description="column with the rep's capacity (working days), for reports")
    set_status: dict[str, Literal["active", "vacant", "new_hire", "leaving"]] = Field(
        default_factory=dict, description="rep id -> status, overriding the file (headcount scenarios)")
    add: list[NewRepConfig] = Field(default_factory=list, description="reps not in the file (new hires)")

    @model_validator(mode="after")
    def _home(self) -> RepsConfig:
        if (self.unit is None) == (self.lat is None or self.lon is None):
            raise ValueError("name either the unit column or both the lat and lon columns of the homes")
        return self


class AlignmentConfig(Strict):
    """Today's alignment: which rep each unit belongs to."""

    path: str | None = Field(None, description="CSV with a unit column and a rep column")
    unit: str = Field("unit", description="unit id column of the CSV")
    rep: str = Field("rep_id", description="rep id column of the CSV")
    column: str | None = Field(None, description="instead of a CSV: the units file's column holding the rep id")

    @model_validator(mode="after")
    def _one_source(self) -> AlignmentConfig:
        if (self.path is None) == (self.column is None):
            raise ValueError("give either path (a CSV) or column (of the units file)")
        return self


class AccountsConfig(Strict):
    """Customer accounts, joined to the units they lie in."""

    path: str = Field(description="CSV with one row per account")
    id: str = Field("account_id", description="column with the account id")
    lat: str | None = Field(None, description="latitude column (WGS84); accounts outside every unit go to the nearest")
    lon: str | None = Field(None, description="longitude column (WGS84)")
    unit: str | None = Field(None, description="column with the unit id (instead of lat/lon)")
    rep: str = Field("rep_id", description="column with the current rep id")
    relationship: str = Field("relationship", description="column with the relationship value with the current rep")
    potential: str = Field("potential", description="column with the account's potential")
    key: str | None = Field(None, description="column flagging key accounts (true/false, 1/0)")
    locked: str | None = Field(None, description="column flagging accounts that stay with their rep even if their "
                               "unit moves (exceptions)")
    aggregate: dict[str, str] = Field(
        default_factory=dict, description="unit attribute -> account column summed per unit, or 'count' "
        "(e.g. potential: potential, accounts: count); usable in balance and objective.weight")

    @model_validator(mode="after")
    def _location(self) -> AccountsConfig:
        if (self.unit is None) == (self.lat is None or self.lon is None):
            raise ValueError("name either the unit column or both the lat and lon columns")
        return self


Measure = Literal["accounts", "potential", "relationship"]


class DisruptionLimitConfig(Strict):
    """At most `max_share` of a measure may change rep, over all reps or for every rep."""

    measure: Measure = Field(description="accounts, potential or relationship")
    max_share: float = Field(ge=0, le=1, description="largest share that may change rep, 0.1 = 10%")
    per_rep: bool = Field(False, description="apply to each rep's own accounts instead of the total")


class TradeoffConfig(Strict):
    """A frontier of compactness and balance against disruption: one solve per point."""

    weights: list[float] | None = Field(None, description="disruption weights to try (each >= 0)")
    max_shares: list[float] | None = Field(None, description="overall limits on the disruption measure to try (0-1)")
    time_limit: float | None = Field(None, gt=0, description="seconds per point (default: solver.time_limit)")

    @model_validator(mode="after")
    def _one_axis(self) -> TradeoffConfig:
        points = [p for p in (self.weights, self.max_shares) if p is not None]
        if len(points) != 1 or not points[0]:
            raise ValueError("give a non-empty list of either weights or max_shares")
        if any(w < 0 for w in self.weights or []) or any(not 0 <= s <= 1 for s in self.max_shares or []):
            raise ValueError("weights must be >= 0 and max_shares between 0 and 1")
        return self


class DisruptionConfig(Strict):
    """How much keeping today's relationships matters: a price in the objective and/or hard limits."""

    weight: float = Field(0.0, ge=0, description="price of disruption; 1 = losing all of the measure costs as much "
                          "as today's whole compactness")
    measure: Measure = Field("relationship", description="what the weight prices: accounts, potential or relationship")
    limits: list[DisruptionLimitConfig] = Field(default_factory=list, description="hard limits on what may change rep")
    tradeoff: TradeoffConfig | None = Field(None, description="also solve these points and write the frontier")


class Scenario(Strict):
    """A territory design run, fully described."""

    name: str | None = Field(None, description="scenario name (default: the file name without .yaml)")
    description: str | None = Field(None, description="free text shown in reports")
    units: UnitsConfig
    adjacency: AdjacencyConfig = AdjacencyConfig()
    distances: DistancesConfig = DistancesConfig()
    territories: TerritoriesConfig = TerritoriesConfig()
    balance: list[BalanceConfig] = Field(default_factory=list, description="balanced attributes")
    contiguity: bool = Field(True, description="every territory one connected piece")
    objective: ObjectiveConfig = ObjectiveConfig()
    solver: SolverConfig = SolverConfig()
    output: OutputConfig = OutputConfig()
    reps: RepsConfig | None = Field(None, description="reps, for a redesign of an existing alignment")
    alignment: AlignmentConfig | None = Field(None, description="today's unit -> rep alignment (with reps)")
    accounts: AccountsConfig | None = Field(None, description="customer accounts (with reps)")
    disruption: DisruptionConfig | None = Field(None, description="disruption price and limits (with reps)")

    @model_validator(mode="after")
    def _redesign_parts(self) -> Scenario:
        parts = {"reps": self.reps, "alignment": self.alignment, "accounts": self.accounts}
        given = [k for k, v in parts.items() if v is not None]
        if given and len(given) < 3:
            missing = ", ".join(k for k in parts if k not in given)
            raise ValueError(f"a redesign needs reps, alignment and accounts; add {missing}")
        if self.disruption is not None and not given:
            raise ValueError("disruption needs reps, alignment and accounts")
        if not given and self.territories.count is None:
            raise ValueError("territories.count is required (unless reps are given)")
        if given and self.territories.centres != "free":
            raise ValueError("with reps, territories are centred on the reps' homes; remove territories.centres")
        if given and self.territories.names is not None:
            raise ValueError("with reps, territories take the reps' names; remove territories.names")
        return self
