import {
  API,
  PAGES,
  api,
  clearMessage,
  clearText,
  describeError,
  describeSendError,
  formatPhone,
  initPage,
  leaveFor,
  markInvalid,
  pendingInvite,
  pendingLogin,
  setBusy,
  setText,
  showInviteBanner,
  showMessage,
} from "/static/js/common.js";

// The inbox may lag the send by a moment; a few quick tries, then give up (it is off in production).
const DEV_INBOX_DELAYS_MS = [0, 400, 800, 1600];

initPage();

const login = pendingLogin.load();
if (!login) await leaveFor(PAGES.login);

const form = document.getElementById("otp-form");
const input = document.getElementById("otp");
const submit = document.getElementById("otp-submit");
const resend = document.getElementById("resend");
const countdown = document.getElementById("countdown");
const validity = document.getElementById("otp-validity");
const error = document.getElementById("error");
const status = document.getElementById("status");
const devPanel = document.getElementById("dev-sms");

function setOtpLength(length) {
  login.otpLength = length;
  input.minLength = length;
  setText(document.getElementById("otp-hint"), "otp.hint", { length });
}

/**
 * The code in what was typed or pasted: a run of exactly `length` digits (a whole SMS pasted
 * in), else the digits so far. Only ASCII digits count, as on the server.
 */
function codeIn(text, length) {
  const run = new RegExp(`(?<![0-9])[0-9]{${length}}(?![0-9])`).exec(text);
  return run ? run[0] : text.replace(/[^0-9]/g, "").slice(0, length);
}

// --- simulated SMS (dev inbox) ---

let inboxPoll = 0;
let shownSentAt = null;

function sleep(ms) {
  return new Promise((resolve) => {
    setTimeout(resolve, ms);
  });
}

function showDevSms(sms) {
  shownSentAt = sms.sent_at;
  document.getElementById("dev-sms-code").textContent = sms.code;
  document.getElementById("dev-sms-text").textContent = sms.text ?? "";
  devPanel.hidden = false;
}

/** Shows the simulated SMS when the server's dev inbox is on; waits for a newer one than shown. */
async function pollDevInbox() {
  const poll = ++inboxPoll;
  const url = `${API.devSms}?phone=${encodeURIComponent(login.phone)}`;
  for (const delay of DEV_INBOX_DELAYS_MS) {
    await sleep(delay);
    if (poll !== inboxPoll) return;
    const result = await api(url, { auth: false });
    if (poll !== inboxPoll) return;
    if (result.ok && result.data?.code && result.data.sent_at !== shownSentAt) {
      showDevSms(result.data);
      return;
    }
    // Anything but "no SMS yet" means the inbox is switched off: stop asking.
    if (!result.ok && result.data?.code !== "no_sms") return;
  }
}

// --- the code's life: how long it stays valid, when a new one may be asked for ---

function showValidity(now) {
  const left = Math.ceil((login.expiresAt - now) / 1000);
  if (login.dead || !login.expiresAt || left <= 0) {
    clearMessage(validity);
    return;
  }
  showMessage(validity, { key: "otp.validUntil", params: { until: login.expiresAt, seconds: left } });
}

function showCountdown(now) {
  const left = Math.ceil((login.resendAt - now) / 1000);
  if (left > 0) {
    resend.disabled = true;
    setText(countdown, "otp.countdown", { seconds: left });
    return;
  }
  if (resend.getAttribute("aria-busy") !== "true") resend.disabled = false;
  clearText(countdown);
}

function tick() {
  const now = Date.now();
  if (!login.dead && login.expiresAt && now >= login.expiresAt) codeDied("expired");
  showValidity(now);
  showCountdown(now);
}

/** The code no longer works: its field goes, the reason is said and a new code is offered. */
function codeDied(reason) {
  const focusWasInForm = form.contains(document.activeElement) || document.activeElement === document.body;
  login.dead = reason;
  login.resendAt = 0;
  pendingLogin.markDead(reason);
  input.value = "";
  form.hidden = true;
  devPanel.hidden = true;
  inboxPoll += 1;
  clearMessage(status);
  showMessage(error, { key: "err.otp_expired", params: { reason } });
  resend.classList.replace("secondary", "primary");
  showValidity(Date.now());
  showCountdown(Date.now());
  if (focusWasInForm) resend.focus();
}

function codeLives() {
  login.dead = "";
  form.hidden = false;
  resend.classList.replace("primary", "secondary");
  clearMessage(error);
  markInvalid(input, false);
  input.value = "";
}

// --- actions ---

function fail(message, { invalid = true } = {}) {
  showMessage(error, message);
  if (form.hidden) return;
  markInvalid(input, invalid);
  input.focus();
}

input.addEventListener("input", () => {
  const code = codeIn(input.value, login.otpLength);
  if (code !== input.value) input.value = code;
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearMessage(error);
  clearMessage(status);
  markInvalid(input, false);
  const otp = input.value;
  if (!new RegExp(`^[0-9]{${login.otpLength}}$`).test(otp)) {
    fail({ key: "err.invalid_otp_format", params: { length: login.otpLength } });
    return;
  }
  setBusy(submit, true, "otp.busy");
  // The login_id cookie names the pending login; the phone is a fallback for cookie-less browsers.
  const body = { otp, phone: login.phone };
  const result = await api(API.otpInput, { method: "POST", body, auth: false });
  if (result.ok) {
    pendingLogin.clear();
    // An invite brought by a share link is activated by the profile page, once.
    pendingInvite.signedIn();
    await leaveFor(PAGES.profile);
  }
  setBusy(submit, false);
  if (result.status === 410) {
    codeDied(result.data?.reason ?? "expired");
    return;
  }
  if (result.data?.code === "invalid_otp" && result.data.attempts_left === 0) {
    codeDied("attempts_exhausted");
    return;
  }
  fail(describeError(result, { length: login.otpLength }), { invalid: result.status !== 0 });
  input.select();
});

resend.addEventListener("click", async () => {
  clearMessage(status);
  setBusy(resend, true, "otp.resendBusy");
  const result = await api(API.numberInput, {
    method: "POST",
    body: { phone: login.phone },
    auth: false,
  });
  setBusy(resend, false);
  if (!result.ok) {
    if (result.retryAfter) login.resendAt = pendingLogin.delayResend(result.retryAfter);
    // A refusal to send is a wait, said as one by the countdown under the button.
    if (result.status === 429) {
      showCountdown(Date.now());
      return;
    }
    fail(describeSendError(result), { invalid: false });
    return;
  }
  Object.assign(login, pendingLogin.save(result.data));
  setOtpLength(login.otpLength);
  codeLives();
  tick();
  input.focus();
  showMessage(status, { key: "otp.resent" });
  // The inbox only ever shows the live code: whatever it has now is the new one, even if it was
  // sent within the same second as the one shown before (sent_at counts whole seconds).
  shownSentAt = null;
  pollDevInbox();
});

document.getElementById("sent-to").textContent = formatPhone(login.phone);
showInviteBanner(pendingInvite.load());
setOtpLength(login.otpLength);
if (login.dead) {
  codeDied(login.dead);
} else {
  pollDevInbox();
  input.focus();
}
tick();
setInterval(tick, 1000);
