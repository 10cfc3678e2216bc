import { Hono } from 'hono';
import { errorBody } from './errors.js';

/** What the plain `--http-port` answers: the kubelet's probes and Prometheus's scrape, nothing else. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(['/health/live', '/health/ready', '/metrics']);

/**
 * The app of the plain-HTTP port beside an HTTPS one. When the main port requires client certificates, neither the
 * kubelet (httpGet probes carry no certificate) nor a Prometheus without one can reach it; this port hands exactly
 * the probe paths to the main app (same handlers, same auth rules) and refuses every other path, segment downloads
 * above all, with a 404.
 */
export function createProbeApp(main: Hono): Hono {
  const app = new Hono();
  app.all('*', (c) => {
    if (PROBE_PATHS.has(c.req.path) && (c.req.method === 'GET' || c.req.method === 'HEAD'))
      return main.fetch(c.req.raw, c.env);
    return c.body(errorBody(404, `${c.req.path} is not served on the plain-HTTP probe port`), 404, {
      'Content-Type': 'application/json',
    });
  });
  return app;
}
