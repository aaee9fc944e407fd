// The two-way part of the demo's panel (templates/demo_two_way.html): connects the demo number to the stand-in's
// Open Line, simulates a client's reply and an operator's answer, and shows the line's chat on every refresh of
// the stand-in's state (demo.js). Every word comes from the block's data-word-* attributes.
(function () {
  "use strict";
  var box = document.getElementById("demo-two-way");
  var demo = window.b24smsDemo;
  if (!box || !demo) return;
  var word = demo.wordsOf(box);
  var el = demo.el;
  var line = box.getAttribute("data-line");
  var number = box.getAttribute("data-number");

  function $(id) { return document.getElementById(id); }

  function say(className, text) {
    var result = $("demo-two-way-result");
    result.className = className;
    result.textContent = text;
  }

  function renderLine(entry) {
    var connected = !!(entry && entry.active);
    var state = $("demo-line-state");
    state.className = connected ? "ok" : "muted";
    state.textContent = connected ? word("connected", { line: line, number: number })
      : word("not-connected", { line: line });
    $("demo-connect-line").hidden = connected;  // connected again by itself when the stand-in restarts
  }

  // The chats an operator may answer in: one per client who wrote to the line.
  function renderChats(chats) {
    var select = $("demo-answer-chat");
    var chosen = select.value;
    select.textContent = "";
    chats.forEach(function (chat) {
      var option = el("option", chat);
      option.value = chat;
      select.appendChild(option);
    });
    if (chats.indexOf(chosen) >= 0) select.value = chosen;
    else if (chats.length) select.value = chats[chats.length - 1];
    select.hidden = !chats.length;
    $("demo-answer-send").disabled = !chats.length;
    $("demo-no-chats").hidden = chats.length > 0;
  }

  function markCell(entry) {
    if (entry.by === "client") return el("td", word("taken"), "muted");
    if (entry.delivered_at) return el("td", word("delivered", { time: demo.when(entry.delivered_at) }), "ok");
    return el("td", word("waiting"), "warning");
  }

  function renderChat(said) {
    var body = $("demo-chat").querySelector("tbody");
    body.textContent = "";
    said.forEach(function (entry) {
      var row = el("tr", null, "demo-chat-" + entry.by);
      row.appendChild(el("td", demo.when(entry.at), "nowrap"));
      row.appendChild(el("td", word(entry.by === "client" ? "by-client" : "by-operator", { number: entry.client }),
        "nowrap"));
      row.appendChild(el("td", entry.text, "text"));
      row.appendChild(markCell(entry));
      body.appendChild(row);
    });
    $("demo-chat-empty").hidden = said.length > 0;
  }

  demo.onState(function (state) {
    var entry = (state.lines || []).filter(function (l) { return l.line === line; })[0];
    renderLine(entry);
    renderChats(entry && entry.active ? entry.chats || [] : []);
    renderChat(entry ? entry.chat || [] : []);
  });

  // A form's submit: `post` makes the call; its outcome is said, the state refreshed.
  function onSubmit(form, button, busyWord, post) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var wasDisabled = button.disabled;
      button.disabled = true;
      say("", word(busyWord));
      post().then(function (words) { say(words[0], words[1]); }, function (error) { say("error", error.message); })
        .then(function () {
          button.disabled = wasDisabled;
          return demo.refresh();
        });
    });
  }

  // What b24sms answered a post: stored (new), already had it, or refused with its words.
  function outcome(record, storedWord, knownWord) {
    var answer = record.answer || {};
    if (record.status !== 200) return ["error", word("refused", { status: record.status, message: answer.message || "" })];
    if (!answer.stored) return ["muted", word(knownWord, { status: record.status })];
    return ["ok", word(storedWord, { status: record.status, line: line })];
  }

  onSubmit($("demo-reply-form"), $("demo-reply-send"), "pushing", function () {
    return demo.call("POST", box.getAttribute("data-reply-url"), { from: $("demo-reply-from").value,
      text: $("demo-reply-text").value }).then(function (record) {
      return outcome(record, "reply-stored", "reply-known");
    });
  });

  onSubmit($("demo-answer-form"), $("demo-answer-send"), "posting", function () {
    return demo.call("POST", box.getAttribute("data-answer-url"), { chat: $("demo-answer-chat").value,
      text: $("demo-answer-text").value }).then(function (record) {
      demo.reloadLog();
      return outcome(record, "answer-stored", "answer-known");
    });
  });

  $("demo-connect-line").addEventListener("click", function () {
    var button = $("demo-connect-line");
    button.disabled = true;
    say("", word("connecting"));
    demo.call("POST", box.getAttribute("data-connect-url")).then(function () {
      say("ok", word("reloading"));
      // The settings below show the provider's new number once the page reloads (and save it, not the old list).
      window.setTimeout(function () { window.location.reload(); }, 600);
    }, function (error) {
      say("error", error.message);
      button.disabled = false;
    });
  });
})();
