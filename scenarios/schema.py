"""The scenario schema (pydantic): every key a scenario may hold, with its meaning and default.

Strict: unknown keys are errors, models are frozen. scenarios/README.md documents each key and a
test checks that the documentation and this schema agree.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator


NAME_BYTES = 100  # a scenario name's length at most (UTF-8): it names a folder, file names stop at 255 bytes
COMPARE_FOLDER = "compare"  # `tplan compare` writes under output.dir/compare/: no scenario may take that name


class Strict(BaseModel):
    # Unit ids and names are text; an unquoted number in the YAML (a FIPS code, say) is taken as its text. No number
    # may be infinite or NaN (`--time-limit inf` ran without end and wrote Infinity, which is not JSON, to the manifest).
    # Switches and counts are strict (StrictBool, StrictInt): `contiguity: "no"` read as false and `count: true` as 1.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True, allow_inf_nan=False)


class SplitConfig(Strict):
    """Finer units (e.g. ZIP cells) that replace the units too large for a territory (mixed geography)."""

    path: str = Field(description="file of the finer units (same formats as units.path); each names its parent unit")
    id: str = Field(description="column holding the finer unit's id")
    parent: str = Field(description="column holding the id of the unit it lies in (e.g. the county FIPS code)")
    crs: str | None = Field(None, description="CRS of a file that has none (default: units.crs)")
    layer: str | None = Field(None, description="layer of a GeoPackage that holds several (default: its only layer)")
    lat: str | None = Field(None, description="latitude column of a CSV of points (default: latitude or lat)")
    lon: str | None = Field(None, description="longitude column of a CSV of points (default: longitude, lon or lng)")
    label: str | None = Field(None, description="column with a readable name for the finer units")
    prefix: str = Field("", description="text put before every finer id, so it cannot clash with a unit id")
    columns: dict[str, str] = Field(default_factory=dict, description="attribute -> the finer file's column that "
                                    "holds it, where the names differ (e.g. potential: county_potential)")
    units: list[str] = Field(default_factory=list, description="unit ids to split whatever their size")
    threshold: float = Field(0.5, gt=0, description="also split every unit whose value of a balance attribute is above "
                             "this share of a territory's maximum (1: only the units too large for any territory)")


class UnitsConfig(Strict):
    """Where the geographic units come from."""

    path: str = Field(description="GeoPackage, Shapefile, GeoJSON, or CSV with latitude/longitude; "
                      "relative to the scenario file, or package://PACKAGE/path inside an installed package")
    id: str = Field(description="column holding the unit id")
    crs: str | None = Field(None, description="CRS of a file that has none (e.g. EPSG:26916); CSV default EPSG:4326")
    layer: str | None = Field(None, description="layer of a GeoPackage that holds several (default: its only layer)")
    lat: str | None = Field(None, description="latitude column of a CSV (default: latitude or lat)")
    lon: str | None = Field(None, description="longitude column of a CSV (default: longitude, lon or lng)")
    label: str | None = Field(None, description="column with a readable unit name, used on maps")
    repair_geometry: StrictBool = Field(False, description="repair invalid polygons with make_valid instead of "
                                        "stopping")
    split: SplitConfig | None = Field(None, description="replace units too large for a territory by their finer units")


class AdjacencyConfig(Strict):
    """Which units touch."""

    method: Literal["queen", "rook"] = Field("queen", description="queen: a shared point is enough; rook: a shared edge")
    edges: str | None = Field(None, description="CSV with columns a,b that replaces the derived adjacency")
    remove: str | None = Field(None, description="CSV with columns a,b: barriers, pairs of touching units that must "
                               "not count as neighbours (a river, a mountain range, a state line)")


class DistancesConfig(Strict):
    """How far apart units are; by default from coordinates (km)."""

    matrix: str | None = Field(None, description="CSV with columns from,to,<value> (distance or drive time)")
    column: str | None = Field(None, description="value column of the matrix (default: the first other column)")
    unit: str = Field("minutes", description="unit of the matrix values (reports; coverage travel understands km, m, "
                      "mi, ft, minutes, seconds, hours)")


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


class LevelConfig(Strict):
    """One nesting level above the territories (e.g. regions, then districts within each region)."""

    name: str = Field(min_length=1, description="what a group of this level is called (region, district, ...)")
    count: StrictInt = Field(ge=1, description="groups of this level in each group of the level above (the top: in "
                             "all)")


class TerritoriesConfig(Strict):
    """How many territories, where they are centred, and units that must stay put."""

    count: StrictInt | None = Field(None, ge=1, description="number of territories (with reps: one per active, "
                                    "vacant or new-hire rep, so it may be left out)")
    centres: Literal["free"] | list[CentreConfig] = Field(
        "free", description="'free' lets the model choose each centre among its own units; or a list of centres"
    )
    names: list[str] | None = Field(None, description="territory names with free centres (default T01, T02, ...)")
    locked: dict[str, str] = Field(
        default_factory=dict, description="unit id -> territory name; free centres: same name together, names apart"
    )
    max_distance: float | None = Field(
        None, gt=0, description="no unit farther than this from its territory's centre (km from coordinates, or the "
        "unit of distances.matrix, e.g. minutes of drive time)")
    nesting: list[LevelConfig] = Field(
        default_factory=list, description="levels above the territories, coarsest first (e.g. 6 regions, 5 districts "
        "each); every group holds the same number of territories and is balanced and contiguous too")


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
    threads: StrictInt = Field(1, ge=1, description="cores the search may use (2 or more: a second process for the neighbourhood search and for the exact model; windows two at a time; the fixed-centre bound beside the search above 6,000 units)")
    seed: StrictInt = Field(0, ge=0, description="random seed (solver and heuristic)")
    options: dict[str, Any] = Field(default_factory=dict, description="engine-specific options passed through")


class OutputConfig(Strict):
    """Where runs go."""

    dir: str = Field("runs", description="folder for run folders, relative to the working directory")
    gis: list[Literal["shp", "geojson"]] = Field(default_factory=list, description="GIS formats to export besides "
                                                 "the GeoPackage (written always)")
    report: StrictBool = Field(True, description="write report.html (the self-contained interactive report)")

    @field_validator("dir")
    @classmethod
    def _not_empty(cls, folder: str) -> str:
        if not folder.strip():
            raise ValueError("is empty; give a folder (e.g. runs) or remove the key")
        return folder


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
    per_rep: StrictBool = Field(False, description="apply to each rep's own accounts instead of the total")


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


Channel = Literal["field", "tele", "online"]


class CurveConfig(Strict):
    """Response to contacts a year: the share of the customer's potential they return."""

    kind: Literal["saturating", "adbudg", "table"] = Field("saturating", description="saturating: 1 - exp(-n/scale); "
                                                           "adbudg: floor + (ceiling-floor) n^shape/(half^shape + n^shape); "
                                                           "table: (contacts, share) points")
    scale: float = Field(6.0, gt=0, description="saturating: contacts at which 63% of the potential is reached "
                         "(per customer potential / visit value instead, where the visit value is known)")
    floor: float = Field(0.0, ge=0, le=1, description="adbudg: share with no contact")
    ceiling: float = Field(1.0, gt=0, le=1, description="adbudg: share at saturation")
    shape: float = Field(1.0, gt=0, description="adbudg: exponent (above 1 the curve is S-shaped, not concave)")
    half: float = Field(6.0, gt=0, description="adbudg: contacts giving half the way from floor to ceiling")
    points: list[tuple[float, float]] = Field(default_factory=list, description="table: [contacts, share] pairs")
    allow_nonconcave: StrictBool = Field(False, description="accept a curve that is not concave (the model stays "
                                         "exact, but extra contacts may then look better than they are)")

    @model_validator(mode="after")
    def _table(self) -> CurveConfig:
        if self.kind == "table" and len(self.points) < 2:
            raise ValueError("a table curve needs at least two [contacts, share] points")
        if self.kind == "table" and min(p[0] for p in self.points) > 0:
            raise ValueError("a table curve needs a point at 0 contacts")
        if self.kind == "table" and any(not 0 <= share <= 1 or n < 0 for n, share in self.points):
            raise ValueError("a table curve's points are [contacts >= 0, share of the potential between 0 and 1]")
        return self


class SegmentConfig(Strict):
    """A customer segment by value index, with its rules and response curve."""

    name: str = Field(description="segment name, e.g. key, important, normal")
    top_share: float | None = Field(None, gt=0, le=1, description="the top share of customers by value index not in "
                                    "an earlier segment (0.05 = top 5%)")
    min_index: float | None = Field(None, ge=0, le=1, description="or: value index at least this (0-1)")
    channels: list[Channel] = Field(["field", "tele", "online"], min_length=1, description="channels allowed")
    min_contacts: float = Field(0.0, ge=0, description="fewest contacts a year")
    max_contacts: float | None = Field(None, ge=0, description="most contacts a year")
    response: CurveConfig = CurveConfig()


class ChannelConfig(Strict):
    cost_per_contact: float = Field(ge=0, description="money per contact")
    response: float = Field(1.0, ge=0, description="response relative to a field visit (field 1)")
    minutes_per_contact: float = Field(0.0, ge=0, description="time per contact, minutes")


class FieldConfig(ChannelConfig):
    minutes_per_contact: float = Field(60.0, ge=0, description="time at the customer per visit, minutes")
    working_days: float = Field(200.0, gt=0, description="days a rep works a year (reps.capacity overrides)")
    hours_per_day: float = Field(8.0, gt=0, le=24, description="hours a working day")
    speed_kmh: float = Field(60.0, gt=0, description="average road speed")
    circuity: float = Field(1.3, ge=1, description="road distance / straight-line distance")
    visits_per_trip: float = Field(3.0, ge=1, description="visits sharing one trip from home")
    local_km: float = Field(10.0, ge=0, description="distance added within a unit (a customer in the rep's home unit still needs travel)")


class TeleConfig(ChannelConfig):
    response: float = Field(0.5, ge=0, description="response relative to a field visit")
    minutes_per_contact: float = Field(15.0, ge=0, description="time per call, minutes")
    capacity_hours: float | None = Field(None, ge=0, description="hours the tele team has a year (none: no limit)")
    capacity_contacts: float | None = Field(None, ge=0, description="or: calls the team can make a year")

    @model_validator(mode="after")
    def _capacity(self) -> TeleConfig:
        if self.capacity_hours is not None and self.capacity_contacts is not None:
            raise ValueError("give capacity_hours or capacity_contacts, not both (to replace one a base scenario gives "
                             "through extends, set it to null: capacity_hours: null)")
        if self.capacity_contacts is not None and self.minutes_per_contact <= 0:
            raise ValueError("capacity_contacts needs minutes_per_contact > 0 (calls are counted through their time)")
        return self

    def hours(self) -> float | None:
        """The team's hours a year, from hours or from calls x minutes per call."""
        if self.capacity_contacts is not None:
            return self.capacity_contacts * self.minutes_per_contact / 60.0
        return self.capacity_hours


class OnlineConfig(ChannelConfig):
    response: float = Field(0.15, ge=0, description="response relative to a field visit")


class CoverageDataConfig(Strict):
    """Per-customer coverage columns, in the accounts file or a CSV joined by account id."""

    path: str | None = Field(None, description="CSV joined to the accounts by id (default: the accounts file)")
    id: str = Field("account_id", description="account id column of that CSV")
    visit_value: str | None = Field(None, description="column: expected contribution per visit, where known")
    channel: str | None = Field(None, description="column: today's channel (field, tele, online; blank: none today)")
    contacts: str | None = Field(None, description="column: today's contacts a year")
    keep_channel: str | None = Field(None, description="column flagging customers that must keep today's channel")


class CoverageConfig(Strict):
    """Channel and contacts a year per customer, under the reps' and the tele team's hours."""

    data: CoverageDataConfig = CoverageDataConfig()
    value_index: dict[str, float] = Field({"potential": 1.0}, description="weights of min-max normalised columns "
                                          "(potential, relationship or any numeric column of the coverage data)")
    segments: list[SegmentConfig] = Field(description="from most to least valuable; the last takes the rest")
    levels: list[float] = Field([0, 1, 2, 4, 6, 12, 24, 52], description="contacts a year a customer may get")
    field: FieldConfig
    tele: TeleConfig
    online: OnlineConfig
    reps_from: Literal["plan", "current"] = Field("plan", description="customers' reps from the new plan or today's")
    time_limit: float | None = Field(None, gt=0, description="seconds (default: solver.time_limit)")
    rel_gap: float = Field(1e-3, ge=0, lt=1, description="stop when proven within this relative gap")

    @model_validator(mode="after")
    def _segments(self) -> CoverageConfig:
        if not self.segments:
            raise ValueError("list at least one segment")
        names = [s.name for s in self.segments]
        if len(set(names)) < len(names):
            raise ValueError("segment names must be unique")
        if any(s.top_share is not None and s.min_index is not None for s in self.segments):
            raise ValueError("a segment takes top_share or min_index, not both")
        last = self.segments[-1]
        if last.top_share is not None or last.min_index is not None:
            raise ValueError(f"the last segment ({last.name}) takes the rest: remove its top_share/min_index")
        if not self.levels:
            raise ValueError("levels: list the contacts a year a customer may get, e.g. [0, 1, 2, 4, 12]")
        if any(lv < 0 for lv in self.levels) or len(set(self.levels)) < len(self.levels):
            raise ValueError("levels must be distinct and non-negative")
        if any(w < 0 for w in self.value_index.values()) or not any(w > 0 for w in self.value_index.values()):
            raise ValueError("value_index: weights must be >= 0 and at least one above 0 (all zero ranks no customer "
                             "above another)")
        for s in self.segments:
            if s.max_contacts is not None and s.max_contacts < s.min_contacts:
                raise ValueError(f"segment {s.name}: max_contacts is below min_contacts")
        return self


class SweepConfig(Strict):
    """A grid of capacity options run by `tplan sweep` (command-line --set replaces `values`)."""

    values: dict[str, list[Any] | str] = Field(description="scenario key -> list of values, or 'lo..hi' for integers")
    workers: StrictInt | None = Field(None, ge=1, description="local worker processes (default: the machine's cores)")
    time_limit: float | None = Field(None, gt=0, description="seconds per point (default: solver.time_limit)")
    dask: str | None = Field(None, description="Dask scheduler address, e.g. tcp://host:8786 (default: local workers)")


class Scenario(Strict):
    """A territory design run, fully described."""

    name: str | None = Field(None, description="scenario name (default: the file name without .yaml)")
    description: str | None = Field(None, description="free text shown in reports")
    units: UnitsConfig
    adjacency: AdjacencyConfig = AdjacencyConfig()
    distances: DistancesConfig = DistancesConfig()
    territories: TerritoriesConfig = TerritoriesConfig()
    balance: list[BalanceConfig] = Field(default_factory=list, description="balanced attributes")
    contiguity: StrictBool = Field(True, description="every territory one connected piece")
    objective: ObjectiveConfig = ObjectiveConfig()
    solver: SolverConfig = SolverConfig()
    output: OutputConfig = OutputConfig()
    reps: RepsConfig | None = Field(None, description="reps, for a redesign of an existing alignment")
    alignment: AlignmentConfig | None = Field(None, description="today's unit -> rep alignment (with reps)")
    accounts: AccountsConfig | None = Field(None, description="customer accounts (with reps)")
    disruption: DisruptionConfig | None = Field(None, description="disruption price and limits (with reps)")
    coverage: CoverageConfig | None = Field(None, description="channel and contacts per customer (with reps)")
    sweep: SweepConfig | None = Field(None, description="capacity options for `tplan sweep`")

    @field_validator("name")
    @classmethod
    def _folder_name(cls, name: str | None) -> str | None:
        """The name is the run folder's under output.dir: it may not leave it, hide it or be empty."""
        if name is None:
            return name
        if not name.strip():
            raise ValueError("is empty; give a name (it names the run folder) or remove the key to use the file name")
        if any(c in name for c in '/\\<>:"|?*') or name.strip().startswith(".") or any(ord(c) < 32 for c in name):
            shown = "".join(c if ord(c) >= 32 else "?" for c in name)  # a newline in it would break the one-line error
            raise ValueError(f"'{shown}' names the run folder, so it cannot hold / \\ < > : \" | ? * or start with '.'; "
                             "use letters, digits, spaces, - and _ (e.g. option_A-B)")
        if name.strip().casefold() == COMPARE_FOLDER:
            raise ValueError(f"'{name}' is the folder `tplan compare` writes to; give the scenario another name "
                             "(the name key, or another file name)")
        if len(name.encode()) > NAME_BYTES:  # (a sweep point's folder adds its keys and values to it)
            raise ValueError(f"is {len(name.encode())} bytes long; at most {NAME_BYTES}, since it names the run folder "
                             "(a longer name failed only when the run was written)")
        return name

    @model_validator(mode="after")
    def _redesign_parts(self) -> Scenario:
        parts = {"reps": self.reps, "alignment": self.alignment, "accounts": self.accounts}
        given = [k for k, v in parts.items() if v is not None]
        if given and len(given) < 3:
            missing = ", ".join(k for k in parts if k not in given)
            raise ValueError(f"a redesign needs reps, alignment and accounts; add {missing}")
        if self.disruption is not None and not given:
            raise ValueError("disruption needs reps, alignment and accounts")
        if self.coverage is not None and not given:
            raise ValueError("coverage needs reps, alignment and accounts (the customers)")
        if not given and self.territories.count is None:
            raise ValueError("territories.count is required (unless reps are given)")
        if given and self.territories.centres != "free":
            raise ValueError("with reps, territories are centred on the reps' homes; remove territories.centres")
        if given and self.territories.names is not None:
            raise ValueError("with reps, territories take the reps' names; remove territories.names")
        return self
