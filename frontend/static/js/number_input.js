import {
  API,
  PAGES,
  api,
  clearMessage,
  describeSendError,
  hasSession,
  initPage,
  leaveFor,
  markInvalid,
  pendingInvite,
  pendingLogin,
  setBusy,
  showInviteBanner,
  showMessage,
} from "/static/js/common.js";

initPage();

// A share link brings `?invite=CODE`: kept for the sign-in, and activated after it.
const invite = pendingInvite.fromUrl();

// A signed-in visitor has nothing to do here; the form stays hidden until that is known. An
// invite they came with is offered on the profile.
if (await hasSession()) {
  pendingInvite.offer();
  await leaveFor(PAGES.profile);
}

const form = document.getElementById("phone-form");
const input = document.getElementById("phone");
const submit = document.getElementById("phone-submit");
const error = document.getElementById("error");

input.value = pendingLogin.load()?.phone ?? "";
showInviteBanner(invite);
document.getElementById("checking").hidden = true;
document.getElementById("login-card").hidden = false;
input.focus();

function fail(message) {
  showMessage(error, message);
  markInvalid(input, true);
  input.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearMessage(error);
  markInvalid(input, false);
  const phone = input.value.trim();
  if (!phone) {
    fail({ key: "phone.empty" });
    return;
  }
  setBusy(submit, true, "phone.busy");
  const result = await api(API.numberInput, { method: "POST", body: { phone }, auth: false });
  setBusy(submit, false);
  if (!result.ok) {
    fail(describeSendError(result));
    return;
  }
  pendingLogin.save(result.data);
  window.location.assign(PAGES.otp);
});
