// Serves the browser example on loopback: the page, its script, the sign-out popup's landing page
// (signed-out.html), the helper (clients/js) and the three browser modules it imports, and
// /config.json from the environment.
//
//   ISSUER=http://127.0.0.1:3000 MQTT_URL=ws://127.0.0.1:8080 PORT=8000 node serve.mjs
//   (also CLIENT_ID, default mqtt-web; RESOURCE, default urn:mqtt:web; TOPIC, default demo/#;
//    RENEW_BEFORE, seconds before exp to renew, default 60)
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join, normalize, sep } from 'node:path';

const here = fileURLToPath(new URL('.', import.meta.url));
const ROUTES = {
  '/vendor/mqtt/': join(here, 'node_modules/mqtt/'),
  '/vendor/oidc-client-ts/': join(here, 'node_modules/oidc-client-ts/'),
  '/vendor/jwt-decode/': join(here, 'node_modules/jwt-decode/'),
  '/mqtt-jwt-client/': join(here, '../../clients/js/'),
};
const FILES = {
  '/': 'index.html', '/index.html': 'index.html', '/app.js': 'app.js',
  '/signed-out.html': 'signed-out.html', '/signed-out.js': 'signed-out.js',
};
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.map': 'application/json' };

function config(env) {
  return {
    issuer: env.ISSUER,
    clientId: env.CLIENT_ID || 'mqtt-web',
    mqttUrl: env.MQTT_URL,
    resource: env.RESOURCE || 'urn:mqtt:web',
    topic: env.TOPIC || 'demo/#',
    renewBeforeSeconds: Number(env.RENEW_BEFORE || 60),
  };
}

function resolve(path) {
  if (FILES[path]) return join(here, FILES[path]);
  for (const [prefix, dir] of Object.entries(ROUTES)) {
    if (!path.startsWith(prefix)) continue;
    const file = normalize(join(dir, path.slice(prefix.length)));
    // Only files below the route's folder: no ../ out of it.
    return file.startsWith(dir.endsWith(sep) ? dir : dir + sep) ? file : null;
  }
  return null;
}

/** Starts the server on 127.0.0.1:`port` (0: any); resolves with the http.Server. */
export function serve(port, env = process.env) {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      return res.end(JSON.stringify(config(env)));
    }
    const file = resolve(path);
    try {
      if (!file) throw new Error('not found');
      const body = await readFile(file);
      const ext = file.slice(file.lastIndexOf('.'));
      res.writeHead(200, { 'content-type': TYPES[ext] || 'application/octet-stream' });
      return res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found');
    }
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.env.PORT || 8000));
  console.log(`http://127.0.0.1:${server.address().port}/`);
}
