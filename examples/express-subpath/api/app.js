// An express-style app without dependencies: routes mounted under process.env.virtualDirPath
// (set in web.config's <appSettings>), because node sees the full URL, /api included.
var http = require('http');
var url = require('url');

var base = (process.env.virtualDirPath || '').replace(/\/$/, '');
var users = [{ id: 1, name: 'Ada' }, { id: 2, name: 'Grace' }];
var routes = [];

function get(pattern, handler) {
  var keys = [];
  var path = pattern === '/' ? '' : pattern;
  var re = new RegExp('^' + base + path.replace(/:(\w+)/g, function (_, k) {
    keys.push(k);
    return '([^/]+)';
  }) + '/?$');
  routes.push({ re: re, keys: keys, handler: handler });
}

function json(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

get('/', function (req, res) {
  json(res, 200, { routes: [base + '/users', base + '/users/:id'], originalUrl: req.headers['x-original-url'] || null });
});
get('/users', function (req, res) { json(res, 200, users); });
get('/users/:id', function (req, res, params) {
  var u = users.filter(function (x) { return String(x.id) === params.id; })[0];
  if (!u) return json(res, 404, { error: 'no user ' + params.id });
  json(res, 200, u);
});

http.createServer(function (req, res) {
  var path = url.parse(req.url).pathname;
  for (var i = 0; i < routes.length; i++) {
    var m = routes[i].re.exec(path);
    if (m && req.method === 'GET') {
      var params = {};
      routes[i].keys.forEach(function (k, j) { params[k] = decodeURIComponent(m[j + 1]); });
      return routes[i].handler(req, res, params);
    }
  }
  // Like express: "Cannot GET <path>", with the full path node saw.
  res.writeHead(404, { 'Content-Type': 'text/html' });
  res.end('Cannot ' + req.method + ' ' + path);
}).listen(process.env.PORT);
