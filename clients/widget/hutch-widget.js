// The hutch chat widget: conversations with unread badges and presence, history, sending,
// "stored", "delivered" and "read" checks, new conversations, reconnect with recovery, and a bell with the
// notification feed. Plain JS, no framework.
//
//   <link rel="stylesheet" href="https://hub.example/widget/hutch-widget.css">
//   <div id="chat"></div>
//   <script type="module">
//     import { mountHutch } from "https://hub.example/widget/hutch-widget.js";
//     mountHutch(document.getElementById("chat"), { login: "ana", token: "<token>" });
//   </script>

import { compileRuleSet, contentType } from "./hutch-rules.js";
import { StompSocket } from "./stomp.js";

const RULES = "max@1";
const PACKED = contentType("packed-json", RULES);
const PRESENCE_EVERY_MS = 3000;
const BELL = '<svg width="15" height="15" viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.5-2.5h-5A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1z"/></svg>';

const idKey = (id) => id.split("-").map(Number);
const newer = (a, b) => !b || idKey(a)[0] > idKey(b)[0] || (idKey(a)[0] === idKey(b)[0] && idKey(a)[1] > idKey(b)[1]);
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
  constructor(root, { login, token, base = location.origin, sockets = [`${base.replace(/^http/, "ws")}/ws`] }) {
    this.root = root;
    this.user = login.split(":").pop();
    this.login = login;
    this.token = token;
    this.base = base;
    this.sockets = sockets;
    this.at = 0;
    this.conversations = new Map(); // cid -> {id, displayName, participants, unread}
    this.messages = new Map(); // cid -> [{uuid, id, sender, text, stored, read}]
    this.presence = {};
    this.current = null;
    this.lastId = null; // newest stored id seen: where recovery starts after a reconnect
    this.backoffMs = 500;
    this.stomp = null;
  }

  async start() {
    const rules = await (await fetch(`${this.base}/rules/${RULES}.json`)).json();
    this.codec = compileRuleSet(rules);
    this.layout();
    await this.refreshConversations();
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
    for (const summary of await this.api("GET", "/conversations")) {
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
      this.setStatus("reconnecting");
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
    } catch (error) {
      if (error.headers && ["access refused", "Bad CONNECT"].includes(error.headers.message)) {
        stomp.onclose = () => {};
        this.setStatus("refused", error.message);
      } // else onclose tries again
    }
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
    else if (message.action === "read" && sender !== this.user) this.readUpTo(cid, message.data.id);
  }

  received(cid, message, sender, storedId) {
    const list = this.list(cid);
    if (list.some((m) => m.uuid === message.uuid)) return; // our own, or a replay of one we have
    list.push({ uuid: message.uuid, id: storedId || null, sender, text: (message.data || {}).text || "", stored: !!storedId });
    const conversation = this.conversations.get(cid);
    if (conversation && sender !== this.user && !(cid === this.current && document.visibilityState !== "hidden")) {
      conversation.unread = (conversation.unread || 0) + 1;
    }
    this.render();
  }

  stored(cid, uuid, id) {
    const found = this.list(cid).find((m) => m.uuid === uuid);
    if (!found) return this.catchUp(cid).catch(() => {});
    found.id = id;
    found.stored = true;
    if (cid === this.current && found.sender !== this.user) this.api("POST", `/conversations/${cid}/read`, { id }).catch(() => {});
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
      this.list(cid).push({ uuid: h.uuid, id: h.id, sender: h.sender, text: (h.data || {}).text || "", stored: true });
      if (newer(h.id, this.lastId)) this.lastId = h.id;
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

  readUpTo(cid, id) {
    for (const m of this.list(cid)) if (m.sender === this.user && m.id && !newer(m.id, id)) m.read = true;
    this.render();
  }

  list(cid) {
    if (!this.messages.has(cid)) this.messages.set(cid, []);
    return this.messages.get(cid);
  }

  // -- the notification feed: a bell with the unseen count, a dropdown of the feed ---

  notified(notification) {
    this.setUnseen(notification.unseenCount);
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
    const history = await this.api("GET", `/conversations/${cid}/messages?limit=50`);
    const live = this.list(cid).filter((m) => !history.some((h) => h.uuid === m.uuid));
    const known = new Map(this.list(cid).map((m) => [m.uuid, m]));
    const earlier = history.map((h) => ({
      uuid: h.uuid, id: h.id, sender: h.sender, text: (h.data || {}).text || "", stored: true, read: (known.get(h.uuid) || {}).read,
    }));
    this.messages.set(cid, [...earlier, ...live]);
    const conversation = this.conversations.get(cid);
    if (conversation) conversation.unread = 0;
    const last = history.filter((h) => h.sender !== this.user).pop();
    if (last) await this.api("POST", `/conversations/${cid}/read`, { id: last.id }).catch(() => {});
    this.render();
  }

  async send(text) {
    const cid = this.current;
    if (!cid || !text.trim()) return;
    const message = { uuid: uuid4(), user: { username: this.user }, action: "add", object: "message", data: { text } };
    this.list(cid).push({ uuid: message.uuid, id: null, sender: this.user, text, stored: false });
    this.render();
    const headers = { destination: `/exchange/${this.user}.publish/${cid}.messages`, "content-type": PACKED };
    await this.stomp.request("SEND", headers, JSON.stringify(this.codec.pack(message)));
  }

  async startConversation(participants, displayName) {
    const conversation = await this.api("POST", "/conversations", { participants, displayName });
    await this.refreshConversations();
    await this.open(conversation.id);
  }

  // -- the page -------------------------------------------------------------------

  layout() {
    this.statusNode = element("span", { class: "hutch-status" }, "connecting");
    this.bellCount = element("span", { class: "hutch-bell-count", hidden: "" });
    const bell = element("button", { type: "button", class: "hutch-bell", title: "Notifications", onclick: () => this.toggleFeed() });
    bell.innerHTML = BELL; // a fixed icon of the widget's own, not data
    bell.append(this.bellCount);
    this.feedNode = element("ul", { class: "hutch-feed", hidden: "" });
    this.listNode = element("ul", { class: "hutch-conversations" });
    this.titleNode = element("h3", { class: "hutch-title" }, "Pick a conversation");
    this.messagesNode = element("ol", { class: "hutch-messages" });
    const input = element("input", { class: "hutch-input", placeholder: "Write a message", autocomplete: "off" });
    const composer = element("form", { class: "hutch-composer", onsubmit: (event) => {
      event.preventDefault();
      this.send(input.value).catch((error) => this.setStatus("error", error.message));
      input.value = "";
    } }, input, element("button", { type: "submit", class: "hutch-send" }, "Send"));
    const who = element("input", { class: "hutch-new-participants", placeholder: "user, user" });
    const starter = element("form", { class: "hutch-new", onsubmit: (event) => {
      event.preventDefault();
      const names = who.value.split(",").map((n) => n.trim()).filter(Boolean);
      if (names.length) this.startConversation(names, "").catch((error) => this.setStatus("error", error.message));
      who.value = "";
    } }, who, element("button", { type: "submit", class: "hutch-start" }, "Start"));
    this.root.replaceChildren(element("div", { class: "hutch" },
      element("aside", { class: "hutch-side" },
        element("header", {}, element("strong", { class: "hutch-me" }, this.user), " ", this.statusNode, bell, this.feedNode),
        this.listNode, starter),
      element("section", { class: "hutch-main" }, this.titleNode, this.messagesNode, composer)));
  }

  setStatus(state, detail = "") {
    if (!this.statusNode) return;
    this.statusNode.textContent = detail ? `${state}: ${detail}` : state;
    this.statusNode.dataset.state = state;
  }

  renderList() {
    if (!this.listNode) return;
    const items = [...this.conversations.values()].map((c) => {
      const others = c.participants.filter((p) => p !== this.user);
      const online = others.some((p) => (this.presence[p] || {}).online);
      return element("li", {
        class: `hutch-conversation${c.id === this.current ? " current" : ""}`, "data-cid": c.id, onclick: () => this.open(c.id),
      },
      element("span", { class: `hutch-presence${online ? " online" : ""}`, title: online ? "online" : "offline" }),
      element("span", { class: "hutch-name" }, c.displayName || others.join(", ")),
      c.unread ? element("span", { class: "hutch-badge" }, String(c.unread)) : null);
    });
    this.listNode.replaceChildren(...items);
  }

  render() {
    this.renderList();
    if (!this.current) return;
    const c = this.conversations.get(this.current);
    this.titleNode.textContent = c ? c.displayName || c.participants.filter((p) => p !== this.user).join(", ") : this.current;
    this.messagesNode.replaceChildren(...this.list(this.current).map((m) => {
      const mine = m.sender === this.user;
      const state = m.read ? "read" : m.devices ? "delivered" : m.stored ? "stored" : "sending";
      const label = { read: "read", delivered: `delivered to ${m.devices && m.devices.size} device(s)`, stored: "stored", sending: "sending" }[state];
      const check = mine ? element("span", { class: `hutch-check ${state}`, title: label, "aria-label": label }, { read: "✓✓", delivered: "✓✓", stored: "✓", sending: "…" }[state]) : null;
      return element("li", { class: `hutch-message${mine ? " mine" : ""}`, "data-uuid": m.uuid },
        element("span", { class: "hutch-sender" }, m.sender), element("span", { class: "hutch-text" }, m.text), check);
    }));
    this.messagesNode.scrollTop = this.messagesNode.scrollHeight;
  }
}

export async function mountHutch(root, options) {
  return new HutchWidget(root, options).start();
}
