// Under iisnode (and iisn), process.env.PORT is a pipe or socket path, not a number:
// pass it to listen() as it is.
var http = require('http');

http.createServer(function (req, res) {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('Hello, world! [helloworld sample; iisnode version is ' +
    process.env.IISNODE_VERSION + ', node version is ' + process.version + ']');
}).listen(process.env.PORT);
