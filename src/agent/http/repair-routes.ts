import type { Hono } from 'hono';
import type { Logger } from '../../log.js';
import type { DeepStoreProbeStatus } from '../repair/deep-store-probe.js';
import type { Reconciler } from '../repair/index.js';
import { MethodNotAllowedError, NotFoundError } from './errors.js';

/**
 * `GET /repair/status` and `POST /repair/run` (README.md, "HTTP API (one port)"). A pass can take as
 * long as its uploads, so POST answers 202 at once unless the caller asks to wait (`?wait=true`), in
 * which case it answers with the pass summary. Both sit behind the global token middleware. Any other
 * method on these paths is a 405 naming the right one: `GET /repair/run` is a caller who meant POST,
 * not a missing endpoint.
 */
export function registerRepairRoutes(
  app: Hono,
  reconciler: Reconciler | undefined,
  logger: Logger,
  /** The deep store's last probe (DeepStoreProbe.status()), shown beside the segments; absent when not probed. */
  deepStoreStatus?: () => DeepStoreProbeStatus,
): void {
  const off = () => new NotFoundError('deep-store repair is off: the sidecar runs without --deep-store');
  app.get('/repair/status', (c) => {
    if (!reconciler) throw off();
    return c.json({ ...reconciler.status(), deepStore: deepStoreStatus?.() ?? null });
  });
  app.post('/repair/run', async (c) => {
    if (!reconciler) throw off();
    const pass = reconciler.requestPass();
    if (c.req.query('wait') === 'true') return c.json(await pass);
    pass.catch((err: unknown) => logger.warn({ err }, 'requested repair pass failed'));
    return c.json({ accepted: true, message: 'repair pass started; GET /repair/status shows its progress' }, 202);
  });
  // Registered after the routes above: Hono tries handlers in order, so these only see other methods.
  for (const [path, allowed] of [
    ['/repair/status', ['GET', 'HEAD']],
    ['/repair/run', ['POST']],
  ] as const) {
    app.all(path, (c) => {
      throw new MethodNotAllowedError(c.req.method, path, allowed);
    });
  }
}
