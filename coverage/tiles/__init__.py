"""Map tiles of a release: vector tiles (MVT) of its tables and PNG tiles of its rasters.

:class:`TileSet` is what the service holds per loaded release: one :class:`VectorTiler`
(municipalities, zones, addresses and grid cells, per pool rule set) and one :class:`RasterTiler`
(the mobile model's COGs with their colour maps), behind one namespace of layer ids. Nothing here
knows about HTTP: a missing layer or tile raises ``coverage.errors``; an empty tile is ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coverage.errors import NotFoundError
from coverage.release import Release
from coverage.tiles.common import (
    TILE_SCHEMA_VERSION,
    TMS,
    LayerInfo,
    check_tile,
    tile_key,
    tilejson,
)
from coverage.tiles.raster import ColourBand, ColourScale, RasterSource, RasterTiler, colour_scale
from coverage.tiles.vector import VectorTiler


@dataclass
class TileSet:
    """The vector and raster tile layers of one release."""

    release_id: str
    vector: VectorTiler
    raster: RasterTiler

    @classmethod
    def from_release(cls, release: Release) -> TileSet:
        """Read, assess and index a release's tile layers (scripts, benchmarks)."""
        return cls(release.id, VectorTiler.from_release(release), RasterTiler.from_release(release))

    def layers(self) -> list[LayerInfo]:
        """Every layer: vector layers first, then rasters (a raster never shadows a vector id)."""
        return [
            *self.vector.layers(),
            *(i for i in self.raster.layers() if i.id not in self.vector.infos),
        ]

    def layer(self, name: str, rules: str | None = None) -> LayerInfo:
        """A layer by id, or by family name and rule key for rule-dependent vector layers."""
        if name in self.raster.infos and name not in self.vector.infos:
            return self.raster.infos[name]
        try:
            return self.vector.layer(name, rules)
        except NotFoundError as exc:
            known = exc.suggestions or [{"id": i.id, "text": i.title} for i in self.layers()]
            raise NotFoundError(str(exc), known) from None

    def tile(self, info: LayerInfo, z: int, x: int, y: int) -> bytes | None:
        """The bytes of a tile of a resolved layer (MVT or PNG), or None when it is empty."""
        if info.kind == "raster":
            return self.raster.tile(info.id, z, x, y)
        return self.vector.tile(info.id, z, x, y)

    def legend(self, name: str) -> dict[str, Any]:
        """A raster layer's legend; vector layers are styled by the client and have none."""
        info = self.layer(name)
        if info.kind != "raster":
            raise NotFoundError(
                f"layer {name!r} is a vector layer: style it from its fields (see its TileJSON); "
                "legends exist for raster layers",
                [{"id": i.id, "text": i.title} for i in self.raster.layers()],
            )
        return self.raster.legend(info.id)

    def key(self, info: LayerInfo, z: int, x: int, y: int) -> str:
        """The identity of a tile's contents (for an ETag)."""
        return tile_key(self.release_id, info.id, z, x, y)


__all__ = [
    "TILE_SCHEMA_VERSION",
    "TMS",
    "ColourBand",
    "ColourScale",
    "LayerInfo",
    "RasterSource",
    "RasterTiler",
    "TileSet",
    "VectorTiler",
    "check_tile",
    "colour_scale",
    "tile_key",
    "tilejson",
]
