// The local demo's panel (templates/demo_panel.html): simulates a CRM send through the Bitrix24 stand-in and shows
// what the stand-in was told. Every word comes from the panel's data-word-* attributes: this file holds no text.
// Its helpers and each refresh of the stand-in's state are shared on window.b24smsDemo (two_way.js uses them).
(function () {
  "use strict";
  var panel = document.getElementById("demo-panel");
  if (!panel) return;
  var tokenTag = document.querySelector('meta[name="b24sms-token"]');
  var token = tokenTag ? tokenTag.content : "";
  var language = document.documentElement.lang || "en";
  var timeFormat = new Intl.DateTimeFormat(language, { dateStyle: "short", timeStyle: "medium" });
  var REFRESH_MS = 4000;

  function $(id) { return document.getElementById(id); }

  // The words of `node`: word(name, params) is its data-word-<name>, `%(key)s` places filled from `params` (the
  // notation of the Python side).
  function wordsOf(node) {
    return function (name, params) {
      var text = node.getAttribute("data-word-" + name) || "";
      return text.replace(/%\((\w+)\)s/g, function (_, key) {
        return params && params[key] !== undefined && params[key] !== null ? String(params[key]) : "";
      });
    };
  }
  var word = wordsOf(panel);
  var stateListeners = [];

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function call(method, url, body) {
    var options = { method: method, headers: { "Authorization": "Bearer " + token, "Accept-Language": language } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) throw new Error(answer.message || word("http-error", { status: response.status }));
        return answer;
      });
    }, function () { throw new Error(word("network")); });
  }

  // A state's words inside a sentence: "Stored: waiting to be sent".
  function lower(text) { return text.charAt(0).toLocaleLowerCase(language) + text.slice(1); }

  function when(iso) { return iso ? timeFormat.format(new Date(iso)) : ""; }

  function renderSenders(senders) {
    var select = $("demo-code");
    var chosen = select.value;
    select.textContent = "";
    senders.forEach(function (sender) {
      var option = el("option", sender.name + " (" + sender.code + ")");
      option.value = sender.code;
      select.appendChild(option);
    });
    if (senders.some(function (s) { return s.code === chosen; })) select.value = chosen;
    $("demo-send").disabled = !senders.length;
    $("demo-no-sender").hidden = senders.length > 0;
  }

  function statusesCell(statuses) {
    var cell = el("td");
    if (!statuses.length) cell.appendChild(el("span", word("not-yet"), "muted"));
    statuses.forEach(function (told) {
      var line = el("div", null, "demo-status demo-status-" + told.status);
      line.appendChild(el("span", word("status-" + told.status) || told.status));
      line.appendChild(el("small", " " + when(told.at), "muted"));
      cell.appendChild(line);
    });
    return cell;
  }

  // The handler's answer in words: stored (and in which state), spooled, or refused with its message.
  function answerWords(m) {
    var answer = m.answer || {};
    if (!m.handler_status) return "";
    if (m.handler_status === 200 && answer.spooled) return word("answer-spooled");
    if (m.handler_status === 200) {
      return word("answer-stored", { state: lower(word("state-" + answer.state) || word("state-received")) });
    }
    return word("answer-refused", { status: m.handler_status, message: answer.message || "" });
  }

  function renderMessages(messages) {
    var body = $("demo-told").querySelector("tbody");
    body.textContent = "";
    messages.forEach(function (m) {
      var row = el("tr");
      row.setAttribute("data-message-id", m.message_id);
      row.appendChild(el("td", when(m.at), "nowrap"));
      row.appendChild(el("td", m.to || "", "nowrap"));
      row.appendChild(el("td", m.text || "", "text"));
      row.appendChild(el("td", m.code || ""));
      row.appendChild(el("td", m.at ? (m.user_id ? word("author", { user: m.user_id }) : word("robot")) : ""));
      row.appendChild(el("td", answerWords(m)));
      row.appendChild(statusesCell(m.statuses || []));
      body.appendChild(row);
    });
    $("demo-told-empty").hidden = messages.length > 0;
  }

  function renderNotifications(notes) {
    var list = $("demo-notifications");
    list.textContent = "";
    notes.forEach(function (note) {
      list.appendChild(el("li", when(note.at) + " · " + word("notification", { user: note.user_id, message: note.message })));
    });
    $("demo-notifications-title").hidden = !notes.length;
  }

  function refresh() {
    return call("GET", panel.getAttribute("data-state-url")).then(function (state) {
      renderSenders(state.senders || []);
      renderMessages(state.messages || []);
      renderNotifications(state.notifications || []);
      stateListeners.forEach(function (listener) { listener(state); });
    }, function () { /* the next refresh tries again */ });
  }

  // The page's message log shows what was just sent: it reloads on its filter form's submit.
  function reloadLog() {
    var log = $("log-filters");
    if (log && log.requestSubmit && window.b24sms) window.setTimeout(function () { log.requestSubmit(); }, 300);
  }

  window.b24smsDemo = {
    call: call, el: el, when: when, wordsOf: wordsOf, refresh: refresh, reloadLog: reloadLog,
    onState: function (listener) { stateListeners.push(listener); }
  };

  $("demo-send-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var result = $("demo-result");
    var button = $("demo-send");
    result.className = "";
    result.textContent = word("sending");
    button.disabled = true;
    call("POST", panel.getAttribute("data-simulate-url"), {
      to: $("demo-to").value, text: $("demo-text").value, code: $("demo-code").value, origin: $("demo-origin").value
    }).then(function (record) {
      result.className = record.handler_status === 200 ? "ok" : "error";
      result.textContent = word("posted", { id: record.message_id, status: record.handler_status }) +
        (record.answer && record.answer.message ? " " + record.answer.message : "");
      document.dispatchEvent(new CustomEvent("b24sms:demo-sent", { detail: record }));
      reloadLog();
    }, function (error) {
      result.className = "error";
      result.textContent = error.message;
    }).then(function () {
      button.disabled = false;
      return refresh();
    });
  });

  refresh();
  window.setInterval(function () { if (!document.hidden) refresh(); }, REFRESH_MS);
})();
