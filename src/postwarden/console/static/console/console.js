// Postwarden console: the little the pages need beyond htmx. No inline handlers (CSP).
(function () {
  "use strict";

  // Presets on the Email settings page: fill host, port, security (and a fixed username)
  // from the selected <option>'s data attributes. The server applies the same table when
  // the "Apply preset" button is used without JavaScript.
  function applyPreset(select) {
    var option = select.options[select.selectedIndex];
    var form = select.form;
    var note = document.getElementById("preset-note");
    var regionRow = document.getElementById("preset-region-row");
    if (!option || !option.value) {
      if (note) { note.textContent = ""; note.classList.add("hidden"); }
      if (regionRow) { regionRow.classList.add("hidden"); }
      return;
    }
    var needsRegion = option.dataset.host.indexOf("{region}") !== -1;
    if (regionRow) { regionRow.classList.toggle("hidden", !needsRegion); }
    var region = form.elements["preset_region"] ? form.elements["preset_region"].value : "";
    setField(form, "SMTP_HOST", option.dataset.host.replace("{region}", region));
    setField(form, "SMTP_PORT", option.dataset.port);
    setField(form, "SMTP_SECURITY", option.dataset.security);
    if (option.dataset.user) { setField(form, "SMTP_USER", option.dataset.user); }
    setField(form, "SMTP_AUTH", option.dataset.auth || "");
    if (option.dataset.oauth2Provider) { setField(form, "OAUTH2_PROVIDER", option.dataset.oauth2Provider); }
    setField(form, "EMAIL_PROVIDER", "smtp");
    if (note) { note.textContent = option.dataset.note; note.classList.remove("hidden"); }
  }

  function setField(form, name, value) {
    var field = form.elements[name];
    if (field && !field.disabled) {
      field.value = value;
      field.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "preset") { applyPreset(target); }
    if (target.name === "preset_region") {
      var preset = document.getElementById("preset");
      if (preset) { applyPreset(preset); }
    }
    if (target.classList && target.classList.contains("select-all")) {
      var boxes = document.querySelectorAll("input[name='" + target.dataset.for + "']");
      boxes.forEach(function (box) { box.checked = target.checked; });
    }
  });

  // Buttons that ask before they act: <button data-confirm="Revoke this key?">
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-confirm]") : null;
    if (button && !window.confirm(button.dataset.confirm)) { event.preventDefault(); }
  });

  // Template previews: each iframe keeps the width of the screen it shows (a laptop's,
  // a phone's) so the mail is laid out as there; where the page is narrower, the frame is
  // scaled down as a whole instead of squeezed. Runs on load, on resize and after htmx
  // swaps in a new preview.
  function fitPreviews() {
    document.querySelectorAll(".preview-viewport[data-fit]").forEach(function (box) {
      var frame = box.querySelector("iframe");
      var width = Number(box.dataset.fit);
      if (!frame || !width) { return; }
      frame.style.transform = "";
      box.style.height = "";
      var scale = Math.min(1, box.clientWidth / width);
      if (scale < 1) {
        frame.style.transform = "scale(" + scale + ")";
        box.style.height = (frame.offsetHeight * scale) + "px";
      }
      box.dataset.scale = String(scale);
    });
  }
  document.addEventListener("DOMContentLoaded", fitPreviews);
  document.addEventListener("htmx:afterSettle", fitPreviews);
  window.addEventListener("resize", fitPreviews);

  // Copy buttons: <button data-copy="#element-id">
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) { return; }
    var source = document.querySelector(button.dataset.copy);
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = "Copied";
    }
  });
})();
