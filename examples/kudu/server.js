// The node side of a Kudu-style site: everything that is not a file under public/ arrives
// here (see the DynamicContent rule in web.config), with the URL the browser asked for.
var http = require('http');

http.createServer(function (req, res) {
  if (req.url === '/api/time') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return res.end(JSON.stringify({ now: new Date().toISOString() }));
  }
  if (req.url.indexOf('/api/') === 0) {
    // Errors from node reach the browser untouched (httpErrors existingResponse="PassThrough").
    res.writeHead(404, { 'Content-Type': 'application/json' });
    return res.end(JSON.stringify({ error: 'no such API', url: req.url }));
  }
  res.writeHead(200, { 'Content-Type': 'text/html' });
  res.end('<!doctype html><title>Kudu-style site</title>' +
    '<link rel="stylesheet" href="/css/site.css">' +
    '<h1>Hello from server.js</h1>' +
    '<p>node saw <code>' + req.url.replace(/</g, '&lt;') + '</code>' +
    (req.headers['x-original-url'] ? ' (X-Original-URL: <code>' + req.headers['x-original-url'].replace(/</g, '&lt;') + '</code>)' : '') +
    '</p><p><a href="/about.html">a static page from public/</a> · <a href="/api/time">/api/time</a></p>');
}).listen(process.env.PORT);
