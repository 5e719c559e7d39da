// A small STOMP 1.2 client over WebSocket for the hutch widget: frames, receipts, heart-beats.
//
//   const stomp = new StompSocket("ws://host/ws", { login, passcode, "x-hutch-form": "packed-json" });
//   stomp.onmessage = (frame) => ...; stomp.onclose = () => ...;
//   await stomp.opened;                      // CONNECTED, or rejects with the hub's ERROR
//   await stomp.request("SUBSCRIBE", { id: "s1", destination });   // resolves on its RECEIPT

const ESCAPES = { "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\c": ":" };
const escape = (text) => text.replace(/[\\\n\r:]/g, (c) => ({ "\\": "\\\\", "\n": "\\n", "\r": "\\r", ":": "\\c" })[c]);
const unescape = (text) => text.replace(/\\[\\nrc]/g, (s) => ESCAPES[s]);

export class StompError extends Error {
  constructor(headers, body) {
    super(body ? `${headers.message}: ${body}` : headers.message || "error");
    this.headers = headers;
  }
}

export function encodeFrame(command, headers, body = "") {
  const escaped = command !== "CONNECT";
  const lines = [command];
  for (const [name, value] of Object.entries(headers)) {
    lines.push(escaped ? `${escape(name)}:${escape(String(value))}` : `${name}:${value}`);
  }
  return `${lines.join("\n")}\n\n${body}\0`;
}

export function parseFrames(text) {
  // One or more whole frames (the hub sends one per WebSocket message); bare newlines are heart-beats.
  const frames = [];
  let rest = text;
  while ((rest = rest.replace(/^[\r\n]+/, "")).length) {
    const blank = rest.indexOf("\n\n");
    if (blank < 0) break;
    const [command, ...lines] = rest.slice(0, blank).split("\n");
    const headers = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = unescape(line.slice(0, colon));
      if (!(name in headers)) headers[name] = command === "CONNECTED" ? line.slice(colon + 1) : unescape(line.slice(colon + 1));
    }
    const end = rest.indexOf("\0", blank + 2);
    frames.push({ command, headers, body: rest.slice(blank + 2, end) });
    rest = rest.slice(end + 1);
  }
  return frames;
}

export class StompSocket {
  constructor(url, connectHeaders, { heartbeatMs = 10000 } = {}) {
    this.onmessage = () => {};
    this.onclose = () => {};
    this.pending = new Map();
    this.nextId = 1;
    this.ws = new WebSocket(url, ["v12.stomp"]);
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () =>
        this.ws.send(encodeFrame("CONNECT", { "accept-version": "1.2", host: location.hostname, "heart-beat": `${heartbeatMs},0`, ...connectHeaders }));
      this.ws.onmessage = (event) => {
        for (const frame of parseFrames(typeof event.data === "string" ? event.data : "")) {
          if (frame.command === "CONNECTED") {
            const wanted = Number((frame.headers["heart-beat"] || "0,0").split(",")[1]);
            if (wanted) this.beats = setInterval(() => this.ws.send("\n"), Math.max(wanted, heartbeatMs));
            resolve(frame);
          } else if (frame.command === "ERROR" && !this.connected) {
            reject(new StompError(frame.headers, frame.body));
          } else {
            this.dispatch(frame);
          }
          this.connected = frame.command === "CONNECTED" || this.connected;
        }
      };
      this.ws.onclose = () => {
        clearInterval(this.beats);
        reject(new StompError({ message: "connection closed" }, ""));
        for (const { reject: fail } of this.pending.values()) fail(new StompError({ message: "connection lost" }, ""));
        this.pending.clear();
        this.onclose();
      };
    });
  }

  dispatch(frame) {
    const waiting = this.pending.get(frame.headers["receipt-id"]);
    if (frame.command === "MESSAGE") this.onmessage(frame);
    else if (frame.command === "RECEIPT" && waiting) waiting.resolve(frame);
    else if (frame.command === "ERROR" && waiting) waiting.reject(new StompError(frame.headers, frame.body));
    else if (frame.command === "ERROR") console.warn("hutch:", frame.headers.message, frame.body);
    this.pending.delete(frame.headers["receipt-id"]);
  }

  request(command, headers, body = "") {
    const receipt = `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(receipt, { resolve, reject });
      this.ws.send(encodeFrame(command, { ...headers, receipt }, body));
    });
  }

  close() {
    this.onclose = () => {};
    this.ws.close();
  }
}
