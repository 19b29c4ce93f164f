// Autodiscover, the POX form (signed in) and the v2 JSON form (anonymous): tells a client which URL
// serves ActiveSync for an address.
import type Koa from 'koa';
import { BodyTooLarge, readBody, type HttpAppOptions } from './http.js';

const RESPONSE_SCHEMA = 'http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006';

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function errorResponse(code: number, message: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><Response><Error Time="${new Date().toISOString().slice(11, 19)}" Id="1"><ErrorCode>${code}</ErrorCode><Message>${escapeXml(message)}</Message><DebugData /></Error></Response></Autodiscover>\n`;
}

export async function autodiscover(ctx: Koa.Context, opts: HttpAppOptions): Promise<void> {
  if (ctx.method !== 'POST') { ctx.status = 405; ctx.set('Allow', 'POST'); return; }
  const auth = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(ctx.get('authorization'));
  const decoded = auth ? Buffer.from(auth[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const principal = colon > 0 ? await opts.authenticate(decoded.slice(0, colon), decoded.slice(colon + 1)) : undefined;
  if (!principal) {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Basic realm="easmime"');
    return;
  }
  let body: string;
  try {
    body = (await readBody(ctx.req, 64 * 1024)).toString('utf8');
  } catch (e) {
    if (e instanceof BodyTooLarge) { ctx.status = 413; return; }
    throw e;
  }
  ctx.type = 'text/xml; charset=utf-8';
  const schema = /<AcceptableResponseSchema>\s*([^<]*?)\s*<\/AcceptableResponseSchema>/i.exec(body)?.[1];
  const address = /<EMailAddress>\s*([^<]*?)\s*<\/EMailAddress>/i.exec(body)?.[1];
  if (!address || (body.match(/<Request>/gi)?.length ?? 0) !== 1) { ctx.body = errorResponse(600, 'Invalid Request'); return; }
  if (schema !== RESPONSE_SCHEMA) { ctx.body = errorResponse(601, 'Provider is not available for the requested schema'); return; }
  const url = `${ctx.protocol}://${ctx.host}/Microsoft-Server-ActiveSync`;
  ctx.body = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="${RESPONSE_SCHEMA}">
    <Culture>en:us</Culture>
    <User>
      <DisplayName>${escapeXml(principal.displayName)}</DisplayName>
      <EMailAddress>${escapeXml(principal.address)}</EMailAddress>
    </User>
    <Action>
      <Settings>
        <Server>
          <Type>MobileSync</Type>
          <Url>${escapeXml(url)}</Url>
          <Name>${escapeXml(url)}</Name>
        </Server>
      </Settings>
    </Action>
  </Response>
</Autodiscover>
`;
}

/** What Autodiscover v2 hands out, by its Protocol parameter (lower case). */
const JSON_PROTOCOLS: ReadonlyMap<string, { name: string; path: string }> = new Map([
  ['activesync', { name: 'ActiveSync', path: '/Microsoft-Server-ActiveSync' }],
  ['autodiscoverv1', { name: 'AutodiscoverV1', path: '/autodiscover/autodiscover.xml' }],
]);

/**
 * Autodiscover v2, as Exchange Online offers it to modern clients: GET
 * /autodiscover/autodiscover.json?Email=<address>&Protocol=ActiveSync, or
 * /autodiscover/autodiscover.json/v1.0/<address>?Protocol=ActiveSync, answered without sign-in with
 * the URL of the service for that protocol. It tells only what the domain's DNS would: whether a
 * user exists is not revealed, only whether the domain is served here.
 */
export function autodiscoverJson(ctx: Koa.Context, domain: string): void {
  const refuse = (status: number, code: string, message: string): void => {
    ctx.status = status;
    ctx.body = { ErrorCode: code, ErrorMessage: message };
  };
  if (ctx.method !== 'GET') {
    ctx.set('Allow', 'GET');
    return refuse(405, 'MethodNotAllowed', 'Autodiscover v2 answers GET');
  }
  const inPath = /^\/autodiscover\/autodiscover\.json\/v1\.0\/([^/]+)$/i.exec(ctx.path)?.[1];
  const email = (inPath !== undefined ? safeDecode(inPath) : ctx.query.Email ?? ctx.query.email);
  const protocol = ctx.query.Protocol ?? ctx.query.protocol;
  if (typeof email !== 'string' || email.length > 320 || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
    return refuse(400, 'InvalidEmailAddress', 'Email must be one e-mail address');
  }
  const served = JSON_PROTOCOLS.get(typeof protocol === 'string' ? protocol.toLowerCase() : '');
  if (!served) {
    return refuse(400, 'InvalidProtocol', `The given protocol value is invalid. Supported values are '${[...JSON_PROTOCOLS.values()].map((p) => p.name).join(',')}'`);
  }
  if (email.slice(email.lastIndexOf('@') + 1).toLowerCase() !== domain) {
    return refuse(404, 'NotFound', `${email.slice(email.lastIndexOf('@') + 1)} is not a domain of this organisation`);
  }
  ctx.body = { Protocol: served.name, Url: `${ctx.protocol}://${ctx.host}${served.path}` };
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
