// One client's conversation: every SMS the portal sent to a number and every reply from it, oldest at the top
// like a chat (GET /api/messages?number=, newest first, paged by `before`), each with its time, which way it
// went, where it stands and the Open Line it went to. Also the words of a reply that static/log.js shows in its
// rows. The log's number links open it in place of the log's table; "back" shows the table again.
(function () {
  "use strict";
  var P = window.b24sms, t = P.t, $ = P.$, el = P.el;
  var PAGE = 50, REFRESH_MS = 5000;
  var FINAL_OUT = { delivered: 1, undelivered: 1, failed: 1 };
  var number = null, entries = [], more = false, refreshTimer = null;

  // Still moving: an SMS not in a final state, a reply not yet handed to its line.
  function moving(m) { return m.direction === "in" ? m.state === "pending" : !FINAL_OUT[m.state]; }

  // The entries of a further page not shown yet (a page after an entry deleted meanwhile may bring one again).
  function unseen(shown, page) {
    var ids = {};
    shown.forEach(function (m) { ids[m.id] = true; });
    return page.filter(function (m) { return !ids[m.id]; });
  }

  function incomingWords(m) { return t("incoming_state_" + m.state); }

  // What a reply's status cell and bubble say under its state: why the line did not take it, a stop word.
  function incomingNotes(m) {
    var notes = [];
    if (m.error && m.error.words && m.state !== "delivered") notes.push(el("div", { class: "error", text: m.error.words }));
    if (m.stop_word) notes.push(el("div", { class: "warning", text: t("stop_word_reply") }));
    return notes;
  }

  function lineWords(m) { return m.line ? t("open_line", { line: m.line }) : ""; }

  // The number in a log row: a link to its conversation where there is one to show (an admin's, E.164).
  function link(m) {
    if (!P.data.is_admin || !/^\+\d+$/.test(m.number || "")) return m.number || "";
    var button = el("button", { type: "button", class: "link number", title: t("open_conversation", { number: m.number }),
      text: m.number });
    button.addEventListener("click", function () { open(m.number); });
    return button;
  }

  function bubble(m) {
    var incoming = m.direction === "in";
    var meta = [P.time(m.created_at), t("direction_" + (incoming ? "in" : "out"))];
    if (m.line) meta.push(lineWords(m));
    else if (incoming) meta.push(t("to_our_number", { number: m.to }));
    var status = incoming ? incomingWords(m) : P.stateWords(m);
    var state = el("div", { class: "state status-" + (incoming ? "in-" : "") + m.state }, [el("span", { text: status })]);
    (incoming ? incomingNotes(m) : []).forEach(function (note) { state.appendChild(note); });
    if (!incoming && m.reason && P.data.strings["reason_" + m.reason]) {
      state.appendChild(el("div", { class: "reason", text: t("reason_" + m.reason) }));
    } else if (!incoming && m.error && m.error.words) {
      state.appendChild(el("div", { class: "error", text: m.error.words }));
    }
    return el("li", { class: "bubble " + (incoming ? "in" : "out"), "data-id": m.id, "data-direction": m.direction }, [
      el("div", { class: "meta muted", text: meta.join(" · ") }),
      el("div", { class: "body", text: m.text }),
      state
    ]);
  }

  function render() {
    var thread = $("conversation-thread");
    thread.textContent = "";
    entries.slice().reverse().forEach(function (m) { thread.appendChild(bubble(m)); });
    $("conversation-empty").hidden = entries.length > 0;
    $("conversation-earlier").hidden = !more;
    P.fitWindow();
  }

  function load(options) {
    var before = options && options.before;
    var limit = options && options.limit ? Math.min(options.limit, 200) : PAGE;
    var query = ["number=" + encodeURIComponent(number), "limit=" + limit];
    if (before) query.push("before=" + encodeURIComponent(before));
    var asked = number;
    return P.api("GET", "/api/messages?" + query.join("&")).then(function (page) {
      if (asked !== number) return;  // closed, or another number opened meanwhile
      entries = before ? entries.concat(unseen(entries, page)) : page;
      more = page.length === limit;
      $("conversation-error").hidden = true;
      render();
      schedule();
    }).catch(function (error) {
      $("conversation-error").textContent = error.message;
      $("conversation-error").hidden = false;
    });
  }

  function schedule() {
    window.clearTimeout(refreshTimer);
    if (number && entries.some(moving)) {
      refreshTimer = window.setTimeout(function () { load({ limit: Math.max(entries.length, PAGE) }); }, REFRESH_MS);
    }
  }

  function open(which) {
    number = which;
    entries = [];
    $("log-view").hidden = true;
    $("conversation-title").textContent = t("open_conversation", { number: which });
    $("conversation-thread").textContent = "";
    $("conversation-empty").hidden = $("conversation-earlier").hidden = true;
    $("conversation").hidden = false;
    $("log-section").scrollIntoView();
    load();
  }

  function close() {
    number = null;
    window.clearTimeout(refreshTimer);
    $("conversation").hidden = true;
    $("log-view").hidden = false;
    P.fitWindow();
  }

  $("conversation-close").addEventListener("click", close);
  $("conversation-earlier").addEventListener("click", function () {
    if (entries.length) load({ before: String(entries[entries.length - 1].id) });
  });

  P.conversation = { open: open, link: link, moving: moving, unseen: unseen, incomingWords: incomingWords,
    incomingNotes: incomingNotes, lineWords: lineWords };
})();
