import type { Hono } from 'hono';
import { checkDrain, type DrainCheckDeps, type DrainReport } from '../drain/check.js';
import type { DrainPreparation, PreparationProgress } from '../drain/prepare.js';
import { BadRequestError, MethodNotAllowedError, NotFoundError, UnavailableError } from './errors.js';

/** The JSON of `GET /drain/check`: the report, and the last `POST /drain/prepare`'s progress (null: none). */
export type DrainCheckBody = DrainReport & { preparation: PreparationProgress | null };

/** Longest `?domain=` accepted: a zone or fault-domain name, never a document. */
const MAX_DOMAIN_CHARS = 256;

/**
 * `GET /drain/check[?domain=<zone>]` and `POST /drain/prepare` (README.md, "Before you restart or migrate a server
 * / a zone"). The check answers 200 whatever the verdict (safe, unsafe, cannot_tell are all answers; the CLI maps
 * them to exit codes). Prepare sits behind the same global token as `POST /repair/run`, answers 202 at once, or
 * with `?wait=true` once the repairs it started have settled, with a fresh check. Both read ZooKeeper, so a
 * request per call: the check is meant for orchestrators polling every few seconds, not for dashboards.
 */
export function registerDrainRoutes(
  app: Hono,
  deps: { check: DrainCheckDeps; preparation: DrainPreparation | undefined },
): void {
  const body = async (domain: string | undefined): Promise<DrainCheckBody> => ({
    ...(await checkDrain(deps.check, domain === undefined ? {} : { domain })),
    preparation: deps.preparation?.progress() ?? null,
  });
  app.get('/drain/check', async (c) => c.json(await body(domainParam(c.req.query('domain')))));
  app.post('/drain/prepare', async (c) => {
    const preparation = deps.preparation;
    if (!preparation)
      throw new NotFoundError('deep-store repair is off (no --deep-store): at-risk segments cannot be repaired');
    const report = await checkDrain(deps.check);
    if (report.verdict === 'cannot_tell')
      throw new UnavailableError(`cannot tell which segments are at risk: ${report.reasons.join('; ')}`);
    const pass = preparation.start(report.atRisk);
    if (c.req.query('wait') === 'true') {
      await pass;
      return c.json(await body(undefined));
    }
    pass.catch(() => undefined); // logged by DrainPreparation
    return c.json(
      {
        accepted: true,
        segments: report.atRisk.map(({ table, segment, reason }) => ({ table, segment, reason })),
        message: 'repairing the at-risk segments first; GET /drain/check shows the progress',
      },
      202,
    );
  });
  for (const [path, allowed] of [
    ['/drain/check', ['GET', 'HEAD']],
    ['/drain/prepare', ['POST']],
  ] as const) {
    app.all(path, (c) => {
      throw new MethodNotAllowedError(c.req.method, path, allowed);
    });
  }
}

function domainParam(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '' || value.length > MAX_DOMAIN_CHARS)
    throw new BadRequestError(`?domain= must name a failure domain (1 to ${MAX_DOMAIN_CHARS} characters)`);
  return value;
}
