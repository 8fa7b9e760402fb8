/* Support chat widget: one script tag on any page draws a chat button and panel (in a shadow DOM, so the
 * page's CSS cannot reach it) that streams answers from the chatbot's OpenAI-compatible API, with numbered
 * source links, thumbs up/down and the hand-off. Plain JavaScript, no build step.
 *
 *   <script src="https://bot.example/widget.js" data-key="cbk_..." defer></script>
 *
 * Optional attributes: data-title (panel title), data-model (arm, default "rag"), data-api (API base URL,
 * default the script's own origin), data-open="true" (start open). The key must have the "chat" scope and
 * the page's origin must be in CHATBOT_API_ALLOWED_ORIGINS. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__supportChatWidget) return;
  window.__supportChatWidget = true;
  var key = script.getAttribute("data-key") || "";
  var api = (script.getAttribute("data-api") || new URL(script.src, location.href).origin).replace(/\/+$/, "");
  var model = script.getAttribute("data-model") || "rag";
  var title = script.getAttribute("data-title") || "Support";

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483646;width:56px;height:56px;border-radius:50%;",
    "border:0;background:#1f5fbf;color:#fff;display:flex;align-items:center;justify-content:center;cursor:pointer;",
    "box-shadow:0 4px 14px rgba(0,0,0,.3)}",
    ".launcher svg{width:28px;height:28px}",
    ".launcher:focus-visible,button:focus-visible,a:focus-visible,textarea:focus-visible{outline:3px solid #f5a623;outline-offset:2px}",
    ".panel{position:fixed;right:20px;bottom:88px;z-index:2147483647;width:380px;max-width:calc(100vw - 24px);",
    "height:560px;max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;color:#1f2933;",
    "border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);overflow:hidden;font-size:15px;line-height:1.45}",
    ".panel[hidden]{display:none}",
    "header{display:flex;align-items:center;justify-content:space-between;padding:12px 14px;background:#1f5fbf;color:#fff}",
    "header h2{margin:0;font-size:16px;font-weight:600}",
    ".close{background:transparent;border:0;color:#fff;font-size:22px;cursor:pointer;padding:0 6px}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px;background:#f6f8fa}",
    ".msg{max-width:88%;padding:8px 11px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}",
    ".user{align-self:flex-end;background:#1f5fbf;color:#fff}",
    ".bot{align-self:flex-start;background:#fff;border:1px solid #d8dee4}",
    ".bot.handoff{border-color:#d9822b;background:#fff8ef}",
    ".status{font-size:13px;color:#52606d;font-style:italic}",
    ".contact{margin-top:6px;font-size:14px;font-weight:600}",
    ".tag{display:inline-block;margin-bottom:4px;font-size:12px;font-weight:600;color:#a15c07}",
    ".sources{margin:8px 0 0;padding:6px 0 0 0;border-top:1px solid #e4e7eb;list-style:none;font-size:13px;white-space:normal}",
    ".sources li{margin:2px 0}",
    ".sources a{color:#1f5fbf}",
    ".rate{margin-top:6px;display:flex;gap:6px}",
    ".rate button{border:1px solid #cbd2d9;background:#fff;color:#52606d;border-radius:6px;cursor:pointer;padding:3px 8px;",
    "display:flex;align-items:center}",
    ".rate svg{width:16px;height:16px}",
    ".rate button[aria-pressed=true]{background:#e3ecfa;border-color:#1f5fbf}",
    ".error{align-self:center;color:#9b1c1c;font-size:13px}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #e4e7eb;background:#fff}",
    "textarea{flex:1;resize:none;height:42px;padding:9px;border:1px solid #cbd2d9;border-radius:8px;font-size:15px}",
    ".send{border:0;border-radius:8px;background:#1f5fbf;color:#fff;padding:0 14px;font-size:15px;cursor:pointer}",
    ".send:disabled{opacity:.5;cursor:default}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100%;max-height:100%;border-radius:0}",
    ".launcher{right:14px;bottom:14px}}"
  ].join("");

  function icon(path, flip) {
    return '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false"' +
      (flip ? ' style="transform:rotate(180deg)"' : "") + '><path fill="currentColor" d="' + path + '"/></svg>';
  }
  var ICON_CHAT = icon("M20 2H4c-1.1 0-2 .9-2 2v18l4-4h14c1.1 0 2-.9 2-2V4c0-1.1-.9-2-2-2z");
  var THUMB = "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 " +
    "7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z";

  var host = document.createElement("div");
  host.setAttribute("data-support-chat", "");
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" + CSS + "</style>" +
    '<button class="launcher" type="button" aria-haspopup="dialog" aria-expanded="false" aria-label="Open support chat">' +
    ICON_CHAT + "</button>" +
    '<section class="panel" role="dialog" aria-modal="false" hidden>' +
    '<header><h2 class="title"></h2><button class="close" type="button" aria-label="Close chat">&times;</button></header>' +
    '<div class="log" role="log" aria-live="polite" aria-relevant="additions text"></div>' +
    '<form><label class="sr" for="q">Your question</label>' +
    '<textarea id="q" rows="1" placeholder="Ask a question" maxlength="2000"></textarea>' +
    '<button class="send" type="submit">Send</button></form></section>';
  var $ = function (sel) { return root.querySelector(sel); };
  var launcher = $(".launcher"), panel = $(".panel"), log = $(".log"), form = $("form");
  var input = $("textarea"), send = $(".send");
  $(".title").textContent = title;
  panel.setAttribute("aria-label", title + " chat");

  var history = [];          // {role, content} of earlier turns, sent with every question
  var conversationId = null; // the API records the turns under it
  var busy = false;

  function open(state) {
    panel.hidden = !state;
    launcher.setAttribute("aria-expanded", String(state));
    launcher.setAttribute("aria-label", state ? "Close support chat" : "Open support chat");
    if (state) input.focus(); else launcher.focus();
  }
  launcher.addEventListener("click", function () { open(panel.hidden); });
  $(".close").addEventListener("click", function () { open(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") open(false); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : submit(e); }
  });
  form.addEventListener("submit", submit);

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }
  function scroll() { log.scrollTop = log.scrollHeight; }

  function submit(e) {
    e.preventDefault();
    var question = input.value.trim();
    if (!question || busy) return;
    input.value = "";
    log.appendChild(el("div", "msg user", question));
    ask(question);
  }

  function setBusy(state) { busy = state; send.disabled = state; input.setAttribute("aria-busy", String(state)); }

  function ask(question) {
    setBusy(true);
    var bubble = el("div", "msg bot"), text = el("div", "text"), status = el("div", "status", "…");
    bubble.appendChild(text); bubble.appendChild(status);
    log.appendChild(bubble); scroll();
    var answer = "", completionId = null, done = false;
    var body = { model: model, stream: true, messages: history.concat([{ role: "user", content: question }]) };
    if (conversationId) body.conversation_id = conversationId;
    fetch(api + "/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + key },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (err) {
          var message = (err.error && err.error.message) || ("The assistant is unavailable (" + response.status + ").");
          throw new Error(message);
        });
      }
      var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
      function pump() {
        return reader.read().then(function (part) {
          if (part.done) return;
          buffer += decoder.decode(part.value, { stream: true });
          var events = buffer.split("\n\n");
          buffer = events.pop();
          events.forEach(handle);
          return pump();
        });
      }
      function handle(event) {
        event.split("\n").forEach(function (line) {
          if (line.charAt(0) === ":") { status.textContent = line.slice(1).trim(); return; }
          if (line.indexOf("data: ") !== 0) return;
          var data = line.slice(6);
          if (data === "[DONE]") { done = true; return; }
          var chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          if (chunk.conversation_id) conversationId = chunk.conversation_id;
          completionId = chunk.id || completionId;
          var choice = chunk.choices && chunk.choices[0];
          if (!choice) return;
          var delta = choice.delta || {};
          if (typeof delta.content === "string" && delta.content) {
            answer = delta.replace ? delta.content.replace(/^\n+/, "") : answer + delta.content;
            text.textContent = answer;
            status.textContent = "";
            scroll();
          }
          if (choice.finish_reason) finish(chunk);
        });
      }
      return pump();
    }).catch(function (err) {
      status.remove();
      if (!answer) bubble.remove();
      var note = el("div", "error", err.message || "The connection was lost.");
      note.setAttribute("role", "alert");
      log.appendChild(note); scroll();
    }).then(function () { setBusy(false); input.focus(); });

    function finish(chunk) {
      status.remove();
      history.push({ role: "user", content: question }, { role: "assistant", content: answer });
      if (chunk.handoff) {
        bubble.classList.add("handoff");
        bubble.insertBefore(el("div", "tag", "Our support team can help with this"), text);
        if (chunk.contact) bubble.appendChild(el("div", "contact", "Contact: " + chunk.contact));
      }
      var cites = chunk.citations || [];
      if (cites.length) {
        var list = el("ol", "sources");
        list.setAttribute("aria-label", chunk.handoff ? "Articles that may help" : "Sources");
        cites.forEach(function (c) {
          var item = el("li"), a = el("a", null, "[" + c.number + "] " + c.title + (c.section ? " › " + c.section : ""));
          a.href = /^https?:\/\//.test(c.link) ? c.link : "#";
          a.target = "_blank"; a.rel = "noopener noreferrer";
          if (c.snippet) a.title = c.snippet;
          item.appendChild(a); list.appendChild(item);
        });
        bubble.appendChild(list);
      }
      if (completionId) bubble.appendChild(rating(completionId));
      scroll();
    }
  }

  function rating(id) {
    var box = el("div", "rate");
    [[1, false, "Helpful"], [-1, true, "Not helpful"]].forEach(function (r) {
      var b = el("button");
      b.innerHTML = icon(THUMB, r[1]);
      b.type = "button"; b.setAttribute("aria-label", r[2]); b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", function () {
        box.querySelectorAll("button").forEach(function (o) { o.setAttribute("aria-pressed", "false"); });
        b.setAttribute("aria-pressed", "true");
        fetch(api + "/v1/feedback", {
          method: "POST",
          headers: { "Content-Type": "application/json", "Authorization": "Bearer " + key },
          body: JSON.stringify({ id: id, rating: r[0] })
        }).catch(function () {});
      });
      box.appendChild(b);
    });
    return box;
  }

  function mount() {
    document.body.appendChild(host);
    if (script.getAttribute("data-open") === "true") open(true);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
