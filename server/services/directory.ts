// The DirectoryPort over the store.
import type { DirectoryPort } from '../../eas/ports/directory.js';
import type { ServiceDeps } from './deps.js';

export class DirectoryService implements DirectoryPort {
  readonly ready = false;
  constructor(private readonly deps: ServiceDeps) {}
}
