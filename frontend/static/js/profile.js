import {
  API,
  PAGES,
  api,
  clearMessage,
  clearText,
  describeError,
  formatDateTime,
  formatCount,
  formatPhone,
  initPage,
  leaveFor,
  markInvalid,
  maskPhone,
  pendingInvite,
  pendingLogin,
  setBusy,
  setText,
  showMessage,
  t,
} from "/static/js/common.js";
import { initSessions } from "/static/js/sessions.js";

const INVITE_CODE = /^[A-Za-z0-9]{6}$/;
const INVITE_CODE_LENGTH = 6;
const COPIED_FOR_MS = 2000;
// What a refused activation of a share link's invite means for the visitor, in words.
const INVITE_REFUSALS = {
  own_invite_code: "invite.own",
  referral_cycle: "invite.cycle",
  invite_code_not_found: "invite.unknown",
  invalid_invite_code_format: "invite.unknown",
};

initPage();

const byId = (id) => document.getElementById(id);
const error = byId("error");
const loading = byId("loading");
const retry = byId("retry");
const content = byId("profile");
const inviteCode = byId("invite-code");
const copyButton = byId("copy-code");
const copyStatus = byId("copy-status");
const activated = byId("activated");
const activateForm = byId("activate-form");
const activateInput = byId("invite-code-input");
const activateSubmit = byId("activate-submit");
const activateError = byId("activate-error");
const activateStatus = byId("activate-status");
const inviteNote = byId("invite-note");
const shareBox = byId("share-box");
const shareUrl = byId("share-url");
const shareButton = byId("share-link");
const csvLink = byId("invited-csv");
const invitedList = byId("invited-list");
const showMore = byId("show-more");
const logout = byId("logout");

let nextPage = null;

// --- rendering ---

function showActivated(code) {
  activated.hidden = !code;
  byId("activated-code").textContent = code ?? "";
  activateForm.hidden = Boolean(code);
}

/** One invitee: the phone masked, a button that shows it whole (and hides it again), the date. */
function invitedItem(user) {
  const item = document.createElement("li");
  item.dataset.phone = user.phone;
  const person = document.createElement("span");
  person.className = "person";
  const phone = document.createElement("span");
  phone.className = "person-phone";
  phone.id = `invitee-${user.id}`;
  phone.textContent = maskPhone(user.phone);
  const reveal = document.createElement("button");
  reveal.type = "button";
  reveal.className = "button ghost small reveal";
  reveal.setAttribute("aria-pressed", "false");
  // The same words on every row: the masked number tells the rows apart for a screen reader.
  reveal.setAttribute("aria-describedby", phone.id);
  setText(reveal, "profile.reveal");
  reveal.addEventListener("click", () => {
    const shown = reveal.getAttribute("aria-pressed") !== "true";
    reveal.setAttribute("aria-pressed", String(shown));
    phone.textContent = shown ? formatPhone(user.phone) : maskPhone(user.phone);
  });
  person.append(phone, reveal);
  const date = document.createElement("time");
  date.dateTime = user.activated_at;
  date.textContent = formatDateTime(user.activated_at);
  item.append(person, date);
  return item;
}

function showInvitedSummary(count, newest) {
  const summary = byId("invited-summary");
  if (count > 0 && newest) {
    showMessage(summary, { key: "profile.invitedSummary", params: { count, newest: newest.activated_at } });
  } else {
    clearMessage(summary);
  }
  byId("invited-csv").hidden = count === 0;
}

function setNextPage(url) {
  // Keep only the path: the list is always fetched from this origin, whatever the URL says.
  const next = url ? new URL(url, window.location.href) : null;
  nextPage = next ? next.pathname + next.search : null;
  showMore.hidden = !nextPage;
}

function render(profile) {
  byId("user-id").textContent = String(profile.id);
  const phone = byId("user-phone");
  phone.textContent = formatPhone(profile.phone);
  phone.dataset.phone = profile.phone;
  inviteCode.textContent = profile.invite_code;
  showActivated(profile.activated_invite_code);
  byId("invited-count").textContent = String(profile.invited_count);
  byId("invited-empty").hidden = profile.invited_count > 0;
  // Newest first: the first invitee is the newest.
  showInvitedSummary(profile.invited_count, profile.invited_users[0]);
  invitedList.replaceChildren(...profile.invited_users.map(invitedItem));
  setNextPage(profile.invited_users_next);
  content.hidden = false;
}

// --- the share link and its funnel ---

function showCount(element, value) {
  element.dataset.count = String(value ?? 0);
  element.textContent = formatCount(value);
}

/** The link as text, in two parts: a line may break before "/i/CODE" but not inside it. */
function showShareUrl(url) {
  const cut = url.lastIndexOf("/i/");
  const head = document.createElement("span");
  const tail = document.createElement("span");
  tail.className = "share-url-tail";
  head.textContent = cut > 0 ? url.slice(0, cut) : "";
  tail.textContent = cut > 0 ? url.slice(cut) : url;
  shareUrl.replaceChildren(head, tail);
}

const qrImage = byId("share-qr");
const qrFigure = byId("share-qr-figure");
// A QR code that cannot be had takes its frame with it; the link and its copy button remain.
qrImage.addEventListener("error", () => {
  qrFigure.hidden = true;
});

function renderStats(stats) {
  showShareUrl(String(stats.share_url));
  const qrSrc = API.qr(stats.invite_code);
  if (qrImage.getAttribute("src") !== qrSrc) {
    qrFigure.hidden = false;
    qrImage.src = qrSrc;
  }
  shareBox.hidden = false;
  // The Web Share API only where the browser has it (mostly phones); copying works everywhere.
  shareButton.hidden = typeof navigator.share !== "function";
  showCount(byId("stats-visits"), stats.visits);
  showCount(byId("stats-unique"), stats.unique_visitors);
  showCount(byId("stats-activations"), stats.activations);
  setText(byId("stats-conversion"), "profile.statsConversionValue", { value: stats.conversion ?? null });
}

async function loadStats() {
  const statsError = byId("stats-error");
  clearMessage(statsError);
  const result = await api(API.stats);
  if (result.ok) {
    renderStats(result.data);
    return;
  }
  shareBox.hidden = true;
  showMessage(statsError, { key: "profile.statsFailed" });
}

// --- the invite a share link brought ---

function noteInvite(key, params) {
  showMessage(inviteNote, { key, params });
}

/** Offers the invite in the activation form: the visitor decides. */
function offerInvite(code) {
  activateInput.value = code;
  noteInvite("invite.offer", { code });
}

/**
 * Deals with the invite a share link brought, once: activates it after a sign-in through the
 * pages, offers it to a visitor who was signed in already, and says in words why it cannot be
 * had. Nothing here stands in the way of the profile.
 */
async function handleInvite(invite, profile) {
  pendingInvite.clear();
  const { code } = invite;
  if (profile.activated_invite_code) {
    noteInvite("invite.already", { code, activated: profile.activated_invite_code });
    return;
  }
  if (code === profile.invite_code) {
    noteInvite("invite.own", { code });
    return;
  }
  if (invite.mode !== "apply") {
    offerInvite(code);
    return;
  }
  const result = await api(API.activate, { method: "POST", body: { invite_code: code } });
  if (result.ok) {
    // The profile was read before the activation: it is brought up to date here.
    profile.activated_invite_code = result.data.activated_invite_code;
    showMessage(activateStatus, {
      key: "profile.activatedNow",
      params: { code: result.data.activated_invite_code },
    });
    return;
  }
  const refusal = result.data?.code;
  if (refusal === "invite_code_already_activated") {
    profile.activated_invite_code = result.data.activated_invite_code;
    noteInvite("invite.already", { code, activated: result.data.activated_invite_code });
    return;
  }
  if (Object.hasOwn(INVITE_REFUSALS, refusal)) {
    noteInvite(INVITE_REFUSALS[refusal], { code });
    return;
  }
  // Not refused, just not done (no connection, a wait, a busy server): one press retries it.
  activateInput.value = code;
  noteInvite("invite.retry", { code });
  showMessage(activateError, describeError(result));
}

async function loadProfile() {
  clearMessage(error);
  retry.hidden = true;
  loading.hidden = false;
  const [result] = await Promise.all([api(API.profile), loadStats()]);
  if (result.ok) {
    const invite = pendingInvite.load();
    if (invite) await handleInvite(invite, result.data);
    loading.hidden = true;
    render(result.data);
    if (!activateStatus.hidden) activated.focus();
    else if (!activateForm.hidden) activateInput.focus();
    return;
  }
  loading.hidden = true;
  showMessage(error, describeError(result));
  retry.hidden = false;
}

// --- copy ---

function copyWithSelection(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.readOnly = true;
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand("copy");
  } catch {
    copied = false;
  }
  area.remove();
  return copied;
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Permission refused or no user activation: the old way may still work.
    }
  }
  return copyWithSelection(text);
}

function selectContents(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  window.getSelection()?.removeAllRanges();
  window.getSelection()?.addRange(range);
}

/**
 * A copy button for the text of `source`: the button says "copied" for a moment and `status`
 * (a live region) says it to a screen reader; when copying fails the text is selected instead
 * and `status` says how to copy it by hand.
 */
function copyButtonFor({ button, source, status, idleKey, doneKey, copiedKey, failedKey }) {
  let timer = null;
  button.addEventListener("click", async () => {
    const copied = await copyText(source.textContent);
    button.focus();
    clearTimeout(timer);
    status.classList.toggle("visually-hidden", copied);
    if (!copied) {
      selectContents(source);
      setText(status, failedKey);
      return;
    }
    setText(button, doneKey);
    setText(status, copiedKey);
    timer = setTimeout(() => {
      setText(button, idleKey);
      clearText(status);
    }, COPIED_FOR_MS);
  });
}

copyButtonFor({
  button: copyButton,
  source: inviteCode,
  status: copyStatus,
  idleKey: "profile.copy",
  doneKey: "profile.copied",
  copiedKey: "profile.copied",
  failedKey: "profile.copyFailed",
});

copyButtonFor({
  button: byId("copy-share-url"),
  source: shareUrl,
  status: byId("share-status"),
  idleKey: "profile.copyLink",
  doneKey: "profile.copied",
  copiedKey: "profile.linkCopied",
  failedKey: "profile.copyLinkFailed",
});

shareButton.addEventListener("click", async () => {
  try {
    await navigator.share({
      title: t("profile.shareTitle"),
      text: t("profile.shareText"),
      url: shareUrl.textContent,
    });
  } catch {
    // Closed without sharing (AbortError) or refused: nothing to say, the link is on the page.
  }
});

// --- activation ---

/**
 * The code in what was typed or pasted: spaces go before the length limit applies, and a
 * longer text (a message, a link) gives up its one 6-character word, else its first 6.
 */
function inviteCodeIn(text) {
  const compact = text.replace(/\s+/g, "");
  if (compact.length <= INVITE_CODE_LENGTH) return compact;
  const words = text.match(/(?<![A-Za-z0-9])[A-Za-z0-9]{6}(?![A-Za-z0-9])/g);
  return words?.length === 1 ? words[0] : compact.slice(0, INVITE_CODE_LENGTH);
}

// No maxlength on the field: it would cut " VD6QA8 " to " VD6QA" before this could trim it.
activateInput.addEventListener("input", () => {
  const code = inviteCodeIn(activateInput.value);
  if (code !== activateInput.value) activateInput.value = code;
});

function activationFailed(message) {
  showMessage(activateError, message);
  if (activateForm.hidden) {
    activated.focus();
    return;
  }
  markInvalid(activateInput, true);
  activateInput.focus();
}

activateForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearMessage(activateError);
  clearMessage(activateStatus);
  clearMessage(inviteNote);
  markInvalid(activateInput, false);
  const code = activateInput.value.trim();
  if (!INVITE_CODE.test(code)) {
    activationFailed({ key: "err.invalid_invite_code_format" });
    return;
  }
  setBusy(activateSubmit, true, "profile.activateBusy");
  const result = await api(API.activate, { method: "POST", body: { invite_code: code } });
  setBusy(activateSubmit, false);
  if (result.ok) {
    showActivated(result.data.activated_invite_code);
    showMessage(activateStatus, {
      key: "profile.activatedNow",
      params: { code: result.data.activated_invite_code },
    });
    activated.focus();
    return;
  }
  if (result.data?.code === "invite_code_already_activated") {
    showActivated(result.data.activated_invite_code);
  }
  activationFailed(describeError(result));
});

// --- invited users paging ---

showMore.addEventListener("click", async () => {
  clearMessage(error);
  setBusy(showMore, true, "profile.showMoreBusy");
  const result = await api(nextPage);
  setBusy(showMore, false);
  if (!result.ok) {
    showMessage(error, describeError(result));
    return;
  }
  const items = result.data.items.map(invitedItem);
  invitedList.append(...items);
  setNextPage(result.data.next);
  // The button vanishes after the last page; keep keyboard focus in the list rather than losing it.
  if (showMore.hidden && items.length > 0) {
    items[0].tabIndex = -1;
    items[0].focus();
  }
});

// --- the CSV download ---

// A plain link would save whatever the server answers, a 401 body too once the access token has
// expired. The click checks the session first (renewing it the way every call does) and then
// downloads through a link of its own.
csvLink.addEventListener("click", async (event) => {
  event.preventDefault();
  if (csvLink.getAttribute("aria-busy") === "true") return;
  clearMessage(error);
  setBusy(csvLink, true, "profile.downloadBusy");
  const check = await api(`${API.invitedUsers}?limit=1`);
  setBusy(csvLink, false);
  if (!check.ok) {
    showMessage(error, describeError(check));
    return;
  }
  const download = document.createElement("a");
  download.href = csvLink.href;
  download.download = csvLink.getAttribute("download") ?? "";
  download.hidden = true;
  document.body.append(download);
  download.click();
  download.remove();
});

// --- logout ---

logout.addEventListener("click", async () => {
  clearMessage(error);
  setBusy(logout, true, "profile.logoutBusy");
  const result = await api(API.logout, { method: "POST", auth: false });
  if (result.status === 0) {
    setBusy(logout, false);
    showMessage(error, describeError(result));
    return;
  }
  pendingLogin.clear();
  pendingInvite.clear();
  await leaveFor(PAGES.login);
});

retry.addEventListener("click", loadProfile);

await loadProfile();
await initSessions({
  onSignedOut: () => {
    pendingLogin.clear();
    pendingInvite.clear();
  },
});
