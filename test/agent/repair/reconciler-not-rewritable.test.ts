import { describe, expect, it } from 'vitest';
import { entryOf, events, seg, useTestBed, waitFor } from './harness.js';

/**
 * Review of issue 10 items 2 and 4: in repair-attempt.ts the compare-and-set catch treats EVERY error of
 * compareAndSetSimpleField() other than SESSION_CHANGED as "sent, answer lost" (AmbiguousWriteError). But
 * rewriteSimpleField() runs inside it first and throws RecordNotRewritableError before anything is sent. The
 * not_rewritable pre-check only covers the first read: after a conflict the re-read record is written without
 * one. A record that became not rewritable while the archive uploaded (here: the URL key now appears twice,
 * which Helix reads as "") is then retried five rounds as an ambiguous write, fails as
 * "no answer to the URL write ... it may have been applied", and leaves an unconfirmedWrite behind
 * (a later URL equal to ours, written by anyone, is then counted as our success).
 * Expected: skipped (not_rewritable) without a single upload_failure, and no write in doubt.
 */
const bed = useTestBed();

describe('a record that becomes not rewritable during the upload (review of issue 10)', () => {
  it('is skipped as not_rewritable, never reported as an unanswered write', async () => {
    const world = await bed.world({ store: 'file' });
    const { sidecar, release } = await world.heldAttempt();

    // While the archive uploads, someone rewrites the record with the URL key twice (Helix reads the last: "").
    const path = world.metadataPath(seg(1));
    const { data, stat } = await world.seedSession.getData(path);
    const json = data!.toString('utf8');
    const doubled = json.replace(/("segment\.download\.url"\s*:\s*"")/, '$1,\n  "segment.download.url" : ""');
    expect(doubled).not.toBe(json);
    await world.seedSession.setData(path, Buffer.from(doubled), stat.version);
    release();

    await waitFor(() => expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'skipped', reason: 'not_rewritable' }));
    // Nothing was ever sent without an answer.
    expect(events(sidecar, 'upload_failure').map((e) => e['err'])).toEqual([]);
    expect(sidecar.reconciler.status().segments.find((s) => s.segment === seg(1))?.lastError ?? null).toBeNull();
    // The record was left exactly as the other writer made it.
    expect((await world.seedSession.getData(path)).data!.toString('utf8')).toBe(doubled);
  });
});
