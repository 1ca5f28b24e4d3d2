import {
  API,
  PAGES,
  api,
  clearMessage,
  describeError,
  initPage,
  markInvalid,
  pendingLogin,
  setBusy,
  showMessage,
} from "/static/js/common.js";

initPage();

const form = document.getElementById("phone-form");
const input = document.getElementById("phone");
const submit = document.getElementById("phone-submit");
const error = document.getElementById("error");

input.value = pendingLogin.load()?.phone ?? "";

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
  setBusy(submit, true);
  const result = await api(API.numberInput, { method: "POST", body: { phone }, auth: false });
  setBusy(submit, false);
  if (!result.ok) {
    fail(describeError(result));
    return;
  }
  pendingLogin.save(result.data);
  window.location.assign(PAGES.otp);
});
