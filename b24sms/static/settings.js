// The settings part of the page: the failover chain (forms generated from each provider's declared settings),
// sender names, saving with errors shown at their field, the pause switch, balances and the test SMS.
(function () {
  "use strict";
  var P = window.b24sms, t = P.t, $ = P.$, el = P.el, data = P.data;
  var admin = data.is_admin;
  var chain = [], balances = {};
  var names = P.senderNames;  // static/senders.js
  var dirty = false;
  var PHONE = /^(\+|00)?\d{5,15}$/;  // a number as typed, once spaces, brackets, dots and dashes are gone
  // The provider a first install starts with: the most used among those offered.

  var markDirty = P.markDirty = function () {
    if (!admin) return;
    dirty = true;
    $("unsaved").hidden = false;
    $("settings-saved").hidden = true;
  };

  function showPortal(portal) {
    var parts = [portal.sender_registered ? t("sender_registered") : t("sender_not_registered"),
      t("state_" + portal.state)];
    if (portal.paused) parts.push(t("sending_paused"));
    $("portal-status").textContent = parts.join(" · ");
    $("reauth").hidden = portal.state !== "needs_reauth";
    $("reauth-reason").textContent = portal.state_reason || "";
    if ($("paused")) $("paused").checked = !!portal.paused;
  }

  // ---- errors at their field ----
  function clearErrors() {
    Array.prototype.forEach.call(document.querySelectorAll(".field-error"), function (n) { n.remove(); });
    Array.prototype.forEach.call(document.querySelectorAll("[aria-invalid]"), function (n) {
      n.removeAttribute("aria-invalid");
    });
    $("settings-error").hidden = true;
  }

  function showError(error, fallbackBox) {
    var input = error.field && document.querySelector('[data-field="' + error.field + '"]');
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.parentNode.appendChild(el("small", { class: "field-error", role: "alert", text: error.message }));
      input.focus();
    } else {
      fallbackBox.textContent = error.message;
      fallbackBox.hidden = false;
    }
  }

  // ---- the provider chain ----
  function fieldInput(entry, setting, path, value, onInput) {
    var input = el("input", { type: setting.input || "text", name: setting.name, autocomplete: "off",
      "data-field": path, required: setting.required ? "required" : null, disabled: admin ? null : "disabled" });
    input.value = value || "";
    input.addEventListener("input", function () { onInput(input.value); markDirty(); });
    var label = el("label", {}, [el("span", { text: setting.label + (setting.required ? " *" : "") }), input]);
    if (setting.help) label.appendChild(el("small", { class: "muted help", text: setting.help }));
    return label;
  }

  function senderInput(entry, spec, index) {
    var label = fieldInput(entry, spec.sender, "providers[" + index + "].sender", entry.sender,
      function (v) { entry.sender = v; });
    if (names.approved[entry.kind]) label.querySelector("input").setAttribute("list", "names-" + entry.kind);
    return label;
  }

  // Where delivery receipts come from: asked for with every message, or one URL for the provider's cabinet.
  function receiptsNote(spec, entry) {
    if (spec.receipts === "per_message") return el("p", { class: "muted", text: t("receipts_per_message") });
    if (spec.receipts === "registered") return el("p", { class: "muted", text: t("receipts_registered", { provider: spec.title }) });
    if (spec.receipts !== "account" || !admin) return null;
    if (!entry.callback_url) return el("p", { class: "muted", text: t("receipts_after_save", { provider: spec.title }) });
    var url = el("input", { type: "text", readonly: "readonly", class: "callback-url", "aria-label": t("receipt_url") });
    url.value = entry.callback_url;
    url.addEventListener("focus", function () { url.select(); });
    return el("label", {}, [el("span", { text: t("receipt_url_help", { provider: spec.title }) }), url]);
  }

  // A URL for the provider's cabinet, with a button that copies it.
  function copyableUrl(value, labelText, className) {
    var url = el("input", { type: "text", readonly: "readonly", class: className, "aria-label": labelText });
    url.value = value;
    url.addEventListener("focus", function () { url.select(); });
    var copy = el("button", { type: "button", class: "secondary copy", text: t("copy") });
    copy.addEventListener("click", function () {
      url.select();
      var done = function () { copy.textContent = t("copied"); };
      if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(value).then(done, function () {
        if (document.execCommand("copy")) done();
      });
      else if (document.execCommand("copy")) done();
    });
    return el("div", { class: "row" }, [url, copy]);
  }

  // The numbers that receive replies (providers that can), how the replies reach b24sms, and what went wrong.
  function repliesBlock(spec, entry, index) {
    if (!admin || !spec.replies || !spec.replies.length) return null;
    entry.reply_numbers = entry.reply_numbers || [];
    var path = "providers[" + index + "].reply_numbers";
    var box = el("fieldset", { class: "replies", "data-field": path }, [el("legend", { text: t("reply_numbers") }),
      el("small", { class: "muted help", text: t("reply_numbers_help") })]);
    var list = el("ul", { class: "plain" });
    entry.reply_numbers.forEach(function (number, j) {
      var input = el("input", { type: "tel", autocomplete: "off", "data-field": path + "[" + j + "]",
        "aria-label": t("reply_number") });
      input.value = number;
      input.addEventListener("input", function () { entry.reply_numbers[j] = input.value; markDirty(); });
      var item = el("li", { class: "row" }, [input]);
      item.appendChild(P.removeControl(function () { entry.reply_numbers.splice(j, 1); markDirty(); renderChain(); }, number || t("reply_number")));
      list.appendChild(item);
    });
    box.appendChild(list);
    var add = el("button", { type: "button", class: "link add-reply-number", text: t("add_reply_number") });
    add.addEventListener("click", function () {
      entry.reply_numbers.push("");
      renderChain();
      var inputs = document.querySelectorAll('[data-field^="' + path + '["]');
      if (inputs.length) inputs[inputs.length - 1].focus();
    });
    box.appendChild(add);
    if (spec.replies.indexOf("pasted") >= 0) {
      if (entry.inbound_url) {
        box.appendChild(el("p", { class: "muted", text: t("inbound_url_help", { provider: spec.title }) }));
        box.appendChild(copyableUrl(entry.inbound_url, t("inbound_url"), "inbound-url"));
        if (entry.replies_help) box.appendChild(el("small", { class: "muted help", text: entry.replies_help }));
      } else {
        box.appendChild(el("p", { class: "muted", text: t("inbound_after_save", { provider: spec.title }) }));
      }
    }
    if (spec.replies.indexOf("hooked") >= 0) {
      var hooks = entry.reply_hooks || [];
      if (!hooks.length && entry.reply_numbers.length) box.appendChild(el("p", { class: "muted", text: t("hook_after_save", { provider: spec.title }) }));
      hooks.forEach(function (hook) {
        box.appendChild(hook.hooked
          ? el("p", { class: "muted hook-ok", text: t("hook_ok", { number: hook.number }) })
          : el("p", { class: "error hook-error", text: t("hook_error", { number: hook.number, provider: spec.title, words: hook.error || "" }) }));
      });
    }
    return box;
  }

  function balanceLine(entry) {
    var row = balances[entry.kind];
    if (!row) return null;
    if (row.error) return el("p", { class: "error balance", text: t("balance_error", { words: row.error.message }) });
    if (row.balance === null || row.balance === undefined) return el("p", { class: "muted balance", text: t("balance_unknown") });
    var text = t("balance", { amount: P.money(row.balance), currency: row.currency || "" });
    var line = el("p", { class: row.low ? "warning balance" : "balance", text: text });
    if (row.low) line.appendChild(el("strong", { text: " " + t("balance_low", { threshold: P.money(row.threshold) }) }));
    return line;
  }

  function thresholdInput(entry, index) {
    var input = el("input", { type: "number", min: "0", step: "any", class: "short",
      "data-field": "providers[" + index + "].balance_threshold" });
    input.value = entry.balance_threshold === null || entry.balance_threshold === undefined ? "" : entry.balance_threshold;
    input.addEventListener("input", function () {
      entry.balance_threshold = input.value === "" ? null : Number(input.value);
      markDirty();
    });
    return el("label", {}, [el("span", { text: t("threshold") }), input,
      el("small", { class: "muted help", text: t("threshold_help") })]);
  }

  function renderChain() {
    var list = $("chain");
    list.textContent = "";
    chain.forEach(function (entry, index) {
      var spec = P.catalog[entry.kind] || { title: entry.kind, credentials: [], sender: null };
      var head = el("div", { class: "head" }, [el("span", { class: "title", text: spec.title }),
        el("span", { class: "muted", text: index === 0 ? t("primary") : t("fallback", { n: index }) })]);
      if (admin) {
        var controls = el("span", { class: "controls" });
        [["↑", -1, "move_up"], ["↓", 1, "move_down"]].forEach(function (move) {
          var b = el("button", { type: "button", class: "link", title: t(move[2]), "aria-label": t(move[2]), text: move[0] });
          b.disabled = index + move[1] < 0 || index + move[1] >= chain.length;
          b.addEventListener("click", function () {
            var other = index + move[1];
            var moved = chain[other]; chain[other] = chain[index]; chain[index] = moved;
            markDirty();
            renderChain();
          });
          controls.appendChild(b);
        });
        controls.appendChild(P.removeControl(function () { chain.splice(index, 1); markDirty(); renderChain(); }, spec.title));
        head.appendChild(controls);
      }
      var item = el("li", { "data-kind": entry.kind }, [head]);
      // A non-admin's page gets no credentials at all: kinds and sender names only.
      if (entry.credentials) {
        spec.credentials.forEach(function (s) {
          item.appendChild(fieldInput(entry, s, "providers[" + index + "].credentials." + s.name,
            entry.credentials[s.name], function (v) { entry.credentials[s.name] = v; }));
        });
      }
      if (spec.sender) item.appendChild(senderInput(entry, spec, index));
      if (admin && spec.reports_balance) {
        item.appendChild(thresholdInput(entry, index));
        var balance = balanceLine(entry);
        if (balance) item.appendChild(balance);
      }
      var receipts = receiptsNote(spec, entry);
      if (receipts) item.appendChild(receipts);
      var replies = repliesBlock(spec, entry, index);
      if (replies) item.appendChild(replies);
      list.appendChild(item);
    });
    if (!admin) return;
    var select = $("add-kind");
    select.textContent = "";
    data.catalog.forEach(function (p) {
      if (!chain.some(function (e) { return e.kind === p.kind; })) {
        select.appendChild(el("option", { value: p.kind, text: p.title }));
      }
    });
    $("add-row").hidden = !select.options.length;  // every provider is in the chain already
  }

  function loadBalances() {
    P.api("GET", "/api/balance").then(function (rows) {
      balances = {};
      rows.forEach(function (row) { balances[row.provider] = row; });
      renderChain();
    }).catch(function () {});
  }

  function apply(settings) {
    chain = settings.providers.map(function (p) {
      return Object.assign({}, p, { credentials: p.credentials ? Object.assign({}, p.credentials) : undefined });
    });
    names.reset(settings.senders);
    showPortal(settings.portal);
    if (admin && !chain.length) {  // first run: the most used provider's form, ready to fill in
      var first = data.first_choice || data.catalog[0].kind;  // the catalogue comes most used first
      chain.push({ kind: first, sender: "", credentials: {}, balance_threshold: null });
      $("intro").hidden = false;
    }
    renderChain();
  }

  function renderCabinets() {
    var list = $("cabinets");
    if (!list) return;
    data.catalog.filter(function (p) { return p.cabinet_url; }).forEach(function (p) {
      list.appendChild(el("li", {}, [el("a", { href: p.cabinet_url, target: "_blank", rel: "noopener", text: p.title }),
        p.keys_help ? ": " + p.keys_help : ""]));
    });
  }

  if (admin) {
    $("add-provider").addEventListener("click", function () {
      var kind = $("add-kind").value;
      if (kind) { chain.push({ kind: kind, sender: "", credentials: {}, balance_threshold: null }); markDirty(); renderChain(); }
    });
    $("add-sender").addEventListener("click", names.add);

    $("settings-form").addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors();
      $("save").disabled = true;
      // Empty reply-number boxes go before saving: the fields then match the numbers an error names by index.
      chain.forEach(function (e) {
        if (e.reply_numbers) e.reply_numbers = e.reply_numbers.map(function (n) { return n.trim(); }).filter(Boolean);
      });
      renderChain();
      var body = {
        providers: chain.map(function (e) {
          var spec = P.catalog[e.kind] || {};
          var sent = { kind: e.kind, sender: e.sender || "", credentials: e.credentials || {}, balance_threshold: e.balance_threshold };
          if (spec.replies && spec.replies.length) sent.reply_numbers = e.reply_numbers || [];
          return sent;
        }),
        senders: names.body()
      };
      P.api("PUT", "/api/settings", body).then(function (settings) {
        apply(settings);
        dirty = false;
        $("unsaved").hidden = true;
        loadBalances();
        names.loadApproved(chain, renderChain);
        if (data.installing && window.BX24 && BX24.installFinish) BX24.installFinish();
        $("settings-saved").hidden = false;
        $("settings-saved").textContent = data.installing ? t("installed") : t("saved");
      }).catch(function (error) { showError(error, $("settings-error")); })
        .then(function () { $("save").disabled = false; });
    });

    $("paused").addEventListener("change", function () {
      var box = $("paused");
      box.disabled = true;
      P.api("PUT", "/api/pause", { paused: box.checked }).then(function (settings) { showPortal(settings.portal); })
        .catch(function (error) { box.checked = !box.checked; showError(error, $("settings-error")); })
        .then(function () { box.disabled = false; });
    });

    $("test-form").addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors();
      // The obvious mistakes are shown at the field at once; the server judges the rest (400 invalid_phone).
      var typed = $("test-to").value.trim();
      if (!typed || !PHONE.test(typed.replace(/[\s().-]/g, ""))) {
        $("test-result").textContent = "";
        showError({ field: "to", message: typed ? t("error_invalid_phone") : t("phone_missing") }, $("test-result"));
        return;
      }
      $("test-result").textContent = t("sending");
      var body = { to: $("test-to").value, text: $("test-text").value };
      if (!$("test-sender").hidden) body.sender = $("test-sender").value;
      P.api("POST", "/api/test-sms", body).then(function (m) {
        $("test-result").textContent = t("test_stored", { state: P.stateWords(m) });
        if (P.reloadLog) P.reloadLog();
      }).catch(function (error) {
        $("test-result").textContent = "";
        showError(error, $("test-result"));
      });
    });

    window.addEventListener("beforeunload", function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });
  }

  renderCabinets();
  P.api("GET", "/api/settings").then(function (settings) {
    apply(settings);
    if (admin && settings.providers.length) { loadBalances(); names.loadApproved(chain, renderChain); }
    if (admin && !settings.providers.length) markDirty();
  }).catch(function (error) { showError(error, $("settings-error") || $("log-error")); });
})();
