// The id EAS clients match a meeting message and its calendar item by, made from the iCalendar UID.

const GOID_CLASS = '040000008200E00074C5B7101A82E008';

/**
 * MS-ASEMAIL GlobalObjId: the MS-OXOCAL PidLidGlobalObjectId, base64. Outlook's UIDs are that
 * structure in hex already (MS-OXCICAL 2.1.3.1.1.20.26); any other UID is wrapped as "vCal-Uid" data.
 */
export function globalObjId(uid: string): string {
  if (uid.length % 2 === 0 && /^[0-9a-f]+$/i.test(uid) && uid.slice(0, 32).toUpperCase() === GOID_CLASS) {
    return Buffer.from(uid, 'hex').toString('base64');
  }
  const data = Buffer.concat([Buffer.from('vCal-Uid', 'ascii'), Buffer.from([1, 0, 0, 0]), Buffer.from(uid, 'utf8'), Buffer.from([0])]);
  const head = Buffer.alloc(40); // class id, instance date, creation time, reserved, size
  Buffer.from(GOID_CLASS, 'hex').copy(head, 0);
  head.writeUInt32LE(data.length, 36);
  return Buffer.concat([head, data]).toString('base64');
}
