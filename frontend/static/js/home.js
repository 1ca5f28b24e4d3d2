import { API, PAGES, api, describeError, initPage, leaveFor, showMessage } from "/static/js/common.js";

initPage();
// `api` refreshes an expired access token once and leaves for the login page when that fails.
const result = await api(API.profile);
if (result.status === 0) {
  document.querySelector(".loading").hidden = true;
  showMessage(document.getElementById("error"), describeError(result));
} else {
  await leaveFor(result.ok ? PAGES.profile : PAGES.login);
}
