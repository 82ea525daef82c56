// Scarlet in the console: its runs (live while one runs) and the actions waiting for a person.
// Jamie asks Scarlet for the signed-in person; Scarlet decides what they may see and decide.
// Everything shown here (questions, evidence, tool results, reasons) was written by others —
// alerts, pods, a model — so it is only ever set as text, never as HTML.

const RUNS_PATH = /^\/scarlet\/runs\/?$/;
const RUN_PATH = /^\/scarlet\/runs\/(\d+)$/;
const APPROVALS_PATH = /^\/scarlet\/approvals\/?$/;
const REFRESH_MS = 15000;
const REASON_CHARS = 2000;
const STATUSES = [
  "queued",
  "running",
  "waiting_approval",
  "completed",
  "partial",
  "failed",
  "closed",
];
const COLUMNS = ["Run", "Status", "Subject", "Trigger", "Started", "Duration"];
const FINAL = new Set(["completed", "partial", "failed", "closed"]);

const $ = (selector) => document.querySelector(selector);

export class ScarletConsole {
  // `ui` is the page's toolkit: requestJson, request, explain, handleApiError, askInPage,
  // readEvents, timeElement, button, span, setError, navigate.
  constructor(ui) {
    this.ui = ui;
    this.me = null;
    this.problem = ""; // why Scarlet could not be asked, when it could not
    this.stream = null; // the open run's event stream
    this.timer = null;
    this.view = null;
  }

  static handles(path) {
    return RUNS_PATH.test(path) || RUN_PATH.test(path) || APPROVALS_PATH.test(path);
  }

  // Whether the person may see Scarlet at all; the links appear only then.
  async connect() {
    try {
      this.me = await this.ui.requestJson("GET", "/api/scarlet/me");
      this.problem = "";
    } catch (error) {
      this.me = null;
      // 403: Scarlet refused the person. Anything else (Scarlet down) is worth saying.
      this.problem = error.status === 403 ? "" : this.ui.explain(error);
    }
    $("#console-nav").hidden = !(this.me && this.me.may_view);
    if (this.me && this.me.may_view) this.countWaiting();
    return Boolean(this.me && this.me.may_view);
  }

  forget() {
    this.leave();
    this.me = null;
    $("#console-nav").hidden = true;
  }

  async show(path) {
    this.leave();
    $("#scarlet-view").hidden = false;
    this.ui.setError($("#scarlet-error"), "");
    $("#scarlet-live").textContent = "";
    if (!this.me) await this.connect();
    if (!this.me || !this.me.may_view) {
      this.title("Scarlet");
      if (this.me && !this.me.connected) this.problem = "Jamie is not connected to Scarlet.";
      $("#scarlet-body").replaceChildren();
      this.ui.setError(
        $("#scarlet-error"),
        this.problem ||
          "Your roles do not let you see Scarlet's runs. Ask an administrator for the viewer role.",
      );
      return;
    }
    const run = RUN_PATH.exec(path);
    if (run) await this.showRun(Number(run[1]));
    else if (APPROVALS_PATH.test(path)) await this.showApprovals();
    else await this.showRuns();
  }

  leave() {
    if (this.stream) this.stream.abort();
    this.stream = null;
    clearInterval(this.timer);
    this.timer = null;
    this.view = null;
  }

  title(text) {
    $("#scarlet-title").textContent = text;
    document.title = `${text} · Jamie`;
  }

  fail(error) {
    this.ui.handleApiError(error, $("#scarlet-error"));
  }

  async countWaiting() {
    if (!this.me || !this.me.may_view) return;
    try {
      const waiting = await this.ui.requestJson("GET", "/api/scarlet/actions");
      this.showCount(waiting.length);
    } catch {
      // The count is a hint; the approvals page says what is wrong.
    }
  }

  showCount(count) {
    const badge = $("#approvals-count");
    badge.hidden = !count;
    badge.textContent = count ? String(count) : "";
    badge.setAttribute("aria-label", `${count} waiting`);
  }

  // -------------------------------------------------------------------------------------------
  // Runs

  async showRuns() {
    this.view = "runs";
    this.title("Scarlet's runs");
    const filter = document.createElement("select");
    filter.id = "runs-status";
    filter.append(new Option("All statuses", ""));
    for (const status of STATUSES) filter.append(new Option(words(status), status));
    const label = document.createElement("label");
    label.htmlFor = "runs-status";
    label.textContent = "Status";
    const tools = document.createElement("div");
    tools.className = "scarlet-tools";
    tools.append(label, filter);
    const table = document.createElement("div");
    table.className = "runs-table";
    $("#scarlet-body").replaceChildren(tools, table);
    const load = async () => {
      const status = filter.value;
      const query = status ? `?status=${encodeURIComponent(status)}` : "";
      try {
        const runs = await this.ui.requestJson("GET", `/api/scarlet/runs${query}`);
        if (this.view !== "runs") return;
        table.replaceChildren(this.runsTable(runs, status));
        this.ui.setError($("#scarlet-error"), "");
      } catch (error) {
        this.fail(error);
      }
    };
    filter.addEventListener("change", load);
    await load();
    this.timer = setInterval(load, REFRESH_MS);
  }

  runsTable(runs, status) {
    if (!runs.length) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = status ? `No ${words(status)} runs.` : "Scarlet has no runs yet.";
      return empty;
    }
    const table = document.createElement("table");
    table.className = "runs";
    const caption = document.createElement("caption");
    caption.className = "visually-hidden";
    caption.textContent = "Scarlet's runs, newest first";
    const head = table.createTHead().insertRow();
    for (const name of COLUMNS) {
      const cell = document.createElement("th");
      cell.scope = "col";
      cell.textContent = name;
      head.append(cell);
    }
    const body = table.createTBody();
    for (const run of runs) {
      const row = body.insertRow();
      row.dataset.run = run.id;
      const link = this.link(`/scarlet/runs/${run.id}`, `#${run.id}`);
      link.setAttribute("aria-label", `Run ${run.id}`);
      row.insertCell().append(link);
      row.insertCell().append(statusBadge(run.status));
      const subject = row.insertCell();
      subject.className = "run-subject";
      subject.append(
        this.ui.span("run-subject-main", run.subject || run.headline || run.question),
      );
      if (run.headline && run.headline !== subject.textContent) {
        subject.append(this.ui.span("run-headline", run.headline));
      }
      row.insertCell().textContent = run.kind;
      row.insertCell().append(this.ui.timeElement(run.created_at, true));
      row.insertCell().textContent = duration(run.created_at, run.finished_at);
      // A phone shows each run as a block: every value keeps its column's name.
      [...row.cells].forEach((cell, index) => (cell.dataset.label = COLUMNS[index]));
    }
    table.append(caption);
    return table;
  }

  async showRun(id) {
    this.view = `run:${id}`;
    this.title(`Run #${id}`);
    $("#scarlet-body").replaceChildren();
    let detail;
    try {
      detail = await this.ui.requestJson("GET", `/api/scarlet/runs/${id}`);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.view !== `run:${id}`) return;
    const page = new RunPage(this, detail);
    $("#scarlet-body").replaceChildren(page.element);
    if (!FINAL.has(detail.status)) this.follow(page);
  }

  // The run's own event stream (Scarlet's, through Jamie): steps and status as they happen.
  async follow(page) {
    const abort = new AbortController();
    this.stream = abort;
    const live = $("#scarlet-live");
    live.textContent = "Live: following this run as it goes.";
    try {
      const response = await fetch(`/api/scarlet/runs/${page.detail.id}/events`, {
        credentials: "same-origin",
        headers: { Accept: "text/event-stream" },
        signal: abort.signal,
      });
      if (!response.ok) throw await this.ui.errorOf(response);
      for await (const { kind, data } of this.ui.readEvents(response)) {
        if (kind === "step") page.addStep(data);
        else if (kind === "status") {
          page.setStatus(data.status, data.reason);
          this.countWaiting();
        }
        else if (kind === "end") break;
      }
      if (this.stream !== abort) return;
      live.textContent = "The run is over.";
      // The final report (findings, actions as they ended) arrives with the run itself.
      const detail = await this.ui.requestJson("GET", `/api/scarlet/runs/${page.detail.id}`);
      if (this.stream !== abort) return;
      $("#scarlet-body").replaceChildren(new RunPage(this, detail).element);
    } catch (error) {
      if (error.name === "AbortError") return;
      live.textContent = "";
      this.fail(error);
    } finally {
      if (this.stream === abort) this.stream = null;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Approvals

  async showApprovals() {
    this.view = "approvals";
    this.title("Waiting for approval");
    const list = document.createElement("div");
    list.className = "approvals";
    $("#scarlet-body").replaceChildren(list);
    await this.loadApprovals(list);
  }

  async loadApprovals(list) {
    let waiting;
    try {
      waiting = await this.ui.requestJson("GET", "/api/scarlet/actions");
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.view !== "approvals") return;
    this.showCount(waiting.length);
    if (!waiting.length) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "Nothing waits for approval.";
      list.replaceChildren(empty);
      return;
    }
    list.replaceChildren(...waiting.map((action) => this.approvalCard(action, list)));
  }

  approvalCard(action, list) {
    const card = document.createElement("article");
    card.className = "approval";
    card.dataset.action = action.id;
    const headingId = `approval-${action.id}-title`;
    card.setAttribute("aria-labelledby", headingId);
    const heading = document.createElement("h3");
    heading.id = headingId;
    heading.textContent = `Action #${action.id}: ${action.tool}`;
    const facts = document.createElement("dl");
    facts.className = "facts";
    addFact(facts, "Run", this.link(`/scarlet/runs/${action.run}`, `#${action.run}`));
    addFact(facts, "Why", action.why);
    addFact(facts, "Proposed", this.ui.timeElement(action.created_at, true));
    if (action.expires_at) addFact(facts, "Expires", this.ui.timeElement(action.expires_at, true));
    addFact(facts, "Who may decide", (action.approver_roles || []).join(", "));
    const args = pre("action-arguments", json(action.arguments));
    card.append(heading, facts, labelled("Arguments", args));
    const dry = action.dry_run;
    const dryText = dry
      ? `${dry.outcome}: ${dry.result || "(no output)"}`
      : "No dry run: Scarlet dry-runs the writes its analyzers propose; one the model asked " +
        "for reaches no server before a person approves it.";
    card.append(labelled("Dry run", pre("action-dry-run", dryText)));

    const form = document.createElement("form");
    form.className = "decision-form";
    const reasonId = `reason-${action.id}`;
    const label = document.createElement("label");
    label.htmlFor = reasonId;
    label.textContent = "Reason (kept with the decision)";
    const reason = document.createElement("textarea");
    reason.id = reasonId;
    reason.className = "decision-reason";
    reason.rows = 2;
    reason.maxLength = REASON_CHARS;
    const outcome = document.createElement("p");
    outcome.className = "decision-outcome";
    outcome.setAttribute("role", "status");
    const approve = this.ui.button("Approve", "approve-button", () =>
      this.decide(action, true, reason, outcome, buttons, list),
    );
    const reject = this.ui.button("Reject", "reject-button", () =>
      this.decide(action, false, reason, outcome, buttons, list),
    );
    approve.setAttribute("aria-label", `Approve action ${action.id}`);
    reject.setAttribute("aria-label", `Reject action ${action.id}`);
    const buttons = [approve, reject];
    const row = document.createElement("div");
    row.className = "decision-buttons";
    row.append(approve, reject);
    form.addEventListener("submit", (event) => event.preventDefault());
    form.append(label, reason, row, outcome);
    if (!action.may_decide) {
      for (const one of buttons) one.disabled = true;
      reason.disabled = true;
      const roles = (action.approver_roles || []).join(", ");
      outcome.textContent = `You may not decide this: it takes one of the roles ${roles}.`;
    }
    card.append(form);
    return card;
  }

  async decide(action, approve, reason, outcome, buttons, list) {
    const why = reason.value.trim();
    if (approve) {
      const sure = await this.ui.askInPage({
        title: "Approve this change?",
        message:
          `Scarlet will run ${action.tool} ${json(action.arguments)} on the cluster, ` +
          "recorded as approved by you.",
        ok: "Approve",
        danger: true,
      });
      if (!sure) return;
    }
    for (const one of buttons) one.disabled = true;
    outcome.classList.remove("error");
    outcome.textContent = approve ? "Approving…" : "Rejecting…";
    try {
      const path = `/api/scarlet/actions/${action.id}/${approve ? "approve" : "reject"}`;
      const answer = await this.ui.requestJson("POST", path, { run: action.run, reason: why });
      const said = answer.reason ? `: ${answer.reason}` : ".";
      outcome.textContent = `${words(answer.status)} by ${answer.decided_by}${said}`;
      reason.disabled = true;
      this.countWaiting();
    } catch (error) {
      if (error.status === 401) return this.fail(error);
      outcome.textContent = this.ui.explain(error);
      outcome.classList.add("error");
      // Decided meanwhile by someone else, or gone: the list says what still waits.
      if (error.status === 409 || error.status === 404) {
        setTimeout(() => this.loadApprovals(list), 3000);
      } else {
        for (const one of buttons) one.disabled = false;
      }
    }
  }

  link(path, text) {
    const anchor = document.createElement("a");
    anchor.href = path;
    anchor.textContent = text;
    anchor.addEventListener("click", (event) => {
      const modified = event.metaKey || event.ctrlKey || event.shiftKey || event.altKey;
      if (event.button !== 0 || modified) return;
      event.preventDefault();
      this.ui.navigate(path);
    });
    return anchor;
  }
}

// One run: what started it, what it found (with the evidence), what it proposed, every step.
class RunPage {
  constructor(owner, detail) {
    this.owner = owner;
    this.detail = detail;
    const ui = owner.ui;
    const element = document.createElement("div");
    element.className = "run-page";
    element.dataset.run = detail.id;
    this.element = element;

    this.badge = statusBadge(detail.status);
    this.badge.id = "run-status";
    const facts = document.createElement("dl");
    facts.className = "facts";
    addFact(facts, "Status", this.badge);
    const report = detail.report || {};
    const subject = (report.subject || {}).text;
    if (subject) addFact(facts, "Subject", subject);
    const alerts = detail.alert_count > 1 ? ` (${detail.alert_count} alerts)` : "";
    addFact(facts, "Trigger", detail.kind + alerts);
    addFact(facts, "Started", ui.timeElement(detail.created_at, true));
    if (detail.finished_at) addFact(facts, "Finished", ui.timeElement(detail.finished_at, true));
    this.duration = document.createElement("span");
    this.duration.textContent = duration(detail.created_at, detail.finished_at);
    addFact(facts, "Duration", this.duration);
    this.reason = document.createElement("span");
    this.reason.textContent = detail.reason || "";
    addFact(facts, "Reason", this.reason);
    this.reason.parentElement.hidden = !detail.reason;
    this.reason.parentElement.previousElementSibling.hidden = !detail.reason;
    element.append(facts, section("Question", paragraph(detail.question)));

    if (report.headline) {
      const summary = [report.headline, report.likely_cause, report.what_to_change].filter(Boolean);
      element.append(section("Report", ...summary.map((line) => paragraph(line))));
    }
    const findings = report.findings || [];
    element.append(
      section(
        `Findings (${findings.length})`,
        ...(findings.length ? findings.map(findingCard) : [paragraph("No findings yet.")]),
      ),
    );
    const actions = detail.actions || [];
    if (actions.length) {
      element.append(section("Actions", ...actions.map((action) => actionCard(action, owner))));
    }

    this.steps = document.createElement("ol");
    this.steps.className = "run-steps";
    this.shown = new Set();
    for (const step of detail.steps || []) this.addStep(step);
    element.append(section("Steps", this.steps));
  }

  addStep(step) {
    if (this.shown.has(step.id)) return;
    this.shown.add(step.id);
    const item = document.createElement("li");
    item.className = "run-step";
    item.dataset.kind = step.kind;
    const head = document.createElement("p");
    head.className = "run-step-head";
    head.append(this.owner.ui.span("run-step-kind", words(step.kind)), " ");
    head.append(this.owner.ui.timeElement(step.created_at, true));
    const body = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "Detail";
    body.append(summary, pre("run-step-detail", json(step.detail)));
    item.append(head, body);
    this.steps.append(item);
  }

  setStatus(status, reason) {
    this.badge.replaceWith((this.badge = Object.assign(statusBadge(status), { id: "run-status" })));
    this.reason.textContent = reason || "";
    this.reason.parentElement.hidden = !reason;
    this.reason.parentElement.previousElementSibling.hidden = !reason;
  }
}

function findingCard(finding) {
  const card = document.createElement("article");
  card.className = "finding";
  card.dataset.severity = finding.severity;
  const heading = document.createElement("h4");
  heading.textContent = `${finding.severity}: ${finding.summary}`;
  const facts = document.createElement("dl");
  facts.className = "facts";
  addFact(facts, "Subject", finding.subject);
  addFact(facts, "Analyzer", finding.analyzer);
  if (finding.likely_cause) addFact(facts, "Likely cause", finding.likely_cause);
  if (finding.remedy) addFact(facts, "What to change", finding.remedy);
  const evidence = document.createElement("ol");
  evidence.className = "evidence";
  for (const item of finding.evidence || []) {
    const entry = document.createElement("li");
    const call = document.createElement("p");
    call.className = "evidence-call";
    call.textContent = `${item.tool} ${json(item.arguments)}`;
    entry.append(call, pre("evidence-excerpt", item.excerpt));
    evidence.append(entry);
  }
  card.append(heading, facts, labelled("Evidence", evidence));
  return card;
}

function actionCard(action, owner) {
  const card = document.createElement("article");
  card.className = "run-action";
  card.dataset.status = action.status;
  const heading = document.createElement("h4");
  heading.textContent = `Action #${action.id}: ${action.tool} — ${words(action.status)}`;
  const facts = document.createElement("dl");
  facts.className = "facts";
  addFact(facts, "Why", action.why);
  if (action.decided_by) {
    const decided = document.createElement("span");
    decided.append(`${action.decided_by}`);
    if (action.decided_at) decided.append(" at ", owner.ui.timeElement(action.decided_at, true));
    addFact(facts, "Decided by", decided);
  }
  if (action.reason) addFact(facts, "Reason", action.reason);
  if (action.status === "waiting") {
    addFact(facts, "Decide", owner.link("/scarlet/approvals", "on the approvals page"));
  }
  const args = pre("action-arguments", json(action.arguments));
  card.append(heading, facts, labelled("Arguments", args));
  if (action.result) card.append(labelled("Result", pre("action-result", action.result)));
  return card;
}

function statusBadge(status) {
  const badge = document.createElement("span");
  badge.className = "run-status";
  badge.dataset.status = status;
  badge.textContent = words(status);
  return badge;
}

function section(title, ...children) {
  const part = document.createElement("section");
  part.className = "run-section";
  const heading = document.createElement("h3");
  heading.textContent = title;
  part.append(heading, ...children);
  return part;
}

function labelled(title, content) {
  const block = document.createElement("div");
  block.className = "labelled";
  const label = document.createElement("p");
  label.className = "block-label";
  label.textContent = title;
  block.append(label, content);
  return block;
}

function addFact(list, name, value) {
  const term = document.createElement("dt");
  term.textContent = name;
  const description = document.createElement("dd");
  description.append(value ?? "");
  list.append(term, description);
}

function paragraph(text) {
  const element = document.createElement("p");
  element.className = "plain-text";
  element.textContent = text || "";
  return element;
}

function pre(className, text) {
  const element = document.createElement("pre");
  element.className = className;
  element.textContent = text ?? "";
  return element;
}

function json(value) {
  return JSON.stringify(value ?? {}, null, 1).replace(/\n\s*/g, " ");
}

function words(status) {
  const text = String(status || "").replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function duration(from, to) {
  const start = new Date(from).getTime();
  const end = to ? new Date(to).getTime() : Date.now();
  if (!Number.isFinite(start) || !Number.isFinite(end)) return "";
  const total = Math.max(0, Math.round((end - start) / 1000));
  const text = total < 60 ? `${total} s` : `${Math.floor(total / 60)} min ${total % 60} s`;
  return to ? text : `${text} so far`;
}
