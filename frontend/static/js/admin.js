// The operator console: user search, a user's card (ban, unban, unlock), statistics with
// charts drawn here as SVG, and the audit log. Every call goes to /admin/api/; a caller without
// the admin role (403) is sent to the profile, a signed-out one to the sign-in page (api()).
import {
  API,
  PAGES,
  api,
  clearMessage,
  clearText,
  describeError,
  formatCount,
  formatDate,
  formatDateTime,
  formatPhone,
  initPage,
  leaveFor,
  markInvalid,
  setBusy,
  setText,
  showMessage,
  t,
} from "/static/js/common.js";
import { deviceName } from "/static/js/sessions.js";

const SEARCH_PAGE = 20;
const AUDIT_PAGE = 50;
const REASON_MAX = 500;
const SVG = "http://www.w3.org/2000/svg";
// The daily series, in the order the charts are drawn; `refused` is a sum over its reasons.
const SERIES = [
  ["sign_ins", "admin.sign_ins"],
  ["new_users", "admin.new_users"],
  ["otp_sends", "admin.otp_sends"],
  ["lockouts", "admin.lockouts"],
  ["activations", "admin.activations"],
  ["refused_activations", "admin.refused_activations"],
];
const TOTALS = ["sign_ins", "new_users", "otp_sends", "lockouts", "activations", "refused_activations", "users"];

const byId = (id) => document.getElementById(id);
const error = byId("error");

let lastStats = null;
initPage({ onLanguage: () => lastStats && renderCharts(lastStats) });

/** api() for the operators' URLs: a caller who is not an operator goes to the profile. */
async function adminApi(path, options) {
  const result = await api(path, options);
  if (result.status === 403 && result.data?.code === "forbidden") return leaveFor(PAGES.profile);
  return result;
}

/** Keeps only the path and query of a URL the server handed out. */
function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

// --- small builders ---

function cell(content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content);
  else td.textContent = content ?? "";
  return td;
}

/** A moment as <time>: the language switch reformats it. */
function timeOf(iso) {
  if (!iso) {
    const none = document.createElement("span");
    setText(none, "admin.never");
    return none;
  }
  const time = document.createElement("time");
  time.dateTime = iso;
  time.textContent = formatDateTime(iso);
  return time;
}

function count(value) {
  const span = document.createElement("span");
  span.dataset.count = String(value ?? 0);
  span.textContent = formatCount(value);
  return span;
}

function code(value) {
  const span = document.createElement("span");
  span.className = value ? "code" : "muted";
  span.textContent = value ?? "—";
  return span;
}

/** A button that opens a user's card; its name says whose, for a screen reader too. */
function openButton(id, { small = true, label = null } = {}) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = small ? "button secondary small" : "button link";
  if (label === null) {
    const words = document.createElement("span");
    setText(words, "admin.open");
    const whose = document.createElement("span");
    whose.className = "visually-hidden";
    whose.textContent = ` ID ${id}`;
    button.append(words, whose);
  } else {
    button.textContent = label;
  }
  button.dataset.userId = String(id);
  button.addEventListener("click", () => openUser(id, button));
  return button;
}

/** The ban and lockout of a user, as badges. */
function statusOf(user) {
  const box = document.createElement("span");
  box.className = "status";
  const badge = (key, params, kind) => {
    const span = document.createElement("span");
    span.className = `badge ${kind}`;
    setText(span, key, params);
    box.append(span);
  };
  if (user.banned) badge("admin.statusBanned", { until: user.banned_until }, "badge-danger");
  if (user.locked_until) badge("admin.statusLocked", { until: user.locked_until }, "badge-warning");
  if (!user.banned && !user.locked_until) badge("admin.statusActive", undefined, "badge-ok");
  return box;
}

// --- search ---

const searchForm = byId("search-form");
const searchInput = byId("search-q");
const searchSubmit = byId("search-submit");
const searchError = byId("search-error");
const resultsBody = byId("results-body");
const resultsMore = byId("results-more");
const searchSummary = byId("search-summary");
let searchQuery = "";
let searchNext = null;
let searchAsked = 0;

function userRow(user) {
  const row = document.createElement("tr");
  row.dataset.userId = String(user.id);
  const phone = cell(formatPhone(user.phone));
  phone.className = "nowrap";
  row.append(
    cell(String(user.id)),
    phone,
    cell(timeOf(user.created_at)),
    cell(timeOf(user.last_login_at)),
    cell(code(user.invite_code)),
    cell(code(user.activated_invite_code)),
    cell(count(user.invited_count)),
    cell(statusOf(user)),
    cell(openButton(user.id)),
  );
  return row;
}

function showSearchSummary() {
  const shown = resultsBody.rows.length;
  byId("results-empty").hidden = shown > 0;
  if (shown) setText(searchSummary, "admin.searchShown", { count: shown, more: Boolean(searchNext) });
  else clearText(searchSummary);
  resultsMore.hidden = !searchNext;
}

async function search({ more = false } = {}) {
  clearMessage(searchError);
  const button = more ? resultsMore : searchSubmit;
  setBusy(button, true, more ? "admin.moreBusy" : "admin.searchBusy");
  const cursor = more ? searchNext : null;
  const asked = ++searchAsked;
  const result = await adminApi(
    withQuery(API.adminUsers, { q: searchQuery, cursor, limit: SEARCH_PAGE }),
  );
  setBusy(button, false);
  // A newer search was asked for meanwhile: its answer is the one to show.
  if (asked !== searchAsked) return result;
  if (!result.ok) {
    showMessage(searchError, describeError(result));
    markInvalid(searchInput, result.status === 422);
    if (!more) searchInput.focus();
    return result;
  }
  markInvalid(searchInput, false);
  const rows = result.data.items.map(userRow);
  if (more) resultsBody.append(...rows);
  else resultsBody.replaceChildren(...rows);
  searchNext = result.data.next ?? null;
  showSearchSummary();
  // The "more" button goes away after the last page: keep focus in the table then.
  if (more && resultsMore.hidden && rows.length) rows[0].querySelector("button")?.focus();
  return result;
}

searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  searchQuery = searchInput.value.trim();
  search();
});
resultsMore.addEventListener("click", () => search({ more: true }));

// --- the user's card ---

const card = byId("user-card");
const cardError = byId("card-error");
const cardStatus = byId("card-status-message");
const banForm = byId("ban-form");
const banReason = byId("ban-reason");
const banUntil = byId("ban-until");
const banSubmit = byId("ban-submit");
const unbanBox = byId("unban-box");
const unbanButton = byId("unban");
const unlockButton = byId("unlock");
let shownUser = null;
let openedFrom = null;

function chainItem(inviter) {
  const item = document.createElement("li");
  const who = document.createElement("span");
  who.className = "person";
  const phone = document.createElement("span");
  phone.className = "person-phone";
  phone.textContent = formatPhone(inviter.phone);
  who.append(`ID ${inviter.id}`, phone, code(inviter.invite_code));
  item.append(who, openButton(inviter.id));
  return item;
}

function inviteeItem(invitee) {
  const item = document.createElement("li");
  const who = document.createElement("span");
  who.className = "person";
  const phone = document.createElement("span");
  phone.className = "person-phone";
  phone.textContent = formatPhone(invitee.phone);
  who.append(`ID ${invitee.id}`, phone, timeOf(invitee.activated_at));
  item.append(who, openButton(invitee.id));
  return item;
}

function sessionItem(session) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.className = "session-name";
  const known = deviceName(session.user_agent ?? "");
  if (known) name.textContent = known;
  else setText(name, "admin.sessionUnknown");
  name.title = session.user_agent ?? "";
  const times = document.createElement("span");
  times.className = "muted session-times";
  setText(times, "admin.sessionTimes", { created: session.created_at, used: session.last_used_at });
  item.append(name, times);
  return item;
}

function fill(id, content) {
  byId(id).replaceChildren(content instanceof Node ? content : document.createTextNode(content ?? ""));
}

function renderCard(user) {
  shownUser = user;
  byId("card-title").textContent = formatPhone(user.phone);
  fill("card-id", String(user.id));
  fill("card-phone", formatPhone(user.phone));
  byId("card-phone").dataset.phone = user.phone;
  fill("card-created", timeOf(user.created_at));
  fill("card-last-login", timeOf(user.last_login_at));
  fill("card-invite-code", user.invite_code ?? "—");
  fill("card-activated-code", user.activated_invite_code ?? "—");
  fill("card-invited-count", count(user.invited_count));
  fill("card-active-sessions", count(user.active_sessions));
  const ban = document.createElement("span");
  if (user.banned) setText(ban, "admin.statusBanned", { until: user.banned_until });
  else setText(ban, "admin.notBanned");
  fill("card-ban", ban);
  const lock = document.createElement("span");
  if (user.locked_until) setText(lock, "admin.statusLocked", { until: user.locked_until });
  else setText(lock, "admin.notLocked");
  fill("card-lock", lock);

  banForm.hidden = user.banned;
  unbanBox.hidden = !user.banned;
  if (user.banned) {
    setText(byId("ban-summary"), "admin.banSummary", {
      until: user.banned_until,
      reason: user.ban_reason ?? "",
    });
  }

  const chain = user.inviter_chain ?? [];
  byId("card-chain").replaceChildren(...chain.map(chainItem));
  byId("card-chain-empty").hidden = chain.length > 0;
  const invitees = user.invitees ?? [];
  byId("card-invitees").replaceChildren(...invitees.map(inviteeItem));
  byId("card-invitees-count").textContent = String(user.invited_count ?? invitees.length);
  byId("card-invitees-empty").hidden = invitees.length > 0;
  byId("card-invitees-more").hidden = !user.invitees_next;
  const sessions = user.sessions ?? [];
  byId("card-sessions").replaceChildren(...sessions.map(sessionItem));
  byId("card-sessions-empty").hidden = sessions.length > 0;
  card.hidden = false;
}

/** Redraws the user's row in the results table, if it is there. */
function updateRow(user) {
  const row = resultsBody.querySelector(`tr[data-user-id="${CSS.escape(String(user.id))}"]`);
  if (row) row.replaceWith(userRow(user));
}

async function loadCard(id) {
  const result = await adminApi(API.adminUser(id));
  if (!result.ok) return result;
  renderCard(result.data);
  updateRow(result.data);
  return result;
}

async function openUser(id, trigger) {
  clearMessage(cardError);
  clearMessage(cardStatus);
  openedFrom = trigger ?? null;
  if (openedFrom) openedFrom.dataset.section = openedFrom.closest("section")?.id ?? "";
  const result = await loadCard(id);
  if (!result.ok) {
    card.hidden = false;
    showMessage(cardError, result.status === 404 ? describeError(result) : { key: "admin.cardFailed" });
  } else {
    banReason.value = "";
    banUntil.value = "";
    markInvalid(banReason, false);
    markInvalid(banUntil, false);
  }
  card.scrollIntoView({ block: "start" });
  byId("card-heading").focus({ preventScroll: true });
}

/** The button that opened the card, or the one drawn in its place since (a redrawn row). */
function opener() {
  if (!openedFrom) return null;
  if (openedFrom.isConnected) return openedFrom;
  const { section, userId } = openedFrom.dataset;
  if (!section || !userId) return null;
  return document.querySelector(`#${section} button[data-user-id="${CSS.escape(userId)}"]`);
}

byId("card-close").addEventListener("click", () => {
  card.hidden = true;
  shownUser = null;
  (opener() ?? searchInput).focus();
});

/** After an action: the card read again (sessions, ban, lockout) and the outcome said. */
async function actionDone(key) {
  await loadCard(shownUser.id);
  showMessage(cardStatus, { key });
  refreshAudit();
}

banForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearMessage(cardError);
  clearMessage(cardStatus);
  const reason = banReason.value.trim();
  markInvalid(banReason, false);
  markInvalid(banUntil, false);
  if (!reason || reason.length > REASON_MAX) {
    markInvalid(banReason, true);
    showMessage(cardError, { key: "admin.banReasonEmpty" });
    banReason.focus();
    return;
  }
  let until = null;
  if (banUntil.value) {
    const moment = new Date(banUntil.value);
    if (Number.isNaN(moment.getTime()) || moment.getTime() <= Date.now()) {
      markInvalid(banUntil, true);
      showMessage(cardError, { key: "admin.banUntilPast" });
      banUntil.focus();
      return;
    }
    until = moment.toISOString();
  }
  setBusy(banSubmit, true, "admin.banBusy");
  const result = await adminApi(API.adminBan(shownUser.id), { method: "POST", body: { reason, until } });
  setBusy(banSubmit, false);
  if (!result.ok) {
    showMessage(cardError, describeError(result));
    return;
  }
  await actionDone("admin.banned");
  unbanButton.focus();
});

unbanButton.addEventListener("click", async () => {
  clearMessage(cardError);
  clearMessage(cardStatus);
  setBusy(unbanButton, true, "admin.unbanBusy");
  const result = await adminApi(API.adminBan(shownUser.id), { method: "DELETE" });
  setBusy(unbanButton, false);
  if (!result.ok) {
    showMessage(cardError, describeError(result));
    return;
  }
  await actionDone("admin.unbanned");
  banReason.focus();
});

unlockButton.addEventListener("click", async () => {
  clearMessage(cardError);
  clearMessage(cardStatus);
  setBusy(unlockButton, true, "admin.unlockBusy");
  const result = await adminApi(API.adminUnlock(shownUser.phone), { method: "POST" });
  setBusy(unlockButton, false);
  if (!result.ok) {
    showMessage(cardError, describeError(result));
    return;
  }
  await actionDone("admin.unlocked");
});

// --- statistics ---

const statsError = byId("stats-error");
const dayButtons = [...document.querySelectorAll("[data-days]")];

/** One day's value of a series; refused activations are summed over their reasons. */
function dayValue(day, name) {
  if (name === "refused_activations") {
    return Object.values(day.refused ?? {}).reduce((sum, n) => sum + Number(n || 0), 0);
  }
  return Number(day[name] || 0);
}

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

/**
 * A bar chart of one daily series: one bar a day, scaled to the busiest day. The figure's text
 * (name, total, peak, first and last day) is HTML around the SVG, so it stays crisp at any width.
 */
function chart(series, name, labelKey, days) {
  const values = series.map((day) => dayValue(day, name));
  const total = values.reduce((sum, n) => sum + n, 0);
  const max = Math.max(0, ...values);
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.dataset.series = name;
  const caption = document.createElement("figcaption");
  const title = document.createElement("span");
  title.className = "chart-title";
  title.textContent = t(labelKey);
  const sum = document.createElement("span");
  sum.className = "chart-total";
  sum.textContent = formatCount(total);
  caption.append(title, sum);

  const step = 10;
  const height = 60;
  const svg = svgElement("svg", {
    viewBox: `0 0 ${Math.max(1, values.length) * step} ${height}`,
    preserveAspectRatio: "none",
    role: "img",
    class: "chart-svg",
    "aria-label": t("admin.chartLabel", { name: t(labelKey), total, max, days }),
  });
  svg.append(svgElement("line", { x1: 0, y1: height - 0.5, x2: values.length * step, y2: height - 0.5, class: "chart-axis" }));
  values.forEach((value, index) => {
    const barHeight = max ? Math.max(value ? 1.5 : 0, (value / max) * (height - 4)) : 0;
    const bar = svgElement("rect", {
      x: index * step + 1,
      y: height - 0.5 - barHeight,
      width: step - 2,
      height: barHeight,
      class: "chart-bar",
    });
    const tip = svgElement("title", {});
    tip.textContent = t("admin.chartBar", { date: series[index].date, value });
    bar.append(tip);
    svg.append(bar);
  });

  const axis = document.createElement("div");
  axis.className = "chart-scale";
  const first = document.createElement("span");
  const peak = document.createElement("span");
  const last = document.createElement("span");
  first.textContent = series.length ? formatDate(series[0].date) : "";
  peak.textContent = t("admin.chartMax", { max });
  last.textContent = series.length ? formatDate(series.at(-1).date) : "";
  axis.append(first, peak, last);
  figure.append(caption, svg, axis);
  return figure;
}

function renderCharts(stats) {
  const series = stats.series ?? [];
  byId("charts").replaceChildren(...SERIES.map(([name, key]) => chart(series, name, key, stats.days)));
}

function renderStats(stats) {
  lastStats = stats;
  setText(byId("stats-range"), "admin.statsRange", { from: stats.from, to: stats.to });
  const totals = stats.totals ?? {};
  for (const name of TOTALS) {
    const element = byId(`total-${name}`);
    element.dataset.count = String(totals[name] ?? 0);
    element.textContent = formatCount(totals[name]);
  }
  renderCharts(stats);
  const reasons = Object.entries(stats.refused_by_reason ?? {}).filter(([, n]) => n > 0);
  const reasonsText = byId("refused-reasons");
  if (reasons.length) {
    setText(reasonsText, "admin.refusedReasons", { text: reasons.map(([code, n]) => `${code} — ${n}`).join(", ") });
  } else {
    clearText(reasonsText);
  }
  const top = stats.top_inviters ?? [];
  byId("top-inviters").replaceChildren(
    ...top.map((inviter, index) => {
      const row = document.createElement("tr");
      const phone = cell(formatPhone(inviter.phone));
      phone.className = "nowrap";
      row.append(
        cell(String(index + 1)),
        cell(String(inviter.id)),
        phone,
        cell(code(inviter.invite_code)),
        cell(count(inviter.invited_count)),
        cell(openButton(inviter.id)),
      );
      return row;
    }),
  );
  byId("top-empty").hidden = top.length > 0;
}

async function loadStats(days, button) {
  clearMessage(statsError);
  if (button) setBusy(button, true, "admin.moreBusy");
  const result = await adminApi(withQuery(API.adminStats, { days }));
  if (button) setBusy(button, false);
  if (!result.ok) {
    showMessage(statsError, result.status === 0 ? describeError(result) : { key: "admin.statsFailed" });
    return result;
  }
  for (const other of dayButtons) other.setAttribute("aria-pressed", String(other.dataset.days === String(days)));
  renderStats(result.data);
  return result;
}

for (const button of dayButtons) {
  button.addEventListener("click", () => loadStats(Number(button.dataset.days), button));
}

// --- audit log ---

const auditForm = byId("audit-form");
const auditType = byId("audit-type");
const auditUser = byId("audit-user");
const auditSubmit = byId("audit-submit");
const auditError = byId("audit-error");
const auditBody = byId("audit-body");
const auditMore = byId("audit-more");
let auditFilter = { type: "", user_id: "" };
let auditNext = null;

function userRef(id, phone) {
  const box = document.createElement("span");
  box.className = "person";
  if (id !== null && id !== undefined) box.append(openButton(id, { small: false, label: `#${id}` }));
  if (phone) {
    const span = document.createElement("span");
    span.className = "nowrap";
    span.textContent = formatPhone(phone);
    box.append(span);
  }
  if (!box.childNodes.length) box.textContent = "—";
  return box;
}

function detailText(detail) {
  return Object.entries(detail ?? {})
    .map(([key, value]) => `${key}: ${value !== null && typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(", ");
}

function auditRow(entry) {
  const row = document.createElement("tr");
  row.dataset.auditId = entry.id;
  row.dataset.type = entry.type;
  const type = document.createElement("span");
  const key = `audit.${entry.type}`;
  if (t(key) !== key) setText(type, key);
  else type.textContent = entry.type;
  type.title = entry.type;
  const detail = cell(detailText(entry.detail));
  detail.className = "audit-detail";
  const ip = cell(entry.ip_hash ? entry.ip_hash.slice(0, 8) : "—");
  ip.title = entry.ip_hash ?? "";
  ip.className = "code";
  row.append(
    cell(timeOf(entry.at)),
    cell(type),
    cell(userRef(entry.actor_id)),
    cell(userRef(entry.subject_id, entry.subject_phone)),
    detail,
    ip,
  );
  return row;
}

async function loadAudit({ more = false, quiet = false } = {}) {
  clearMessage(auditError);
  const button = more ? auditMore : auditSubmit;
  if (!quiet) setBusy(button, true, "admin.auditBusy");
  const result = await adminApi(
    withQuery(API.adminAudit, { ...auditFilter, cursor: more ? auditNext : null, limit: AUDIT_PAGE }),
  );
  if (!quiet) setBusy(button, false);
  if (!result.ok) {
    showMessage(auditError, describeError(result));
    return result;
  }
  const rows = result.data.items.map(auditRow);
  if (more) auditBody.append(...rows);
  else auditBody.replaceChildren(...rows);
  auditNext = result.data.next ?? null;
  auditMore.hidden = !auditNext;
  byId("audit-empty").hidden = auditBody.rows.length > 0;
  if (more && auditMore.hidden && rows.length) {
    rows[0].tabIndex = -1;
    rows[0].focus();
  }
  return result;
}

/** The log's first page again, with the filters in force (after an action on a user). */
function refreshAudit() {
  return loadAudit({ quiet: true });
}

auditForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const user = auditUser.value.trim();
  markInvalid(auditUser, false);
  if (user && !/^[1-9][0-9]{0,18}$/.test(user)) {
    markInvalid(auditUser, true);
    showMessage(auditError, { key: "admin.auditBadUser" });
    auditUser.focus();
    return;
  }
  auditFilter = { type: auditType.value, user_id: user };
  loadAudit();
});
auditMore.addEventListener("click", () => loadAudit({ more: true }));

// --- start ---

async function start() {
  // The list first: a visitor without the role leaves before anything is shown.
  const first = await search();
  byId("loading").hidden = true;
  if (!first.ok && first.status !== 422) {
    showMessage(error, describeError(first));
    return;
  }
  byId("console").hidden = false;
  await Promise.all([loadStats(30), loadAudit({ quiet: true })]);
}

await start();
