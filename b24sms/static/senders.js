// The portal's sender names on the settings page: the list (one default), each name's place in Bitrix24's sender
// list, the approved names each saved provider offers as a dropdown, and the test SMS's sender choice.
(function () {
  "use strict";
  var P = window.b24sms, t = P.t, $ = P.$, el = P.el;
  var admin = P.data.is_admin;
  var names = [];
  var approved = {};  // provider kind -> the names its account has approved

  function render() {
    var list = $("senders");
    list.textContent = "";
    $("no-senders").hidden = names.length > 0;
    names.forEach(function (sender, index) {
      var item = el("li", { class: "row" });
      var name = el("input", { type: "text", maxlength: "64", "data-field": "senders[" + index + "].name",
        "aria-label": t("sender_name"), list: "approved-names", disabled: admin ? null : "disabled" });
      name.value = sender.name || "";
      name.addEventListener("input", function () { sender.name = name.value; P.markDirty(); });
      var radio = el("input", { type: "radio", name: "default-sender", "aria-label": t("default_sender"),
        disabled: admin ? null : "disabled", checked: sender["default"] ? "checked" : null });
      radio.addEventListener("change", function () {
        names.forEach(function (s) { s["default"] = s === sender; });
        P.markDirty();
      });
      item.appendChild(el("label", { class: "inline" }, [name]));
      item.appendChild(el("label", { class: "inline" }, [radio, " " + t("default_sender")]));
      if (sender.code) {
        item.appendChild(el("small", { class: sender.registered ? "ok" : "warning",
          text: sender.registered ? t("sender_in_bitrix") : t("sender_not_in_bitrix") }));
      }
      if (admin) {
        item.appendChild(P.removeControl(function () {
          var wasDefault = sender["default"];
          names.splice(index, 1);
          if (wasDefault && names.length) names[0]["default"] = true;
          P.markDirty();
          render();
        }, sender.name || t("sender_name")));
      }
      list.appendChild(item);
    });
    renderTestChoice();
  }

  // The test SMS goes with a registered name of the admin's choice.
  function renderTestChoice() {
    var select = $("test-sender");
    if (!select) return;
    select.textContent = "";
    names.filter(function (s) { return s.code; }).forEach(function (s) {
      select.appendChild(el("option", { value: s.name, text: s.name, selected: s["default"] ? "selected" : null }));
    });
    select.hidden = !select.options.length;
  }

  function add() {
    names.push({ name: "", "default": !names.length });
    P.markDirty();
    render();
    var inputs = document.querySelectorAll("#senders input[type=text]");
    if (inputs.length) inputs[inputs.length - 1].focus();
  }

  // The names each saved provider account has approved, for the dropdowns (where the provider can list them);
  // `rendered` redraws the chain, whose sender fields then offer their provider's list.
  function loadApproved(chain, rendered) {
    chain.filter(function (e) { return e.credentials; }).forEach(function (entry) {
      P.api("GET", "/api/sender-names?kind=" + encodeURIComponent(entry.kind)).then(function (answer) {
        if (!answer.names) return;
        approved[entry.kind] = answer.names;
        var own = document.getElementById("names-" + entry.kind) || el("datalist", { id: "names-" + entry.kind });
        own.textContent = "";
        answer.names.forEach(function (n) { own.appendChild(el("option", { value: n })); });
        document.body.appendChild(own);
        var all = $("approved-names");
        var known = {};
        Array.prototype.forEach.call(all.options, function (o) { known[o.value] = true; });
        answer.names.forEach(function (n) { if (!known[n]) all.appendChild(el("option", { value: n })); });
        rendered();
      }).catch(function () {});  // the dropdown is a help; typing a name still works
    });
  }

  P.senderNames = {
    approved: approved,
    add: add,
    loadApproved: loadApproved,
    reset: function (saved) { names = (saved || []).map(function (s) { return Object.assign({}, s); }); render(); },
    body: function () { return names.map(function (s) { return { name: s.name, "default": !!s["default"] }; }); }
  };
})();
