var http = require('http');

http.createServer(function (req, res) {
  res.writeHead(200, { 'Content-Type': 'text/html' });
  res.end('<!doctype html><title>default document</title>' +
    '<h1>index.js, the default document of /</h1>' +
    '<p>node saw <code>' + req.url.replace(/</g, '&lt;') + '</code>.</p>' +
    '<ul><li><a href="/docs">/docs</a> (redirected to /docs/, then docs/index.html)</li>' +
    '<li><a href="/downloads/">/downloads/</a> (403.14)</li>' +
    '<li><a href="/gallery/">/gallery/</a> (directory listing)</li></ul>');
}).listen(process.env.PORT);
