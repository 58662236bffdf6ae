// The client side: routes by location.pathname, data from the node API.
fetch('/api/todos')
  .then(function (r) { return r.json(); })
  .then(function (todos) {
    document.getElementById('app').textContent =
      location.pathname + ': ' + todos.map(function (t) { return t.title; }).join(', ');
  });
