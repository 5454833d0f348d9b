"""``[dataset]`` and its sub-tables: the training-set generator's settings (re-exported by ``config.models``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from .common import MAX_CELLS, MAX_WEIGHT, ConfigPath, FloatRange, IntRange, Strict, _check_range


class FamilyMix(Strict):
    """Relative weights of the structure families; 0 leaves a family out."""

    dungeon: float = Field(
        2.0, ge=0, le=MAX_WEIGHT, description="BSP rooms joined by corridors, doors at room walls."
    )
    rooms_and_mazes: float = Field(
        1.5, ge=0, le=MAX_WEIGHT, description="Rooms in a pruned winding maze (classic roguelike)."
    )
    cave: float = Field(
        1.5, ge=0, le=MAX_WEIGHT, description="Cellular-automaton caves, every chamber tunnelled together."
    )
    maze: float = Field(
        1.0, ge=0, le=MAX_WEIGHT, description="Perfect mazes (recursive backtracker or Prim)."
    )
    corridor: float = Field(
        1.5, ge=0, le=MAX_WEIGHT, description="Long straight and turning corridors running off the edges."
    )
    text: float = Field(
        1.5, ge=0, le=MAX_WEIGHT, description="Framed text panels and terminal screens of real words."
    )
    mixed: float = Field(
        1.0, ge=0, le=MAX_WEIGHT, description="BSP layouts with caves grown inside some leaves."
    )

    @model_validator(mode="after")
    def _some_family(self) -> FamilyMix:
        if sum(self.weights().values()) <= 0:
            raise ValueError("at least one family needs a weight above 0")
        return self

    def weights(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in type(self).model_fields}


class DungeonParams(Strict):
    min_leaf: IntRange = Field(
        (9, 18),
        description="Smallest BSP leaf side in cells, drawn per image from [min, max]; smaller means more rooms.",
    )
    room_fill: FloatRange = Field(
        (0.45, 0.9), description="Room side as a share of its leaf side, drawn per room from [min, max]."
    )

    @model_validator(mode="after")
    def _ranges(self) -> DungeonParams:
        _check_range("room_fill", self.room_fill)
        _check_range("min_leaf", self.min_leaf)
        if self.min_leaf[0] < 6:
            raise ValueError("min_leaf min must be at least 6 (a room, its walls and a corridor)")
        if not (0 < self.room_fill[0] and self.room_fill[1] <= 1):
            raise ValueError("room_fill values must lie in (0, 1]")
        return self


class RoomsAndMazesParams(Strict):
    room_attempts: int = Field(
        60, ge=1, le=1000, description="Room placements tried; overlaps are discarded."
    )
    room_size: IntRange = Field((3, 11), description="Room side in cells [min, max], odd sizes are used.")
    extra_door_chance: float = Field(
        0.06, ge=0, le=1, description="Chance to open a redundant connector (loops)."
    )

    @model_validator(mode="after")
    def _ranges(self) -> RoomsAndMazesParams:
        _check_range("room_size", self.room_size)
        if self.room_size[0] < 3:
            raise ValueError("room_size min must be at least 3")
        return self


class CaveParams(Strict):
    fill: FloatRange = Field((0.47, 0.54), description="Initial rock share, drawn from [min, max].")
    iterations: int = Field(5, ge=1, le=20, description="Cellular-automaton smoothing passes (4-5 rule).")
    min_chamber: int = Field(12, ge=1, description="Open regions smaller than this many cells are filled in.")

    @model_validator(mode="after")
    def _ranges(self) -> CaveParams:
        _check_range("fill", self.fill)
        if not (0 < self.fill[0] and self.fill[1] < 1):
            raise ValueError("fill values must lie in (0, 1)")
        return self


class MazeParams(Strict):
    nodes: IntRange = Field((8, 31), description="Maze size in junction cells per side [min, max].")
    algorithms: list[str] = Field(
        ["backtracker", "prim"], min_length=1, description="Algorithms to draw from: backtracker, prim."
    )

    @field_validator("nodes")
    @classmethod
    def _fits_any_grid(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[1] > MAX_CELLS // 2:
            raise ValueError(f"max must be at most {MAX_CELLS // 2} (no grid holds more), got {list(v)}")
        return v

    @model_validator(mode="after")
    def _check(self) -> MazeParams:
        _check_range("nodes", self.nodes)
        if self.nodes[0] < 2:
            raise ValueError("nodes min must be at least 2")
        unknown = sorted(set(self.algorithms) - {"backtracker", "prim"})
        if unknown:
            raise ValueError(f"unknown maze algorithm {unknown}; allowed: backtracker, prim")
        return self


class CorridorParams(Strict):
    count: IntRange = Field((2, 4), description="Corridors per image [min, max].")
    width: IntRange = Field((1, 3), description="Corridor width in cells [min, max].")
    segment: IntRange = Field((6, 28), description="Straight run between turns in cells [min, max].")

    @field_validator("count")
    @classmethod
    def _few(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[1] > 64:
            raise ValueError(f"max must be at most 64 corridors per image, got {list(v)}")
        return v

    @field_validator("segment")
    @classmethod
    def _fits_any_grid(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[1] > MAX_CELLS:
            raise ValueError(f"max must be at most {MAX_CELLS} cells (no grid is wider), got {list(v)}")
        return v

    @model_validator(mode="after")
    def _ranges(self) -> CorridorParams:
        for name in ("count", "width", "segment"):
            _check_range(name, getattr(self, name))
        if self.count[0] < 1 or self.width[0] < 1 or self.segment[0] < 2:
            raise ValueError("count and width must be at least 1, segment at least 2")
        return self


class TextParams(Strict):
    terminal_chance: float = Field(
        0.4, ge=0, le=1, description="Share of text images drawn as terminal screens."
    )
    uppercase_chance: float = Field(0.3, ge=0, le=1, description="Share of panels written in capitals.")


class MixedParams(Strict):
    cave_leaf_chance: float = Field(
        0.45, ge=0, le=1, description="Chance that a BSP leaf holds a cave, not a room."
    )


class DatasetConfig(Strict):
    """``[dataset]``: what ``ascii-lora dataset`` draws."""

    count: int = Field(
        280,
        ge=1,
        le=1_000_000,
        description=(
            "Images to write. 280 gives 28 to 56 per family (by the mix weights); a 3000-step run at batch 2 sees each one "
            "about 21 times: enough repetition to learn the grid, enough variety not to memorize."
        ),
    )
    seed: int = Field(20261125, ge=0, description="Master seed; image i depends only on (seed, i).")
    out: ConfigPath = Field(
        "data/ascii_training_data", description="Output directory, relative to the working directory."
    )
    resolution: int = Field(
        1024, ge=64, le=4096, description="Image side in pixels; a multiple of cell_size."
    )
    cell_size: int = Field(16, description="Cell side in pixels: 16 = one FLUX token (VAE 8x, 2x2 patches).")
    outline_chance: float = Field(
        0.35, ge=0, le=1, description="Share of maps drawn with line walls, not brick blocks."
    )
    mix: FamilyMix = Field(default_factory=FamilyMix, description="Relative weight of each structure family.")
    dungeon: DungeonParams = Field(default_factory=DungeonParams, description="Dungeon (BSP) parameters.")
    rooms_and_mazes: RoomsAndMazesParams = Field(
        default_factory=RoomsAndMazesParams, description="Rooms-and-mazes parameters."
    )
    cave: CaveParams = Field(default_factory=CaveParams, description="Cave parameters (also used by mixed).")
    maze: MazeParams = Field(default_factory=MazeParams, description="Maze parameters.")
    corridor: CorridorParams = Field(default_factory=CorridorParams, description="Corridor parameters.")
    text: TextParams = Field(default_factory=TextParams, description="Text panel parameters.")
    mixed: MixedParams = Field(default_factory=MixedParams, description="Mixed layout parameters.")

    @model_validator(mode="after")
    def _geometry(self) -> DatasetConfig:
        if self.cell_size not in (8, 16, 32):
            raise ValueError(f"cell_size must be 8, 16 or 32 (16 matches a FLUX token), got {self.cell_size}")
        if self.resolution % self.cell_size:
            raise ValueError(f"resolution {self.resolution} is not a multiple of cell_size {self.cell_size}")
        if self.resolution // self.cell_size < 24:
            raise ValueError("resolution / cell_size must give at least 24 cells per side")
        n = self.cells
        for key, value, most, why in (
            (
                "corridor] width",
                self.corridor.width[1],
                (n - 1) // 2 - 2,
                "a corridor and its walls must fit twice across the grid",
            ),
            ("dungeon] min_leaf", self.dungeon.min_leaf[1], n, "a leaf cannot be larger than the grid"),
            (
                "rooms_and_mazes] room_size",
                self.rooms_and_mazes.room_size[1],
                n - 2,
                "a room and its walls must fit the grid",
            ),
            (
                "maze] nodes",
                self.maze.nodes[0],
                (n - 3) // 2,
                "the smallest maze must fit inside its outer wall",
            ),
            ("cave] min_chamber", self.cave.min_chamber, n * n, "no chamber is larger than the grid"),
        ):
            if value > most:
                raise ValueError(
                    f"[dataset.{key} {value} does not fit a grid of {n}x{n} cells (resolution {self.resolution} / "
                    f"cell_size {self.cell_size}): at most {most}; {why}"
                )
        return self

    @property
    def cells(self) -> int:
        return self.resolution // self.cell_size

    def content_fingerprint(self) -> dict[str, Any]:
        """Everything that decides what image i looks like: count, out and workers do not."""
        return self.model_dump(mode="json", exclude={"count", "out"})
