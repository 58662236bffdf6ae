// {{name}}: a plain node.js HTTP server, run by iisnode.
//
// process.env.PORT is the socket iisnode listens through (a named pipe on Windows, a Unix
// socket under iisn serve), not a number: pass it to listen() as it is.
var http = require('http');

http.createServer(function (req, res) {
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('Hello from {{name}}! You asked for ' + req.url + ' (node ' + process.version + ')\n');
}).listen(process.env.PORT);
