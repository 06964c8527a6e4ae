// The customer chat widget: starts (or resumes) a conversation, sends messages with an
// idempotency key so retries never duplicate them, and follows live events over a
// WebSocket that resumes from the last event it saw.
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

  function render(message) {
    if (shown.has(message.id)) return;
    shown.add(message.id);
    const bubble = document.createElement("div");
    bubble.className = "fd-msg fd-" + message.author.kind;
    bubble.textContent = message.text;
    log.appendChild(bubble);
    log.scrollTop = log.scrollHeight;
  }

  let typingTimer = null;
  function onEvent(event) {
    if (event.id) {
      lastEventId = event.id;
      session.lastEventId = lastEventId;
      localStorage.setItem(STORE, JSON.stringify(session));
    }
    if (event.type === "message.created") render(event.data.message);
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
