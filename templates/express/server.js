// {{name}}: an express app run by iisnode.
//
// IIS serves the files under public/ itself (web.config's StaticContent rule); everything
// else arrives here with the URL the browser asked for. process.env.PORT is the socket
// iisnode listens through (a named pipe on Windows, a Unix socket under iisn serve), not a
// number: pass it to listen() as it is.
var express = require('express');

var app = express();

app.get('/', function (req, res) {
  res.type('html').send('<!doctype html><title>{{name}}</title>' +
    '<link rel="stylesheet" href="/css/site.css">' +
    '<h1>Hello from {{name}}</h1>' +
    '<p>This page comes from express; <a href="/about.html">about.html</a> is a static ' +
    'file IIS serves from public/, and <a href="/api/hello">/api/hello</a> is JSON.</p>');
});

app.get('/api/hello', function (req, res) {
  res.json({ message: 'Hello from {{name}}', node: process.version });
});

app.listen(process.env.PORT);
