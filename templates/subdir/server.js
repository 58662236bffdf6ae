// {{name}}: a node.js app hosted under a virtual path by iisnode.
//
// IIS hands node the full URL, /{{name}}/api/hello, so the app strips its base path
// (web.config's virtualDirPath app setting, an environment variable here) before routing,
// and puts it back in every link it writes: a relative link from /{{name}} (no trailing
// slash) would resolve against the site root.
// process.env.PORT is the socket iisnode listens through (a named pipe on Windows, a Unix
// socket under iisn serve), not a number: pass it to listen() as it is.
var http = require('http');

var base = (process.env.virtualDirPath || '').replace(/\/+$/, '');

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type + '; charset=utf-8' });
  res.end(body);
}

http.createServer(function (req, res) {
  var path = req.url.split('?')[0];
  if (path !== base && path.indexOf(base + '/') !== 0) {
    // Reached through another path: virtualDirPath and the IIS application disagree.
    return send(res, 404, 'text/plain', 'Not under ' + base + '/: ' + req.url +
      '\nSet virtualDirPath in web.config to the application path.\n');
  }
  var route = path.slice(base.length) || '/';
  if (route === '/') {
    return send(res, 200, 'text/html', '<!doctype html><title>{{name}}</title>' +
      '<link rel="stylesheet" href="' + base + '/static/site.css">' +
      '<h1>{{name}}</h1>' +
      '<p>Served under <code>' + base + '/</code>; node saw <code>' +
      req.url.replace(/&/g, '&amp;').replace(/</g, '&lt;') + '</code>.</p>' +
      '<p><a href="' + base + '/api/hello">' + base + '/api/hello</a></p>');
  }
  if (route === '/api/hello') {
    return send(res, 200, 'application/json', JSON.stringify({ message: 'Hello from {{name}}', base: base }));
  }
  send(res, 404, 'text/plain', 'Not found: ' + req.url + '\n');
}).listen(process.env.PORT);
