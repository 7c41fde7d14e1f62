/* The citizen page: address search with autocomplete (ARIA 1.2 combobox), the result card exactly as
 * /api/lookup answers it, and a map of the address with its municipality, zones and mobile layers.
 */
(function () {
  "use strict";

  const N = window.Netkort;
  const { t, el } = N;
  const DEBOUNCE_MS = 150;
  const SUGGESTIONS = 8;
  const TECHNOLOGIES = ["fiber", "coax", "xdsl", "fwa"];

  let input;
  let listbox;
  let status;
  let options = [];
  let active = -1;
  let timer = null;
  let pending = null;
  let sequence = 0;
  let answer = null;
  let notFound = null;
  let map = null;
  const layers = { region: null, boundary: null, zones: null, marker: null, mobile: null };
  let rasters = [];

  // ---------------------------------------------------------------- combobox

  function isOpen() {
    return input.getAttribute("aria-expanded") === "true";
  }

  function openList() {
    if (!options.length) return;
    listbox.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function closeList() {
    listbox.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    setActive(-1);
  }

  function setActive(index) {
    const items = listbox.querySelectorAll('[role="option"]');
    items.forEach((item, i) => item.setAttribute("aria-selected", i === index ? "true" : "false"));
    active = index;
    if (index >= 0 && items[index]) {
      input.setAttribute("aria-activedescendant", items[index].id);
      items[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function renderOptions(results) {
    options = results;
    listbox.replaceChildren(
      ...results.map((hit, i) => {
        const comma = hit.text.indexOf(",");
        const street = comma > 0 ? hit.text.slice(0, comma) : hit.text;
        const town = comma > 0 ? hit.text.slice(comma + 1).trim() : "";
        return el(
          "li",
          { id: `q-option-${i}`, role: "option", "aria-selected": "false", "data-id": hit.id },
          street,
          town ? el("span", { className: "muted" }, `, ${town}`) : null,
        );
      }),
    );
    active = -1;
    if (results.length) openList();
    else closeList();
    setStatus(results.length ? t("suggestions_count", { n: results.length }) : t("suggestions_none"));
  }

  async function requestSuggestions(text) {
    if (pending) pending.abort();
    const mine = ++sequence;
    pending = new AbortController();
    try {
      const url = `/api/autocomplete?${new URLSearchParams({ q: text, limit: String(SUGGESTIONS) })}`;
      const body = await N.getJSON(url, { signal: pending.signal });
      if (mine === sequence && input.value.trim() === text) renderOptions(body.results);
    } catch (err) {
      if (err.name === "AbortError") return;
      if (mine === sequence) {
        renderOptions([]);
        setStatus(t("error_generic", { detail: err.message }), true);
      }
    }
  }

  function onInput() {
    window.clearTimeout(timer);
    const text = input.value.trim();
    if (!text) {
      sequence += 1;
      renderOptions([]);
      setStatus("");
      return;
    }
    timer = window.setTimeout(() => requestSuggestions(text), DEBOUNCE_MS);
  }

  function onKeyDown(event) {
    switch (event.key) {
      case "ArrowDown":
        event.preventDefault();
        if (!isOpen()) {
          openList();
          if (isOpen()) setActive(0);
        } else {
          setActive(active + 1 >= options.length ? 0 : active + 1);
        }
        break;
      case "ArrowUp":
        event.preventDefault();
        if (!isOpen()) {
          openList();
          if (isOpen()) setActive(options.length - 1);
        } else {
          setActive(active <= 0 ? options.length - 1 : active - 1);
        }
        break;
      case "Enter":
        if (isOpen() && active >= 0) {
          event.preventDefault();
          choose(options[active]);
        }
        break; // otherwise the form submits the typed text
      case "Escape":
        event.preventDefault();
        if (isOpen()) closeList();
        else {
          input.value = "";
          renderOptions([]);
        }
        break;
      default:
        break;
    }
  }

  function choose(hit) {
    window.clearTimeout(timer);
    sequence += 1;
    input.value = hit.text;
    closeList();
    lookup({ id: hit.id });
  }

  // ---------------------------------------------------------------- lookup

  function setStatus(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  async function lookup(params) {
    if (pending) pending.abort();
    setStatus(t("searching"));
    try {
      const body = await N.getJSON(`/api/lookup?${new URLSearchParams(params)}`);
      answer = body;
      notFound = null;
      input.value = body.address.text;
      setStatus("");
      renderResult();
      showOnMap();
      const url = new URL(window.location.href);
      url.search = new URLSearchParams({ id: body.address.id }).toString();
      window.history.replaceState(null, "", url);
    } catch (err) {
      if (err.status === 404) {
        notFound = err;
        renderNotFound();
      } else {
        setStatus(t("error_generic", { detail: err.message }), true);
      }
    }
  }

  function renderNotFound() {
    const suggestions = notFound.suggestions || [];
    status.classList.add("error");
    status.replaceChildren(
      el("span", { className: "not-found" }, t("not_found")),
      suggestions.length ? ` ${t("did_you_mean")}` : "",
      suggestions.length
        ? el(
            "ul",
            { className: "suggest-list" },
            suggestions.map((s) =>
              el("li", null, el("button", { type: "button", className: "button", onclick: () => choose({ id: s.id, text: s.text }) }, s.text)),
            ),
          )
        : "",
    );
  }

  // ---------------------------------------------------------------- result card

  function speedCell(value, field, missing) {
    const shown = value === null && missing ? missing : N.formatSpeed(value);
    return el(
      "td",
      { className: `num${value === 0 || value === null ? " off" : ""}`, "data-field": field, "data-value": value === null ? "null" : value },
      shown,
    );
  }

  function newestRuleSet(pool) {
    const ids = Object.keys(pool);
    if (N.config.default_rules && ids.includes(N.config.default_rules)) return N.config.default_rules;
    return ids[ids.length - 1];
  }

  function poolBlock(rid, verdict, className, headingLevel) {
    const reason = N.lang === "en" ? verdict.reason_en : verdict.reason_da;
    const title = verdict.title ? verdict.title[N.lang] || verdict.title.da : rid;
    return el(
      "div",
      { className, "data-rules": rid },
      el(headingLevel, { className: "pool-rules", "data-field": "pool.title" }, title),
      el(
        "p",
        null,
        el("span", { className: `pool-class ${verdict.class}`, "data-field": "pool.class", "data-value": verdict.class }, t(N.classKey(verdict.class))),
      ),
      reason ? el("p", { className: "pool-reason", "data-field": "pool.reason" }, reason) : null,
    );
  }

  /** Measured and modelled mobile service: one row of speeds and one of where it comes from. */
  function observationRows(observations) {
    return observations.flatMap((obs, i) => {
      const kind = obs.kind === "measured" ? t("obs_measured") : obs.kind === "modelled" ? t("obs_modelled") : obs.kind || "";
      const operator = !obs.operator || obs.operator === "unknown" ? t("operator_unknown") : obs.operator;
      const label = [kind.charAt(0).toUpperCase() + kind.slice(1), obs.technology, operator].filter(Boolean).join(" · ");
      const dbm = (v) => `${N.formatNumber(v, 0)} dBm`;
      const details = [
        obs.rsrp_outdoor_dbm !== undefined && obs.rsrp_outdoor_dbm !== null
          ? `${t("signal_outdoor")} ${dbm(obs.rsrp_outdoor_dbm)}${obs.rsrp_indoor_dbm !== undefined && obs.rsrp_indoor_dbm !== null ? `, ${t("signal_indoor")} ${dbm(obs.rsrp_indoor_dbm)}` : ""}.`
          : null,
        obs.source ? `${t("source")}: ${obs.source}.` : null,
        obs.date ? `${t("date")}: ${N.formatDate(obs.date)}.` : null,
        obs.confidence ? `${t("confidence")}: ${t(`confidence_${obs.confidence}`)}.` : null,
      ].filter(Boolean);
      return [
        el(
          "tr",
          { "data-observation": i, "data-kind": obs.kind || "" },
          el("th", { scope: "row" }, label),
          speedCell(obs.down ?? null, `mobile.observations.${i}.down`, "–"),
          speedCell(obs.up ?? null, `mobile.observations.${i}.up`, "–"),
        ),
        details.length ? el("tr", { className: "obs-detail" }, el("td", { colspan: 3, className: "note" }, details.join(" "))) : null,
      ].filter(Boolean);
    });
  }

  function renderResult() {
    if (!answer) return;
    const a = answer;
    const addr = a.address;
    const body = document.getElementById("result-body");
    const techRows = TECHNOLOGIES.filter((tech) => tech in a.fixed.technologies).map((tech) => {
      const speed = a.fixed.technologies[tech];
      return el(
        "tr",
        { "data-tech": tech, className: a.fixed.best.technology === tech ? "best" : null },
        el("th", { scope: "row" }, t(`tech_${tech}`)),
        speedCell(speed.down, `fixed.${tech}.down`),
        speedCell(speed.up, `fixed.${tech}.up`),
      );
    });
    const best = a.fixed.best;
    const bestTech = best.technology ? t(`tech_${best.technology}`) : t("tech_none");
    const fixedTable = el(
      "table",
      { className: "speeds", id: "fixed-table" },
      el("caption", { className: "visually-hidden" }, t("fixed_heading")),
      el("thead", null, el("tr", null, el("th", { scope: "col" }, t("technology")), el("th", { scope: "col", className: "num" }, t("down")), el("th", { scope: "col", className: "num" }, t("up")))),
      el("tbody", null, techRows),
      el(
        "tfoot",
        null,
        el(
          "tr",
          { className: "best", "data-tech": "best" },
          el("th", { scope: "row" }, `${t("best_fixed")}: `, el("span", { "data-field": "fixed.best.technology", "data-value": best.technology || "null" }, bestTech)),
          speedCell(best.down, "fixed.best.down"),
          speedCell(best.up, "fixed.best.up"),
        ),
      ),
    );

    const declared = a.mobile.declared;
    const mobileRows = [];
    if (declared) {
      mobileRows.push(
        el(
          "tr",
          { "data-mobile": "declared", "data-observation-head": "" },
          el("th", { scope: "row" }, t("mobile_declared"), declared.year ? ` (${declared.year})` : ""),
          speedCell(declared.down, "mobile.declared.down"),
          speedCell(declared.up, "mobile.declared.up"),
        ),
      );
      if (declared.source) {
        const source = declared.source.replace(/^(kilde|source):\s*/i, "");
        mobileRows.push(
          el("tr", { className: "obs-detail" }, el("td", { colspan: 3, className: "note", "data-field": "mobile.declared.source" }, `${t("source")}: ${source}.`)),
        );
      }
    }
    mobileRows.push(...observationRows(a.mobile.observations || []));
    const mobile = mobileRows.length
      ? [
          el(
            "table",
            { className: "speeds", id: "mobile-table" },
            el("caption", { className: "visually-hidden" }, t("mobile_heading")),
            el("thead", null, el("tr", null, el("th", { scope: "col" }, t("source")), el("th", { scope: "col", className: "num" }, t("down")), el("th", { scope: "col", className: "num" }, t("up")))),
            el("tbody", null, mobileRows),
          ),
          a.mobile.gap && a.mobile.gap.declared_vs_observed_gap
            ? el("p", { className: "notes", "data-field": "mobile.gap" }, t("mobile_gap"), a.mobile.gap.reason ? ` ${a.mobile.gap.reason}` : "")
            : null,
        ]
      : [el("p", { className: "note" }, t("mobile_none"))];

    const ruleIds = Object.keys(a.pool);
    let pool;
    if (!ruleIds.length) {
      pool = [el("p", { className: "note" }, t("pool_none"))];
    } else {
      const newest = newestRuleSet(a.pool);
      const others = ruleIds.filter((rid) => rid !== newest).reverse();
      pool = [
        el("section", { id: "pool-newest" }, poolBlock(newest, a.pool[newest], "pool-newest", "p")),
        others.length
          ? el(
              "details",
              { id: "pool-others" },
              el("summary", null, t("pool_other")),
              others.map((rid) => poolBlock(rid, a.pool[rid], "pool-other", "h4")),
            )
          : null,
      ];
    }

    const mappingYears = a.sources.inputs.filter((i) => i.kind === "mapping" && i.year).map((i) => i.year);
    const sources = el(
      "div",
      { className: "sources" },
      el(
        "p",
        null,
        `${t("release")} `,
        el("span", { "data-field": "release.id" }, a.release.id),
        a.release.created ? ` (${t("release_date")} ${N.formatDate(a.release.created)})` : "",
        mappingYears.length ? `. ${t("mapping_year")} ${[...new Set(mappingYears)].join(", ")}.` : ".",
      ),
      el("ul", null, a.sources.attribution.map((line) => el("li", null, line))),
    );

    const generated = a.generated || a.release.generated;
    const zone = addr.zone || t("zone_unknown");
    body.replaceChildren(
      generated ? el("p", { className: "notes", role: "note", "data-field": "generated" }, t("generated_notice")) : "",
      el("h3", null, t("address_heading")),
      el("p", { className: "address-text", "data-field": "address.text" }, addr.text),
      el(
        "dl",
        null,
        el("dt", null, t("kommune")),
        el("dd", { "data-field": "address.kommunenavn" }, addr.kommunenavn ? `${addr.kommunenavn}${addr.kommunekode ? ` (${addr.kommunekode})` : ""}` : "–"),
        el("dt", null, t("zone")),
        el("dd", { "data-field": "address.zone" }, zone),
      ),
      addr.position_known ? "" : el("p", { className: "notes" }, t("position_unknown")),
      a.reports && a.reports.under_review
        ? el("p", { className: "notes", role: "note", "data-field": "reports" }, (a.reports.label && a.reports.label[N.lang]) || t("reported_under_review"))
        : "",
      el("h3", null, t("fixed_heading")),
      fixedTable,
      el("h3", null, t("mobile_heading")),
      ...mobile.filter(Boolean),
      el("h3", null, t("pool_heading")),
      ...pool.filter(Boolean),
      el("h3", null, t("sources_heading")),
      sources,
      a.notes && a.notes.length ? el("div", { className: "notes" }, el("strong", null, `${t("notes")}: `), el("ul", null, a.notes.map((n) => el("li", null, n)))) : "",
      el("a", { className: "report-link button", id: "report-link", href: `/report?id=${encodeURIComponent(addr.id)}` }, t("report_error")),
    );
    const section = document.getElementById("result");
    section.hidden = false;
    section.dataset.addressId = addr.id;
    if (map) map.invalidateSize();
  }

  // ---------------------------------------------------------------- map

  function renderLegend() {
    const holder = document.getElementById("map-legend");
    const palette = N.config.palette;
    const items = [
      { colour: palette.boundary, label: t("layer_boundary"), shape: "line" },
      { colour: "#2a81cb", label: t("layer_address"), shape: "round" },
    ];
    const rid = answer && Object.keys(answer.pool).length ? newestRuleSet(answer.pool) : N.config.default_rules;
    if (rid) items.push({ colour: palette.zone, label: `${t("layer_zones")} (${rid})` });
    const groups = [N.legendGroup(t("legend"), items)];
    if (layers.mobile && layers.mobile.legend) groups.push(N.legendGroup(layers.mobile.title, layers.mobile.legend));
    holder.replaceChildren(...groups);
    N.paintSwatches(holder);
  }

  async function initMap() {
    map = N.createMap("map");
    map.setView([56.2, 9.6], 8);
    renderLegend();
    try {
      const all = await N.fetchFeatures("/collections/municipalities/items?limit=100", 200);
      layers.region = L.geoJSON(all, {
        style: { color: N.config.palette.boundary, weight: 1, opacity: 0.6, fillColor: "#ffffff", fillOpacity: 0.35, className: "netkort-region" },
        interactive: false,
      }).addTo(map);
      if (!answer && all.features.length) map.fitBounds(layers.region.getBounds(), { padding: [10, 10], animate: false });
    } catch (err) {
      /* no release yet: the page says so at the top */
    }
    rasters = await N.rasterLayers();
    setupMobileControl();
  }

  function setupMobileControl() {
    const control = document.getElementById("mobile-control");
    const missing = document.getElementById("mobile-missing");
    const select = document.getElementById("mobile-layer");
    if (!rasters.length) {
      control.hidden = true;
      missing.hidden = !N.config.release;
      return;
    }
    missing.hidden = true;
    control.hidden = false;
    select.replaceChildren(
      el("option", { value: "", "data-i18n": "layer_mobile_none" }, t("layer_mobile_none")),
      ...rasters.map((layer) => el("option", { value: layer.id }, layer.title)),
    );
    select.addEventListener("change", () => showMobile(select.value));
  }

  async function showMobile(id) {
    if (layers.mobile) {
      map.removeLayer(layers.mobile.layer);
      layers.mobile = null;
    }
    const layer = rasters.find((r) => r.id === id);
    if (layers.boundary) layers.boundary.setStyle({ fillOpacity: layer ? 0 : 0.55 });
    if (layers.region) layers.region.setStyle({ fillOpacity: layer ? 0 : 0.35 });
    if (layer) {
      const tiles = N.rasterTileLayer(layer).addTo(map);
      layers.mobile = { layer: tiles, title: `${t("layer_mobile")}: ${layer.title}`, legend: null };
      try {
        layers.mobile.legend = await N.rasterLegend(layer);
      } catch (err) {
        layers.mobile.legend = [];
      }
    }
    renderLegend();
  }

  async function showOnMap() {
    if (!map || !answer) return;
    const a = answer;
    const addr = a.address;
    for (const key of ["boundary", "zones", "marker"]) {
      if (layers[key]) {
        map.removeLayer(layers[key]);
        layers[key] = null;
      }
    }
    if (addr.position_known) {
      map.setView([addr.lat, addr.lon], 13, { animate: false });
      layers.marker = L.marker([addr.lat, addr.lon], { title: addr.text, alt: addr.text, keyboard: false, zIndexOffset: 1000 }).addTo(map);
    }
    const requests = [];
    if (addr.kommunekode) {
      requests.push(
        N.getJSON(`/collections/municipalities/items/${encodeURIComponent(addr.kommunekode)}`).then((feature) => {
          if (answer !== a) return;
          layers.boundary = L.geoJSON(feature, { style: N.boundaryStyle(layers.mobile ? 0 : 0.55), interactive: false }).addTo(map);
          layers.boundary.bringToBack();
          if (layers.region) layers.region.bringToBack();
          if (!addr.position_known) map.fitBounds(layers.boundary.getBounds(), { padding: [10, 10], animate: false });
        }),
      );
    }
    const rid = Object.keys(a.pool).length ? newestRuleSet(a.pool) : null;
    if (rid && addr.position_known) {
      const bbox = [addr.lon - 0.06, addr.lat - 0.035, addr.lon + 0.06, addr.lat + 0.035].map((v) => v.toFixed(6)).join(",");
      requests.push(
        N.fetchFeatures(`/collections/zones/items?${new URLSearchParams({ bbox, rules: rid, limit: "1000" })}`, 5000).then((zones) => {
          if (answer !== a) return;
          layers.zones = L.geoJSON(zones, {
            style: { color: N.config.palette.zone, weight: 2, fillColor: N.config.palette.zone, fillOpacity: 0.35, className: "netkort-zone" },
            onEachFeature: (feature, layer) => layer.bindTooltip(`${t("layer_zones")}: ${feature.properties.addresses}`),
          }).addTo(map);
        }),
      );
    }
    try {
      await Promise.all(requests);
    } catch (err) {
      setStatus(t("error_generic", { detail: err.message }), true);
    }
    if (layers.marker) layers.marker.setZIndexOffset(1000);
    renderLegend();
    document.getElementById("map").dataset.ready = addr.id;
  }

  // ---------------------------------------------------------------- start

  document.addEventListener("DOMContentLoaded", () => {
    input = document.getElementById("q");
    listbox = document.getElementById("q-list");
    status = document.getElementById("status");
    input.addEventListener("input", onInput);
    input.addEventListener("keydown", onKeyDown);
    input.addEventListener("blur", () => window.setTimeout(closeList, 150));
    input.addEventListener("focus", () => {
      if (options.length && input.value.trim()) openList();
    });
    // mousedown would blur the input (closing the list) before the click lands
    listbox.addEventListener("mousedown", (event) => event.preventDefault());
    listbox.addEventListener("click", (event) => {
      const item = event.target.closest('[role="option"]');
      if (item) choose(options[Number(item.id.split("-").pop())]);
    });
    document.getElementById("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      window.clearTimeout(timer); // suggestions still on their way would reopen the list
      sequence += 1;
      closeList();
      if (text) lookup({ q: text });
    });
    document.addEventListener("netkort:language", () => {
      renderResult();
      renderLegend();
      if (notFound) renderNotFound();
    });
    initMap();
    const params = new URLSearchParams(window.location.search);
    if (params.get("id")) lookup({ id: params.get("id") });
    else if (params.get("q")) {
      input.value = params.get("q");
      lookup({ q: params.get("q") });
    }
  });
})();
