// The hutch activity view of one context: its timeline (paged), posting, comments and likes,
// with new posts and comments arriving live on the user's stream. Plain JS, no framework.
//
//   <link rel="stylesheet" href="https://hub.example/widget/hutch-widget.css">
//   <div id="news"></div>
//   <script type="module">
//     import { mountActivity } from "https://hub.example/widget/hutch-activity.js";
//     mountActivity(document.getElementById("news"), { login: "ana", token: "<token>", context: "<hash>" });
//   </script>
//
// A live envelope is only a hint: the view reads the post or comment it names from the REST API,
// so what it shows is always what the hub stored (sanitised), never what a frame claims.

import { compileRuleSet } from "./hutch-rules.js";
import { StompSocket } from "./stomp.js";
import { callApi, element } from "./hutch-widget.js";

const RULES = "max@1";
const PAGE = 20;

export class ActivityView {
  constructor(root, { login, token, context, base = location.origin }) {
    Object.assign(this, { root, login, token, context, base });
    this.user = login.split(":").pop();
    this.activities = new Map(); // id -> activity, as the hub has it
    this.comments = new Map(); // id -> comments, for the activities whose comments are open
    this.next = null; // the cursor of the next page, if any
    this.pictures = new Map(); // thumbnail URL -> object URL (images need the token)
  }

  async start() {
    this.codec = compileRuleSet(await (await fetch(`${this.base}/rules/${RULES}.json`)).json());
    this.layout();
    await this.more();
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.stomp) this.stomp.close();
  }

  api(method, path, body) {
    return callApi(this, method, path, body);
  }

  async more() {
    const cursor = this.next ? `&cursor=${encodeURIComponent(this.next)}` : "";
    const page = await this.api("GET", `/contexts/${this.context}/activities?limit=${PAGE}${cursor}`);
    for (const activity of page.items) this.activities.set(activity.id, activity);
    this.next = page.next;
    this.render();
  }

  // -- live -------------------------------------------------------------------

  async connect() {
    if (this.stopped) return;
    this.setStatus("connecting");
    const stomp = new StompSocket(`${this.base.replace(/^http/, "ws")}/ws`, { login: this.login, passcode: this.token });
    stomp.onmessage = (frame) => this.onFrame(frame).catch((error) => console.warn("hutch:", error));
    stomp.onclose = () => {
      this.stomp = null;
      this.setStatus("reconnecting");
      setTimeout(() => this.connect().then(() => this.catchUp()), 1000);
    };
    try {
      await stomp.opened;
      await stomp.request("SUBSCRIBE", { id: "news", destination: `/exchange/${this.user}.subscribe` });
      this.stomp = stomp;
      this.setStatus("online");
    } catch (error) {
      this.setStatus("refused", error.message); // onclose tries again
    }
  }

  async catchUp() {
    const page = await this.api("GET", `/contexts/${this.context}/activities?limit=${PAGE}`);
    for (const activity of page.items) this.activities.set(activity.id, activity);
    this.render();
  }

  async onFrame(frame) {
    const type = frame.headers["content-type"] || "";
    if (!type.includes("json")) return;
    const body = JSON.parse(frame.body);
    const message = type.startsWith("application/x-hutch+json") ? this.codec.unpack(body) : body;
    const data = message.data || {};
    if (message.destination !== this.context) return; // a conversation, or another context
    if (message.object === "activity" && data.id) await this.reload(data.id);
    if (message.object === "comment" && data.activity) {
      await this.reload(data.activity);
      if (this.comments.has(data.activity)) await this.openComments(data.activity);
    }
  }

  async reload(id) {
    this.activities.set(id, await this.api("GET", `/activities/${id}`));
    this.render();
  }

  // -- what the user does -------------------------------------------------------

  async post(content) {
    if (!content.trim()) return;
    const activity = await this.api("POST", `/contexts/${this.context}/activities`, { content });
    this.activities.set(activity.id, activity);
    this.render();
  }

  async like(id) {
    this.activities.set(id, await this.api("POST", `/activities/${id}/likes`));
    this.render();
  }

  async comment(id, content) {
    if (!content.trim()) return;
    await this.api("POST", `/activities/${id}/comments`, { content });
    await this.reload(id);
    await this.openComments(id);
  }

  async openComments(id) {
    this.comments.set(id, await this.api("GET", `/activities/${id}/comments`));
    this.render();
  }

  // -- the page -------------------------------------------------------------------

  layout() {
    this.statusNode = element("span", { class: "hutch-status" }, "connecting");
    this.listNode = element("ol", { class: "hutch-activities" });
    this.moreNode = element("button", { type: "button", class: "hutch-more", onclick: () => this.more() }, "More");
    const input = element("textarea", { class: "hutch-post-input", placeholder: "Share something", rows: "2" });
    const composer = element("form", { class: "hutch-post", onsubmit: (event) => {
      event.preventDefault();
      this.post(input.value).catch((error) => this.setStatus("error", error.message));
      input.value = "";
    } }, input, element("button", { type: "submit", class: "hutch-post-send" }, "Post"));
    this.root.replaceChildren(element("div", { class: "hutch hutch-activity-view" },
      element("section", { class: "hutch-main" },
        element("header", { class: "hutch-title" }, element("strong", { class: "hutch-me" }, this.user), " ", this.statusNode),
        composer, this.listNode, this.moreNode)));
  }

  setStatus(state, detail = "") {
    this.statusNode.textContent = detail ? `${state}: ${detail}` : state;
    this.statusNode.dataset.state = state;
  }

  render() {
    const newest = [...this.activities.values()].sort((a, b) => (a.id < b.id ? 1 : -1));
    this.listNode.replaceChildren(...newest.map((a) => this.card(a)));
    this.moreNode.hidden = !this.next;
  }

  card(a) {
    const content = element("div", { class: "hutch-content" });
    content.innerHTML = a.object.content; // sanitised by the hub (links and text formatting only)
    const picture = a.object.objectType === "image" ? element("img", { class: "hutch-image", alt: a.object.filename }) : null;
    if (picture) this.show(picture, a.object.thumbURL);
    const file = a.object.objectType === "file"
      ? element("a", { class: "hutch-file", href: "#", onclick: (event) => { event.preventDefault(); this.download(a); } }, a.object.filename)
      : null;
    const comments = this.comments.get(a.id);
    const input = element("input", { class: "hutch-comment-input", placeholder: "Comment", autocomplete: "off" });
    const thread = comments ? element("div", { class: "hutch-comments" },
      element("ul", {}, ...comments.map((c) => element("li", { class: "hutch-comment" },
        element("span", { class: "hutch-sender" }, c.actor.username), this.html(c.content)))),
      element("form", { class: "hutch-comment-form", onsubmit: (event) => {
        event.preventDefault();
        this.comment(a.id, input.value).catch((error) => this.setStatus("error", error.message));
      } }, input, element("button", { type: "submit", class: "hutch-comment-send" }, "Send"))) : null;
    return element("li", { class: "hutch-activity", "data-id": a.id },
      element("span", { class: "hutch-sender" }, a.actor.username, " · ", new Date(a.published * 1000).toLocaleString()),
      content, picture, file,
      element("div", { class: "hutch-actions" },
        element("button", { type: "button", class: "hutch-like", onclick: () => this.like(a.id) }, `♥ ${a.likesCount}`),
        element("button", { type: "button", class: "hutch-comments-toggle", onclick: () => this.openComments(a.id) }, `Comments ${a.commentsCount}`)),
      thread);
  }

  html(sanitised) {
    const node = element("span", { class: "hutch-text" });
    node.innerHTML = sanitised;
    return node;
  }

  async media(url) {
    const response = await fetch(`${this.base}${url}`, { headers: { Authorization: `Bearer ${this.token}` } });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    return URL.createObjectURL(await response.blob());
  }

  async show(img, url) {
    if (!this.pictures.has(url)) this.pictures.set(url, this.media(url));
    img.src = await this.pictures.get(url);
  }

  async download(a) {
    const link = element("a", { href: await this.media(a.object.fullURL), download: a.object.filename });
    link.click();
  }
}

export async function mountActivity(root, options) {
  return new ActivityView(root, options).start();
}
