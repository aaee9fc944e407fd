// The message log (filters, paging, CSV, refreshing while a message is still moving) and the 30-day chart. The
// log holds the clients' replies too (static/conversation.js has their words and opens a number's conversation).
(function () {
  "use strict";
  var P = window.b24sms, t = P.t, $ = P.$, el = P.el, data = P.data, C = P.conversation;
  var PAGE = 50, REFRESH_MS = 5000;
  var rows = [], refreshTimer = null, more = false;
  var LONG_TEXT = 160;  // characters past which a text is clipped to a few lines, with "show all"
  var openTexts = {};  // by message id: kept across the log's refreshes
  // Bitrix24's CRM owner types and where their cards live on the portal.
  var CRM_PATHS = { "1": "lead", "2": "deal", "3": "contact", "4": "company" };
  var DOCUMENT_PREFIXES = { LEAD: "lead", DEAL: "deal", CONTACT: "contact", COMPANY: "company" };

  // A message the quiet hours hold has not failed a try: it simply waits to be sent.
  function stateWords(m) { return t("state_words_" + (m.reason === "quiet_hours" ? "received" : m.state)); }
  P.stateWords = stateWords;

  // A provider's refusal in the admin's words, the provider's own words kept after them (the server words it).
  function errorWords(m) {
    if (!m.error) return "";
    if (m.error.words) return m.error.words;
    var kind = String(m.error.code || "").split(":")[0];
    var key = "error_" + kind;
    var template = data.strings[key] ? key : "error_other";
    return t(template, { provider: P.providerTitle(m.provider), words: m.error.message || m.error.code });
  }

  function crmLink(type, id) {
    var domain = data.portal.domain;
    if (!id || !domain) return null;
    var path = CRM_PATHS[type] ? "/crm/" + CRM_PATHS[type] + "/details/" + id + "/"
      : (Number(type) >= 128 || type === "31") ? "/crm/type/" + type + "/details/" + id + "/" : null;
    return path ? "https://" + domain + path : null;
  }

  function originCell(m) {
    var origin = m.origin || {};
    var module = origin.module_id;
    var url = null, words;
    if (module === "crm") {
      words = t("origin_crm");
      var binding = (origin.bindings || [])[0] || {};
      url = crmLink(String(binding.OWNER_TYPE_ID || ""), binding.OWNER_ID);
    } else if (module === "bizproc") {
      words = t("origin_robot");
      var doc = (origin.document_id || [])[2] || "";
      var match = /^([A-Z]+)_(\d+)$/.exec(String(doc));
      if (match && DOCUMENT_PREFIXES[match[1]]) {
        url = "https://" + data.portal.domain + "/crm/" + DOCUMENT_PREFIXES[match[1]] + "/details/" + match[2] + "/";
      }
    } else if (module === "b24sms-test") {
      words = t("origin_test");
    } else if (module === "imopenlines") {
      return lineCell(t("origin_operator"), m);
    } else {
      words = module ? String(module) : t("origin_unknown");
    }
    if (!url) return el("td", { text: words });
    return el("td", {}, [el("a", { href: url, target: "_blank", rel: "noopener", text: words })]);
  }

  // A reply (and the portal's number it came to), or an operator's answer: the Open Line it went to or came from.
  function lineCell(words, m, to) {
    return el("td", {}, [words, to ? el("div", { class: "muted nowrap", text: to }) : null,
      m.line ? el("div", { class: "muted", text: C.lineWords(m) }) : null]);
  }

  function trail(m) {
    if (!m.tried || !m.tried.length) return null;
    var steps = m.tried.map(function (step) {
      var key = ["trail_" + step.result, "error_short_" + step.result].filter(function (k) { return data.strings[k]; })[0];
      var result = key ? t(key) : step.result;
      return P.providerTitle(step.provider) + ": " + result;
    });
    return el("div", { class: "trail muted", text: steps.join(" → ") });
  }

  // The column headings, for the cells of the narrow layout (a card per message, each value under its name).
  function headings() {
    return Array.prototype.map.call(document.querySelectorAll("#messages thead th"), function (th) {
      return th.textContent;
    });
  }

  // A long text is clipped to a few lines; "show all" opens it in place, "hide" clips it again.
  function textCell(m) {
    var text = el("div", { class: "clip" + (openTexts[m.id] ? " open" : ""), text: m.text });
    var cell = el("td", { class: "text" }, [text]);
    if ((m.text || "").length > LONG_TEXT || (m.text || "").split("\n").length > 3) {
      var toggle = el("button", { type: "button", class: "link toggle", "aria-expanded": String(!!openTexts[m.id]),
        text: openTexts[m.id] ? t("show_less") : t("show_all") });
      toggle.addEventListener("click", function () {
        openTexts[m.id] = !openTexts[m.id];
        text.classList.toggle("open", openTexts[m.id]);
        toggle.textContent = openTexts[m.id] ? t("show_less") : t("show_all");
        toggle.setAttribute("aria-expanded", String(openTexts[m.id]));
      });
      cell.appendChild(toggle);
    } else {
      text.classList.add("open");
    }
    if (P.messageCost && m.direction !== "in") cell.appendChild(P.messageCost(m));  // costs.js
    return cell;
  }

  // The client's number (a link to the conversation), a reply marked as such.
  function numberCell(m) {
    var incoming = m.direction === "in";
    return el("td", { class: "nowrap" }, [C.link(m), incoming ? el("div", { class: "direction-in", text: "← " + t("direction_in") }) : null]);
  }

  function replyRow(m) {
    var status = el("td", { class: "status status-in-" + m.state }, [el("span", { text: C.incomingWords(m) })]);
    C.incomingNotes(m).forEach(function (note) { status.appendChild(note); });
    return [el("td"), el("td", { text: P.providerTitle(m.provider) }),
      lineCell(t("origin_reply"), m, t("to_our_number", { number: m.to })), status];
  }

  function messageRow(m) {
    var cells = [el("td", { class: "nowrap", text: P.time(m.created_at) }), numberCell(m), textCell(m)];
    cells = cells.concat(m.direction === "in" ? replyRow(m) : sentRow(m));
    var names = headings();
    cells.forEach(function (cell, i) { cell.setAttribute("data-label", names[i] || ""); });
    return el("tr", { "data-message-id": m.message_id, "data-id": m.id, "data-direction": m.direction }, cells);
  }

  function sentRow(m) {
    var provider = el("td", {}, [P.providerTitle(m.provider), m.tried && m.tried.length > 1 ? trail(m) : null]);
    var status = el("td", { class: "status status-" + m.state }, [el("span", { text: stateWords(m) })]);
    // The guard rails' reason replaces the error words: it says in full why the message waits or was not sent.
    var reason = m.reason && data.strings["reason_" + m.reason] ? t("reason_" + m.reason) : "";
    var error = reason ? "" : errorWords(m);
    if (reason) status.appendChild(el("div", { class: "reason " + (m.state === "failed" ? "error" : "warning"), text: reason }));
    if (error) status.appendChild(el("div", { class: "error", text: error }));
    if (m.possible_duplicate) status.appendChild(el("div", { class: "warning", text: t("possible_duplicate") }));
    if (m.origin && m.origin.resent_from) status.appendChild(el("div", { class: "muted", text: t("resent_from") }));
    if (P.trail) status.appendChild(el("div", {}, [P.trail.button(m)]));  // static/trail.js
    return [el("td", { text: m.sender || "" }), provider, originCell(m), status];
  }

  function filterQuery() {
    var chosen = $("filter-status").selectedOptions[0];  // the replies' options carry direction=in
    var direction = chosen && chosen.getAttribute("data-direction");
    var params = direction ? ["direction=" + direction] : [];
    [["status", "filter-status"], ["provider", "filter-provider"], ["from", "filter-from"], ["to", "filter-to"],
      ["q", "filter-q"]].forEach(function (pair) {
      var value = $(pair[1]).value.trim();
      if (value) params.push(pair[0] + "=" + encodeURIComponent(value));
    });
    return params;
  }

  function render() {
    var body = document.querySelector("#messages tbody");
    body.textContent = "";
    rows.forEach(function (m) { body.appendChild(messageRow(m)); });
    if (P.trail) rows.forEach(P.trail.reopen);
    $("log-empty").hidden = rows.length > 0;
    $("log-more").hidden = !more;
  }

  // limit: how many of the newest to read again (a refresh keeps the pages already shown).
  function load(options) {
    var before = options && options.before;
    var limit = options && options.limit ? Math.min(options.limit, 200) : PAGE;
    var query = filterQuery().concat(["limit=" + limit]);
    if (before) query.push("before=" + encodeURIComponent(before));
    return P.api("GET", "/api/messages?" + query.join("&")).then(function (page) {
      rows = before ? rows.concat(C.unseen(rows, page)) : page;
      if (!before) loadStats();  // the counts move with the messages
      more = page.length === limit;
      $("log-error").hidden = true;
      render();
      scheduleRefresh();
    }).catch(function (error) {
      $("log-error").textContent = error.message;
      $("log-error").hidden = false;
    });
  }

  function scheduleRefresh() {
    window.clearTimeout(refreshTimer);
    var moving = rows.some(C.moving);
    if (moving) refreshTimer = window.setTimeout(function () { load({ limit: Math.max(rows.length, PAGE) }); }, REFRESH_MS);
  }

  function exportCsv() {
    P.request("GET", "/api/messages.csv?" + filterQuery().join("&")).then(function (response) {
      if (!response.ok) throw new Error(t("http_error", { status: response.status }));
      return response.blob();
    }).then(function (blob) {
      var link = el("a", { href: URL.createObjectURL(blob), download: "b24sms-messages.csv" });
      document.body.appendChild(link);
      link.click();
      link.remove();
    }).catch(function (error) { $("log-error").textContent = error.message; $("log-error").hidden = false; });
  }

  // ---- the chart: a stacked bar per day, drawn as SVG (no library, nothing from elsewhere) ----
  var SERIES = ["delivered", "undelivered", "failed", "pending"];
  var SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  function dayCounts(d) {
    // "pending": sent and not (yet) in a final state.
    return { delivered: d.delivered, undelivered: d.undelivered, failed: d.failed,
      pending: Math.max(0, d.sent - d.delivered - d.undelivered - d.failed) };
  }

  function drawChart(stats) {
    var days = stats.days, width = 600, height = 160, bottom = 18;
    var top = Math.max(1, Math.max.apply(null, days.map(function (d) {
      var c = dayCounts(d); return c.delivered + c.undelivered + c.failed + c.pending;
    })));
    var slot = width / days.length, chart = svg("svg", { viewBox: "0 0 " + width + " " + height, class: "chart" });
    days.forEach(function (d, i) {
      var c = dayCounts(d), y = height - bottom;
      var group = svg("g", {}, [svg("title", {})]);
      group.firstChild.textContent = P.day(d.date) + ": " + t("chart_day", {
        sent: P.number(d.sent), delivered: P.number(d.delivered), undelivered: P.number(d.undelivered),
        failed: P.number(d.failed), segments: P.tn("segments_count", d.segments) });
      SERIES.forEach(function (name) {
        var h = (c[name] / top) * (height - bottom - 4);
        if (h <= 0) return;
        y -= h;
        group.appendChild(svg("rect", { x: (i * slot + 1).toFixed(1), y: y.toFixed(1), width: Math.max(1, slot - 2).toFixed(1),
          height: h.toFixed(1), class: "bar-" + name }));
      });
      if (i % 5 === 0 || i === days.length - 1) {
        var label = svg("text", { x: (i * slot + slot / 2).toFixed(1), y: height - 4, class: "axis" });
        label.textContent = P.day(d.date);
        group.appendChild(label);
      }
      chart.appendChild(group);
    });
    $("chart").textContent = "";
    $("chart").appendChild(chart);
    var legend = $("chart-legend");
    legend.textContent = "";
    SERIES.forEach(function (name) {
      legend.appendChild(el("span", { class: "key key-" + name, text: t("series_" + name) }));
    });
  }

  function showStats(stats) {
    var sum = { sent: 0, delivered: 0, undelivered: 0, failed: 0, segments: 0 };
    stats.days.forEach(function (d) { Object.keys(sum).forEach(function (k) { sum[k] += d[k]; }); });
    $("stats-totals").textContent = t("stats_totals", { sent: P.number(sum.sent), delivered: P.number(sum.delivered),
      undelivered: P.number(sum.undelivered), failed: P.number(sum.failed),
      segments: P.tn("segments_count", sum.segments) });
    var refused = Object.keys(stats.refused || {}).filter(function (r) { return data.strings["refused_short_" + r]; });
    if (refused.length) {
      $("stats-totals").textContent += " " + t("refused_totals", { list: refused.map(function (r) {
        return t("refused_short_" + r, { n: P.number(stats.refused[r]) });
      }).join(", ") });
    }
    var empty = !stats.days.some(function (d) { return d.sent || d.failed; });
    $("chart").hidden = $("chart-legend").hidden = empty;
    if (!empty) drawChart(stats);
    var body = document.querySelector("#provider-stats tbody");
    body.textContent = "";
    stats.providers.forEach(function (p) {
      body.appendChild(el("tr", {}, [el("td", { text: P.providerTitle(p.kind) }), el("td", { text: P.number(p.sent) }),
        el("td", { text: P.number(p.delivered) }), el("td", { text: P.number(p.failed) })]));
    });
    $("provider-stats").hidden = !stats.providers.length;
    if (P.showSpend) P.showSpend(stats);  // costs.js
  }

  function fillProviderFilter() {
    var select = $("filter-provider");
    data.catalog.forEach(function (p) { select.appendChild(el("option", { value: p.kind, text: p.title })); });
  }

  $("log-filters").addEventListener("submit", function (event) { event.preventDefault(); load(); });
  $("log-more").addEventListener("click", function () {
    if (rows.length) load({ before: String(rows[rows.length - 1].id) });
  });
  $("export-csv").addEventListener("click", exportCsv);
  P.reloadLog = function () { load({ limit: Math.max(rows.length, PAGE) }); };

  function loadStats() {
    if (data.is_admin) P.api("GET", "/api/stats?days=30").then(showStats).catch(function () {});
  }

  fillProviderFilter();
  load();
})();
