// The sidecar's own entry in the fleet registry (issue 16): an ephemeral znode created in every ZooKeeper session the
// sidecar holds, so `pinot-sidecar fleet status` finds every running sidecar with one getChildren.

import { errorMessage, SidecarError } from '../../errors.js';
import {
  clusterPaths,
  isZkCode,
  parentPath,
  readFailureDomain,
  readInstanceEndpoint,
  readRecord,
  type ZkSession,
} from '../../helix/index.js';
import type { Logger } from '../../log.js';
import type { Conditions } from '../conditions.js';
import { defaultAdvertiseUrl, encodeRegistration, type Registration } from './registry-record.js';

/** The condition (conditions.ts) that says the sidecar is missing from the fleet view, and why. */
export const REGISTRATION_CONDITION = 'registration';

export interface SidecarRegistrationOptions {
  session: ZkSession;
  /** registrationPath(lockRoot, cluster, instance). */
  path: string;
  /** The URL and zone to register; called on every (re-)registration, so a server that moved is followed. */
  address: () => Promise<RegisteredAddress>;
  /** Everything in the entry but the URL and the zone. */
  entry: Omit<Registration, 'url' | 'zone'>;
  conditions: Conditions;
  /** Called with true once registered in the live session, false whenever that stops being so. */
  onRegistered?: (registered: boolean) => void;
  logger: Logger;
  retryMinMs?: number;
  retryMaxMs?: number;
}

/**
 * Keeps `<lock-root>/<cluster>/sidecars/<instance>` present for as long as the sidecar's ZooKeeper session lives.
 *
 * Ephemeral, so the entry is gone with the session (a killed sidecar disappears from the fleet view after its
 * session timeout, like a Helix LIVEINSTANCES node), and created again in each new session: every `connected` event
 * whose session id differs from the one the entry was made in (ZkSession emits `renewed` right after such a
 * `connected`). A watch on the entry re-creates it if it is deleted under a live session.
 *
 * The rule for an entry that already exists in another session (NODE_EXISTS after a fast restart): wait for it to
 * go, never delete it. ZooKeeper tells a client nothing about whether another session is alive, so the owner may be
 * the previous process of this sidecar, whose session the server expires within its session timeout, or a second
 * sidecar started with the same --instance, which is a misconfiguration to show, not to fight over (two sidecars
 * deleting each other's entry would flap forever). Waiting costs nothing in the first case: the old entry names the
 * same instance, usually at the same URL, so the fleet view already reaches this process. Meanwhile the
 * `registration` condition says who holds the entry; a watch on it registers this sidecar the moment it goes. An
 * entry owned by the live session itself (a create whose answer was lost) is simply rewritten.
 */
export class SidecarRegistration {
  private readonly log: Logger;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private registeredIn: string | null = null;
  private lastZone: string | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly onConnected = () => this.ensure();
  private readonly onExpired = () => this.noteRegistered(null);

  constructor(private readonly options: SidecarRegistrationOptions) {
    this.log = options.logger.child({ component: 'registration' });
    this.retryMinMs = options.retryMinMs ?? 1_000;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
  }

  /** Registers in the current session (if connected) and in every later one, until stop(). */
  start(): void {
    this.options.session.on('connected', this.onConnected);
    this.options.session.on('expired', this.onExpired);
    if (this.options.session.state === 'connected') this.ensure();
  }

  /** No more (re-)registration; the entry itself goes when the session closes. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.options.session.off('connected', this.onConnected);
    this.options.session.off('expired', this.onExpired);
  }

  /** The session id the entry was created in, or null while not registered. */
  get registeredSession(): string | null {
    return this.registeredIn;
  }

  /** The zone of the last registration (what `fleet status` shows), undefined before one or when it has none. */
  get zone(): string | undefined {
    return this.lastZone;
  }

  /** One registration at a time; a request during one runs once more after it. */
  private ensure(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.register()
      .catch((err: unknown) => this.failed(err))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.ensure();
        }
      });
  }

  private async register(): Promise<void> {
    const { session, path } = this.options;
    const sessionId = session.sessionId;
    if (sessionId === null || sessionId === this.registeredIn) return;
    const address = await this.options.address();
    const data = encodeRegistration({ ...address, ...this.options.entry });
    const write = { onlyInSession: sessionId };
    for (let tries = 0; tries < 3 && !this.stopped; tries++) {
      try {
        await session.create(path, data, 'ephemeral', write);
        return this.registered(sessionId, address);
      } catch (err) {
        if (isZkCode(err, 'NO_NODE')) {
          await session.ensurePath(parentPath(path));
          continue;
        }
        if (!isZkCode(err, 'NODE_EXISTS')) throw err;
      }
      const stat = await session.exists(path, (event) => this.onEntryEvent(event.type));
      if (stat === null) continue; // gone in between: create again
      if (stat.ephemeralOwner === sessionId) {
        // Ours (a create whose answer was lost): rewritten, then watched again (the write fires the watch above).
        await session.setData(path, data, stat.version, write);
        return this.registered(sessionId, address);
      }
      return this.heldByOther(stat.ephemeralOwner);
    }
  }

  private async registered(sessionId: string, address: RegisteredAddress): Promise<void> {
    const { url } = address;
    this.lastZone = address.zone;
    const { session, path } = this.options;
    await session.exists(path, (event) => this.onEntryEvent(event.type));
    this.failures = 0;
    this.noteRegistered(sessionId);
    this.options.conditions.set(REGISTRATION_CONDITION, 'warning', { ok: true });
    this.log.info({ event: 'sidecar_registered', path, url, sessionId }, `registered in the fleet registry as ${url}`);
  }

  /** Waiting for another session's entry to go: said in the condition, with what that entry holds. */
  private async heldByOther(owner: string | null): Promise<void> {
    const { session, path } = this.options;
    const held = await session.getData(path).catch(() => null);
    const holder = held?.data ? held.data.toString('utf8').slice(0, 300) : '(unreadable)';
    this.options.conditions.set(REGISTRATION_CONDITION, 'warning', {
      ok: false,
      reason:
        `${path} is held by ZooKeeper session 0x${owner ?? '?'} (${holder}); waiting for it to go: a previous run ` +
        'of this sidecar expires within its session timeout; if it stays, another sidecar runs with this --instance',
    });
  }

  private onEntryEvent(type: string): void {
    if (type !== 'deleted' || this.stopped) return;
    // Deleted under a live session (an operator, or the previous owner's session expiring): register again.
    this.noteRegistered(null);
    this.ensure();
  }

  private noteRegistered(sessionId: string | null): void {
    const was = this.registeredIn !== null;
    this.registeredIn = sessionId;
    if (was !== (sessionId !== null)) this.options.onRegistered?.(sessionId !== null);
  }

  private failed(err: unknown): void {
    if (this.stopped) return;
    this.failures += 1;
    const delay = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** (this.failures - 1));
    this.options.conditions.set(REGISTRATION_CONDITION, 'warning', {
      ok: false,
      reason: `cannot register ${this.options.path}: ${errorMessage(err)}; retrying in ${Math.round(delay / 1000)} s`,
    });
    this.retryTimer = setTimeout(() => this.ensure(), delay);
    this.retryTimer.unref();
  }
}

/** The host cannot be learned from the instance config; --advertise-url is then the way. */
export class AdvertiseUrlError extends SidecarError {
  constructor(message: string) {
    super(`${message}; set --advertise-url (PINOT_SIDECAR_ADVERTISE_URL)`, { retriable: true });
  }
}

/** What a registration says of where the sidecar is: the URL to reach it, and its zone when known. */
export interface RegisteredAddress {
  url: string;
  zone?: string;
  /** Where the zone came from (Registration.zoneFrom); set with `zone`. */
  zoneFrom?: 'flag' | 'instance-config';
}

/** A zone id fit to register and print in a column (what `--zone` accepts): no whitespace, at most 128 characters. */
const ZONE_ID = /^\S{1,128}$/;

/**
 * The URL and zone to register. The URL: `advertiseUrl` when given, else the server's HELIX_HOST from its instance
 * config (CONFIGS/PARTICIPANT/<instance>, read through src/helix: one getData per registration) and the sidecar's
 * port. The zone: `zone` when given, else the failure domain the drain gate reads from the same instance config
 * (readFailureDomain: the `--failure-domain-tag` tag, `environment.failureDomain`, the pools), none when the server
 * is only its own domain — so `fleet status`'s zone column and `fleet drain-check --zone` agree with the gate.
 */
export function registrationAddress(options: {
  advertiseUrl: string | undefined;
  zone: string | undefined;
  failureDomainTagPrefix?: string | undefined;
  session: ZkSession;
  cluster: string;
  instance: string;
  port: number;
  /** The port serves HTTPS: the default URL says https. */
  tls?: boolean;
}): () => Promise<RegisteredAddress> {
  const { session, cluster, instance, port, tls = false } = options;
  const explicitUrl = options.advertiseUrl?.replace(/\/+$/, '');
  const flagZone = options.zone === undefined ? {} : { zone: options.zone, zoneFrom: 'flag' as const };
  if (explicitUrl !== undefined && options.zone !== undefined)
    return () => Promise.resolve({ url: explicitUrl, ...flagZone });
  const path = clusterPaths(cluster).instanceConfig(instance);
  return async () => {
    // With the URL given, the instance config only adds the zone: one that is missing or cannot be read (corrupt,
    // over the size limit) costs the zone, not the registration.
    const record = await readRecord(session, path).catch((err: unknown) => {
      if (explicitUrl === undefined) throw err;
      return null;
    });
    if (record === null) {
      if (explicitUrl === undefined)
        throw new AdvertiseUrlError(`no instance config at ${path} to learn the server's host from`);
      return { url: explicitUrl, ...flagZone };
    }
    const url = explicitUrl ?? defaultAdvertiseUrl(readInstanceEndpoint(record.doc.record, path).host, port, { tls });
    if (options.zone !== undefined) return { url, ...flagZone };
    const domain = readFailureDomain(record.doc.record, instance, {
      ...(options.failureDomainTagPrefix === undefined ? {} : { tagPrefix: options.failureDomainTagPrefix }),
    });
    // The server alone (no domain configured), or an id a column cannot hold: no zone rather than a wrong one.
    if (domain.source === 'instance' || !ZONE_ID.test(domain.id)) return { url };
    return { url, zone: domain.id, zoneFrom: 'instance-config' };
  };
}
