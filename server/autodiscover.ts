// Autodiscover (POX): tells a client which URL serves ActiveSync for an address.
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
