// iisn-loader.js: iisn's stand-in for iisnode's interceptor.js.
//
// iisn starts every worker as `node [node args] iisn-loader.js <absolute script path>`, with
// the working directory set to the script's folder. This file makes the application see what
// it sees under IIS + iisnode:
//
//   * process.argv is [node, <script>, ...]: the loader removes itself;
//   * the application is loaded with require(), so require.main is this loader, not the app
//     (an app that starts only when `require.main === module` does not start under iisnode);
//   * an uncaught exception, when the app has no 'uncaughtException' handler of its own,
//     prints iisnode's lead-in and the stack to stderr and exits with code 1;
//   * environment names ignore case, as on Windows (process.env.port is PORT).
//
// It must not write log files or touch stdout/stderr otherwise: iisn reads both through pipes
// and keeps iisnode-style logs itself. It has no dependencies and stays ES2018 (import() is
// hidden in a Function so older parsers accept the file).
//
// ES modules: iisnode require()s the entry point, which fails for ES modules on node before
// 20.19 / 22.12 and for any module using top-level await. iisn refuses an ES module entry
// with an explanation, so an app that works here does not fail on a server with an older
// node. IISN_ESM=1 (`iisn serve --esm`) loads ES module entries with import() instead.
'use strict';

var fs = require('fs');
var path = require('path');
var url = require('url');
var util = require('util');

var LEAD_IN = 'Application has thrown an uncaught exception and is terminated:\n';

// Remove the loader from argv, as the interceptor does: argv[1] becomes the app's script.
process.argv.splice(1, 1);
var script = path.resolve(process.argv[1] || '');
var esmOptIn = process.env.IISN_ESM === '1';
// The app sees the environment iisnode would give it.
delete process.env.IISN_ESM;

// Environment names ignore case on Windows, and node there gives process.env the same
// semantics: an app written for IIS may read process.env.port, process.env.Path or
// process.env.NODE_env and get the value. Off Windows, names are case-sensitive, so such an
// app would never listen. iisn gives the application Windows' rule for the whole environment:
// a name that is not found as written is looked up ignoring case; assigning or deleting
// through another spelling changes the existing variable. Enumeration (Object.keys, child
// processes) still shows each variable once, under its own spelling.
(function caseInsensitiveEnvironment() {
  var env = process.env;
  var hasOwn = Object.prototype.hasOwnProperty;
  function actual(name) {
    if (typeof name !== 'string' || hasOwn.call(env, name)) {
      return name;
    }
    var lower = name.toLowerCase();
    var keys = Object.keys(env);
    for (var i = 0; i < keys.length; i++) {
      if (keys[i].toLowerCase() === lower) {
        return keys[i];
      }
    }
    return name;
  }
  var proxy = new Proxy(env, {
    get: function (target, name) {
      return target[actual(name)];
    },
    set: function (target, name, value) {
      target[actual(name)] = value;
      return true;
    },
    has: function (target, name) {
      return actual(name) in target;
    },
    deleteProperty: function (target, name) {
      return delete target[actual(name)];
    },
    getOwnPropertyDescriptor: function (target, name) {
      var d = Object.getOwnPropertyDescriptor(target, actual(name));
      if (d) {
        d.configurable = true;
      }
      return d;
    },
    defineProperty: function (target, name, descriptor) {
      return Reflect.defineProperty(target, actual(name), descriptor);
    }
  });
  try {
    Object.defineProperty(process, 'env', {
      value: proxy,
      writable: true,
      enumerable: true,
      configurable: true
    });
  } catch (e) {
    // Leave node's own process.env.
  }
})();

var exiting = false;
// The error thrown while require()ing the entry point, if any (to tailor the advice).
var entryError = null;

// Writes `text` to stderr and exits. A write to a pipe can be queued (asynchronous on POSIX);
// exiting at once would lose it, so wait for it then, but never more than 2 s.
function writeAndExit(text, code) {
  exiting = true;
  process.exitCode = code;
  var done = function () {
    process.exit(code);
  };
  try {
    process.stderr.write(text, done);
  } catch (e) {
    done();
  }
  if (process.stderr.writableLength === 0) {
    done();
  }
  setTimeout(done, 2000);
}

process.on('uncaughtException', function (err) {
  // Like iisnode: act only when no other handler exists; the app's own handler takes over.
  if (exiting || process.listeners('uncaughtException').length !== 1) {
    return;
  }
  // iisnode's interceptor writes `e.stack || new Error(e).stack`: a thrown string or object
  // without a stack is reported as `Error: <text>` with the handler's stack.
  var stack = err !== null && err !== undefined && err.stack ? String(err.stack) : new Error(err).stack;
  writeAndExit(LEAD_IN + stack + '\n' + adviceFor(err), 1);
});

// The nearest package.json's "type", the way node scopes .js files (stopping at node_modules).
function packageType(dir) {
  for (;;) {
    if (path.basename(dir) === 'node_modules') {
      return undefined;
    }
    var text = null;
    try {
      text = fs.readFileSync(path.join(dir, 'package.json'), 'utf8');
    } catch (e) {
      // No package.json here: look further up.
    }
    if (text !== null) {
      try {
        var pkg = JSON.parse(text);
        return pkg && typeof pkg === 'object' ? pkg.type : undefined;
      } catch (e) {
        return undefined;
      }
    }
    var parent = path.dirname(dir);
    if (parent === dir) {
      return undefined;
    }
    dir = parent;
  }
}

// Whether node treats the file as an ES module by its name and package scope. The
// package's "type" decides only for .js: require() compiles any other name (server.ts,
// app.es6, an extensionless file) as CommonJS whatever the package says, as iisnode's
// interceptor then does.
function isEsModuleFile(file) {
  var ext = path.extname(file);
  if (ext === '.mjs') {
    return true;
  }
  if (ext !== '.js') {
    return false;
  }
  return packageType(path.dirname(file)) === 'module';
}

// Whether require() loaded the file as an ES module (see its use below).
function loadedAsEsModule(file) {
  var cached;
  try {
    // The cache is keyed by the resolved (real) path.
    cached = require.cache[require.resolve(file)];
  } catch (e) {
    return false;
  }
  return (
    !!cached &&
    Object.getOwnPropertySymbols(cached).some(function (s) {
      return String(s) === 'Symbol(kRequiredModuleSymbol)';
    })
  );
}

// Why an ES module entry point is refused, and how to fix it. `bySyntax`: the file is a
// module only because of its import/export syntax (node's detection), not its name or scope.
function entryAdvice(bySyntax) {
  var name = path.basename(script);
  var target = bySyntax ? path.basename(script, path.extname(script)) + '.mjs' : name;
  return (
    'iisn: ' + script + (bySyntax ? ' uses ES module syntax' : ' is an ES module') + ', but\n' +
    "iisnode's interceptor loads the entry point with require(). require() cannot load ES\n" +
    'modules on node before 20.19 / 22.12, nor ones that use top-level await on any version:\n' +
    'on IIS this application fails unless the server runs a recent node.\n' +
    '\n' +
    'To fix it, either:\n' +
    '  * ' + (bySyntax ? 'rename it to ' + target + ' and add' : 'add') +
    ' a CommonJS entry point that contains only\n' +
    "        import('./" + target + "');\n" +
    '    (a .cjs file, or a .js file outside any "type": "module" package), and map the\n' +
    '    iisnode handler to it in web.config; or\n' +
    '  * run iisn with --esm to load ES modules with import() here, knowing that IIS still\n' +
    '    loads the entry point with require().\n'
  );
}

// Advice appended after the stack of an uncaught exception, when it is about ES modules.
function adviceFor(err) {
  var code = err && err.code;
  if (code === 'ERR_REQUIRE_ESM' || code === 'ERR_REQUIRE_ASYNC_MODULE') {
    return (
      '\niisn: an ES module was loaded with require(), and that fails on this node version\n' +
      '(require() cannot load ES modules on node before 20.19 / 22.12, nor ES modules with\n' +
      'top-level await on any version). iisnode loads the entry point with require() too, so\n' +
      'this fails the same way on IIS. Load that module with import() from CommonJS code, use\n' +
      'a CommonJS version of the package, or avoid top-level await. (--esm changes only how an\n' +
      'ES module entry point is loaded.)\n'
    );
  }
  var esmSyntax = /import statement outside a module|Unexpected token 'export'|'import\.meta' outside a module/;
  if (err === entryError && err instanceof SyntaxError && esmSyntax.test(err.message)) {
    return '\n' + entryAdvice(true);
  }
  return '';
}

// Load the application.
if (process.argv.length < 2 || !process.argv[1]) {
  writeAndExit('iisn-loader: usage: node iisn-loader.js <script> [args...]\n', 1);
} else if (isEsModuleFile(script)) {
  if (esmOptIn) {
    var dynamicImport = new Function('specifier', 'return import(specifier);');
    dynamicImport(url.pathToFileURL(script).href).catch(function (err) {
      // Report it as an uncaught exception, like a throw from a CommonJS entry.
      process.nextTick(function () {
        throw err;
      });
    });
  } else {
    writeAndExit(entryAdvice(false), 1);
  }
} else {
  var exported;
  try {
    exported = require(script);
  } catch (err) {
    entryError = err;
    throw err;
  }
  // Node 20.19+ / 22.12+ require() a .js file as an ES module when its syntax gives it away;
  // refuse that too. (A CommonJS entry may export a namespace it require()d: node marks the
  // modules it loaded as ES modules with an internal symbol, absent from such an entry.)
  if (!esmOptIn && util.types.isModuleNamespaceObject(exported) && loadedAsEsModule(script)) {
    writeAndExit(entryAdvice(true), 1);
  }
}
