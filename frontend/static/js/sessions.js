// The profile's "Devices" card: the caller's sessions, ending one, ending all.
import { API, PAGES, api, clearMessage, describeError, leaveFor, setBusy, setText, showMessage } from "/static/js/common.js";

const BROWSERS = [
  [/YaBrowser\//, "Yandex Browser"],
  [/Edg(e|A|iOS)?\//, "Edge"],
  [/OPR\/|Opera/, "Opera"],
  [/SamsungBrowser\//, "Samsung Internet"],
  [/Firefox\/|FxiOS\//, "Firefox"],
  [/Chrome\/|CriOS\//, "Chrome"],
  [/Safari\//, "Safari"],
];
const SYSTEMS = [
  [/Android/, "Android"],
  [/iPhone|iPad|iPod/, "iOS"],
  [/Windows/, "Windows"],
  [/Mac OS X|Macintosh/, "macOS"],
  [/CrOS/, "ChromeOS"],
  [/Linux/, "Linux"],
];

/** "Firefox · Linux" from a User-Agent header; null when it names neither. */
export function deviceName(userAgent) {
  const find = (rules) => rules.find(([pattern]) => pattern.test(userAgent))?.[1];
  const parts = [find(BROWSERS), find(SYSTEMS)].filter(Boolean);
  return parts.length ? parts.join(" · ") : null;
}

const byId = (id) => document.getElementById(id);

function sessionItem(session, onEnd) {
  const item = document.createElement("li");
  item.dataset.sessionId = session.id;
  const about = document.createElement("div");
  about.className = "session-about";
  const name = document.createElement("span");
  name.className = "session-name";
  const known = deviceName(session.user_agent);
  if (known) name.textContent = known;
  else setText(name, "profile.sessionUnknown");
  name.title = session.user_agent;
  about.append(name);
  if (session.current) {
    const badge = document.createElement("span");
    badge.className = "badge";
    setText(badge, "profile.sessionCurrent");
    about.append(" ", badge);
  }
  const times = document.createElement("span");
  times.className = "muted session-times";
  setText(times, "profile.sessionTimes", { created: session.created_at, used: session.last_used_at });
  const end = document.createElement("button");
  end.type = "button";
  end.className = "button secondary small";
  setText(end, "profile.sessionEnd");
  end.setAttribute("aria-describedby", `session-${session.id}`);
  name.id = `session-${session.id}`;
  end.addEventListener("click", () => onEnd(session, end, item));
  item.append(about, times, end);
  return item;
}

/** Fills the card and wires its buttons; `onSignedOut` runs before leaving for the sign-in page. */
export async function initSessions({ onSignedOut }) {
  const list = byId("sessions-list");
  const status = byId("sessions-status");
  const failed = byId("sessions-error");
  const logoutAll = byId("logout-all");

  async function end(session, button, item) {
    clearMessage(failed);
    setBusy(button, true, "profile.sessionEndBusy");
    const result = await api(API.session(session.id), { method: "DELETE" });
    setBusy(button, false);
    if (!result.ok && result.data?.code !== "session_not_found") {
      showMessage(failed, describeError(result));
      return;
    }
    if (session.current) {
      onSignedOut();
      await leaveFor(PAGES.login);
    }
    item.remove();
    showMessage(status, { key: "profile.sessionEnded" });
    logoutAll.focus();
  }

  logoutAll.addEventListener("click", async () => {
    clearMessage(failed);
    setBusy(logoutAll, true, "profile.logoutAllBusy");
    const result = await api(API.logoutAll, { method: "POST" });
    if (!result.ok) {
      setBusy(logoutAll, false);
      showMessage(failed, describeError(result));
      return;
    }
    onSignedOut();
    await leaveFor(PAGES.login);
  });

  const result = await api(API.sessions);
  if (!result.ok) {
    showMessage(failed, { key: "profile.sessionsFailed" });
    return;
  }
  list.replaceChildren(...result.data.items.map((session) => sessionItem(session, end)));
}
