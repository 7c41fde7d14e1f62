/* netkort: the "report an error" form (/report?id=<address id>).
 *
 * Shows the address as /api/lookup knows it, lets the reporter say what is wrong, checks the form
 * in the browser (same rules as the server: required fields per kind, 0-10,000 Mbit/s, a speed test
 * needs its time and the time is not in the future, at most 2,000 characters of text) and posts it
 * to /api/reports. The server's 422 answer names each field; its messages are shown beside the
 * field too. Danish by default, English by the toggle (the choice is shared with the other pages).
 * No inline script or style: the page runs under a Content-Security-Policy of 'self'.
 */
(function () {
  "use strict";

  const N = window.Netkort;
  const MAX_SPEED = 10000;
  const MAX_TEXT = 2000;

  let lookup = null; // the /api/lookup answer for the address
  const errors = new Map(); // field id → message

  /** The form's texts are the ``report_*`` keys of the shared strings (i18n.json). */
  const t = (key, vars) => N.t(`report_${key}`, vars);

  const $ = (id) => document.getElementById(id);

  /** What this script wrote itself, again in the current language (common.js does the rest). */
  function relabel() {
    document.title = `${t("title")} – netkort`;
    showAddress();
    showErrors(false);
    countMessage();
  }

  function speed(down, up) {
    if (down === null || down === undefined) return t("unknown");
    if (down === 0) return t("not_offered");
    return `${N.formatNumber(down, 1)}/${N.formatNumber(up, 1)} Mbit/s`;
  }

  function showAddress() {
    const text = $("address-text");
    if (!lookup) return;
    if (lookup.error) {
      text.textContent = t("address_unknown");
      return;
    }
    text.textContent = lookup.address.text;
    const listed = $("address-listed");
    const declared = lookup.mobile.declared || {};
    listed.textContent = t("listed", {
      fixed: speed(lookup.fixed.best.down, lookup.fixed.best.up),
      mobile: speed(declared.down, declared.up),
    });
    listed.hidden = false;
    $("receipt-back").href = `/?id=${encodeURIComponent(lookup.address.id)}`;
  }

  function currentKind() {
    const checked = document.querySelector('input[name="kind"]:checked');
    return checked ? checked.value : "";
  }

  /** Show only the fieldsets that belong to the chosen kind (hidden ones are not sent). */
  function showKind() {
    const kind = currentKind();
    document.querySelectorAll("fieldset[data-kind]").forEach((set) => {
      set.hidden = !set.dataset.kind.split(" ").includes(kind);
    });
  }

  function countMessage() {
    $("message-count").textContent = `${$("message").value.length} / ${MAX_TEXT}`;
  }

  function value(id) {
    const node = $(id);
    return node && !node.closest("fieldset[hidden]") ? node.value.trim() : "";
  }

  function number(id) {
    const text = value(id).replace(",", ".");
    return text === "" ? null : Number(text);
  }

  /** The same rules the server applies, so most mistakes are caught before sending. */
  function check() {
    errors.clear();
    const kind = currentKind();
    const need = (id, key) => { if (value(id) === "") errors.set(id, t(key || "err_required")); };
    if (!kind) errors.set("kind-fixed", t("err_choose"));
    if (kind === "fixed_speed") need("technology", "err_choose");
    if (kind === "fixed_speed" || kind === "mobile_coverage") need("claimed_down");
    if (kind === "address") need("address_problem", "err_choose");
    if (kind === "address" && value("address_problem") === "other") need("message", "err_other");
    for (const id of ["claimed_down", "claimed_up", "speedtest_down", "speedtest_up"]) {
      const n = number(id);
      if (n !== null && !(Number.isFinite(n) && n >= 0 && n <= MAX_SPEED)) errors.set(id, t("err_number"));
    }
    const tested = number("speedtest_down") !== null || number("speedtest_up") !== null;
    const at = value("speedtest_at");
    if (tested && !at) errors.set("speedtest_at", t("err_test_time"));
    if (at && !tested) errors.set("speedtest_down", t("err_test_result"));
    if (at && new Date(at).getTime() > Date.now() + 5 * 60 * 1000) errors.set("speedtest_at", t("err_future"));
    if ($("message").value.length > MAX_TEXT) errors.set("message", t("err_too_long", { n: MAX_TEXT }));
    const email = value("contact_email");
    if (email && !/^[^@\s]+@[^@\s]+\.[^@\s]{2,}$/.test(email)) errors.set("contact_email", t("err_email"));
    return errors.size === 0;
  }

  /** Messages beside each field (aria-invalid + aria-describedby) and a summary that links them. */
  function showErrors(focus) {
    document.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
    document.querySelectorAll(".status.error").forEach((node) => { node.hidden = true; node.textContent = ""; });
    const list = $("error-list");
    list.replaceChildren();
    for (const [id, message] of errors) {
      const field = $(id);
      const slot = $(id.startsWith("kind") ? "kind-error" : `${id}-error`);
      if (field) field.setAttribute("aria-invalid", "true");
      if (slot) { slot.textContent = message; slot.hidden = false; }
      const label = document.querySelector(`label[for="${id}"]`);
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `#${id}`;
      link.textContent = `${label ? label.textContent : id}: ${message}`;
      link.addEventListener("click", (event) => { event.preventDefault(); if (field) field.focus(); });
      item.append(link);
      list.append(item);
    }
    $("error-summary").hidden = errors.size === 0;
    if (focus && errors.size) $("error-summary").focus();
  }

  function body() {
    const kind = currentKind();
    const out = { address_id: $("address_id").value, kind, reporter: value("reporter") || "citizen" };
    const put = (key, v) => { if (v !== "" && v !== null) out[key] = v; };
    if (kind === "fixed_speed") put("technology", value("technology"));
    if (kind === "mobile_coverage") put("operator", value("operator"));
    if (kind !== "address") { put("claimed_down", number("claimed_down")); put("claimed_up", number("claimed_up")); }
    if (kind === "address") { put("address_problem", value("address_problem")); put("claimed_text", value("claimed_text")); }
    put("message", value("message"));
    if (value("speedtest_at")) {
      const test = { at: new Date(value("speedtest_at")).toISOString() };
      if (number("speedtest_down") !== null) test.down = number("speedtest_down");
      if (number("speedtest_up") !== null) test.up = number("speedtest_up");
      if (value("speedtest_device")) test.device = value("speedtest_device");
      out.speedtest = test;
    }
    const contact = {};
    for (const part of ["name", "email", "phone"]) if (value(`contact_${part}`)) contact[part] = value(`contact_${part}`);
    if (Object.keys(contact).length) out.contact = contact;
    return out;
  }

  /** A field id for a server error location: ["body", "fixed_speed", "speedtest", "at"] → speedtest_at. */
  function fieldFor(loc) {
    const parts = loc.filter((p) => typeof p === "string" && !["body", "fixed_speed", "mobile_coverage", "address"].includes(p));
    if (parts.length === 0) return loc.includes("address_id") ? "address_id" : "kind-fixed";
    if (parts[0] === "speedtest" || parts[0] === "contact") return `${parts[0]}_${parts[1] || "down"}`;
    return parts[0] === "kind" ? "kind-fixed" : parts[0];
  }

  /** The server's message, or ours where it is a schema rule a person should not have to read. */
  function serverMessage(e) {
    const field = fieldFor(e.loc || []);
    if (e.type === "string_pattern_mismatch") return t(field === "contact_email" ? "err_email" : "err_pattern");
    if (e.type === "string_too_long") return t("err_too_long", { n: (e.msg.match(/\d+/) || [MAX_TEXT])[0] });
    if (/^(less|greater)_than/.test(e.type || "")) return t("err_number");
    // The library's rules, in the page's language (its messages are English).
    const known = [["in the future", "err_future"], ["before the year 2000", "err_before_2000"],
      ["not an e-mail", "err_email"], ["describe it", "err_other"], ["is required", "err_required"],
      ["between 0 and", "err_number"], ["control characters", "err_pattern"]];
    for (const [needle, key] of known) if ((e.msg || "").includes(needle)) return t(key);
    return e.msg;
  }

  async function submit(event) {
    event.preventDefault();
    const status = $("form-status");
    status.classList.remove("error");
    if (!check()) { showErrors(true); return; }
    showErrors(false);
    status.textContent = t("sending");
    $("submit").disabled = true;
    try {
      const response = await fetch("/api/reports", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body()),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.status === 201) {
        $("report-form").hidden = true;
        $("error-summary").hidden = true;
        $("receipt-id").textContent = answer.id;
        $("receipt-text").textContent = N.lang === "da" ? answer.message_da : answer.message_en;
        $("receipt").hidden = false;
        $("receipt").focus();
        return;
      }
      if (response.status === 422 && Array.isArray(answer.errors) && answer.errors.length) {
        for (const e of answer.errors) errors.set(fieldFor(e.loc || []), serverMessage(e));
        showErrors(true);
        status.textContent = "";
      } else if (response.status === 429) {
        status.textContent = t("err_rate", { s: response.headers.get("Retry-After") || "60" });
        status.classList.add("error");
      } else {
        status.textContent = t("err_server", { detail: answer.detail || response.statusText });
        status.classList.add("error");
      }
    } catch (err) {
      status.textContent = t("err_network");
      status.classList.add("error");
    } finally {
      $("submit").disabled = false;
    }
  }

  async function loadAddress(id) {
    try {
      const response = await fetch(`/api/lookup?id=${encodeURIComponent(id)}`, { headers: { Accept: "application/json" } });
      lookup = response.ok ? await response.json() : { error: true };
    } catch (err) {
      lookup = { error: true };
    }
    if (lookup.error) { $("report-form").hidden = true; $("address-missing").hidden = false; }
    showAddress();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const id = (new URLSearchParams(window.location.search).get("id") || "").trim();
    $("address_id").value = id;
    document.querySelectorAll('input[name="kind"]').forEach((r) => r.addEventListener("change", showKind));
    $("message").addEventListener("input", countMessage);
    $("report-form").addEventListener("submit", submit);
    document.addEventListener("netkort:language", relabel);
    showKind();
    relabel();
    if (id) {
      loadAddress(id);
    } else {
      $("report-form").hidden = true;
      $("address-text").hidden = true;
      $("address-missing").hidden = false;
    }
  });
})();
