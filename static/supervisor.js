// The supervisor's page: a live view of queues and agents polled every few seconds,
// the routing rules (draft, validate, compare, simulate, publish, roll back), the team's
// skills and capacity, why a conversation went where it went and why the bot said what
// it said, hand assignment, the help centre (articles, a retrieval probe, the prompts),
// the intent examples the triage model learns from (with a triage probe) and the audit
// log. It signs in with a supervisor's API token kept for this tab only. The
// token, the API call and the element helpers come from staff.js, loaded first.
//
// Server data only ever reaches the page through textContent or text nodes, never as
// markup: much of it (queue names, notes, rule documents) is typed by people. The
// token is never logged.
(function () {
  "use strict";

  const LIVE_EVERY_MS = 5000;
  const AUDIT_PAGE = 50;
  const { $, el, button, shortId, api, banner, inform } = window.staff;
  const report = window.staff.reporter(signOut);

  let me = null;
  let tab = "live";
  let liveTimer = null;
  let livePolling = false;
  let editorTouched = false;
  let inForceDocument = "";
  let auditAfter = 0;
  let shownConversation = null;
  let helpArticles = [];
  let editingArticle = null;
  let intentLabels = [];
  let examplesLabel = null;
  let modelTimer = null;
  const agentNames = new Map();
  let agents = [];

  // Building blocks.

  function row(cells, classes) {
    const tr = el("tr");
    cells.forEach((cell, i) => tr.append(el("td", (classes && classes[i]) || "", cell)));
    return tr;
  }

  function emptyRow(body, columns, text) {
    const td = el("td", "empty", text);
    td.colSpan = columns;
    body.append(el("tr", "", td));
  }

  function agentName(id) {
    return agentNames.get(id) || shortId(id);
  }

  // Times arrive as RFC 3339 text or as milliseconds since the epoch.
  function when(value) {
    if (value === null || value === undefined) return "";
    return new Date(value).toLocaleString([], { dateStyle: "short", timeStyle: "medium" });
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const s = Math.round(seconds);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function skillsText(skills) {
    return Object.entries(skills || {}).map(([name, level]) => name + "=" + level).join(", ");
  }

  function valueText(value) {
    if (typeof value === "string") return value;
    if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(2);
    return JSON.stringify(value);
  }

  function fixed(value, digits) {
    return typeof value === "number" ? value.toFixed(digits === undefined ? 3 : digits) : "";
  }

  function millis(value) {
    return typeof value === "number" ? value + " ms" : "–";
  }

  // A term and its description, to spread into a <dl>.
  function pair(term, description) {
    return [el("dt", "", term), el("dd", "", description)];
  }

  function pretty(value) {
    return el("pre", "json", JSON.stringify(value, null, 2));
  }

  // Signing in, out, and moving between tabs.

  function showLogin(message) {
    $("login").hidden = false;
    $("app").hidden = true;
    for (const id of ["tabs", "whoami", "sign-out"]) $(id).hidden = true;
    $("login-error").textContent = message || "";
    $("token").focus();
  }

  async function signIn() {
    try {
      me = await api("GET", "/api/v1/me");
    } catch (error) {
      if (error.status === 401) window.staff.forgetToken();
      showLogin("Could not sign in: " + error.message);
      return;
    }
    if (me.role !== "supervisor") {
      window.staff.forgetToken();
      showLogin("This page needs a supervisor's token; agents work in the console at /console.");
      return;
    }
    window.staff.keepToken();
    $("login").hidden = true;
    $("app").hidden = false;
    for (const id of ["tabs", "whoami", "sign-out"]) $(id).hidden = false;
    $("whoami").textContent = me.name;
    show(location.hash.slice(1) || "live");
  }

  function signOut(message) {
    window.staff.forgetToken();
    me = null;
    clearTimeout(liveTimer);
    $("banner").hidden = true;
    showLogin(message);
  }

  const loaders = {
    live: pollLive,
    rules: loadRules,
    team: loadTeam,
    conversation: loadAgentChoices,
    help: loadHelp,
    intents: loadIntents,
    audit: () => loadAudit(true),
  };

  function show(name) {
    if (!window.staff.token()) return;
    if (!loaders[name]) name = "live";
    tab = name;
    if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
    for (const section of document.querySelectorAll("main > section")) {
      section.hidden = section.id !== "tab-" + name;
    }
    for (const b of document.querySelectorAll("#tabs button")) {
      b.classList.toggle("active", b.dataset.tab === name);
    }
    clearTimeout(liveTimer);
    loaders[name]();
  }

  // Live view.

  // One poll at a time; a hidden tab stops polling until it is shown again.
  async function pollLive() {
    clearTimeout(liveTimer);
    if (!window.staff.token() || tab !== "live" || livePolling) return;
    livePolling = true;
    try {
      renderLive(await api("GET", "/api/v1/supervisor/live"));
    } catch (error) {
      report(error);
    } finally {
      livePolling = false;
    }
    if (window.staff.token() && tab === "live" && !document.hidden) {
      liveTimer = setTimeout(pollLive, LIVE_EVERY_MS);
    }
  }

  function renderLive(live) {
    for (const a of live.agents) agentNames.set(a.id, a.name);
    const waiting = live.queues.reduce((sum, q) => sum + q.waiting, 0);
    $("live-status").textContent = "Updated " + when(live.at) + " · " + waiting + " waiting · " +
      live.assigned + " with an agent · refreshes every " + LIVE_EVERY_MS / 1000 + " s";
    const queues = $("queues");
    queues.replaceChildren();
    if (live.queues.length === 0) queues.append(el("div", "panel empty", "Nobody is waiting."));
    for (const queue of live.queues) queues.append(queuePanel(queue));
    const body = $("live-agents");
    body.replaceChildren();
    if (live.agents.length === 0) emptyRow(body, 8, "No agents yet.");
    for (const a of live.agents) body.append(agentRow(a));
  }

  function queuePanel(queue) {
    const head = el("div", "queue-head",
      el("span", "name", queue.queue || "(no queue)"),
      el("span", "", el("span", "figure", queue.waiting), " waiting"),
      el("span", "", "longest ",
        el("span", "figure" + (queue.longest_wait_seconds > 300 ? " late" : ""),
          duration(queue.longest_wait_seconds))));
    const body = el("tbody");
    for (const c of queue.conversations) {
      body.append(row([
        el("code", "", shortId(c.id)), c.state, duration(c.waiting_seconds), c.priority,
        c.language || "", c.handoff_reason || "",
        button("Open", "small plain", () => openConversation(c.id, c)),
      ], ["", "", "num", "num"]));
    }
    const table = el("table", "",
      el("thead", "", el("tr", "", ...["Id", "State", "Waiting", "Priority", "Lang", "Reason", ""]
        .map((h) => el("th", "", h)))),
      body);
    return el("div", "panel", head, table);
  }

  function agentRow(a) {
    const ratio = a.capacity > 0 ? Math.min(1, a.active / a.capacity) : 1;
    const fill = el("span", ratio >= 1 ? "full" : "");
    fill.style.width = Math.round(ratio * 100) + "%";
    const seen = a.last_seen_at ? when(a.last_seen_at) : "never";
    return row([
      a.name, a.role, el("span", "badge " + a.presence, a.presence),
      a.active + " / " + a.capacity, el("div", "bar", fill),
      skillsText(a.skills), (a.languages || []).join(", "), seen,
    ], ["", "", "", "num"]);
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && tab === "live" && window.staff.token()) pollLive();
  });

  // Rules.

  async function loadRules() {
    try {
      renderRules(await api("GET", "/api/v1/rules"));
    } catch (error) {
      report(error);
    }
  }

  function renderRules(overview) {
    const force = overview.in_force;
    inForceDocument = force.document;
    $("in-force").textContent = force.version === null
      ? "No version published yet: the " + force.source + " rules apply."
      : "Version " + force.version + " (published).";
    if (!editorTouched) $("editor").value = force.document;
    $("rollback").disabled = overview.publications.length < 2;

    const versions = $("versions");
    versions.replaceChildren();
    if (overview.versions.length === 0) emptyRow(versions, 6, "No versions saved yet.");
    for (const v of overview.versions) versions.append(versionRow(v, force.version));

    const publications = $("publications");
    publications.replaceChildren();
    if (overview.publications.length === 0) emptyRow(publications, 4, "Nothing published yet.");
    for (const p of overview.publications) {
      publications.append(row([p.version, p.kind, p.published_by ? agentName(p.published_by) : "",
        when(p.published_at)], ["num"]));
    }
  }

  function versionRow(v, inForce) {
    const actions = el("div", "toolbar",
      button("Open", "small plain", () => openVersion(v.version)),
      button("Simulate", "small plain", () => simulate(v.version)),
      button("Publish", "small", () => publish(v.version)));
    const number = v.version === inForce ? el("strong", "", v.version + " ✓") : v.version;
    return row([number, v.note, v.based_on === null ? "" : v.based_on, when(v.created_at),
      v.last_published_at ? when(v.last_published_at) : "", actions], ["num"]);
  }

  function showProblems(problems, message) {
    const box = $("editor-result");
    box.replaceChildren(el("p", "", message));
    box.append(el("ul", "problems", ...problems.map((p) => el("li", "", p))));
  }

  function diffView(lines) {
    if (lines.length === 0) return el("p", "muted", "No difference from the rules in force.");
    const box = el("div", "diff");
    for (const line of lines) {
      box.append(el("div", line.op === "+" ? "add" : "del",
        line.op + " " + String(line.line).padStart(4) + "  " + line.text));
    }
    return box;
  }

  $("editor").addEventListener("input", () => (editorTouched = true));

  $("reset-editor").addEventListener("click", () => {
    $("editor").value = inForceDocument;
    editorTouched = false;
    $("editor-result").replaceChildren();
  });

  $("save-draft").addEventListener("click", async () => {
    const body = { document: $("editor").value, note: $("draft-note").value };
    try {
      const saved = await api("POST", "/api/v1/rules/versions", body);
      $("draft-note").value = "";
      $("editor-result").replaceChildren(
        el("p", "", "Saved as version " + saved.version.version +
          " (not in force yet). Difference from the rules in force:"),
        diffView(saved.diff_from_in_force));
      loadRules();
    } catch (error) {
      if (error.problems.length) showProblems(error.problems, error.message + ":");
      else report(error);
    }
  });

  async function openVersion(version) {
    try {
      const body = await api("GET", "/api/v1/rules/versions/" + version);
      $("editor").value = body.version.document || "";
      editorTouched = true;
      $("editor-result").replaceChildren(
        el("p", "", "Version " + version + " loaded into the editor (" + (body.version.note || "no note") +
          "). Difference from the rules in force:"),
        diffView(body.diff_from_in_force));
      $("editor").scrollIntoView({ behavior: "smooth" });
    } catch (error) {
      report(error);
    }
  }

  function simulationOptions() {
    const body = {};
    for (const [field, id] of [["from", "sim-from"], ["to", "sim-to"]]) {
      const value = $(id).value;
      if (value) body[field] = new Date(value).toISOString().replace(/\.\d{3}Z$/, "Z");
    }
    const handle = $("sim-handle").value;
    if (handle !== "") body.average_handle_seconds = Number(handle);
    return body;
  }

  async function simulate(version) {
    try {
      const result = await api("POST", "/api/v1/rules/versions/" + version + "/simulate", simulationOptions());
      renderSimulation(version, result.simulation);
    } catch (error) {
      if (error.problems.length) showProblems(error.problems, "Version " + version + ": " + error.message);
      else report(error);
    }
  }

  function renderSimulation(version, sim) {
    const result = sim.report;
    $("simulation-panel").hidden = false;
    $("simulation-title").textContent = "Simulation of version " + version;
    const span = sim.from ? when(sim.from) + " to " + when(sim.to) : "no stored decisions in the window";
    const box = $("simulation");
    box.replaceChildren(el("p", "muted", result.cases + " decisions replayed (" + span + "), " +
      sim.skipped + " unreadable left out, handle time " + duration(sim.average_handle_seconds) + "."));

    const hits = el("tbody");
    for (const [rule, count] of Object.entries(result.hits_per_rule)) hits.append(row([rule, count], ["", "num"]));
    const counts = el("tbody");
    if (result.move_counts.length === 0) emptyRow(counts, 3, "Nothing would move.");
    for (const m of result.move_counts) {
      counts.append(row([m.from || "bot", m.to || "bot", m.count], ["", "", "num"]));
    }
    const queues = el("tbody");
    if (Object.keys(result.queues).length === 0) emptyRow(queues, 6, "No queue receives work.");
    for (const [name, q] of Object.entries(result.queues)) queues.append(forecastRow(name, q));
    const moves = el("tbody");
    for (const m of result.moves) {
      moves.append(row([el("code", "", shortId(m.conversation_id)), m.from || "bot", m.to || "bot", m.rule]));
    }

    box.append(el("div", "grid2",
      el("div", "", el("h3", "", "Hits per rule"), table(["Rule", "Hits"], hits, [1])),
      el("div", "", el("h3", "", "Moves"), table(["From", "To", "Cases"], counts, [2]))));
    box.append(el("h3", "", "Queue forecasts"),
      table(["Queue", "Cases", "Arrivals / h", "Slots", "Load (erlangs)", "Expected wait"], queues, [1, 2, 3, 4]));
    if (result.moves.length) {
      box.append(el("h3", "", "Conversations that would move"), table(["Id", "From", "To", "Rule"], moves));
    }
    $("simulation-panel").scrollIntoView({ behavior: "smooth" });
  }

  function forecastRow(name, q) {
    const wait = q.expected_wait_seconds === null ? "overloaded: the line grows"
      : duration(q.expected_wait_seconds) + (q.probability_of_waiting === null ? ""
        : " (" + Math.round(q.probability_of_waiting * 100) + "% wait)");
    return row([name, q.conversations, q.arrivals_per_hour.toFixed(1), q.servers,
      q.offered_load_erlangs.toFixed(2), wait], ["", "num", "num", "num", "num"]);
  }

  function table(headings, body, numeric) {
    const head = el("tr");
    headings.forEach((h, i) => head.append(el("th", numeric && numeric.includes(i) ? "num" : "", h)));
    return el("table", "", el("thead", "", head), body);
  }

  async function publish(version) {
    if (!confirm("Put version " + version + " in force for the next message?")) return;
    try {
      const result = await api("POST", "/api/v1/rules/versions/" + version + "/publish");
      inform("Version " + result.in_force + " is in force.");
      editorTouched = false;
      loadRules();
    } catch (error) {
      if (error.problems.length) showProblems(error.problems, "Version " + version + ": " + error.message);
      else report(error);
    }
  }

  $("rollback").addEventListener("click", async () => {
    if (!confirm("Put the previously published version back in force?")) return;
    try {
      const result = await api("POST", "/api/v1/rules/rollback");
      inform("Rolled back: version " + result.in_force + " is in force.");
      editorTouched = false;
      loadRules();
    } catch (error) {
      report(error);
    }
  });

  // Team.

  async function loadAgents() {
    const body = await api("GET", "/api/v1/agents");
    agents = body.agents;
    for (const a of agents) agentNames.set(a.id, a.name);
    return agents;
  }

  async function loadTeam() {
    try {
      await loadAgents();
    } catch (error) {
      report(error);
      return;
    }
    const body = $("team");
    body.replaceChildren();
    if (agents.length === 0) emptyRow(body, 8, "Nobody in the team yet.");
    for (const a of agents) body.append(teamRow(a));
  }

  function teamRow(a) {
    const skills = el("input", "skills");
    skills.value = skillsText(a.skills);
    skills.setAttribute("aria-label", "Skills of " + a.name);
    const capacity = el("input", "capacity");
    capacity.type = "number";
    capacity.min = "0";
    capacity.max = "50";
    capacity.value = a.capacity;
    capacity.setAttribute("aria-label", "Capacity of " + a.name);
    const save = button("Save", "small", () => saveAgent(a, skills, capacity));
    return row([a.name, a.role, el("span", "badge " + a.presence, a.presence), a.languages.join(", "),
      a.teams.join(", "), skills, capacity, save]);
  }

  // `cards=3, general=1` as the API's map; null when it cannot be read.
  function parseSkills(text) {
    const skills = {};
    for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
      const match = /^([^=\s]+)\s*=\s*(\d+)$/.exec(part);
      if (!match) return null;
      skills[match[1]] = Number(match[2]);
    }
    return skills;
  }

  async function saveAgent(agent, skillsInput, capacityInput) {
    const skills = parseSkills(skillsInput.value);
    if (skills === null) {
      banner("Skills of " + agent.name + " must be written name=level, separated by commas.", "error");
      return;
    }
    try {
      const body = { skills, capacity: Number(capacityInput.value) };
      const updated = await api("PATCH", "/api/v1/agents/" + encodeURIComponent(agent.id), body);
      skillsInput.value = skillsText(updated.skills);
      capacityInput.value = updated.capacity;
      inform(updated.name + " saved: capacity " + updated.capacity + ", skills " +
        (skillsText(updated.skills) || "none") + ".");
    } catch (error) {
      report(error);
    }
  }

  // A conversation's decisions, and moving it by hand.

  async function loadAgentChoices() {
    try {
      await loadAgents();
    } catch (error) {
      report(error);
      return;
    }
    const select = $("assign-agent");
    const chosen = select.value;
    select.replaceChildren();
    for (const a of agents) {
      const option = el("option", "", a.name + " (" + a.presence + ")");
      option.value = a.id;
      select.append(option);
    }
    if (chosen) select.value = chosen;
  }

  function openConversation(id, seen) {
    $("conversation-id").value = id;
    show("conversation");
    describe(seen);
    loadConversation(id);
  }

  function loadConversation(id) {
    shownConversation = id;
    loadMessages(id);
    loadDecisions(id);
  }

  function describe(c) {
    $("conversation-state").textContent = c ? "Conversation " + c.id + ": " + c.state +
      (c.queue ? " in " + c.queue : "") +
      (c.assigned_agent_id ? " with " + agentName(c.assigned_agent_id) : "") +
      (c.waiting_seconds !== undefined ? ", waiting " + duration(c.waiting_seconds) : "") +
      (c.handoff_reason ? " (" + c.handoff_reason + ")" : "") + "." : "";
  }

  $("conversation-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("conversation-id").value.trim();
    if (id) {
      describe(null);
      loadConversation(id);
    }
  });

  async function loadDecisions(id) {
    shownConversation = id;
    try {
      const body = await api("GET", "/api/v1/conversations/" + encodeURIComponent(id) + "/decisions");
      if (shownConversation !== id) return;
      renderDecisions(body.decisions);
      renderOffers(body.offers);
    } catch (error) {
      report(error);
    }
  }

  function renderDecisions(decisions) {
    const box = $("decisions");
    box.replaceChildren();
    if (decisions.length === 0) box.append(el("p", "empty", "No routing decisions stored."));
    for (const d of decisions) box.append(decisionCard(d));
  }

  function decisionCard(d) {
    const x = d.explanation || {};
    const card = el("div", "decision",
      el("div", "head", when(d.created_at) + " · rule " + (d.rule_name || "default") + " · " + d.action +
        (d.queue ? " → " + d.queue + " (priority " + d.priority + ")" : "")));
    const misses = (x.earlier_rules || []).map((m) =>
      m.name + ": " + (m.outcome === "false" ? "condition false" : "error, " + valueText(m.outcome.error)));
    const boosts = (x.boosts || []).map((b) => b.name + " +" + b.add);
    card.append(el("dl", "",
      el("dt", "", "Matched"), el("dd", "", el("code", "", x.matched_condition || "(default)")),
      el("dt", "", "Earlier rules"), el("dd", "", misses.length ? list(misses) : "none"),
      el("dt", "", "Boosts"), el("dd", "", boosts.join(", ") || "none")));
    card.append(el("h3", "", "Facts read"), factsTable(x.context || {}));
    if (x.action) card.append(el("h3", "", "Action"), pretty(x.action));
    if (x.agent_search) {
      const s = x.agent_search;
      card.append(el("h3", "", "Agent search in " + s.queue + (s.skills_relaxed ? " (skills relaxed)" : "")),
        candidatesTable(s.candidates, s.chosen));
    }
    return card;
  }

  function list(items) {
    return el("ul", "", ...items.map((item) => el("li", "", item)));
  }

  function factsTable(context) {
    const body = el("tbody");
    const entries = Object.entries(context);
    if (entries.length === 0) emptyRow(body, 2, "none");
    for (const [name, value] of entries) body.append(row([el("code", "", name), valueText(value)]));
    return table(["Fact", "Value"], body);
  }

  // Decisions store each candidate flat; offers keep the verdict in a field of its own.
  function candidatesTable(candidates, chosen) {
    const body = el("tbody");
    if (!candidates || candidates.length === 0) emptyRow(body, 3, "No agents to consider.");
    for (const c of candidates || []) {
      const v = c.verdict && typeof c.verdict === "object" ? c.verdict : c;
      const details = Object.entries(v)
        .filter(([key]) => key !== "agent_id" && key !== "verdict")
        .map(([key, value]) => key.replace(/_/g, " ") + " " + valueText(value)).join(", ");
      const name = agentName(c.agent_id) + (c.agent_id === chosen ? " (chosen)" : "");
      body.append(row([name, el("span", "badge " + v.verdict, v.verdict), details]));
    }
    return table(["Agent", "Verdict", "Why"], body);
  }

  function renderOffers(offers) {
    const box = $("offers");
    box.replaceChildren();
    if (offers.length === 0) box.append(el("p", "empty", "No offers made."));
    for (const o of offers) {
      const x = o.explanation || {};
      box.append(el("div", "decision",
        el("div", "head", when(o.created_at) + " · " + agentName(o.agent_id) + " · " + o.status),
        el("p", "muted", "Queue " + o.queue + " · expires " + when(o.expires_at) +
          (o.decided_at ? " · decided " + when(o.decided_at) : "") +
          (x.skills_relaxed ? " · skills relaxed" : "")),
        candidatesTable(x.candidates, x.chosen)));
    }
  }

  async function byHand(path, body, what) {
    const id = $("conversation-id").value.trim();
    if (!id) {
      banner("Give a conversation id first.", "error");
      return;
    }
    try {
      const result = await api("POST", "/api/v1/supervisor/conversations/" + encodeURIComponent(id) + path, body);
      describe(result.conversation);
      inform("Conversation " + shortId(id) + " " + what + ".");
      loadConversation(id);
    } catch (error) {
      report(error);
    }
  }

  $("assign").addEventListener("click", () => {
    const agent = $("assign-agent").value;
    if (agent) byHand("/assign", { agent_id: agent }, "assigned to " + agentName(agent));
  });

  $("move").addEventListener("click", () => {
    const queue = $("move-queue").value.trim();
    if (!queue) {
      banner("Give the queue to move to.", "error");
      return;
    }
    const body = { queue };
    const priority = $("move-priority").value;
    if (priority !== "") body.priority = Number(priority);
    byHand("/move", body, "moved to " + queue);
  });

  // The transcript, and the evidence behind each bot reply.

  async function loadMessages(id) {
    const box = $("messages");
    try {
      const body = await api("GET", "/api/v1/agent/conversations/" + encodeURIComponent(id));
      if (shownConversation !== id) return;
      box.replaceChildren();
      if (body.messages.length === 0) box.append(el("p", "empty", "No messages."));
      for (const m of body.messages) box.append(messageItem(m));
    } catch (error) {
      box.replaceChildren();
      report(error);
    }
  }

  function messageItem(m) {
    const kind = m.author.kind;
    const who = kind + (kind === "agent" && m.author.id ? " " + agentName(m.author.id) : "");
    const item = el("div", "message", el("div", "who", when(m.created_at) + " · " + who),
      el("div", "text", m.text));
    if (kind === "bot") {
      const why = el("div");
      item.append(button("Why this reply", "small plain", () => loadEvidence(m.id, why)), why);
    }
    return item;
  }

  async function loadEvidence(id, box) {
    try {
      const reply = await api("GET", "/api/v1/messages/" + encodeURIComponent(id) + "/evidence");
      box.replaceChildren(evidenceCard(reply));
    } catch (error) {
      if (error.status === 401) return report(error);
      box.replaceChildren(el("p", "muted", error.message + " (" + error.code + ")"));
    }
  }

  function evidenceCard(reply) {
    const x = reply.evidence || {};
    const cited = (reply.citations || []).map((c) => c.title + " · " + c.url);
    const support = x.support;
    const card = el("div", "decision", el("dl", "",
      ...pair("Outcome", reply.outcome),
      ...pair("Mode", reply.mode),
      ...pair("Citations", cited.length ? list(cited) : "none"),
      ...pair("Model", x.model || "none (no language model used)"),
      ...pair("Prompt version", x.prompt_version || ""),
      ...pair("Tokens", "prompt " + (x.prompt_tokens ?? "–") + ", completion " + (x.completion_tokens ?? "–")),
      ...pair("Latency", millis(x.latency_ms) + " (retrieval " + millis(x.retrieval_ms) +
        ", generation " + millis(x.generation_ms) + ")"),
      ...pair("Grounding", x.grounding ? groundingText(x.grounding) : "not assessed"),
      ...pair("Support check", !support ? "not run" : support.supported ? "supported" : "refused")));
    if (support && support.problems.length) {
      card.append(el("h3", "", "Support problems"), el("ul", "problems",
        ...support.problems.map((p) => el("li", "", p))));
    }
    if (x.llm_error) card.append(el("p", "muted", "Language model error: " + x.llm_error));
    const passages = (x.passages || []).concat(x.history || []);
    if (passages.length) card.append(el("h3", "", "Passages"), evidenceTable(passages));
    return card;
  }

  function groundingText(g) {
    return (g.confident ? "confident" : "not confident") + ": " + g.measure + " " + fixed(g.value) +
      " against " + fixed(g.threshold) + ", " + g.reason;
  }

  function evidenceTable(passages) {
    const body = el("tbody");
    passages.forEach((p, i) => {
      const where = [p.title, ...(p.heading_path || [])].join(" › ");
      body.append(row([i + 1, el("div", "", p.source + ": " + where, el("div", "passage", p.text)),
        fixed(p.score, 4), p.dense_similarity === null ? "" : fixed(p.dense_similarity)],
        ["num", "", "num", "num"]));
    });
    return table(["#", "Passage", "Score", "Dense"], body, [0, 2, 3]);
  }

  // The help centre: articles, a retrieval probe, and the prompts in force.

  function articleTemplate() {
    const today = new Date().toISOString().slice(0, 10);
    return ["---", "id: new-article", "title: New article", "tags: [general]", "language: en",
      "updated: " + today, "---", "", "# New article", "",
      "What the customer needs to know, in a few short paragraphs.", "",
      "## A question customers ask", "", "1. The first step", "2. The next step", ""].join("\n");
  }

  async function loadHelp() {
    try {
      const body = await api("GET", "/api/v1/articles");
      helpArticles = body.articles.sort((a, b) => a.id.localeCompare(b.id));
      $("article-count").textContent = helpArticles.length + " articles · retrieval " + body.retrieval;
      renderArticles();
    } catch (error) {
      report(error);
    }
    loadPromptVersion();
  }

  function renderArticles() {
    const words = $("article-filter").value.trim().toLowerCase();
    const matches = (a) => [a.id, a.title, a.language, ...a.tags].join(" ").toLowerCase().includes(words);
    const shown = helpArticles.filter(matches);
    const body = $("articles");
    body.replaceChildren();
    if (shown.length === 0) emptyRow(body, 6, words ? "No article matches." : "No articles yet.");
    for (const a of shown) {
      body.append(row([el("code", "", a.id), a.title, a.tags.join(", "), a.language, a.updated || "",
        button("Open", "small plain", () => openArticle(a.id))]));
    }
  }

  function editArticle(id, documentText) {
    editingArticle = id;
    $("article-editor").value = documentText;
    $("article-title").textContent = id ? "Article " + id : "New article";
    const link = $("article-link");
    link.replaceChildren();
    if (id) {
      const a = el("a", "", "View the public page");
      a.href = "/help/" + encodeURIComponent(id);
      a.target = "_blank";
      a.rel = "noopener";
      link.append(a);
    }
    $("article-result").replaceChildren();
  }

  async function openArticle(id) {
    try {
      const body = await api("GET", "/api/v1/articles/" + encodeURIComponent(id));
      editArticle(id, body.document);
      $("article-editor").scrollIntoView({ behavior: "smooth" });
    } catch (error) {
      report(error);
    }
  }

  // The id written in the document's front matter, which the API requires to match.
  function frontMatterId(text) {
    const block = /^---\r?\n([\s\S]*?)\r?\n---/.exec(text);
    const line = block && /^id:\s*(\S+)\s*$/m.exec(block[1]);
    return line ? line[1] : null;
  }

  $("article-filter").addEventListener("input", renderArticles);
  $("article-new").addEventListener("click", () => editArticle(null, articleTemplate()));

  $("article-save").addEventListener("click", async () => {
    const documentText = $("article-editor").value;
    const id = frontMatterId(documentText) || editingArticle;
    if (!id) {
      banner("The document needs front matter with an id.", "error");
      return;
    }
    try {
      const saved = await api("PUT", "/api/v1/articles/" + encodeURIComponent(id), { document: documentText });
      editArticle(id, documentText);
      $("article-result").replaceChildren(el("p", "", "Article " + saved.article_id + " " + saved.status +
        ": " + saved.chunks + " passages indexed."));
      loadHelp();
    } catch (error) {
      if (error.status !== 422) return report(error);
      $("article-result").replaceChildren(el("ul", "problems",
        el("li", "", error.message + " (" + error.code + ")")));
    }
  });

  $("article-delete").addEventListener("click", async () => {
    const id = editingArticle;
    if (!id) {
      banner("Open a saved article first.", "error");
      return;
    }
    if (!confirm("Delete article " + id + " and every passage of it?")) return;
    try {
      await api("DELETE", "/api/v1/articles/" + encodeURIComponent(id));
      editArticle(null, "");
      inform("Article " + id + " deleted.");
      loadHelp();
    } catch (error) {
      report(error);
    }
  });

  $("try-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const question = $("try-question").value.trim();
    if (!question) return;
    try {
      renderSearch(await api("POST", "/api/v1/knowledge/search", { question }));
    } catch (error) {
      report(error);
    }
  });

  function renderSearch(result) {
    const g = result.grounding;
    const verdict = el("span", "badge " + (g.confident ? "yes" : "no"),
      g.confident ? "the bot would answer" : "the bot would decline");
    const body = el("tbody");
    if (result.passages.length === 0) emptyRow(body, 4, "Nothing found.");
    result.passages.forEach((p, i) => {
      const lists = (p.contributions || []).map((c) =>
        c.list + " #" + c.rank + " (" + fixed(c.score) + ")").join(", ");
      const where = [p.title, ...(p.heading_path || [])].join(" › ");
      const mark = i === g.best ? " (best)" : "";
      body.append(row([i + 1, el("div", "", where + mark, el("div", "passage", p.text)),
        fixed(p.score, 4), lists], ["num", "", "num"]));
    });
    $("try-result").replaceChildren(
      el("p", "", verdict),
      el("dl", "",
        ...pair("Confident", g.confident ? "yes" : "no"),
        ...pair("Measure", g.measure),
        ...pair("Value", fixed(g.value)),
        ...pair("Threshold", fixed(g.threshold)),
        ...pair("Reason", g.reason),
        ...pair("Retrieval", result.retrieval)),
      table(["#", "Passage", "Score", "Lists (rank, own score)"], body, [0, 2]));
  }

  async function loadPromptVersion() {
    try {
      const p = await api("GET", "/api/v1/prompts");
      $("prompt-version").textContent = "Version " + p.version + " · " +
        (p.llm ? "model " + p.llm : "no language model: replies quote passages") +
        " · languages " + p.languages.join(", ");
    } catch (error) {
      report(error);
    }
  }

  $("prompts-reload").addEventListener("click", async () => {
    try {
      const result = await api("POST", "/api/v1/prompts/reload");
      inform("Prompts reloaded: version " + result.version + " is in force.");
      loadPromptVersion();
    } catch (error) {
      report(error);
    }
  });

  // Intents: the labels and the model in force, the examples supervisors added, and a
  // triage probe. Adding or removing an example retrains the model in the background;
  // the page follows the model's status until the run is over.

  const MODEL_POLL_MS = 2000;

  async function loadIntents() {
    try {
      if (agents.length === 0) await loadAgents();
      const body = await api("GET", "/api/v1/intents");
      intentLabels = body.labels;
      renderModel(body.model);
      renderLabels();
    } catch (error) {
      report(error);
    }
    loadExamples(examplesLabel);
  }

  function renderModel(m) {
    const state = el("span", "badge " + (m.state === "failed" ? "no" : m.state === "idle" ? "yes" : ""),
      m.state + (m.retrain_queued ? ", another run queued" : ""));
    const parts = [
      "Generation " + m.generation,
      "trained " + when(m.trained_at),
      m.shipped_examples + " shipped and " + m.added_examples + " added examples",
      m.labels + " labels",
    ];
    if (typeof m.last_training_ms === "number") parts.push("took " + millis(m.last_training_ms));
    const box = $("intent-model");
    box.replaceChildren(state, " ", parts.join(" · "));
    if (m.last_error) box.append(el("ul", "problems", el("li", "", "Last failed run: " + m.last_error)));
  }

  function renderLabels() {
    const words = $("intent-filter").value.trim().toLowerCase();
    const addedOnly = $("intent-added-only").checked;
    const shown = intentLabels.filter((l) =>
      l.label.includes(words) && (!addedOnly || l.added_examples > 0));
    const body = $("intent-labels");
    body.replaceChildren();
    if (shown.length === 0) emptyRow(body, 5, "No label matches.");
    for (const l of shown) {
      const inModel = el("span", "badge " + (l.in_model ? "yes" : "no"), l.in_model ? "yes" : "not yet");
      const tr = row([el("code", "", l.label), l.shipped_examples, l.added_examples, inModel,
        button("Added examples", "small plain", () => loadExamples(l.label))], ["", "num", "num"]);
      if (l.label === examplesLabel) tr.className = "chosen";
      body.append(tr);
    }
  }

  async function loadExamples(label) {
    examplesLabel = label;
    const query = label ? "?label=" + encodeURIComponent(label) : "";
    try {
      const body = await api("GET", "/api/v1/intents/examples" + query);
      renderExamples(body.examples);
      renderLabels();
      if (label) $("example-label").value = label;
    } catch (error) {
      report(error);
    }
  }

  function renderExamples(examples) {
    const title = $("added-title");
    title.replaceChildren(examplesLabel ? "Added examples of " + examplesLabel : "Added examples");
    if (examplesLabel) title.append(" ", button("Show all", "small plain", () => loadExamples(null)));
    const body = $("intent-examples");
    body.replaceChildren();
    if (examples.length === 0) emptyRow(body, 5, "No examples added yet.");
    for (const e of examples) {
      body.append(row([el("code", "", e.label), e.text, when(e.created_at),
        e.created_by ? agentName(e.created_by) : "command line",
        button("Delete", "small danger", () => deleteExample(e))], ["", "text"]));
    }
  }

  async function deleteExample(example) {
    if (!confirm("Delete this example of " + example.label + "? The model retrains without it.")) return;
    try {
      await api("DELETE", "/api/v1/intents/examples/" + encodeURIComponent(example.id));
      inform("Example deleted; the model is retraining.");
      loadIntents();
      followModel();
    } catch (error) {
      report(error);
    }
  }

  // Polls the model status while a run is going or queued, then reloads the labels.
  async function followModel() {
    clearTimeout(modelTimer);
    if (tab !== "intents" || !window.staff.token()) return;
    try {
      const m = await api("GET", "/api/v1/intents/model");
      renderModel(m);
      if (m.state === "training" || m.retrain_queued) {
        modelTimer = setTimeout(followModel, MODEL_POLL_MS);
      } else {
        loadIntents();
      }
    } catch (error) {
      report(error);
    }
  }

  $("intent-filter").addEventListener("input", renderLabels);
  $("intent-added-only").addEventListener("change", renderLabels);
  $("intents-reload").addEventListener("click", loadIntents);

  $("examples-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const label = $("example-label").value.trim();
    const texts = $("example-texts").value.split("\n").map((t) => t.trim()).filter((t) => t);
    if (texts.length === 0) return;
    const examples = texts.map((text) => ({ label, text }));
    try {
      const result = await api("POST", "/api/v1/intents/examples", { examples });
      $("example-texts").value = "";
      $("examples-result").replaceChildren(el("p", "", result.added + " added, " + result.duplicates +
        " already present. " + (result.retrain_requested ? "The model is retraining." : "Nothing to retrain.")));
      examplesLabel = label;
      loadIntents();
      if (result.retrain_requested) followModel();
    } catch (error) {
      if (error.status !== 422) return report(error);
      // The message names the row as examples[i], counted from 0: say which line it is.
      const at = /^examples\[(\d+)\]/.exec(error.message);
      const where = at ? "Line " + (Number(at[1]) + 1) + ": " : "";
      $("examples-result").replaceChildren(el("ul", "problems",
        el("li", "", where + error.message + " (" + error.code + ")")));
    }
  });

  $("triage-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("triage-text").value.trim();
    if (!text) return;
    try {
      renderTriage(await api("POST", "/api/v1/triage", { text }));
    } catch (error) {
      report(error);
    }
  });

  function percent(value) {
    return typeof value === "number" ? (value * 100).toFixed(1) + " %" : "";
  }

  function weightsTable(weights, empty) {
    const body = el("tbody");
    if (weights.length === 0) emptyRow(body, 2, empty);
    for (const w of weights) body.append(row([el("code", "", w.feature), fixed(w.weight)], ["", "num"]));
    return table(["Term", "Weight"], body, [1]);
  }

  function renderTriage(t) {
    const intent = t.intent;
    const scope = el("span", "badge " + (intent.out_of_scope ? "no" : "yes"),
      intent.out_of_scope ? "out of scope" : "in scope");
    const alternatives = el("tbody");
    if (intent.alternatives.length === 0) emptyRow(alternatives, 2, "None.");
    for (const a of intent.alternatives) {
      alternatives.append(row([el("code", "", a.label), percent(a.confidence)], ["", "num"]));
    }
    const reasons = t.urgency.reasons.length ? list(t.urgency.reasons) : el("span", "muted", "no reason raised it");
    $("triage-result").replaceChildren(
      el("p", "", el("code", "", intent.label), " ", percent(intent.confidence), " ", scope),
      el("dl", "",
        ...pair("Sentiment", t.sentiment.label + " (" + fixed(t.sentiment.score, 2) + ")"),
        ...pair("Urgency", el("div", "", t.urgency.level, reasons)),
        ...pair("Language", t.language.code + " (" + percent(t.language.confidence) + ")"),
        ...pair("Model", t.model_version)),
      el("h3", "", "Alternatives"),
      table(["Label", "Confidence"], alternatives, [1]),
      el("h3", "", "Terms behind the intent"),
      weightsTable(t.explanation.top_features, "No term stood out."),
      el("h3", "", "Sentiment terms"),
      weightsTable(t.explanation.sentiment_terms, "No sentiment term fired."));
  }

  // Audit log, oldest first, a page at a time.

  async function loadAudit(fromStart) {
    if (fromStart) auditAfter = 0;
    try {
      if (agents.length === 0) await loadAgents();
      const body = await api("GET", "/api/v1/audit?after=" + auditAfter + "&limit=" + AUDIT_PAGE);
      const rows = $("audit");
      if (fromStart) rows.replaceChildren();
      if (fromStart && body.entries.length === 0) emptyRow(rows, 6, "Nothing audited yet.");
      for (const entry of body.entries) {
        rows.append(row([entry.id, when(entry.created_at),
          entry.actor_kind + (entry.actor_id ? " " + agentName(entry.actor_id) : ""), entry.action,
          entry.subject_kind + (entry.subject_id ? " " + shortId(entry.subject_id) : ""),
          el("code", "", JSON.stringify(entry.detail))], ["num"]));
        auditAfter = entry.id;
      }
      $("audit-more").hidden = body.entries.length < AUDIT_PAGE;
    } catch (error) {
      report(error);
    }
  }

  $("audit-reload").addEventListener("click", () => loadAudit(true));
  $("audit-more").addEventListener("click", () => loadAudit(false));

  // Wiring.

  for (const b of document.querySelectorAll("#tabs button")) {
    b.addEventListener("click", () => show(b.dataset.tab));
  }

  window.staff.wireSignIn("An API token starts with fda_.", signIn);
  $("sign-out").addEventListener("click", () => signOut(""));

  if (window.staff.token()) signIn();
  else showLogin("");
})();
