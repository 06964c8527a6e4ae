// The customer chat widget: starts (or resumes) a conversation, sends messages with an
// idempotency key so retries never duplicate them, and follows live events over a
// WebSocket that resumes from the last event it saw. A bot reply is shown as it is
// written (`reply.delta`) and replaced by the stored message, which carries its
// sources. Message text reaches the page as text only, never as markup.
(function () {
  "use strict";

  const API = "/api/v1/conversations";
  const STORE = "frontdesk.conversation";
  const log = document.getElementById("fd-log");
  const input = document.getElementById("fd-input");
  const form = document.getElementById("fd-form");
  const status = document.getElementById("fd-status");
  const stateLine = document.getElementById("fd-state");
  const typingLine = document.getElementById("fd-typing");

  const STATE_TEXT = {
    bot: "We usually answer within a few minutes.",
    queued: "Waiting for a support agent…",
    assigned: "A support agent is with you.",
    resolved: "This conversation is resolved. Write to reopen it.",
  };

  let session = JSON.parse(localStorage.getItem(STORE) || "null");
  let lastEventId = session ? session.lastEventId || 0 : 0;
  const shown = new Set();

  function externalId() {
    const params = new URLSearchParams(location.search);
    return params.get("customer") || "anon-" + crypto.randomUUID();
  }

  async function start() {
    const response = await fetch(API, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ customer: { external_id: externalId(), language: navigator.language } }),
    });
    if (!response.ok) throw new Error((await response.json()).error.message);
    const body = await response.json();
    session = { id: body.conversation_id, token: body.customer_token, lastEventId: 0 };
    localStorage.setItem(STORE, JSON.stringify(session));
  }

  // Bot replies being written, by reply id: the bubble and the text so far.
  const writing = new Map();

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  // Fills a bubble with text; a run of lines starting with "> " is a quoted passage
  // (a lone ">" inside the run is a blank line of it).
  function fillText(bubble, text) {
    bubble.replaceChildren();
    let run = [];
    let quoting = false;
    const flush = () => {
      if (!run.length) return;
      const joined = run.join("\n");
      bubble.append(quoting ? element("blockquote", "fd-quote", joined) : joined);
      run = [];
    };
    for (const line of text.split("\n")) {
      const quoted = line.startsWith("> ") || (quoting && line === ">");
      if (quoted !== quoting) {
        flush();
        quoting = quoted;
      }
      run.push(quoted ? line.slice(2) : line);
    }
    flush();
  }

  // "Sources:" with a link per cited article; only help-centre addresses are linked.
  function sources(citations) {
    const line = element("div", "fd-sources", "Sources: ");
    citations.forEach((c, i) => {
      if (i > 0) line.append(", ");
      const url = typeof c.url === "string" ? c.url : "";
      if (!url.startsWith("/help/")) return line.append(String(c.title));
      const link = element("a", "", String(c.title));
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      line.append(link);
    });
    return line;
  }

  function bubbleFor(message) {
    const bubble = element("div", "fd-msg fd-" + message.author.kind);
    if (message.author.kind !== "bot") {
      bubble.textContent = message.text;
      return bubble;
    }
    fillText(bubble, message.text);
    if (Array.isArray(message.citations) && message.citations.length) {
      bubble.append(sources(message.citations));
    }
    return bubble;
  }

  function render(message) {
    if (shown.has(message.id)) return;
    shown.add(message.id);
    const bubble = bubbleFor(message);
    const draft = writing.get(message.id);
    if (draft) {
      draft.bubble.replaceWith(bubble);
      writing.delete(message.id);
    } else {
      log.appendChild(bubble);
    }
    log.scrollTop = log.scrollHeight;
  }

  function writeReply(replyId, piece) {
    if (shown.has(replyId)) return;
    let draft = writing.get(replyId);
    if (!draft) {
      draft = { bubble: element("div", "fd-msg fd-bot fd-writing"), text: "" };
      draft.bubble.setAttribute("aria-busy", "true");
      writing.set(replyId, draft);
      log.appendChild(draft.bubble);
    }
    draft.text += piece;
    fillText(draft.bubble, draft.text);
    log.scrollTop = log.scrollHeight;
  }

  function dropReply(replyId) {
    const draft = writing.get(replyId);
    if (draft) draft.bubble.remove();
    writing.delete(replyId);
  }

  let typingTimer = null;
  function onEvent(event) {
    if (event.id) {
      lastEventId = event.id;
      session.lastEventId = lastEventId;
      localStorage.setItem(STORE, JSON.stringify(session));
    }
    if (event.type === "message.created") render(event.data.message);
    if (event.type === "reply.started") writeReply(event.data.reply_id, "");
    if (event.type === "reply.delta") writeReply(event.data.reply_id, event.data.text || "");
    if (event.type === "reply.retracted") dropReply(event.data.reply_id);
    if (event.type === "conversation.state_changed") stateLine.textContent = STATE_TEXT[event.data.to] || "";
    if (event.type === "typing" && event.data.author.kind !== "customer") {
      typingLine.textContent = "Typing…";
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => (typingLine.textContent = ""), 4000);
    }
  }

  let retryDelay = 500;
  function follow() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}${API}/${session.id}/ws` +
      `?access_token=${encodeURIComponent(session.token)}&last_event_id=0`;
    const socket = new WebSocket(url);
    socket.onopen = () => { status.textContent = ""; retryDelay = 500; };
    socket.onmessage = (frame) => onEvent(JSON.parse(frame.data));
    socket.onclose = () => {
      // Pieces missed while away never come back; the stored reply will.
      for (const replyId of [...writing.keys()]) dropReply(replyId);
      status.textContent = "Reconnecting…";
      setTimeout(follow, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    };
    follow.socket = socket;
  }

  async function send(text) {
    const key = crypto.randomUUID();
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const response = await fetch(`${API}/${session.id}/messages`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            authorization: "Bearer " + session.token,
            "idempotency-key": key,
          },
          body: JSON.stringify({ text }),
        });
        const body = await response.json();
        if (!response.ok) { status.textContent = body.error.message; return false; }
        render(body);
        return true;
      } catch (networkError) {
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      }
    }
    status.textContent = "Could not send your message. Please try again.";
    return false;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    if (!(await send(text))) input.value = text;
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
    else if (follow.socket && follow.socket.readyState === 1) {
      follow.socket.send(JSON.stringify({ type: "typing" }));
    }
  });

  (async () => {
    try {
      if (!session) await start();
      follow();
    } catch (error) {
      status.textContent = "The chat is unavailable right now: " + error.message;
    }
  })();
})();
