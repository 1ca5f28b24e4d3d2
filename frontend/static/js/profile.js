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
  pendingLogin,
  setBusy,
  setText,
  showMessage,
} from "/static/js/common.js";

const INVITE_CODE = /^[A-Za-z0-9]{6}$/;
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

function invitedItem(user) {
  const item = document.createElement("li");
  item.dataset.phone = user.phone;
  const phone = document.createElement("span");
  phone.className = "person-phone";
  phone.textContent = formatPhone(user.phone);
  const date = document.createElement("time");
  date.dateTime = user.activated_at;
  date.textContent = formatDateTime(user.activated_at);
  item.append(phone, date);
  return item;
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
  markInvalid(activateInput, false);
  const code = activateInput.value.trim();
  if (!INVITE_CODE.test(code)) {
    activationFailed({ key: "err.invalid_invite_code_format" });
    return;
  }
  setBusy(activateSubmit, true);
  const result = await api(API.activate, { method: "POST", body: { invite_code: code } });
  setBusy(activateSubmit, false);
  if (result.ok) {
    showActivated(result.data.activated_invite_code);
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
  setBusy(showMore, true);
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
  setBusy(logout, true);
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
