// The SearchPort over the store.
import type { SearchPort } from '../../eas/ports/search.js';
import type { ServiceDeps } from './deps.js';

export class SearchService implements SearchPort {
  readonly ready = false;
  constructor(private readonly deps: ServiceDeps) {}
}
