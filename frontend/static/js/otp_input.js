import {
  API,
  PAGES,
  api,
  clearMessage,
  clearText,
  describeError,
  formatPhone,
  initPage,
  leaveFor,
  markInvalid,
  pendingLogin,
  setBusy,
  setText,
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
const error = document.getElementById("error");
const status = document.getElementById("status");
const devPanel = document.getElementById("dev-sms");

function setOtpLength(length) {
  login.otpLength = length;
  input.maxLength = length;
  input.minLength = length;
  setText(document.getElementById("otp-hint"), "otp.hint", { length });
}

// --- resend countdown ---

let countdownTimer = null;

function minutesSeconds(totalSeconds) {
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = String(totalSeconds % 60).padStart(2, "0");
  return `${minutes}:${seconds}`;
}

function startCountdown(resendAt) {
  clearInterval(countdownTimer);
  const tick = () => {
    const left = Math.ceil((resendAt - Date.now()) / 1000);
    if (left > 0) {
      resend.disabled = true;
      setText(countdown, "otp.countdown", { time: minutesSeconds(left) });
      return;
    }
    clearInterval(countdownTimer);
    resend.disabled = false;
    clearText(countdown);
  };
  tick();
  countdownTimer = setInterval(tick, 1000);
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

// --- actions ---

function fail(message, { invalid = true } = {}) {
  showMessage(error, message);
  markInvalid(input, invalid);
  input.focus();
}

input.addEventListener("input", () => {
  const digits = input.value.replace(/\D/g, "").slice(0, login.otpLength);
  if (digits !== input.value) input.value = digits;
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearMessage(error);
  clearMessage(status);
  markInvalid(input, false);
  const otp = input.value;
  if (!new RegExp(`^\\d{${login.otpLength}}$`).test(otp)) {
    fail({ key: "err.invalid_otp_format", params: { length: login.otpLength } });
    return;
  }
  setBusy(submit, true);
  // The login_id cookie names the pending login; the phone is a fallback for cookie-less browsers.
  const body = { otp, phone: login.phone };
  const result = await api(API.otpInput, { method: "POST", body, auth: false });
  if (result.ok) {
    pendingLogin.clear();
    await leaveFor(PAGES.profile);
  }
  setBusy(submit, false);
  fail(describeError(result, { length: login.otpLength }), { invalid: result.status !== 0 });
  input.select();
});

resend.addEventListener("click", async () => {
  clearMessage(error);
  clearMessage(status);
  setBusy(resend, true);
  const result = await api(API.numberInput, {
    method: "POST",
    body: { phone: login.phone },
    auth: false,
  });
  setBusy(resend, false);
  if (!result.ok) {
    if (result.retryAfter) startCountdown(pendingLogin.delayResend(result.retryAfter));
    fail(describeError(result), { invalid: false });
    return;
  }
  const sent = pendingLogin.save(result.data);
  setOtpLength(sent.otpLength);
  startCountdown(sent.resendAt);
  devPanel.hidden = true;
  input.value = "";
  input.focus();
  showMessage(status, { key: "otp.resent" });
  pollDevInbox();
});

document.getElementById("sent-to").textContent = formatPhone(login.phone);
setOtpLength(login.otpLength);
startCountdown(login.resendAt);
pollDevInbox();
input.focus();
