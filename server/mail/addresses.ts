// Turns mailparser's address objects into the strings EAS wants. Groups are
// flattened to their members: EAS has no notion of groups, and an empty group
// ("undisclosed-recipients:;") simply contributes nothing.

import type { AddressObject, EmailAddress } from 'mailparser';

export type AddressHeader = AddressObject | AddressObject[] | undefined;

export interface Mailbox {
  name: string;
  address: string;
}

// Control characters in a value that later travels in a header or WBXML string
// could split it; they have no legitimate use in names or addresses.
const CONTROL = /[\u0000-\u001f\u007f]+/g;

export function mailboxes(header: AddressHeader): Mailbox[] {
  const out: Mailbox[] = [];
  const visit = (entries: EmailAddress[], depth: number): void => {
    for (const e of entries) {
      if (e.group && depth === 0) {
        visit(e.group, depth + 1);
        continue;
      }
      if (e.group) continue;
      const name = (e.name ?? '').replace(CONTROL, ' ').trim();
      const address = (e.address ?? '').replace(CONTROL, '').trim();
      if (name || address) out.push({ name, address });
    }
  };
  for (const obj of header === undefined ? [] : Array.isArray(header) ? header : [header]) {
    if (obj && Array.isArray(obj.value)) visit(obj.value, 0);
  }
  return out;
}

/** `"Name" <addr>` (name quoted and escaped), bare `addr` without a name, bare name without an address. */
export function formatMailbox(m: Mailbox): string {
  if (!m.address) return m.name;
  if (!m.name) return m.address;
  return `"${m.name.replace(/[\\"]/g, '\\$&')}" <${m.address}>`;
}

export function formatMailboxes(list: Mailbox[], separator: string): string {
  return list.map(formatMailbox).join(separator);
}

/** Display names, falling back on the address where a mailbox has no name (as Exchange does). */
export function displayNames(list: Mailbox[]): string {
  return list.map((m) => m.name || m.address).join('; ');
}

/** Lower-case addresses, de-duplicated, in order of appearance; name-only entries dropped. */
export function plainAddresses(list: Mailbox[]): string[] {
  const seen = new Set<string>();
  for (const m of list) {
    if (m.address.includes('@')) seen.add(m.address.toLowerCase());
  }
  return [...seen];
}
