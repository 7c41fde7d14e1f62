/* The planner's "changes since the previous release" panel: counts per kind for the chosen
 * municipality under the chosen rule set (from /api/changes), and the changed addresses as a map
 * layer coloured by their primary kind. planner.js owns the map and the page state and hands this
 * module what it needs through create(ctx); the panel keeps only the last /api/changes answer.
 */
(function () {
  "use strict";

  const N = window.Netkort;
  const { t, el } = N;
  const CHANGES_LIMIT = 2000;

  /** Map colours of the changed addresses by their primary kind; kinds not named here are amber. */
  const CHANGE_GROUPS = [
    { colour: "#1f78b4", kinds: ["added_to_register"] },
    { colour: "#8c8c8c", kinds: ["removed_from_register"] },
    { colour: "#d7301f", kinds: ["lost_fast", "stopped_being_eligible"] },
    { colour: "#1a9850", kinds: ["got_fast", "became_eligible"] },
  ];
  const CHANGE_OTHER = "#f0a202";

  /** ctx: { state (code, rid, generation), map(), shown (Map of drawn layers), drop(key),
   * checked(id), renderLegend(), print (bool) }. */
  function create(ctx) {
    let answerHeld = null; // the /api/changes answer for the chosen municipality and rule set

    function changeColour(kind) {
      const group = CHANGE_GROUPS.find((g) => g.kinds.includes(kind));
      return group ? group.colour : CHANGE_OTHER;
    }

    function changeLegend() {
      return [
        ...CHANGE_GROUPS.map((g) => ({ colour: g.colour, label: g.kinds.map((k) => t(`change_${k}`)).join(", ") })),
        { colour: CHANGE_OTHER, label: t("changes_other") },
      ];
    }

    /** Whether the server said, in the page config, that there is no release before this one; when
     * it does not say, the answer of /api/changes decides (404: no earlier release). */
    function knownWithoutPrevious() {
      const release = N.config.release;
      return Boolean(release && "previous" in release && !release.previous);
    }

    function showChangesState(which, text) {
      document.getElementById("changes-none").hidden = which !== "none";
      document.getElementById("changes-content").hidden = which !== "content";
      document.getElementById("changes-status").textContent = text || "";
    }

    function renderChanges() {
      const answer = answerHeld;
      const panel = document.getElementById("changes-panel");
      if (!panel || !answer) return;
      document.getElementById("changes-releases").textContent = t("changes_compared", { from: answer.from, to: answer.to });
      const row = answer.counts.find((c) => c.kommunekode === ctx.state.code);
      const kinds = row ? Object.entries(row.kinds).filter(([, n]) => n > 0) : [];
      const table = document.getElementById("changes-table");
      table.tBodies[0].replaceChildren(
        ...kinds.map(([kind, n]) =>
          el(
            "tr",
            { "data-kind": kind },
            el("th", { scope: "row" }, el("span", { className: "swatch round", "aria-hidden": "true", "data-colour": changeColour(kind) }), t(`change_${kind}`)),
            el("td", { className: "num", "data-value": n }, N.formatNumber(n, 0)),
          ),
        ),
      );
      const changed = row ? row.changed : 0;
      table.tFoot.replaceChildren(
        el("tr", { "data-kind": "changed" }, el("th", { scope: "row" }, t("changes_total")), el("td", { className: "num", "data-value": changed }, N.formatNumber(changed, 0))),
      );
      N.paintSwatches(table);
      const notes = [];
      if (!changed) notes.push(t("changes_none"));
      if (answer.truncated) notes.push(t("features_truncated", { shown: answer.changes.features.length, total: answer.matched }));
      showChangesState("content", notes.join(" "));
    }

    function drawChanges() {
      ctx.drop("changes");
      if (!answerHeld || !ctx.checked("layer-changes")) return;
      const layer = L.geoJSON(answerHeld.changes, {
        pointToLayer: (f, latlng) =>
          L.circleMarker(latlng, {
            radius: 6,
            weight: 1.5,
            color: "#ffffff",
            fillColor: changeColour(f.properties.kind),
            fillOpacity: 0.95,
            className: `netkort-change change-${f.properties.kind}`,
          }),
        onEachFeature: (f, l) => {
          const p = f.properties;
          const where = [p.vejnavn, p.husnr].filter(Boolean).join(" ");
          const kinds = p.kinds.split(";").filter(Boolean).map((k) => t(`change_${k}`)).join(", ");
          l.bindTooltip(`${where}${p.postnr ? `, ${p.postnr}` : ""} – ${kinds}`);
        },
      }).addTo(ctx.map());
      ctx.shown.set("changes", layer);
    }

    /** Fetch what changed in the chosen municipality under the chosen rule set, fill the panel and,
     * when its switch is on, draw the changed addresses. Only while the panel is open: a diff can
     * take seconds the first time, and with a single release the API answers 404, which the
     * browser logs as an error unless the page config already says there is nothing before. */
    async function refreshChanges(gen) {
      const panel = document.getElementById("changes-panel");
      if (ctx.print || !panel || !panel.open || !ctx.state.code) return;
      if (panel.dataset.ready === `${ctx.state.code}|${ctx.state.rid}` && answerHeld) {
        drawChanges(); // the layers were cleared; the answer still holds
        return;
      }
      panel.dataset.ready = "";
      answerHeld = null;
      if (knownWithoutPrevious()) {
        showChangesState("none");
        panel.dataset.ready = "none";
        return;
      }
      showChangesState(null, t("loading"));
      const params = new URLSearchParams({ municipality: ctx.state.code, limit: String(CHANGES_LIMIT) });
      if (ctx.state.rid) params.set("rules", ctx.state.rid);
      let answer;
      try {
        answer = await N.getJSON(`/api/changes?${params}`);
      } catch (err) {
        if (gen !== ctx.state.generation) return;
        if (err instanceof N.ApiError && err.status === 404) {
          showChangesState("none");
          panel.dataset.ready = "none";
        } else {
          showChangesState(null, t("error_generic", { detail: err.message }));
          panel.dataset.ready = "error";
        }
        return;
      }
      if (gen !== ctx.state.generation) return;
      answerHeld = answer;
      renderChanges();
      drawChanges();
      ctx.renderLegend();
      panel.dataset.ready = `${ctx.state.code}|${ctx.state.rid}`;
    }

    return {
      refresh: refreshChanges,
      draw: drawChanges,
      render: renderChanges,
      legend: () => (ctx.shown.has("changes") ? N.legendGroup(t("changes_heading"), changeLegend(), "round") : null),
    };
  }

  window.NetkortChanges = { create };
})();
