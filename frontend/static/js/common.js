// Shared by every page: translations, the API helper, error wording and small UI helpers.

export const PAGES = Object.freeze({
  login: "/number_input/",
  otp: "/otp_input/",
  profile: "/profile/",
  admin: "/admin/",
});

export const API = Object.freeze({
  numberInput: "/authentication/api_number_input/",
  otpInput: "/authentication/api_otp_input/",
  devSms: "/authentication/api_dev_sms/",
  refresh: "/authentication/api_token_refresh/",
  logout: "/authentication/api_logout/",
  logoutAll: "/authentication/api_logout_all/",
  sessions: "/authentication/api_sessions/",
  /** One of the caller's sessions, to end it with DELETE. */
  session: (id) => `/authentication/api_sessions/${encodeURIComponent(id)}/`,
  profile: "/profile/api_profile/",
  activate: "/referral_system/api_invite_code_activation/",
  invitedUsers: "/referral_system/api_invited_users/",
  invitedCsv: "/referral_system/api_invited_users.csv",
  stats: "/referral_system/api_referral_stats/",
  /** The share link's QR code (an SVG image) for an invite code. */
  qr: (code) => `/i/${encodeURIComponent(code)}/qr.svg`,
  // The operators' API (the admin role only).
  adminUsers: "/admin/api/users/",
  adminUser: (id) => `/admin/api/users/${encodeURIComponent(id)}/`,
  adminBan: (id) => `/admin/api/users/${encodeURIComponent(id)}/ban/`,
  adminUnlock: (phone) => `/admin/api/phones/${encodeURIComponent(phone)}/unlock/`,
  adminStats: "/admin/api/stats/",
  adminAudit: "/admin/api/audit/",
});

const LANGUAGES = ["ru", "en"];
const LANG_KEY = "lang";

function ruPlural(n, one, few, many) {
  const tens = n % 100;
  const units = n % 10;
  if (tens >= 11 && tens <= 14) return many;
  if (units === 1) return one;
  if (units >= 2 && units <= 4) return few;
  return many;
}

/** A wait or a countdown in units: [[42, "s"]], [[1, "min"], [5, "s"]], [[2, "h"], [3, "min"]]. */
function durationParts(seconds) {
  if (seconds < 60) return [[seconds, "s"]];
  if (seconds < 3600) return [[Math.floor(seconds / 60), "min"], [seconds % 60, "s"]].filter(([n]) => n);
  const minutes = Math.ceil(seconds / 60);
  return [[Math.floor(minutes / 60), "h"], [minutes % 60, "min"]].filter(([n]) => n);
}

const UNITS_RU = { s: "с", min: "мин", h: "ч" };

function durationRu(seconds) {
  return durationParts(seconds).map(([n, unit]) => `${n} ${UNITS_RU[unit]}`).join(" ");
}

function durationEn(seconds) {
  return durationParts(seconds).map(([n, unit]) => `${n} ${unit}`).join(" ");
}

/** How long a code stays valid, to the minute (to the second in its last minute). */
function remainingRu(seconds) {
  return seconds < 60 ? `${seconds} с` : `${Math.ceil(seconds / 60)} мин`;
}

function remainingEn(seconds) {
  return seconds < 60 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
}

const OTP_GONE_RU = {
  expired: "Срок действия кода истёк. Запросите новый код — это можно сделать сразу.",
  attempts_exhausted:
    "Код введён неверно слишком много раз и больше не действует. Запросите новый код — это можно сделать сразу.",
  no_pending_login: "Для этого номера нет действующего кода. Запросите новый код.",
};

const OTP_GONE_EN = {
  expired: "This code has expired. Request a new one — you can do it right away.",
  attempts_exhausted:
    "This code was entered wrongly too many times and no longer works. Request a new one — you can do it right away.",
  no_pending_login: "There is no valid code for this number. Request a new one.",
};

function waitRu(seconds) {
  if (!seconds) return "Попробуйте позже.";
  if (seconds < 60) return `Повторите через ${seconds} с.`;
  if (seconds < 3600) return `Повторите через ${Math.ceil(seconds / 60)} мин.`;
  return `Повторите через ${Math.ceil(seconds / 3600)} ч.`;
}

function waitEn(seconds) {
  if (!seconds) return "Please try again later.";
  if (seconds < 60) return `Try again in ${seconds} s.`;
  if (seconds < 3600) return `Try again in ${Math.ceil(seconds / 60)} min.`;
  return `Try again in ${Math.ceil(seconds / 3600)} h.`;
}

const DICTIONARY = {
  ru: {
    "app.name": "Реферальная система",
    "lang.toggle": "English",
    "common.loading": "Загрузка…",
    "common.noscript": "Для работы сайта нужен JavaScript.",
    "common.working": "Подождите…",
    "home.title": "Реферальная система",
    "phone.title": "Вход — Реферальная система",
    "phone.heading": "Вход и регистрация",
    "phone.intro": "Введите номер телефона, и мы пришлём SMS с кодом. Новый аккаунт создаётся автоматически.",
    "phone.label": "Номер телефона",
    "phone.hint": "Например: +7 999 123-45-67, 8 999 123 45 67 или 9991234567",
    "phone.submit": "Получить код",
    "phone.busy": "Отправляем код…",
    "phone.empty": "Введите номер телефона.",
    "otp.title": "Код из SMS — Реферальная система",
    "otp.heading": "Код из SMS",
    "otp.sentTo": "Мы отправили код на номер",
    "otp.changePhone": "Изменить номер",
    "otp.label": "Код подтверждения",
    "otp.hint": (p) => `${p.length} ${ruPlural(p.length, "цифра", "цифры", "цифр")}`,
    "otp.submit": "Войти",
    "otp.busy": "Проверяем код…",
    "otp.resend": "Отправить код ещё раз",
    "otp.resendBusy": "Отправляем код…",
    "otp.countdown": (p) => `Новый код можно запросить через ${durationRu(p.seconds)}`,
    "otp.validUntil": (p) => `Код действует до ${formatTime(p.until)} (осталось ${remainingRu(p.seconds)}).`,
    "otp.resent": "Новый код отправлен.",
    "otp.devTitle": "Симуляция SMS",
    "otp.devNote": "Режим разработки: настоящее SMS не отправлялось, сервер показывает его здесь.",
    "otp.devCode": "Код",
    "profile.title": "Профиль — Реферальная система",
    "profile.heading": "Профиль",
    "profile.id": "ID",
    "profile.phone": "Телефон",
    "profile.inviteHeading": "Ваш инвайт-код",
    "profile.inviteHint": "Поделитесь кодом: друг активирует его в своём профиле и попадёт в ваш список.",
    "profile.copy": "Копировать",
    "profile.copied": "Скопировано",
    "profile.copyFailed": "Не удалось скопировать. Выделите код и нажмите Ctrl+C.",
    "profile.activationHeading": "Активация инвайт-кода",
    "profile.activatedText": "Вы активировали инвайт-код",
    "profile.activateIntro": "Если вас пригласили, введите код пригласившего. Активировать можно только один код.",
    "profile.activateLabel": "Инвайт-код",
    "profile.activateHint": "6 символов: латинские буквы и цифры, регистр важен.",
    "profile.activateSubmit": "Активировать",
    "profile.activateBusy": "Активируем…",
    "profile.activatedNow": (p) => `Готово: инвайт-код ${p.code} активирован.`,
    "profile.invitedHeading": "Приглашённые пользователи",
    "profile.invitedEmpty": "Пока никого. Поделитесь своим кодом!",
    "profile.invitedSummary": (p) =>
      `${p.count} ${ruPlural(p.count, "приглашённый", "приглашённых", "приглашённых")}, последний — ${formatDateTime(p.newest)}.`,
    "profile.reveal": "Показать номер",
    "profile.downloadCsv": "Скачать CSV",
    "invite.banner": "Вас пригласили по коду",
    "invite.bannerHint": "Войдите или зарегистрируйтесь — код активируется сам.",
    "invite.offer": (p) => `Вас пригласили по коду ${p.code}. Нажмите «Активировать», чтобы принять приглашение.`,
    "invite.own": (p) =>
      `Ссылка-приглашение, по которой вы пришли, ведёт на ваш собственный код ${p.code}. Свой код активировать нельзя — поделитесь ссылкой с друзьями.`,
    "invite.cycle": (p) =>
      `Код ${p.code} из ссылки-приглашения принадлежит тому, кого пригласили вы (напрямую или через других), поэтому его нельзя активировать.`,
    "invite.unknown": (p) =>
      `Кода ${p.code} из ссылки-приглашения нет — возможно, в ссылке опечатка. Если вас пригласили, введите код пригласившего ниже.`,
    "invite.already": (p) =>
      p.activated === p.code
        ? `Код ${p.code} из ссылки-приглашения у вас уже активирован.`
        : `Вы пришли по ссылке-приглашению с кодом ${p.code}, но уже активировали код ${p.activated}. Активировать можно только один код.`,
    "invite.retry": (p) =>
      `Код ${p.code} из ссылки-приглашения пока не активирован. Нажмите «Активировать», чтобы попробовать ещё раз.`,
    "profile.shareHeading": "Ссылка-приглашение",
    "profile.shareIntro": "Друг откроет ссылку, войдёт по номеру телефона — и ваш код активируется сам.",
    "profile.shareUrlLabel": "Ваша ссылка",
    "profile.copyLink": "Копировать ссылку",
    "profile.linkCopied": "Ссылка скопирована",
    "profile.copyLinkFailed": "Не удалось скопировать. Ссылка выделена: нажмите Ctrl+C.",
    "profile.share": "Поделиться…",
    "profile.shareTitle": "Приглашение в реферальную систему",
    "profile.shareText": "Присоединяйся по моей ссылке:",
    "profile.qrAlt": "QR-код ссылки-приглашения",
    "profile.qrCaption": "Или покажите QR-код: его можно отсканировать камерой телефона.",
    "profile.statsHeading": "Воронка приглашений",
    "profile.statsVisits": "Переходы по ссылке",
    "profile.statsUnique": "Уникальные посетители",
    "profile.statsActivations": "Активации кода",
    "profile.statsConversion": "Конверсия",
    "profile.statsConversionValue": (p) => formatPercent(p.value),
    "profile.statsHint": "Конверсия — активации кода, делённые на уникальных посетителей ссылки.",
    "profile.statsFailed": "Не удалось загрузить ссылку и статистику.",
    "profile.downloadBusy": "Готовим файл…",
    "profile.showMore": "Показать ещё",
    "profile.showMoreBusy": "Загружаем…",
    "profile.logout": "Выйти",
    "profile.logoutBusy": "Выходим…",
    "profile.sessionsHeading": "Устройства",
    "profile.sessionsIntro": "Где выполнен вход в ваш аккаунт. Завершите сеанс, которого не узнаёте.",
    "profile.sessionsFailed": "Не удалось загрузить список устройств.",
    "profile.sessionCurrent": "это устройство",
    "profile.sessionTimes": (p) => `Вход: ${formatDateTime(p.created)} · активность: ${formatDateTime(p.used)}`,
    "profile.sessionUnknown": "Неизвестное устройство",
    "profile.sessionEnd": "Завершить",
    "profile.sessionEndBusy": "Завершаем…",
    "profile.sessionEnded": "Сеанс завершён: на том устройстве нужно войти заново.",
    "profile.logoutAll": "Выйти на всех устройствах",
    "profile.logoutAllBusy": "Выходим везде…",
    "profile.retry": "Повторить",
    "admin.title": "Консоль оператора — Реферальная система",
    "admin.heading": "Консоль оператора",
    "admin.toProfile": "Профиль",
    "admin.sections": "Разделы консоли",
    "admin.searchHeading": "Пользователи",
    "admin.searchLabel": "Телефон (начало номера) или ID",
    "admin.searchHint": "Например: 999 123 или 42. Пустой запрос — все пользователи, новые первыми.",
    "admin.searchSubmit": "Найти",
    "admin.searchBusy": "Ищем…",
    "admin.searchShown": (p) => `Показано: ${p.count}${p.more ? ", есть ещё" : ""}.`,
    "admin.resultsEmpty": "Никого не нашлось.",
    "admin.more": "Показать ещё",
    "admin.moreBusy": "Загружаем…",
    "admin.colId": "ID",
    "admin.colPhone": "Телефон",
    "admin.colCreated": "Регистрация",
    "admin.colLastLogin": "Последний вход",
    "admin.colInviteCode": "Код",
    "admin.colActivated": "Активировал",
    "admin.colInvited": "Пригласил",
    "admin.colStatus": "Статус",
    "admin.colActions": "Действия",
    "admin.colRank": "№",
    "admin.colWhen": "Когда",
    "admin.colEvent": "Событие",
    "admin.colActor": "Кто",
    "admin.colSubject": "Над кем",
    "admin.colDetail": "Подробности",
    "admin.colIp": "IP (хеш)",
    "admin.open": "Открыть",
    "admin.never": "—",
    "admin.statusActive": "Активен",
    "admin.statusBanned": (p) => (p.until ? `Заблокирован до ${formatDateTime(p.until)}` : "Заблокирован бессрочно"),
    "admin.statusLocked": (p) => `Вход по SMS закрыт до ${formatDateTime(p.until)}`,
    "admin.notBanned": "Нет",
    "admin.notLocked": "Открыт",
    "admin.cardHeading": "Пользователь",
    "admin.cardClose": "Закрыть",
    "admin.cardFailed": "Не удалось загрузить карточку пользователя.",
    "admin.factInviteCode": "Инвайт-код",
    "admin.factActivated": "Активированный код",
    "admin.factInvited": "Приглашено",
    "admin.factSessions": "Активных сеансов",
    "admin.factBan": "Блокировка",
    "admin.factLock": "Вход по SMS",
    "admin.banHeading": "Заблокировать",
    "admin.banReason": "Причина",
    "admin.banUntil": "До (необязательно)",
    "admin.banUntilHint": "Пусто — бессрочно. Время местное.",
    "admin.banSubmit": "Заблокировать",
    "admin.banBusy": "Блокируем…",
    "admin.banReasonEmpty": "Укажите причину блокировки (до 500 символов).",
    "admin.banUntilPast": "Дата окончания блокировки должна быть в будущем.",
    "admin.banSummary": (p) =>
      p.until
        ? `Заблокирован до ${formatDateTime(p.until)}. Причина: ${p.reason}`
        : `Заблокирован бессрочно. Причина: ${p.reason}`,
    "admin.banned": "Пользователь заблокирован: все его сеансы завершены.",
    "admin.unban": "Разблокировать",
    "admin.unbanBusy": "Разблокируем…",
    "admin.unbanned": "Блокировка снята: пользователь снова может войти.",
    "admin.unlockHeading": "Вход по SMS",
    "admin.unlockHint": "Снимает блокировку после неверных кодов и лимиты отправки SMS для этого номера.",
    "admin.unlock": "Снять блокировку номера",
    "admin.unlockBusy": "Снимаем…",
    "admin.unlocked": "Блокировка входа для номера снята.",
    "admin.chainHeading": "Цепочка пригласивших",
    "admin.chainEmpty": "Пользователя никто не приглашал.",
    "admin.inviteesHeading": "Приглашённые",
    "admin.inviteesEmpty": "Никого.",
    "admin.inviteesMore": "Показаны последние приглашённые, не все.",
    "admin.sessionsHeading": "Сеансы",
    "admin.sessionsEmpty": "Нет активных сеансов.",
    "admin.sessionTimes": (p) => `Вход ${formatDateTime(p.created)} · активность ${formatDateTime(p.used)}`,
    "admin.sessionUnknown": "Неизвестное устройство",
    "admin.statsHeading": "Статистика",
    "admin.period": "Период",
    "admin.days7": "7 дней",
    "admin.days30": "30 дней",
    "admin.days90": "90 дней",
    "admin.statsFailed": "Не удалось загрузить статистику.",
    "admin.statsRange": (p) => `С ${formatDate(p.from)} по ${formatDate(p.to)} (UTC).`,
    "admin.sign_ins": "Входы",
    "admin.new_users": "Новые пользователи",
    "admin.otp_sends": "Отправлено SMS",
    "admin.lockouts": "Блокировки входа",
    "admin.activations": "Активации кодов",
    "admin.refused_activations": "Отказы в активации",
    "admin.users": "Всего пользователей",
    "admin.chartLabel": (p) =>
      `${p.name}: всего ${formatCount(p.total)} за ${p.days} дн., больше всего ${formatCount(p.max)} в день`,
    "admin.chartBar": (p) => `${formatDate(p.date)}: ${formatCount(p.value)}`,
    "admin.chartMax": (p) => `макс. ${formatCount(p.max)}`,
    "admin.refusedReasons": (p) => `Причины отказов: ${p.text}.`,
    "admin.topHeading": "Лучшие пригласившие",
    "admin.topEmpty": "Пока никто никого не пригласил.",
    "admin.auditHeading": "Журнал аудита",
    "admin.auditType": "Событие",
    "admin.auditAll": "Все события",
    "admin.auditUser": "ID пользователя",
    "admin.auditSubmit": "Показать",
    "admin.auditBusy": "Загружаем…",
    "admin.auditEmpty": "Записей нет.",
    "admin.auditBadUser": "ID пользователя — целое положительное число.",
    "audit.sign_in.succeeded": "Вход",
    "audit.sign_in.failed": "Неверный код",
    "audit.sign_in.refused": "Вход отклонён",
    "audit.lockout": "Блокировка входа",
    "audit.logout": "Выход",
    "audit.session.revoked": "Сеанс завершён",
    "audit.sessions.revoked_all": "Все сеансы завершены",
    "audit.ban": "Блокировка пользователя",
    "audit.unban": "Разблокировка",
    "audit.unlock": "Снятие блокировки номера",
    "audit.admin.request": "Запрос оператора",
    "audit.activation.succeeded": "Активация кода",
    "audit.activation.refused": "Отказ в активации",
    "err.forbidden": "Эта страница только для операторов.",
    "err.user_banned": (p) =>
      p.banned_until
        ? `Аккаунт заблокирован до ${formatDateTime(p.banned_until)}.`
        : "Аккаунт заблокирован.",
    "err.user_not_found": "Такого пользователя нет.",
    "err.invalid_query": "Введите начало номера телефона или ID: только цифры (можно с +, пробелами, скобками и дефисами).",
    "err.invalid_cursor": "Список устарел. Повторите поиск.",
    "err.invalid_ban": "Дата окончания блокировки должна быть в будущем, причина — от 1 до 500 символов.",
    "err.cannot_ban_self": "Свой собственный аккаунт заблокировать нельзя.",
    "err.invalid_days": "Период — от 1 до 365 дней.",
    "err.invalid_type": "Неизвестный тип события.",
    "err.network": "Нет связи с сервером. Проверьте подключение и попробуйте ещё раз.",
    "err.generic": "Что-то пошло не так. Попробуйте ещё раз.",
    "err.invalid_phone": "Неверный номер. Нужно 10 цифр после +7 или 8, например +7 999 123-45-67.",
    "err.too_many_requests": (p) => `Слишком много попыток. ${waitRu(p.seconds)}`,
    "err.send_wait": (p) =>
      p.seconds ? `Новый код можно запросить через ${durationRu(p.seconds)}.` : "Новый код можно будет запросить чуть позже.",
    "err.invalid_otp_format": (p) => `Введите код из ${p.length} ${ruPlural(p.length, "цифры", "цифр", "цифр")}.`,
    "err.invalid_otp": (p) =>
      p.attempts_left > 0
        ? `Неверный код. Осталось попыток: ${p.attempts_left}.`
        : "Неверный код. Попыток не осталось: запросите новый код.",
    "err.otp_expired": (p) => OTP_GONE_RU[p.reason] ?? OTP_GONE_RU.expired,
    "err.sms_unavailable": "Не удалось отправить SMS. Попробуйте позже.",
    "err.session_not_found": "Этот сеанс уже завершён.",
    "err.not_authenticated": "Сессия истекла. Войдите снова.",
    "err.upstream_unavailable": "Сервис временно недоступен. Попробуйте через минуту.",
    "err.invalid_invite_code_format": "Инвайт-код состоит из 6 латинских букв или цифр.",
    "err.invite_code_not_found": "Такого инвайт-кода нет. Проверьте код и регистр букв.",
    "err.own_invite_code": "Это ваш собственный код, его нельзя активировать.",
    "err.invite_code_already_activated": (p) =>
      `Вы уже активировали код ${p.activated_invite_code}. Активировать можно только один код.`,
    "err.referral_cycle":
      "Этот код принадлежит тому, кого пригласили вы (напрямую или через других): получился бы круг приглашений.",
  },
  en: {
    "app.name": "Referral system",
    "lang.toggle": "Русский",
    "common.loading": "Loading…",
    "common.noscript": "This site needs JavaScript.",
    "common.working": "Please wait…",
    "home.title": "Referral system",
    "phone.title": "Sign in — Referral system",
    "phone.heading": "Sign in or sign up",
    "phone.intro": "Enter your phone number and we will text you a code. New accounts are created automatically.",
    "phone.label": "Phone number",
    "phone.hint": "For example: +7 999 123-45-67, 8 999 123 45 67 or 9991234567",
    "phone.submit": "Get a code",
    "phone.busy": "Sending the code…",
    "phone.empty": "Enter your phone number.",
    "otp.title": "SMS code — Referral system",
    "otp.heading": "Code from the SMS",
    "otp.sentTo": "We sent a code to",
    "otp.changePhone": "Change number",
    "otp.label": "Verification code",
    "otp.hint": (p) => `${p.length} digits`,
    "otp.submit": "Sign in",
    "otp.busy": "Checking the code…",
    "otp.resend": "Send a new code",
    "otp.resendBusy": "Sending the code…",
    "otp.countdown": (p) => `You can request a new code in ${durationEn(p.seconds)}`,
    "otp.validUntil": (p) => `The code is valid until ${formatTime(p.until)} (${remainingEn(p.seconds)} left).`,
    "otp.resent": "A new code has been sent.",
    "otp.devTitle": "Simulated SMS",
    "otp.devNote": "Development mode: no real SMS was sent, the server shows it here.",
    "otp.devCode": "Code",
    "profile.title": "Profile — Referral system",
    "profile.heading": "Profile",
    "profile.id": "ID",
    "profile.phone": "Phone",
    "profile.inviteHeading": "Your invite code",
    "profile.inviteHint": "Share it: a friend activates it in their profile and appears in your list.",
    "profile.copy": "Copy",
    "profile.copied": "Copied",
    "profile.copyFailed": "Could not copy. Select the code and press Ctrl+C.",
    "profile.activationHeading": "Invite code activation",
    "profile.activatedText": "You activated the invite code",
    "profile.activateIntro": "If someone invited you, enter their code. You can activate only one code.",
    "profile.activateLabel": "Invite code",
    "profile.activateHint": "6 characters: Latin letters and digits, case-sensitive.",
    "profile.activateSubmit": "Activate",
    "profile.activateBusy": "Activating…",
    "profile.activatedNow": (p) => `Done: the invite code ${p.code} is activated.`,
    "profile.invitedHeading": "Invited users",
    "profile.invitedEmpty": "Nobody yet. Share your code!",
    "profile.invitedSummary": (p) =>
      `${p.count} invited, the newest on ${formatDateTime(p.newest)}.`,
    "profile.reveal": "Show number",
    "profile.downloadCsv": "Download CSV",
    "invite.banner": "You were invited with the code",
    "invite.bannerHint": "Sign in or sign up and the code is activated for you.",
    "invite.offer": (p) => `You were invited with the code ${p.code}. Press Activate to accept the invitation.`,
    "invite.own": (p) =>
      `The invite link you came by carries your own code ${p.code}. You cannot activate your own code — share the link with friends instead.`,
    "invite.cycle": (p) =>
      `The code ${p.code} from the invite link belongs to someone you invited (directly or through others), so it cannot be activated.`,
    "invite.unknown": (p) =>
      `There is no code ${p.code} — the invite link may be mistyped. If someone invited you, enter their code below.`,
    "invite.already": (p) =>
      p.activated === p.code
        ? `The code ${p.code} from the invite link is already activated for you.`
        : `You came by an invite link with the code ${p.code}, but you have already activated ${p.activated}. Only one code can be activated.`,
    "invite.retry": (p) =>
      `The code ${p.code} from the invite link is not activated yet. Press Activate to try again.`,
    "profile.shareHeading": "Invite link",
    "profile.shareIntro": "A friend opens the link, signs in with a phone number, and your code is activated for them.",
    "profile.shareUrlLabel": "Your link",
    "profile.copyLink": "Copy link",
    "profile.linkCopied": "Link copied",
    "profile.copyLinkFailed": "Could not copy. The link is selected: press Ctrl+C.",
    "profile.share": "Share…",
    "profile.shareTitle": "An invitation to the referral system",
    "profile.shareText": "Join with my link:",
    "profile.qrAlt": "QR code of the invite link",
    "profile.qrCaption": "Or show the QR code: a phone camera can scan it.",
    "profile.statsHeading": "Invitation funnel",
    "profile.statsVisits": "Link visits",
    "profile.statsUnique": "Unique visitors",
    "profile.statsActivations": "Code activations",
    "profile.statsConversion": "Conversion",
    "profile.statsConversionValue": (p) => formatPercent(p.value),
    "profile.statsHint": "Conversion is the code's activations divided by the link's unique visitors.",
    "profile.statsFailed": "Could not load the link and the statistics.",
    "profile.downloadBusy": "Preparing the file…",
    "profile.showMore": "Show more",
    "profile.showMoreBusy": "Loading…",
    "profile.logout": "Log out",
    "profile.logoutBusy": "Logging out…",
    "profile.sessionsHeading": "Devices",
    "profile.sessionsIntro": "Where your account is signed in. End any session you do not recognise.",
    "profile.sessionsFailed": "Could not load your devices.",
    "profile.sessionCurrent": "this device",
    "profile.sessionTimes": (p) => `Signed in ${formatDateTime(p.created)} · active ${formatDateTime(p.used)}`,
    "profile.sessionUnknown": "Unknown device",
    "profile.sessionEnd": "Sign out",
    "profile.sessionEndBusy": "Signing out…",
    "profile.sessionEnded": "Session ended: that device has to sign in again.",
    "profile.logoutAll": "Sign out everywhere",
    "profile.logoutAllBusy": "Signing out everywhere…",
    "profile.retry": "Try again",
    "admin.title": "Operator console — Referral system",
    "admin.heading": "Operator console",
    "admin.toProfile": "Profile",
    "admin.sections": "Console sections",
    "admin.searchHeading": "Users",
    "admin.searchLabel": "Phone (start of the number) or ID",
    "admin.searchHint": "For example: 999 123 or 42. An empty query lists every user, newest first.",
    "admin.searchSubmit": "Search",
    "admin.searchBusy": "Searching…",
    "admin.searchShown": (p) => `Shown: ${p.count}${p.more ? ", more available" : ""}.`,
    "admin.resultsEmpty": "Nobody found.",
    "admin.more": "Show more",
    "admin.moreBusy": "Loading…",
    "admin.colId": "ID",
    "admin.colPhone": "Phone",
    "admin.colCreated": "Signed up",
    "admin.colLastLogin": "Last sign-in",
    "admin.colInviteCode": "Code",
    "admin.colActivated": "Activated",
    "admin.colInvited": "Invited",
    "admin.colStatus": "Status",
    "admin.colActions": "Actions",
    "admin.colRank": "#",
    "admin.colWhen": "When",
    "admin.colEvent": "Event",
    "admin.colActor": "By",
    "admin.colSubject": "About",
    "admin.colDetail": "Details",
    "admin.colIp": "IP (hash)",
    "admin.open": "Open",
    "admin.never": "—",
    "admin.statusActive": "Active",
    "admin.statusBanned": (p) => (p.until ? `Banned until ${formatDateTime(p.until)}` : "Banned indefinitely"),
    "admin.statusLocked": (p) => `SMS sign-in locked until ${formatDateTime(p.until)}`,
    "admin.notBanned": "No",
    "admin.notLocked": "Open",
    "admin.cardHeading": "User",
    "admin.cardClose": "Close",
    "admin.cardFailed": "Could not load the user's card.",
    "admin.factInviteCode": "Invite code",
    "admin.factActivated": "Activated code",
    "admin.factInvited": "Invited",
    "admin.factSessions": "Active sessions",
    "admin.factBan": "Ban",
    "admin.factLock": "SMS sign-in",
    "admin.banHeading": "Ban",
    "admin.banReason": "Reason",
    "admin.banUntil": "Until (optional)",
    "admin.banUntilHint": "Empty means indefinitely. Local time.",
    "admin.banSubmit": "Ban",
    "admin.banBusy": "Banning…",
    "admin.banReasonEmpty": "Give a reason for the ban (up to 500 characters).",
    "admin.banUntilPast": "The ban must end in the future.",
    "admin.banSummary": (p) =>
      p.until
        ? `Banned until ${formatDateTime(p.until)}. Reason: ${p.reason}`
        : `Banned indefinitely. Reason: ${p.reason}`,
    "admin.banned": "The user is banned: all of their sessions have ended.",
    "admin.unban": "Lift the ban",
    "admin.unbanBusy": "Lifting…",
    "admin.unbanned": "The ban is lifted: the user can sign in again.",
    "admin.unlockHeading": "SMS sign-in",
    "admin.unlockHint": "Clears the lockout after wrong codes and the SMS sending limits for this number.",
    "admin.unlock": "Unlock the number",
    "admin.unlockBusy": "Unlocking…",
    "admin.unlocked": "The number's sign-in lockout is cleared.",
    "admin.chainHeading": "Inviter chain",
    "admin.chainEmpty": "Nobody invited this user.",
    "admin.inviteesHeading": "Invitees",
    "admin.inviteesEmpty": "Nobody.",
    "admin.inviteesMore": "The newest invitees are shown, not all of them.",
    "admin.sessionsHeading": "Sessions",
    "admin.sessionsEmpty": "No active sessions.",
    "admin.sessionTimes": (p) => `Signed in ${formatDateTime(p.created)} · active ${formatDateTime(p.used)}`,
    "admin.sessionUnknown": "Unknown device",
    "admin.statsHeading": "Statistics",
    "admin.period": "Period",
    "admin.days7": "7 days",
    "admin.days30": "30 days",
    "admin.days90": "90 days",
    "admin.statsFailed": "Could not load the statistics.",
    "admin.statsRange": (p) => `From ${formatDate(p.from)} to ${formatDate(p.to)} (UTC).`,
    "admin.sign_ins": "Sign-ins",
    "admin.new_users": "New users",
    "admin.otp_sends": "SMS sent",
    "admin.lockouts": "Sign-in lockouts",
    "admin.activations": "Code activations",
    "admin.refused_activations": "Refused activations",
    "admin.users": "Users in all",
    "admin.chartLabel": (p) =>
      `${p.name}: ${formatCount(p.total)} in ${p.days} days, at most ${formatCount(p.max)} a day`,
    "admin.chartBar": (p) => `${formatDate(p.date)}: ${formatCount(p.value)}`,
    "admin.chartMax": (p) => `max ${formatCount(p.max)}`,
    "admin.refusedReasons": (p) => `Refusal reasons: ${p.text}.`,
    "admin.topHeading": "Top inviters",
    "admin.topEmpty": "Nobody has invited anyone yet.",
    "admin.auditHeading": "Audit log",
    "admin.auditType": "Event",
    "admin.auditAll": "All events",
    "admin.auditUser": "User ID",
    "admin.auditSubmit": "Show",
    "admin.auditBusy": "Loading…",
    "admin.auditEmpty": "No entries.",
    "admin.auditBadUser": "A user ID is a positive whole number.",
    "audit.sign_in.succeeded": "Sign-in",
    "audit.sign_in.failed": "Wrong code",
    "audit.sign_in.refused": "Sign-in refused",
    "audit.lockout": "Sign-in lockout",
    "audit.logout": "Logout",
    "audit.session.revoked": "Session ended",
    "audit.sessions.revoked_all": "All sessions ended",
    "audit.ban": "User banned",
    "audit.unban": "Ban lifted",
    "audit.unlock": "Number unlocked",
    "audit.admin.request": "Operator request",
    "audit.activation.succeeded": "Code activated",
    "audit.activation.refused": "Activation refused",
    "err.forbidden": "This page is for operators only.",
    "err.user_banned": (p) =>
      p.banned_until ? `This account is banned until ${formatDateTime(p.banned_until)}.` : "This account is banned.",
    "err.user_not_found": "There is no such user.",
    "err.invalid_query": "Enter the start of a phone number or an ID: digits only (+, spaces, brackets and dashes are fine).",
    "err.invalid_cursor": "The list is out of date. Search again.",
    "err.invalid_ban": "The ban must end in the future and its reason have 1 to 500 characters.",
    "err.cannot_ban_self": "You cannot ban your own account.",
    "err.invalid_days": "The period is 1 to 365 days.",
    "err.invalid_type": "Unknown event type.",
    "err.network": "Cannot reach the server. Check your connection and try again.",
    "err.generic": "Something went wrong. Please try again.",
    "err.invalid_phone": "Invalid number: it needs 10 digits after +7 or 8, e.g. +7 999 123-45-67.",
    "err.too_many_requests": (p) => `Too many attempts. ${waitEn(p.seconds)}`,
    "err.send_wait": (p) =>
      p.seconds ? `You can request a new code in ${durationEn(p.seconds)}.` : "You can request a new code a little later.",
    "err.invalid_otp_format": (p) => `Enter the ${p.length}-digit code.`,
    "err.invalid_otp": (p) =>
      p.attempts_left > 0
        ? `Wrong code. Attempts left: ${p.attempts_left}.`
        : "Wrong code. No attempts left: request a new code.",
    "err.otp_expired": (p) => OTP_GONE_EN[p.reason] ?? OTP_GONE_EN.expired,
    "err.sms_unavailable": "The SMS could not be sent. Please try again later.",
    "err.session_not_found": "That session has ended already.",
    "err.not_authenticated": "Your session has expired. Please sign in again.",
    "err.upstream_unavailable": "The service is temporarily unavailable. Try again in a minute.",
    "err.invalid_invite_code_format": "An invite code is 6 Latin letters or digits.",
    "err.invite_code_not_found": "There is no such invite code. Check it, including upper and lower case.",
    "err.own_invite_code": "That is your own code; you cannot activate it.",
    "err.invite_code_already_activated": (p) =>
      `You have already activated the code ${p.activated_invite_code}. Only one code can be activated.`,
    "err.referral_cycle":
      "This code belongs to someone you invited (directly or through others): that would make a referral loop.",
  },
};

// Storage can throw (disabled cookies, some private modes); the pages must still work without it.
function storageGet(storage, key) {
  try {
    return window[storage].getItem(key);
  } catch {
    return null;
  }
}

function storageSet(storage, key, value) {
  try {
    window[storage].setItem(key, value);
  } catch {
    // Nothing to do: the value just does not survive a reload.
  }
}

function storageRemove(storage, key) {
  try {
    window[storage].removeItem(key);
  } catch {
    // Same as above.
  }
}

/** The first of the browser's preferred languages that the pages speak; Russian otherwise. */
function browserLanguage() {
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const tag of preferred) {
    const primary = String(tag ?? "").toLowerCase().split("-")[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return "ru";
}

// A switch made on an earlier visit wins over the browser's preference.
const savedLang = storageGet("localStorage", LANG_KEY);
let lang = LANGUAGES.includes(savedLang) ? savedLang : browserLanguage();

export function t(key, params = {}) {
  const entry = DICTIONARY[lang][key] ?? DICTIONARY.ru[key] ?? key;
  return typeof entry === "function" ? entry(params) : entry;
}

/** Sets translated text and remembers the key so a language switch can redraw it. */
export function setText(element, key, params) {
  element.dataset.i18n = key;
  if (params) element.dataset.i18nArgs = JSON.stringify(params);
  else delete element.dataset.i18nArgs;
  element.textContent = t(key, params);
}

export function formatDateTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const locale = lang === "ru" ? "ru-RU" : "en-GB";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(date);
}

/** A moment (ms since the epoch) as a time of day: `14:35`, `2:35 PM`. */
export function formatTime(ms) {
  const locale = lang === "ru" ? "ru-RU" : "en-US";
  return new Intl.DateTimeFormat(locale, { timeStyle: "short" }).format(new Date(ms));
}

/** A UTC calendar day (`2025-03-14`) in words: `14 мар. 2025 г.`, `14 Mar 2025`. */
export function formatDate(day) {
  const date = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return day;
  const locale = lang === "ru" ? "ru-RU" : "en-GB";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" }).format(date);
}

/** A share of one as a percentage (`0.5` → `50 %` / `50%`); "—" when there is none. */
export function formatPercent(value) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return "—";
  const locale = lang === "ru" ? "ru-RU" : "en-GB";
  return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(Number(value));
}

/** A count with the language's digit grouping: `12 345`, `12,345`. */
export function formatCount(value) {
  return new Intl.NumberFormat(lang === "ru" ? "ru-RU" : "en-GB").format(Number(value) || 0);
}

function applyLanguage() {
  document.documentElement.lang = lang;
  for (const element of document.querySelectorAll("[data-i18n]")) {
    const args = element.dataset.i18nArgs;
    element.textContent = t(element.dataset.i18n, args ? JSON.parse(args) : undefined);
  }
  for (const element of document.querySelectorAll("[data-i18n-alt]")) {
    element.alt = t(element.dataset.i18nAlt);
  }
  for (const element of document.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  }
  for (const element of document.querySelectorAll("[data-count]")) {
    element.textContent = formatCount(element.dataset.count);
  }
  for (const time of document.querySelectorAll("time[datetime]")) {
    time.textContent = formatDateTime(time.dateTime);
  }
  const toggle = document.getElementById("lang-toggle");
  if (toggle) toggle.lang = lang === "ru" ? "en" : "ru";
}

/**
 * Applies the saved language and wires the language switch; every page script calls it first.
 * `onLanguage` runs after each switch, for what a page draws itself (charts, labels).
 */
export function initPage({ onLanguage } = {}) {
  applyLanguage();
  document.getElementById("lang-toggle")?.addEventListener("click", () => {
    lang = lang === "ru" ? "en" : "ru";
    storageSet("localStorage", LANG_KEY, lang);
    applyLanguage();
    onLanguage?.();
  });
}

// --- API ---------------------------------------------------------------------------------

async function readJson(response) {
  if (!(response.headers.get("Content-Type") ?? "").includes("json")) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

function retryAfterSeconds(response, data) {
  const fromBody = Number(data?.retry_after);
  if (Number.isFinite(fromBody) && fromBody > 0) return Math.ceil(fromBody);
  const fromHeader = Number(response.headers.get("Retry-After"));
  return Number.isFinite(fromHeader) && fromHeader > 0 ? Math.ceil(fromHeader) : null;
}

async function send(path, method, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") {
    // State changes are JSON-only on the server (CSRF defence), even when there is nothing to send.
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, data: null, retryAfter: null };
  }
  const data = await readJson(response);
  return { ok: response.ok, status: response.status, data, retryAfter: retryAfterSeconds(response, data) };
}

let refreshing = null;

function refreshSession() {
  // Parallel 401s share one refresh: refresh tokens rotate, so a second use would revoke the login.
  if (!refreshing) {
    refreshing = send(API.refresh, "POST").then((result) => result.ok);
    refreshing.finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/** Navigates away; the promise never settles, so callers simply stop where they are. */
export function leaveFor(url) {
  window.location.replace(url);
  return new Promise(() => {});
}

/**
 * Calls the API with JSON and the session cookies. Resolves to {ok, status, data, retryAfter};
 * status 0 means the server could not be reached. With `auth` (the default) a 401 triggers one
 * silent token refresh and one retry; a second 401 sends the browser to the login page.
 */
export async function api(path, { method = "GET", body, auth = true } = {}) {
  let result = await send(path, method, body);
  if (!auth || result.status !== 401) return result;
  if (await refreshSession()) result = await send(path, method, body);
  if (result.status === 401) return leaveFor(PAGES.login);
  return result;
}

/**
 * Whether the browser holds a live session, refreshing an expired access token once (the
 * cookies are HttpOnly: only the server can tell). null when the server cannot be reached.
 */
export async function hasSession() {
  let result = await send(API.profile, "GET");
  if (result.status === 401 && (await refreshSession())) result = await send(API.profile, "GET");
  return result.status === 0 ? null : result.ok;
}

/** The words for a failed call: {key, params} for `showMessage`. */
export function describeError(result, extra = {}) {
  if (result.status === 0) return { key: "err.network" };
  const code = result.data?.code;
  const key = `err.${code}`;
  if (!code || !Object.hasOwn(DICTIONARY.ru, key)) return { key: "err.generic" };
  if (typeof DICTIONARY.ru[key] !== "function") return { key };
  const params = {
    ...extra,
    seconds: result.retryAfter ?? undefined,
    attempts_left: result.data.attempts_left,
    activated_invite_code: result.data.activated_invite_code,
    reason: result.data.reason,
    banned_until: result.data.banned_until,
  };
  return { key, params };
}

/** Like `describeError`, for asking for a code: a refusal says when a new code can be had. */
export function describeSendError(result) {
  if (result.status !== 429) return describeError(result);
  return { key: "err.send_wait", params: { seconds: result.retryAfter ?? undefined } };
}

// --- UI helpers --------------------------------------------------------------------------

export function showMessage(element, { key, params }) {
  setText(element, key, params);
  element.hidden = false;
}

export function clearText(element) {
  delete element.dataset.i18n;
  delete element.dataset.i18nArgs;
  element.textContent = "";
}

export function clearMessage(element) {
  clearText(element);
  element.hidden = true;
}

const focusBeforeBusy = new WeakSet();

/**
 * While its request runs a button is disabled, marked aria-busy and says `busyKey`; after, it
 * says its own words again and a keyboard user's focus comes back to it.
 */
export function setBusy(button, busy, busyKey = "common.working") {
  const wasBusy = button.getAttribute("aria-busy") === "true";
  if (busy && document.activeElement === button) focusBeforeBusy.add(button);
  if (busy && !wasBusy) {
    button.dataset.idleKey = button.dataset.i18n ?? "";
    setText(button, busyKey);
  } else if (!busy && wasBusy) {
    const idleKey = button.dataset.idleKey;
    delete button.dataset.idleKey;
    if (idleKey) setText(button, idleKey);
  }
  button.disabled = busy;
  button.setAttribute("aria-busy", String(busy));
  if (busy || !focusBeforeBusy.delete(button)) return;
  // Disabling drops focus to <body>; only take it back if nothing else claimed it meanwhile.
  if (document.activeElement === document.body && !button.hidden) button.focus();
}

export function markInvalid(input, invalid) {
  if (invalid) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/** `9991234567` → `+7 999 123-45-67`; anything else is shown as it came. */
export function formatPhone(phone) {
  const match = /^(\d{3})(\d{3})(\d{2})(\d{2})$/.exec(phone ?? "");
  return match ? `+7 ${match[1]} ${match[2]}-${match[3]}-${match[4]}` : String(phone ?? "");
}

/** `9991234567` → `+7 999 ***-**-67`: enough to recognise, not enough to read over a shoulder. */
export function maskPhone(phone) {
  const match = /^(\d{3})\d{5}(\d{2})$/.exec(phone ?? "");
  return match ? `+7 ${match[1]} ***-**-${match[2]}` : "***";
}

// --- The login in progress, handed from /number_input/ to /otp_input/ ----------------------

const PENDING = {
  phone: "login.phone",
  otpLength: "login.otpLength",
  resendAt: "login.resendAt",
  expiresAt: "login.expiresAt",
  dead: "login.dead",
};
const DEFAULT_OTP_LENGTH = 4;

export const pendingLogin = {
  /** Stores the answer of POST api_number_input and returns what `load` would. */
  save({
    phone,
    otp_length: otpLength = DEFAULT_OTP_LENGTH,
    resend_in: resendIn = 0,
    expires_in: expiresIn = 0,
  }) {
    const now = Date.now();
    const login = {
      phone,
      otpLength,
      resendAt: now + resendIn * 1000,
      // Counted from the answer's arrival, so the page never thinks a code lives longer than it does.
      expiresAt: expiresIn > 0 ? now + expiresIn * 1000 : 0,
      dead: "",
    };
    storageSet("sessionStorage", PENDING.phone, phone);
    storageSet("sessionStorage", PENDING.otpLength, String(otpLength));
    storageSet("sessionStorage", PENDING.resendAt, String(login.resendAt));
    storageSet("sessionStorage", PENDING.expiresAt, String(login.expiresAt));
    storageRemove("sessionStorage", PENDING.dead);
    return login;
  },
  /** Remembers that the code no longer works, and why; a new one may be asked for at once. */
  markDead(reason) {
    storageSet("sessionStorage", PENDING.dead, reason);
    storageSet("sessionStorage", PENDING.resendAt, "0");
  },
  /** Pushes the next allowed resend `seconds` into the future and returns that moment. */
  delayResend(seconds) {
    const resendAt = Date.now() + seconds * 1000;
    storageSet("sessionStorage", PENDING.resendAt, String(resendAt));
    return resendAt;
  },
  load() {
    const phone = storageGet("sessionStorage", PENDING.phone);
    if (!phone) return null;
    const otpLength = Number(storageGet("sessionStorage", PENDING.otpLength));
    return {
      phone,
      otpLength: Number.isInteger(otpLength) && otpLength > 0 ? otpLength : DEFAULT_OTP_LENGTH,
      resendAt: Number(storageGet("sessionStorage", PENDING.resendAt)) || 0,
      expiresAt: Number(storageGet("sessionStorage", PENDING.expiresAt)) || 0,
      dead: storageGet("sessionStorage", PENDING.dead) ?? "",
    };
  },
  clear() {
    for (const key of Object.values(PENDING)) storageRemove("sessionStorage", key);
  },
};

// --- The invite a share link brought, kept from /number_input/ through sign-in to /profile/ ---

const INVITE = {
  code: "invite.code",
  // "" while signing in; "apply" once signed in through the pages (the profile activates it);
  // "offer" for a visitor who was signed in already (the profile offers it).
  mode: "invite.mode",
};
const INVITE_CODE_SHAPE = /^[A-Za-z0-9]{6}$/;

/** An invite code from a URL or a paste: surrounding spaces go; anything not of the shape is null. */
export function normaliseInviteCode(text) {
  const code = String(text ?? "").trim();
  return INVITE_CODE_SHAPE.test(code) ? code : null;
}

export const pendingInvite = {
  /**
   * Keeps the `?invite=` of this page's URL when it has the shape of a code (it is only ever
   * shown as text); returns the invite kept now, from this URL or from before, or null.
   */
  fromUrl() {
    const raw = new URLSearchParams(window.location.search).get("invite");
    const code = raw === null ? null : normaliseInviteCode(raw);
    if (code) {
      storageSet("sessionStorage", INVITE.code, code);
      storageRemove("sessionStorage", INVITE.mode);
    }
    return this.load();
  },
  load() {
    const code = normaliseInviteCode(storageGet("sessionStorage", INVITE.code));
    if (!code) return null;
    return { code, mode: storageGet("sessionStorage", INVITE.mode) ?? "" };
  },
  /** The sign-in through the pages succeeded: the profile is to activate the invite. */
  signedIn() {
    if (this.load()) storageSet("sessionStorage", INVITE.mode, "apply");
  },
  /** The visitor was signed in already: the profile is to offer the invite. */
  offer() {
    if (this.load()) storageSet("sessionStorage", INVITE.mode, "offer");
  },
  /** An invite is used once: after the profile has dealt with it, it is forgotten. */
  clear() {
    for (const key of Object.values(INVITE)) storageRemove("sessionStorage", key);
  },
};

/** Shows the page's "you were invited" banner with the code, as text. */
export function showInviteBanner(invite) {
  const banner = document.getElementById("invite-banner");
  if (!banner || !invite) return;
  document.getElementById("invite-banner-code").textContent = invite.code;
  banner.hidden = false;
}
