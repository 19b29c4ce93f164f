// The ItemsPort over the store.
import type { ItemsPort } from '../../eas/ports/items.js';
import type { ServiceDeps } from './deps.js';

export class ItemsService implements ItemsPort {
  readonly ready = false;
  constructor(private readonly deps: ServiceDeps) {}
}
