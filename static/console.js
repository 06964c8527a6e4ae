// The agent console. The agent signs in with an API token kept for this tab only
// (sessionStorage); the page follows the console WebSocket, which pushes offers and the
// events of the agent's conversations and, while open, counts as the presence
// heartbeat. Every action is a call to the REST API. The token, the API call and the
// element helpers come from staff.js, which the page loads first.
//
// Message text is written by customers: server data only ever reaches the page through
// textContent or text nodes, never as markup. The token is never logged.
(function () {
  "use strict";

  const TYPING_EVERY_MS = 2500;
  const PING_EVERY_MS = 25000;
  const { $, el, button, shortId, api, inform } = window.staff;
  const report = window.staff.reporter(signOut);

  let me = null;
  let socket = null;
  let retryDelay = 500;
  let lastTyping = 0;
  let reloadTimer = null;
  let typingTimer = null;

  const offers = new Map();
  const conversations = new Map();
  const unread = new Set();
  let selected = null;
  let current = null;
  let shownMessages = new Set();
  let shownNotes = new Set();

  // Building blocks.

  function clock(iso) {
    if (!iso) return "";
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function percent(value) {
    return Math.round(value * 100) + "%";
  }

  // Signing in and out.

  function showLogin(message) {
    $("login").hidden = false;
    $("app").hidden = true;
    for (const id of ["whoami", "presence-label", "link", "sign-out"]) $(id).hidden = true;
    $("login-error").textContent = message || "";
    $("token").focus();
  }

  function showApp() {
    $("login").hidden = true;
    $("app").hidden = false;
    for (const id of ["whoami", "presence-label", "link", "sign-out"]) $(id).hidden = false;
    $("whoami").textContent = me.name + (me.role === "supervisor" ? " (supervisor)" : "");
    $("presence").value = me.presence;
  }

  async function signIn() {
    try {
      me = await api("GET", "/api/v1/me");
    } catch (error) {
      if (error.status === 401) {
        window.staff.forgetToken();
      }
      showLogin("Could not sign in: " + error.message);
      return;
    }
    window.staff.keepToken();
    showApp();
    connect();
  }

  function signOut(message) {
    window.staff.forgetToken();
    me = null;
    const open = socket;
    socket = null;
    if (open) open.close();
    offers.clear();
    conversations.clear();
    closeConversation();
    $("banner").hidden = true;
    showLogin(message);
  }

  // The live connection.

  function setLink(state) {
    $("link").textContent = state;
    $("link").className = "link" + (state === "live" ? " live" : "");
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = scheme + "//" + location.host + "/api/v1/agent/ws?access_token=" +
      encodeURIComponent(window.staff.token());
    const ws = new WebSocket(url);
    socket = ws;
    setLink("connecting");
    ws.onopen = () => {
      retryDelay = 500;
      setLink("live");
    };
    ws.onmessage = (frame) => {
      let event;
      try {
        event = JSON.parse(frame.data);
      } catch (notJson) {
        return;
      }
      onEvent(event);
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      setLink("reconnecting");
      setTimeout(reconnect, retryDelay + Math.random() * 250);
      retryDelay = Math.min(retryDelay * 2, 15000);
    };
  }

  // A refused upgrade looks like any other close; asking who we are tells a revoked
  // token apart from a server that is restarting.
  async function reconnect() {
    if (!window.staff.token()) return;
    try {
      me = await api("GET", "/api/v1/me");
    } catch (error) {
      if (error.status === 401) {
        report(error);
        return;
      }
    }
    if (window.staff.token()) connect();
  }

  setInterval(() => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
  }, PING_EVERY_MS);

  function onEvent(event) {
    const id = event.conversation_id;
    switch (event.type) {
      case "hello":
        return onHello(event.data);
      case "offer.created":
        offers.set(event.data.offer.id, event.data.offer);
        return renderOffers();
      case "offer.expired":
      case "offer.withdrawn":
        offers.delete(event.data.offer.id);
        return renderOffers();
      case "conversation.assigned":
        conversations.set(id, event.data.conversation);
        return renderConversations();
      case "conversation.released":
        conversations.delete(id);
        renderConversations();
        if (id === selected) scheduleReload();
        return;
    }
    if (id !== selected) {
      if (event.type === "message.created") {
        unread.add(id);
        renderConversations();
      }
      if (event.type === "conversation.state_changed") refreshLists();
      return;
    }
    onSelectedEvent(event);
  }

  function onSelectedEvent(event) {
    switch (event.type) {
      case "message.created":
        return appendMessage(event.data.message);
      case "message.triaged":
        return scheduleReload();
      case "note.created":
        return appendNote(event.data.note);
      case "conversation.state_changed":
        refreshLists();
        return scheduleReload();
      case "typing":
        if (event.data.author && event.data.author.kind === "customer") showTyping();
    }
  }

  function onHello(data) {
    offers.clear();
    for (const offer of data.offers) offers.set(offer.id, offer);
    conversations.clear();
    for (const conversation of data.conversations) conversations.set(conversation.id, conversation);
    renderOffers();
    renderConversations();
    // Events may have been missed while disconnected.
    if (selected) scheduleReload();
  }

  async function refreshLists() {
    try {
      const [mine, waiting] = await Promise.all([
        api("GET", "/api/v1/me/conversations"),
        api("GET", "/api/v1/me/offers"),
      ]);
      conversations.clear();
      for (const conversation of mine.conversations) conversations.set(conversation.id, conversation);
      offers.clear();
      for (const offer of waiting.offers) offers.set(offer.id, offer);
      renderConversations();
      renderOffers();
    } catch (error) {
      report(error);
    }
  }

  // Offers and conversations.

  function renderOffers() {
    const list = $("offers");
    list.replaceChildren();
    if (offers.size === 0) list.append(el("p", "empty", "No offers waiting."));
    for (const offer of offers.values()) list.append(offerCard(offer));
    document.title = (offers.size ? "(" + offers.size + ") " : "") + "Agent console";
  }

  function offerCard(offer) {
    const expires = el("span", "expires");
    expires.dataset.expires = offer.expires_at;
    const card = el("div", "card offer",
      el("div", "title", "Queue " + offer.queue),
      el("div", "sub", "Conversation " + shortId(offer.conversation_id) + " · ", expires));
    const row = el("div", "row",
      button("Accept", "", () => accept(offer)),
      button("Reject", "plain", () => reject(offer)),
      button("Preview", "plain", () => openConversation(offer.conversation_id)));
    card.append(row);
    return card;
  }

  function tickExpiries() {
    for (const node of document.querySelectorAll(".expires")) {
      const left = Math.max(0, Math.round((Date.parse(node.dataset.expires) - Date.now()) / 1000));
      node.textContent = left + " s left";
    }
  }
  setInterval(tickExpiries, 1000);

  async function accept(offer) {
    try {
      const body = await api("POST", "/api/v1/offers/" + encodeURIComponent(offer.id) + "/accept");
      offers.delete(offer.id);
      conversations.set(body.conversation.id, body.conversation);
      renderOffers();
      renderConversations();
      openConversation(body.conversation.id);
    } catch (error) {
      report(error);
      refreshLists();
    }
  }

  async function reject(offer) {
    try {
      await api("POST", "/api/v1/offers/" + encodeURIComponent(offer.id) + "/reject");
      offers.delete(offer.id);
      renderOffers();
      if (selected === offer.conversation_id) closeConversation();
    } catch (error) {
      report(error);
      refreshLists();
    }
  }

  function renderConversations() {
    const list = $("conversations");
    list.replaceChildren();
    if (conversations.size === 0) list.append(el("p", "empty", "No conversations assigned to you."));
    for (const c of conversations.values()) {
      const title = el("div", "title", (c.queue || "no queue") + " · " + shortId(c.id),
        unread.has(c.id) ? el("span", "dot") : null);
      const sub = el("div", "sub", [c.handoff_reason, c.language, "since " + clock(c.assigned_at)]
        .filter(Boolean).join(" · "));
      const item = el("button", "item" + (c.id === selected ? " selected" : ""), title, sub);
      item.type = "button";
      item.addEventListener("click", () => openConversation(c.id));
      list.append(item);
    }
  }

  // The selected conversation.

  async function openConversation(id) {
    if (selected !== id) $("reply").value = "";
    selected = id;
    unread.delete(id);
    renderConversations();
    try {
      const view = await api("GET", "/api/v1/agent/conversations/" + encodeURIComponent(id));
      if (selected === id) renderSelected(view);
    } catch (error) {
      report(error);
      if (error.status === 403 || error.status === 404) closeConversation();
    }
  }

  function scheduleReload() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => {
      if (selected) openConversation(selected);
    }, 300);
  }

  function closeConversation() {
    selected = null;
    current = null;
    $("conversation").hidden = true;
    $("placeholder").hidden = false;
    renderConversations();
  }

  function mine(conversation) {
    return conversation.state === "assigned" && me && conversation.assigned_agent_id === me.id;
  }

  function renderSelected(view) {
    current = view.conversation;
    $("placeholder").hidden = true;
    $("conversation").hidden = false;
    renderHeader(view.conversation);
    const transcript = $("transcript");
    transcript.replaceChildren();
    shownMessages = new Set();
    for (const message of view.messages) appendMessage(message);
    const notes = $("notes");
    notes.replaceChildren();
    shownNotes = new Set();
    if (view.notes.length === 0) notes.append(el("p", "empty", "No notes yet."));
    for (const note of view.notes) appendNote(note);
    $("packet").replaceChildren(renderPacket(view.packet));
  }

  function renderHeader(c) {
    $("conv-title").textContent = "Conversation " + shortId(c.id);
    $("conv-title").title = c.id;
    $("conv-state").textContent = c.state;
    $("conv-state").className = "badge " + c.state;
    $("conv-meta").textContent = ["queue " + (c.queue || "none"), "priority " + c.priority, c.language]
      .filter(Boolean).join(" · ");
    const held = mine(c);
    for (const id of ["resolve", "handback", "send", "reply"]) $(id).disabled = !held;
    for (const node of $("transfer-form").elements) node.disabled = !held;
  }

  function appendMessage(message) {
    if (shownMessages.has(message.id)) return;
    shownMessages.add(message.id);
    const kind = message.author.kind;
    const bubble = el("div", "msg " + kind,
      el("div", "meta", kind + " · " + clock(message.created_at)),
      el("div", "text", message.text));
    if (message.triage) bubble.append(el("div", "tags", triageTags(message.triage)));
    const transcript = $("transcript");
    transcript.append(bubble);
    transcript.scrollTop = transcript.scrollHeight;
    if (kind === "customer") $("typing").textContent = "";
  }

  function triageTags(triage) {
    const tags = [];
    if (triage.intent) {
      tags.push(triage.intent.out_of_scope ? "out of scope" :
        triage.intent.label + " " + percent(triage.intent.confidence));
    }
    if (triage.sentiment) tags.push(triage.sentiment.label);
    if (triage.urgency && triage.urgency.level) tags.push("urgency " + triage.urgency.level);
    return tags.join(" · ");
  }

  function appendNote(note) {
    if (shownNotes.has(note.id)) return;
    if (shownNotes.size === 0) $("notes").replaceChildren();
    shownNotes.add(note.id);
    const author = note.agent_id === (me && me.id) ? "you" : "agent " + shortId(note.agent_id);
    $("notes").append(el("div", "note",
      el("div", "meta", author + " · " + clock(note.created_at)),
      el("div", "text", note.text)));
  }

  function showTyping() {
    $("typing").textContent = "The customer is typing…";
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => ($("typing").textContent = ""), 4000);
  }

  // The handoff packet.

  function facts(rows) {
    const list = el("dl");
    for (const [label, value] of rows) {
      if (value === null || value === undefined || value === "" ||
          (Array.isArray(value) && value.length === 0)) continue;
      list.append(el("dt", "", label), el("dd", "", value instanceof Node ? value : String(value)));
    }
    return list;
  }

  function renderPacket(p) {
    const box = el("div");
    box.append(el("p", "summary", p.summary));
    const intents = p.intent_trend.map((t) => t.out_of_scope ? "out of scope" : t.intent).join(" → ");
    const sentiment = p.sentiment_direction + (p.sentiment_trend.length ?
      " (" + p.sentiment_trend.map((s) => s.toFixed(2)).join(", ") + ")" : "");
    const urgency = p.urgency ? el("span", p.urgency === "high" || p.urgency === "critical" ? "urgent" : "",
      p.urgency) : null;
    box.append(facts([
      ["Reason", p.reason],
      ["Queue", p.queue],
      ["Rule", p.rule],
      ["Main intent", p.main_intent],
      ["Intents", intents],
      ["Sentiment", sentiment],
      ["Urgency", urgency],
      ["Why urgent", list(p.urgency_reasons)],
      ["Personal data", p.personal_data_shared.join(", ")],
      ["Bot tried", list(p.bot_attempts.map(attemptText))],
      ["Customer", customerText(p.customer)],
      ["Recent topics", p.customer.recent_topics.join(", ")],
      ["Next step", p.next_best_action],
    ]));
    box.append(el("h2", "", "Suggested reply"), el("div", "suggested", p.suggested_reply));
    const use = button("Use this reply", "plain", () => {
      $("reply").value = p.suggested_reply;
      $("reply").focus();
    });
    use.disabled = !(current && mine(current));
    box.append(el("div", "", use));
    return box;
  }

  function list(items) {
    if (!items || items.length === 0) return null;
    return el("ul", "plain", ...items.map((item) => el("li", "", item)));
  }

  function attemptText(attempt) {
    const cited = attempt.citations.map((c) => c.title).join(", ");
    return attempt.text + (cited ? " [" + cited + "]" : "");
  }

  function customerText(c) {
    const parts = [c.name, c.tier, c.language,
      c.past_conversations + " earlier conversation" + (c.past_conversations === 1 ? "" : "s")];
    for (const [key, value] of Object.entries(c.attributes || {})) {
      parts.push(key + ": " + (typeof value === "string" ? value : JSON.stringify(value)));
    }
    return parts.filter(Boolean).join(" · ");
  }

  // Actions on the selected conversation.

  async function act(path, body, done) {
    const id = selected;
    try {
      const result = await api("POST", "/api/v1/agent/conversations/" + encodeURIComponent(id) + path, body);
      done(result);
    } catch (error) {
      report(error);
    }
  }

  // After a resolve, hand back or transfer the conversation is no longer ours.
  function letGo(result, what) {
    conversations.delete(result.conversation.id);
    inform("Conversation " + shortId(result.conversation.id) + " " + what + ".");
    closeConversation();
    refreshLists();
  }

  $("reply-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("reply").value;
    if (!text.trim() || !selected) return;
    $("send").disabled = true;
    act("/messages", { text }, (message) => {
      $("reply").value = "";
      appendMessage(message);
    }).finally(() => ($("send").disabled = !(current && mine(current))));
  });

  $("reply").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("reply-form").requestSubmit();
    }
  });

  // Tells the customer we are typing, at most once every few seconds.
  $("reply").addEventListener("input", () => {
    const now = Date.now();
    if (!selected || now - lastTyping < TYPING_EVERY_MS) return;
    lastTyping = now;
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "typing", conversation_id: selected }));
    } else {
      api("POST", "/api/v1/agent/conversations/" + encodeURIComponent(selected) + "/typing")
        .catch(() => {});
    }
  });

  $("note-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("note").value;
    if (!text.trim() || !selected) return;
    act("/notes", { text }, (note) => {
      $("note").value = "";
      appendNote(note);
    });
  });

  $("transfer-kind").addEventListener("change", () => {
    const toQueue = $("transfer-kind").value === "queue";
    $("transfer-target").placeholder = toQueue ? "queue name" : "agent id";
    $("transfer-priority").hidden = !toQueue;
  });

  $("transfer-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const target = $("transfer-target").value.trim();
    if (!target) return;
    const body = {};
    if ($("transfer-kind").value === "queue") {
      body.queue = target;
      const priority = $("transfer-priority").value;
      if (priority !== "") body.priority = Number(priority);
    } else {
      body.agent_id = target;
    }
    const note = $("transfer-note").value;
    if (note.trim()) body.note = note;
    act("/transfer", body, (result) => {
      $("transfer-form").reset();
      letGo(result, "transferred");
    });
  });

  $("resolve").addEventListener("click", () => {
    if (confirm("Mark this conversation as resolved?")) {
      act("/resolve", undefined, (result) => letGo(result, "resolved"));
    }
  });

  $("handback").addEventListener("click", () => {
    if (confirm("Hand this conversation back to the bot?")) {
      act("/handback", undefined, (result) => letGo(result, "handed back to the bot"));
    }
  });

  // Presence, sign-in and sign-out.

  $("presence").addEventListener("change", async () => {
    const wanted = $("presence").value;
    try {
      me = await api("PUT", "/api/v1/me/presence", { presence: wanted });
      $("presence").value = me.presence;
    } catch (error) {
      $("presence").value = me.presence;
      report(error);
    }
  });

  window.staff.wireSignIn("An agent token starts with fda_.", signIn);
  $("sign-out").addEventListener("click", () => signOut(""));

  if (window.staff.token()) signIn();
  else showLogin("");
})();
