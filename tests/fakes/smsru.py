"""SMS.RU faked at the HTTP boundary, answering in its API's documented shapes (providers.md, sms.ru/api):
form POSTs with api_id and json=1, HTTP 200 for every answer, `status`/`status_code` at the top and per message."""
import hashlib
import re
from urllib.parse import parse_qsl, urlsplit

from b24sms.rules.segments import segments
from tests.fakes.service import Answer, FakeService, Request, failure, reply

SMSRU = "https://sms.ru/"
API_ID = "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"

STATUS_WORDS = {-1: "Сообщение не найдено", 100: "Сообщение находится в нашей очереди",
                101: "Сообщение передается оператору", 102: "Сообщение отправлено (в пути)",
                103: "Сообщение доставлено", 104: "Не может быть доставлено: время жизни истекло",
                105: "Не может быть доставлено: удалено оператором", 106: "Не может быть доставлено: сбой в телефоне",
                107: "Не может быть доставлено: неизвестная причина", 108: "Не может быть доставлено: отклонено",
                110: "Сообщение прочитано", 150: "Не может быть доставлено: не найден маршрут на данный номер"}
ERROR_WORDS = {200: "Неправильный api_id", 201: "Не хватает средств на лицевом счету",
               202: "Неправильно указан номер телефона получателя, либо на него нет маршрута",
               203: "Нет текста сообщения", 204: "Имя отправителя не согласовано с администрацией",
               205: "Сообщение слишком длинное (превышает 8 СМС)",
               206: "Будет превышен или уже превышен дневной лимит на отправку сообщений",
               207: "На этот номер нет маршрута для доставки сообщений", 208: "Параметр time указан неправильно",
               209: "Вы добавили этот номер (или один из номеров) в стоп-лист",
               210: "Используется GET, где необходимо использовать POST", 211: "Метод не найден",
               212: "Текст сообщения необходимо передать в кодировке UTF-8",
               213: "Указано более 100 номеров в списке получателей",
               214: "Номер находится зарубежом (включена настройка \"Отправлять только на номера РФ\")",
               215: "Этот номер находится в стоп-листе SMS.RU (от получателя поступала жалоба на спам)",
               216: "В тексте сообщения содержится запрещенное слово",
               220: "Сервис временно недоступен, попробуйте чуть позже",
               230: "Превышен общий лимит количества сообщений на этот номер в день",
               231: "Превышен лимит одинаковых сообщений на этот номер в минуту",
               232: "Превышен лимит одинаковых сообщений на этот номер в день",
               233: "Превышен лимит отправки повторных сообщений с кодом на этот номер "
                    "за короткий промежуток времени",
               300: "Неправильный token (возможно истек срок действия, либо ваш IP изменился)",
               301: "Неправильный api_id, либо логин/пароль",
               302: "Пользователь авторизован, но аккаунт не подтвержден",
               500: "Ошибка на сервере. Повторите запрос.", 901: "Callback: URL неверный (не начинается на http://)",
               902: "Callback: Обработчик не найден (возможно был удален ранее)"}


def error(code):
    return {"status": "ERROR", "status_code": code, "status_text": ERROR_WORDS.get(code, "Неизвестная ошибка")}


class FakeSmsRu(FakeService):
    """One SMS.RU account. Like SMS.RU it takes no client id: a repeated send is a second message."""

    def __init__(self, base=SMSRU):
        super().__init__()
        self.api_id, self.balance = API_ID, 4122.56
        self.sent = []  # {"sms_id", "to", "text", "from"} of every message that went out
        self.statuses = {}  # sms_id -> status code
        self.requests = []  # (method path, form without api_id)
        self.request_errors = []  # codes to refuse the next sms/send requests with (the whole request)
        self.refused_numbers = {}  # number -> code: refused inside `sms` while the request stays OK
        self.fail_next = []  # HTTP statuses (or exceptions such as requests.Timeout) instead of an answer
        self.broken = {}  # method path -> HTTP status (or exception) it answers every time
        self.senders = ["SHOP"]
        self.callbacks = []  # the account's handler URLs (callback/get)
        self.counter = 10_000_000
        self.price = 0.5  # roubles a segment (sms/send answers `cost` per number)
        self.routes = [("POST", re.compile(re.escape(base) + r"\w+/\w+"))]

    @property
    def paths(self):
        return [path for path, _ in self.requests]

    def answer(self, request: Request) -> Answer:
        path = urlsplit(request.url).path.lstrip("/")
        form = dict(parse_qsl(request.body or "", keep_blank_values=True))
        api_id = form.pop("api_id", None)
        self.requests.append((path, form))
        if self.fail_next or path in self.broken:
            return failure(self.fail_next.pop(0) if self.fail_next else self.broken[path])
        if form.get("json") != "1":
            return 200, {"Content-Type": "text/plain"}, "100\n"  # the plain-lines answer
        if api_id != self.api_id:
            return reply(200, error(200))
        handler = {"sms/send": self._send, "sms/status": self._status, "my/senders": self._senders,
                   "my/balance": lambda form: reply(200, {"status": "OK", "status_code": 100,
                                                          "balance": self.balance}),
                   "auth/check": lambda form: reply(200, {"status": "OK", "status_code": 100}),
                   "callback/get": lambda form: self._callbacks(),
                   "callback/add": self._add_callback}.get(path)
        return handler(form) if handler else reply(200, error(211))

    def _send(self, form):
        if self.request_errors:
            return reply(200, error(self.request_errors.pop(0)))
        if "to" in form:
            texts = {number: form.get("msg", "") for number in form["to"].split(",")}
        else:
            texts = {key[3:-1]: value for key, value in form.items() if key.startswith("to[")}
        if len(texts) > 100:
            return reply(200, error(213))
        sms = {}
        for number, text in texts.items():
            code = self.refused_numbers.get(number) or (202 if not re.fullmatch(r"\d{11,15}", number) else None)
            code = code or (203 if not text else None)
            if code:
                sms[number] = {"status": "ERROR", "status_code": code, "status_text": ERROR_WORDS[code]}
                continue
            self.counter += 1
            sms_id = f"{self.counter // 10_000_000:06d}-{self.counter}"
            self.sent.append({"sms_id": sms_id, "to": number, "text": text, "from": form.get("from")})
            self.statuses[sms_id] = 100
            parts = segments(text)  # SMS.RU bills per segment: `sms` of them at `cost` for this number
            sms[number] = {"status": "OK", "status_code": 100, "sms_id": sms_id, "cost": self.price * parts,
                           "sms": parts}
        return reply(200, {"status": "OK", "status_code": 100, "sms": sms, "balance": self.balance})

    def _status(self, form):
        sms = {}
        for sms_id in form.get("sms_id", "").split(","):
            code = self.statuses.get(sms_id)
            if code is None:
                sms[sms_id] = {"status": "ERROR", "status_code": -1, "status_text": STATUS_WORDS[-1]}
            else:
                sms[sms_id] = {"status": "OK", "status_code": code, "cost": 0.5,
                               "status_text": STATUS_WORDS.get(code, "")}
        return reply(200, {"status": "OK", "status_code": 100, "sms": sms, "balance": self.balance})

    def _senders(self, form):
        return reply(200, {"status": "OK", "status_code": 100, "senders": self.senders})

    def _callbacks(self):
        return reply(200, {"status": "OK", "status_code": 100, "callback": self.callbacks})

    def _add_callback(self, form):
        if not form.get("url", "").startswith("http"):
            return reply(200, error(901))
        if form["url"] not in self.callbacks:
            self.callbacks.append(form["url"])
        return self._callbacks()

    def receipt(self, *entries, api_id=None, indexed=False):
        """The form SMS.RU posts to a handler: `data[]` entries ("sms_status\\n<id>\\n<code>\\n<time>") and
        `hash` = sha256(api_id + the entries). Pass (sms_id, code) pairs or ready entries."""
        lines = [entry if isinstance(entry, str) else f"sms_status\n{entry[0]}\n{entry[1]}\n1763892000"
                 for entry in entries]
        signed = hashlib.sha256(((api_id or self.api_id) + "".join(lines)).encode()).hexdigest()
        names = [f"data[{n}]" if indexed else "data[]" for n in range(len(lines))]
        return list(zip(names, lines)) + [("hash", signed)]
