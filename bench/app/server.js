// The benchmark's node application, the same file behind every target (node alone, nginx,
// PM2 cluster, iisn). It listens on process.env.PORT: a TCP port or a Unix socket path.
// Every URL starts with /server.js, so that a plain iisnode web.config (a handler for
// server.js, the rest as PATH_INFO) and the other targets all see the same request:
//   GET  /server.js            13-byte body with Content-Length ("hello world")
//   GET  /server.js/chunked    res.write() then res.end(): no Content-Length, chunked on the wire
//   POST /server.js/echo       the request body streamed back (Content-Length copied)
//   GET  /server.js/download   30 MiB with Content-Length, from one buffer
var http = require('http');
var hello = Buffer.from('Hello, world!');
var big = Buffer.alloc(30 * 1024 * 1024, 'x');

var server = http.createServer(function (req, res) {
  var url = req.url;
  if (url.indexOf('/server.js') === 0) url = url.slice(10);
  if (url === '/chunked') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.write('Hello, ');
    return res.end('world!');
  }
  if (url === '/echo') {
    var h = { 'Content-Type': 'application/octet-stream' };
    if (req.headers['content-length']) h['Content-Length'] = req.headers['content-length'];
    res.writeHead(200, h);
    return req.pipe(res);
  }
  if (url === '/download') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': big.length });
    return res.end(big);
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': hello.length });
  res.end(hello);
});
server.keepAliveTimeout = 60000;
// A deep accept queue, so 1,000 connections opening at once are not refused.
server.listen(process.env.PORT, 4096, function () {
  if (process.send) process.send('ready');
});
