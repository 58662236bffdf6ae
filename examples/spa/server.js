// The API of the single-page application: iisnode gives it a socket path in PORT, and it
// sees the original URL (/api/...), not the rewritten server.js.
var http = require('http');

var todos = [{ id: 1, title: 'write web.config' }, { id: 2, title: 'deploy' }];

http.createServer(function (req, res) {
  var path = req.url.split('?')[0];
  if (path === '/api/todos') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(todos));
    return;
  }
  res.writeHead(404, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ error: 'no such API route', url: req.url }));
}).listen(process.env.PORT);
