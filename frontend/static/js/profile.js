import {
  API,
  PAGES,
  api,
  clearMessage,
  clearText,
  describeError,
  formatDateTime,
  formatPhone,
  initPage,
  leaveFor,
  markInvalid,
  maskPhone,
  pendingLogin,
  setBusy,
  setText,
  showMessage,
} from "/static/js/common.js";

const INVITE_CODE = /^[A-Za-z0-9]{6}$/;
const INVITE_CODE_LENGTH = 6;
const COPIED_FOR_MS = 2000;

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

async function loadProfile() {
  clearMessage(error);
  retry.hidden = true;
  loading.hidden = false;
  const result = await api(API.profile);
  loading.hidden = true;
  if (result.ok) {
    render(result.data);
    if (!activateForm.hidden) activateInput.focus();
    return;
  }
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

function selectInviteCode() {
  const range = document.createRange();
  range.selectNodeContents(inviteCode);
  window.getSelection()?.removeAllRanges();
  window.getSelection()?.addRange(range);
}

let copiedTimer = null;

copyButton.addEventListener("click", async () => {
  const copied = await copyText(inviteCode.textContent);
  copyButton.focus();
  clearTimeout(copiedTimer);
  copyStatus.classList.toggle("visually-hidden", copied);
  if (!copied) {
    selectInviteCode();
    setText(copyStatus, "profile.copyFailed");
    return;
  }
  setText(copyButton, "profile.copied");
  setText(copyStatus, "profile.copied");
  copiedTimer = setTimeout(() => {
    setText(copyButton, "profile.copy");
    clearText(copyStatus);
  }, COPIED_FOR_MS);
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
  await leaveFor(PAGES.login);
});

retry.addEventListener("click", loadProfile);

await loadProfile();
