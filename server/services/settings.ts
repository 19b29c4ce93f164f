// The SettingsPort over the store.
import type { SettingsPort } from '../../eas/ports/settings.js';
import type { ServiceDeps } from './deps.js';

export class SettingsService implements SettingsPort {
  readonly ready = false;
  constructor(private readonly deps: ServiceDeps) {}
}
