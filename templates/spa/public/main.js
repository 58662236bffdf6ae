// The front end: a tiny client-side router and one call to the API. Absolute URLs
// (/main.js, /api/hello) keep working from deep links such as /orders/42.
function render() {
  document.getElementById('view').textContent = 'You are at ' + location.pathname;
}

document.addEventListener('click', function (e) {
  var a = e.target.closest && e.target.closest('a[data-link]');
  if (!a) return;
  e.preventDefault();
  history.pushState(null, '', a.getAttribute('href'));
  render();
});
window.addEventListener('popstate', render);
render();

fetch('/api/hello')
  .then(function (r) { return r.json(); })
  .then(function (body) { document.getElementById('api').textContent = body.message; })
  .catch(function (err) { document.getElementById('api').textContent = String(err); });
