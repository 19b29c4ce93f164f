// The gateway's S/MIME policy: what it enforces, per organisation and per group, and the device
// policy fields that tell a device the same thing. One source for both, so that a device is never
// told "signing optional" while the gateway refuses unsigned mail.
import { DEFAULT_DEVICE_POLICY, type DevicePolicySettings } from '../policy.js';

/**
 * Enforcement levels, weakest first. Each includes the ones before it except that
 * `require-encrypted` does not by itself require signing (the device policy keeps the two apart too).
 */
export const POLICY_MODES = ['tag', 'reject-invalid', 'require-signed', 'require-encrypted'] as const;
export type PolicyMode = (typeof POLICY_MODES)[number];

export interface Enforcement {
  /** A signature that does not verify (any error-level reason) is refused. */
  rejectInvalid: boolean;
  /** Mail that carries no signature is refused. */
  requireSigned: boolean;
  /** Mail that is not enveloped (encrypted) is refused. */
  requireEncrypted: boolean;
}

export interface GatewayPolicy {
  organisation: Enforcement;
  /** Group address → its enforcement; a user gets the union of the organisation's and their groups'. */
  groups: Map<string, Enforcement>;
  /** The device policy fields that follow from it. */
  allowSoftCerts: boolean;
  signedAlgorithm: number;
  encryptionAlgorithm: number;
  algorithmNegotiation: number;
}

export class PolicyError extends Error {}

const NONE: Enforcement = { rejectInvalid: false, requireSigned: false, requireEncrypted: false };

/** Reads `mode`: one level name, or a list of them. */
function enforcementOf(mode: unknown, where: string): Enforcement {
  if (mode === undefined) return { ...NONE };
  const list = Array.isArray(mode) ? mode : [mode];
  const e = { ...NONE };
  for (const m of list) {
    if (typeof m !== 'string' || !(POLICY_MODES as readonly string[]).includes(m)) {
      throw new PolicyError(`${where}.mode: ${JSON.stringify(m)} is not one of ${POLICY_MODES.join(', ')}`);
    }
    if (m === 'reject-invalid') e.rejectInvalid = true;
    if (m === 'require-signed') { e.requireSigned = true; e.rejectInvalid = true; }
    if (m === 'require-encrypted') e.requireEncrypted = true;
  }
  return e;
}

function intIn(v: unknown, where: string, allowed: readonly number[], fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !allowed.includes(v)) throw new PolicyError(`${where} must be one of ${allowed.join(', ')}`);
  return v;
}

/**
 * Parses the organisation's `policy` object (organisation.json). Keys the gateway does not own
 * (`appConfig`, `comment`) pass through untouched.
 */
export function parsePolicy(raw: Record<string, unknown> | undefined): GatewayPolicy {
  const p = raw ?? {};
  const bool = (k: string, fallback: boolean): boolean => {
    const v = p[k];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') throw new PolicyError(`policy.${k} must be true or false`);
    return v;
  };
  const organisation = enforcementOf(p.mode, 'policy');
  // The older boolean spellings still count, so existing fixtures keep their meaning.
  if (bool('requireSigned', false)) { organisation.requireSigned = true; organisation.rejectInvalid = true; }
  if (bool('requireEncrypted', false)) organisation.requireEncrypted = true;
  const groups = new Map<string, Enforcement>();
  if (p.groups !== undefined) {
    if (typeof p.groups !== 'object' || p.groups === null || Array.isArray(p.groups)) {
      throw new PolicyError('policy.groups must be an object from group address to { "mode": ... }');
    }
    for (const [address, g] of Object.entries(p.groups as Record<string, unknown>)) {
      if (typeof g !== 'object' || g === null) throw new PolicyError(`policy.groups["${address}"] must be an object`);
      groups.set(address.toLowerCase(), enforcementOf((g as Record<string, unknown>).mode, `policy.groups["${address}"]`));
    }
  }
  return {
    organisation,
    groups,
    allowSoftCerts: bool('allowSoftCerts', DEFAULT_DEVICE_POLICY.allowSmimeSoftCerts),
    signedAlgorithm: intIn(p.signedAlgorithm, 'policy.signedAlgorithm', [0, 1], DEFAULT_DEVICE_POLICY.signedSmimeAlgorithm),
    encryptionAlgorithm: intIn(p.encryptionAlgorithm, 'policy.encryptionAlgorithm', [0, 1, 2, 3, 4], DEFAULT_DEVICE_POLICY.encryptionSmimeAlgorithm),
    algorithmNegotiation: intIn(p.algorithmNegotiation, 'policy.algorithmNegotiation', [0, 1, 2], DEFAULT_DEVICE_POLICY.smimeAlgorithmNegotiation),
  };
}

export function union(a: Enforcement, b: Enforcement): Enforcement {
  return {
    rejectInvalid: a.rejectInvalid || b.rejectInvalid,
    requireSigned: a.requireSigned || b.requireSigned,
    requireEncrypted: a.requireEncrypted || b.requireEncrypted,
  };
}

/** What applies to a user who belongs to these groups. */
export function enforcementFor(policy: GatewayPolicy, groupAddresses: Iterable<string>): Enforcement {
  let e = policy.organisation;
  for (const g of groupAddresses) {
    const ge = policy.groups.get(g.toLowerCase());
    if (ge) e = union(e, ge);
  }
  return e;
}

/** The device policy a user's devices receive: the same requirements the gateway enforces for them. */
export function devicePolicyFor(policy: GatewayPolicy, e: Enforcement): DevicePolicySettings {
  return {
    ...DEFAULT_DEVICE_POLICY,
    requireSignedSmime: e.requireSigned,
    requireEncryptedSmime: e.requireEncrypted,
    signedSmimeAlgorithm: policy.signedAlgorithm,
    encryptionSmimeAlgorithm: policy.encryptionAlgorithm,
    smimeAlgorithmNegotiation: policy.algorithmNegotiation,
    allowSmimeSoftCerts: policy.allowSoftCerts,
  };
}

export function describe(e: Enforcement): string {
  const parts = [e.requireSigned ? 'require-signed' : e.rejectInvalid ? 'reject-invalid' : 'tag'];
  if (e.requireEncrypted) parts.push('require-encrypted');
  return parts.join('+');
}
