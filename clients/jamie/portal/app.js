// Jamie's portal: sign-in, conversations, and one streamed answer per question.
// Plain ES module, no build step. Model text and tool results are only ever set with
// textContent / text nodes: they come from a model and from the cluster, never trust them as HTML.

const STATUS_EVERY_MS = 15000;
const PREVIEW_CHARS = 400;
const TITLE_CHARS = 60;

const $ = (selector) => document.querySelector(selector);

const state = {
  me: null,
  conversationId: null,
  turn: null, // the running Turn, if a question is being answered
  statusTimer: null,
};

// ---------------------------------------------------------------------------------------------
// HTTP

class ApiError extends Error {
  constructor(status, detail, retryAfter) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

// Every call is same-origin with the session cookie; every mutating call says JSON, even without
// a body, because the API refuses them otherwise (a cross-site form cannot send that header).
async function request(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") init.headers["Content-Type"] = "application/json";
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `Jamie cannot be reached (${error.message}). Check your connection.`);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

async function requestJson(method, path, body) {
  const response = await request(method, path, body);
  return response.status === 204 ? null : response.json();
}

// The API answers errors as {"detail": "..."}; validation errors carry a list instead.
async function errorOf(response) {
  let detail = "";
  try {
    const data = await response.json();
    detail = describeDetail(data.detail);
  } catch {
    detail = "";
  }
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return new ApiError(
    response.status,
    detail || `${response.status} ${response.statusText || "error"}`,
    Number.isFinite(retryAfter) ? retryAfter : null,
  );
}

function describeDetail(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => [(item.loc || []).slice(1).join("."), item.msg].filter(Boolean).join(": "))
      .join("; ");
  }
  return detail ? JSON.stringify(detail) : "";
}

// A message a person can act on: rate limits say when to retry, the rest is the API's own words.
function explain(error) {
  if (error.status === 429) {
    const wait = error.retryAfter !== null ? `retry in ${error.retryAfter} s` : "retry later";
    return `Too many attempts, ${wait}.`;
  }
  return error.detail || String(error);
}

// ---------------------------------------------------------------------------------------------
// Signing in and out

async function start() {
  wireEvents();
  refreshStatus();
  state.statusTimer = setInterval(refreshStatus, STATUS_EVERY_MS);
  try {
    // An authenticating proxy may already have signed the person in: /api/me decides.
    showApp(await requestJson("GET", "/api/me"));
  } catch (error) {
    showSignIn(error.status === 401 ? "" : explain(error));
  }
}

function showSignIn(message) {
  state.me = null;
  stopTurn();
  $("#app-view").hidden = true;
  $("#account").hidden = true;
  $("#sign-in-view").hidden = false;
  setError($("#login-error"), message);
  $("#password").value = "";
  $(message || !$("#username").value ? "#username" : "#password").focus();
}

function showApp(me) {
  state.me = me;
  $("#who").textContent = me.display_name || me.user;
  $("#who").title = me.roles && me.roles.length ? `Roles: ${me.roles.join(", ")}` : "";
  $("#sign-in-view").hidden = true;
  $("#account").hidden = false;
  $("#app-view").hidden = false;
  startNewConversation();
  loadConversations();
  refreshStatus();
}

async function signIn(event) {
  event.preventDefault();
  const username = $("#username").value.trim();
  const password = $("#password").value;
  if (!username || !password) {
    setError($("#login-error"), "Enter your user name and password.");
    return;
  }
  const button = $("#login-submit");
  button.disabled = true;
  setError($("#login-error"), "");
  try {
    showApp(await requestJson("POST", "/api/session", { username, password }));
  } catch (error) {
    setError($("#login-error"), explain(error));
    $("#password").select();
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await request("DELETE", "/api/session");
  } catch (error) {
    // Signed out anyway as far as this page goes; the session expires on its own.
    console.warn("sign-out failed", error);
  }
  showSignIn("");
}

// A 401 in the middle of work means the session expired: ask to sign in again.
function handleApiError(error, target) {
  if (error.status === 401 && state.me) {
    showSignIn("Your session has ended. Sign in again.");
    return;
  }
  setError(target, explain(error));
}

// ---------------------------------------------------------------------------------------------
// Status bar

async function refreshStatus() {
  const model = $("#status-model");
  try {
    const status = await requestJson("GET", "/api/status");
    renderModelStatus(model, status.model || {});
    renderServers(status.servers || []);
  } catch (error) {
    if (error.status === 401) {
      setStatus(model, "unknown", "Model: sign in to see the status");
    } else {
      setStatus(model, "down", `Jamie: ${explain(error)}`);
    }
    $("#status-servers").replaceChildren();
  }
}

function renderModelStatus(element, model) {
  const name = model.name || "model";
  const text = model.up
    ? `Model ${name}: up`
    : `Model ${name}: down — ${model.detail || "no answer"}`;
  setStatus(element, model.up ? "up" : "down", text);
  element.title = model.host ? `${name} at ${model.host}` : "";
}

function renderServers(servers) {
  const items = servers.map((server) => {
    const item = document.createElement("li");
    const count = Array.isArray(server.tools) ? server.tools.length : server.tools;
    const tools = Number.isFinite(count) ? ` · ${count} tool${count === 1 ? "" : "s"}` : "";
    const text = server.up
      ? `${server.name}: up${tools}`
      : `${server.name}: down — ${server.reason || "not reachable"}`;
    setStatus(item, server.up ? "up" : "down", text);
    item.dataset.server = server.name;
    return item;
  });
  $("#status-servers").replaceChildren(...items);
}

function setStatus(element, up, text) {
  element.dataset.up = up;
  element.textContent = text;
}

// ---------------------------------------------------------------------------------------------
// Conversations

async function loadConversations() {
  const errorTarget = $("#conversations-error");
  try {
    const conversations = await requestJson("GET", "/api/conversations");
    setError(errorTarget, "");
    renderConversations(conversations);
  } catch (error) {
    handleApiError(error, errorTarget);
  }
}

function renderConversations(conversations) {
  const list = $("#conversation-list");
  if (!conversations.length) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "No conversations yet.";
    list.replaceChildren(empty);
    return;
  }
  list.replaceChildren(...conversations.map(conversationItem));
}

function conversationItem(conversation) {
  const item = document.createElement("li");
  item.className = "conversation";
  item.dataset.id = conversation.id;
  const title = conversation.title || "Untitled";

  const open = button(title, "conversation-open", () => openConversation(conversation.id));
  if (conversation.id === state.conversationId) open.setAttribute("aria-current", "true");
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = `${conversation.message_count ?? 0} messages · ${when(conversation.updated_at)}`;
  open.append(meta);

  const rename = button("Rename", "rename-conversation button-quiet", () =>
    renameConversation(conversation),
  );
  rename.setAttribute("aria-label", `Rename “${title}”`);
  const remove = button("Delete", "delete-conversation button-quiet", () =>
    deleteConversation(conversation),
  );
  remove.setAttribute("aria-label", `Delete “${title}”`);

  item.append(open, rename, remove);
  return item;
}

function startNewConversation() {
  if (!leaveRunningTurn()) return;
  state.conversationId = null;
  $("#conversation-title").textContent = "New conversation";
  $("#messages").replaceChildren();
  markCurrent();
}

async function openConversation(id) {
  if (id === state.conversationId && !state.turn) return;
  if (!leaveRunningTurn()) return;
  const errorTarget = $("#conversations-error");
  try {
    const data = await requestJson("GET", `/api/conversations/${encodeURIComponent(id)}`);
    state.conversationId = data.conversation.id;
    $("#conversation-title").textContent = data.conversation.title || "Untitled";
    $("#messages").replaceChildren(...data.messages.map(storedMessage));
    setError(errorTarget, "");
    markCurrent();
    collapseConversationsOnPhone();
    scrollToEnd(true);
    $("#composer").focus();
  } catch (error) {
    handleApiError(error, errorTarget);
    if (error.status === 404) loadConversations();
  }
}

function storedMessage(message) {
  if (message.role === "user") return userBubble(message.content);
  const bubble = assistantBubble();
  textSegment(bubble).textContent = message.content;
  return bubble;
}

async function renameConversation(conversation) {
  const title = window.prompt("New name for this conversation:", conversation.title || "");
  if (title === null || !title.trim()) return;
  try {
    const path = `/api/conversations/${encodeURIComponent(conversation.id)}`;
    const renamed = await requestJson("PATCH", path, { title: title.trim() });
    if (renamed.id === state.conversationId) {
      $("#conversation-title").textContent = renamed.title;
    }
    loadConversations();
  } catch (error) {
    handleApiError(error, $("#conversations-error"));
  }
}

async function deleteConversation(conversation) {
  const title = conversation.title || "Untitled";
  if (!window.confirm(`Delete “${title}” and all its messages?`)) return;
  try {
    await request("DELETE", `/api/conversations/${encodeURIComponent(conversation.id)}`);
    if (conversation.id === state.conversationId) {
      stopTurn();
      startNewConversation();
    }
    loadConversations();
  } catch (error) {
    handleApiError(error, $("#conversations-error"));
  }
}

function markCurrent() {
  for (const open of document.querySelectorAll("#conversation-list .conversation-open")) {
    const current = open.parentElement.dataset.id === state.conversationId;
    if (current) open.setAttribute("aria-current", "true");
    else open.removeAttribute("aria-current");
  }
}

// Leaving a conversation while its answer streams closes the stream, which also refuses a
// write still waiting for confirmation; so ask first.
function leaveRunningTurn() {
  if (!state.turn) return true;
  if (!window.confirm("A question is still being answered. Stop it and leave?")) return false;
  stopTurn();
  return true;
}

function toggleConversations() {
  const sidebar = $(".sidebar");
  const collapsed = sidebar.classList.toggle("collapsed");
  $("#toggle-conversations").setAttribute("aria-expanded", String(!collapsed));
}

function collapseConversationsOnPhone() {
  $(".sidebar").classList.add("collapsed");
  $("#toggle-conversations").setAttribute("aria-expanded", "false");
}

// ---------------------------------------------------------------------------------------------
// Asking a question

async function ask(event) {
  event.preventDefault();
  const composer = $("#composer");
  const content = composer.value.trim();
  if (!content || state.turn) return;

  const turn = new Turn();
  state.turn = turn;
  setBusy(true);
  composer.value = "";
  $("#messages").append(userBubble(content), turn.bubble);
  scrollToEnd(true);
  try {
    if (!state.conversationId) await createConversation(content);
    const path = `/api/conversations/${encodeURIComponent(state.conversationId)}/messages`;
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ content }),
      signal: turn.abort.signal,
    });
    if (!response.ok) throw await errorOf(response);
    for await (const { kind, data } of readEvents(response)) turn.handle(kind, data);
    turn.streamEnded();
  } catch (error) {
    if (error.name === "AbortError") turn.inline("notice", "Stopped.");
    else if (error.status === 401) return handleApiError(error, null);
    else turn.inline("error", explain(error));
  } finally {
    if (state.turn === turn) finishTurn();
  }
}

async function createConversation(question) {
  const title = question.length > TITLE_CHARS ? `${question.slice(0, TITLE_CHARS - 1)}…` : question;
  const conversation = await requestJson("POST", "/api/conversations", { title });
  state.conversationId = conversation.id;
  $("#conversation-title").textContent = conversation.title || title;
  loadConversations();
}

function finishTurn() {
  state.turn = null;
  setBusy(false);
  $("#composer").focus();
}

function stopTurn() {
  if (!state.turn) return;
  state.turn.abort.abort();
  state.turn = null;
  setBusy(false);
}

// Stop closes the answer's stream: Jamie then cancels the turn, and a write still waiting for
// confirmation is refused.
function setBusy(busy) {
  $("#stop").hidden = !busy;
  $("#send").disabled = busy;
  $("#composer").setAttribute("aria-busy", String(busy));
  $("#send").textContent = busy ? "Answering…" : "Send";
}

// Server-sent events over a POST: EventSource can only GET, so read the body ourselves.
// Events are blocks separated by a blank line; `data:` lines of a block are joined by "\n".
async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    buffer = buffer.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) yield event;
    }
    if (done) break;
  }
  const last = parseEvent(buffer);
  if (last) yield last;
}

function parseEvent(block) {
  let kind = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // blank, or a keep-alive comment
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") kind = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  try {
    return { kind, data: JSON.parse(data.join("\n")) };
  } catch {
    return { kind, data: { text: data.join("\n") } };
  }
}

// One question's answer: its assistant bubble holds the streamed text, a card per tool call,
// and notices, in the order they happened.
class Turn {
  constructor() {
    this.abort = new AbortController();
    this.bubble = assistantBubble();
    this.bubble.setAttribute("aria-busy", "true");
    this.text = null; // the text segment the next `text` event appends to
    this.textStep = null;
    this.cards = new Map(); // "step:index" -> ToolCard
    this.waiting = null; // the card whose call runs now (a confirm belongs to it)
    this.finished = false;
  }

  handle(kind, data) {
    const handler = {
      turn: () => this.started(data),
      step_started: () => {},
      text: () => this.appendText(data),
      tool_call_started: () => this.toolStarted(data),
      confirm: () => this.confirm(data),
      confirmed: () => this.confirmed(data),
      tool_call_finished: () => this.toolFinished(data),
      budget: () => this.inline("budget", data.message),
      notice: () => this.inline("notice", data.message),
      final: () => this.final(data),
      error: () => this.inline("error", data.detail || "The question could not be answered."),
      done: () => loadConversations(),
    }[kind];
    if (handler) handler();
    scrollToEnd();
  }

  started(data) {
    this.bubble.dataset.turnId = data.turn_id;
    if (data.conversation_id && !state.conversationId) state.conversationId = data.conversation_id;
  }

  appendText(data) {
    // A new step or a tool card in between starts a new paragraph of the answer.
    if (!this.text || this.textStep !== data.step) {
      this.text = textSegment(this.bubble);
      this.textStep = data.step;
    }
    this.text.append(data.text);
  }

  toolStarted(data) {
    const card = new ToolCard(data.tool, data.arguments);
    this.cards.set(`${data.step}:${data.index}`, card);
    this.waiting = card;
    this.bubble.append(card.element);
    this.text = null;
  }

  // Calls run one at a time, and a confirm comes after its call started and before it ends.
  confirm(data) {
    let card = this.waiting;
    if (!card) {
      card = new ToolCard(data.tool, data.arguments);
      this.bubble.append(card.element);
      this.waiting = card;
    }
    card.askToConfirm(data.id);
  }

  confirmed(data) {
    const card = this.bubble.querySelector(`.tool-card[data-confirm-id="${CSS.escape(data.id)}"]`);
    if (card) card.toolCard.showDecision(data.approved, data.by);
  }

  toolFinished(data) {
    const key = `${data.step}:${data.index}`;
    let card = this.cards.get(key);
    if (!card) {
      card = new ToolCard(data.tool, data.arguments);
      this.bubble.append(card.element);
      this.cards.set(key, card);
    }
    card.finish(data);
    if (this.waiting === card) this.waiting = null;
    this.text = null;
  }

  final(data) {
    // The final text is usually what the last step streamed; show it when it was not.
    const segments = this.bubble.querySelectorAll(".assistant-text");
    const shown = segments.length ? segments[segments.length - 1].textContent.trim() : "";
    if (data.text && data.text.trim() !== shown) textSegment(this.bubble).textContent = data.text;
    const facts = [
      `${data.steps} step${data.steps === 1 ? "" : "s"}`,
      `${data.tool_calls} tool call${data.tool_calls === 1 ? "" : "s"}`,
      seconds(data.seconds),
    ];
    if (data.stop_reason && data.stop_reason !== "answer") facts.push(`stopped: ${data.stop_reason}`);
    const footer = document.createElement("p");
    footer.className = "turn-facts";
    footer.textContent = facts.join(" · ");
    this.bubble.append(footer);
    this.end();
    finishTurn();
  }

  inline(kind, message) {
    const line = document.createElement("p");
    line.className = `inline-${kind}`;
    if (kind === "error") line.setAttribute("role", "alert");
    const label = { budget: "Budget", notice: "Note", error: "Error" }[kind];
    const strong = document.createElement("strong");
    strong.textContent = `${label}: `;
    line.append(strong, message || "");
    this.bubble.append(line);
    this.text = null;
  }

  streamEnded() {
    if (!this.finished && !this.bubble.querySelector(".inline-error")) {
      this.inline("error", "The answer stopped before it was finished.");
    }
    this.end();
  }

  end() {
    this.finished = true;
    this.bubble.removeAttribute("aria-busy");
    for (const card of this.cards.values()) card.endIfOpen();
  }
}

// A collapsible card for one tool call: created when it starts, filled in when it finishes.
class ToolCard {
  constructor(tool, args) {
    const element = document.createElement("details");
    element.className = "tool-card";
    element.dataset.tool = tool;
    element.dataset.state = "running";
    element.toolCard = this;
    this.element = element;

    const summary = document.createElement("summary");
    this.name = span("tool-name", tool);
    this.state = span("tool-state", "running…");
    summary.append(this.name, " ", this.state);

    const argsLabel = span("tool-label", "Arguments");
    const argsBody = document.createElement("pre");
    argsBody.className = "tool-arguments";
    argsBody.textContent = JSON.stringify(args ?? {}, null, 2);

    this.body = document.createElement("div");
    this.body.className = "tool-body";
    this.body.append(argsLabel, argsBody);
    element.append(summary, this.body);
  }

  askToConfirm(id) {
    this.element.dataset.confirmId = id;
    this.element.dataset.state = "confirm";
    this.element.open = true; // a pending write must never hide in a collapsed card
    this.state.textContent = "waiting for your confirmation";

    const prompt = document.createElement("div");
    prompt.className = "confirm-prompt";
    prompt.setAttribute("role", "group");
    prompt.setAttribute("aria-label", "Confirm this change");
    const warning = document.createElement("p");
    warning.className = "confirm-warning";
    warning.textContent = "This will change the cluster. Run it?";
    this.confirmButton = button("Confirm", "confirm-button", () => this.decide(id, true));
    this.cancelButton = button("Cancel", "cancel-button", () => this.decide(id, false));
    this.decision = document.createElement("p");
    this.decision.className = "confirm-decision";
    this.decision.setAttribute("role", "status");
    prompt.append(warning, this.confirmButton, " ", this.cancelButton, this.decision);
    this.body.append(prompt);
    this.confirmButton.focus({ preventScroll: true });
  }

  async decide(id, approve) {
    this.confirmButton.disabled = true;
    this.cancelButton.disabled = true;
    this.decision.textContent = approve ? "Confirming…" : "Cancelling…";
    try {
      const path = `/api/confirmations/${encodeURIComponent(id)}`;
      const answer = await requestJson("POST", path, { approve });
      this.showDecision(answer.approved, state.me ? state.me.user : "");
    } catch (error) {
      this.decision.textContent = explain(error);
      this.decision.classList.add("error");
    }
  }

  showDecision(approved, by) {
    if (!this.confirmButton) return;
    this.confirmButton.disabled = true;
    this.cancelButton.disabled = true;
    this.decision.classList.remove("error");
    const who = by ? ` by ${by}` : "";
    this.decision.textContent = approved ? `Confirmed${who}.` : `Cancelled${who}: not run.`;
    // The POST's answer may arrive after the call already finished: keep the final state.
    if (this.element.dataset.state === "finished") return;
    this.element.dataset.state = approved ? "running" : "refused";
    this.state.textContent = approved ? "running…" : "cancelled";
  }

  finish(data) {
    const outcome = data.outcome || "ok";
    this.element.dataset.state = "finished";
    this.element.dataset.outcome = outcome;
    this.state.textContent = `${outcome} · ${seconds(data.seconds)}`;
    if (this.confirmButton) {
      this.confirmButton.disabled = true;
      this.cancelButton.disabled = true;
    }

    const text = data.text || "";
    const preview = text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
    const result = document.createElement("pre");
    result.className = "tool-result";
    result.textContent = preview || "(no output)";

    const facts = [`Outcome: ${outcome}`, `Duration: ${seconds(data.seconds)}`];
    if (data.approved_by) facts.push(`approved by ${data.approved_by}`);
    if (data.cut) facts.push("the result was shortened for the model");
    const outcomeLine = document.createElement("p");
    outcomeLine.className = "tool-outcome";
    outcomeLine.textContent = facts.join(" · ");

    this.body.append(span("tool-label", "Result"), result, outcomeLine);
  }

  // The stream ended with this call never finished (error or stop): say so, don't spin.
  endIfOpen() {
    if (this.element.dataset.state === "finished") return;
    this.element.dataset.state = "finished";
    this.state.textContent = "did not finish";
    if (this.confirmButton) {
      this.confirmButton.disabled = true;
      this.cancelButton.disabled = true;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Small DOM helpers

function userBubble(content) {
  const bubble = document.createElement("div");
  bubble.className = "message user-message";
  const text = document.createElement("div");
  text.className = "message-text";
  text.textContent = content;
  bubble.append(visuallyHidden("You said: "), text);
  return bubble;
}

function assistantBubble() {
  const bubble = document.createElement("div");
  bubble.className = "message assistant-message";
  bubble.append(visuallyHidden("Jamie: "));
  return bubble;
}

function textSegment(bubble) {
  const segment = document.createElement("div");
  segment.className = "assistant-text";
  bubble.append(segment);
  return segment;
}

function button(label, className, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = label;
  element.addEventListener("click", onClick);
  return element;
}

function span(className, text) {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

function visuallyHidden(text) {
  return span("visually-hidden", text);
}

function setError(element, message) {
  if (!element) return;
  element.textContent = message || "";
  element.hidden = !message;
}

function seconds(value) {
  return Number.isFinite(value) ? `${value.toFixed(value < 10 ? 2 : 1)} s` : "? s";
}

function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleDateString();
}

// Follow the answer as it grows, unless the person scrolled up to read.
function scrollToEnd(force = false) {
  const messages = $("#messages");
  const nearEnd = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 160;
  if (force || nearEnd) messages.scrollTop = messages.scrollHeight;
}

function wireEvents() {
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  $("#stop").addEventListener("click", stopTurn);
  $("#new-conversation").addEventListener("click", () => {
    startNewConversation();
    collapseConversationsOnPhone();
    $("#composer").focus();
  });
  $("#toggle-conversations").addEventListener("click", toggleConversations);
  $("#composer-form").addEventListener("submit", ask);
  $("#composer").addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter is a new line; never send half of an IME composition.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("#composer-form").requestSubmit();
    }
  });
  $(".sidebar").classList.add("collapsed");
}

start();
