/* The planner (/planner) and its print view (/planner/print): a municipality's gaps on a map with
 * layers and legends, the statistics table (sortable, keyboard accessible), and export downloads.
 * Everything comes from the JSON API: /api/municipalities, /api/rules, /api/stats, the OGC
 * collections (municipalities, zones, eligible-addresses), /api/changes (what changed since the
 * previous release), /api/export and, when the release has raster layers, /tiles.
 */
(function () {
  "use strict";

  const N = window.Netkort;
  const { t, el } = N;
  const PRINT = N.config.page === "print";
  const FEATURE_CAP = 50000;


  const state = {
    municipalities: [],
    rules: [],
    code: null,
    rid: null,
    stats: null,
    sort: { key: "kommunenavn", dir: "ascending" },
    rasters: [],
    mobile: null,
    mobileLegend: null,
    generation: 0,
  };
  let map = null;
  const shown = new Map(); // layer key → Leaflet layer
  let pointRenderer = null;
  const changes = window.NetkortChanges.create({
    state,
    map: () => map,
    shown,
    drop: (key) => drop(key),
    checked: (id) => checked(id),
    renderLegend: () => renderLegend(),
    print: PRINT,
  });

  // ---------------------------------------------------------------- columns

  function eligibleCount(row, rid) {
    if (!rid) return null;
    const a = row[`eligible_${rid}`];
    const b = row[`eligible_blue_${rid}`];
    if (a === undefined && b === undefined) return null;
    return (a || 0) + (b || 0);
  }

  function columns() {
    const rid = state.rid;
    return [
      { id: "kommunenavn", label: t("col_kommune"), type: "text", value: (r) => r.kommunenavn },
      { id: "addresses", label: t("col_addresses"), type: "int", value: (r) => r.addresses },
      { id: "with_data", label: t("col_with_data"), type: "int", value: (r) => r.with_data },
      { id: "fixed_100_share", label: t("col_fixed_100"), type: "share", value: (r) => r.fixed_100_share },
      { id: "fixed_1000_share", label: t("col_fixed_1000"), type: "share", value: (r) => r.fixed_1000_share },
      { id: "mobile_100_share", label: t("col_mobile_100"), type: "share", value: (r) => r.mobile_100_share },
      { id: "eligible", label: `${t("col_eligible")}${rid ? ` (${rid})` : ""}`, type: "int", value: (r) => eligibleCount(r, rid) },
      { id: "eligible_if_zone", label: t("col_eligible_if_zone"), type: "int", value: (r) => (rid ? r[`eligible_if_zone_${rid}`] ?? null : null) },
      { id: "no_data", label: t("col_no_data"), type: "int", value: (r) => r.no_data },
    ];
  }

  function formatCell(column, value) {
    if (value === null || value === undefined) return "–";
    if (column.type === "share") return N.formatShare(value);
    if (column.type === "int") return N.formatNumber(value, 0);
    return String(value);
  }

  // ---------------------------------------------------------------- statistics table

  function sortedRows() {
    const rows = state.stats.filter((r) => r.level !== "region" && r.kommunekode);
    const column = columns().find((c) => c.id === state.sort.key) || columns()[0];
    const sign = state.sort.dir === "ascending" ? 1 : -1;
    const collator = new Intl.Collator(N.lang === "da" ? "da" : "en");
    return rows.sort((x, y) => {
      const a = column.value(x);
      const b = column.value(y);
      if (a === null || a === undefined) return b === null || b === undefined ? 0 : 1; // missing last
      if (b === null || b === undefined) return -1;
      const order = column.type === "text" ? collator.compare(a, b) : a - b;
      return order * sign || collator.compare(x.kommunenavn, y.kommunenavn);
    });
  }

  function sortBy(key) {
    state.sort = { key, dir: state.sort.key === key && state.sort.dir === "ascending" ? "descending" : "ascending" };
    renderTable();
    const button = document.querySelector(`#stats-table th[data-column="${key}"] button`);
    if (button) button.focus();
  }

  function renderTable() {
    const table = document.getElementById("stats-table");
    if (!state.stats) {
      table.tBodies[0].replaceChildren(el("tr", null, el("td", { colspan: 9, className: "note" }, t("stats_none"))));
      return;
    }
    const cols = columns();
    const head = el(
      "tr",
      null,
      cols.map((c) => {
        const sorted = !PRINT && state.sort.key === c.id;
        return el(
          "th",
          { scope: "col", className: c.type === "text" ? null : "num", "data-column": c.id, "aria-sort": sorted ? state.sort.dir : null },
          PRINT ? c.label : el("button", { type: "button", onclick: () => sortBy(c.id) }, c.label),
        );
      }),
    );
    table.tHead.replaceChildren(head);
    let rows = sortedRows();
    if (PRINT) rows = rows.filter((r) => r.kommunekode === state.code);
    table.tBodies[0].replaceChildren(
      ...rows.map((r) =>
        el(
          "tr",
          { "data-code": r.kommunekode, className: r.kommunekode === state.code ? "chosen" : null },
          cols.map((c, i) => {
            const text = formatCell(c, c.value(r));
            if (i === 0) {
              const name = PRINT
                ? text
                : el("button", { type: "button", "aria-label": t("show_on_map", { name: text }), onclick: () => choose(r.kommunekode) }, text);
              return el("th", { scope: "row" }, name);
            }
            return el("td", { className: "num", "data-column": c.id, "data-value": c.value(r) ?? "" }, text);
          }),
        ),
      ),
    );
    const total = state.stats.find((r) => r.level === "region");
    table.tFoot.replaceChildren(
      total
        ? el(
            "tr",
            { "data-code": "region" },
            cols.map((c, i) =>
              i === 0
                ? el("th", { scope: "row" }, `${t("region_total")}: ${total.kommunenavn || ""}`)
                : el("td", { className: "num", "data-column": c.id, "data-value": c.value(total) ?? "" }, formatCell(c, c.value(total))),
            ),
          )
        : "",
    );
  }

  // ---------------------------------------------------------------- map layers

  function removeAll() {
    for (const layer of shown.values()) map.removeLayer(layer);
    shown.clear();
  }

  function drop(key) {
    if (shown.has(key)) {
      map.removeLayer(shown.get(key));
      shown.delete(key);
    }
  }

  function municipality() {
    return state.municipalities.find((m) => m.kommunekode === state.code);
  }

  function bboxParam(m) {
    return m.bbox.map((v) => v.toFixed(6)).join(",");
  }

  /** The boundary's light fill marks land without a base map, but would wash out the colours of
   * the grid and mobile layers under it. */
  function updateBoundaryFill() {
    const boundary = shown.get("boundary");
    if (boundary) boundary.setStyle({ fillOpacity: shown.has("grid") || shown.has("mobile") ? 0 : 0.5 });
  }

  function setMapStatus(text) {
    document.getElementById("map-status").textContent = text;
  }

  function truncated(collection) {
    return collection.matched > collection.features.length ? t("features_truncated", { shown: collection.features.length, total: collection.matched }) : "";
  }

  function assessedIds() {
    return state.rules.map((r) => r.id);
  }

  async function loadBoundary(gen) {
    const feature = await N.getJSON(`/collections/municipalities/items/${encodeURIComponent(state.code)}`);
    if (gen !== state.generation) return;
    const layer = L.geoJSON(feature, { style: N.boundaryStyle(0.5), interactive: false });
    shown.set("boundary", layer);
    updateBoundaryFill();
    if (document.getElementById("layer-boundary")?.checked !== false) layer.addTo(map);
    layer.bringToBack();
    map.fitBounds(layer.getBounds(), { padding: [12, 12], animate: false });
  }

  async function loadZones(rid, gen) {
    const m = municipality();
    const url = `/collections/zones/items?${new URLSearchParams({ bbox: bboxParam(m), rules: rid, limit: "10000" })}`;
    const zones = await N.fetchFeatures(url, FEATURE_CAP);
    if (gen !== state.generation) return "";
    zones.features = zones.features.filter((f) => !f.properties.kommunekode || f.properties.kommunekode === state.code);
    const colour = N.zoneColour(rid, assessedIds());
    const layer = L.geoJSON(zones, {
      style: { color: colour, weight: 2, fillColor: colour, fillOpacity: 0.35, className: `netkort-zone zone-${rid}` },
      onEachFeature: (f, l) => l.bindTooltip(`${t("layer_zones")} ${rid}: ${N.formatNumber(f.properties.addresses, 0)} ${t("col_addresses").toLowerCase()}`),
    }).addTo(map);
    shown.set(`zones:${rid}`, layer);
    return truncated(zones);
  }

  async function loadEligible(gen) {
    const m = municipality();
    const url = `/collections/eligible-addresses/items?${new URLSearchParams({ bbox: bboxParam(m), rules: state.rid, limit: "10000" })}`;
    const points = await N.fetchFeatures(url, FEATURE_CAP);
    if (gen !== state.generation) return "";
    points.features = points.features.filter((f) => f.properties.kommunekode === state.code);
    const layer = L.geoJSON(points, {
      pointToLayer: (f, latlng) =>
        L.circleMarker(latlng, {
          renderer: pointRenderer,
          radius: 5,
          weight: 1.5,
          color: "#ffffff",
          fillColor: N.eligibleColour(f.properties.class),
          fillOpacity: 0.95,
        }),
      onEachFeature: (f, l) => {
        const p = f.properties;
        l.bindTooltip(`${p.vejnavn} ${p.husnr}, ${p.postnr} ${p.postnrnavn || ""} – ${t(N.classKey(p.class))}`);
      },
    }).addTo(map);
    shown.set("eligible", layer);
    document.getElementById("map").dataset.eligible = String(points.features.length);
    return truncated(points);
  }

  async function loadGrid(gen) {
    const url = `/api/export?${new URLSearchParams({ what: "grid", format: "geojson", municipality: state.code, rules: state.rid || "" })}`;
    const grid = await N.getJSON(url);
    if (gen !== state.generation) return "";
    const layer = L.geoJSON(grid, {
      renderer: pointRenderer,
      style: (f) => ({ color: "#555555", weight: 0.5, fillColor: N.shareColour(f.properties.share_100), fillOpacity: 0.7 }),
      onEachFeature: (f, l) => {
        const p = f.properties;
        l.bindTooltip(
          `${p.cell}: ${N.formatNumber(p.addresses, 0)} ${t("col_addresses").toLowerCase()}, ${t("col_fixed_100")} ${N.formatShare(p.share_100)}, ${t("col_eligible")} ${N.formatNumber(p.eligible, 0)}`,
        );
      },
    }).addTo(map);
    layer.bringToBack();
    if (shown.has("boundary")) shown.get("boundary").bringToBack();
    shown.set("grid", layer);
    updateBoundaryFill();
    return "";
  }

  function showMobile() {
    drop("mobile");
    const layer = state.rasters.find((r) => r.id === state.mobile);
    state.mobileLegend = null;
    updateBoundaryFill();
    if (!layer) {
      renderLegend();
      return;
    }
    shown.set(
      "mobile",
      N.rasterTileLayer(layer).addTo(map),
    );
    N.rasterLegend(layer)
      .then((entries) => {
        state.mobileLegend = { title: `${t("layer_mobile")}: ${layer.title}`, entries };
      })
      .catch(() => {
        state.mobileLegend = null;
      })
      .finally(renderLegend);
  }

  function checked(id) {
    const box = document.getElementById(id);
    return PRINT ? true : Boolean(box && box.checked);
  }

  /** Load every layer that is switched on for the chosen municipality and rule set. */
  async function refreshLayers() {
    const gen = ++state.generation;
    removeAll();
    const m = municipality();
    if (!m) return;
    setMapStatus(t("loading"));
    document.getElementById("map").dataset.ready = "";
    changes.refresh(gen); // not awaited: the map does not wait for a diff
    const jobs = [loadBoundary(gen)];
    if (state.rid) {
      const zoneIds = PRINT ? [state.rid] : assessedIds().filter((rid) => checked(`layer-zones-${rid}`));
      for (const rid of zoneIds) jobs.push(loadZones(rid, gen));
      if (checked("layer-eligible")) jobs.push(loadEligible(gen));
      if (!PRINT && checked("layer-grid")) jobs.push(loadGrid(gen));
    }
    let notes = [];
    try {
      notes = await Promise.all(jobs);
    } catch (err) {
      if (gen === state.generation) setMapStatus(t("error_generic", { detail: err.message }));
      return;
    }
    if (gen !== state.generation) return;
    if (state.mobile) showMobile();
    setMapStatus(notes.filter(Boolean).join(" "));
    renderLegend();
    document.getElementById("map").dataset.ready = `${state.code}|${state.rid}`;
  }

  async function toggleLayer(key, loader) {
    const gen = state.generation;
    drop(key);
    updateBoundaryFill();
    if (loader) {
      try {
        setMapStatus(await loader(gen));
      } catch (err) {
        setMapStatus(t("error_generic", { detail: err.message }));
      }
    }
    renderLegend();
  }

  // ---------------------------------------------------------------- legend

  function renderLegend() {
    const holder = document.getElementById("legend-body");
    const groups = [];
    const base = [{ colour: N.config.palette.boundary, label: t("layer_boundary"), shape: "line" }];
    for (const rid of assessedIds()) {
      if (shown.has(`zones:${rid}`)) base.push({ colour: N.zoneColour(rid, assessedIds()), label: `${t("layer_zones")} ${rid}` });
    }
    groups.push(N.legendGroup(t("layers"), base));
    if (shown.has("eligible")) {
      const classes = ["eligible", "eligible_blue", "eligible_if_zone"];
      groups.push(
        N.legendGroup(
          `${t("layer_eligible")} (${state.rid})`,
          classes.map((c) => ({ colour: N.eligibleColour(c), label: t(N.classKey(c)), shape: "round" })),
        ),
      );
    }
    if (shown.has("grid")) groups.push(N.legendGroup(t("layer_grid"), N.shareClasses()));
    const changesGroup = changes.legend();
    if (changesGroup) groups.push(changesGroup);
    if (state.mobileLegend) groups.push(N.legendGroup(state.mobileLegend.title, state.mobileLegend.entries));
    holder.replaceChildren(...groups);
    N.paintSwatches(holder);
  }

  // ---------------------------------------------------------------- controls

  function exportHref(format) {
    const what = document.getElementById("export-what").value;
    const params = new URLSearchParams({ what, format, municipality: state.code });
    if (state.rid) params.set("rules", state.rid);
    return `/api/export?${params}`;
  }

  function updateLinks() {
    if (PRINT) return;
    for (const link of document.querySelectorAll(".export-buttons a[data-format]")) link.href = exportHref(link.dataset.format);
    const params = new URLSearchParams({ municipality: state.code, lang: N.lang });
    if (state.rid) params.set("rules", state.rid);
    document.getElementById("print-link").href = `/planner/print?${params}`;
    const url = new URL(window.location.href);
    const own = new URLSearchParams({ municipality: state.code });
    if (state.rid) own.set("rules", state.rid);
    url.search = own.toString();
    window.history.replaceState(null, "", url);
  }

  function choose(code) {
    state.code = code;
    const select = document.getElementById("municipality");
    if (select) select.value = code;
    updateLinks();
    renderTable();
    refreshLayers();
  }

  function renderZoneChecks() {
    const holder = document.getElementById("zone-layers");
    if (!holder) return;
    const before = new Set(assessedIds().filter((rid) => document.getElementById(`layer-zones-${rid}`)?.checked));
    const initial = holder.childElementCount === 0;
    holder.replaceChildren(
      ...assessedIds()
        .slice()
        .reverse()
        .map((rid) =>
          el(
            "div",
            { className: "check" },
            el("input", {
              type: "checkbox",
              id: `layer-zones-${rid}`,
              "data-rules": rid,
              checked: initial ? rid === state.rid : before.has(rid),
              onchange: (event) => toggleLayer(`zones:${rid}`, event.target.checked ? (gen) => loadZones(rid, gen) : null),
            }),
            el("span", { className: "swatch", "aria-hidden": "true", "data-colour": N.zoneColour(rid, assessedIds()) }),
            el("label", { for: `layer-zones-${rid}` }, `${t("layer_zones")} ${rid}`),
          ),
        ),
    );
    N.paintSwatches(holder);
  }

  function renderMobileOptions() {
    const holder = document.getElementById("mobile-options");
    const missing = document.getElementById("mobile-missing");
    if (!holder) return;
    missing.hidden = state.rasters.length > 0 || !N.config.release;
    if (!state.rasters.length) {
      holder.replaceChildren();
      return;
    }
    const entries = [{ id: "", title: t("layer_mobile_none") }, ...state.rasters];
    holder.replaceChildren(
      ...entries.map((layer, i) =>
        el(
          "div",
          { className: "check" },
          el("input", {
            type: "radio",
            name: "mobile",
            id: `mobile-${i}`,
            value: layer.id,
            checked: (state.mobile || "") === layer.id,
            onchange: () => {
              state.mobile = layer.id || null;
              showMobile();
            },
          }),
          el("label", { for: `mobile-${i}` }, layer.title),
        ),
      ),
    );
  }

  /** "2024-2025: fastnet under 100 Mbit/s ..." (the title without its "Bredbåndspuljen 20xx:"). */
  function ruleLabel(r) {
    const title = r.title[N.lang] || r.title.da;
    const colon = title.indexOf(": ");
    return `${r.id}: ${colon > 0 ? title.slice(colon + 2) : title}`;
  }

  function fillSelects() {
    const select = document.getElementById("municipality");
    select.replaceChildren(
      ...state.municipalities
        .slice()
        .sort((a, b) => a.kommunenavn.localeCompare(b.kommunenavn, "da"))
        .map((m) => el("option", { value: m.kommunekode }, `${m.kommunenavn} (${m.kommunekode})`)),
    );
    select.value = state.code;
    select.addEventListener("change", () => choose(select.value));
    const rules = document.getElementById("rules");
    rules.replaceChildren(...state.rules.map((r) => el("option", { value: r.id }, ruleLabel(r))));
    rules.disabled = !state.rules.length;
    if (state.rid) rules.value = state.rid;
    rules.addEventListener("change", () => {
      const old = state.rid;
      state.rid = rules.value;
      // the zones of the chosen rule set follow the choice; other rule sets' switches stay
      const oldBox = document.getElementById(`layer-zones-${old}`);
      const newBox = document.getElementById(`layer-zones-${state.rid}`);
      if (oldBox && newBox && oldBox.checked) {
        oldBox.checked = false;
        newBox.checked = true;
      }
      updateLinks();
      renderTable();
      refreshLayers();
    });
  }

  function relabel() {
    const rules = document.getElementById("rules");
    if (rules) {
      for (const option of rules.options) {
        const r = state.rules.find((x) => x.id === option.value);
        if (r) option.textContent = ruleLabel(r);
      }
    }
    renderZoneChecks();
    renderMobileOptions();
    renderTable();
    changes.render();
    renderLegend();
    updateLinks();
  }

  // ---------------------------------------------------------------- start

  async function start() {
    map = N.createMap("map");
    map.setView([56.2, 9.6], 8);
    pointRenderer = L.canvas({ padding: 0.2 });
    if (!N.config.release) return;
    let munis;
    let rules;
    try {
      [munis, rules] = await Promise.all([N.getJSON("/api/municipalities"), N.getJSON("/api/rules")]);
    } catch (err) {
      setMapStatus(t("error_generic", { detail: err.message }));
      return;
    }
    try {
      state.stats = (await N.getJSON("/api/stats")).rows;
    } catch (err) {
      state.stats = null; // statistics unavailable: the table says so, the map still works
    }
    state.municipalities = munis.municipalities;
    state.rules = rules.rule_sets.filter((r) => r.assessed);
    const params = new URLSearchParams(window.location.search);
    const wanted = PRINT ? N.config.municipality && N.config.municipality.kommunekode : params.get("municipality");
    const known = (code) => state.municipalities.some((m) => m.kommunekode === code);
    const withAddresses = state.municipalities.find((m) => m.addresses > 0) || state.municipalities[0];
    state.code = known(wanted) ? wanted : withAddresses && withAddresses.kommunekode;
    const wantedRules = PRINT ? N.config.rules : params.get("rules");
    state.rid = state.rules.some((r) => r.id === wantedRules) ? wantedRules : rules.default;
    if (!PRINT) {
      fillSelects();
      renderZoneChecks();
      document.getElementById("layer-boundary").addEventListener("change", (event) => {
        const layer = shown.get("boundary");
        if (layer) {
          if (event.target.checked) layer.addTo(map).bringToBack();
          else map.removeLayer(layer);
        }
      });
      document.getElementById("layer-eligible").addEventListener("change", (event) =>
        toggleLayer("eligible", event.target.checked && state.rid ? (gen) => loadEligible(gen) : null),
      );
      document.getElementById("layer-grid").addEventListener("change", (event) =>
        toggleLayer("grid", event.target.checked && state.rid ? (gen) => loadGrid(gen) : null),
      );
      document.getElementById("changes-panel").addEventListener("toggle", () => changes.refresh(state.generation));
      document.getElementById("layer-changes").addEventListener("change", () => {
        changes.draw();
        renderLegend();
      });
      document.getElementById("export-what").addEventListener("change", updateLinks);
      state.rasters = await N.rasterLayers();
      renderMobileOptions();
    } else {
      document.getElementById("print-button").addEventListener("click", () => window.print());
    }
    updateLinks();
    renderTable();
    await refreshLayers();
  }

  document.addEventListener("netkort:language", relabel);
  document.addEventListener("DOMContentLoaded", start);
})();
