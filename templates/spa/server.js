// {{name}}: the API of a single-page application, run by iisnode.
//
// web.config sends only /api and the URLs below it here; IIS serves the front end from
// public/. node sees the URL the browser asked for, /api prefix included.
// process.env.PORT is the socket iisnode listens through (a named pipe on Windows, a Unix
// socket under iisn serve), not a number: pass it to listen() as it is.
var http = require('http');

function json(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

http.createServer(function (req, res) {
  var path = req.url.split('?')[0];
  if (req.method === 'GET' && path === '/api/hello') {
    return json(res, 200, { message: 'Hello from the {{name}} API', time: new Date().toISOString() });
  }
  json(res, 404, { error: 'no such API', url: req.url });
}).listen(process.env.PORT);
