// Length and cost: the test SMS's characters, encoding and segments as it is typed, each logged message's segments
// and price, and the spend per day, per provider and month to date. The segments rule is the server's own
// (b24sms/rules/segments.py, handed over in the page's data): this file keeps no character table of its own.
(function () {
  "use strict";
  var P = window.b24sms, $ = P.$, el = P.el;
  var costs = P.data.costs || {};
  var words = costs.strings || {}, plurals = costs.plurals || {}, rule = costs.segments_rule;
  var pluralRules = new Intl.PluralRules(P.data.language);
  var number = new Intl.NumberFormat(P.data.language);
  var TAKEN = { accepted: 1, sent: 1, delivered: 1, undelivered: 1 };

  function t(key, params) {
    return (words[key] || key).replace(/%\((\w+)\)s/g, function (_, name) {
      return params && params[name] !== undefined && params[name] !== null ? String(params[name]) : "";
    });
  }

  // "24 characters", "24 символа": the form of the number's plural category in the page's language.
  function counted(word, n) {
    var forms = plurals[word] || {};
    var template = forms[pluralRules.select(n)] || forms.other || forms.many || "%(n)s";
    return template.replace("%(n)s", number.format(n));
  }

  // ---- the segments rule, as rules/segments.py measures ----
  var gsm7 = {}, extension = {};
  Array.from(rule.gsm7).forEach(function (c) { gsm7[c] = true; });
  Array.from(rule.gsm7_extension).forEach(function (c) { extension[c] = true; });

  function measure(text) {
    var characters = Array.from(text);  // code points, as Python counts them
    var isGsm7 = characters.every(function (c) { return gsm7[c] || extension[c]; });
    var encoding = isGsm7 ? "gsm7" : "ucs2";
    // GSM-7: the extension characters take two units; UCS-2: UTF-16 code units (an emoji takes two).
    var units = isGsm7 ? characters.reduce(function (sum, c) { return sum + (extension[c] ? 2 : 1); }, 0)
      : text.length;
    var limits = rule.limits[encoding];
    return { characters: characters.length, encoding: encoding,
      segments: units <= limits[0] ? 1 : Math.ceil(units / limits[1]) };
  }

  function lengthWords(length) {
    return t("length_line", { characters: counted("characters", length.characters),
      encoding: t("encoding_" + length.encoding), segments: counted("segments", length.segments) });
  }

  // ---- money, in the page's language: "1,40 ₽", "$0.0079" ----
  function money(amount, currency) {
    var value = Number(amount);
    try {
      return new Intl.NumberFormat(P.data.language, { style: "currency", currency: currency,
        minimumFractionDigits: 2, maximumFractionDigits: 6 }).format(value);
    } catch (e) {  // a code Intl does not know
      return number.format(value) + " " + currency;
    }
  }

  function amounts(entries) {
    return entries.map(function (e) { return money(e.amount, e.currency); }).join(", ");
  }

  // ---- the test SMS form: the counter as the text is typed ----
  function showLength() {
    var input = $("test-text"), line = $("test-length");
    if (!input || !line) return;
    line.textContent = input.value ? lengthWords(measure(input.value)) : "";
    line.title = t("length_help");
  }

  // ---- the log: a message's segments, encoding and price under its text ----
  P.messageCost = function (m) {
    var parts = [counted("segments", m.segments || 1)];
    if (m.encoding) parts.push(t("encoding_" + m.encoding));
    if (m.cost !== null && m.cost !== undefined && m.currency) parts.push(money(m.cost, m.currency));
    else if (TAKEN[m.state]) parts.push(t("cost_unknown"));  // a provider took it and said no price
    return el("div", { class: "cost muted", text: parts.join(" · ") });
  };

  // ---- the stats: what was spent, per day, per provider and this month; unknown where no price was told ----
  P.showSpend = function (stats) {
    var section = $("spend-section");
    if (!section) return;
    var month = stats.month_to_date || [], monthUnpriced = stats.month_to_date_unpriced || 0;
    var spend = stats.spend || [], byProvider = stats.spend_by_provider || [];
    var unpriced = stats.unpriced || 0, unpricedBy = stats.unpriced_by_provider || {};
    // Nothing sent is a true 0; messages sent with no price known make the sum "unknown", never 0.
    $("spend-month").textContent = t("spend_month", { amounts: month.length ? amounts(month)
      : (monthUnpriced ? t("spend_unknown") : number.format(0)) });
    var window30 = {};
    byProvider.forEach(function (e) { window30[e.currency] = (window30[e.currency] || 0) + Number(e.amount); });
    var totals = Object.keys(window30).sort().map(function (c) { return { currency: c, amount: window30[c] }; });
    $("spend-window").textContent = t("spend_window", { amounts: totals.length ? amounts(totals)
      : (unpriced ? t("spend_unknown") : number.format(0)) });
    var note = $("spend-unpriced");
    note.textContent = unpriced ? counted("unpriced", unpriced) : t("spend_none");
    note.hidden = !unpriced && totals.length > 0;

    // Per provider: its amounts, and how many of its messages came with no price.
    var kinds = {};
    byProvider.forEach(function (e) { (kinds[e.provider] = kinds[e.provider] || []).push(e); });
    Object.keys(unpricedBy).forEach(function (kind) { kinds[kind] = kinds[kind] || []; });
    var body = document.querySelector("#spend-by-provider tbody");
    body.textContent = "";
    Object.keys(kinds).sort().forEach(function (kind) {
      var text = kinds[kind].length ? amounts(kinds[kind]) : t("spend_unknown");
      if (unpricedBy[kind] && kinds[kind].length) text += "; " + counted("unpriced", unpricedBy[kind]);
      else if (unpricedBy[kind]) text += " (" + counted("unpriced", unpricedBy[kind]) + ")";
      body.appendChild(el("tr", {}, [el("td", { text: P.providerTitle(kind) }), el("td", { text: text })]));
    });
    $("spend-by-provider").hidden = !Object.keys(kinds).length;

    // Per day, newest first: the days a provider reported a price for.
    var days = {};
    spend.forEach(function (e) { (days[e.date] = days[e.date] || []).push(e); });
    body = document.querySelector("#spend-by-day tbody");
    body.textContent = "";
    Object.keys(days).sort().reverse().forEach(function (day) {
      body.appendChild(el("tr", {}, [el("td", { text: P.day(day) }), el("td", { text: amounts(days[day]) })]));
    });
    $("spend-by-day").hidden = !spend.length;
  };

  P.measure = measure;  // the agreement test compares it with the server's rule
  var input = $("test-text");
  if (input) {
    input.addEventListener("input", showLength);
    showLength();
  }
})();
