// The lean parser's way out: anything it is not sure it reads exactly as mailparser does
// throws this, and parseMessage hands the message to mailparser instead.

export class LeanFallback extends Error {
  override readonly name = 'LeanFallback';
}

export function fallBack(reason: string): never {
  throw new LeanFallback(reason);
}
