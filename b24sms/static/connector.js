// The Open Lines connector's page (POST /connector): which of the portal's reply numbers feed this line, and
// connecting or disconnecting it (PUT /api/lines/<line>); the line's status as Bitrix24 reports it.
(function () {
  "use strict";
  var P = window.b24sms, t = P.t, $ = P.$, el = P.el, data = P.data;
  var line = data.line;

  function renderNumbers() {
    var list = $("line-numbers");
    list.textContent = "";
    data.numbers.forEach(function (number, index) {
      var box = el("input", { type: "checkbox", value: number, "data-field": "reply_numbers[" + index + "]" });
      box.checked = line.reply_numbers.indexOf(number) >= 0;
      list.appendChild(el("li", {}, [el("label", { class: "inline" }, [box, " " + number])]));
    });
    $("no-numbers").hidden = data.numbers.length > 0;
    $("connect").disabled = data.numbers.length === 0;
  }

  function renderStatus() {
    var parts = [line.active ? t("line_connected") : t("line_not_connected")];
    if (line.active && !line.status.configured) parts.push(t("line_not_configured"));
    if (line.status.error) parts.push(t("line_error", { words: line.status.error }));
    $("line-status").textContent = parts.join(" ");
    $("disconnect").hidden = !line.active;
  }

  function ticked() {
    return Array.prototype.filter.call(document.querySelectorAll("#line-numbers input"), function (box) {
      return box.checked;
    }).map(function (box) { return box.value; });
  }

  function change(active) {
    $("line-error").hidden = true;
    $("connect").disabled = $("disconnect").disabled = true;
    P.api("PUT", "/api/lines/" + encodeURIComponent(line.line), { reply_numbers: ticked(), active: active })
      .then(function (answer) {
        line = answer;
        renderStatus();
      }, function (error) {
        $("line-error").textContent = error.message;
        $("line-error").hidden = false;
        return P.api("GET", "/api/lines").then(function (lines) {
          lines.forEach(function (l) { if (l.line === line.line) line = l; });
          renderStatus();
        }, function () {});
      })
      .then(function () { $("connect").disabled = $("disconnect").disabled = false; P.fitWindow(); });
  }

  $("line-form").addEventListener("submit", function (event) { event.preventDefault(); change(true); });
  $("disconnect").addEventListener("click", function () { change(false); });
  renderNumbers();
  renderStatus();
})();
