// The guard rails part of the page (admins only): caps, the repeat window, quiet hours, and the stop list.
(function () {
  "use strict";
  var P = window.b24sms, t = P.t, $ = P.$, el = P.el;
  var entries = [], more = false, PAGE = 100;

  function clearErrors(form, box) {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (n) { n.remove(); });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (n) { n.removeAttribute("aria-invalid"); });
    box.hidden = true;
  }

  function showError(error, box) {
    var input = error.field && document.querySelector('[data-field="' + error.field.replace(/\[\d+\]$/, "") + '"]');
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.parentNode.appendChild(el("small", { class: "field-error", role: "alert", text: error.message }));
      input.focus();
    } else {
      box.textContent = error.message;
      box.hidden = false;
    }
  }

  // ---- caps, repeats, quiet hours ----
  function number(id) { var v = $(id).value.trim(); return v === "" ? null : Number(v); }
  function amount(id) { var v = $(id).value.trim(); return v === "" ? null : v; }

  function showGuards(g) {
    $("guard-daily-messages").value = g.daily_messages === null ? "" : g.daily_messages;
    $("guard-monthly-messages").value = g.monthly_messages === null ? "" : g.monthly_messages;
    $("guard-daily-spend").value = g.daily_spend === null ? "" : g.daily_spend;
    $("guard-monthly-spend").value = g.monthly_spend === null ? "" : g.monthly_spend;
    $("guard-repeat").value = g.repeat_window_minutes;
    $("guard-quiet").checked = !!g.quiet_hours;
    $("guard-quiet-from").value = g.quiet_hours ? g.quiet_hours.from : "21:00";
    $("guard-quiet-to").value = g.quiet_hours ? g.quiet_hours.to : "09:00";
    $("quiet-times").hidden = !g.quiet_hours;
    stopWords = g.stop_words || [];
  }
  var stopWords = [];

  function guardsBody() {
    var repeat = $("guard-repeat").value.trim();
    return {
      daily_messages: number("guard-daily-messages"), monthly_messages: number("guard-monthly-messages"),
      daily_spend: amount("guard-daily-spend"), monthly_spend: amount("guard-monthly-spend"),
      repeat_window_minutes: repeat === "" ? 0 : Number(repeat),
      quiet_hours: $("guard-quiet").checked ? { from: $("guard-quiet-from").value, to: $("guard-quiet-to").value } : null,
      stop_words: stopWords
    };
  }

  $("guard-quiet").addEventListener("change", function () { $("quiet-times").hidden = !$("guard-quiet").checked; });
  $("guards-form").addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors($("guards-form"), $("guards-error"));
    $("guards-saved").hidden = true;
    P.api("PUT", "/api/settings", { guards: guardsBody() }).then(function (answer) {
      showGuards(answer.guards);
      $("guards-saved").hidden = false;
    }).catch(function (error) { showError(error, $("guards-error")); });
  });

  // ---- the stop list ----
  function pasted() {
    return $("stop-numbers").value.split(/[\n,;]+/).map(function (s) { return s.trim(); })
      .filter(function (s) { return s; });
  }

  function change(body) {
    clearErrors($("stop-form"), $("stop-error"));
    $("stop-result").textContent = "";
    return P.api("PUT", "/api/stop-list", body).then(function (answer) {
      $("stop-result").textContent = t("stop_list_changed", { added: P.number(answer.added), removed: P.number(answer.removed) });
      $("stop-numbers").value = "";
      loadStopList();
    }).catch(function (error) { showError(error, $("stop-error")); });
  }

  function entryRow(entry) {
    var remove = P.removeControl(function () { change({ remove: [entry.number] }); }, entry.number);
    return el("tr", { "data-number": entry.number }, [
      el("td", { class: "nowrap", text: entry.number }), el("td", { text: t("stop_reason_" + entry.reason) }),
      el("td", { class: "nowrap", text: P.time(entry.created_at) }), el("td", {}, [remove])]);
  }

  function render() {
    var body = document.querySelector("#stop-list tbody");
    body.textContent = "";
    entries.forEach(function (entry) { body.appendChild(entryRow(entry)); });
    $("stop-list").hidden = !entries.length;
    $("stop-empty").hidden = !!entries.length;
    $("stop-empty").textContent = t("stop_list_empty");
    $("stop-more").hidden = !more;
  }

  function loadStopList(before) {
    var query = ["q=" + encodeURIComponent($("stop-q").value.trim())];
    if (before) query.push("before=" + before);
    return P.api("GET", "/api/stop-list?" + query.join("&")).then(function (page) {
      entries = before ? entries.concat(page) : page;
      more = page.length === PAGE;
      render();
    }).catch(function (error) { $("stop-error").textContent = error.message; $("stop-error").hidden = false; });
  }

  $("stop-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (pasted().length) change({ add: pasted() });
  });
  $("stop-remove").addEventListener("click", function () { if (pasted().length) change({ remove: pasted() }); });
  var searchTimer = null;
  $("stop-q").addEventListener("input", function () {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(function () { loadStopList(); }, 300);
  });
  $("stop-more").addEventListener("click", function () { if (entries.length) loadStopList(entries[entries.length - 1].id); });

  P.api("GET", "/api/settings").then(function (answer) { showGuards(answer.guards); }).catch(function () {});
  loadStopList();
})();
