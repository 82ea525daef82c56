// Jamie's portal: sign-in, conversations, and one streamed answer per question.
// Plain ES module, no build step. Tool results and raw model text are only ever set with
// textContent / text nodes: they come from a model and from the cluster, never trust them as HTML.
// The one exception is `html` that Jamie's server rendered from markdown and sanitized with an
// allow-list (see markdown.py); the page's CSP forbids inline scripts besides.

import { ScarletConsole } from "/scarlet.js";

const STATUS_EVERY_MS = 15000;
const PREVIEW_CHARS = 400;
const TITLE_CHARS = 60;
const QUESTION_CHARS = 8000; // the API's limit for one question
const SEARCH_DELAY_MS = 250;
const CONVERSATION_PATH = /^\/c\/([^/]+)$/;

const $ = (selector) => document.querySelector(selector);

const state = {
  me: null,
  conversationId: null,
  turn: null, // the running Turn, if a question is being answered
  statusTimer: null,
  searchTimer: null,
  goPressedAt: 0, // "g" then a letter jumps to a page
};

// Scarlet's runs and approvals share the page's toolkit, and its care with untrusted text.
const scarlet = new ScarletConsole({
  requestJson,
  errorOf,
  explain,
  handleApiError,
  askInPage,
  readEvents,
  timeElement,
  button,
  span,
  setError,
  navigate,
});

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
  scarlet.forget();
  $("#app-view").hidden = true;
  $("#scarlet-view").hidden = true;
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
  // The list first: a conversation the address names may then report it is not there.
  Promise.all([loadConversations(), scarlet.connect()]).then(route);
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
    scarlet.countWaiting();
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
  const search = $("#search").value.trim();
  const path = search ? `/api/conversations?q=${encodeURIComponent(search)}` : "/api/conversations";
  try {
    const conversations = await requestJson("GET", path);
    setError(errorTarget, "");
    renderConversations(conversations, search);
  } catch (error) {
    handleApiError(error, errorTarget);
  }
}

function renderConversations(conversations, search) {
  const list = $("#conversation-list");
  if (!conversations.length) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = search ? `Nothing matches “${search}”.` : "No conversations yet.";
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

// The address says which conversation is open (/c/<id>), so reload, back/forward and a shared
// link all land on it. `how` is "push" (a new place in the history), "replace" or "none".
function setAddress(id, how) {
  const path = id ? `/c/${encodeURIComponent(id)}` : "/";
  if (how === "none" || location.pathname === path) return;
  if (how === "push") history.pushState({ id }, "", path);
  else history.replaceState({ id }, "", path);
}

function addressedConversation() {
  const match = CONVERSATION_PATH.exec(location.pathname);
  return match ? decodeURIComponent(match[1]) : null;
}

// The address decides the page: Scarlet's (/scarlet/...), else the chat.
async function route() {
  if (ScarletConsole.handles(location.pathname)) {
    showPage("scarlet");
    await scarlet.show(location.pathname);
    return;
  }
  scarlet.leave();
  showPage("chat");
  const id = addressedConversation();
  if (id) await openConversation(id, "none");
  else await startNewConversation("none");
}

function showPage(page) {
  $("#app-view").hidden = page !== "chat";
  $("#scarlet-view").hidden = page !== "scarlet";
  if (page === "chat") document.title = "Jamie";
  const path = location.pathname;
  let current = "runs";
  if (page === "chat") current = "chat";
  else if (path.startsWith("/scarlet/approvals")) current = "approvals";
  for (const link of document.querySelectorAll("#console-nav a")) {
    if (link.dataset.nav === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// A page of the console without reloading it: the address changes, back/forward work.
async function navigate(path) {
  if (location.pathname !== path) history.pushState({}, "", path);
  await route();
  if (!$("#scarlet-view").hidden) $("#scarlet-title").focus({ preventScroll: true });
}

function onNavigate(event) {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  navigate(link.dataset.nav === "chat" ? chatAddress() : link.getAttribute("href"));
}

// Back to the chat lands on the conversation that was open.
function chatAddress() {
  return state.conversationId ? `/c/${encodeURIComponent(state.conversationId)}` : "/";
}

async function onHistory() {
  if (!state.me) return;
  if (ScarletConsole.handles(location.pathname)) {
    await route();
    return;
  }
  const id = addressedConversation();
  if (id === state.conversationId) {
    if ($("#app-view").hidden) await route();
    return;
  }
  if (!(await leaveRunningTurn())) {
    setAddress(state.conversationId, "push"); // stay: put the address back
    return;
  }
  await route();
}

async function startNewConversation(how = "push") {
  if (!(await leaveRunningTurn())) return;
  state.conversationId = null;
  $("#conversation-title").textContent = "New conversation";
  $("#messages").replaceChildren();
  showExport(null);
  setAddress(null, how);
  markCurrent();
}

async function openConversation(id, how = "push") {
  if (id === state.conversationId && !state.turn && $("#messages").childElementCount) return;
  if (!(await leaveRunningTurn())) return;
  const errorTarget = $("#conversations-error");
  try {
    const data = await requestJson("GET", `/api/conversations/${encodeURIComponent(id)}`);
    state.conversationId = data.conversation.id;
    $("#conversation-title").textContent = data.conversation.title || "Untitled";
    $("#messages").replaceChildren(...data.messages.map(storedMessage));
    setError(errorTarget, "");
    showExport(state.conversationId);
    setAddress(state.conversationId, how);
    markCurrent();
    collapseConversationsOnPhone();
    scrollToEnd(true);
    $("#composer").focus();
  } catch (error) {
    if (error.status === 404) {
      await loadConversations();
      if (addressedConversation() === id) await startNewConversation("replace");
    }
    handleApiError(error, errorTarget);
  }
}

function showExport(id) {
  $("#export").hidden = !id;
  if (!id) return;
  const base = `/api/conversations/${encodeURIComponent(id)}/export`;
  $("#export-markdown").href = `${base}?format=markdown`;
  $("#export-json").href = `${base}?format=json`;
}

// A stored answer is replayed step by step through the same code that showed it live, so it
// looks as it did: text, tool cards, confirmations (who and when), memory hits.
function storedMessage(message) {
  if (message.role === "user") return userBubble(message.content, message.created_at);
  const turn = new Turn({ replay: true, at: message.created_at });
  if (message.steps && message.steps.length) {
    for (const step of message.steps) turn.handle(step.kind, step);
  } else {
    turn.rendered(textSegment(turn.bubble), message.content, message.html);
  }
  turn.end();
  return turn.bubble;
}

async function renameConversation(conversation) {
  const title = await askInPage({
    title: "Rename conversation",
    message: `A new name for “${conversation.title || "Untitled"}”.`,
    input: conversation.title || "",
    ok: "Rename",
  });
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
  const sure = await askInPage({
    title: "Delete conversation",
    message: `Delete “${title}” and all its messages? This cannot be undone.`,
    ok: "Delete",
    danger: true,
  });
  if (!sure) return;
  try {
    await request("DELETE", `/api/conversations/${encodeURIComponent(conversation.id)}`);
    if (conversation.id === state.conversationId) {
      stopTurn();
      await startNewConversation("replace");
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
async function leaveRunningTurn() {
  if (!state.turn) return true;
  const leave = await askInPage({
    title: "Stop the answer?",
    message: "A question is still being answered. Stop it and leave? A change waiting for your confirmation will not run.",
    ok: "Stop and leave",
    danger: true,
  });
  if (!leave) return false;
  stopTurn();
  return true;
}

// In-page dialogs instead of prompt()/confirm(): styled, readable by screen readers, and they
// do not block the page. Resolves to the input's text (or true) when accepted, null otherwise.
function askInPage({ title, message, input = null, ok = "OK", danger = false }) {
  const dialog = $("#dialog");
  const field = $("#dialog-input");
  $("#dialog-title").textContent = title;
  $("#dialog-message").textContent = message;
  $("#dialog-label").textContent = title;
  $("#dialog-ok").textContent = ok;
  $("#dialog-ok").classList.toggle("danger", danger);
  field.hidden = input === null;
  field.value = input ?? "";
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        if (dialog.returnValue !== "ok") resolve(null);
        else resolve(input === null ? true : field.value);
      },
      { once: true },
    );
    dialog.showModal();
    if (input !== null) field.select();
    else $(danger ? "#dialog-cancel" : "#dialog-ok").focus();
  });
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
  if (!content || state.turn || content.length > QUESTION_CHARS) return;

  const turn = new Turn();
  state.turn = turn;
  setBusy(true);
  composer.value = "";
  countComposer();
  $("#messages").append(userBubble(content, new Date().toISOString()), turn.bubble);
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
  showExport(conversation.id);
  setAddress(conversation.id, "replace");
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
  $("#send").disabled = busy || $("#composer").value.trim().length > QUESTION_CHARS;
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
// memory hits and notices, in the order they happened. With `replay`, a stored answer is shown
// the same way, with nothing left to decide.
class Turn {
  constructor({ replay = false, at = null } = {}) {
    this.replay = replay;
    this.abort = new AbortController();
    this.bubble = assistantBubble(at || new Date().toISOString());
    if (!replay) this.bubble.setAttribute("aria-busy", "true");
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
      recall: () => this.recalled(data),
      text: () => this.appendText(data),
      markdown: () => this.text && this.rendered(this.text, this.text.markdown, data.html),
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
    if (!this.replay) scrollToEnd();
  }

  started(data) {
    this.bubble.dataset.turnId = data.turn_id;
    if (data.conversation_id && !state.conversationId) state.conversationId = data.conversation_id;
  }

  // Past exchanges Jamie found in the person's memory and gave the model: shown, not hidden.
  recalled(data) {
    const hits = data.hits || [];
    if (!hits.length && !data.notice) return;
    const box = document.createElement("details");
    box.className = "recall";
    const summary = document.createElement("summary");
    summary.textContent = hits.length
      ? `From memory: ${hits.length} earlier exchange${hits.length === 1 ? "" : "s"}`
      : "From memory: nothing used";
    box.append(summary);
    const list = document.createElement("ul");
    for (const hit of hits) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/c/${encodeURIComponent(hit.conversation_id)}`;
      link.textContent = hit.question;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        openConversation(hit.conversation_id);
      });
      const facts = [`score ${hit.score}`];
      if (hit.matched && hit.matched.length) facts.push(`matched ${hit.matched.join(", ")}`);
      item.append(link, span("meta", ` · ${facts.join(" · ")}`));
      list.append(item);
    }
    if (data.notice) box.append(span("meta", data.notice));
    box.append(list);
    this.bubble.append(box);
  }

  appendText(data) {
    // A new step or a tool card in between starts a new paragraph of the answer.
    if (!this.text || this.textStep !== data.step) {
      this.text = textSegment(this.bubble);
      this.textStep = data.step;
    }
    this.text.markdown += data.text;
    if (data.html !== undefined) this.rendered(this.text, this.text.markdown, data.html);
    else this.text.append(data.text); // raw until the server's rendering of it arrives
  }

  // `html` is the server's sanitized rendering of `markdown`; kept beside it for comparisons.
  rendered(segment, markdown, html) {
    segment.markdown = markdown;
    segment.classList.add("markdown");
    segment.innerHTML = html;
    decorateCode(segment);
  }

  toolStarted(data) {
    const card = new ToolCard(data.tool, data.arguments, this.replay);
    this.cards.set(`${data.step}:${data.index}`, card);
    this.waiting = card;
    this.bubble.append(card.element);
    this.text = null;
  }

  // Calls run one at a time, and a confirm comes after its call started and before it ends.
  confirm(data) {
    let card = this.waiting;
    if (!card) {
      card = new ToolCard(data.tool, data.arguments, this.replay);
      this.bubble.append(card.element);
      this.waiting = card;
    }
    card.askToConfirm(data.id);
  }

  confirmed(data) {
    const card = this.bubble.querySelector(`.tool-card[data-confirm-id="${CSS.escape(data.id)}"]`);
    if (card) card.toolCard.showDecision(data.approved, data.by, data.at);
  }

  toolFinished(data) {
    const key = `${data.step}:${data.index}`;
    let card = this.cards.get(key);
    if (!card) {
      card = new ToolCard(data.tool, data.arguments, this.replay);
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
    const last = segments.length ? segments[segments.length - 1] : null;
    const shown = last ? (last.markdown || "").trim() : "";
    if (data.text && data.text.trim() !== shown) {
      this.rendered(textSegment(this.bubble), data.text, data.html);
    }
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
    if (!this.replay) finishTurn();
  }

  inline(kind, message) {
    const line = document.createElement("p");
    line.className = `inline-${kind}`;
    if (kind === "error" && !this.replay) line.setAttribute("role", "alert");
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

// Code blocks get their language and a copy button; the code itself stays the server's text.
function decorateCode(segment) {
  for (const code of segment.querySelectorAll("pre > code")) {
    const pre = code.parentElement;
    const language = [...code.classList].find((name) => name.startsWith("language-"));
    const head = document.createElement("div");
    head.className = "code-head";
    head.append(span("code-language", language ? language.slice("language-".length) : "text"));
    const copy = button("Copy", "copy-code button-quiet", async () => {
      try {
        await navigator.clipboard.writeText(code.textContent);
        copy.textContent = "Copied";
      } catch {
        copy.textContent = "Copy failed";
      }
      setTimeout(() => (copy.textContent = "Copy"), 2000);
    });
    const name = language ? `${language.slice("language-".length)} ` : "";
    copy.setAttribute("aria-label", `Copy the ${name}code`);
    head.append(copy);
    const block = document.createElement("div");
    block.className = "code-block";
    pre.replaceWith(block);
    block.append(head, pre);
  }
}

// A collapsible card for one tool call: created when it starts, filled in when it finishes.
class ToolCard {
  constructor(tool, args, replay = false) {
    this.replay = replay;
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
    this.confirmButton.disabled = this.replay;
    this.cancelButton.disabled = this.replay;
    this.decision = document.createElement("p");
    this.decision.className = "confirm-decision";
    this.decision.setAttribute("role", "status");
    prompt.append(warning, this.confirmButton, " ", this.cancelButton, this.decision);
    this.body.append(prompt);
    if (!this.replay) this.confirmButton.focus({ preventScroll: true });
  }

  async decide(id, approve) {
    this.confirmButton.disabled = true;
    this.cancelButton.disabled = true;
    this.decision.textContent = approve ? "Confirming…" : "Cancelling…";
    try {
      const path = `/api/confirmations/${encodeURIComponent(id)}`;
      const answer = await requestJson("POST", path, { approve });
      this.showDecision(answer.approved, state.me ? state.me.user : "", new Date().toISOString());
    } catch (error) {
      this.decision.textContent = explain(error);
      this.decision.classList.add("error");
    }
  }

  showDecision(approved, by, at) {
    if (!this.confirmButton) return;
    this.confirmButton.disabled = true;
    this.cancelButton.disabled = true;
    this.decision.classList.remove("error");
    const who = by ? ` by ${by}` : "";
    this.decision.replaceChildren(approved ? `Confirmed${who}` : `Cancelled${who}`);
    if (at) this.decision.append(" at ", timeElement(at, true));
    this.decision.append(approved ? "." : ": not run.");
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
    if (data.cut) facts.push("the result was cut (shortened for the model or for keeping)");
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

function userBubble(content, at) {
  const bubble = document.createElement("div");
  bubble.className = "message user-message";
  const text = document.createElement("div");
  text.className = "message-text";
  text.textContent = content;
  bubble.append(visuallyHidden("You said: "), text, messageTime(at));
  return bubble;
}

function assistantBubble(at) {
  const bubble = document.createElement("div");
  bubble.className = "message assistant-message";
  bubble.append(visuallyHidden("Jamie: "), messageTime(at));
  return bubble;
}

function messageTime(iso) {
  const line = document.createElement("p");
  line.className = "message-time";
  line.append(timeElement(iso, false));
  return line;
}

// A <time> in the reader's zone, with the exact instant in its datetime and tooltip.
function timeElement(iso, withSeconds) {
  const element = document.createElement("time");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return element;
  element.dateTime = date.toISOString();
  element.title = date.toString();
  const time = date.toLocaleTimeString([], {
    hour: "2-digit",
    minute: "2-digit",
    ...(withSeconds ? { second: "2-digit" } : {}),
  });
  const sameDay = date.toDateString() === new Date().toDateString();
  element.textContent = sameDay ? time : `${date.toLocaleDateString()} ${time}`;
  return element;
}

function textSegment(bubble) {
  const segment = document.createElement("div");
  segment.className = "assistant-text";
  segment.markdown = "";
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

// The length counter: the API takes at most QUESTION_CHARS, so say so before sending.
function countComposer() {
  const length = $("#composer").value.trim().length;
  const counter = $("#composer-count");
  const over = length > QUESTION_CHARS;
  counter.textContent = over
    ? `${length} / ${QUESTION_CHARS}: ${length - QUESTION_CHARS} too many`
    : `${length} / ${QUESTION_CHARS}`;
  counter.classList.toggle("over", over);
  $("#send").disabled = over || Boolean(state.turn);
}

async function newConversation() {
  await startNewConversation();
  scarlet.leave();
  showPage("chat");
  collapseConversationsOnPhone();
  $("#composer").focus();
}

function typingSomewhere(target) {
  return target.closest("input, textarea, select, [contenteditable=true]") !== null;
}

// Alt+N new conversation, "/" the question box, Esc stops an answer, "?" lists these;
// "g" then "r", "a" or "c": Scarlet's runs, its approvals, the chat.
function onShortcut(event) {
  if (!state.me || document.querySelector("dialog[open]")) return;
  const plain = !event.altKey && !event.ctrlKey && !event.metaKey && !typingSomewhere(event.target);
  const target = { r: "/scarlet/runs", a: "/scarlet/approvals", c: null }[event.key];
  if (plain && Date.now() - state.goPressedAt < 1500 && target !== undefined) {
    state.goPressedAt = 0;
    if (target && $("#console-nav").hidden) return;
    event.preventDefault();
    navigate(target || chatAddress());
    return;
  }
  if (plain && event.key === "g") {
    state.goPressedAt = Date.now();
    return;
  }
  if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === "KeyN") {
    event.preventDefault();
    newConversation();
  } else if (event.key === "Escape" && state.turn) {
    event.preventDefault();
    stopTurn();
  } else if (event.key === "/" && !typingSomewhere(event.target)) {
    event.preventDefault();
    $("#composer").focus();
  } else if (event.key === "?" && !typingSomewhere(event.target)) {
    event.preventDefault();
    $("#shortcuts").showModal();
  }
}

function wireEvents() {
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  $("#stop").addEventListener("click", stopTurn);
  $("#new-conversation").addEventListener("click", newConversation);
  $("#show-shortcuts").addEventListener("click", () => $("#shortcuts").showModal());
  $("#dialog-cancel").addEventListener("click", () => $("#dialog").close());
  $("#composer").addEventListener("input", countComposer);
  $("#search").addEventListener("input", () => {
    clearTimeout(state.searchTimer);
    state.searchTimer = setTimeout(loadConversations, SEARCH_DELAY_MS);
  });
  document.addEventListener("keydown", onShortcut);
  window.addEventListener("popstate", onHistory);
  $("#toggle-conversations").addEventListener("click", toggleConversations);
  $("#console-nav").addEventListener("click", onNavigate);
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
