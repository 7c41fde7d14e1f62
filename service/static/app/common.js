/* netkort pages: what the citizen page, the planner and the print view share.
 *
 * Language (Danish by default, English by the toggle, remembered in localStorage), number and date
 * formats, JSON requests with the API's error body, a Leaflet map with an optional base map, paged
 * GeoJSON from the OGC API, the raster tile layers of the release, and legends. Plain browser
 * JavaScript, no build step; everything the page shows comes from the JSON API.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("netkort-config").textContent);
  const STORE_KEY = "netkort.lang";
  const LOCALES = { da: "da-DK", en: "en-GB" };

  function storedLanguage() {
    try {
      return window.localStorage.getItem(STORE_KEY);
    } catch (err) {
      return null; // storage can be disabled; the page still works in the default language
    }
  }

  function initialLanguage() {
    const asked = new URLSearchParams(window.location.search).get("lang");
    for (const candidate of [asked, storedLanguage(), config.lang]) {
      if (candidate && config.languages.includes(candidate)) return candidate;
    }
    return config.languages[0];
  }

  let lang = initialLanguage();

  /** The text for a key in the current language, with {name} placeholders filled. */
  function t(key, vars) {
    const table = config.strings[lang] || {};
    let text = key in table ? table[key] : (config.strings.da[key] || key);
    if (vars) {
      for (const [name, value] of Object.entries(vars)) text = text.split(`{${name}}`).join(String(value));
    }
    return text;
  }

  /** Put the current language's texts into every element that names a key. */
  function applyLanguage(root) {
    const scope = root || document;
    document.documentElement.lang = lang;
    scope.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
    scope.querySelectorAll("[data-i18n-placeholder]").forEach((node) => {
      node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
    });
    scope.querySelectorAll("[data-i18n-aria-label]").forEach((node) => {
      node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel));
    });
    const toggle = document.getElementById("lang-toggle");
    if (toggle) toggle.setAttribute("lang", lang === "da" ? "en" : "da");
  }

  /** Switch language, remember it, and tell the page scripts to redraw what they built. */
  function setLanguage(next) {
    if (!config.languages.includes(next) || next === lang) return;
    lang = next;
    try {
      window.localStorage.setItem(STORE_KEY, next);
    } catch (err) {
      /* not remembered: private mode */
    }
    applyLanguage();
    document.dispatchEvent(new CustomEvent("netkort:language", { detail: { lang } }));
  }

  function numberFormat(options) {
    return new Intl.NumberFormat(LOCALES[lang] || lang, options);
  }

  /** A number in the page's language (Danish: 1.000,5). */
  function formatNumber(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    return numberFormat({ maximumFractionDigits: digits === undefined ? 1 : digits }).format(value);
  }

  /** A share 0..1 as a percentage with one decimal. */
  function formatShare(value) {
    if (value === null || value === undefined) return "–";
    return numberFormat({ style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(value);
  }

  /** A speed as the API gives it: null = the mapping had no such column, 0 = not offered. */
  function formatSpeed(value) {
    if (value === null || value === undefined) return t("not_reported");
    if (value === 0) return t("not_offered");
    return `${formatNumber(value, 1)} ${t("mbit")}`;
  }

  /** An ISO date or timestamp as a date in the page's language. */
  function formatDate(iso) {
    if (!iso) return "–";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    return new Intl.DateTimeFormat(LOCALES[lang] || lang, { dateStyle: "long", timeZone: "UTC" }).format(date);
  }

  /** An element with attributes, properties (``on*`` listeners) and children (nodes or text). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** An API answer that was not 2xx: the status and the error body's detail and suggestions. */
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.detail) || `HTTP ${status}`);
      this.status = status;
      this.suggestions = (body && body.suggestions) || [];
    }
  }

  /** GET a JSON document from the service; non-2xx answers raise ApiError. */
  async function getJSON(url, options) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, ...(options || {}) });
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  /** Every feature of an OGC items URL, following ``next`` links up to ``cap`` features. */
  async function fetchFeatures(url, cap, options) {
    const features = [];
    let matched = null;
    let next = url;
    while (next && features.length < cap) {
      const page = await getJSON(next, options);
      features.push(...page.features);
      if (matched === null && typeof page.numberMatched === "number") matched = page.numberMatched;
      const link = (page.links || []).find((l) => l.rel === "next");
      next = link ? link.href : null;
    }
    return { type: "FeatureCollection", features: features.slice(0, cap), matched: matched ?? features.length };
  }

  /** A Leaflet map in ``container``: no base map unless the service names one. */
  function createMap(container, options) {
    const map = L.map(container, {
      zoomControl: true,
      attributionControl: true,
      minZoom: 6,
      maxZoom: 18,
      zoomSnap: 0.25,
      ...(options || {}),
    });
    map.attributionControl.setPrefix("Leaflet");
    L.control.scale({ imperial: false }).addTo(map);
    if (config.base_map) {
      L.tileLayer(config.base_map, { maxZoom: 19, attribution: new URL(config.base_map, window.location.href).host }).addTo(map);
    }
    const release = config.release;
    if (release) {
      for (const line of release.attribution || []) map.attributionControl.addAttribution(escapeHtml(line));
    }
    return map;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  /** Municipality outline style: the folium pages' boundary colour. */
  function boundaryStyle(fill) {
    return { color: config.palette.boundary, weight: 2.5, opacity: 1, fill: true, fillColor: "#ffffff", fillOpacity: fill === undefined ? 0.55 : fill, className: "netkort-boundary" };
  }

  /** One colour per rule set (the newest gets the folium pages' zone colour). */
  const RULE_COLOURS = ["#1b9e77", "#7570b3", "#66a61e", "#a6761d", "#e6ab02"];
  function zoneColour(ruleSetId, allIds) {
    const ids = allIds || [];
    const index = ids.indexOf(ruleSetId);
    if (index === ids.length - 1 || index < 0) return config.palette.zone;
    return RULE_COLOURS[index % RULE_COLOURS.length];
  }

  function eligibleColour(klass) {
    return config.palette.eligible[klass] || "#555555";
  }

  /** The colour of a share (0..1) on the folium pages' class breaks. */
  function shareColour(share) {
    if (share === null || share === undefined || Number.isNaN(share)) return config.palette.no_data;
    const breaks = config.palette.share_breaks;
    let index = 0;
    for (let i = 0; i < breaks.length; i += 1) if (share >= breaks[i]) index = i;
    return config.palette.share_colours[index];
  }

  /** Labels of the share classes, e.g. "90–95 %". */
  function shareClasses() {
    const breaks = config.palette.share_breaks;
    return breaks.map((low, i) => {
      const high = i + 1 < breaks.length ? breaks[i + 1] : 1;
      const label = i + 1 < breaks.length ? `${formatNumber(low * 100, 0)}–${formatNumber(high * 100, 0)} %` : `≥ ${formatNumber(low * 100, 0)} %`;
      return { colour: config.palette.share_colours[i], label };
    });
  }

  /** The release's raster tile layers (mobile coverage per operator and technology), from
   * ``/tiles`` when the service has it: [{id, title, template, legend, minzoom, maxzoom, ...}]. */
  async function rasterLayers() {
    if (!config.tiles) return [];
    let listing;
    try {
      listing = await getJSON("/tiles");
    } catch (err) {
      return [];
    }
    const items = Array.isArray(listing) ? listing : listing.layers || [];
    return items
      .filter((item) => item.kind === "raster" && item.id)
      .map((item) => ({
        id: item.id,
        title: item.title || item.id,
        template: (Array.isArray(item.tiles) ? item.tiles[0] : item.tiles) || `/tiles/${encodeURIComponent(item.id)}/{z}/{x}/{y}.png`,
        legend: item.legend || `/tiles/${encodeURIComponent(item.id)}/legend`,
        minzoom: item.minzoom ?? 0,
        maxzoom: item.maxzoom ?? 18,
        bounds: item.bounds || null,
        generated: Boolean(item.generated),
      }));
  }

  /** A raster layer's legend in the page's language: [{colour, label}], highest values first. */
  async function rasterLegend(layer) {
    const body = await getJSON(layer.legend);
    return (body.entries || []).map((entry) => ({
      colour: entry.colour,
      label: entry[`label_${lang}`] || entry.label_da || `${entry.min}–${entry.max}`,
    }));
  }

  /** A Leaflet layer of a raster tile layer, asking only for tiles inside its bounds and zooms. */
  function rasterTileLayer(layer) {
    const options = { opacity: 0.65, minZoom: layer.minzoom, maxNativeZoom: layer.maxzoom, maxZoom: 19, className: "netkort-mobile" };
    if (layer.bounds) {
      const [w, s, e, n] = layer.bounds;
      options.bounds = L.latLngBounds([s, w], [n, e]);
    }
    return L.tileLayer(layer.template, options);
  }

  /** A legend group: a heading and swatches. ``shape``: "fill", "round" or "line". */
  function legendGroup(title, entries, shape) {
    return el(
      "div",
      { className: "legend-group" },
      el("h3", { text: title }),
      el(
        "ul",
        null,
        entries.map((entry) =>
          el(
            "li",
            { className: "legend-item" },
            el("span", { className: `swatch ${entry.shape || shape || ""}`, "aria-hidden": "true", "data-colour": entry.colour }),
            entry.label,
          ),
        ),
      ),
    );
  }

  /** Swatches get their colour from JS (a style attribute in markup would break a strict CSP). */
  function paintSwatches(root) {
    root.querySelectorAll(".swatch[data-colour]").forEach((node) => {
      if (node.classList.contains("line")) node.style.borderTopColor = node.dataset.colour;
      else node.style.backgroundColor = node.dataset.colour;
    });
  }

  const classKey = (klass) => `class_${klass}`;

  document.addEventListener("DOMContentLoaded", () => {
    applyLanguage();
    const toggle = document.getElementById("lang-toggle");
    if (toggle) toggle.addEventListener("click", () => setLanguage(lang === "da" ? "en" : "da"));
  });

  window.Netkort = {
    config,
    t,
    get lang() { return lang; },
    setLanguage,
    applyLanguage,
    formatNumber,
    formatShare,
    formatSpeed,
    formatDate,
    el,
    ApiError,
    getJSON,
    fetchFeatures,
    createMap,
    boundaryStyle,
    zoneColour,
    eligibleColour,
    shareColour,
    shareClasses,
    rasterLayers,
    rasterLegend,
    rasterTileLayer,
    legendGroup,
    paintSwatches,
    classKey,
  };
})();
