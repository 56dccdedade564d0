// Postwarden console: the little the pages need beyond htmx. No inline handlers (CSP).
(function () {
  "use strict";

  // The words this script writes, in the page's language: base.html carries them as JSON
  // (console/context.py js_strings); {name} is filled from the values given.
  var strings = {};
  var block = document.getElementById("console-strings");
  if (block) { strings = JSON.parse(block.textContent); }
  // numbers in the page's digits (Persian digits on a Persian page), as the server writes them
  var digits = window.Intl ? new Intl.NumberFormat(document.documentElement.lang || "en", { maximumFractionDigits: 1 }) : null;
  function t(key, values) {
    var text = strings[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      var value = values[name];
      var shown = typeof value === "number" && digits ? digits.format(value) : String(value);
      text = text.split("{" + name + "}").join(shown);
    });
    return text;
  }

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
      button.textContent = t("copied");
    }
  });

  // Email settings: only the chosen transport's cards show. The server renders the same
  // choice (and, without JavaScript, "Show its settings" asks it for another one).
  function showChosen(form) {
    if (!form || form.id !== "settings-form") { return; }
    var provider = form.elements["EMAIL_PROVIDER"];
    var auth = form.elements["SMTP_AUTH"];
    var host = form.elements["SMTP_HOST"];
    // empty is the default: capture, or smtp when SMTP_HOST is set (the resolver's rule)
    var chosen = (provider && provider.value) || (host && host.value.trim() ? "smtp" : "capture");
    var signIn = (auth && auth.value) || form.dataset.authDefault;
    form.querySelectorAll("[data-provider]").forEach(function (card) {
      var wanted = card.dataset.provider.split(" ").indexOf(chosen) !== -1 &&
        (!card.dataset.auth || card.dataset.auth === signIn);
      card.hidden = !wanted;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".js-hidden").forEach(function (element) { element.hidden = true; });
    showChosen(document.getElementById("settings-form"));
  });
  document.addEventListener("change", function (event) {
    var name = event.target.name;
    if (name === "EMAIL_PROVIDER" || name === "SMTP_AUTH" || name === "SMTP_HOST") { showChosen(event.target.form); }
  });
  // a link to a field inside a closed "More options" or advanced section opens it
  function reveal(hash) {
    var target = hash && hash.length > 1 ? document.getElementById(hash.slice(1)) : null;
    for (var node = target; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") { node.open = true; }
    }
    if (target) { target.scrollIntoView(); }
  }
  window.addEventListener("hashchange", function () { reveal(window.location.hash); });
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[href^='#']") : null;
    if (link) { reveal(link.getAttribute("href")); }
  });

  // Test connection, live: the buttons wait while a test runs (one result at a time),
  // each stage shows as it starts and ends, with the seconds left before its timeout.
  // The answer is newline-delimited JSON (views/settings.py); without JavaScript the
  // button posts the form and the whole page comes back with the result.
  var running = false;
  function stageList(stages) {
    var list = document.createElement("ol");
    list.className = "pipeline live";
    stages.forEach(function (s) {
      var item = document.createElement("li");
      item.dataset.stage = s.stage;
      item.className = "pending";
      var label = document.createElement("span");
      label.className = "stage";
      label.textContent = s.label;
      var state = document.createElement("span");
      state.className = "badge skip";
      state.textContent = t("waiting");
      item.appendChild(label);
      item.appendChild(state);
      list.appendChild(item);
    });
    return list;
  }
  function stageItem(list, event) {
    var item = list.querySelector("li[data-stage='" + event.stage + "']");
    if (!item) {
      item = stageList([{ stage: event.stage, label: event.label }]).firstChild;
      list.appendChild(item);
    }
    return item;
  }
  function setStage(item, status, text, title) {
    item.className = status;
    var badge = item.querySelector(".badge");
    badge.className = "badge " + (status === "running" ? "warn" : status);
    badge.textContent = text;
    if (title) { item.title = title; }
  }
  function liveTest(button) {
    var form = button.form;
    var progress = document.getElementById("test-progress");
    var result = document.getElementById("test-result");
    var buttons = form.querySelectorAll("#test-actions button");
    running = true;
    buttons.forEach(function (b) { b.disabled = true; });
    form.setAttribute("aria-busy", "true");
    result.innerHTML = "";
    progress.hidden = false;
    progress.textContent = "";
    var heading = document.createElement("p");
    heading.id = "test-clock";
    heading.textContent = t("testing");
    progress.appendChild(heading);
    var list = stageList([]);
    progress.appendChild(list);
    var clock = null;
    var timeout = 0;
    var limit = 0;
    var began = Date.now();
    var stageStarted = Date.now();
    var current = null;
    function tick() {
      var now = Date.now();
      var overall = Math.max(0, Math.ceil(limit - (now - began) / 1000));
      var text = t("testing_overall", { overall: overall });
      if (current) {
        var left = Math.max(0, Math.ceil(timeout - (now - stageStarted) / 1000));
        text = t("testing_stage", { label: current.label, left: left, overall: overall });
        var badge = current.item.querySelector(".badge");
        badge.textContent = t("running_left", { left: left });
      }
      heading.textContent = text;
    }
    function handle(event) {
      if (event.event === "begin") {
        timeout = event.timeout || 0;
        limit = event.limit || 0;
        var fresh = stageList(event.stages || []);
        list.replaceWith(fresh);
        list = fresh;
        clock = window.setInterval(tick, 250);
        tick();
      } else if (event.event === "start") {
        var item = stageItem(list, event);
        setStage(item, "running", t("running"));
        current = { item: item, label: event.label };
        stageStarted = Date.now();
        tick();
      } else if (event.event === "step") {
        var done = stageItem(list, event);
        setStage(done, event.ok ? "pass" : "fail", t(event.ok ? "ok_ms" : "failed_ms", { ms: event.ms }), event.detail);
        if (current && current.item === done) { current = null; }
      } else if (event.event === "outcome") {
        result.innerHTML = event.html;
      }
    }
    var body = new FormData(form);
    return window.fetch(button.dataset.live, {
      method: "POST",
      body: body,
      headers: { "Accept": "application/x-ndjson" },
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok || !response.body) { throw new Error(t("server_answered", { status: response.status })); }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { return; }
          buffer += decoder.decode(chunk.value, { stream: true });
          var lines = buffer.split("\n");
          buffer = lines.pop();
          lines.forEach(function (line) { if (line.trim()) { handle(JSON.parse(line)); } });
          return pump();
        });
      }
      return pump();
    }).catch(function (error) {
      var failed = document.createElement("p");
      failed.className = "flash error";
      failed.textContent = t("could_not_finish", { error: error.message });
      result.appendChild(failed);
    }).then(function () {
      if (clock) { window.clearInterval(clock); }
      heading.textContent = t("tested_in", { seconds: Math.round((Date.now() - began) / 100) / 10 });
      list.querySelectorAll("li.pending .badge").forEach(function (badge) { badge.textContent = t("not_reached"); });
      running = false;
      buttons.forEach(function (b) { b.disabled = false; });
      form.removeAttribute("aria-busy");
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-live]") : null;
    if (!button || !window.fetch || !window.TextDecoder) { return; }
    event.preventDefault();
    if (!running) { liveTest(button); }
  });
})();
