// What every part of the settings page shares: the page's data, its words, the API with the session token,
// formatting in the portal's language and the browser's time zone, and keeping the Bitrix24 frame sized.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("page-data").textContent);
  var token = document.querySelector('meta[name="b24sms-token"]').content;
  var words = data.strings || {};
  // Numbers as the server writes them in notices (b24sms/i18n.py): 1 234,50 in Russian, 1,234.50 in English.
  var number = new Intl.NumberFormat(data.language, { maximumFractionDigits: 3 });
  var money = new Intl.NumberFormat(data.language, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var catalog = {};
  data.catalog.forEach(function (p) { catalog[p.kind] = p; });

  // The page's words, `%(name)s` places filled from `params` (the same notation as the Python side).
  function t(key, params) {
    var text = words[key] || key;
    return text.replace(/%\((\w+)\)s/g, function (_, name) {
      return params && params[name] !== undefined && params[name] !== null ? String(params[name]) : "";
    });
  }

  // A plural entry (b24sms/web/page_strings.py, NP_): its forms by plural category, the one for `n` picked by the
  // language's rules (Russian: 1 SMS-часть, 2 SMS-части, 5 SMS-частей); `n` is filled in formatted.
  var plurals = new Intl.PluralRules(data.language);
  function tn(key, n, params) {
    var forms = words[key] || {};
    var text = forms[plurals.select(n)] || forms.other || forms.many || key;
    var all = { n: number.format(n) };
    Object.keys(params || {}).forEach(function (k) { all[k] = params[k]; });
    return text.replace(/%\((\w+)\)s/g, function (_, name) {
      return all[name] !== undefined && all[name] !== null ? String(all[name]) : "";
    });
  }

  function $(id) { return document.getElementById(id); }

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === "text") node.textContent = props[k];
      else if (props[k] !== undefined && props[k] !== null && props[k] !== false) node.setAttribute(k, props[k]);
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function request(method, path, body) {
    var options = { method: method, headers: { "Authorization": "Bearer " + token, "Accept-Language": data.language } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options);
  }

  // JSON calls; a refusal becomes an Error carrying the server's message (in the page's language) and field.
  function api(method, path, body) {
    return request(method, path, body).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) {
          var error = new Error(answer.message || t("http_error", { status: response.status }));
          error.code = answer.error;
          error.field = answer.field;
          throw error;
        }
        return answer;
      });
    }, function () { throw new Error(t("network_error")); });
  }

  var dateTime = new Intl.DateTimeFormat(data.language, { dateStyle: "short", timeStyle: "medium" });
  var dayOnly = new Intl.DateTimeFormat(data.language, { day: "numeric", month: "short" });

  function time(iso) { return iso ? dateTime.format(new Date(iso)) : ""; }
  function day(isoDate) { return dayOnly.format(new Date(isoDate + "T00:00:00")); }

  // "Remove" that asks first, in the page: "Remove SHOP? Yes, remove / Cancel".
  function removeControl(onConfirm, what) {
    var box = el("span", { class: "remove" });
    var ask = el("button", { type: "button", class: "link", text: t("remove") });
    ask.addEventListener("click", function () {
      box.textContent = "";
      var yes = el("button", { type: "button", class: "link danger", text: t("remove_yes") });
      var no = el("button", { type: "button", class: "link", text: t("cancel") });
      yes.addEventListener("click", onConfirm);
      no.addEventListener("click", function () { box.textContent = ""; box.appendChild(ask); });
      box.appendChild(el("span", { text: t("remove_confirm", { what: what }) + " " }));
      box.appendChild(yes);
      box.appendChild(no);
    });
    box.appendChild(ask);
    return box;
  }

  function providerTitle(kind) { return (catalog[kind] && catalog[kind].title) || kind || ""; }

  // Bitrix24 sizes its frame to the page only when asked: ask whenever the page's height changes.
  function fitWindow() { if (window.BX24 && BX24.fitWindow) BX24.fitWindow(); }
  var lastHeight = 0;
  function watchHeight() {
    var check = function () {
      var height = document.documentElement.scrollHeight;
      if (height !== lastHeight) { lastHeight = height; fitWindow(); }
    };
    if (window.ResizeObserver) new ResizeObserver(check).observe(document.body);
    else window.setInterval(check, 500);
  }

  window.b24sms = {
    data: data, catalog: catalog, t: t, tn: tn, $: $, el: el, api: api, request: request,
    time: time, day: day, number: number.format, money: money.format, providerTitle: providerTitle,
    fitWindow: fitWindow, removeControl: removeControl,
    markDirty: function () {}  // settings.js marks unsaved changes
  };
  if (window.BX24 && BX24.init) BX24.init(function () { fitWindow(); watchHeight(); });
  else watchHeight();
})();
