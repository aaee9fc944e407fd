// A local stand-in for Bitrix24's JS library (https://api.bitrix24.com/api/v1/), for the demo (GET /demo) and
// for browser tests. Harmless local versions of what our pages call; no network. Every call is recorded on
// window.BX24.calls as {name, args} so that a test can see, say, that installFinish() was called.
(function () {
  "use strict";
  var calls = [];
  var script = document.currentScript;
  var query = new URLSearchParams(script && script.src.indexOf("?") >= 0 ? script.src.split("?")[1] : "");

  function record(name, args) { calls.push({ name: name, args: Array.prototype.slice.call(args) }); }
  function later(callback, value) { if (typeof callback === "function") window.setTimeout(function () { callback(value); }, 0); }

  // What BX24.callMethod hands its callback: the local stand-in has no REST to call from the browser.
  function Result(method) {
    this.method = method;
    this.answer = { error: "METHOD_NOT_AVAILABLE", error_description: "Not available in the local stand-in" };
  }
  Result.prototype.error = function () { return this.answer.error_description; };
  Result.prototype.data = function () { return null; };
  Result.prototype.more = function () { return false; };
  Result.prototype.total = function () { return 0; };

  window.BX24 = {
    calls: calls,
    installed: false,
    init: function (callback) { record("init", arguments); later(callback); },
    ready: function (callback) { record("ready", arguments); later(callback); },
    installFinish: function () { record("installFinish", arguments); window.BX24.installed = true; },
    fitWindow: function (callback) { record("fitWindow", arguments); later(callback); },
    resizeWindow: function (width, height, callback) { record("resizeWindow", arguments); later(callback); },
    setTitle: function (title, callback) { record("setTitle", arguments); later(callback); },
    reloadWindow: function () { record("reloadWindow", arguments); },
    closeApplication: function () { record("closeApplication", arguments); },
    getScrollSize: function () {
      record("getScrollSize", arguments);
      return { scrollWidth: document.documentElement.scrollWidth, scrollHeight: document.documentElement.scrollHeight };
    },
    getAuth: function () {
      record("getAuth", arguments);
      return { access_token: query.get("access_token") || "local-stand-in", refresh_token: "", expires_in: 3600,
        domain: query.get("domain") || window.location.host, member_id: query.get("member_id") || "demo" };
    },
    refreshAuth: function (callback) { record("refreshAuth", arguments); later(callback, window.BX24.getAuth()); },
    getLang: function () { record("getLang", arguments); return document.documentElement.lang || "en"; },
    isAdmin: function () { record("isAdmin", arguments); return query.get("admin") !== "0"; },
    callMethod: function (method, params, callback) { record("callMethod", arguments); later(callback, new Result(method)); },
    callBatch: function (commands, callback) { record("callBatch", arguments); later(callback, {}); },
    placement: {
      info: function () { record("placement.info", arguments); return { placement: "DEFAULT", options: {} }; },
      call: function (name, params, callback) { record("placement.call", arguments); later(callback); },
      bindEvent: function () { record("placement.bindEvent", arguments); }
    }
  };
})();
