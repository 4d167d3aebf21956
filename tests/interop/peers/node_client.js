// A Node `ws` client for the uvicorn end-to-end test: it offers a
// subprotocol and compression, sends a text and a binary message, counts the
// server's pings for a while, closes, and prints what it saw as JSON.
// A denial response is printed as its status and body.
"use strict";
const WebSocket = require("ws");

const url = process.argv[2];
const linger = Number(process.argv[3] || 600);
const ws = new WebSocket(url, ["chat"]);
const seen = { pings: 0, messages: [] };

ws.on("open", () => {
  seen.protocol = ws.protocol;
  seen.extensions = ws.extensions;
  ws.send("héllo from node");
  ws.send(Buffer.from([0, 1, 2, 255]));
});
ws.on("ping", () => {
  seen.pings += 1;
});
ws.on("message", (data, isBinary) => {
  seen.messages.push(isBinary ? { binary: [...data] } : { text: data.toString() });
  if (seen.messages.length === 2) setTimeout(() => ws.close(1000, "bye"), linger);
});
ws.on("close", (code, reason) => {
  seen.close = { code, reason: reason.toString() };
  console.log(JSON.stringify(seen));
});
ws.on("unexpected-response", (request, response) => {
  let body = "";
  response.on("data", (chunk) => (body += chunk));
  response.on("end", () => {
    console.log(JSON.stringify({ status: response.statusCode, body }));
    process.exit(0);
  });
});
ws.on("error", (error) => {
  console.log(JSON.stringify({ error: String(error) }));
  process.exit(1);
});
