// The hutch chat widget: conversations with unread badges and presence, history, sending,
// "stored", "delivered" and "read" checks, new conversations, reconnect with recovery, and a bell with the
// notification feed. Plain JS, no framework.
//
//   <link rel="stylesheet" href="https://hub.example/widget/hutch-widget.css">
//   <div id="chat"></div>
//   <script type="module">
//     import { mountHutch } from "https://hub.example/widget/hutch-widget.js";
//     mountHutch(document.getElementById("chat"), { login: "ana", token: "<token>", onSignOut: () => ... });
//   </script>
//
// What one types is never lost: a message waits in the page's outbox (kept in localStorage)
// until the hub has taken it, shown as waiting and editable or cancellable meanwhile, and is
// sent again after a reconnect with the same uuid (the hub drops a repeat).

import { compileRuleSet, contentType } from "./hutch-rules.js";
import { StompSocket } from "./stomp.js";

const RULES = "max@1";
const PACKED = contentType("packed-json", RULES);
const PRESENCE_EVERY_MS = 3000;
const NOTICE_MS = 6000; // how long a passing error stays in view
const PAGE = 50; // messages fetched at a time, the newest on opening, older ones on scrolling up
// ERRORs that mean "not now" (the hub is short of its broker or store, or moving): reconnect, send again.
const PASSING = ["broker unavailable", "store unavailable", "broker moved", "shutting down", "connection lost", "connection closed"];
const REFUSED_LOGIN = ["access refused", "Bad CONNECT"];
const BELL = '<svg width="15" height="15" viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.5-2.5h-5A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1z"/></svg>';

const idKey = (id) => id.split("-").map(Number);
const newer = (a, b) => !b || idKey(a)[0] > idKey(b)[0] || (idKey(a)[0] === idKey(b)[0] && idKey(a)[1] > idKey(b)[1]);
const idTime = (id) => Number(id.split("-")[0]); // a stored id begins with its time in ms

// "just now", "5 min ago" or "3 h ago" today; the local date and time before.
export function when(ms, now = Date.now()) {
  const then = new Date(ms);
  if (then.toDateString() !== new Date(now).toDateString()) {
    return then.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }
  const minutes = Math.floor((now - ms) / 60000);
  if (minutes < 1) return "just now";
  return minutes < 60 ? `${minutes} min ago` : `${Math.floor(minutes / 60)} h ago`;
}
// A message of the REST history as the page keeps it.
const fromHistory = (h) => ({ uuid: h.uuid, id: h.id, sender: h.sender, text: (h.data || {}).text || "", stored: true, at: idTime(h.id) });
const uuid4 = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`).replace(/-/g, "");

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

// A REST call as `who` ({base, token, login}): the JSON answer, or an Error with the hub's words.
export async function callApi(who, method, path, body) {
  const response = await fetch(`${who.base}/api${path}`, {
    method,
    headers: { Authorization: `Bearer ${who.token}`, "X-Oauth-Username": who.login, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    const error = await response.json().catch(() => ({}));
    throw new Error(error.error_description || `${response.status} ${response.statusText}`);
  }
  return response.status === 204 ? null : response.json();
}

export class HutchWidget {
  // `sockets`: the WebSocket URLs of a deployment's nodes; a lost connection moves to the next
  // (REST stays with `base`, the deployment's one origin).
  constructor(root, { login, token, base = location.origin, sockets = [`${base.replace(/^http/, "ws")}/ws`], onSignOut = () => {} }) {
    this.root = root;
    this.onSignOut = onSignOut;
    this.user = login.split(":").pop();
    this.login = login;
    this.token = token;
    this.base = base;
    this.sockets = sockets;
    this.at = 0;
    this.conversations = new Map(); // cid -> {id, displayName, participants, unread}
    this.messages = new Map(); // cid -> [{uuid, id, sender, text, stored, at}]
    this.readTo = new Map(); // cid -> {member: the id they have read up to}, from the API and live
    this.markedRead = new Map(); // cid -> the id this user last marked read
    this.presence = {};
    this.current = null;
    this.lastId = null; // newest stored id seen: where recovery starts after a reconnect
    this.backoffMs = 500;
    this.stomp = null;
    this.outboxKey = `hutch-outbox:${this.user}`;
    this.outbox = JSON.parse(localStorage.getItem(this.outboxKey) || "[]"); // [{cid, uuid, text, at, failed}]
  }

  async start() {
    const rules = await (await fetch(`${this.base}/rules/${RULES}.json`)).json();
    this.codec = compileRuleSet(rules);
    this.layout();
    await this.refreshConversations();
    for (const item of this.outbox) this.list(item.cid).push({ uuid: item.uuid, id: null, sender: this.user, text: item.text, at: item.at, waiting: true });
    this.setUnseen((await this.api("GET", "/notifications/unseen")).unseen);
    this.connect();
    this.presenceTimer = setInterval(() => this.refreshPresence(), PRESENCE_EVERY_MS);
    return this;
  }

  stop() {
    clearInterval(this.presenceTimer);
    this.stopped = true;
    if (this.stomp) this.stomp.close();
  }

  // -- REST -------------------------------------------------------------------

  get wsUrl() {
    return this.sockets[this.at];
  }

  api(method, path, body) {
    return callApi(this, method, path, body);
  }

  async refreshConversations() {
    const summaries = await this.api("GET", "/conversations");
    const listed = new Set(summaries.map((summary) => summary.id));
    for (const cid of this.conversations.keys()) if (!listed.has(cid)) this.conversations.delete(cid); // gone
    if (this.current && !listed.has(this.current)) this.closeGone();
    for (const summary of summaries) {
      const known = this.conversations.get(summary.id);
      const last = summary.lastMessage ? idTime(summary.lastMessage.id) : 0;
      summary.activity = Math.max(last, (summary.published || 0) * 1000, (known || {}).activity || 0); // newest first
      if (this.inView(summary.id)) summary.unread = 0; // read here, whatever the hub counted a moment ago
      this.conversations.set(summary.id, summary);
      if (summary.lastMessage && newer(summary.lastMessage.id, this.lastId)) this.lastId = summary.lastMessage.id;
    }
    await this.refreshPresence();
  }

  async refreshPresence() {
    const others = new Set();
    for (const c of this.conversations.values()) for (const p of c.participants) if (p !== this.user) others.add(p);
    if (others.size) this.presence = await this.api("GET", `/presence?users=${[...others].join(",")}`).catch(() => this.presence);
    this.renderList();
    if (this.messagesNode) for (const time of this.messagesNode.querySelectorAll("time")) time.textContent = when(Date.parse(time.dateTime)); // "5 min ago"
  }

  // -- STOMP ------------------------------------------------------------------

  async connect() {
    if (this.stopped) return;
    this.setStatus("connecting");
    const stomp = new StompSocket(this.wsUrl, { login: this.login, passcode: this.token, "x-hutch-form": "packed-json" });
    stomp.onmessage = (frame) => this.onFrame(frame);
    stomp.onclose = () => {
      this.stomp = null;
      this.at = (this.at + 1) % this.sockets.length; // another node, when there are several
      this.setStatus("reconnecting", this.outbox.length ? `${this.outbox.length} waiting to send` : "");
      setTimeout(() => this.connect(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 5000);
    };
    try {
      await stomp.opened;
      const headers = { id: "stream", destination: `/exchange/${this.user}.subscribe` };
      if (this.lastId) headers["x-since"] = this.lastId;
      await stomp.request("SUBSCRIBE", headers);
      this.stomp = stomp;
      this.backoffMs = 500;
      this.setStatus("online");
      if (this.connectedBefore) this.recover().catch(() => {});
      this.connectedBefore = true;
      this.flushOutbox();
    } catch (error) {
      if (error.headers && REFUSED_LOGIN.includes(error.headers.message)) {
        stomp.onclose = () => {};
        this.signedOut(`The hub refused your sign-in (${error.message}): your token has expired or is not valid.`);
      } else if (error.headers && !PASSING.includes(error.headers.message)) {
        this.notice(`The hub said: ${error.headers.message}`); // onclose tries again
      }
    }
  }

  // -- the outbox: what the user typed, until the hub has taken it ----------------

  saveOutbox() {
    localStorage.setItem(this.outboxKey, JSON.stringify(this.outbox));
  }

  // One at a time and in order, each with its uuid; stops when the connection goes (what is
  // left goes after the reconnect). A refusal stays in the outbox, marked, for the user.
  async flushOutbox() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (const item of this.outbox.filter((i) => !i.failed)) {
        if (!this.stomp || !this.outbox.includes(item)) continue; // cancelled or edited meanwhile
        item.sending = true;
        const message = { uuid: item.uuid, action: "add", object: "message", data: { text: item.text } };
        const headers = { destination: `/exchange/${this.user}.publish/${item.cid}.messages`, "content-type": PACKED };
        try {
          await this.stomp.request("SEND", headers, JSON.stringify(this.codec.pack(message)));
        } catch (error) {
          item.sending = false;
          const why = (error.headers || {}).message || error.message;
          if (PASSING.includes(why)) break; // the connection went: after the reconnect
          item.failed = error.message;
          this.notice(`Not sent: ${error.message}`);
        }
        if (!item.failed) this.outbox = this.outbox.filter((i) => i !== item);
        this.saveOutbox();
        const shown = this.list(item.cid).find((m) => m.uuid === item.uuid);
        if (shown) Object.assign(shown, { waiting: !!item.failed, failed: item.failed });
        this.render();
      }
    } finally {
      this.flushing = false;
    }
  }

  // Take a waiting message back: out of the outbox and the conversation; its text, when edited,
  // into the input.
  takeBack(uuid, edit) {
    const item = this.outbox.find((i) => i.uuid === uuid);
    if (!item || item.sending) return;
    this.outbox = this.outbox.filter((i) => i !== item);
    this.saveOutbox();
    this.messages.set(item.cid, this.list(item.cid).filter((m) => m.uuid !== uuid));
    if (edit) {
      this.input.value = item.text;
      this.input.focus();
    }
    this.render();
  }

  decode(frame) {
    const type = frame.headers["content-type"] || "";
    if (type.startsWith("application/x-hutch+json")) return this.codec.unpack(JSON.parse(frame.body));
    if (type.startsWith("application/json")) return JSON.parse(frame.body);
    return { action: "add", data: { text: frame.body } };
  }

  onFrame(frame) {
    let message;
    try {
      message = this.decode(frame);
    } catch (error) {
      console.warn("hutch: a message did not decode", error);
      return;
    }
    if (message.object === "notification") return this.notified(message.data);
    if (message.object === "receipt" && message.action === "delivered") return this.delivered(message.data.delivered || []);
    if (message.object === "direct") return this.notified({ unseenCount: (Number(this.bellCount.textContent) || 0) + 1 }); // an admin's send: in the feed too
    const key = frame.headers.destination.split("/").pop();
    const cid = message.destination || key.split(".")[0];
    const sender = (message.user || {}).username;
    // Only the worker's acks say "stored" (x-hutch-stored, which no client can send).
    const stored = message.action === "ack" && frame.headers["x-hutch-stored"] === "true";
    const storedId = frame.headers["x-hutch-id"] || (stored ? message.data.id : null);
    if (storedId && newer(storedId, this.lastId)) this.lastId = storedId;
    if (!this.conversations.has(cid)) this.refreshConversations(); // someone started one with us
    if (message.action === "add") this.received(cid, message, sender, frame.headers["x-hutch-id"]);
    else if (stored) this.stored(cid, message.uuid, message.data.id);
    else if (message.action === "read" && sender !== this.user) this.readUpTo(cid, message.data.id, sender);
  }

  received(cid, message, sender, storedId) {
    const list = this.list(cid);
    const conversation = this.conversations.get(cid);
    if (conversation) conversation.activity = Date.now(); // up the list
    if (list.some((m) => m.uuid === message.uuid)) return this.render(); // our own, or a replay of one we have
    const at = storedId ? idTime(storedId) : Date.now();
    list.push({ uuid: message.uuid, id: storedId || null, sender, text: (message.data || {}).text || "", stored: !!storedId, at });
    if (sender !== this.user && this.inView(cid)) {
      if (storedId) this.markRead(cid, storedId); // seen where it arrived, a recovered one too
    } else if (conversation && sender !== this.user) {
      conversation.unread = (conversation.unread || 0) + 1;
    }
    this.render();
  }

  inView(cid) {
    return cid === this.current && document.visibilityState !== "hidden";
  }

  // Move this user's read cursor (never back): the sender's ✓✓ and the unread counts follow.
  // One POST at a time per conversation, so that an older id never lands after a newer one.
  markRead(cid, id) {
    if (!newer(id, this.markedRead.get(cid))) return;
    this.markedRead.set(cid, id);
    this.reading = this.reading || new Map();
    const before = this.reading.get(cid) || Promise.resolve();
    this.reading.set(cid, before.then(() => this.markedRead.get(cid) === id && this.api("POST", `/conversations/${cid}/read`, { id })).catch(() => {}));
  }

  stored(cid, uuid, id) {
    const found = this.list(cid).find((m) => m.uuid === uuid);
    if (!found) return this.catchUp(cid).catch(() => {});
    found.id = id;
    found.stored = true;
    if (found.sender !== this.user && this.inView(cid)) this.markRead(cid, id);
    this.render();
  }

  // After a reconnect: badges and presence, and every conversation whose newest stored message
  // this page lacks. Without a stored id to resume from (its node went away before the
  // "stored" ack came) the stream's x-since replay cannot cover them.
  async recover() {
    await this.refreshConversations();
    for (const [cid, summary] of this.conversations) {
      const last = summary.lastMessage;
      if (last && this.messages.has(cid) && !this.list(cid).some((m) => m.uuid === last.uuid)) await this.catchUp(cid);
    }
  }

  // A message was stored that this page never had: it was on its way while the page changed
  // node (or reconnected), after the hub routed it and before history held it. Fetch it.
  async catchUp(cid) {
    const after = this.list(cid).reduce((newest, m) => (m.id && newer(m.id, newest) ? m.id : newest), null);
    const query = after ? `?after=${encodeURIComponent(after)}&limit=200` : "?limit=50";
    for (const h of await this.api("GET", `/conversations/${cid}/messages${query}`)) {
      const known = this.list(cid).find((m) => m.uuid === h.uuid);
      if (known) Object.assign(known, { id: known.id || h.id, stored: true });
      if (known) continue;
      this.list(cid).push(fromHistory(h));
      if (newer(h.id, this.lastId)) this.lastId = h.id;
      if (h.sender !== this.user && this.inView(cid)) this.markRead(cid, h.id);
    }
    this.render();
  }

  // Devices of the other members that have our messages (written to them, or acked).
  delivered(items) {
    for (const item of items) {
      const found = this.list(item.conversation).find((m) => m.uuid === item.uuid && m.sender === this.user);
      if (!found) continue;
      found.devices = found.devices || new Set();
      found.devices.add(`${item.user}/${item.device}`);
    }
    this.render();
  }

  readUpTo(cid, id, reader) {
    const positions = this.readTo.get(cid) || {};
    if (newer(id, positions[reader])) positions[reader] = id;
    this.readTo.set(cid, positions);
    this.render();
  }

  // How many of the others have read a message of this user's, of how many.
  readers(cid, m) {
    const c = this.conversations.get(cid);
    const others = c ? c.participants.filter((p) => p !== this.user) : [];
    const positions = this.readTo.get(cid) || {};
    return [m.id ? others.filter((p) => positions[p] && !newer(m.id, positions[p])).length : 0, others.length];
  }

  list(cid) {
    if (!this.messages.has(cid)) this.messages.set(cid, []);
    return this.messages.get(cid);
  }

  // -- the notification feed: a bell with the unseen count, a dropdown of the feed ---

  notified(notification) {
    this.setUnseen(notification.unseenCount);
    this.refreshConversations().catch(() => {}); // "ana added you": a conversation to list
    if (!this.feedNode.hidden) this.showFeed().catch(() => {});
  }

  setUnseen(count) {
    this.bellCount.textContent = count ? String(count) : "";
    this.bellCount.hidden = !count;
  }

  async toggleFeed() {
    this.feedNode.hidden = !this.feedNode.hidden;
    if (!this.feedNode.hidden) await this.showFeed();
  }

  async showFeed() {
    const entries = await this.api("GET", "/notifications?limit=20"); // the first page: all seen now
    this.setUnseen(0);
    this.feedNode.replaceChildren(...(entries.length ? entries.map((n) => {
      const more = (n.notifications || []).length;
      return element("li", { class: `hutch-notification${n.unseen ? " unseen" : ""}`, "data-id": n.id },
        element("span", { class: "hutch-text" }, n.message),
        more ? element("span", { class: "hutch-more-count" }, ` and ${more} more`) : null);
    }) : [element("li", { class: "hutch-notification empty" }, "Nothing new")]));
  }

  // -- what the user does ------------------------------------------------------

  async open(cid) {
    this.current = cid;
    this.root.firstChild.dataset.view = "conversation"; // on a narrow screen, the conversation alone
    let history;
    try {
      [history] = await Promise.all([
        this.api("GET", `/conversations/${cid}/messages?limit=${PAGE}`),
        this.api("GET", `/conversations/${cid}/read`).then((positions) => this.readTo.set(cid, positions)),
      ]);
    } catch (error) {
      this.notice(`This conversation could not be opened: ${error.message}`);
      return this.refreshConversations(); // it may be gone
    }
    const live = this.list(cid).filter((m) => !history.some((h) => h.uuid === m.uuid));
    const known = new Map(this.list(cid).map((m) => [m.uuid, m]));
    const earlier = history.map((h) => ({ ...fromHistory(h), devices: (known.get(h.uuid) || {}).devices }));
    this.messages.set(cid, [...earlier, ...live]);
    this.complete = history.length < PAGE ? cid : null; // nothing older to fetch
    const conversation = this.conversations.get(cid);
    if (conversation) conversation.unread = 0;
    const last = history.filter((h) => h.sender !== this.user).pop();
    if (last) this.markRead(cid, last.id);
    this.render(true);
  }

  // Scrolled to the top: the page of messages before the oldest shown (the REST cursor).
  async older() {
    const cid = this.current;
    const oldest = this.list(cid).find((m) => m.id);
    if (this.fetchingOlder || this.complete === cid || !oldest) return;
    this.fetchingOlder = true;
    try {
      const page = await this.api("GET", `/conversations/${cid}/messages?before=${encodeURIComponent(oldest.id)}&limit=${PAGE}`);
      if (cid !== this.current) return;
      if (page.length < PAGE) this.complete = cid;
      const have = new Set(this.list(cid).map((m) => m.uuid));
      const earlier = page.filter((h) => !have.has(h.uuid)).map(fromHistory);
      this.messages.set(cid, [...earlier, ...this.list(cid)]);
      this.render(); // keeps its distance from the bottom: what one was reading stays in place
    } catch (error) {
      this.notice(`Older messages could not be fetched: ${error.message}`);
    } finally {
      this.fetchingOlder = false;
    }
  }

  // Into the outbox first (nothing typed is lost), then to the hub when connected.
  send(text) {
    const cid = this.current;
    if (!cid || !text.trim()) return false;
    const item = { cid, uuid: uuid4(), text, at: Date.now() };
    this.outbox.push(item);
    this.saveOutbox();
    this.list(cid).push({ uuid: item.uuid, id: null, sender: this.user, text, at: item.at, waiting: true });
    const conversation = this.conversations.get(cid);
    if (conversation) conversation.activity = item.at;
    this.render(true);
    this.flushOutbox();
    return true;
  }

  async startConversation(participants, displayName) {
    const conversation = await this.api("POST", "/conversations", { participants, displayName });
    await this.refreshConversations();
    await this.open(conversation.id);
  }

  // -- the page -------------------------------------------------------------------

  layout() {
    this.statusNode = element("span", { class: "hutch-status", role: "status", "aria-live": "polite" }, "connecting");
    this.noticeNode = element("p", { class: "hutch-notice", role: "alert", hidden: "" });
    this.bellCount = element("span", { class: "hutch-bell-count", hidden: "" });
    const bell = element("button", { type: "button", class: "hutch-bell", title: "Notifications", onclick: () => this.toggleFeed() });
    bell.innerHTML = BELL; // a fixed icon of the widget's own, not data
    bell.append(element("span", { class: "hutch-unseen-label" }, "Notifications"), this.bellCount);
    const signOut = element("button", { type: "button", class: "hutch-sign-out", onclick: () => this.signOut() }, "Sign out");
    this.feedNode = element("ul", { class: "hutch-feed", hidden: "", "aria-label": "Notifications" });
    this.listNode = element("ul", { class: "hutch-conversations", "aria-label": "Conversations" });
    this.titleNode = element("h3", { class: "hutch-title" }, "Pick a conversation");
    const back = element("button", { type: "button", class: "hutch-back", "aria-label": "Back to the conversations", onclick: () => this.showList() }, "‹");
    this.messagesNode = element("ol", { class: "hutch-messages", "aria-label": "Messages", tabindex: "0", onscroll: () => {
      if (this.messagesNode.scrollTop < 80) this.older();
    } });
    // Enter sends, Shift+Enter starts a new line.
    this.input = element("textarea", { class: "hutch-input", rows: "1", placeholder: "Write a message", "aria-label": "Message", onkeydown: (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        composer.requestSubmit();
      }
    } });
    const composer = element("form", { class: "hutch-composer", onsubmit: (event) => {
      event.preventDefault();
      if (this.send(this.input.value)) this.input.value = ""; // queued: safe in the outbox
    } }, this.input, element("button", { type: "submit", class: "hutch-send" }, "Send"));
    const who = element("input", { class: "hutch-new-participants", placeholder: "user, user", "aria-label": "Start a conversation with" });
    const starter = element("form", { class: "hutch-new", onsubmit: (event) => {
      event.preventDefault();
      const names = who.value.split(",").map((n) => n.trim()).filter(Boolean);
      if (names.length) this.startConversation(names, "").catch((error) => this.notice(`Not started: ${error.message}`));
      who.value = "";
    } }, who, element("button", { type: "submit", class: "hutch-start" }, "Start"));
    this.root.replaceChildren(element("div", { class: "hutch", "data-view": "list" },
      element("aside", { class: "hutch-side", "aria-label": "Conversations" },
        element("header", {}, element("strong", { class: "hutch-me" }, this.user), " ", this.statusNode, bell, signOut, this.feedNode),
        this.listNode, starter),
      element("section", { class: "hutch-main", "aria-label": "Conversation" },
        element("header", { class: "hutch-head" }, back, this.titleNode), this.noticeNode, this.messagesNode, composer)));
  }

  // The open conversation is no longer there (deleted, or one left it): back to the list.
  closeGone() {
    this.messages.delete(this.current);
    this.current = null;
    this.titleNode.textContent = "Pick a conversation";
    this.messagesNode.replaceChildren();
    this.notice("That conversation is no longer there.");
    this.showList();
  }

  showList() {
    this.root.firstChild.dataset.view = "list";
    const current = this.listNode.querySelector(".current button");
    if (current) current.focus();
  }

  // The connection's state (connecting, online, reconnecting, signed out); errors go to notice().
  setStatus(state, detail = "") {
    if (!this.statusNode) return;
    this.statusNode.textContent = detail ? `${state} (${detail})` : state;
    this.statusNode.dataset.state = state;
  }

  // A passing error, in view for a few seconds; the connection's status stays as it is.
  notice(text) {
    if (!this.noticeNode) return;
    this.noticeNode.textContent = text;
    this.noticeNode.hidden = false;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => (this.noticeNode.hidden = true), NOTICE_MS);
  }

  signedOut(why) {
    this.stop();
    this.setStatus("signed out");
    const again = element("button", { type: "button", class: "hutch-sign-in-again", onclick: () => this.signOut() }, "Sign in again");
    this.noticeNode.replaceChildren(why, " ", again);
    this.noticeNode.hidden = false;
    clearTimeout(this.noticeTimer);
    again.focus();
  }

  signOut() {
    this.stop();
    this.onSignOut();
  }

  // The conversation's name as this user sees it: a name given it, or the others in it (the hub
  // names an unnamed one after all its members, this user too).
  nameOf(c) {
    const others = c.participants.filter((p) => p !== this.user);
    const given = c.displayName && c.displayName !== c.participants.join(", ") ? c.displayName : "";
    return given || others.join(", ") || this.user;
  }

  renderList() {
    if (!this.listNode) return;
    const sorted = [...this.conversations.values()].sort((a, b) => (b.activity || 0) - (a.activity || 0));
    const items = sorted.map((c) => {
      const others = c.participants.filter((p) => p !== this.user);
      const online = others.some((p) => (this.presence[p] || {}).online);
      const name = this.nameOf(c);
      const label = `${name}, ${online ? "online" : "offline"}${c.unread ? `, ${c.unread} unread` : ""}`;
      // A button in each item: focusable, Enter opens; opened from the keyboard, the input takes the focus.
      const open = element("button", {
        type: "button", class: "hutch-open", "aria-label": label, "aria-current": c.id === this.current ? "true" : null,
        onclick: (event) => this.open(c.id).then(() => event.detail === 0 && this.input.focus()),
      },
      element("span", { class: `hutch-presence${online ? " online" : ""}`, title: online ? "online" : "offline" }),
      element("span", { class: "hutch-name" }, name),
      c.unread ? element("span", { class: "hutch-badge" }, String(c.unread)) : null);
      return element("li", { class: `hutch-conversation${c.id === this.current ? " current" : ""}`, "data-cid": c.id }, open);
    });
    const focused = this.listNode.contains(document.activeElement) ? document.activeElement.closest("li").dataset.cid : null;
    this.listNode.replaceChildren(...items);
    if (focused) { const again = this.listNode.querySelector(`[data-cid="${CSS.escape(focused)}"] button`); if (again) again.focus(); }
  }

  // `toBottom`: show the newest (one's own message, a conversation opened); otherwise the pane
  // keeps its place unless it was at the bottom already.
  render(toBottom = false) {
    this.renderList();
    if (!this.current) return;
    const c = this.conversations.get(this.current);
    this.titleNode.textContent = c ? this.nameOf(c) : this.current;
    const pane = this.messagesNode;
    const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
    const offFromBottom = pane.scrollHeight - pane.scrollTop;
    pane.replaceChildren(...this.list(this.current).map((m) => this.messageItem(m)));
    pane.scrollTop = toBottom || atBottom ? pane.scrollHeight : pane.scrollHeight - offFromBottom;
  }

  messageItem(m) {
    const mine = m.sender === this.user;
    const [read, of] = mine ? this.readers(this.current, m) : [0, 0];
    const everyone = read > 0 && read === of;
    const state = m.failed ? "failed" : m.waiting ? "waiting" : everyone ? "read" : m.devices ? "delivered" : m.stored ? "stored" : "sent";
    const label = {
      failed: `not sent: ${m.failed}`, waiting: "waiting to send", read: of > 1 ? `read by all ${of}` : "read", sent: "sent",
      delivered: `delivered to ${m.devices && m.devices.size} device(s)`, stored: "stored",
    }[state];
    const glyph = { failed: "!", waiting: "🕓", read: "✓✓", delivered: "✓✓", stored: "✓", sent: "…" }[state];
    const check = mine ? element("span", { class: `hutch-check ${state}`, title: label, "aria-label": label }, glyph) : null;
    const time = m.at ? element("time", { class: "hutch-time", datetime: new Date(m.at).toISOString(), title: new Date(m.at).toLocaleString() }, when(m.at)) : null;
    const takeBack = mine && (state === "waiting" || state === "failed") ? element("span", { class: "hutch-take-back" },
      element("button", { type: "button", class: "hutch-edit", onclick: () => this.takeBack(m.uuid, true) }, "Edit"),
      element("button", { type: "button", class: "hutch-cancel", onclick: () => this.takeBack(m.uuid, false) }, "Cancel")) : null;
    // In a group, how many have read it: ✓✓ alone would say "all".
    const readBy = mine && of > 1 && read > 0 ? element("span", { class: "hutch-read-by" }, `read by ${read}`) : null;
    return element("li", { class: `hutch-message${mine ? " mine" : ""}${state === "waiting" || state === "failed" ? ` ${state}` : ""}`, "data-uuid": m.uuid },
      element("span", { class: "hutch-sender" }, m.sender), element("span", { class: "hutch-text" }, m.text), time, check, readBy, takeBack);
  }
}

export async function mountHutch(root, options) {
  return new HutchWidget(root, options).start();
}
