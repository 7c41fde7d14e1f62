"""The peers of the tile benchmarks (bench/bench_tiles.py): TiTiler and PostGIS ``ST_AsMVT``.

* TiTiler as its documentation sets it up (``TilerFactory`` under ``/cog``), served by uvicorn
  with ``--factory bench.peers_tiles:create_titiler_app``;
* a private PostgreSQL + PostGIS cluster on 127.0.0.1 (``scripts/pg-test-cluster.sh`` with a
  folder and port of its own), loaded with the release's zones, address points and the DDKN cells
  netkort gathers addresses on, queried with ``ST_AsMVT`` from psycopg or from a minimal FastAPI
  route (``--factory bench.peers_tiles:create_postgis_app``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common import free_port

REPO = Path(__file__).resolve().parent.parent


def titiler_available() -> str | None:
    """None when TiTiler can run here, else why not."""
    if (
        importlib.util.find_spec("titiler") is None
        or importlib.util.find_spec("titiler.core") is None
    ):
        return "titiler.core is not installed (pip install --only-binary=:all: titiler.core==2.4.0)"
    return None


def create_titiler_app() -> Any:
    """TiTiler as its docs set it up: ``TilerFactory`` under ``/cog`` plus its error handlers."""
    from fastapi import FastAPI
    from titiler.core.errors import DEFAULT_STATUS_CODES, add_exception_handlers
    from titiler.core.factory import TilerFactory

    app = FastAPI(title="TiTiler (benchmark peer)")
    cog = TilerFactory(router_prefix="/cog")
    app.include_router(cog.router, prefix="/cog")
    add_exception_handlers(app, DEFAULT_STATUS_CODES)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def titiler_colormap(scale: Any) -> str:
    """A netkort colour scale as TiTiler's interval ``colormap`` parameter (JSON): the same
    ``[min, max)`` bands and the same RGBA."""
    return json.dumps([[[b.min, b.max], list(b.rgba)] for b in scale.bands])


PG_SCRIPT = REPO / "scripts" / "pg-test-cluster.sh"
MVT = "application/vnd.mapbox-vector-tile"
#: Columns of the PostGIS tables that are not tile properties.
_NOT_PROPERTIES = ("geom", "rank", "east", "north")


def postgis_available() -> str | None:
    """None when a private PostGIS cluster can be started here, else why not."""
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed"
    if not PG_SCRIPT.exists():
        return f"{PG_SCRIPT.relative_to(REPO)} is missing"
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return "no PostgreSQL server (apt-get install postgresql postgresql-15-postgis-3)"
    if not list(Path("/usr/share/postgresql").glob("*/extension/postgis.control")):
        return "no PostGIS extension (apt-get install postgresql-15-postgis-3)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root, and runuser (to run PostgreSQL as postgres) is missing"
    return None


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def postgis_cluster() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (``scripts/pg-test-cluster.sh`` with a folder
    and port of its own, so another cluster on the machine is never touched); yields its URL and
    stops and deletes it on the way out, also on SIGTERM."""
    folder = Path(tempfile.mkdtemp(prefix="netkort-bench-pg-"))
    env = {
        **os.environ,
        "NETKORT_PG_DIR": str(folder),
        "NETKORT_PG_PORT": str(free_port()),
        "NETKORT_PG_DB": "netkort_bench",
    }

    def script(action: str, check: bool = True) -> str:
        done = subprocess.run(
            ["bash", str(PG_SCRIPT), action, str(folder)],
            env=env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise RuntimeError(f"pg-test-cluster.sh {action} failed:\n{done.stderr[-2000:]}")
        return done.stdout.strip()

    previous = None
    try:  # a SIGTERM (bench.common's parent, a CI timeout) still stops the cluster
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: nothing to install
        pass
    try:
        yield script("start").splitlines()[-1]
    finally:
        script("stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _copy_frame(conn: Any, table: str, frame: pd.DataFrame, geometry: np.ndarray) -> None:
    """CREATE TABLE from a frame's dtypes and COPY it in as CSV, geometry as hex EWKB (25832)."""
    import shapely

    types = []
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            sql = "boolean"
        elif pd.api.types.is_integer_dtype(dtype):
            sql = "bigint"
        elif pd.api.types.is_float_dtype(dtype):
            sql = "double precision"
        else:
            sql = "text"
        types.append(f'"{name}" {sql}')
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} ({', '.join(types)}, geom geometry)")
    out = frame.copy()
    out["geom"] = shapely.to_wkb(shapely.set_srid(geometry, 25832), hex=True, include_srid=True)
    columns = ", ".join(f'"{c}"' for c in out.columns)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as cp:
        step = 100_000
        for start in range(0, len(out), step):
            cp.write(out.iloc[start : start + step].to_csv(header=False, index=False))
    conn.execute(f"CREATE INDEX ON {table} USING gist (geom)")


def _address_frame(tiler: Any, rid: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The address points with the properties netkort's address layer carries, and a rank by
    :data:`CLASS_PRIORITY` for gathering them on cells."""
    import shapely

    from coverage.tiles.vector import CLASS_PRIORITY

    a = tiler.addresses
    x, y = shapely.get_x(a.geometry.array), shapely.get_y(a.geometry.array)
    rows = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    a = a.iloc[rows]
    s = tiler.assessments[rid].iloc[rows]
    rank = pd.Categorical(s["class"].astype("string"), categories=CLASS_PRIORITY).codes
    generated = a["generated"].fillna(False).to_numpy(bool)
    if "generated" in s.columns:
        generated = generated | s["generated"].fillna(False).to_numpy(bool)
    frame = pd.DataFrame(
        {
            "id": a["id"].astype("string").to_numpy(),
            "address": (
                a["vejnavn"].astype("string") + " " + a["husnr"].astype("string") + ", "
                + a["postnr"].astype("string") + " " + a["postnrnavn"].astype("string")
            ).to_numpy(),
            "kommunekode": a["kommunekode"].astype("string").to_numpy(),
            "count": np.ones(len(rows), dtype="int64"),
            "class": s["class"].astype("string").to_numpy(),
            "best_down": s["best_down"].to_numpy("float64", na_value=np.nan),
            "best_up": s["best_up"].to_numpy("float64", na_value=np.nan),
            "mobile_down": s["mobile_down"].to_numpy("float64", na_value=np.nan),
            "generated": generated,
            "best_tech": s["best_tech"].astype("string").to_numpy(),
            "rank": np.where(rank < 0, len(CLASS_PRIORITY) - 1, rank).astype("int64"),
            "east": x[rows],
            "north": y[rows],
        }
    )  # fmt: skip
    return frame, np.asarray(a.geometry.array)


def load_postgis(url: str, tiler: Any, rid: str) -> dict[str, int]:
    """The tiler's zones and addresses of rule set ``rid`` into PostGIS, plus the DDKN cell tables
    netkort gathers addresses on below zoom 14 (same counts, class by priority, lowest speeds,
    mean position); GiST indexes; ANALYZE. JIT is switched off for the database, as tile servers
    on PostGIS advise (it adds tens of ms to short queries the planner thinks are dear)."""
    import psycopg

    from coverage.tiles.vector import ADDRESS_CELLS, CLASS_PRIORITY

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute("ALTER DATABASE netkort_bench SET jit = off")
        zones = tiler.zones[rid].rename(columns={"label": "rule_set"})
        fields = list(tiler.infos[f"zones-{rid}"].fields["zones"])
        _copy_frame(
            conn,
            "zones",
            pd.DataFrame(zones[[c for c in fields if c in zones.columns]]),
            np.asarray(zones.geometry.array),
        )
        frame, points = _address_frame(tiler, rid)
        _copy_frame(conn, "addresses", frame, points)
        counts = {"zones": len(zones), "addresses": len(frame)}
        eligible = CLASS_PRIORITY.index("eligible_if_zone") + 1
        no_data = CLASS_PRIORITY.index("no_data")
        classes = "ARRAY[" + ", ".join(f"'{c}'" for c in CLASS_PRIORITY) + "]"
        for _, size in ADDRESS_CELLS:
            prefix = f"{size // 1000}km" if size >= 1000 else f"{size}m"
            conn.execute(f"DROP TABLE IF EXISTS cells_{size}")
            conn.execute(
                f"""
                CREATE TABLE cells_{size} AS
                SELECT count(*)::bigint AS count, ({classes})[min(rank) + 1] AS class,
                       sum((rank < {eligible})::int)::bigint AS eligible,
                       sum((rank = {no_data})::int)::bigint AS no_data,
                       min(best_down) AS best_down, min(best_up) AS best_up,
                       min(mobile_down) AS mobile_down, bool_or(generated) AS generated,
                       '{prefix}_' || floor(north / {size})::bigint::text || '_'
                           || floor(east / {size})::bigint::text AS cell,
                       ST_SetSRID(ST_MakePoint(avg(east), avg(north)), 25832) AS geom
                FROM addresses GROUP BY floor(north / {size}), floor(east / {size})
                """
            )
            conn.execute(f"CREATE INDEX ON cells_{size} USING gist (geom)")
            counts[f"cells_{size}"] = conn.execute(f"SELECT count(*) FROM cells_{size}").fetchone()[
                0
            ]
        conn.execute("ANALYZE")
    return counts


def _mvt_sql(table: str, name: str, columns: Sequence[str]) -> str:
    """The canonical ST_AsMVT query of one layer; the filter is on the stored EPSG:25832 geometry
    so the GiST index answers it, with the tile's 64-unit buffer as margin."""
    props = ", ".join(f'"{c}"' for c in columns)
    return (
        f"SELECT ST_AsMVT(t, '{name}', 4096, 'geom') FROM ("
        " SELECT ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s),"
        f" 4096, 64, true) AS geom, {props} FROM {table}"
        " WHERE geom && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 64.0 / 4096),"
        " 25832)) AS t"
    )


def postgis_sql(conn: Any) -> dict[str, str]:
    """The tile query of every table, properties read from the database's own columns."""
    from coverage.tiles.vector import ADDRESS_CELLS

    out = {}
    for table, name in [("zones", "zones"), ("addresses", "addresses")] + [
        (f"cells_{size}", "addresses") for _, size in ADDRESS_CELLS
    ]:
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "ORDER BY ordinal_position",
                (table,),
            ).fetchall()
            if r[0] not in _NOT_PROPERTIES
        ]
        out[table] = _mvt_sql(table, name, columns)
    return out


def postgis_tile(conn: Any, sql: dict[str, str], layer: str, z: int, x: int, y: int) -> bytes:
    """One tile of ``zones`` or ``addresses`` from PostGIS (the address table by zoom as netkort
    switches: cells of 10 km, 1 km, 100 m below zoom 14, points from it). Empty: ``b""``."""
    from coverage.tiles.vector import ADDRESS_CELLS, ADDRESS_POINT_ZOOM

    if layer == "zones":
        table = "zones"
    elif z >= ADDRESS_POINT_ZOOM:
        table = "addresses"
    else:
        table = f"cells_{next(size for limit, size in ADDRESS_CELLS if z < limit)}"
    row = conn.execute(sql[table], {"z": z, "x": x, "y": y}, prepare=True).fetchone()
    return bytes(row[0]) if row and row[0] is not None else b""


def create_postgis_app() -> Any:
    """The PostGIS peer over HTTP: ``/tiles/{zones|addresses}/{z}/{x}/{y}.mvt`` running the
    ST_AsMVT query on a connection per worker thread (``NETKORT_BENCH_PG_URL``)."""
    import threading

    import psycopg
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import Response

    url = os.environ["NETKORT_BENCH_PG_URL"]
    local = threading.local()
    sql: dict[str, str] = {}

    def connection() -> Any:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(url, autocommit=True)
        return conn

    app = FastAPI(title="PostGIS ST_AsMVT (benchmark peer)")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        connection().execute("SELECT 1")
        return {"status": "ok"}

    @app.get("/tiles/{layer}/{z}/{x}/{y}.mvt")
    def tile(layer: str, z: int, x: int, y: int) -> Response:
        if layer not in ("zones", "addresses"):
            raise HTTPException(404, f"no layer {layer}")
        conn = connection()
        if not sql:
            sql.update(postgis_sql(conn))
        data = postgis_tile(conn, sql, layer, z, x, y)
        return Response(data, media_type=MVT) if data else Response(status_code=204)

    return app
