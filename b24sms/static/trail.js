// A message's whole trail in the log (every provider tried, each status change, in words: GET /api/messages/<id>)
// and, for administrators, sending a failed message again (POST /api/messages/<id>/resend). static/log.js puts
// the "details" button in each row and reopens what was open when it redraws.
(function () {
  "use strict";
  var P = window.b24sms, t = P.t, el = P.el, data = P.data;
  var open = {}, trails = {}, results = {};  // by message id: kept across the log's refreshes

  function button(m) {
    var toggle = el("button", { type: "button", class: "link details-toggle", "aria-expanded": String(!!open[m.id]),
      text: open[m.id] ? t("hide_details") : t("details") });
    toggle.addEventListener("click", function () {
      open[m.id] = !open[m.id];
      toggle.textContent = open[m.id] ? t("hide_details") : t("details");
      toggle.setAttribute("aria-expanded", String(open[m.id]));
      var row = document.querySelector('#messages tr.details[data-id="' + m.id + '"]');
      if (row) row.remove();
      if (open[m.id]) show(m);
    });
    return toggle;
  }

  function show(m) {
    var anchor = document.querySelector('#messages tbody tr[data-id="' + m.id + '"]:not(.details)');
    if (!anchor) return;
    var box = el("div", { class: "details-box" }, [el("p", { class: "muted", text: t("loading") })]);
    anchor.parentNode.insertBefore(el("tr", { class: "details", "data-id": m.id }, [el("td", { colspan: "7" }, [box])]),
      anchor.nextSibling);
    var fill = function (details) {
      box.textContent = "";
      box.appendChild(el("ol", { class: "trail-steps" }, details.trail.map(function (step) {
        return el("li", { "data-event": step.event }, [el("time", { text: P.time(step.at) }), " ", step.words]);
      })));
      if (details.attempts) box.appendChild(el("p", { class: "muted", text: P.tn("attempts_count", details.attempts) }));
      if (data.is_admin && details.state === "failed") box.appendChild(resendControl(details));
      P.fitWindow();
    };
    if (trails[m.id] && trails[m.id].updated_at === m.updated_at) { fill(trails[m.id]); return; }
    P.api("GET", "/api/messages/" + m.id).then(function (details) {
      trails[m.id] = details;
      fill(details);
    }).catch(function (error) {
      box.textContent = "";
      box.appendChild(el("p", { class: "error", text: error.message }));
    });
  }

  function resendControl(details) {
    var done = results[details.id];
    var result = el("span", { role: "status", class: done ? done.kind : "", text: done ? done.text : "" });
    var again = el("button", { type: "button", class: "secondary resend", text: t("resend"),
      disabled: done && done.kind === "ok" ? "disabled" : null });
    again.addEventListener("click", function () {
      again.disabled = true;
      result.className = "";
      result.textContent = t("sending");
      P.api("POST", "/api/messages/" + details.id + "/resend").then(function (m) {
        var state = P.stateWords(m);  // inside a sentence: "Sent again: accepted by the provider."
        state = state.charAt(0).toLocaleLowerCase(data.language) + state.slice(1);
        results[details.id] = { kind: "ok", text: t("resent", { state: state }) };
        result.className = "ok";
        result.textContent = results[details.id].text;
        if (P.reloadLog) P.reloadLog();
      }).catch(function (error) {
        result.className = "error";
        result.textContent = error.message;
        again.disabled = false;
      });
    });
    return el("div", { class: "row" }, [again, result]);
  }

  P.trail = { button: button, reopen: function (m) { if (open[m.id]) show(m); } };
})();
