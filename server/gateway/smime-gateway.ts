// The S/MIME gateway in the mail flow: verifies every S/MIME message that enters or leaves, records
// the verdict, enforces the organisation's and groups' policy, and holds encrypted submissions to
// the encryption-recipient-availability check. A refused submission reaches no one and leaves a
// non-delivery report in the sender's Inbox.
import { verifySmime, type DecryptHook, type DecryptRequest } from '../../smime/verify.js';
import type { SmimeVerdict } from '../../smime/verdict.js';
import type { CrlSource } from '../../smime/trust.js';
import type { Logger } from '../log.js';
import type { ParsedMessage } from '../mail/parse.js';
import type { Store } from '../store/index.js';
import { GatewayRefusal, type Gateway, type GatewayDecision, type GatewayEnvelope } from './gateway.js';
import { describe, enforcementFor, parsePolicy, union, type Enforcement, type GatewayPolicy } from './policy.js';
import { checkRecipients, type EnvelopeMatcher } from './recipients.js';
import { buildNonDeliveryReport } from './ndr.js';
import { headerBlock } from '../mail/delivery-report.js';
import { trustStoreOf } from './trust-cache.js';

/** Opens an envelope with the private keys of these users (their whole key history); null when none fits. */
export type EnvelopeOpener = (cms: Buffer, userIds: number[]) => Promise<Buffer | null>;
/** Reads an envelope (CMS DER) once; throws when it cannot be read. The matcher tells which certificates it names. */
export type EnvelopeReader = (cms: Buffer) => EnvelopeMatcher;

export interface SmimeGatewayOptions {
  /** Leaves a report in a local user's Inbox. */
  deliverReport: (userId: number, raw: Buffer) => Promise<void>;
  open?: EnvelopeOpener;
  readEnvelope?: EnvelopeReader;
  /** Fetches CRLs from distribution points (off unless configured). */
  crlSource?: CrlSource;
}

const ENVELOPED = new Set(['enveloped', 'auth-enveloped']);

/** Users whose enforcement is remembered between changes (a bound, not an expectation). */
const MAX_REMEMBERED_USERS = 10_000;

/** The parsed policy and each user's enforcement under it, valid while `stamp` is the store's. */
interface PolicyView {
  stamp: number;
  /** The policy's JSON text in meta, as last parsed. */
  rawPolicy: string;
  policy: GatewayPolicy;
  byUser: Map<number, Enforcement>;
}

export class SmimeGateway implements Gateway {
  private view: PolicyView | undefined;

  constructor(private readonly store: Store, private readonly log: Logger, private readonly opts: SmimeGatewayOptions) {}

  /**
   * The policy and per-user enforcement, re-read only when meta or the directory changed: the
   * store's change counter is one comparison, where reading the policy and every recipient's
   * groups would be a look-up each, for every message.
   */
  private policyView(): PolicyView {
    const versions = this.store.versions;
    const stamp = versions.version('meta', 'users', 'groups', 'group_members');
    if (this.view?.stamp === stamp) return this.view;
    const rawPolicy = this.store.getMeta('policy') ?? '{}';
    // Meta moves for other keys too: the policy is parsed again only when its text changed.
    const policy = this.view?.rawPolicy === rawPolicy ? this.view.policy : parsePolicy(JSON.parse(rawPolicy) as Record<string, unknown>);
    const view: PolicyView = { stamp, rawPolicy, policy, byUser: new Map() };
    // What is read inside a transaction may be rolled back without moving the counter: use it, don't keep it.
    if (versions.cacheable()) this.view = view;
    return view;
  }

  private enforcementOfUsers(userIds: Iterable<number>): Enforcement {
    const view = this.policyView();
    let e = view.policy.organisation;
    for (const id of userIds) {
      let mine = view.byUser.get(id);
      if (!mine) {
        mine = enforcementFor(view.policy, this.store.directory.groupsOf(id));
        if (view.byUser.size >= MAX_REMEMBERED_USERS) view.byUser.clear();
        view.byUser.set(id, mine);
      }
      e = union(e, mine);
    }
    return e;
  }

  /**
   * Verifies, opening envelopes with these users' keys so that signatures inside can be checked;
   * the first envelope's CMS is left in `captured` (outbound checks its recipients).
   */
  private async verify(raw: Buffer, keyHolders: number[], captured: { envelope?: Buffer } = {}): Promise<SmimeVerdict> {
    const decrypt: DecryptHook = async (req: DecryptRequest) => {
      if (!req.cms) return null;
      captured.envelope ??= req.cms;
      if (!this.opts.open || keyHolders.length === 0) return null;
      return this.opts.open(req.cms, keyHolders);
    };
    return verifySmime(raw, { trust: trustStoreOf(this.store), decrypt, crlSource: this.opts.crlSource });
  }

  async inbound(raw: Buffer, parsed: ParsedMessage, env: GatewayEnvelope): Promise<GatewayDecision> {
    const users = new Set<number>();
    for (const r of env.recipients) for (const u of this.store.directory.expandLocal(r)) users.add(u.id);
    const enforcement = this.enforcementOfUsers(users);
    const verdict = parsed.smimeKind === 'none' ? undefined : env.verdict ?? await this.verify(raw, [...users]);
    const refusal = this.policyRefusal(enforcement, parsed, verdict);
    if (refusal) throw refusal;
    return { verdict };
  }

  async outbound(raw: Buffer, parsed: ParsedMessage, env: GatewayEnvelope): Promise<GatewayDecision> {
    const sender = this.store.directory.userBySignInName(env.authenticatedUser ?? env.sender);
    const enforcement = this.enforcementOfUsers(sender ? [sender.id] : []);
    // The sender's own keys first (clients encrypt to themselves too), then local recipients'.
    const holders = new Set<number>(sender ? [sender.id] : []);
    for (const r of env.recipients) for (const u of this.store.directory.expandLocal(r)) holders.add(u.id);
    const captured: { envelope?: Buffer } = {};
    const verdict = parsed.smimeKind === 'none' ? undefined : await this.verify(raw, [...holders], captured);

    let refusal = this.policyRefusal(enforcement, parsed, verdict);
    if (!refusal && ENVELOPED.has(parsed.smimeKind)) refusal = await this.availability(captured.envelope, env.recipients);
    if (refusal) {
      this.log({
        msg: 'submission refused by the S/MIME gateway', sender: sender?.address ?? env.sender, code: refusal.code, reason: refusal.message,
        recipients: refusal.recipients.map((r) => `${r.address}:${r.problem}`).join(','), policy: describe(enforcement),
      });
      if (sender) await this.report(sender.id, sender.address, raw, parsed, refusal);
      throw refusal;
    }
    return { verdict };
  }

  private async availability(envelope: Buffer | undefined, recipients: readonly string[]): Promise<GatewayRefusal | undefined> {
    const read = this.opts.readEnvelope;
    let named: EnvelopeMatcher;
    if (!envelope || !read) {
      named = (certs) => certs.map(() => false);
    } else {
      try {
        named = read(envelope);
      } catch (e) {
        return new GatewayRefusal(`the encrypted message cannot be read: ${(e as Error).message}`, 'recipients-unavailable',
          recipients.map((address) => ({ address, problem: 'not-in-envelope' as const, detail: 'the envelope is malformed' })), 554);
      }
    }
    const outcomes = await checkRecipients(this.store, trustStoreOf(this.store), recipients, named);
    const failed = outcomes.filter((o) => !o.ok);
    if (failed.length === 0) return undefined;
    return new GatewayRefusal(
      `encrypted message refused: remove ${failed.map((f) => `${f.address} (${f.problem})`).join(', ')}`,
      'recipients-unavailable',
      failed.map((f) => ({ address: f.address, problem: f.problem!, detail: f.detail })),
      550,
    );
  }

  /** What the policy says about this message, or undefined when it may pass. */
  private policyRefusal(e: Enforcement, parsed: ParsedMessage, verdict: SmimeVerdict | undefined): GatewayRefusal | undefined {
    const errors = verdict?.problems.filter((p) => p.severity === 'error') ?? [];
    const encrypted = ENVELOPED.has(parsed.smimeKind) || (verdict?.layers.some((l) => ENVELOPED.has(l.kind)) ?? false);
    // An envelope the gateway could not open hides whether a signature is inside: it is not held against the sender.
    const unopened = verdict?.problems.some((p) => p.reason === 'encrypted') ?? false;
    if (e.rejectInvalid && errors.length > 0) {
      return new GatewayRefusal(`S/MIME signature is not valid: ${verdict!.reasons.join(', ')}`, 'signature-invalid', [], 550);
    }
    if (e.requireSigned && !(verdict?.signed ?? false) && !unopened) {
      return new GatewayRefusal('policy requires S/MIME signed mail, and this message is not signed', 'signing-required', [], 550);
    }
    if (e.requireEncrypted && !encrypted) {
      return new GatewayRefusal('policy requires S/MIME encrypted mail, and this message is not encrypted', 'encryption-required', [], 550);
    }
    return undefined;
  }

  private async report(userId: number, address: string, raw: Buffer, parsed: ParsedMessage, refusal: GatewayRefusal): Promise<void> {
    const domain = this.store.getMeta('domain') ?? address.split('@')[1] ?? 'localhost';
    const ndr = buildNonDeliveryReport({
      refusal, sender: address, domain, originalHeaders: headerBlock(raw), originalSubject: parsed.subject, at: new Date(),
    });
    try {
      await this.opts.deliverReport(userId, ndr);
    } catch (e) {
      // The refusal stands either way; the status and the log still tell the sender why.
      this.log({ level: 'error', msg: 'could not leave the non-delivery report', user: address, error: e instanceof Error ? e.message : String(e) });
    }
  }
}
