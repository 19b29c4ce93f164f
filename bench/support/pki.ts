// Certificates for benchmarks: the committed demo PKI, and throwaway ones made by the openssl CLI
// (one CA, many end-entity certificates sharing one key so that making a hundred takes a second).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './server.js';

export function demoPki(): { dir: string; roots: string[]; intermediates: string[]; crls: string[] } {
  const dir = path.join(ROOT, 'fixtures', 'demo', 'pki');
  return {
    dir,
    roots: ['contoso-root-ca.crt', 'fabrikam-root-ca.crt'].map((f) => path.join(dir, f)),
    intermediates: ['contoso-issuing-ca.crt'].map((f) => path.join(dir, f)),
    crls: ['contoso-issuing.crl', 'contoso-root.crl', 'fabrikam-root.crl'].map((f) => path.join(dir, f)),
  };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A CA (ca.crt) and one encryption certificate per address (<n>.crt, emailProtection,
 * keyEncipherment), written into `dir`. Returns the certificate files, relative to `dir`.
 */
export function issueEncryptionCertificates(dir: string, addresses: string[], onProgress?: (done: number) => void): string[] {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650',
    '-subj', '/O=easmime bench/CN=Bench CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'user.key'], dir);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,keyEncipherment\nextendedKeyUsage=emailProtection\nsubjectAltName=email:copy\n');
  return addresses.map((address, n) => {
    openssl(['req', '-new', '-key', 'user.key', '-subj', `/CN=${address}/emailAddress=${address}`, '-out', 'user.csr'], dir);
    openssl(['x509', '-req', '-in', 'user.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(1000 + n), '-days', '730',
      '-extfile', 'ext.cnf', '-out', `${n}.crt`], dir);
    onProgress?.(n + 1);
    return `${n}.crt`;
  });
}
