// The settings page inside the Bitrix24 iframe. Talks to /api/* with the page's signed session token.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="b24sms-token"]').content;
  var page = JSON.parse(document.getElementById("page-data").textContent);
  var catalog = {};
  page.catalog.forEach(function (p) { catalog[p.kind] = p; });
  var chain = page.providers.slice();

  function $(id) { return document.getElementById(id); }
  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === "text") node.textContent = props[k]; else node.setAttribute(k, props[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  function api(method, path, body) {
    var options = { method: method, headers: { "Authorization": "Bearer " + token } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.message || ("HTTP " + response.status));
          error.code = data.error;
          throw error;
        }
        return data;
      });
    });
  }

  function showPortal(portal) {
    $("portal-status").textContent = "Sender " + (portal.sender_registered ? "registered" : "not registered yet") +
      " · state: " + portal.state;
    $("reauth").hidden = portal.state !== "needs_reauth";
    $("reauth-reason").textContent = portal.state_reason || "";
  }

  // ---- the provider chain, each form generated from the provider's declared settings ----
  function fieldInput(entry, setting, group) {
    var value = (group === "sender" ? entry.sender : (entry.credentials || {})[setting.name]) || "";
    var input = el("input", { type: setting.input || "text", name: setting.name, autocomplete: "off" });
    input.value = value;
    if (setting.required) input.required = true;
    input.addEventListener("input", function () {
      if (group === "sender") entry.sender = input.value; else entry.credentials[setting.name] = input.value;
    });
    var label = el("label", {}, [el("span", { text: setting.label + (setting.required ? " *" : "") }), input]);
    if (setting.help) label.appendChild(el("small", { class: "muted", text: " " + setting.help }));
    return label;
  }

  // Where delivery receipts come from: asked for with every message, or one URL for the provider's cabinet.
  function receiptsNote(spec, entry) {
    if (spec.receipts === "per_message") {
      return el("p", { class: "muted", text: "Delivery receipts are requested with every message." });
    }
    if (spec.receipts !== "account") return null;
    if (!entry.callback_url) {
      return el("p", { class: "muted", text: "Save to get the delivery receipt URL for your " + spec.title +
        " account." });
    }
    var url = el("input", { type: "text", readonly: "readonly", class: "callback-url",
      "aria-label": "Delivery receipt URL" });
    url.value = entry.callback_url;
    url.addEventListener("focus", function () { url.select(); });
    return el("label", {}, [el("span", { text: "Delivery receipt URL: paste it into the " + spec.title +
      " cabinet (settings, status handler URL)" }), url]);
  }

  function renderChain() {
    var list = $("chain");
    list.textContent = "";
    chain.forEach(function (entry, index) {
      var spec = catalog[entry.kind] || { title: entry.kind, credentials: [], sender: null };
      var head = el("div", { class: "head" }, [el("span", { text: spec.title })]);
      var controls = el("span");
      [["↑", -1], ["↓", 1]].forEach(function (pair) {
        var b = el("button", { type: "button", class: "link", title: "Move", text: pair[0] });
        b.disabled = index + pair[1] < 0 || index + pair[1] >= chain.length;
        b.addEventListener("click", function () {
          var other = index + pair[1];
          var tmp = chain[other]; chain[other] = chain[index]; chain[index] = tmp;
          renderChain();
        });
        controls.appendChild(b);
      });
      var remove = el("button", { type: "button", class: "link", text: "Remove" });
      remove.addEventListener("click", function () { chain.splice(index, 1); renderChain(); });
      controls.appendChild(remove);
      head.appendChild(controls);
      var item = el("li", {}, [head]);
      // A non-admin's page gets no credentials at all: kinds and sender names only.
      if (entry.credentials) spec.credentials.forEach(function (s) { item.appendChild(fieldInput(entry, s, "credentials")); });
      if (spec.sender) item.appendChild(fieldInput(entry, spec.sender, "sender"));
      var receipts = receiptsNote(spec, entry);
      if (receipts) item.appendChild(receipts);
      list.appendChild(item);
    });
    var select = $("add-kind");
    select.textContent = "";
    page.catalog.forEach(function (p) {
      if (!chain.some(function (e) { return e.kind === p.kind; })) {
        select.appendChild(el("option", { value: p.kind, text: p.title }));
      }
    });
    select.parentNode.hidden = !select.options.length;  // every provider is in the chain already
  }

  $("add-provider").addEventListener("click", function () {
    var kind = $("add-kind").value;
    if (kind) { chain.push({ kind: kind, sender: "", credentials: {} }); renderChain(); }
  });

  $("settings-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("settings-error").hidden = true;
    $("settings-saved").hidden = true;
    $("save").disabled = true;
    api("PUT", "/api/settings", { providers: chain }).then(function (data) {
      chain = data.providers;
      renderChain();
      showPortal(data.portal);
      if (page.installing && window.BX24) {
        BX24.installFinish();
      } else {
        $("settings-saved").hidden = false;
      }
    }).catch(function (error) {
      $("settings-error").textContent = error.message;
      $("settings-error").hidden = false;
    }).then(function () { $("save").disabled = !page.is_admin; });
  });

  // ---- checks ----
  $("test-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("test-result").textContent = "Sending…";
    api("POST", "/api/test-sms", { to: $("test-to").value, text: $("test-text").value }).then(function (m) {
      $("test-result").textContent = "Message " + m.state + (m.error ? ": " + m.error.message : "");
      loadMessages();
    }).catch(function (error) { $("test-result").textContent = error.message; });
  });

  $("load-balance").addEventListener("click", function () {
    api("GET", "/api/balance").then(function (rows) {
      var list = $("balance");
      list.textContent = "";
      rows.forEach(function (row) {
        var text = row.provider + ": " + (row.error ? row.error.message :
          (row.balance === null ? "not reported" : row.balance + " " + (row.currency || "")));
        list.appendChild(el("li", { text: text }));
      });
    }).catch(function (error) { $("balance").textContent = error.message; });
  });

  // States that Bitrix24's five statuses do not name, shown in words.
  var STATE_WORDS = {
    received: "waiting to be sent",
    sending: "sending",
    retry_wait: "waiting to retry",
    reconciling: "asking the provider whether it got it"
  };

  function loadMessages() {
    api("GET", "/api/messages?limit=50").then(function (rows) {
      var body = document.querySelector("#messages tbody");
      body.textContent = "";
      rows.forEach(function (m) {
        var row = el("tr", {}, [m.created_at, m.to, m.text, m.provider || "", STATE_WORDS[m.state] || m.status,
          m.error ? m.error.message : ""].map(function (v) { return el("td", { text: String(v || "") }); }));
        if (m.tried && m.tried.length > 1) {
          row.title = "Tried: " + m.tried.map(function (t) {
            return t.provider + " (" + t.result + (t.code ? " " + t.code : "") + ")";
          }).join(" → ");
        }
        body.appendChild(row);
      });
    }).catch(function () {});
  }
  $("load-messages").addEventListener("click", loadMessages);

  showPortal(page.portal);
  renderChain();
  loadMessages();
  if (window.BX24) BX24.init(function () { BX24.fitWindow(); });
})();
