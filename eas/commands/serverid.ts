// Item ServerIds are "<folder>:<item>" as Exchange writes them; attachment references add ":<index>".

export function itemServerId(folderId: number, itemId: number): string {
  return `${folderId}:${itemId}`;
}

export function parseItemServerId(serverId: string | undefined): { folderId: number; itemId: number } | undefined {
  if (serverId === undefined) return undefined;
  const m = /^(\d{1,15}):(\d{1,15})$/.exec(serverId.trim());
  if (!m) return undefined;
  return { folderId: Number(m[1]), itemId: Number(m[2]) };
}

export function parseFolderId(id: string | undefined): number | undefined {
  if (id === undefined || !/^\d{1,15}$/.test(id.trim())) return undefined;
  return Number(id.trim());
}
