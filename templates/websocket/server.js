// {{name}}: a WebSocket echo server run by iisnode.
//
// GET / is a small test page; a WebSocket opened on /echo gets back every message it sends.
// The upgrade reaches node because web.config turns IIS's WebSocket module off.
// process.env.PORT is the socket iisnode listens through (a named pipe on Windows, a Unix
// socket under iisn serve), not a number: pass it to listen() as it is.
var http = require('http');
var WebSocketServer = require('ws').WebSocketServer;

var page = '<!doctype html><title>{{name}}</title>' +
  '<h1>{{name}}: WebSocket echo</h1>' +
  '<form id="f"><input id="m" value="hello" autofocus> <button>Send</button></form>' +
  '<pre id="log"></pre>' +
  '<script>' +
  'var log = document.getElementById("log");' +
  'var ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/echo");' +
  'ws.onopen = function () { log.textContent += "connected\\n"; };' +
  'ws.onmessage = function (e) { log.textContent += "echo: " + e.data + "\\n"; };' +
  'ws.onclose = function () { log.textContent += "closed\\n"; };' +
  'document.getElementById("f").onsubmit = function (e) {' +
  ' e.preventDefault(); ws.send(document.getElementById("m").value); };' +
  '</script>';

var server = http.createServer(function (req, res) {
  if (req.url === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    return res.end(page);
  }
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('Not found: ' + req.url + '\n');
});

var wss = new WebSocketServer({ server: server, path: '/echo' });
wss.on('connection', function (socket) {
  socket.on('message', function (data, isBinary) {
    socket.send(data, { binary: isBinary });
  });
});

server.listen(process.env.PORT);
