// Small organisations for tests that need their own users: organisation.json plus mailboxes/.
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './server-process.js';

export interface OrgUser { address: string; password: string; displayName?: string; certificates?: unknown[] }

/** Writes a fixture folder. `mailboxes` maps a local part to folder name to .eml contents. */
export function writeOrgFixture(org: { name?: string; domain: string; users: OrgUser[]; groups?: unknown[]; [k: string]: unknown },
  mailboxes: Record<string, Record<string, Record<string, string | Buffer>>> = {}): string {
  const dir = tempDir('easmime-org-');
  fs.writeFileSync(path.join(dir, 'organisation.json'), JSON.stringify({ name: org.name ?? `Test ${org.domain}`, ...org }, null, 1));
  fs.mkdirSync(path.join(dir, 'mailboxes'));
  for (const [user, folders] of Object.entries(mailboxes)) {
    for (const [folder, files] of Object.entries(folders)) {
      const at = path.join(dir, 'mailboxes', user, folder);
      fs.mkdirSync(at, { recursive: true });
      for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(at, name), content);
    }
  }
  return dir;
}

/** Every message summary of a folder through the admin API, all pages. */
export async function adminMessages(baseUrl: string, token: string, address: string, folder = 'Inbox'): Promise<Array<{ id: number; subject: string; [k: string]: unknown }>> {
  const out: Array<{ id: number; subject: string }> = [];
  for (let offset = 0; ; offset += 500) {
    const r = await fetch(`${baseUrl}/admin/users/${encodeURIComponent(address)}/messages?folder=${encodeURIComponent(folder)}&limit=500&offset=${offset}`, { headers: { Authorization: `Bearer ${token}` } });
    if (r.status !== 200) throw new Error(`admin listing of ${address}/${folder}: HTTP ${r.status} ${await r.text()}`);
    const page = await r.json() as Array<{ id: number; subject: string }>;
    out.push(...page);
    if (page.length < 500) return out;
  }
}

export async function adminRaw(baseUrl: string, token: string, address: string, id: number): Promise<Buffer> {
  const r = await fetch(`${baseUrl}/admin/users/${encodeURIComponent(address)}/messages/${id}`, { headers: { Authorization: `Bearer ${token}` } });
  if (r.status !== 200) throw new Error(`admin raw ${address}/${id}: HTTP ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
}
