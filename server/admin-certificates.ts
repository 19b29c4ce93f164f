// Admin routes over certificates: what each user holds (never the private keys), which
// certificates the GAL publishes, and the organisation's trust anchors and CRLs, which can be
// added while the server runs (a test revokes a certificate by posting a new CRL).
import type Koa from 'koa';
import { certificatesFrom, CertificateError, parseCertificate } from '../smime/certificate.js';
import { crlsFrom, CrlError, parseCrl } from '../smime/crl.js';
import type { Store } from './store/index.js';
import type { StoredCertificate } from './store/certificates.js';
import { readBody } from './http.js';
import { ImportError, importPkcs12 } from './certificates/import.js';

const IMPORT_STATUS: Record<ImportError['code'], number> = { 'bad-request': 400, 'unknown-user': 404, pkcs12: 422, unsuitable: 422 };

/**
 * POST /admin/users/<a>/certificates with JSON { pkcs12: base64, password, purpose, deviceId?, publish?, dryRun? }:
 * every key pair in the file becomes a certificate of the user with its key sealed at rest.
 */
async function importRoute(ctx: Koa.Context, store: Store, serverKey: Buffer, user: string): Promise<true> {
  const fail = (status: number, error: string, extra: Record<string, unknown> = {}): true => { ctx.status = status; ctx.body = { error, ...extra }; return true; };
  let body: Record<string, unknown>;
  try {
    body = JSON.parse((await readBody(ctx.req, MAX_UPLOAD)).toString('utf8')) as Record<string, unknown>;
  } catch {
    return fail(400, 'the body must be JSON: { "pkcs12": "<base64>", "password": "...", "purpose": "signing|encryption|both" }');
  }
  if (typeof body !== 'object' || body === null) return fail(400, 'the body must be a JSON object');
  const { pkcs12, password, purpose, deviceId, publish, dryRun } = body;
  if (typeof pkcs12 !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(pkcs12)) return fail(400, '"pkcs12" must be the file in base64');
  if (typeof password !== 'string') return fail(400, '"password" must be a string (empty for none)');
  if (purpose !== 'signing' && purpose !== 'encryption' && purpose !== 'both') return fail(400, '"purpose" must be signing, encryption or both');
  if (deviceId !== undefined && typeof deviceId !== 'string') return fail(400, '"deviceId" must be a string');
  if (publish !== undefined && typeof publish !== 'boolean') return fail(400, '"publish" must be true or false');
  if (dryRun !== undefined && typeof dryRun !== 'boolean') return fail(400, '"dryRun" must be true or false');
  try {
    const result = await importPkcs12(store, serverKey, {
      user, purpose, deviceId, publish, pkcs12: Buffer.from(pkcs12, 'base64'), password, source: 'admin API',
    }, { dryRun: dryRun === true });
    ctx.status = dryRun === true ? 200 : 201;
    ctx.body = {
      user: result.user.address, encryption: result.encryption, warnings: result.warnings,
      certificates: result.certificates.map((c) => ({ status: c.status, ...describeCert(c.certificate) })),
    };
    return true;
  } catch (e) {
    if (e instanceof ImportError) return fail(IMPORT_STATUS[e.code], e.message, { code: e.pkcs12Code ?? e.code });
    throw e;
  }
}

/** CRLs and certificates are small; a bigger body is a mistake, not a CRL. */
const MAX_UPLOAD = 16 * 1024 * 1024;

function describeCert(c: StoredCertificate): Record<string, unknown> {
  return {
    id: c.id, purpose: c.purpose, subject: c.subject, issuer: c.issuer, serial: c.serial,
    notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString(), fingerprint256: c.fingerprint256,
    hasPrivateKey: c.hasPrivateKey, deviceId: c.deviceId ?? null, published: c.publish, source: c.source,
  };
}

export async function certificateRoutes(ctx: Koa.Context, store: Store, parts: string[], serverKey: Buffer): Promise<boolean> {
  const fail = (status: number, error: string): true => { ctx.status = status; ctx.body = { error }; return true; };

  if (parts[1] === 'users' && parts[3] === 'certificates') {
    const u = store.directory.userBySignInName(parts[2]!);
    if (!u) return fail(404, `user ${parts[2]} not found`);
    if (ctx.method === 'GET' && parts.length === 4) {
      ctx.body = store.certificates.ofUser(u.id).map(describeCert);
      return true;
    }
    if (ctx.method === 'POST' && parts.length === 4) return importRoute(ctx, store, serverKey, u.address);
    if (ctx.method === 'PUT' && parts.length === 6 && parts[5] === 'published') {
      // PUT /admin/users/<a>/certificates/<id>/published with body "true" or "false".
      const id = Number(parts[4]);
      const own = Number.isInteger(id) ? store.certificates.ofUser(u.id).find((c) => c.id === id) : undefined;
      if (!own) return fail(404, `certificate ${parts[4]} of ${u.address} not found`);
      const text = (await readBody(ctx.req, 64)).toString('utf8').trim();
      if (text !== 'true' && text !== 'false') return fail(400, 'the body must be true or false');
      store.certificates.setPublished(id, text === 'true');
      ctx.body = describeCert(store.certificates.byId(id)!);
      return true;
    }
    return false;
  }

  if (parts[1] !== 'trust') return false;
  if (ctx.method === 'GET' && parts.length === 2) {
    const anchors = store.certificates.trustAnchors();
    const certs = (list: Buffer[]): unknown[] => list.map((der) => {
      const c = parseCertificate(der);
      return { subject: c.subject, serial: c.serial, notAfter: c.notAfter.toISOString() };
    });
    ctx.body = {
      roots: certs(anchors.roots), intermediates: certs(anchors.intermediates),
      crls: anchors.crls.map((der) => {
        const crl = parseCrl(der);
        return { issuer: crl.issuer, thisUpdate: crl.thisUpdate.toISOString(), nextUpdate: crl.nextUpdate?.toISOString() ?? null, revoked: crl.revoked.size };
      }),
    };
    return true;
  }
  if (ctx.method === 'POST' && parts.length === 3 && ['crls', 'roots', 'intermediates'].includes(parts[2]!)) {
    const body = await readBody(ctx.req, MAX_UPLOAD);
    if (body.length === 0) return fail(400, 'the body is empty: send DER or PEM');
    try {
      if (parts[2] === 'crls') {
        const crls = crlsFrom(body);
        if (crls.length === 0) return fail(400, 'no CRL found in the body');
        // Read each fully before storing any: a bad one in a PEM bundle stores nothing.
        const parsed = crls.map((der) => parseCrl(der));
        store.db.transaction(() => { for (const c of parsed) store.certificates.addTrustAnchor('crl', c.der, 'admin API'); })();
        ctx.status = 201;
        ctx.body = parsed.map((c) => ({ issuer: c.issuer, revoked: c.revoked.size, thisUpdate: c.thisUpdate.toISOString() }));
        return true;
      }
      const certs = certificatesFrom(body);
      if (certs.length === 0) return fail(400, 'no certificate found in the body');
      const parsed = certs.map((der) => parseCertificate(der));
      const kind = parts[2] === 'roots' ? 'root' : 'intermediate';
      store.db.transaction(() => { for (const c of parsed) store.certificates.addTrustAnchor(kind, c.der, 'admin API'); })();
      ctx.status = 201;
      ctx.body = parsed.map((c) => ({ subject: c.subject, serial: c.serial }));
      return true;
    } catch (e) {
      if (e instanceof CrlError || e instanceof CertificateError) return fail(400, e.message);
      throw e;
    }
  }
  return false;
}
