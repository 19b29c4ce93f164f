// ResolveRecipients for 100 recipients who each have an encryption certificate: latency over real
// HTTP, full certificates (CertificateRetrieval 2) and mini-certificates (3), the median of several
// runs. A server whose command table lacks the command (HTTP 501 / Status 137) is reported as not
// available instead of failing the run.
import fs from 'node:fs';
import path from 'node:path';
import { ns } from '../eas/wbxml/ns.js';
import { child, childrenOf, childText } from '../eas/wbxml/tree.js';
import { progress, type Figure } from './harness.js';
import { easRequest, enrol, percentile, type Device } from './support/eas-http.js';
import { issueEncryptionCertificates } from './support/pki.js';
import { startBenchServer, tempDir } from './support/server.js';

const RR = ns('ResolveRecipients');
const RECIPIENTS = 100;
const RUNS = Number(process.env.BENCH_RESOLVE_RUNS ?? 15);
const DOMAIN = 'resolve.bench';

function resolveBody(addresses: string[], retrieval: number) {
  return RR('ResolveRecipients', addresses.map((a) => RR('To', a)),
    RR('Options', RR('CertificateRetrieval', retrieval), RR('MaxCertificates', 9999), RR('MaxAmbiguousRecipients', 1)));
}

export async function resolveRecipientsBenchmark(): Promise<Figure[]> {
  const fixtures = tempDir('easmime-bench-resolve-');
  fs.mkdirSync(path.join(fixtures, 'pki'));
  const addresses = Array.from({ length: RECIPIENTS }, (_, i) => `person${i}@${DOMAIN}`);
  progress(`resolve: issuing ${RECIPIENTS} encryption certificates with openssl`);
  const files = issueEncryptionCertificates(path.join(fixtures, 'pki'), addresses, (n) => { if (n % 25 === 0) progress(`resolve: ${n}/${RECIPIENTS} certificates`); });
  fs.writeFileSync(path.join(fixtures, 'organisation.json'), JSON.stringify({
    name: 'ResolveRecipients benchmark', domain: DOMAIN, trustedRoots: ['pki/ca.crt'],
    users: [
      { address: `asker@${DOMAIN}`, password: 'bench' },
      ...addresses.map((address, i) => ({ address, password: 'bench', certificates: [{ purpose: 'encryption', certificate: `pki/${files[i]}` }] })),
    ],
  }, null, 1));
  const server = await startBenchServer({ fixtures });
  try {
    const d: Device = { user: `asker@${DOMAIN}`, password: 'bench', deviceId: 'ResolveBench', version: '14.1', folders: new Map() };
    await enrol(server.httpPort, d);
    const figures: Figure[] = [];
    for (const [retrieval, label] of [[2, 'full certificates'], [3, 'mini-certificates']] as const) {
      const times: number[] = [];
      for (let run = 0; run <= RUNS; run++) {
        const t0 = performance.now();
        const r = await easRequest(server.httpPort, d, 'ResolveRecipients', resolveBody(addresses, retrieval));
        const ms = performance.now() - t0;
        const status = childText(r.body, 'ResolveRecipients:Status');
        if (r.status === 501 || status === '137' || r.status === 400 && /not (implemented|supported)/i.test(r.reason ?? '')) {
          return [{ name: `ResolveRecipients, ${RECIPIENTS} recipients`, value: Number.NaN, unit: 'ms', note: `not available (HTTP ${r.status}${status ? `, Status ${status}` : ''})` }];
        }
        if (r.status !== 200 || status !== '1') throw new Error(`ResolveRecipients answered HTTP ${r.status} Status ${status} ${r.reason ?? ''}`);
        const responses = childrenOf(r.body, 'ResolveRecipients:Response');
        const withCerts = responses.filter((resp) => {
          const certs = child(child(resp, 'ResolveRecipients:Recipient'), 'ResolveRecipients:Certificates');
          return childText(certs, 'ResolveRecipients:Status') === '1'
            && (childrenOf(certs, 'ResolveRecipients:Certificate').length > 0 || childrenOf(certs, 'ResolveRecipients:MiniCertificate').length > 0);
        }).length;
        if (withCerts !== RECIPIENTS) throw new Error(`${withCerts} of ${RECIPIENTS} recipients came with a certificate (${label})`);
        if (run > 0) times.push(ms); // run 0 warms the caches
      }
      times.sort((a, b) => a - b);
      progress(`resolve: ${label}: p50 ${percentile(times, 50).toFixed(1)} ms`);
      figures.push({ name: `ResolveRecipients, ${RECIPIENTS} recipients, ${label}`, value: percentile(times, 50), unit: 'ms',
        note: `median of ${RUNS} runs; slowest ${times[times.length - 1]!.toFixed(1)} ms` });
    }
    return figures;
  } finally {
    await server.dispose();
  }
}
